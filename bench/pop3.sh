#!/usr/bin/env bash
# pop3.sh: POP3 download sessions per second, MB/s and memory per open connection,
# mailroom-mra vs Dovecot's pop3, on the same Maildirs, in one run, with the same client.
#
# Mail: CLIENTS users load1..loadCLIENTS@b.test, each with FILL messages of about BODY bytes
# (Dovecot-style names with ,S= and ,W=, in new/), under one mail root owned by nobody (65534)
# that both servers serve in turn; HOLD users idle1..idleHOLD with empty INBOXes.
# Load: bench's native client, target/release/pop3-load: CLIENTS threads, each its own user
# (mailroom-mra locks a maildrop per POP3 session, as RFC 1939 wants; Dovecot does not), loop
# connect, USER, PASS, STAT, UIDL, RETR every message, QUIT, for SECS seconds. RUNS runs per
# server, interleaved (dovecot, mailroom, dovecot, ...); medians and ratios at the end. Each run
# also records the server's CPU per session (utime+stime of the daemon and its children,
# Dovecot's master counting exited children) and mariadbd's. One run per server of the
# harness's Python client (pop3_load.py, same session) is kept for reference.
# Memory: HOLD logged-in idle sessions (pop3-load --hold, idle{i} users) held open; the summed
# RSS and PSS (/proc/PID/smaps_rollup) of the server's processes before and during, per
# connection.
#
# Servers, both private to this script and stopped by pid at exit (bench/lib.sh):
#   Dovecot (start_dovecot_mail): pop3 on 127.0.0.1:DV_PORT, static passdb (every user's
#     password is loadpass) and userdb (uid/gid 65534), limits raised so HOLD sessions fit;
#     otherwise Dovecot's defaults (one pop3 process per session).
#   mailroom-mra (start_mailroom_mra, release build): pop3 on 127.0.0.1:MR_PORT,
#     auth = "direct" against the MariaDB scratch database mailroom_pop3bench (rows
#     {PLAIN}loadpass, dropped at exit), user = "nobody", log_level = "warn".
#
# Needs root, MariaDB on 127.0.0.1:3306, /usr/sbin/dovecot with /usr/lib/dovecot/pop3
# (dovecot-pop3d), python3, cargo.
#
#     bash bench/pop3.sh
#
# Environment: RUNS [3], SECS [10], CLIENTS [4], FILL [500], BODY [3640], HOLD [200],
# DV_PORT [11110], MR_PORT [11111], OUT [mktemp -d under /var/tmp] (configs, logs, raw runs).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$REPO/../shared/harness}
RUNS=${RUNS:-3}
SECS=${SECS:-10}
CLIENTS=${CLIENTS:-4}
FILL=${FILL:-500}
BODY=${BODY:-3640}
HOLD=${HOLD:-200}
DV_PORT=${DV_PORT:-11110}
MR_PORT=${MR_PORT:-11111}
OUT=${OUT:-$(mktemp -d /var/tmp/pop3-bench.XXXXXX)}
DB_URL=mysql://root@127.0.0.1:3306/mailroom_pop3bench
REL=$REPO/target/release
DOVECOT=/usr/sbin/dovecot
MAIL_UID=65534
PASS=loadpass

log() { printf 'pop3.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (private dovecot, chown to nobody)"
[ -x "$DOVECOT" ] || die "$DOVECOT missing (apt-get install dovecot-core)"
[ -x /usr/lib/dovecot/pop3 ] || die "/usr/lib/dovecot/pop3 missing (apt-get install dovecot-pop3d)"
mkdir -p "$OUT"
chmod 755 "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$OUT/root

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

DOVECOT_PID=
MRA_PID=
HOLDER_PID=
cleanup() {
    local rc=$?
    set +e
    [ -z "$HOLDER_PID" ] || kill "$HOLDER_PID" 2>/dev/null
    stop_pid dovecot "$DOVECOT_PID"
    stop_pid mailroom-mra "$MRA_PID"
    drop_bench_db
    [ "$rc" != 0 ] || rm -rf "$ROOT"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ---------------------------------------------------------------------------------------
COMMIT=$(git -C "$REPO" rev-parse --short HEAD)
log "building mailroom-mra, mailroomctl and pop3-load (release)"
(cd "$REPO" && cargo build --release -q -p mailroom-mra -p mailroomctl -p bench --bin pop3-load --bin mailroom-mra --bin mailroomctl) \
    >"$OUT/build.log" 2>&1 || { cat "$OUT/build.log" >&2; die "cargo build failed"; }

# --- mail ----------------------------------------------------------------------------------------
log "filling $CLIENTS maildirs with $FILL messages of ~$BODY bytes"
fresh_root "$ROOT" "$MAIL_UID"
fill_maildir "$ROOT/b.test/load1/Maildir" "$FILL" "$BODY" pop3
for ((i = 2; i <= CLIENTS; i++)); do cp -a "$ROOT/b.test/load1" "$ROOT/b.test/load$i"; done
chown -R "$MAIL_UID:$MAIL_UID" "$ROOT"
chmod -R go-rwx "$ROOT/b.test"
chmod 755 "$ROOT/b.test"

# --- the two servers (bench/lib.sh) ------------------------------------------------------------
start_dovecot_mail "$OUT/dovecot" "$ROOT" "$MAIL_UID" pop3 "$DV_PORT" "$PASS" || die "dovecot did not start"
users=()
for ((i = 1; i <= CLIENTS; i++)); do users+=("load$i"); done
for ((i = 1; i <= HOLD; i++)); do users+=("idle$i"); done
start_mailroom_mra "$OUT/mailroom" "$DB_URL" "$ROOT" pop3 "$MR_PORT" "$PASS" "${users[@]}" ||
    die "mailroom-mra did not start"

port_of() { case $1 in dovecot) echo "$DV_PORT" ;; mailroom) echo "$MR_PORT" ;; esac; }
pid_of() { case $1 in dovecot) echo "$DOVECOT_PID" ;; mailroom) echo "$MRA_PID" ;; esac; }

# tree_pids PID: PID and its descendants.
tree_pids() {
    local k
    echo "$1"
    for k in $(pgrep -P "$1" || true); do tree_pids "$k"; done
}
# mem_of SERVER: "<rss_kB> <pss_kB> <processes>" summed over the server's process tree.
mem_of() {
    local p rss=0 pss=0 n=0 r s
    for p in $(tree_pids "$(pid_of "$1")"); do
        read -r r s < <(awk '/^Rss:/ { r = $2 } /^Pss:/ { s = $2 } END { print r + 0, s + 0 }' \
            "/proc/$p/smaps_rollup" 2>/dev/null || echo "0 0")
        rss=$((rss + r)) pss=$((pss + s)) n=$((n + 1))
    done
    echo "$rss $pss $n"
}

# one_run SERVER TAG: one pop3-load run; prints its key=value line plus CPU figures.
one_run() {
    local server=$1 tag=$2 pid db t0 t1 d0 d1 c0 c1 line rc=0
    pid=$(pid_of "$server")
    kill -0 "$pid" 2>/dev/null || die "$server (pid $pid) is not running"
    db=$(mariadbd_pid)
    t0=$(tree_ticks "$pid"); d0=$([ -n "$db" ] && tree_ticks "$db" || echo 0); c0=$(cpu_line)
    line=$("$REL/pop3-load" --port "$(port_of "$server")" --user 'load{i}@b.test' --range "1-$CLIENTS" \
        --password "$PASS" -c "$CLIENTS" --seconds "$SECS" --warmup 0 2>"$OUT/$tag.err") || rc=$?
    t1=$(tree_ticks "$pid"); d1=$([ -n "$db" ] && tree_ticks "$db" || echo 0); c1=$(cpu_line)
    [ "$rc" = 0 ] || { log "$tag: pop3-load exited $rc: $(cat "$OUT/$tag.err")"; }
    awk -v l="$line" -v t0="$t0" -v t1="$t1" -v d0="$d0" -v d1="$d1" -v c0="$c0" -v c1="$c1" \
        -v hz="$CLK_TCK" -v srv="$server" -v tag="$tag" 'BEGIN {
        n = split(l, f, " "); for (i = 1; i <= n; i++) { split(f[i], p, "="); kv[p[1]] = p[2] }
        s = kv["sessions"] + 0
        split(c0, x, " "); split(c1, y, " ")
        busy = (y[2] > x[2]) ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0
        printf "server=%s tag=%s %s server_ms_per_session=%.2f db_ms_per_session=%.2f machine_pct=%.0f\n",
               srv, tag, l, s ? (t1 - t0) * 1e3 / hz / s : 0, s ? (d1 - d0) * 1e3 / hz / s : 0, busy }'
}

# --- warm-up: both servers index the Maildirs once (uidlists, caches, new/ -> cur/) ----------------
for s in dovecot mailroom; do
    log "warm-up: one session per user on $s"
    "$REL/pop3-load" --port "$(port_of "$s")" --user 'load{i}@b.test' --range "1-$CLIENTS" --password "$PASS" \
        -c "$CLIENTS" --seconds 0.1 --max-sessions "$CLIENTS" --warmup 0 >"$OUT/warmup-$s.txt" ||
        die "warm-up of $s failed: $(cat "$OUT/warmup-$s.txt")"
done

# --- runs ----------------------------------------------------------------------------------------
UPTIME_BEFORE=$(uptime)
log "load before: $UPTIME_BEFORE"
: >"$OUT/runs.txt"
for ((r = 1; r <= RUNS; r++)); do
    for s in dovecot mailroom; do
        line=$(one_run "$s" "run$r-$s")
        echo "$line" | tee -a "$OUT/runs.txt"
    done
done
log "the harness's Python client, once per server (for reference)"
for s in dovecot mailroom; do
    python3 "$HARNESS/bench/pop3_load.py" --port "$(port_of "$s")" --user "load1@b.test" --password "$PASS" \
        -c 1 --seconds "$SECS" 2>&1 | tail -1 | sed "s/^/server=$s python_c1 /" | tee -a "$OUT/python.txt" || true
done

# --- memory per open connection --------------------------------------------------------------------
: >"$OUT/memory.txt"
for s in dovecot mailroom; do
    before=$(mem_of "$s")
    coproc HOLDER { exec "$REL/pop3-load" --port "$(port_of "$s")" --user 'idle{i}@b.test' --range "1-$HOLD" \
        --password "$PASS" --hold "$HOLD" 2>"$OUT/hold-$s.err"; }
    HOLDER_PID=$HOLDER_PID
    read -r held <&"${HOLDER[0]}" || die "holding $HOLD sessions on $s failed: $(cat "$OUT/hold-$s.err")"
    sleep 1
    during=$(mem_of "$s")
    eval "exec ${HOLDER[1]}>&-"
    wait "$HOLDER_PID" || true
    HOLDER_PID=
    echo "server=$s $held before_rss_pss_procs=${before// /,} during_rss_pss_procs=${during// /,}" |
        awk -v k="$HOLD" '{ split($3, b, "[=,]"); split($4, d, "[=,]")
            printf "%s rss_kB_per_conn=%.1f pss_kB_per_conn=%.1f\n", $0, (d[2] - b[2]) / k, (d[3] - b[3]) / k }' |
        tee -a "$OUT/memory.txt"
done
UPTIME_AFTER=$(uptime)
log "load after: $UPTIME_AFTER"

# --- summary -------------------------------------------------------------------------------------
{
    echo
    echo "mailroom $COMMIT (HEAD when built), dovecot $("$DOVECOT" --version | head -1)"
    echo "clients=$CLIENTS fill=$FILL body=$BODY secs=$SECS runs=$RUNS hold=$HOLD, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "load before: $UPTIME_BEFORE"
    echo "load after:  $UPTIME_AFTER"
    awk "$AWK_MEDIAN"'
    {
        delete kv
        for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
        s = kv["server"]; k = ++n[s]
        sps[s, k] = kv["sessions_per_s"]; mbs[s, k] = kv["MB_per_s"]; p50[s, k] = kv["session_p50_ms"]
        cpu[s, k] = kv["server_ms_per_session"]; db[s, k] = kv["db_ms_per_session"]; cl[s, k] = kv["client_cpu_pct"]
        err[s] += kv["errors"]
    }
    END {
        printf "%-9s %12s %9s %15s %17s %13s %11s %7s\n", "server", "sessions/s", "MB/s", "session p50 ms", "server ms/session", "db ms/session", "client cpu%", "errors"
        for (q = 1; q <= 2; q++) {
            s = (q == 1) ? "dovecot" : "mailroom"
            for (i = 1; i <= n[s]; i++) { a1[i] = sps[s, i]; a2[i] = mbs[s, i]; a3[i] = p50[s, i]; a4[i] = cpu[s, i]; a5[i] = db[s, i]; a6[i] = cl[s, i] }
            m1[s] = median(a1, n[s]); m2[s] = median(a2, n[s])
            printf "%-9s %12.1f %9.1f %15.1f %17.2f %13.2f %11.0f %7d\n", s, m1[s], m2[s], median(a3, n[s]), median(a4, n[s]), median(a5, n[s]), median(a6, n[s]), err[s]
        }
        if (m1["dovecot"] > 0) printf "ratio mailroom/dovecot: sessions/s %.2fx, MB/s %.2fx\n", m1["mailroom"] / m1["dovecot"], m2["mailroom"] / m2["dovecot"]
    }' "$OUT/runs.txt"
    cat "$OUT/python.txt" "$OUT/memory.txt"
    echo "raw runs: $OUT"
} | tee "$OUT/summary.txt"
