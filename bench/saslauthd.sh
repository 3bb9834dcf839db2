#!/usr/bin/env bash
# saslauthd.sh: cyrus saslauthd vs mailroom-saslauthd on this machine, in one run, with the same
# client (target/release/saslauthd-load), and the ratios.
#
# Rows (each at every concurrency in CONCS, RUNS runs of SECS seconds, runs interleaved
# round-robin across rows so that drift in the machine's other load hits all rows alike):
#   cyrus_cache           cyrus saslauthd -a sasldb -c -n 5 (the harness peer, /run/saslauthd/mux)
#   cyrus_nocache         a second cyrus saslauthd -a sasldb -n 5 on /run/saslauthd-nocache
#   mailroom_plain_cache  mailroom-saslauthd, MariaDB row {PLAIN}, [database] cache_ttl and
#                         password_cache_ttl = 28800
#   mailroom_plain_nocache              ... {PLAIN}, both 0
#   mailroom_sha512crypt_nocache        ... {SHA512-CRYPT} (5000 rounds), both 0
# Besides the client's figures, each run records the server's CPU (utime+stime of its
# processes, in microseconds per authentication), mariadbd's CPU per authentication (the
# mailroom rows' lookups; in the cyrus rows it shows what other users of that MariaDB cost)
# and the whole machine's busy share.
#
# Needs root, the harness (HARNESS, default <repo>/../shared/harness; its setup-classic.sh is
# run only when /run/saslauthd/mux does not answer bob@b.test/bobpass) and MariaDB on
# 127.0.0.1:3306 with a password-less root, where a scratch database mailroom_saslbench is
# created and dropped again. It stops what it starts, by pid, except the cached cyrus
# saslauthd, which stays up like the rest of the harness peer (peers/stop-classic.sh stops it).
#
# Environment: HARNESS, CONCS ["4 16"], RUNS [3], SECS [5], OUT [mktemp -d] (raw runs, logs).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$REPO/../shared/harness}
CONCS=${CONCS:-"4 16"}
RUNS=${RUNS:-3}
SECS=${SECS:-5}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/saslauthd-bench.XXXXXX")}
DB=mailroom_saslbench
DB_URL=mysql://root@127.0.0.1:3306/$DB
MYSQL=(mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot)
NOCACHE_DIR=/run/saslauthd-nocache
PASS=bobpass
REL=$REPO/target/release

log() { printf 'saslauthd.sh: %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { log "must run as root (cyrus saslauthd, /run)"; exit 1; }
mkdir -p "$OUT"

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

# pid_of PIDFILE EXE: the pid in PIDFILE if it is a live process running EXE.
pid_of() {
    local pid
    [ -r "$1" ] || return 1
    pid=$(tr -dc '0-9' <"$1")
    [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$2" ] && echo "$pid"
}

# --- cleanup: only what this script started, by pid ----------------------------------------
OUR_PIDS=()
NOCACHE_STARTED=
DB_CREATED=
cleanup() {
    local pid i
    for pid in "${OUR_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${OUR_PIDS[@]}"; do
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ -n "$NOCACHE_STARTED" ]; then
        kill -TERM "$NOCACHE_STARTED" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do kill -0 "$NOCACHE_STARTED" 2>/dev/null || break; sleep 0.1; done
        log "stopped cyrus saslauthd (no cache), pid $NOCACHE_STARTED"
    fi
    if [ -n "$DB_CREATED" ]; then
        "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB" || true
    fi
}
trap cleanup EXIT

# --- build ------------------------------------------------------------------------------------
log "building (release)"
(cd "$REPO" && cargo build --release --quiet -p mailroom-saslauthd -p mailroomctl -p bench)
LOAD=$REL/saslauthd-load

answers() { "$LOAD" --socket "$1" --user "$2" --password "$PASS" -c 1 --seconds 1 --max-requests 1; }

# --- cyrus, cache on: the harness peer ----------------------------------------------------------
if answers /run/saslauthd/mux bob@b.test >/dev/null 2>&1; then
    log "cyrus saslauthd already answers on /run/saslauthd/mux; not running setup"
else
    log "running $HARNESS/peers/setup-classic.sh"
    if ! bash "$HARNESS/peers/setup-classic.sh"; then
        # Only saslauthd matters here: do the harness's saslauthd section by itself (the same
        # commands), e.g. when Postfix was installed without a main.cf and the full setup stops.
        log "setup-classic.sh failed; setting up cyrus saslauthd alone, as its saslauthd section does"
        printf '%s' "$PASS" | saslpasswd2 -p -c -u b.test bob
        chown root:sasl /etc/sasldb2 && chmod 0640 /etc/sasldb2
        install -d -m 0710 -o root -g sasl /run/saslauthd
        if ! pid_of /run/saslauthd/saslauthd.pid /usr/sbin/saslauthd >/dev/null; then
            /usr/sbin/saslauthd -a sasldb -c -m /run/saslauthd -n 5 </dev/null >>"$OUT/cyrus-cache.log" 2>&1
            log "started cyrus saslauthd -c; left running like the harness's (peers/stop-classic.sh stops it)"
        fi
    fi
    wait_for "/run/saslauthd/mux" 10 answers /run/saslauthd/mux bob@b.test
fi
CYRUS_PID=$(pid_of /run/saslauthd/saslauthd.pid /usr/sbin/saslauthd) || { log "no cyrus saslauthd pid"; exit 1; }

# --- cyrus, cache off: a second instance (harness README, "Extra") -------------------------------
if NOCACHE_PID=$(pid_of "$NOCACHE_DIR/saslauthd.pid" /usr/sbin/saslauthd); then
    log "cyrus saslauthd without cache already running (pid $NOCACHE_PID); leaving it running"
else
    install -d -m 0710 -o root -g sasl "$NOCACHE_DIR"
    /usr/sbin/saslauthd -a sasldb -m "$NOCACHE_DIR" -n 5 </dev/null >>"$OUT/cyrus-nocache.log" 2>&1
    wait_for "cyrus saslauthd (no cache) pid file" 10 pid_of "$NOCACHE_DIR/saslauthd.pid" /usr/sbin/saslauthd
    NOCACHE_PID=$(pid_of "$NOCACHE_DIR/saslauthd.pid" /usr/sbin/saslauthd)
    NOCACHE_STARTED=$NOCACHE_PID
    log "started cyrus saslauthd (no cache), pid $NOCACHE_PID"
fi
wait_for "$NOCACHE_DIR/mux" 10 answers "$NOCACHE_DIR/mux" bob@b.test

# --- mailroom: scratch database, two daemons -------------------------------------------------
"${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
DB_CREATED=1
export MAILROOM_DATABASE_URL=$DB_URL
"$REL/mailroomctl" db migrate >/dev/null
"$REL/mailroomctl" domain add b.test >/dev/null
# mailroomctl writes ARGON2ID; the rows then get the cheap schemes compared here.
printf '%s\n' "$PASS" | "$REL/mailroomctl" user add bob@b.test --password-stdin >/dev/null
printf '%s\n' "$PASS" | "$REL/mailroomctl" user add crypt@b.test --password-stdin >/dev/null
CRYPT_HASH=$(printf '%s\n' "$PASS" | "$REL/mailroomctl" pw hash --scheme SHA512-CRYPT)
case $CRYPT_HASH in '{SHA512-CRYPT}$6$'*) ;; *) log "unexpected hash: $CRYPT_HASH"; exit 1 ;; esac
"${MYSQL[@]}" "$DB" -e "UPDATE mailbox SET password='{PLAIN}$PASS' WHERE username='bob@b.test';
    UPDATE mailbox SET password='$CRYPT_HASH' WHERE username='crypt@b.test'"
unset MAILROOM_DATABASE_URL

start_mailroom() { # NAME CACHE_TTL -> sets MR_PID; socket $OUT/NAME/mux
    local name=$1 ttl=$2
    mkdir -p "$OUT/$name"
    cat >"$OUT/$name.toml" <<EOF
[database]
url = "$DB_URL"
cache_ttl = $ttl
password_cache_ttl = $ttl

[saslauthd]
run_dir = "$OUT/$name"
dovecot = false
user = "root"
log_level = "warn"
EOF
    "$REL/mailroom-saslauthd" --config "$OUT/$name.toml" </dev/null >"$OUT/$name.log" 2>&1 &
    MR_PID=$!
    OUR_PIDS+=("$MR_PID")
    wait_for "mailroom-saslauthd $name" 20 answers "$OUT/$name/mux" bob@b.test
    log "started mailroom-saslauthd $name (cache_ttl=$ttl), pid $MR_PID"
}
start_mailroom mr-cache 28800
MR_CACHE_PID=$MR_PID
start_mailroom mr-nocache 0
MR_NOCACHE_PID=$MR_PID

# --- rows -------------------------------------------------------------------------------------
# name | socket | user | server pids (a command printing them: cyrus forks workers)
ROWS=(
    "cyrus_cache|/run/saslauthd/mux|bob@b.test|proc_tree $CYRUS_PID"
    "cyrus_nocache|$NOCACHE_DIR/mux|bob@b.test|proc_tree $NOCACHE_PID"
    "mailroom_plain_cache|$OUT/mr-cache/mux|bob@b.test|echo $MR_CACHE_PID"
    "mailroom_plain_nocache|$OUT/mr-nocache/mux|bob@b.test|echo $MR_NOCACHE_PID"
    "mailroom_sha512crypt_nocache|$OUT/mr-nocache/mux|crypt@b.test|echo $MR_NOCACHE_PID"
)
proc_tree() { echo "$1"; pgrep -P "$1" || true; }
# Sum of utime+stime ticks (fields 14, 15 of /proc/PID/stat) over the given pids.
ticks() {
    local p t=0 v
    for p in "$@"; do
        v=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null) || continue
        t=$((t + v))
    done
    echo "$t"
}
# Machine-wide "busy total" jiffies from /proc/stat (busy = all but idle and iowait).
machine() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }

HZ=$(getconf CLK_TCK)
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg); raw runs in $OUT"
for ((run = 1; run <= RUNS; run++)); do
    for c in $CONCS; do
        for row in "${ROWS[@]}"; do
            IFS='|' read -r name sock user pidcmd <<<"$row"
            read -ra pids <<<"$($pidcmd | tr '\n' ' ')"
            s0=$(ticks "${pids[@]}")
            d0=$(ticks $(pgrep -x mariadbd))
            read -r b0 t0 < <(machine)
            line=$("$LOAD" --socket "$sock" --user "$user" --password "$PASS" -c "$c" --seconds "$SECS" \
                | tail -n 1) || log "run failed: $name c=$c: $line"
            read -r b1 t1 < <(machine)
            s1=$(ticks "${pids[@]}")
            d1=$(ticks $(pgrep -x mariadbd))
            auths=$(sed -n 's/.* auths=\([0-9]*\).*/\1/p' <<<"$line")
            us=$(awk -v d=$((s1 - s0)) -v hz="$HZ" -v n="${auths:-0}" \
                'BEGIN { printf "%.1f", (n > 0 ? d / hz * 1e6 / n : 0) }')
            db=$(awk -v d=$((d1 - d0)) -v hz="$HZ" -v n="${auths:-0}" \
                'BEGIN { printf "%.1f", (n > 0 ? d / hz * 1e6 / n : 0) }')
            busy=$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.1f", (t > 0 ? 100 * b / t : 0) }')
            echo "$line server_us_per_auth=$us db_us_per_auth=$db machine_busy_pct=$busy" \
                >>"$OUT/${name}_c$c.runs"
            printf '  run %d c=%-2s %-30s %s server_us_per_auth=%s db_us_per_auth=%s machine_busy_pct=%s\n' \
                "$run" "$c" "$name" "$(grep -o 'auths_per_s=[^ ]*' <<<"$line")" "$us" "$db" "$busy" >&2
        done
    done
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- medians and ratios ------------------------------------------------------------------------
# median KEY FILE: median of KEY over FILE's lines (mean of the middle two for an even count).
median() {
    grep -o "\b$1=[0-9.]*" "$2" | cut -d= -f2 | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR == 0) print "na"; else if (NR % 2) print v[(NR + 1) / 2];
                else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo
echo "saslauthd auths/s, median of $RUNS runs x ${SECS}s, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs," \
    "cyrus-sasl $(dpkg-query -W -f='${Version}' sasl2-bin 2>/dev/null || echo '?')," \
    "mailroom $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
printf '%-30s %5s %10s %8s %8s %8s %10s %10s %9s %7s\n' row conc auths/s p50_ms p99_ms client% \
    server_us db_us machine% errors
for c in $CONCS; do
    for row in "${ROWS[@]}"; do
        name=${row%%|*}
        f=$OUT/${name}_c$c.runs
        printf '%-30s %5s %10s %8s %8s %8s %10s %10s %9s %7s\n' "$name" "$c" "$(median auths_per_s "$f")" \
            "$(median p50_ms "$f")" "$(median p99_ms "$f")" "$(median client_cpu_pct "$f")" \
            "$(median server_us_per_auth "$f")" "$(median db_us_per_auth "$f")" \
            "$(median machine_busy_pct "$f")" "$(median errors "$f")"
    done
done
echo "server_us, db_us: CPU microseconds per authentication of the server's processes and of mariadbd"
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "na" }'; }
for c in $CONCS; do
    m() { median auths_per_s "$OUT/${1}_c$c.runs"; }
    echo "c=$c ratio_cache_on=$(ratio "$(m mailroom_plain_cache)" "$(m cyrus_cache)")" \
        "ratio_cache_off=$(ratio "$(m mailroom_plain_nocache)" "$(m cyrus_nocache)")" \
        "ratio_sha512crypt_vs_cyrus_nocache=$(ratio "$(m mailroom_sha512crypt_nocache)" "$(m cyrus_nocache)")"
done
