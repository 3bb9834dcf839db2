#!/usr/bin/env bash
# metrics_cost.sh: what the Prometheus metrics cost on the SMTP-to-Maildir path (mailroom-mta +
# mailroom-mda) and on the IMAP path (mailroom-mra), as a share of each daemon's instructions.
#
# Each daemon runs under `valgrind --tool=callgrind` (release build) while real traffic passes:
# smtp-source sends MSGS messages of LEN bytes over SESSIONS sessions to mailroom-mta, which
# delivers them over LMTP to mailroom-mda into one Maildir; then the harness's imap_load.py runs
# IMAP_SESSIONS sessions (LOGIN, SELECT, FETCH 1:* ..., 10 x FETCH BODY.PEEK[], SEARCH, LOGOUT)
# against mailroom-mra on that Maildir. At exit, bench/callgrind_share.py sums the inclusive cost
# of every call from outside into `prometheus_client::` or a `::metrics::` module (label lookups,
# histogram observations, the queue census) and divides by the daemon's total.
#
# Instructions, not seconds: callgrind counts are repeatable whatever else the machine is doing
# (two shared cores here), and a share of the CPU work is what bounds the throughput cost of a
# CPU-bound daemon. What it does not see: an atomic add inlined into its caller (a few
# instructions) and the Instant::now() a histogram needs (one vDSO call).
#
# Needs root, MariaDB on 127.0.0.1:3306, valgrind, postfix (smtp-source), python3, cargo.
#
#     bash bench/metrics_cost.sh    # env: MSGS (1000), LEN (4096), SESSIONS (4),
#                                   # IMAP_SESSIONS (40), BUILD (1), OUT (mktemp under /var/tmp)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$REPO/../shared/harness}
MSGS=${MSGS:-1000}
LEN=${LEN:-4096}
SESSIONS=${SESSIONS:-4}
IMAP_SESSIONS=${IMAP_SESSIONS:-40}
BUILD=${BUILD:-1}
OUT=${OUT:-$(mktemp -d /var/tmp/metrics-cost.XXXXXX)}
REL=$REPO/target/release
MTA_PORT=${MTA_PORT:-12025}
IMAP_PORT=${IMAP_PORT:-12143}
PATTERN='prometheus_client::|::metrics::'

log() { printf 'metrics_cost.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (the daemons drop to nobody)"
for f in valgrind /usr/sbin/smtp-source python3; do
    command -v "$f" >/dev/null || die "$f missing (apt-get install valgrind postfix python3)"
done
mkdir -p "$OUT"
chmod 755 "$OUT"
OUT=$(cd "$OUT" && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

MRA_PID= MDA_PID= MTA_PID=
# Callgrind writes its file when the daemon exits, by then running as nobody.
CG=$OUT/callgrind
mkdir -p "$CG"
chmod 1777 "$CG"
# stop_slow NAME PID: SIGTERM and wait up to 120 s: under valgrind a clean exit takes a while,
# and only a clean exit writes the counts.
stop_slow() {
    local i
    [ -n "$2" ] || return 0
    kill -TERM "$2" 2>/dev/null || return 0
    for ((i = 0; i < 1200; i++)); do kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$1" "$2"
}
cleanup() {
    local rc=$?
    set +e
    stop_slow mailroom-mra "$MRA_PID"
    stop_slow mailroom-mta "$MTA_PID"
    stop_slow mailroom-mda "$MDA_PID"
    drop_bench_db
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$BUILD" = 1 ]; then
    log "building mailroom-mta, mailroom-mda, mailroom-mra and mailroomctl (release)"
    (cd "$REPO" && cargo build --release -q -p mailroom-mta -p mailroom-mda -p mailroom-mra -p mailroomctl) \
        >"$OUT/build.log" 2>&1 || { cat "$OUT/build.log" >&2; die "cargo build failed"; }
fi
wrap() {
    echo "valgrind --tool=callgrind --callgrind-out-file=$CG/$1.out --compress-strings=no --compress-pos=no"
}

ROOT=$OUT/root
fresh_root "$ROOT" 65534
PASS=metricspass
MR_WRAP=$(wrap mra) start_mailroom_mra "$OUT/mra" mysql://root@127.0.0.1:3306/mailroom_metricsbench \
    "$ROOT" imap "$IMAP_PORT" "$PASS" load1

MR=$OUT/mtamda
mkdir -p "$MR/run" "$MR/spool"
chmod 755 "$MR" "$MR/run"
cat >"$MR/mailroom.toml" <<EOF
[database]
url = "mysql://root@127.0.0.1:3306/$BENCH_DB"
mail_root = "$ROOT"
maildir_template = "%d/%n/Maildir"

[mda]
lmtp_socket = "$MR/run/lmtp"
lmtp_socket_mode = "0666"
user = "nobody"
hostname = "mda.test"
log_level = "warn"

[mta]
smtp_listen = ["127.0.0.1:$MTA_PORT"]
submission_listen = []
submissions_listen = []
submit_socket = ""
control_socket = ""
spool_dir = "$MR/spool"
user = "nobody"
hostname = "mx.mailroom.test"
lmtp = "unix:$MR/run/lmtp"
max_connections_per_client = 0
log_level = "warn"
EOF
# shellcheck disable=SC2046 # wrap prints a command line
$(wrap mda) "$REL/mailroom-mda" --config "$MR/mailroom.toml" </dev/null >"$MR/mda.out" 2>"$MR/mda.log" &
MDA_PID=$!
wait_for "mailroom-mda's socket" 60 test -S "$MR/run/lmtp" || { cat "$MR/mda.log" >&2; die "mailroom-mda did not start"; }
# shellcheck disable=SC2046
$(wrap mta) "$REL/mailroom-mta" --config "$MR/mailroom.toml" </dev/null >"$MR/mta.out" 2>"$MR/mta.log" &
MTA_PID=$!
wait_for "mailroom-mta on port $MTA_PORT" 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MTA_PORT" ||
    { cat "$MR/mta.log" >&2; die "mailroom-mta did not start"; }

# Callgrind creates its output file at start, as root, and writes it at exit, by then as the
# daemon's user: let that user open it.
chmod 0666 "$CG"/*.out
NEW=$ROOT/b.test/load1/Maildir/new
log "smtp-source: $MSGS messages of $LEN bytes over $SESSIONS sessions"
/usr/sbin/smtp-source -s "$SESSIONS" -m "$MSGS" -l "$LEN" -f sender@a.test -t load1@b.test \
    "127.0.0.1:$MTA_PORT" >"$OUT/smtp-source.log" 2>&1 || { cat "$OUT/smtp-source.log" >&2; die "smtp-source failed"; }
# A function, so the count is taken at each poll rather than once when wait_for is called.
all_delivered() { [ "$(count_new "$NEW")" -ge "$MSGS" ]; }
wait_for "$MSGS messages in $NEW" 1200 all_delivered ||
    die "only $(count_new "$NEW") of $MSGS messages delivered"
log "delivered $MSGS; imap_load.py: $IMAP_SESSIONS sessions"
python3 "$HARNESS/bench/imap_load.py" --port "$IMAP_PORT" --user load1@b.test --password "$PASS" \
    --clients 2 --seconds 600 --max-sessions "$IMAP_SESSIONS" >"$OUT/imap_load.log" 2>&1 ||
    { cat "$OUT/imap_load.log" >&2; die "imap_load.py failed"; }
grep -q ' errors=0' "$OUT/imap_load.log" || { tail -3 "$OUT/imap_load.log" >&2; die "IMAP sessions failed"; }

stop_slow mailroom-mta "$MTA_PID" && MTA_PID=
stop_slow mailroom-mda "$MDA_PID" && MDA_PID=
stop_slow mailroom-mra "$MRA_PID" && MRA_PID=

{
    echo "mailroom $(git -C "$REPO" rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC'): $MSGS x $LEN B over SMTP->LMTP->Maildir, $IMAP_SESSIONS IMAP sessions"
    for d in mta mda mra; do
        [ -s "$CG/$d.out" ] || die "no callgrind output for $d"
        read -r matched total pct < <(python3 "$REPO/bench/callgrind_share.py" "$CG/$d.out" "$PATTERN")
        printf '%s: metrics %d of %d instructions = %s%%\n' "$d" "$matched" "$total" "$pct"
    done
} | tee "$OUT/result.txt"
