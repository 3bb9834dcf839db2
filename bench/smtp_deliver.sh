#!/usr/bin/env bash
# smtp_deliver.sh: messages per second from the first SMTP connection to the last fsynced
# Maildir file, mailroom-mta + mailroom-mda against Postfix delivering through Dovecot's LMTP,
# on this machine, in one run, with the harness's load script
# (../shared/harness/bench/smtp_deliver.sh: Postfix's smtp-source, 4 KiB messages).
#
# Stacks, both private to this script and stopped by pid at exit:
#   classic: a private Postfix (own config and queue directory, smtpd on 127.0.0.1:$PF_PORT,
#     virtual_mailbox_domains/maps from the same MariaDB through postfix-mysql when installed,
#     virtual_transport = lmtp:unix:<dovecot socket>) and a private Dovecot serving LMTP
#     (static userdb, mail_fsync at its default). Postfix fsyncs each queue file before its
#     250; Dovecot fsyncs file and new/ before its LMTP 250.
#   mailroom: mailroom-mta on 127.0.0.1:$MR_PORT (spool fsync, file and directory, before the
#     250, directory fsyncs shared across sessions) and mailroom-mda over LMTP (file and new/
#     fsynced before each 250), release builds, MariaDB database mailroom_smtpbench (dropped at
#     exit) with domain b.test and mailbox bob@b.test.
# For each CONC in CONCS, RUNS runs per stack, interleaved, each into a fresh mail root;
# medians and the ratio mailroom/classic per concurrency. Then the disk's fsync limit.
#
# Needs root, MariaDB on 127.0.0.1:3306, postfix (smtp-source), dovecot-core, dovecot-lmtpd,
# cargo. postfix-mysql is used when present (apt-get install postfix-mysql).
#
#     bash bench/smtp_deliver.sh
#
# Environment: CONCS ["10 50"], RUNS [3], MSGS [2000], LEN [4096], CACHE_TTL [0] (mailroom's
# [database] cache_ttl: seconds found directory rows are reused), OUT [mktemp -d under /var/tmp].
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$REPO/../shared/harness}
CONCS=${CONCS:-"10 50"}
RUNS=${RUNS:-3}
MSGS=${MSGS:-2000}
LEN=${LEN:-4096}
CACHE_TTL=${CACHE_TTL:-0}
OUT=${OUT:-$(mktemp -d /var/tmp/smtp-deliver-bench.XXXXXX)}
DB=mailroom_smtpbench
DB_URL=mysql://root@127.0.0.1:3306/$DB
MYSQL=(mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot)
REL=$REPO/target/release
MAIL_UID=65534
PF_PORT=${PF_PORT:-10025}
MR_PORT=${MR_PORT:-10026}

log() { printf 'smtp_deliver.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (private postfix and dovecot)"
for f in /usr/sbin/postfix /usr/sbin/smtp-source /usr/sbin/dovecot /usr/lib/dovecot/lmtp; do
    [ -x "$f" ] || die "$f missing (apt-get install postfix dovecot-core dovecot-lmtpd)"
done
mkdir -p "$OUT"
chmod 755 "$OUT"
OUT=$(cd "$OUT" && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

DOVECOT_PID= MDA_PID= MTA_PID= PF_STARTED= DB_CREATED=
PF=$OUT/postfix
cleanup() {
    local rc=$?
    set +e
    [ -n "$PF_STARTED" ] && stop_postfix
    stop_pid dovecot "$DOVECOT_PID"
    stop_pid mailroom-mta "$MTA_PID"
    stop_pid mailroom-mda "$MDA_PID"
    [ -n "$DB_CREATED" ] && "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB" && log "dropped database $DB"
    [ "$rc" != 0 ] || rm -rf "$OUT/root-classic" "$OUT/root-mailroom"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

COMMIT=$(git -C "$REPO" rev-parse --short HEAD)
log "building mailroom-mta, mailroom-mda and mailroomctl (release)"
(cd "$REPO" && cargo build --release -q -p mailroom-mta -p mailroom-mda -p mailroomctl) >"$OUT/build.log" 2>&1 ||
    { cat "$OUT/build.log" >&2; die "cargo build failed"; }

# --- the directory both stacks read ------------------------------------------------------------
"${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
DB_CREATED=1
MAILROOM_DATABASE_URL=$DB_URL "$REL/mailroomctl" db migrate >"$OUT/ctl.log" 2>&1
MAILROOM_DATABASE_URL=$DB_URL "$REL/mailroomctl" domain add b.test >>"$OUT/ctl.log" 2>&1
echo bobpass | MAILROOM_DATABASE_URL=$DB_URL "$REL/mailroomctl" user add bob@b.test >>"$OUT/ctl.log" 2>&1 ||
    { cat "$OUT/ctl.log" >&2; die "mailroomctl failed"; }

# --- classic: Dovecot LMTP + Postfix -------------------------------------------------------------
CL_ROOT=$OUT/root-classic
fresh_root "$CL_ROOT" "$MAIL_UID"
start_dovecot_lmtp "$OUT/dovecot" "$CL_ROOT" "$MAIL_UID" || die "dovecot did not start"
mkdir -p "$PF/etc"
if dpkg-query -W -f='${Status}' postfix-mysql 2>/dev/null | grep -q "ok installed"; then
    cat >"$PF/etc/domains.cf" <<EOF
hosts = 127.0.0.1
user = root
dbname = $DB
query = SELECT domain FROM domain WHERE domain='%s' AND active = 1
EOF
    cat >"$PF/etc/mailboxes.cf" <<EOF
hosts = 127.0.0.1
user = root
dbname = $DB
query = SELECT maildir FROM mailbox WHERE username='%s' AND active = 1
EOF
    PF_MAPS="virtual_mailbox_domains = proxy:mysql:$PF/etc/domains.cf
virtual_mailbox_maps = proxy:mysql:$PF/etc/mailboxes.cf"
    PF_LOOKUP=mysql
else
    log "postfix-mysql not installed: Postfix checks recipients from an inline map (cheaper than mailroom's MariaDB lookups)"
    PF_MAPS="virtual_mailbox_domains = b.test
virtual_mailbox_maps = inline:{ bob@b.test=b.test/bob/ }"
    PF_LOOKUP=inline
fi
start_postfix "$PF" "127.0.0.1:$PF_PORT" "$PF_MAPS
virtual_transport = lmtp:unix:$DV_SOCKET" || die "postfix did not start"
PF_STARTED=1
log "postfix recipients from $PF_LOOKUP"

# --- mailroom: MTA + MDA -----------------------------------------------------------------------
MR=$OUT/mailroom
MR_ROOT=$OUT/root-mailroom
mkdir -p "$MR/run" "$MR/spool"
chmod 755 "$MR" "$MR/run"
fresh_root "$MR_ROOT" "$MAIL_UID"
cat >"$MR/mailroom.toml" <<EOF
[database]
url = "$DB_URL"
mail_root = "$MR_ROOT"
maildir_template = "%d/%n/Maildir"
cache_ttl = $CACHE_TTL

[mda]
lmtp_socket = "$MR/run/lmtp"
lmtp_socket_mode = "0666"
user = "nobody"
hostname = "mda.test"
log_level = "warn"

[mta]
smtp_listen = ["127.0.0.1:$MR_PORT"]
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
"$REL/mailroom-mda" --config "$MR/mailroom.toml" </dev/null >"$MR/mda.out" 2>"$MR/mda.log" &
MDA_PID=$!
wait_for "mailroom-mda's socket" 20 test -S "$MR/run/lmtp" || { cat "$MR/mda.log" >&2; die "mailroom-mda did not start"; }
"$REL/mailroom-mta" --config "$MR/mailroom.toml" </dev/null >"$MR/mta.out" 2>"$MR/mta.log" &
MTA_PID=$!
wait_for "mailroom-mta on port $MR_PORT" 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MR_PORT" ||
    { cat "$MR/mta.log" >&2; die "mailroom-mta did not start"; }
log "mailroom $COMMIT: mta pid $MTA_PID on 127.0.0.1:$MR_PORT, mda pid $MDA_PID"

# one_run STACK CONC TAG: fresh root, MSGS messages, the harness's key=value line plus ours.
one_run() {
    local stack=$1 conc=$2 tag=$3 port root line
    case $stack in classic) port=$PF_PORT root=$CL_ROOT ;; mailroom) port=$MR_PORT root=$MR_ROOT ;; esac
    fresh_root "$root" "$MAIL_UID"
    sync
    if line=$(bash "$HARNESS/bench/smtp_deliver.sh" -s "$conc" -m "$MSGS" -l "$LEN" -S "$tag" -T 600 \
        "127.0.0.1:$port" bob@b.test "$root/b.test/bob/Maildir/new" 2>"$OUT/$tag.err"); then
        echo "stack=$stack conc=$conc tag=$tag $line"
    else
        cat "$OUT/$tag.err" >&2
        echo "stack=$stack conc=$conc tag=$tag $line"
        return 1
    fi
}

log "load before: $(uptime)"
for s in classic mailroom; do
    one_run "$s" 10 "warmup-$s" >"$OUT/warmup-$s.txt" || log "warm-up of $s failed"
done
: >"$OUT/runs.txt"
FAILED=0
for conc in $CONCS; do
    for ((r = 1; r <= RUNS; r++)); do
        for s in classic mailroom; do
            line=$(one_run "$s" "$conc" "c$conc-run$r-$s") || FAILED=1
            echo "$line" | tee -a "$OUT/runs.txt"
        done
    done
done
log "load after: $(uptime)"
log "fsync limit of this disk ($OUT):"
python3 "$HARNESS/bench/fsync_limit.py" --dir "$OUT" 2>&1 | tail -1 | tee "$OUT/fsync_limit.txt" || true

{
    echo
    echo "mailroom $COMMIT, $(/usr/sbin/postconf -c "$PF/etc" -h mail_version | sed 's/^/postfix /') + $(/usr/sbin/dovecot --version | sed 's/^/dovecot /') (mail_fsync=$DV_FSYNC, recipients from $PF_LOOKUP)"
    echo "msgs=$MSGS len=$LEN runs=$RUNS mailroom cache_ttl=$CACHE_TTL, $(date -u '+%Y-%m-%d %H:%M UTC')"
    awk "$AWK_MEDIAN"'
    {
        delete kv
        for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
        if (kv["msgs_per_s"] == "" || kv["msgs_per_s"] == "na") next
        k = kv["conc"] SUBSEP kv["stack"]; n[k]++; rate[k, n[k]] = kv["msgs_per_s"]
        runs[k] = runs[k] (runs[k] == "" ? "" : " / ") kv["msgs_per_s"]; concs[kv["conc"]] = 1
    }
    END {
        printf "%-5s %-9s %-30s %9s\n", "conc", "stack", "msgs/s per run", "median"
        for (c in concs) {
            for (s = 1; s <= 2; s++) {
                st = (s == 1) ? "classic" : "mailroom"; k = c SUBSEP st
                if (!n[k]) { printf "%-5s %-9s no successful run\n", c, st; continue }
                for (i = 1; i <= n[k]; i++) a[i] = rate[k, i]
                m[k] = median(a, n[k])
                printf "%-5s %-9s %-30s %9.1f\n", c, st, runs[k], m[k]
            }
            if (m[c SUBSEP "classic"] > 0 && m[c SUBSEP "mailroom"] > 0)
                printf "conc %s: ratio mailroom/classic %.2f\n", c, m[c SUBSEP "mailroom"] / m[c SUBSEP "classic"]
        }
    }' "$OUT/runs.txt"
    echo "fsync limit: $(cat "$OUT/fsync_limit.txt")"
} | tee "$OUT/summary.txt"
[ -s "$MR/mta.log" ] && { log "mailroom-mta log (warn and above):"; head -20 "$MR/mta.log" >&2; }
log "raw runs and logs in $OUT"
exit "$FAILED"
