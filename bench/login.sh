#!/usr/bin/env bash
# login.sh: IMAP LOGIN latency with concurrent clients against a stored ARGON2ID hash,
# mailroom-mra (with and without its verified-password cache) vs Dovecot, in one run.
#
# The stored value is one `mailroomctl pw hash -s ARGON2ID` hash at the configured cost
# (OWASP's m=19456 KiB, t=2, p=1 by default), given to both servers: mailroom-mra reads it from
# MariaDB (auth = "direct"), Dovecot from its static passdb (auth cache off, its default).
# Load: ../shared/harness/bench/imap_load.py, CLIENTS threads on load1 for SECS seconds, each
# session connect, LOGIN, SELECT INBOX (one message), FETCH 1:*, UID SEARCH, LOGOUT, so most of
# a session is its LOGIN; RUNS runs per server interleaved (dovecot, mailroom,
# mailroom-nocache, ...), medians of LOGIN p50 and p99 at the end. mailroom-nocache is the same
# daemon with [database] password_cache_ttl = 0: every LOGIN computes the hash.
#
# Needs root, MariaDB on 127.0.0.1:3306, dovecot-imapd, python3, cargo.
#
#     bash bench/login.sh     # env: SECS (15), RUNS (3), CLIENTS (10), BUILD (1; 0 uses the
#                             # release binaries as they are)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$REPO/../shared/harness}
SECS=${SECS:-15}
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-10}
DV_PORT=${DV_PORT:-11153}
MR_PORT=${MR_PORT:-11154}
NC_PORT=${NC_PORT:-11155}
OUT=${OUT:-$(mktemp -d /var/tmp/login-bench.XXXXXX)}
REL=${REL:-$REPO/target/release}
MAIL_UID=65534
PASS=loadpass

log() { printf 'login.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (private dovecot, chown to nobody)"
[ -x /usr/lib/dovecot/imap ] || die "/usr/lib/dovecot/imap missing (apt-get install dovecot-imapd)"
mkdir -p "$OUT"
chmod 755 "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$OUT/root
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

DOVECOT_PID=
MRA_PID=
NOCACHE_PID=
cleanup() {
    local rc=$?
    set +e
    stop_pid dovecot "$DOVECOT_PID"
    stop_pid mailroom-mra "$MRA_PID"
    stop_pid mailroom-mra-nocache "$NOCACHE_PID"
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

HASH=$(printf '%s\n' "$PASS" | "$REL/mailroomctl" --config /dev/null pw hash -s ARGON2ID 2>/dev/null) ||
    HASH=$(printf '%s\n' "$PASS" | "$REL/mailroomctl" pw hash -s ARGON2ID)
case $HASH in
'{ARGON2ID}$argon2id$'*) log "stored hash: ${HASH%%\$*}\$argon2id\$$(cut -d'$' -f3,4 <<<"$HASH")\$..." ;;
*) die "mailroomctl pw hash gave: $HASH" ;;
esac

fresh_root "$ROOT" "$MAIL_UID"
fill_maildir "$ROOT/b.test/load1/Maildir" 1 1000 login
chown -R "$MAIL_UID:$MAIL_UID" "$ROOT"
chmod -R go-rwx "$ROOT/b.test"
chmod 755 "$ROOT/b.test"

start_dovecot_mail "$OUT/dovecot" "$ROOT" "$MAIL_UID" imap "$DV_PORT" "$HASH" || die "dovecot did not start"
start_mailroom_mra "$OUT/mailroom" mysql://root@127.0.0.1:3306/mailroom_loginbench "$ROOT" imap "$MR_PORT" \
    "$PASS" load1 || die "mailroom-mra did not start"
mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot "$BENCH_DB" \
    -e "UPDATE mailbox SET password = '$HASH' WHERE username = 'load1@b.test'"
# The same daemon and database with the cache off, on its own port.
mkdir -p "$OUT/nocache"
sed -e "s/127.0.0.1:$MR_PORT/127.0.0.1:$NC_PORT/" -e 's/^\[database\]$/[database]\npassword_cache_ttl = 0/' \
    "$OUT/mailroom/mailroom.toml" >"$OUT/nocache/mailroom.toml"
"$REL/mailroom-mra" --config "$OUT/nocache/mailroom.toml" </dev/null >"$OUT/nocache/stdout.log" \
    2>"$OUT/nocache/mra.log" &
NOCACHE_PID=$!
wait_for "mailroom-mra-nocache's port" 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$NC_PORT" ||
    { cat "$OUT/nocache/mra.log" >&2; die "mailroom-mra (no cache) did not start"; }

port_of() {
    case $1 in dovecot) echo "$DV_PORT" ;; mailroom) echo "$MR_PORT" ;; *) echo "$NC_PORT" ;; esac
}
load() {
    python3 "$HARNESS/bench/imap_load.py" --port "$(port_of "$1")" --user load1@b.test --password "$PASS" \
        -c "$CLIENTS" --seconds "$2" --bodies 0 | tail -1
}
SERVERS=(dovecot mailroom mailroom-nocache)
for s in "${SERVERS[@]}"; do
    log "$s: warm-up"
    load "$s" 1 >/dev/null
done
UPTIME_BEFORE=$(uptime)
: >"$OUT/results.txt"
for ((r = 1; r <= RUNS; r++)); do
    for s in "${SERVERS[@]}"; do
        log "$s: imap_load.py run $r, $CLIENTS clients, ${SECS}s"
        echo "server=$s run=$r $(load "$s" "$SECS")" | tee -a "$OUT/results.txt"
    done
done
UPTIME_AFTER=$(uptime)

{
    echo
    echo "mailroom $(git -C "$REPO" rev-parse --short HEAD), $(/usr/sbin/dovecot --version | head -1)"
    echo "clients=$CLIENTS secs=$SECS runs=$RUNS, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "load before: $UPTIME_BEFORE"
    echo "load after:  $UPTIME_AFTER"
    awk "$AWK_MEDIAN"'
    {
        delete kv
        for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
        s = kv["server"]; k = ++n[s]
        p50[s, k] = kv["login_p50_ms"]; p99[s, k] = kv["login_p99_ms"]; sps[s, k] = kv["sessions_per_s"]
        err[s] += kv["errors"]
    }
    END {
        printf "%-17s %14s %14s %12s %7s\n", "server", "LOGIN p50 ms", "LOGIN p99 ms", "sessions/s", "errors"
        split("dovecot mailroom mailroom-nocache", names, " ")
        for (q = 1; q <= 3; q++) {
            s = names[q]
            for (i = 1; i <= n[s]; i++) { a1[i] = p50[s, i]; a2[i] = p99[s, i]; a3[i] = sps[s, i] }
            m50[s] = median(a1, n[s]); m99[s] = median(a2, n[s])
            printf "%-17s %14.2f %14.2f %12.1f %7d\n", s, m50[s], m99[s], median(a3, n[s]), err[s]
        }
        if (m50["mailroom"] > 0)
            printf "ratio dovecot/mailroom LOGIN latency: p50 %.1fx, p99 %.1fx\n", m50["dovecot"] / m50["mailroom"], m99["dovecot"] / m99["mailroom"]
    }' "$OUT/results.txt"
    echo "raw runs: $OUT"
} | tee "$OUT/summary.txt"
