#!/usr/bin/env bash
# web.sh: mailroom-web's admin pages with 10,000 mailboxes, on SQLite and on MariaDB: requests
# per second and latency (p50, p99) of the dashboard (/admin) and of the domain's page (its
# mailbox and alias lists, first page and last page) at CONC concurrent clients, and the
# daemon's memory (VmRSS at the end, VmHWM its peak).
#
# Data: postfixadmin's schema (sql/*/), one domain big.test with USERS mailboxes and their
# self-alias rows (as postfixadmin writes them), nine small domains of 10 mailboxes, and a
# superadmin with a bare md5crypt hash (postfixadmin's default), logged in once through the
# login form; every request carries that session cookie. Load: Debian's wrk over HTTPS
# (self-signed certificate), -t2 -cCONC for SECS seconds, RUNS runs per page and backend; each
# run is checked before and after to answer 200 with the page's content (a lost session would
# be fast 303s). The daemon runs with log_level = "warn", page_size at its default (10).
# There is no classic peer here: postfixadmin needs PHP and a web server, not installed.
#
# Needs root (the daemon's user = "root"), MariaDB on 127.0.0.1:3306 (root, no password),
# sqlite3, mysql, wrk, curl, openssl, cargo.
#
#     bash bench/web.sh     # env: USERS (10000), CONC (50), SECS (10), RUNS (3), PORT (12443),
#                           # BACKENDS ("sqlite mariadb"), BUILD (1; 0 uses the release binary)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
USERS=${USERS:-10000}
CONC=${CONC:-50}
SECS=${SECS:-10}
RUNS=${RUNS:-3}
PORT=${PORT:-12443}
THREADS=$((CONC < 2 ? CONC : 2))
BACKENDS=${BACKENDS:-sqlite mariadb}
OUT=${OUT:-$(mktemp -d /var/tmp/web-bench.XXXXXX)}
REL=${REL:-$REPO/target/release}
MYSQL=(mysql -h 127.0.0.1 -P 3306 -u root)
DB=mailroom_webbench
ADMIN=root@bench.test
PASS=benchpass1

log() { printf 'web.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
for t in wrk curl openssl sqlite3 mysql; do command -v "$t" >/dev/null || die "$t missing"; done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

WEB_PID=
cleanup() {
    local rc=$?
    set +e
    stop_pid mailroom-web "$WEB_PID"
    "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "${BUILD:-1}" = 1 ]; then
    (cd "$REPO" && cargo build --release -q -p mailroom-web) >"$OUT/build.log" 2>&1 ||
        { cat "$OUT/build.log" >&2; die "cargo build failed"; }
fi
[ -x "$REL/mailroom-web" ] || die "$REL/mailroom-web missing"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null

# data.sql: the rows, in SQL both backends read.
data_sql() {
    local hash
    hash=$(openssl passwd -1 -salt benchslt "$PASS")
    echo "INSERT INTO admin (username, password, superadmin) VALUES ('$ADMIN', '$hash', 1);"
    echo "INSERT INTO domain (domain, description) VALUES ('big.test', 'many mailboxes');"
    awk -v n="$USERS" -v d=big.test 'BEGIN {
        for (i = 1; i <= n; i += 500) {
            m = "INSERT INTO mailbox (username, password, name, maildir, quota, local_part, domain) VALUES "
            a = "INSERT INTO alias (address, goto, domain) VALUES "
            for (j = i; j < i + 500 && j <= n; j++) {
                u = sprintf("user%05d@%s", j, d)
                sep = (j == i) ? "" : ","
                m = m sep sprintf("(\x27%s\x27, \x27{PLAIN}x\x27, \x27User %d\x27, \x27%s/user%05d/\x27, 0, \x27user%05d\x27, \x27%s\x27)", u, j, d, j, j, d)
                a = a sep sprintf("(\x27%s\x27, \x27%s\x27, \x27%s\x27)", u, u, d)
            }
            print m ";"; print a ";"
        }
        for (k = 1; k <= 9; k++) {
            d2 = sprintf("small%d.test", k)
            print "INSERT INTO domain (domain) VALUES (\x27" d2 "\x27);"
            for (j = 1; j <= 10; j++) {
                u = sprintf("u%d@%s", j, d2)
                print "INSERT INTO mailbox (username, password, maildir, local_part, domain) VALUES (\x27" u "\x27, \x27{PLAIN}x\x27, \x27" d2 "/u" j "/\x27, \x27u" j "\x27, \x27" d2 "\x27);"
                print "INSERT INTO alias (address, goto, domain) VALUES (\x27" u "\x27, \x27" u "\x27, \x27" d2 "\x27);"
            }
        }
    }'
}
data_sql >"$OUT/data.sql"

# prepare BACKEND: a fresh database with the schema and the rows; prints its URL.
prepare() {
    case $1 in
    sqlite)
        rm -f "$OUT/web.sqlite"
        { cat "$REPO"/sql/sqlite/*.sql; echo "BEGIN;"; cat "$OUT/data.sql"; echo "COMMIT;"; } |
            sqlite3 "$OUT/web.sqlite"
        echo "sqlite://$OUT/web.sqlite"
        ;;
    mariadb)
        "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
        cat "$REPO"/sql/mariadb/2*.sql "$OUT/data.sql" | "${MYSQL[@]}" "$DB"
        echo "mysql://root@127.0.0.1:3306/$DB"
        ;;
    esac
}

start_web() {
    cat >"$OUT/mailroom.toml" <<EOF
[database]
url = "$1"
mail_root = "$OUT/mail"

[tls]
cert = "$OUT/cert.pem"
key = "$OUT/key.pem"

[web]
listen = ["127.0.0.1:$PORT"]
user = "root"
mail_hostname = "mail.bench.test"
log_level = "warn"
EOF
    "$REL/mailroom-web" --config "$OUT/mailroom.toml" 2>"$OUT/web-$2.log" &
    WEB_PID=$!
    wait_for "mailroom-web on $PORT" 30 curl -ksf -o /dev/null "https://127.0.0.1:$PORT/login"
}

# login: the session cookie's value, through the login form as a browser does.
login() {
    local jar=$OUT/jar csrf
    rm -f "$jar"
    csrf=$(curl -ksf -c "$jar" "https://127.0.0.1:$PORT/login" | grep -o 'name="csrf" value="[^"]*"' | head -1 |
        sed 's/.*value="//; s/"$//')
    [ -n "$csrf" ] || die "no form token on /login"
    curl -ksf -b "$jar" -c "$jar" -o /dev/null --data-urlencode "csrf=$csrf" \
        --data-urlencode "username=$ADMIN" --data-urlencode "password=$PASS" "https://127.0.0.1:$PORT/login"
    awk '$6 == "mailroom_session" { print $7 }' "$jar"
}

# check SID PATH WANT: the page answers 200 and contains WANT.
check() {
    local body status
    body=$(curl -ks -w '\n%{http_code}' -H "Cookie: mailroom_session=$1" "https://127.0.0.1:$PORT$2")
    status=${body##*$'\n'}
    [ "$status" = 200 ] || die "$2 answered $status"
    grep -qF "$3" <<<"$body" || die "$2 lacks $3"
}

# ms VALUE: wrk's latency (e.g. 812.00us, 12.34ms, 1.02s) in milliseconds.
ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
        else if (v ~ /m$/) { sub(/m$/, "", v); print v * 60000 }
        else { sub(/s$/, "", v); print v * 1000 }
    }'
}

RESULTS=$OUT/results.txt
: >"$RESULTS"
LAST=$(((USERS + 9) / 10))
for backend in $BACKENDS; do
    log "$backend: loading $USERS mailboxes"
    url=$(prepare "$backend")
    start_web "$url" "$backend"
    sid=$(login)
    [ -n "$sid" ] || die "login failed: $(cat "$OUT/web-$backend.log")"
    for page in dashboard list list_last; do
        case $page in
        dashboard) path=/admin want=big.test ;;
        list) path=/admin/domains/big.test want='>user00010@big.test<' ;;
        list_last) path="/admin/domains/big.test?page=$LAST" want=">user$(printf %05d "$USERS")@big.test<" ;;
        esac
        for ((run = 1; run <= RUNS; run++)); do
            check "$sid" "$path" "$want"
            wrk -t"$THREADS" -c"$CONC" -d"${SECS}s" --latency -H "Cookie: mailroom_session=$sid" \
                "https://127.0.0.1:$PORT$path" >"$OUT/wrk-$backend-$page-$run.txt"
            check "$sid" "$path" "$want"
            f=$OUT/wrk-$backend-$page-$run.txt
            ! grep -q 'Non-2xx' "$f" || die "errors in $f"
            rps=$(awk '/^Requests\/sec:/ { print $2 }' "$f")
            p50=$(ms "$(awk '$1 == "50%" { print $2 }' "$f")")
            p99=$(ms "$(awk '$1 == "99%" { print $2 }' "$f")")
            echo "$backend $page $run $rps $p50 $p99" >>"$RESULTS"
            log "$backend $page run $run: $rps req/s, p50 $p50 ms, p99 $p99 ms"
        done
    done
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$WEB_PID/status")
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$WEB_PID/status")
    echo "$backend rss $rss $hwm" >>"$RESULTS"
    stop_pid mailroom-web "$WEB_PID"
    WEB_PID=
done

printf '\n%-8s %-10s %10s %8s %8s   (medians of %d runs, -c%d, %d s each, %d mailboxes)\n' \
    backend page req_per_s p50_ms p99_ms "$RUNS" "$CONC" "$SECS" "$USERS"
for backend in $BACKENDS; do
    for page in dashboard list list_last; do
        awk "$AWK_MEDIAN"'$1 == b && $2 == p { n++; r[n] = $4; a[n] = $5; c[n] = $6 }
            END { printf "%-8s %-10s %10.0f %8.2f %8.2f\n", b, p, median(r, n), median(a, n), median(c, n) }' \
            b="$backend" p="$page" "$RESULTS"
    done
    awk '$1 == b && $2 == "rss" { printf "%-8s RSS at the end %.1f MB, peak %.1f MB\n", b, $3 / 1024, $4 / 1024 }' \
        b="$backend" "$RESULTS"
done
log "raw runs in $OUT"
