#!/usr/bin/env bash
# imap.sh: IMAP commands per second and memory per idle IMAP connection, mailroom-mra vs
# Dovecot's imap, on the same Maildir, in one run, with the harness's clients.
#
# Mail: user load1@b.test with FILL messages of about BODY bytes (Dovecot-style names with ,S=
# and ,W=, in new/), under a mail root owned by nobody (65534) that both servers serve in turn.
# Load: ../shared/harness/bench/imap_load.py, CLIENTS threads on load1 for SECS seconds
# (session: LOGIN, SELECT INBOX, FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE), 10 x FETCH n
# BODY.PEEK[], UID SEARCH HEADER Subject <no match>, LOGOUT), one warm-up session each first,
# then RUNS runs per server interleaved (dovecot, mailroom, dovecot, ...); medians and the ratio
# at the end.
# Memory: ../shared/harness/bench/imap_idle_mem.py, IDLE connections to load1 (LOGIN, SELECT
# INBOX, IDLE), summed RSS and PSS of each server's processes before and with them, per
# connection.
#
# Servers, private to this script, stopped by pid at exit (bench/lib.sh):
#   Dovecot (start_dovecot_mail): imap on 127.0.0.1:DV_PORT, static passdb and userdb,
#     ssl = no, limits raised so IDLE connections fit; otherwise Dovecot's defaults (one imap
#     process per connection).
#   mailroom-mra (start_mailroom_mra, release build): imap on 127.0.0.1:MR_PORT,
#     auth = "direct" against the MariaDB scratch database mailroom_imapbench (dropped at exit).
#
# Needs root, MariaDB on 127.0.0.1:3306, dovecot-imapd, python3, cargo.
#
#     bash bench/imap.sh      # env: SECS (20), RUNS (3), CLIENTS (4), FILL (5000), BODY (3640),
#                             # IDLE (1000), BUILD (1; 0 uses the release binaries as they are)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$REPO/../shared/harness}
SECS=${SECS:-20}
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-4}
FILL=${FILL:-5000}
BODY=${BODY:-3640}
IDLE=${IDLE:-1000}
DV_PORT=${DV_PORT:-11143}
MR_PORT=${MR_PORT:-11144}
OUT=${OUT:-$(mktemp -d /var/tmp/imap-bench.XXXXXX)}
REL=$REPO/target/release
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
cleanup() {
    local rc=$?
    set +e
    stop_pid dovecot "$DOVECOT_PID"
    stop_pid mailroom-mra "$MRA_PID"
    drop_bench_db
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
fill_maildir "$ROOT/b.test/load1/Maildir" "$FILL" "$BODY" imap
chown -R "$MAIL_UID:$MAIL_UID" "$ROOT"
chmod -R go-rwx "$ROOT/b.test"
chmod 755 "$ROOT/b.test"

start_dovecot_mail "$OUT/dovecot" "$ROOT" "$MAIL_UID" imap "$DV_PORT" "$PASS" || die "dovecot did not start"
start_mailroom_mra "$OUT/mailroom" mysql://root@127.0.0.1:3306/mailroom_imapbench "$ROOT" imap "$MR_PORT" "$PASS" load1 ||
    die "mailroom-mra did not start"
port_of() { [ "$1" = dovecot ] && echo "$DV_PORT" || echo "$MR_PORT"; }

load() {
    python3 "$HARNESS/bench/imap_load.py" --port "$(port_of "$1")" --user load1@b.test --password "$PASS" \
        -c "$CLIENTS" --seconds "$2" | tail -1
}
for s in dovecot mailroom; do
    log "$s: warm-up"
    load "$s" 1 >/dev/null
done
UPTIME_BEFORE=$(uptime)
: >"$OUT/results.txt"
for ((r = 1; r <= RUNS; r++)); do
    for s in dovecot mailroom; do
        log "$s: imap_load.py run $r, $CLIENTS clients, ${SECS}s"
        echo "server=$s run=$r $(load "$s" "$SECS")" | tee -a "$OUT/results.txt"
    done
done
for s in dovecot mailroom; do
    pid=$([ "$s" = dovecot ] && echo "$DOVECOT_PID" || echo "$MRA_PID")
    extra=()
    [ "$s" != dovecot ] || extra=(--exe '/usr/lib/dovecot/*')
    log "$s: imap_idle_mem.py, $IDLE connections in IDLE"
    line=$(python3 "$HARNESS/bench/imap_idle_mem.py" --port "$(port_of "$s")" --user load1@b.test \
        --password "$PASS" -k "$IDLE" --pid "$pid" "${extra[@]}" | tail -1)
    echo "server=$s $line" | tee -a "$OUT/memory.txt"
done
UPTIME_AFTER=$(uptime)

{
    echo
    echo "mailroom $(git -C "$REPO" rev-parse --short HEAD), $(/usr/sbin/dovecot --version | head -1)"
    echo "clients=$CLIENTS fill=$FILL body=$BODY secs=$SECS runs=$RUNS idle=$IDLE, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "load before: $UPTIME_BEFORE"
    echo "load after:  $UPTIME_AFTER"
    awk "$AWK_MEDIAN"'
    FNR == NR {
        delete kv
        for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
        s = kv["server"]; k = ++n[s]
        cps[s, k] = kv["commands_per_s"]; fa[s, k] = kv["fetch_all_p50_ms"]; se[s, k] = kv["select_p50_ms"]
        err[s] += kv["errors"]
        next
    }
    {
        delete kv
        for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
        pss[kv["server"]] = kv["pss_per_conn_kb"]; rss[kv["server"]] = kv["rss_per_conn_kb"]
    }
    END {
        printf "%-9s %11s %22s %17s %19s %19s %7s\n", "server", "commands/s", "FETCH 1:* p50 ms", "SELECT p50 ms", "PSS kB/idle conn", "RSS kB/idle conn", "errors"
        for (q = 1; q <= 2; q++) {
            s = (q == 1) ? "dovecot" : "mailroom"
            for (i = 1; i <= n[s]; i++) { a1[i] = cps[s, i]; a2[i] = fa[s, i]; a3[i] = se[s, i] }
            m1[s] = median(a1, n[s])
            printf "%-9s %11.1f %22.1f %17.2f %19.1f %19.1f %7d\n", s, m1[s], median(a2, n[s]), median(a3, n[s]), pss[s], rss[s], err[s]
        }
        if (m1["dovecot"] > 0 && pss["mailroom"] > 0)
            printf "ratio mailroom/dovecot: commands/s %.2fx; PSS per idle connection 1/%.0f of Dovecot\x27s\n", m1["mailroom"] / m1["dovecot"], pss["dovecot"] / pss["mailroom"]
    }' "$OUT/results.txt" "$OUT/memory.txt"
    echo "raw runs: $OUT"
} | tee "$OUT/summary.txt"
