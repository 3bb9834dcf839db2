#!/usr/bin/env bash
# CI: package the binaries the test build made into mailroom_*.deb (no second compile), install
# it with dpkg, check what it created, run the installed daemons from their installed paths the
# way their units would, with a real SMTP and IMAP exchange through all four, then purge it.
#
#   dist/ci-deb.sh            (as root, after `cargo test --workspace`)
#
# It installs and purges a package on this machine: run it on CI or a throwaway machine. It
# refuses to run while a mailroom package is installed. Needs: cargo-deb (installed here at
# the pinned version when missing), systemd-socket-activate and systemd-analyze (systemd),
# setpriv, python3, testsaslauthd (sasl2-bin), ssl-cert; systemd need not be running.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
target=${CARGO_TARGET_DIR:-target}
bin_dir=$target/debug
binaries=(mailroom-saslauthd mailroom-mta mailroom-mda mailroom-mra mailroom-web mailroomctl)
# Loopback test ports for the socket units' ListenStream= (the real 25, 143, ... may be taken).
declare -A test_port=([25]=10025 [587]=10587 [465]=10465 [143]=10143 [993]=10993 [110]=10110 [995]=10995
    [127.0.0.1:9981]=10981 [127.0.0.1:9982]=10982 [127.0.0.1:9983]=10983 [127.0.0.1:9984]=10984
    [4190]=14190 [443]=10443 [127.0.0.1:9985]=10985)

step_start=$(date +%s.%N)
step_name=
step() { # NAME: say how long the step before took, then start NAME
    local now
    now=$(date +%s.%N)
    [ -z "$step_name" ] ||
        awk -v a="$step_start" -v b="$now" -v n="$step_name" 'BEGIN { printf "ci-deb: -- %s: %.1f s\n", n, b - a }'
    [ "$1" = "done" ] || echo "ci-deb: == $1"
    step_start=$now
    step_name=$1
}
die() { echo "ci-deb: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs a package)"
if dpkg-query -W -f='${Status}' mailroom 2>/dev/null | grep -q installed; then
    die "a mailroom package is installed; purge it first (dpkg --purge mailroom)"
fi

step "cargo-deb $CARGO_DEB_VERSION"
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked
fi

step "binaries of the test build"
for b in "${binaries[@]}"; do
    [ -x "$bin_dir/$b" ] || die "$bin_dir/$b is missing: run the test build (cargo test --workspace) first"
done
newest_source=$(find . -path ./target -prune -o -path ./fuzz -prune -o \( -name '*.rs' -o -name Cargo.toml \) \
    -newer "$bin_dir/mailroomctl" -print -quit)
[ -z "$newest_source" ] || echo "ci-deb: warning: $newest_source is newer than the binaries"

step "man pages and completions (dist/man.sh)"
dist/man.sh "$bin_dir"

# --profile dev: the test build's binaries (cargo-deb 3.8 warns that it dislikes the dev
# profile, and does it); --fast: lighter xz, a quarter of the time for a package that is
# installed once and thrown away.
step "cargo deb --no-build --profile dev --fast"
rm -rf "$target/debian"
cargo deb -p mailroomctl --no-build --profile dev --fast --locked -q 2>&1 |
    grep -v -e 'dev profile is not supported' -e 'To enable debug symbols' || true
deb=$(ls "$target"/debian/mailroom_*.deb)
ls -l "$deb"

# What existed before, so that the cleanup removes only what this run made.
preexisting=()
for d in /var/spool/mailroom /var/vmail /var/lib/mailroom; do [ -e "$d" ] && preexisting+=("$d"); done

step "dpkg -i"
dpkg -i "$deb"

pids=()
scratch=
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -f /etc/mailroom/ci-deb.toml /var/lib/mailroom/ci-deb.db
    rm -rf /var/vmail/deb-test.invalid ${scratch:+"$scratch"}
}
scratch=$(mktemp -d /run/mailroom-ci-deb.XXXXXX)
chmod 0755 "$scratch"
trap cleanup EXIT

unit=/usr/lib/systemd/system

step "users, groups, directories, files"
expect_eq() { [ "$2" = "$3" ] || die "$1: want '$2', have '$3'"; echo "ci-deb: ok $1: $3"; }
for u in mailroom vmail mailroom-auth mailroom-web; do
    getent passwd "$u" >/dev/null || die "no user $u"
    expect_eq "$u shell" /usr/sbin/nologin "$(getent passwd "$u" | cut -d: -f7)"
done
members() { getent group "$1" | cut -d: -f4 | tr , '\n' | sort | paste -sd, -; }
expect_eq "group sasl" "mailroom,vmail" "$(members sasl)"
expect_eq "group mailroom-db" "mailroom,mailroom-auth,mailroom-web,vmail" "$(members mailroom-db)"
while read -r path want; do
    expect_eq "$path" "$want" "$(stat -c '%a %U:%G' "$path")"
done <<'EOF'
/var/spool/mailroom 700 mailroom:mailroom
/var/vmail 750 vmail:vmail
/var/lib/mailroom 750 root:mailroom-db
/run/mailroom 755 root:root
/run/mailroom/saslauthd 755 mailroom-auth:mailroom-auth
/run/mailroom/mda 755 vmail:vmail
/run/mailroom/mta 755 mailroom:mailroom
/etc/mailroom/mailroom.toml 640 root:mailroom-db
/usr/sbin/mailroom-saslauthd 755 root:root
/usr/sbin/mailroom-mta 755 root:root
/usr/sbin/mailroom-mda 755 root:root
/usr/sbin/mailroom-mra 755 root:root
/usr/sbin/mailroom-web 755 root:root
/usr/bin/mailroomctl 755 root:root
EOF
for page in mailroom-saslauthd mailroom-mta mailroom-mda mailroom-mra mailroom-web mailroomctl mailroom.toml; do
    man -w "$page" >/dev/null || die "no man page $page"
done
for f in /usr/share/bash-completion/completions/mailroomctl /usr/share/zsh/vendor-completions/_mailroomctl \
    /usr/share/fish/vendor_completions.d/mailroomctl.fish /etc/fail2ban/filter.d/mailroom.conf \
    /etc/fail2ban/jail.d/mailroom.conf /usr/share/mailroom/sql/mariadb/grants.sql; do
    [ -f "$f" ] || die "missing $f"
done
! dpkg -L mailroom | grep -q sendmail || die "the package must not ship sendmail"
grep -qx /etc/mailroom/mailroom.toml /var/lib/dpkg/info/mailroom.conffiles || die "mailroom.toml is no conffile"
# Installed, not enabled: nothing takes port 25 from a running Postfix at install time.
if ls /etc/systemd/system/*.wants/mailroom* 2>/dev/null; then die "units were enabled at install"; fi
# postinst's deb-systemd-helper update-state: purge will know what to disable.
for u in "$unit"/mailroom*; do
    [ -f "/var/lib/systemd/deb-systemd-helper-enabled/$(basename "$u").dsh-also" ] ||
        die "deb-systemd-helper has no state for $(basename "$u")"
done
echo "ci-deb: ok units installed, recorded by deb-systemd-helper, not enabled"

step "systemd/check.sh --installed"
systemd/check.sh --installed

step "the installed daemons, as their units run them"
# The value of KEY in a unit file (the last assignment; empty when unset).
unit_get() { sed -n "s/^$2=//p" "$1" | tail -n1; }

# A test configuration: the installed one on a scratch SQLite database.
config=/etc/mailroom/ci-deb.toml
sed 's|^url = .*|url = "sqlite:///var/lib/mailroom/ci-deb.db"|' /etc/mailroom/mailroom.toml >"$config"
chown root:mailroom-db "$config"
chmod 0640 "$config"
grep -q 'ci-deb.db' "$config" || die "could not point $config at the scratch database"
ctl() { mailroomctl --config "$config" "$@"; }
ctl db migrate
ctl domain add deb-test.invalid
echo 'Secret-deb-1' | ctl user add alice@deb-test.invalid --password-stdin
chgrp mailroom-db /var/lib/mailroom/ci-deb.db

# setpriv arguments for a service: its User=, Group=, SupplementaryGroups=, no capabilities,
# no new privileges, as systemd starts it (CapabilityBoundingSet= empty, NoNewPrivileges=yes).
as_service() {
    local f=$unit/$1 groups
    groups=$(unit_get "$f" SupplementaryGroups | tr ' ' ,)
    echo --reuid="$(unit_get "$f" User)" --regid="$(unit_get "$f" Group)" \
        ${groups:+--groups="$groups"} --inh-caps=-all --bounding-set=-all --no-new-privs
}

# Start SERVICE with its socket units' sockets, bound by root as systemd would bind them
# (systemd-socket-activate, with FileDescriptorName= and, for Unix sockets, SocketUser=,
# SocketGroup=, SocketMode=), then the daemon as its user, with a NOTIFY_SOCKET of ours.
activate() {
    local service=$1 f=$unit/$1 listen=() names=() fixups=() s addr name
    for s in $(unit_get "$f" Sockets); do
        addr=$(unit_get "$unit/$s" ListenStream)
        name=$(unit_get "$unit/$s" FileDescriptorName)
        if [[ $addr == /* ]]; then
            fixups+=("chown $(unit_get "$unit/$s" SocketUser):$(unit_get "$unit/$s" SocketGroup) $addr"
                "chmod $(unit_get "$unit/$s" SocketMode) $addr")
        else
            addr=127.0.0.1:${test_port[$addr]:?no test port for $addr}
        fi
        listen+=(-l "$addr")
        names+=("$name")
    done
    local notify=$scratch/$service.notify
    python3 - "$notify" >"$notify.log" 2>&1 <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
print("listening", flush=True)
while True:
    print(s.recv(4096).decode().strip().replace("\n", " "), flush=True)
PY
    pids+=($!)
    for _ in $(seq 50); do grep -q listening "$notify.log" 2>/dev/null && break; sleep 0.1; done
    local exec_start
    exec_start=$(unit_get "$f" ExecStart)
    # shellcheck disable=SC2046 # as_service's words are separate setpriv arguments.
    # Its environment is only what -E passes (and LISTEN_*), like a unit's.
    systemd-socket-activate "${listen[@]}" --fdname="$(IFS=:; echo "${names[*]}")" -E NOTIFY_SOCKET="$notify" \
        sh -c "${fixups[*]/%/;} exec setpriv $(as_service "$service") -- $exec_start --config $config" \
        >"$scratch/$service.log" 2>&1 &
    pids+=($!)
    eval "pid_${service//[-.]/_}=$!"
    # systemd-socket-activate runs the program at the first connection, as systemd does for a
    # socket unit whose service is not started yet: make one.
    for _ in $(seq 50); do grep -q "Listening on" "$scratch/$service.log" 2>/dev/null && break; sleep 0.1; done
    python3 - "${listen[1]}" <<'PY'
import socket, sys
addr = sys.argv[1]
if addr.startswith("/"):
    s = socket.socket(socket.AF_UNIX)
    s.connect(addr)
else:
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
s.close()
PY
    for _ in $(seq 100); do grep -q READY=1 "$notify.log" && break; sleep 0.1; done
    grep -q READY=1 "$notify.log" || { cat "$scratch/$service.log" >&2; die "$service sent no READY=1"; }
    echo "ci-deb: ok $service ready (READY=1) as $(unit_get "$f" User), sockets ${names[*]}"
}

for s in mailroom-saslauthd mailroom-mda mailroom-mta mailroom-mra; do
    # --check first, as the service's user: the installed config and its TLS key are readable.
    # shellcheck disable=SC2046
    setpriv $(as_service "$s.service") -- "/usr/sbin/$s" --config "$config" --check
done
for s in mailroom-saslauthd mailroom-mda mailroom-mta mailroom-mra; do activate "$s.service"; done

step "saslauthd's mux: testsaslauthd as the MTA's user, refused to others"
# shellcheck disable=SC2046
answer=$(setpriv $(as_service mailroom-mta.service) -- testsaslauthd -f /run/mailroom/saslauthd/mux \
    -u alice -r deb-test.invalid -p Secret-deb-1 2>&1) || true
echo "ci-deb: testsaslauthd as mailroom: $answer"
[[ $answer == "0: OK"* ]] || die "the MTA's user cannot check a password on the mux socket"
answer=$(setpriv --reuid=nobody --regid=nogroup --clear-groups -- testsaslauthd \
    -f /run/mailroom/saslauthd/mux -u alice -r deb-test.invalid -p Secret-deb-1 2>&1) || true
echo "ci-deb: testsaslauthd as nobody: $answer"
[[ $answer != "0: OK"* ]] || die "nobody may use the mux socket"
echo "ci-deb: ok mux answers group sasl only"

step "SMTP submission (STARTTLS, AUTH) and IMAP (143 and 993) through the four daemons"
python3 - <<'PY'
import imaplib, smtplib, ssl, time
tls = ssl.create_default_context()
tls.check_hostname = False
tls.verify_mode = ssl.CERT_NONE  # Debian's snakeoil certificate
user, password = "alice@deb-test.invalid", "Secret-deb-1"
with smtplib.SMTP("127.0.0.1", 10587, timeout=30) as s:
    s.starttls(context=tls)
    s.login(user, password)
    s.sendmail(user, [user], f"From: {user}\r\nTo: {user}\r\nSubject: ci-deb test\r\n\r\nhello from the .deb\r\n")
print("ci-deb: ok SMTP submission accepted the message")
for attempt in range(100):
    with imaplib.IMAP4("127.0.0.1", 10143, timeout=30) as m:
        m.login(user, password)
        m.select("INBOX")
        _, ids = m.search(None, "ALL")
        if ids[0]:
            _, data = m.fetch(ids[0].split()[-1], "(BODY[HEADER.FIELDS (SUBJECT)])")
            assert b"ci-deb test" in data[0][1], data
            break
    time.sleep(0.2)
else:
    raise SystemExit("ci-deb: the message never reached INBOX")
print("ci-deb: ok IMAP 143 shows it in INBOX (delivered by mailroom-mda over LMTP)")
with imaplib.IMAP4_SSL("127.0.0.1", 10993, ssl_context=tls, timeout=30) as m:
    m.login(user, password)
    typ, data = m.select("INBOX")
    assert typ == "OK" and int(data[0]) >= 1, data
print("ci-deb: ok IMAPS 993 (TLS key read through group ssl-cert)")
PY
# IMAP's SELECT has moved it from new/ to cur/.
message=$(find /var/vmail/deb-test.invalid/alice/Maildir/new /var/vmail/deb-test.invalid/alice/Maildir/cur \
    -type f | head -n1)
[ -n "$message" ] || die "no message file in alice's Maildir"
expect_eq "message file" "600 vmail:vmail" "$(stat -c '%a %U:%G' "$message")"
ctl queue list | tee "$scratch/queue"

step "metrics: each daemon's mailroom-*-metrics.socket counted that traffic"
# Debian's interpreter, where python3-prometheus-client is installed (PATH may find another).
/usr/bin/python3 - <<'PY'
import urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
want = {
    10981: 'mailroom_saslauthd_authentications_total{protocol="cyrus",result="ok"}',
    10982: 'mailroom_mta_messages_queued_total{role="submission"}',
    10983: 'mailroom_mda_deliveries_total{outcome="delivered"}',
    10984: 'mailroom_mra_connections_accepted_total{listener="IMAP over TLS"}',
}
for port, sample in want.items():
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        assert r.headers["Content-Type"].startswith("application/openmetrics-text"), r.headers
        body = r.read().decode()
    seen = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
            seen["%s{%s}" % (s.name, labels)] = s.value
    assert seen.get(sample, 0) >= 1, (port, sample, sorted(seen))
    print(f"ci-deb: ok :{port} {sample} = {seen[sample]:g}")
PY

step "SIGTERM: every daemon says STOPPING=1 and exits 0"
for s in mailroom-mra mailroom-mta mailroom-mda mailroom-saslauthd; do
    var=pid_${s//-/_}_service
    kill -TERM "${!var}"
    if ! wait "${!var}"; then cat "$scratch/$s.service.log" >&2; die "$s did not exit 0 at SIGTERM"; fi
    grep -q STOPPING=1 "$scratch/$s.service.notify.log" || die "$s sent no STOPPING=1"
    echo "ci-deb: ok $s stopped"
done

step "dpkg --purge"
rm -f "$config" /var/lib/mailroom/ci-deb.db
dpkg --purge mailroom
for f in /usr/sbin/mailroom-mta /usr/bin/mailroomctl "$unit/mailroom-mta.service" /etc/mailroom /run/mailroom \
    /usr/lib/sysusers.d/mailroom.conf /usr/share/man/man8/mailroom-mta.8.gz; do
    [ ! -e "$f" ] || die "$f is left after purge"
done
! compgen -G '/var/lib/systemd/deb-systemd-helper-enabled/mailroom*' >/dev/null || die "deb-systemd-helper state left"
echo "ci-deb: ok purged (mail, queue and database directories stay, as designed)"
# Our own leftovers: the data directories only when this run created them.
rm -rf /var/vmail/deb-test.invalid
for d in /var/spool/mailroom /var/vmail /var/lib/mailroom; do
    [[ " ${preexisting[*]} " == *" $d "* ]] || rm -rf "$d"
done
step "done"
