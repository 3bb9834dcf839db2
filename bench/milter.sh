#!/usr/bin/env bash
# milter.sh: messages per second through rspamd as a milter, mailroom-mta against Postfix, both
# asking the same private rspamd and relaying to the same Postfix smtp-sink, in one run; then
# the CPU our milter client costs per message (callgrind share of `mailroom_mta::milter::`).
#
# rspamd (Debian's package and rules): one private instance started as the milter tests start it
# (mta/tests/milter_support): Debian's /etc/rspamd with a local override directory of its own,
# its proxy worker in milter mode (`milter = yes`, `self_scan = yes`: the proxy scans itself)
# on 127.0.0.1:RSPAMD_PORT with RSPAMD_WORKERS (2) processes, its DNS pointed at a closed
# loopback port (no RBL or map fetches: nothing leaves the machine), its own database, run and
# log directories. Both MTAs talk to this one instance; runs alternate between them, so rspamd's
# own time is paid equally by both.
#
# Stacks, private to this script and stopped by pid at exit:
#   classic: a private Postfix (bench/lib.sh start_postfix) with smtpd_milters =
#     inet:127.0.0.1:RSPAMD_PORT, milter_protocol = 6, milter_default_action = tempfail (other
#     milter settings at Postfix's defaults: macros, timeouts), relayhost = [127.0.0.1]:SINK_PORT.
#   mailroom: mailroom-mta (release build) with smtpd_milters = ["inet:127.0.0.1:RSPAMD_PORT"]
#     (milter_default_action "tempfail", the default), relayhost the same, MariaDB database
#     mailroom_milterbench (dropped at exit) with domain b.test only, log_level "warn".
#   nomilter: a second mailroom-mta, configured the same but without smtpd_milters, for the
#     CPU a message costs mailroom-mta without the filter (not part of the ratio).
# Load: Postfix's smtp-source (CONC sessions, MSGS messages of LEN bytes, one remote recipient
# each) from 127.0.0.1, which both let relay (mynetworks). Each MTA has rspamd's verdict before
# its 250 to the end of DATA, fsyncs the message, then relays it to the sink. A run is timed from
# the first connection until that MTA's queue is empty again; the CPU of the MTA's processes
# (Postfix: master and every child; mailroom: mailroom-mta) and of rspamd's is taken around it.
# RUNS runs per stack and concurrency, interleaved; medians and the ratio mailroom/classic.
#
# The difference of mailroom-mta's CPU per message with and without the milter is what asking
# rspamd costs it: the milter client, the message held in memory until the verdict, the
# connection to rspamd. Then, unless CALLGRIND=0, mailroom-mta runs once more under `valgrind --tool=callgrind`
# for CG_MSGS messages, and bench/callgrind_share.py sums the inclusive instructions of every
# call from outside into `mailroom_mta::milter::` (protocol encoding and decoding, the filter
# connection, the message's headers and body as the milters see them and their changes): the
# milter client's instructions per message, and its share of mailroom-mta's instructions. That
# share of the CPU per message measured above is the client's CPU per message.
#
#     bash bench/milter.sh
#
# Needs root, MariaDB on 127.0.0.1:3306, postfix (smtp-source, smtp-sink), rspamd, valgrind,
# cargo. Environment: CONCS ["10 50"], RUNS [3], MSGS [1000], LEN [4096], RSPAMD_WORKERS [2],
# CALLGRIND [1], CG_MSGS [300], BUILD [1], OUT [mktemp -d under /var/tmp].
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CONCS=${CONCS:-"10 50"}
RUNS=${RUNS:-3}
MSGS=${MSGS:-1000}
LEN=${LEN:-4096}
RSPAMD_WORKERS=${RSPAMD_WORKERS:-2}
CALLGRIND=${CALLGRIND:-1}
CG_MSGS=${CG_MSGS:-300}
BUILD=${BUILD:-1}
OUT=${OUT:-$(mktemp -d /var/tmp/milter-bench.XXXXXX)}
DB=mailroom_milterbench
DB_URL=mysql://root@127.0.0.1:3306/$DB
MYSQL=(mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot)
REL=$REPO/target/release
PF_PORT=${PF_PORT:-10045}
MR_PORT=${MR_PORT:-10046}
NM_PORT=${NM_PORT:-10044}
SINK_PORT=${SINK_PORT:-10047}
RSPAMD_PORT=${RSPAMD_PORT:-10048}
# rspamd's other workers and its DNS "server" (nothing listens there).
RSPAMD_NORMAL=$((RSPAMD_PORT + 1)) RSPAMD_CONTROLLER=$((RSPAMD_PORT + 2)) DEAD_DNS=$((RSPAMD_PORT + 3))

log() { printf 'milter.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (private postfix, rspamd, smtp-sink)"
for f in /usr/sbin/postfix /usr/sbin/smtp-source /usr/sbin/smtp-sink /usr/bin/rspamd; do
    [ -x "$f" ] || die "$f missing (apt-get install postfix rspamd)"
done
[ "$CALLGRIND" = 0 ] || command -v valgrind >/dev/null || die "valgrind missing (apt-get install valgrind)"
mkdir -p "$OUT"
chmod 755 "$OUT"
OUT=$(cd "$OUT" && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

MTA_PID= NM_PID= SINK_PID= RSPAMD_PID= DB_CREATED=
cleanup() {
    local rc=$?
    set +e
    stop_postfix
    stop_pid mailroom-mta "$MTA_PID"
    stop_pid "mailroom-mta (no milter)" "$NM_PID"
    stop_pid smtp-sink "$SINK_PID"
    stop_pid rspamd "$RSPAMD_PID"
    [ -n "$DB_CREATED" ] && "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB" && log "dropped database $DB"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

COMMIT=$(git -C "$REPO" rev-parse --short HEAD)
if [ "$BUILD" = 1 ]; then
    log "building mailroom-mta and mailroomctl (release)"
    (cd "$REPO" && cargo build --release -q -p mailroom-mta -p mailroomctl) >"$OUT/build.log" 2>&1 ||
        { cat "$OUT/build.log" >&2; die "cargo build failed"; }
fi

# rspamd, configured as mta/tests/milter_support/mod.rs's Rspamd::start does.
RS=$OUT/rspamd
mkdir -p "$RS/local/local.d" "$RS/local/override.d" "$RS/db" "$RS/run" "$RS/log"
cat >"$RS/local/override.d/worker-proxy.inc" <<CONF
bind_socket = "127.0.0.1:$RSPAMD_PORT";
milter = yes;
timeout = 120s;
upstream "local" { default = yes; self_scan = yes; }
count = $RSPAMD_WORKERS;
reject_message = "Spam message rejected";
CONF
echo "bind_socket = \"127.0.0.1:$RSPAMD_NORMAL\"; count = 1;" >"$RS/local/override.d/worker-normal.inc"
echo "bind_socket = \"127.0.0.1:$RSPAMD_CONTROLLER\"; count = 1;" >"$RS/local/override.d/worker-controller.inc"
echo "dns { nameserver = [\"127.0.0.1:$DEAD_DNS\"]; timeout = 1s; retransmits = 1; }" >"$RS/local/local.d/options.inc"
chown -R _rspamd:_rspamd "$RS"
rspamd -f -c /etc/rspamd/rspamd.conf -u _rspamd -g _rspamd --var "LOCAL_CONFDIR=$RS/local" \
    --var "DBDIR=$RS/db" --var "RUNDIR=$RS/run" --var "LOGDIR=$RS/log" </dev/null >"$RS/rspamd.out" 2>&1 &
RSPAMD_PID=$!
wait_for "rspamd's milter port $RSPAMD_PORT" 300 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RSPAMD_PORT" ||
    { tail -20 "$RS/rspamd.out" "$RS/log/rspamd.log" >&2; die "rspamd did not start"; }
log "rspamd $(rspamd --version 2>/dev/null | head -1 | awk '{print $NF}') pid $RSPAMD_PID, milter on 127.0.0.1:$RSPAMD_PORT, $RSPAMD_WORKERS proxy workers"

"${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
DB_CREATED=1
MAILROOM_DATABASE_URL=$DB_URL "$REL/mailroomctl" db migrate >"$OUT/ctl.log" 2>&1
MAILROOM_DATABASE_URL=$DB_URL "$REL/mailroomctl" domain add b.test >>"$OUT/ctl.log" 2>&1 ||
    { cat "$OUT/ctl.log" >&2; die "mailroomctl failed"; }

start_smtp_sink "127.0.0.1:$SINK_PORT" || die "smtp-sink did not start"
start_postfix "$OUT/postfix" "127.0.0.1:$PF_PORT" "relayhost = [127.0.0.1]:$SINK_PORT
smtpd_milters = inet:127.0.0.1:$RSPAMD_PORT
milter_protocol = 6
milter_default_action = tempfail" || die "postfix did not start"
PF_MASTER=$(awk '{print $1}' "$OUT/postfix/spool/pid/master.pid")

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
smtpd_milters = ["inet:127.0.0.1:$RSPAMD_PORT"]
log_level = "warn"
CONF
# start_mta [WRAPPER...]: mailroom-mta on MR_PORT, under WRAPPER when given.
start_mta() {
    "$@" "$REL/mailroom-mta" --config "$MR/mailroom.toml" </dev/null >"$MR/mta.out" 2>>"$MR/mta.log" &
    MTA_PID=$!
    wait_for "mailroom-mta on port $MR_PORT" 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MR_PORT" ||
        { cat "$MR/mta.log" >&2; die "mailroom-mta did not start"; }
}
start_mta
log "mailroom $COMMIT: mta pid $MTA_PID on 127.0.0.1:$MR_PORT"
NM=$OUT/nomilter
mkdir -p "$NM/spool"
chmod 755 "$NM"
sed -e "s|$MR/|$NM/|" -e "s|:$MR_PORT\"|:$NM_PORT\"|" -e '/^smtpd_milters/d' "$MR/mailroom.toml" >"$NM/mailroom.toml"
"$REL/mailroom-mta" --config "$NM/mailroom.toml" </dev/null >"$NM/mta.out" 2>"$NM/mta.log" &
NM_PID=$!
wait_for "mailroom-mta (no milter) on port $NM_PORT" 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$NM_PORT" ||
    { cat "$NM/mta.log" >&2; die "mailroom-mta (no milter) did not start"; }
log "mailroom $COMMIT: mta without milters pid $NM_PID on 127.0.0.1:$NM_PORT"

# queued STACK: messages accepted and not yet relayed.
queued() {
    case $1 in
    classic) files_under "$OUT/postfix/spool/maildrop" "$OUT/postfix/spool/incoming" \
        "$OUT/postfix/spool/active" "$OUT/postfix/spool/deferred" "$OUT/postfix/spool/hold" ;;
    mailroom) files_under "$MR/spool/queue" ;;
    nomilter) files_under "$NM/spool/queue" ;;
    esac
}

# drained STACK: nothing left in STACK's queue.
drained() { [ "$(queued "$1")" -eq 0 ]; }

# one_run STACK CONC [N]: N (MSGS) messages through STACK; prints "stack= conc= secs=
# msgs_per_s= mta_ms= rspamd_ms=" (CPU milliseconds per message of the MTA's processes and
# of rspamd's). Fails when smtp-source saw anything but success (a milter refusal, a 4xx).
one_run() {
    local stack=$1 conc=$2 n=${3:-$MSGS} port mta_pid t0 t1 secs m0 m1 r0 r1
    case $stack in
    classic) port=$PF_PORT mta_pid=$PF_MASTER ;;
    mailroom) port=$MR_PORT mta_pid=$MTA_PID ;;
    nomilter) port=$NM_PORT mta_pid=$NM_PID ;;
    esac
    sync
    m0=$(tree_ticks "$mta_pid") r0=$(tree_ticks "$RSPAMD_PID")
    t0=$(date +%s.%N)
    /usr/sbin/smtp-source -s "$conc" -m "$n" -l "$LEN" -f bob@b.test -t "rcpt@remote.test" \
        "127.0.0.1:$port" >"$OUT/source-$stack-$conc.log" 2>&1 || { log "smtp-source failed against $stack"; return 1; }
    wait_for "$stack's queue to drain" 600 drained "$stack" || return 1
    t1=$(date +%s.%N)
    m1=$(tree_ticks "$mta_pid") r1=$(tree_ticks "$RSPAMD_PID")
    if [ -s "$OUT/source-$stack-$conc.log" ]; then
        log "smtp-source against $stack:"
        head -5 "$OUT/source-$stack-$conc.log" >&2
        return 1
    fi
    secs=$(echo "$t1 - $t0" | bc -l)
    printf 'stack=%s conc=%s secs=%.2f msgs_per_s=%.1f mta_ms=%.3f rspamd_ms=%.3f\n' "$stack" "$conc" "$secs" \
        "$(echo "$n / $secs" | bc -l)" "$(echo "($m1 - $m0) * 1000 / $CLK_TCK / $n" | bc -l)" \
        "$(echo "($r1 - $r0) * 1000 / $CLK_TCK / $n" | bc -l)"
}

log "load before: $(uptime)"
for s in classic mailroom nomilter; do
    one_run "$s" 10 200 >/dev/null || die "warm-up of $s failed"
done
: >"$OUT/runs.txt"
for conc in $CONCS; do
    for ((r = 1; r <= RUNS; r++)); do
        for s in classic mailroom nomilter; do
            one_run "$s" "$conc" | tee -a "$OUT/runs.txt" || die "run $r of $s at $conc failed"
        done
    done
done
log "load after: $(uptime)"
# rspamd's verdicts over the whole run (every message scanned, none refused).
grep -o '(default: [TF] ([a-z ]*)' "$RS/log/rspamd.log" 2>/dev/null | sort | uniq -c >"$OUT/rspamd-actions.txt" || true
{
    echo
    echo "mailroom $COMMIT vs postfix $(/usr/sbin/postconf -c "$OUT/postfix/etc" -h mail_version), rspamd milter ($RSPAMD_WORKERS proxy workers), relaying to smtp-sink"
    echo "msgs=$MSGS len=$LEN runs=$RUNS, $(date -u '+%Y-%m-%d %H:%M UTC')"
    awk "$AWK_MEDIAN"'
    {
        delete kv
        for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
        k = kv["conc"] SUBSEP kv["stack"]; n[k]++; rate[k, n[k]] = kv["msgs_per_s"]
        mta[k, n[k]] = kv["mta_ms"]; rs[k, n[k]] = kv["rspamd_ms"]
        runs[k] = runs[k] (runs[k] == "" ? "" : " / ") kv["msgs_per_s"]; concs[kv["conc"]] = 1
    }
    END {
        printf "%-5s %-9s %-26s %8s %12s %15s\n", "conc", "stack", "msgs/s per run", "median", "MTA cpu ms", "rspamd cpu ms"
        for (c in concs) {
            for (s = 1; s <= 3; s++) {
                st = (s == 1) ? "classic" : (s == 2) ? "mailroom" : "nomilter"; k = c SUBSEP st
                for (i = 1; i <= n[k]; i++) a[i] = rate[k, i]
                m[k] = median(a, n[k])
                for (i = 1; i <= n[k]; i++) a[i] = mta[k, i]
                cpu[k] = median(a, n[k])
                for (i = 1; i <= n[k]; i++) a[i] = rs[k, i]
                printf "%-5s %-9s %-26s %8.1f %12.3f %15.3f\n", c, st, runs[k], m[k], cpu[k], median(a, n[k])
                print c, st, m[k], cpu[k] >medians
            }
            printf "conc %s: ratio mailroom/classic %.2f msgs/s; MTA CPU per message classic/mailroom %.2f\n", c,
                m[c SUBSEP "mailroom"] / m[c SUBSEP "classic"], cpu[c SUBSEP "classic"] / cpu[c SUBSEP "mailroom"]
            printf "conc %s: mailroom-mta CPU per message with the milter minus without: %.3f ms\n", c,
                cpu[c SUBSEP "mailroom"] - cpu[c SUBSEP "nomilter"]
        }
    }' medians="$OUT/medians.txt" "$OUT/runs.txt"
    echo "rspamd actions: $(tr -s ' \n' ' ' <"$OUT/rspamd-actions.txt")"
} | tee "$OUT/summary.txt"
[ -s "$MR/mta.log" ] && { log "mailroom-mta log (warn and above):"; head -20 "$MR/mta.log" >&2; }

if [ "$CALLGRIND" != 0 ]; then
    # mailroom-mta under callgrind for CG_MSGS messages; the output file is written at a clean
    # exit, by then as nobody.
    stop_pid mailroom-mta "$MTA_PID"
    MTA_PID=
    CG=$OUT/callgrind
    mkdir -p "$CG"
    chmod 1777 "$CG"
    start_mta valgrind --tool=callgrind --callgrind-out-file="$CG/mta.out" --compress-strings=no --compress-pos=no
    chmod 0666 "$CG/mta.out"
    log "mailroom-mta under callgrind: $CG_MSGS messages"
    one_run mailroom 4 "$CG_MSGS" >"$OUT/callgrind-run.txt" || die "the callgrind run failed"
    kill -TERM "$MTA_PID"
    for ((i = 0; i < 1200; i++)); do kill -0 "$MTA_PID" 2>/dev/null || break; sleep 0.1; done
    stop_pid mailroom-mta "$MTA_PID"
    MTA_PID=
    [ -s "$CG/mta.out" ] || die "no callgrind output"
    read -r matched total pct < <(python3 "$REPO/bench/callgrind_share.py" "$CG/mta.out" 'mailroom_mta::milter::')
    # The client's CPU per message: its share of mailroom-mta's CPU per message at each
    # concurrency (medians above).
    cpu=$(awk -v pct="$pct" '$2 == "mailroom" { printf "conc %s: %.4f ms of %.3f ms; ", $1, $4 * pct / 100, $4 }' "$OUT/medians.txt")
    {
        echo "callgrind, $CG_MSGS messages at conc 4: milter client $matched of $total instructions = $pct%," \
            "$((matched / CG_MSGS)) instructions per message"
        echo "milter client CPU per message (share x mailroom-mta CPU per message): $cpu"
    } | tee -a "$OUT/summary.txt"
fi
log "raw runs and logs in $OUT"
