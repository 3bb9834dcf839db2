#!/usr/bin/env bash
# imap.sh: IMAP commands per second and memory per idle IMAP connection, mailroom-mra vs
# Dovecot's imap, on the same Maildir, in one run, with the harness's clients.
#
# Mail: user load1@b.test with FILL messages of about BODY bytes (Dovecot-style names with ,S=
# and ,W=, in new/), under a mail root owned by nobody (65534) that both servers serve in turn.
# Load: ../shared/harness/bench/imap_load.py, CLIENTS threads on load1 for SECS seconds
# (session: LOGIN, SELECT INBOX, FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE), 10 x FETCH n
# BODY.PEEK[], UID SEARCH HEADER Subject <no match>, LOGOUT), one warm-up session first.
# Memory: ../shared/harness/bench/imap_idle_mem.py, IDLE connections to load1 (LOGIN, SELECT
# INBOX, IDLE), summed RSS and PSS of each server's processes before and with them, per
# connection.
#
# Servers, private to this script, stopped by pid at exit:
#   dovecot -F -c <OUT>/dovecot/dovecot.conf: imap on 127.0.0.1:DV_PORT, static passdb and
#     userdb (uid/gid 65534), ssl = no, limits raised so IDLE connections fit; otherwise
#     Dovecot's defaults (one imap process per connection).
#   mailroom-mra (release build): imap on 127.0.0.1:MR_PORT, auth = "direct" against the
#     MariaDB scratch database mailroom_imapbench (dropped at exit), user = "nobody".
#
# Needs root, MariaDB on 127.0.0.1:3306, dovecot-imapd, python3, cargo.
#
#     bash bench/imap.sh      # env: SECS (20), CLIENTS (4), FILL (5000), BODY (3640), IDLE (1000),
#                             # BUILD (1; 0 uses the release binaries as they are)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$REPO/../shared/harness}
SECS=${SECS:-20}
CLIENTS=${CLIENTS:-4}
FILL=${FILL:-5000}
BODY=${BODY:-3640}
IDLE=${IDLE:-1000}
DV_PORT=${DV_PORT:-11143}
MR_PORT=${MR_PORT:-11144}
OUT=${OUT:-$(mktemp -d /var/tmp/imap-bench.XXXXXX)}
DB=mailroom_imapbench
DB_URL=mysql://root@127.0.0.1:3306/$DB
MYSQL=(mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot)
REL=$REPO/target/release
DOVECOT=/usr/sbin/dovecot
MAIL_UID=65534
PASS=loadpass

log() { printf 'imap.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (private dovecot, chown to nobody)"
[ -x /usr/lib/dovecot/imap ] || die "/usr/lib/dovecot/imap missing (apt-get install dovecot-imapd)"
mkdir -p "$OUT"
chmod 755 "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$OUT/root
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # IDLE connections need descriptors

DOVECOT_PID=
MRA_PID=
DB_CREATED=
cleanup() {
    local rc=$?
    set +e
    stop_pid dovecot "$DOVECOT_PID"
    stop_pid mailroom-mra "$MRA_PID"
    [ -z "$DB_CREATED" ] || "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB"
    [ "$rc" != 0 ] || rm -rf "$ROOT"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "${BUILD:-1}" = 1 ]; then
    log "building mailroom-mra and mailroomctl (release)"
    (cd "$REPO" && cargo build --release -q -p mailroom-mra -p mailroomctl) >"$OUT/build.log" 2>&1 ||
        { cat "$OUT/build.log" >&2; die "cargo build failed"; }
fi

log "filling load1's INBOX with $FILL messages of ~$BODY bytes"
fresh_root "$ROOT" "$MAIL_UID"
python3 - "$ROOT/b.test/load1/Maildir" "$FILL" "$BODY" <<'PY'
import os, sys
root, n, body = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in ("tmp", "new", "cur"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
line = "The quick brown fox jumps over the lazy dog; 0123456789 abcdefghij.\n"
for i in range(n):
    text = (f"Return-Path: <bench@a.test>\nDate: Mon, 7 Feb 1994 21:52:25 -0800\nFrom: Bench <bench@a.test>\n"
            f"To: load1@b.test\nSubject: imap bench {i}\nMessage-ID: <{i}.imapbench@a.test>\n\n")
    text += (line * (body // len(line) + 1))[:body]
    data = text.encode()
    vsize = len(data) + data.count(b"\n")
    name = f"{1790000000 + i}.M{i}P4242.bench,S={len(data)},W={vsize}"
    with open(os.path.join(root, "new", name), "wb") as f:
        f.write(data)
PY
chown -R "$MAIL_UID:$MAIL_UID" "$ROOT"
chmod -R go-rwx "$ROOT/b.test"
chmod 755 "$ROOT/b.test"

DV=$OUT/dovecot
mkdir -p "$DV/run" "$DV/state"
chmod 755 "$DV"
cat >"$DV/dovecot.conf" <<CONF
instance_name = bench-imap
base_dir = $DV/run
state_dir = $DV/state
log_path = $DV/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_process_limit = 2000
default_client_limit = 4000
default_vsz_limit = 0
passdb {
  driver = static
  args = password=$PASS
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_UID home=$ROOT/%d/%n
}
mail_location = maildir:$ROOT/%d/%n/Maildir
protocol imap {
  mail_max_userip_connections = 5000
}
service imap-login {
  inet_listener imap {
    port = $DV_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
"$DOVECOT" -F -c "$DV/dovecot.conf" >"$DV/stdout.log" 2>&1 &
DOVECOT_PID=$!
wait_for "dovecot's IMAP port" 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$DV_PORT" ||
    { cat "$DV/stdout.log" "$DV/dovecot.log" >&2; die "dovecot did not start"; }

MR=$OUT/mailroom
mkdir -p "$MR"
"${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
DB_CREATED=1
MAILROOM_DATABASE_URL=$DB_URL "$REL/mailroomctl" db migrate >"$MR/ctl.log" 2>&1 ||
    { cat "$MR/ctl.log" >&2; die "mailroomctl db migrate failed"; }
"${MYSQL[@]}" "$DB" -e "INSERT INTO domain (domain) VALUES ('b.test');
    INSERT INTO mailbox (username, password, maildir, quota, local_part, domain)
    VALUES ('load1@b.test', '{PLAIN}$PASS', 'b.test/load1/', 0, 'load1', 'b.test');"
cat >"$MR/mailroom.toml" <<EOF
[database]
url = "$DB_URL"
mail_root = "$ROOT"
maildir_template = "%d/%n/Maildir"

[mra]
pop3_listen = []
pop3s_listen = []
imap_listen = ["127.0.0.1:$MR_PORT"]
imaps_listen = []
auth = "direct"
user = "nobody"
auth_failure_delay = 0
log_level = "warn"
max_connections = 5000
EOF
"$REL/mailroom-mra" --config "$MR/mailroom.toml" </dev/null >"$MR/stdout.log" 2>"$MR/mra.log" &
MRA_PID=$!
wait_for "mailroom-mra's IMAP port" 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MR_PORT" ||
    { cat "$MR/mra.log" >&2; die "mailroom-mra did not start"; }

: >"$OUT/results.txt"
for s in dovecot mailroom; do
    port=$([ "$s" = dovecot ] && echo "$DV_PORT" || echo "$MR_PORT")
    log "$s: imap_load.py, $CLIENTS clients, ${SECS}s"
    line=$(python3 "$HARNESS/bench/imap_load.py" --port "$port" --user load1@b.test --password "$PASS" \
        -c "$CLIENTS" --seconds "$SECS" | tail -1)
    echo "server=$s $line" | tee -a "$OUT/results.txt"
done
for s in dovecot mailroom; do
    port=$([ "$s" = dovecot ] && echo "$DV_PORT" || echo "$MR_PORT")
    pid=$([ "$s" = dovecot ] && echo "$DOVECOT_PID" || echo "$MRA_PID")
    extra=()
    [ "$s" != dovecot ] || extra=(--exe '/usr/lib/dovecot/*')
    log "$s: imap_idle_mem.py, $IDLE connections in IDLE"
    line=$(python3 "$HARNESS/bench/imap_idle_mem.py" --port "$port" --user load1@b.test --password "$PASS" \
        -k "$IDLE" --pid "$pid" "${extra[@]}" | tail -1)
    echo "server=$s $line" | tee -a "$OUT/results.txt"
done
log "results in $OUT/results.txt"
