#!/usr/bin/env bash
# ldap.sh: cyrus saslauthd -a ldap vs mailroom-saslauthd with backend = "ldap", in one run,
# against the same private slapd with the same users, with the same client
# (target/release/saslauthd-load), and the ratios.
#
# Rows (each at every concurrency in CONCS, RUNS runs of SECS seconds, interleaved round-robin
# so that drift in the machine's other load hits all rows alike); no credential cache anywhere:
#   cyrus_bind              cyrus saslauthd -a ldap -n 5, ldap_auth_method: bind (search the
#                           user's DN as the bind DN, then bind as the user)
#   cyrus_userpassword      ... ldap_auth_method: custom (read userPassword {SSHA} and compare)
#   mailroom_bind           mailroom-saslauthd, auth_bind = true (the same search, then bind)
#   mailroom_userpassword   mailroom-saslauthd, userPassword {SSHA} read with the search
# Then authlib-bench --config on each mailroom configuration: lookups per second (resolve, as the
# MTA's RCPT check does: domain, alias and mailbox searches) and verifications, without a daemon.
# Each run also records the CPU per authentication of the server's processes (server_us) and of
# slapd (slapd_us), and the whole machine's busy share.
#
# Needs root (cyrus saslauthd), slapd, ldap-utils and sasl2-bin. Everything runs privately under
# OUT (slapd on a free loopback port, cyrus with -O/-m there) and is stopped by pid at the end.
#
# Environment: CONCS ["4 16"], RUNS [3], SECS [5], USERS [100], OUT [mktemp -d] (raw runs, logs).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CONCS=${CONCS:-"4 16"}
RUNS=${RUNS:-3}
SECS=${SECS:-5}
USERS=${USERS:-100}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/ldap-bench.XXXXXX")}
PASS=bobpass
ROOT_DN=cn=admin,dc=test
ROOT_PW=rootsecret
REL=$REPO/target/release

log() { printf 'ldap.sh: %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { log "must run as root (cyrus saslauthd)"; exit 1; }
mkdir -p "$OUT"

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

OUR_PIDS=()
cleanup() {
    local i
    for ((i = ${#OUR_PIDS[@]} - 1; i >= 0; i--)); do
        IFS=: read -r name pid <<<"${OUR_PIDS[i]}"
        stop_pid "$name" "$pid"
    done
}
trap cleanup EXIT

# --- build ------------------------------------------------------------------------------------
log "building (release)"
(cd "$REPO" && cargo build --release --quiet -p mailroom-saslauthd -p bench)
BENCH=$REL/authlib-bench
LOAD=$REL/saslauthd-load

# --- slapd: the directory both servers read ----------------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URI=ldap://127.0.0.1:$PORT
mkdir -p "$OUT/slapd/db"
{
    for s in core cosine inetorgperson nis misc; do echo "include /etc/ldap/schema/$s.schema"; done
    cat <<EOF
pidfile $OUT/slapd/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 104857600
suffix "dc=test"
rootdn "$ROOT_DN"
rootpw $ROOT_PW
directory $OUT/slapd/db
index mail,associatedDomain,mailLocalAddress eq
access to attrs=userPassword by anonymous auth by self read by * none
access to * by * read
EOF
} >"$OUT/slapd/slapd.conf"
/usr/sbin/slapd -f "$OUT/slapd/slapd.conf" -h "$URI" -d 0 </dev/null >"$OUT/slapd.log" 2>&1 &
SLAPD_PID=$!
OUR_PIDS+=("slapd:$SLAPD_PID")
wait_for "slapd on $URI" 20 ldapsearch -x -H "$URI" -b "" -s base
HASH=$(slappasswd -h '{SSHA}' -s "$PASS")
{
    printf 'dn: dc=test\nobjectClass: dcObject\nobjectClass: organization\ndc: test\no: test\n\n'
    printf 'dn: ou=people,dc=test\nobjectClass: organizationalUnit\nou: people\n\n'
    printf 'dn: ou=domains,dc=test\nobjectClass: organizationalUnit\nou: domains\n\n'
    printf 'dn: dc=b.test,ou=domains,dc=test\nobjectClass: domain\nobjectClass: domainRelatedObject\ndc: b.test\nassociatedDomain: b.test\n\n'
    for ((i = 0; i < USERS; i++)); do
        u=user$i
        printf 'dn: uid=%s,ou=people,dc=test\nobjectClass: inetOrgPerson\ncn: %s\nsn: %s\nuid: %s\nmail: %s@b.test\nuserPassword: %s\n\n' \
            "$u" "$u" "$u" "$u" "$u" "$HASH"
    done
} | ldapadd -x -H "$URI" -D "$ROOT_DN" -w "$ROOT_PW" >/dev/null
log "slapd on $URI (pid $SLAPD_PID) with $USERS users, userPassword {SSHA}"
printf '%s\n' "$ROOT_PW" >"$OUT/bindpw"
chmod 0600 "$OUT/bindpw"

answers() { "$LOAD" --socket "$1" --user user0@b.test --password "$PASS" -c 1 --seconds 1 --max-requests 1; }

# --- cyrus saslauthd -a ldap, privately: -O its saslauthd.conf, -m its socket directory --------
start_cyrus() { # NAME AUTH_METHOD -> sets CY_PID
    local name=$1 method=$2
    install -d -m 0755 "$OUT/$name"
    # libsasl splits bob@b.test into %u (bob) and %r (b.test).
    cat >"$OUT/$name.conf" <<EOF
ldap_servers: $URI
ldap_search_base: dc=test
ldap_filter: (mail=%u@%r)
ldap_bind_dn: $ROOT_DN
ldap_bind_pw: $ROOT_PW
ldap_auth_method: $method
ldap_password_attr: userPassword
ldap_timeout: 5
EOF
    /usr/sbin/saslauthd -a ldap -O "$OUT/$name.conf" -m "$OUT/$name" -n 5 </dev/null >>"$OUT/$name.log" 2>&1
    wait_for "cyrus saslauthd $name" 20 answers "$OUT/$name/mux"
    CY_PID=$(tr -dc '0-9' <"$OUT/$name/saslauthd.pid")
    OUR_PIDS+=("cyrus saslauthd $name:$CY_PID")
    log "started cyrus saslauthd -a ldap ($method) $name, pid $CY_PID"
}
start_cyrus cy-bind bind
CY_BIND_PID=$CY_PID
start_cyrus cy-userpassword custom
CY_USERPASSWORD_PID=$CY_PID

# --- mailroom-saslauthd on the same slapd ----------------------------------------------------
start_mailroom() { # NAME AUTH_BIND -> sets MR_PID; socket $OUT/NAME/mux
    local name=$1 auth_bind=$2
    mkdir -p "$OUT/$name"
    cat >"$OUT/$name.toml" <<EOF
[database]
backend = "ldap"
cache_ttl = 0
password_cache_ttl = 0

[database.ldap]
uris = ["$URI"]
bind_dn = "$ROOT_DN"
bind_password_file = "$OUT/bindpw"
base = "dc=test"
auth_bind = $auth_bind

[saslauthd]
run_dir = "$OUT/$name"
dovecot = false
user = "root"
log_level = "warn"
EOF
    "$REL/mailroom-saslauthd" --config "$OUT/$name.toml" </dev/null >"$OUT/$name.log" 2>&1 &
    MR_PID=$!
    OUR_PIDS+=("mailroom-saslauthd $name:$MR_PID")
    wait_for "mailroom-saslauthd $name" 20 answers "$OUT/$name/mux"
    log "started mailroom-saslauthd $name (auth_bind=$auth_bind), pid $MR_PID"
}
start_mailroom mr-bind true
MR_BIND_PID=$MR_PID
start_mailroom mr-userpassword false
MR_USERPASSWORD_PID=$MR_PID

# --- rows -------------------------------------------------------------------------------------
# name | socket | server pid (its tree is counted: cyrus forks workers)
ROWS=(
    "cyrus_bind|$OUT/cy-bind/mux|$CY_BIND_PID"
    "cyrus_userpassword|$OUT/cy-userpassword/mux|$CY_USERPASSWORD_PID"
    "mailroom_bind|$OUT/mr-bind/mux|$MR_BIND_PID"
    "mailroom_userpassword|$OUT/mr-userpassword/mux|$MR_USERPASSWORD_PID"
)
per_auth() { awk -v d="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.1f", (n > 0 ? d / hz * 1e6 / n : 0) }'; }

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg); raw runs in $OUT"
for ((run = 1; run <= RUNS; run++)); do
    for c in $CONCS; do
        for row in "${ROWS[@]}"; do
            IFS='|' read -r name sock pid <<<"$row"
            s0=$(tree_ticks "$pid")
            l0=$(tree_ticks "$SLAPD_PID")
            read -r b0 t0 < <(cpu_line)
            line=$("$LOAD" --socket "$sock" --user user0@b.test --password "$PASS" -c "$c" --seconds "$SECS" \
                | tail -n 1) || log "run failed: $name c=$c: $line"
            read -r b1 t1 < <(cpu_line)
            s1=$(tree_ticks "$pid")
            l1=$(tree_ticks "$SLAPD_PID")
            auths=$(sed -n 's/.* auths=\([0-9]*\).*/\1/p' <<<"$line")
            us=$(per_auth $((s1 - s0)) "${auths:-0}")
            slapd_us=$(per_auth $((l1 - l0)) "${auths:-0}")
            busy=$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.1f", (t > 0 ? 100 * b / t : 0) }')
            echo "$line server_us_per_auth=$us slapd_us_per_auth=$slapd_us machine_busy_pct=$busy" \
                >>"$OUT/${name}_c$c.runs"
            printf '  run %d c=%-2s %-24s %s server_us_per_auth=%s slapd_us_per_auth=%s machine_busy_pct=%s\n' \
                "$run" "$c" "$name" "$(grep -o 'auths_per_s=[^ ]*' <<<"$line")" "$us" "$slapd_us" "$busy" >&2
        done
    done
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- medians and ratios ------------------------------------------------------------------------
median() { # KEY FILE
    grep -o "\b$1=[0-9.]*" "$2" | cut -d= -f2 | awk "$AWK_MEDIAN"'{ v[++n] = $1 } END { if (n == 0) print "na"; else print median(v, n) }'
}
echo
echo "saslauthd on LDAP, auths/s, median of $RUNS runs x ${SECS}s, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs," \
    "slapd $(dpkg-query -W -f='${Version}' slapd 2>/dev/null || echo '?')," \
    "cyrus-sasl $(dpkg-query -W -f='${Version}' sasl2-bin 2>/dev/null || echo '?')," \
    "mailroom $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
printf '%-24s %5s %10s %8s %8s %8s %10s %10s %9s %7s\n' row conc auths/s p50_ms p99_ms client% \
    server_us slapd_us machine% errors
for c in $CONCS; do
    for row in "${ROWS[@]}"; do
        name=${row%%|*}
        f=$OUT/${name}_c$c.runs
        printf '%-24s %5s %10s %8s %8s %8s %10s %10s %9s %7s\n' "$name" "$c" "$(median auths_per_s "$f")" \
            "$(median p50_ms "$f")" "$(median p99_ms "$f")" "$(median client_cpu_pct "$f")" \
            "$(median server_us_per_auth "$f")" "$(median slapd_us_per_auth "$f")" \
            "$(median machine_busy_pct "$f")" "$(median errors "$f")"
    done
done
echo "server_us, slapd_us: CPU microseconds per authentication of the server's processes and of slapd"
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "na" }'; }
for c in $CONCS; do
    m() { median auths_per_s "$OUT/${1}_c$c.runs"; }
    echo "c=$c ratio_bind=$(ratio "$(m mailroom_bind)" "$(m cyrus_bind)")" \
        "ratio_userpassword=$(ratio "$(m mailroom_userpassword)" "$(m cyrus_userpassword)")"
done

# --- lookups: authlib alone on the same slapd (what the MTA's RCPT and the MDA's checks cost) ---
for name in mr-userpassword mr-bind; do
    echo
    echo "authlib-bench --config $name.toml (lookups: resolve of user<n>@b.test; verify: user0's password)"
    "$BENCH" --config "$OUT/$name.toml" --users "$USERS" --password "$PASS" --seconds "$SECS" \
        --concurrency "$(tr ' ' ',' <<<"$CONCS")"
done
