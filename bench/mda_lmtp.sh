#!/usr/bin/env bash
# mda_lmtp.sh: LMTP deliveries per second into Maildirs, mailroom-mda vs Dovecot's LMTP server,
# on this machine, in one run, with the same client (Postfix's smtp-source -L over a Unix
# socket), the same message set and the same Maildir layout (<root>/b.test/bob/Maildir), and
# the ratio mailroom / Dovecot.
#
# Each run: a fresh empty mail root (owned by nobody, 65534), then
#   smtp-source -L -s CONC -m MSGS -l LEN -f bench@a.test -t bob@b.test unix:<socket>
# (one connection per message, as smtp-source does without -d), then a bounded wait until
# MSGS files are in new/. secs = smtp-source start to the newest ctime in new/ (the last
# rename into new/); msgs_per_s = MSGS / secs. Both servers answer after the copy is fsynced:
# Dovecot with its default mail_fsync = optimized (fsync of the file and of new/ at commit; the
# script checks the effective value with doveconf), mailroom-mda always. RUNS runs per server,
# interleaved (dovecot, mailroom, dovecot, ...) so drift in the machine's other load hits both
# alike; medians and the ratio of the medians at the end.
#
# Per run it also records the server's CPU per message (utime+stime of the daemon and its
# children, Dovecot's master counting exited children), mariadbd's CPU per message (mailroom
# looks each RCPT up there; Dovecot here uses a static userdb) and the whole machine's busy
# share from /proc/stat.
#
# Servers, both private to this script and stopped by pid at exit:
#   dovecot -F -c <OUT>/dovecot/dovecot.conf: own base_dir/state_dir/log_path, protocols = lmtp,
#     static passdb/userdb (uid/gid 65534, home <root>/%d/%n), mail_location =
#     maildir:<root>/%d/%n/Maildir, lmtp_save_to_detail_mailbox = no, ssl = no.
#     /etc/dovecot and any system Dovecot are not touched.
#   mailroom-mda --config <OUT>/mailroom/mailroom.toml (release build), user = "nobody",
#     log_level = "warn", MariaDB scratch database mailroom_mdabench on 127.0.0.1:3306 (root,
#     no password) with domain b.test and mailbox bob@b.test (quota 0), dropped at exit.
#
# SIEVE=1: both servers filter every delivery through the same Sieve scripts, as issue 14 asks:
# bob's user script sieve/examples/rules30.sieve (30 rules: lists, customers, subaddress tags,
# regex, body, relational, date, spamtest, redirect :copy; installed Pigeonhole's way in each
# fresh root as <home>/sieve/rules30.sieve with the symlink <home>/.dovecot.sieve, home =
# <root>/b.test/bob) plus a global spam rule run before it (<OUT>/sieve/before.sieve: X-Spam-Flag
# or X-Spam-Level into Junk). Dovecot gets `protocol lmtp { mail_plugins = $mail_plugins sieve }`,
# `plugin { sieve = file:~/sieve;active=~/.dovecot.sieve, sieve_before = <that file>,
# sieve_extensions = +spamtest }` (Pigeonhole enables spamtest only on request; neither server
# has a spam header configured, so spamtest is 0 in both); mailroom-mda gets `sieve_before`.
# smtp-source's messages match no rule that files or flags, so both keep every message in
# INBOX/new/ after running all 30 rules, which is what the timing counts. The first delivery of
# each run compiles the scripts (Pigeonhole saves .svbin files next to them, mailroom caches
# them in memory); the warm-up does that once before the timed runs.
#
# Needs root, MariaDB on 127.0.0.1:3306, /usr/sbin/dovecot with /usr/lib/dovecot/lmtp
# (dovecot-lmtpd), /usr/sbin/smtp-source (postfix), cargo.
#
#     bash bench/mda_lmtp.sh
#
# Environment: SIEVE [0], RUNS [3], MSGS [2000], CONC [10], LEN [4096], WAIT_SECS [300] (bound per run on
# sending plus delivery), WARMUP [100] (untimed messages per server before the runs),
# OUT [mktemp -d under /var/tmp] (configs, logs, raw runs, mail roots).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$REPO/../shared/harness}
RUNS=${RUNS:-3}
MSGS=${MSGS:-2000}
CONC=${CONC:-10}
LEN=${LEN:-4096}
WAIT_SECS=${WAIT_SECS:-300}
WARMUP=${WARMUP:-100}
SIEVE=${SIEVE:-0}
OUT=${OUT:-$(mktemp -d /var/tmp/mda-lmtp-bench$([ "$SIEVE" = 1 ] && echo -sieve).XXXXXX)}
DB=mailroom_mdabench
DB_URL=mysql://root@127.0.0.1:3306/$DB
MYSQL=(mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot)
REL=$REPO/target/release
SMTP_SOURCE=/usr/sbin/smtp-source
DOVECOT=/usr/sbin/dovecot
RCPT=bob@b.test
FROM=bench@a.test
MAIL_UID=65534

log() { printf 'mda_lmtp.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (private dovecot, chown to nobody)"
[ -x "$SMTP_SOURCE" ] || die "$SMTP_SOURCE missing (apt-get install postfix)"
[ -x "$DOVECOT" ] || die "$DOVECOT missing (apt-get install dovecot-core)"
[ -x /usr/lib/dovecot/lmtp ] || die "/usr/lib/dovecot/lmtp missing (apt-get install dovecot-lmtpd)"
mkdir -p "$OUT"
chmod 755 "$OUT"
OUT=$(cd "$OUT" && pwd)

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

# --- cleanup: only what this script started, by pid -------------------------------------------
DOVECOT_PID=
MDA_PID=
DB_CREATED=
cleanup() {
    local rc=$?
    set +e
    stop_pid dovecot "$DOVECOT_PID"
    stop_pid mailroom-mda "$MDA_PID"
    if [ -n "$DB_CREATED" ]; then
        "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB" && log "dropped database $DB"
    fi
    # The mail roots hold MSGS files each (kept after a failure); configs, logs, raw runs stay.
    [ "$rc" != 0 ] || rm -rf "$OUT/root-dovecot" "$OUT/root-mailroom"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ---------------------------------------------------------------------------------------
COMMIT=$(git -C "$REPO" rev-parse --short HEAD)
log "building mailroom-mda and mailroomctl (release)"
(cd "$REPO" && cargo build --release -q -p mailroom-mda -p mailroomctl) >"$OUT/build.log" 2>&1 ||
    { cat "$OUT/build.log" >&2; die "cargo build failed"; }

# --- Sieve scripts (SIEVE=1) ---------------------------------------------------------------------
USER_SCRIPT=$REPO/sieve/examples/rules30.sieve
BEFORE=$OUT/sieve/before.sieve
DV_EXTRA=
MR_EXTRA=
if [ "$SIEVE" = 1 ]; then
    mkdir -p "$OUT/sieve"
    cat >"$BEFORE" <<'SIEVE'
require ["fileinto", "mailbox"];
if anyof (header :is "X-Spam-Flag" "YES", header :contains "X-Spam-Level" "********") {
  fileinto :create "Junk";
  stop;
}
SIEVE
    # Pigeonhole saves the compiled before.svbin next to it, as the mail user.
    chown -R "$MAIL_UID:$MAIL_UID" "$OUT/sieve"
    DV_EXTRA="protocol lmtp {
  mail_plugins = \$mail_plugins sieve
}
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
  sieve_before = $BEFORE
  sieve_extensions = +spamtest
}"
    MR_EXTRA="sieve_before = [\"$BEFORE\"]"
fi
# install_sieve ROOT: bob's active script in ROOT the way Pigeonhole and ManageSieve keep it.
install_sieve() {
    local home=$1/b.test/bob
    [ "$SIEVE" = 1 ] || return 0
    mkdir -p "$home/sieve"
    cp "$USER_SCRIPT" "$home/sieve/rules30.sieve"
    ln -s sieve/rules30.sieve "$home/.dovecot.sieve"
    chown -R -h "$MAIL_UID:$MAIL_UID" "$1/b.test"
}

# --- Dovecot, private instance --------------------------------------------------------------------
DV=$OUT/dovecot
DV_ROOT=$OUT/root-dovecot
fresh_root "$DV_ROOT" "$MAIL_UID"
start_dovecot_lmtp "$DV" "$DV_ROOT" "$MAIL_UID" || die "dovecot did not start"

# --- mailroom-mda --------------------------------------------------------------------------------
MR=$OUT/mailroom
MR_ROOT=$OUT/root-mailroom
mkdir -p "$MR"
chmod 755 "$MR"
fresh_root "$MR_ROOT" "$MAIL_UID"
MR_SOCKET=$MR/lmtp
"${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
DB_CREATED=1
export MAILROOM_DATABASE_URL=$DB_URL
"$REL/mailroomctl" db migrate >"$MR/ctl.log" 2>&1
"$REL/mailroomctl" domain add b.test >>"$MR/ctl.log" 2>&1
echo bobpass | "$REL/mailroomctl" user add "$RCPT" --password-stdin >>"$MR/ctl.log" 2>&1 ||
    { cat "$MR/ctl.log" >&2; die "mailroomctl failed"; }
unset MAILROOM_DATABASE_URL
cat >"$MR/mailroom.toml" <<EOF
[database]
url = "$DB_URL"
mail_root = "$MR_ROOT"
maildir_template = "%d/%n/Maildir"

[mda]
lmtp_socket = "$MR_SOCKET"
lmtp_socket_mode = "0666"
user = "nobody"
hostname = "mda.test"
log_level = "warn"
$MR_EXTRA
EOF
"$REL/mailroom-mda" --config "$MR/mailroom.toml" </dev/null >"$MR/stdout.log" 2>"$MR/mda.log" &
MDA_PID=$!
wait_for "mailroom-mda's LMTP socket" 20 test -S "$MR_SOCKET" ||
    { cat "$MR/mda.log" >&2; die "mailroom-mda did not start"; }
log "mailroom-mda $COMMIT pid $MDA_PID, socket $MR_SOCKET"

socket_of() { case $1 in dovecot) echo "$DV_SOCKET" ;; mailroom) echo "$MR_SOCKET" ;; esac; }
root_of() { case $1 in dovecot) echo "$DV_ROOT" ;; mailroom) echo "$MR_ROOT" ;; esac; }
pid_of() { case $1 in dovecot) echo "$DOVECOT_PID" ;; mailroom) echo "$MDA_PID" ;; esac; }

# one_run SERVER N TAG: fresh root, N messages, prints the run's key=value line.
one_run() {
    local server=$1 n=$2 tag=$3 sock root newdir pid db start accepted deadline got last
    local t0 t1 d0 d1 c0 c1 rc
    sock=$(socket_of "$server") root=$(root_of "$server") pid=$(pid_of "$server")
    newdir=$root/b.test/bob/Maildir/new
    kill -0 "$pid" 2>/dev/null || die "$server (pid $pid) is not running"
    fresh_root "$root" "$MAIL_UID"
    install_sieve "$root"
    sync
    db=$(mariadbd_pid)
    t0=$(tree_ticks "$pid"); d0=$([ -n "$db" ] && tree_ticks "$db" || echo 0); c0=$(cpu_line)
    start=$(date +%s.%N)
    deadline=$(( ${start%.*} + WAIT_SECS ))
    rc=0
    timeout "$WAIT_SECS" "$SMTP_SOURCE" -L -s "$CONC" -m "$n" -l "$LEN" -f "$FROM" -t "$RCPT" \
        -S "mda_lmtp $tag" "unix:$sock" >"$OUT/$tag.smtp-source.log" 2>&1 || rc=$?
    accepted=$(date +%s.%N)
    if [ "$rc" != 0 ]; then
        log "$tag: smtp-source exited $rc:"
        cat "$OUT/$tag.smtp-source.log" >&2
    fi
    got=$(count_new "$newdir")
    while [ "$got" -lt "$n" ] && [ "$(date +%s)" -lt "$deadline" ]; do
        sleep 0.1
        got=$(count_new "$newdir")
    done
    t1=$(tree_ticks "$pid"); d1=$([ -n "$db" ] && tree_ticks "$db" || echo 0); c1=$(cpu_line)
    if [ "$got" -ne "$n" ]; then
        log "$tag: $got of $n messages in $newdir (smtp-source rc $rc)"
        echo "server=$server tag=$tag msgs=$n delivered=$got secs=na msgs_per_s=na smtp_source_rc=$rc"
        return 1
    fi
    last=$(find "$newdir" -mindepth 1 -maxdepth 1 -type f -printf '%C@\n' | sort -n | tail -1)
    local other size
    other=$(find "$root" -path "*/cur/*" -type f | wc -l)
    size=$(find "$newdir" -mindepth 1 -maxdepth 1 -type f -printf '%s\n' | sort -n | uniq -c | sort -rn | head -1 | awk '{print $2}')
    awk -v s="$start" -v a="$accepted" -v l="$last" -v n="$n" -v t0="$t0" -v t1="$t1" \
        -v d0="$d0" -v d1="$d1" -v c0="$c0" -v c1="$c1" -v hz="$CLK_TCK" -v srv="$server" \
        -v tag="$tag" -v rc="$rc" -v cur="$other" -v size="$size" -v got="$got" 'BEGIN {
        secs = l - s; acc = a - s
        split(c0, x, " "); split(c1, y, " ")
        busy = (y[2] > x[2]) ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0
        printf "server=%s tag=%s msgs=%d delivered=%d secs=%.3f msgs_per_s=%.1f accept_secs=%.3f " \
               "server_us_per_msg=%.0f db_us_per_msg=%.0f machine_pct=%.0f in_cur=%d size=%d smtp_source_rc=%d\n",
               srv, tag, n, got, secs, n / secs, acc, (t1 - t0) * 1e6 / hz / n, (d1 - d0) * 1e6 / hz / n,
               busy, cur, size, rc }'
}

# --- runs ----------------------------------------------------------------------------------------
UPTIME_BEFORE=$(uptime)
log "load before: $UPTIME_BEFORE"
for s in dovecot mailroom; do
    log "warm-up: $WARMUP messages to $s (untimed)"
    one_run "$s" "$WARMUP" "warmup-$s" >"$OUT/warmup-$s.txt" ||
        { cat "$OUT/warmup-$s.txt" >&2; log "warm-up of $s failed"; }
done
: >"$OUT/runs.txt"
FAILED=0
for ((r = 1; r <= RUNS; r++)); do
    for s in dovecot mailroom; do
        if line=$(one_run "$s" "$MSGS" "run$r-$s"); then :; else FAILED=1; fi
        echo "$line" | tee -a "$OUT/runs.txt"
    done
done
UPTIME_AFTER=$(uptime)
log "load after: $UPTIME_AFTER"

# SIEVE=1: proof that both servers filtered, one message with X-Spam-Flag: YES each (Python's
# smtplib.LMTP over the Unix socket) must land in Junk through the global rule.
has_one() { [ "$(count_new "$1")" = 1 ]; }
if [ "$SIEVE" = 1 ]; then
    for s in dovecot mailroom; do
        python3 - "$(socket_of "$s")" "$RCPT" <<'PY' || { log "$s: spam probe not accepted"; FAILED=1; }
import smtplib, sys
c = smtplib.LMTP(sys.argv[1])
c.sendmail("spam@a.test", [sys.argv[2]], "From: spam@a.test\r\nSubject: probe\r\nX-Spam-Flag: YES\r\n\r\nspam\r\n")
c.quit()
PY
        junk=$(root_of "$s")/b.test/bob/Maildir/.Junk/new
        wait_for "$s's spam probe in $junk" 10 has_one "$junk" ||
            { log "$s: the sieve_before rule did not file the probe into Junk"; FAILED=1; }
        log "$s: spam probe filed into Junk by the sieve_before rule ($(count_new "$junk") in $junk)"
    done
fi

log "fsync limit of this disk ($OUT):"
python3 "$HARNESS/bench/fsync_limit.py" --dir "$OUT" 2>&1 | tee "$OUT/fsync_limit.txt" || true

# --- summary -------------------------------------------------------------------------------------
{
    echo
    echo "mailroom $COMMIT (HEAD when built), $("$DOVECOT" --version | head -1 | sed 's/^/dovecot /'), mail_fsync=$DV_FSYNC"
    [ "$SIEVE" = 1 ] && echo "sieve: user script sieve/examples/rules30.sieve, sieve_before $BEFORE (both servers)"
    echo "msgs=$MSGS conc=$CONC len=$LEN runs=$RUNS, date $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "load before: $UPTIME_BEFORE"
    echo "load after:  $UPTIME_AFTER"
    awk "$AWK_MEDIAN"'
    {
        delete kv
        for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
        s = kv["server"]
        if (kv["msgs_per_s"] == "na") { fail[s]++; next }
        r = kv["tag"]; sub(/^run/, "", r); sub(/-.*/, "", r); byrun[r, s] = kv["msgs_per_s"]; if (r + 0 > nr) nr = r + 0
        n[s]++
        rate[s, n[s]] = kv["msgs_per_s"]; secs[s, n[s]] = kv["secs"]; srv[s, n[s]] = kv["server_us_per_msg"]
        db[s, n[s]] = kv["db_us_per_msg"]; mach[s, n[s]] = kv["machine_pct"]
        runs[s] = runs[s] (runs[s] == "" ? "" : " / ") kv["msgs_per_s"]
    }
    END {
        printf "%-9s %-26s %10s %8s %14s %12s %9s\n", "server", "msgs/s per run", "median/s", "secs", "server_us/msg", "db_us/msg", "machine%"
        for (k = 1; k <= 2; k++) {
            s = (k == 1) ? "dovecot" : "mailroom"
            if (!n[s]) { printf "%-9s no successful run (%d failed)\n", s, fail[s]; continue }
            for (i = 1; i <= n[s]; i++) { a1[i] = rate[s, i]; a2[i] = secs[s, i]; a3[i] = srv[s, i]; a4[i] = db[s, i]; a5[i] = mach[s, i] }
            m[s] = median(a1, n[s])
            printf "%-9s %-26s %10.1f %8.3f %14.0f %12.0f %9.0f%s\n", s, runs[s], m[s], median(a2, n[s]), median(a3, n[s]),
                   median(a4, n[s]), median(a5, n[s]), fail[s] ? sprintf("  (%d runs failed)", fail[s]) : ""
        }
        if (m["dovecot"] > 0 && m["mailroom"] > 0)
            printf "ratio mailroom/dovecot (medians of msgs/s): %.2f\n", m["mailroom"] / m["dovecot"]
        pr = ""
        for (r = 1; r <= nr; r++)
            if (byrun[r, "dovecot"] > 0 && byrun[r, "mailroom"] > 0)
                pr = pr (pr == "" ? "" : " / ") sprintf("%.2f", byrun[r, "mailroom"] / byrun[r, "dovecot"])
        if (pr != "") printf "ratio per run pair (run r mailroom / run r dovecot): %s\n", pr
    }' "$OUT/runs.txt"
} | tee "$OUT/summary.txt"

if [ -s "$MR/mda.log" ]; then
    log "mailroom-mda log (warn and above), first 20 lines:"
    head -20 "$MR/mda.log" >&2
fi
grep -iE "error|fatal|panic|warning" "$DV/dovecot.log" | head -20 >&2 || true
log "raw runs and logs in $OUT"
exit "$FAILED"
