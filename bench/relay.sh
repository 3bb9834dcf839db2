#!/usr/bin/env bash
# relay.sh: relay throughput, messages per second from the first SMTP connection until the
# queue is empty again, mailroom-mta against Postfix, both relaying everything to the same
# Postfix smtp-sink (relayhost = [127.0.0.1]:$SINK_PORT), on this machine, in one run.
#
# Load: Postfix's smtp-source (CONC sessions, MSGS messages of LEN bytes, one remote
# recipient each) from 127.0.0.1, which both MTAs let relay (mynetworks). Each MTA fsyncs a
# message before its 250, then delivers it over SMTP to the sink with connection reuse;
# mailroom-mta at tls_policy "may" (the sink offers no STARTTLS), no DKIM key configured.
#
# Stacks, private to this script and stopped by pid at exit:
#   classic: a private Postfix (bench/lib.sh start_postfix), relayhost = [127.0.0.1]:SINK_PORT.
#   mailroom: mailroom-mta (release build), relayhost the same, MariaDB database
#     mailroom_relaybench (dropped at exit) with domain b.test only.
# RUNS runs per stack and concurrency, interleaved; medians and the ratio mailroom/classic.
#
#     bash bench/relay.sh
#
# Needs root, MariaDB on 127.0.0.1:3306, postfix (smtp-source, smtp-sink), cargo.
# Environment: CONCS ["10 50"], RUNS [3], MSGS [2000], LEN [4096], OUT [mktemp -d under /var/tmp].
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CONCS=${CONCS:-"10 50"}
RUNS=${RUNS:-3}
MSGS=${MSGS:-2000}
LEN=${LEN:-4096}
OUT=${OUT:-$(mktemp -d /var/tmp/relay-bench.XXXXXX)}
DB=mailroom_relaybench
DB_URL=mysql://root@127.0.0.1:3306/$DB
MYSQL=(mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot)
REL=$REPO/target/release
PF_PORT=${PF_PORT:-10035}
MR_PORT=${MR_PORT:-10036}
SINK_PORT=${SINK_PORT:-10037}

log() { printf 'relay.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (private postfix, smtp-sink)"
for f in /usr/sbin/postfix /usr/sbin/smtp-source /usr/sbin/smtp-sink; do
    [ -x "$f" ] || die "$f missing (apt-get install postfix)"
done
mkdir -p "$OUT"
chmod 755 "$OUT"
OUT=$(cd "$OUT" && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

MTA_PID= SINK_PID= DB_CREATED=
cleanup() {
    local rc=$?
    set +e
    stop_postfix
    stop_pid mailroom-mta "$MTA_PID"
    stop_pid smtp-sink "$SINK_PID"
    [ -n "$DB_CREATED" ] && "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB" && log "dropped database $DB"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

COMMIT=$(git -C "$REPO" rev-parse --short HEAD)
log "building mailroom-mta and mailroomctl (release)"
(cd "$REPO" && cargo build --release -q -p mailroom-mta -p mailroomctl) >"$OUT/build.log" 2>&1 ||
    { cat "$OUT/build.log" >&2; die "cargo build failed"; }
"${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
DB_CREATED=1
MAILROOM_DATABASE_URL=$DB_URL "$REL/mailroomctl" db migrate >"$OUT/ctl.log" 2>&1
MAILROOM_DATABASE_URL=$DB_URL "$REL/mailroomctl" domain add b.test >>"$OUT/ctl.log" 2>&1 ||
    { cat "$OUT/ctl.log" >&2; die "mailroomctl failed"; }

start_smtp_sink "127.0.0.1:$SINK_PORT" || die "smtp-sink did not start"
start_postfix "$OUT/postfix" "127.0.0.1:$PF_PORT" "relayhost = [127.0.0.1]:$SINK_PORT" || die "postfix did not start"

MR=$OUT/mailroom
mkdir -p "$MR/spool"
chmod 755 "$MR"
cat >"$MR/mailroom.toml" <<CONF
[database]
url = "$DB_URL"

[mta]
smtp_listen = ["127.0.0.1:$MR_PORT"]
submission_listen = []
submissions_listen = []
submit_socket = ""
control_socket = ""
spool_dir = "$MR/spool"
user = "nobody"
hostname = "mx.mailroom.test"
mynetworks = ["127.0.0.0/8"]
max_connections_per_client = 0
relayhost = "[127.0.0.1]:$SINK_PORT"
log_level = "warn"
CONF
"$REL/mailroom-mta" --config "$MR/mailroom.toml" </dev/null >"$MR/mta.out" 2>"$MR/mta.log" &
MTA_PID=$!
wait_for "mailroom-mta on port $MR_PORT" 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MR_PORT" ||
    { cat "$MR/mta.log" >&2; die "mailroom-mta did not start"; }
log "mailroom $COMMIT: mta pid $MTA_PID on 127.0.0.1:$MR_PORT"

# queued STACK: messages accepted and not yet relayed.
queued() {
    case $1 in
    classic) files_under "$OUT/postfix/spool/maildrop" "$OUT/postfix/spool/incoming" \
        "$OUT/postfix/spool/active" "$OUT/postfix/spool/deferred" ;;
    mailroom) files_under "$MR/spool/queue" ;;
    esac
}

# drained STACK: nothing left in STACK's queue.
drained() { [ "$(queued "$1")" -eq 0 ]; }

# one_run STACK CONC: MSGS messages through STACK; prints "stack= conc= secs= msgs_per_s=".
one_run() {
    local stack=$1 conc=$2 port t0 t1 secs
    case $stack in classic) port=$PF_PORT ;; mailroom) port=$MR_PORT ;; esac
    sync
    t0=$(date +%s.%N)
    /usr/sbin/smtp-source -s "$conc" -m "$MSGS" -l "$LEN" -f bob@b.test -t "rcpt@remote.test" \
        "127.0.0.1:$port" >"$OUT/source-$stack-$conc.log" 2>&1 || { log "smtp-source failed against $stack"; return 1; }
    wait_for "$stack's queue to drain" 600 drained "$stack" || return 1
    t1=$(date +%s.%N)
    secs=$(echo "$t1 - $t0" | bc -l)
    printf 'stack=%s conc=%s secs=%.2f msgs_per_s=%.1f\n' "$stack" "$conc" "$secs" "$(echo "$MSGS / $secs" | bc -l)"
}

log "load before: $(uptime)"
for s in classic mailroom; do
    MSGS=200 one_run "$s" 10 >/dev/null || die "warm-up of $s failed"
done
: >"$OUT/runs.txt"
for conc in $CONCS; do
    for ((r = 1; r <= RUNS; r++)); do
        for s in classic mailroom; do
            one_run "$s" "$conc" | tee -a "$OUT/runs.txt" || die "run $r of $s at $conc failed"
        done
    done
done
log "load after: $(uptime)"
{
    echo
    echo "mailroom $COMMIT vs postfix $(/usr/sbin/postconf -c "$OUT/postfix/etc" -h mail_version), relaying to smtp-sink"
    echo "msgs=$MSGS len=$LEN runs=$RUNS, $(date -u '+%Y-%m-%d %H:%M UTC')"
    awk "$AWK_MEDIAN"'
    {
        delete kv
        for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
        k = kv["conc"] SUBSEP kv["stack"]; n[k]++; rate[k, n[k]] = kv["msgs_per_s"]
        runs[k] = runs[k] (runs[k] == "" ? "" : " / ") kv["msgs_per_s"]; concs[kv["conc"]] = 1
    }
    END {
        printf "%-5s %-9s %-30s %9s\n", "conc", "stack", "msgs/s per run", "median"
        for (c in concs) {
            for (s = 1; s <= 2; s++) {
                st = (s == 1) ? "classic" : "mailroom"; k = c SUBSEP st
                for (i = 1; i <= n[k]; i++) a[i] = rate[k, i]
                m[k] = median(a, n[k])
                printf "%-5s %-9s %-30s %9.1f\n", c, st, runs[k], m[k]
            }
            printf "conc %s: ratio mailroom/classic %.2f\n", c, m[c SUBSEP "mailroom"] / m[c SUBSEP "classic"]
        }
    }' "$OUT/runs.txt"
} | tee "$OUT/summary.txt"
[ -s "$MR/mta.log" ] && { log "mailroom-mta log (warn and above):"; head -20 "$MR/mta.log" >&2; }
log "raw runs and logs in $OUT"
