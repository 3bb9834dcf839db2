# Shell helpers shared by the bench scripts; source it after defining log().

# wait_for DESC SECONDS CMD...: poll CMD every 0.1 s, bounded.
wait_for() {
    local desc=$1 secs=$2 i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    log "timed out after ${secs}s waiting for $desc"
    return 1
}

# stop_pid NAME PID: SIGTERM, wait up to 10 s, then SIGKILL.
stop_pid() {
    local name=$1 pid=$2 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) still running after 10 s, SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    log "stopped $name, pid $pid"
}

CLK_TCK=$(getconf CLK_TCK)
# tree_ticks PID: utime+stime of PID and its descendants, plus PID's cutime+cstime (children
# that exited and were waited for), in clock ticks.
tree_ticks() {
    local pid=$1 total k stat
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || { echo 0; return; }
    stat=${stat##*) }
    # After "comm) ": field 3 (state) is index 0, so utime/stime/cutime/cstime are 11-14.
    read -r -a f <<<"$stat"
    total=$((f[11] + f[12] + f[13] + f[14]))
    for k in $(pgrep -P "$pid" || true); do
        total=$((total + $(tree_ticks "$k")))
    done
    echo "$total"
}

# AWK_MEDIAN: awk's median(a, n) of a[1..n] (sorts a), to put before a summary program:
# awk "$AWK_MEDIAN"'{ ... } END { print median(v, n) }'.
# shellcheck disable=SC2034
AWK_MEDIAN='
function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
'

# cpu_line: machine busy and total jiffies from /proc/stat.
cpu_line() { awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; total = busy + $5 + $6; print busy, total }' /proc/stat; }
mariadbd_pid() { pgrep -o -x mariadbd || true; }

# count_new DIR: regular files in DIR.
count_new() {
    if [ -d "$1" ]; then
        { find "$1" -mindepth 1 -maxdepth 1 -type f -printf x 2>/dev/null || true; } | wc -c
    else
        echo 0
    fi
}

# fresh_root DIR UID: empty, owned by UID.
fresh_root() {
    rm -rf "$1"
    mkdir -p "$1"
    chown "$2:$2" "$1"
    chmod 755 "$1"
}

# start_dovecot_lmtp DIR ROOT UID: a private Dovecot serving LMTP only on DIR/run/lmtp, static
# userdb (uid/gid UID, home ROOT/%d/%n), Maildir ROOT/%d/%n/Maildir, mail_fsync at its default.
# Sets DOVECOT_PID and DV_SOCKET; /etc/dovecot and any system Dovecot are not touched.
# DV_EXTRA, when set, is appended to the config (mda_lmtp.sh's SIEVE=1 puts Pigeonhole there).
start_dovecot_lmtp() {
    local dir=$1 root=$2 uid=$3
    mkdir -p "$dir/run" "$dir/state"
    chmod 755 "$dir"
    cat >"$dir/dovecot.conf" <<CONF
# private instance for mailroom's bench/; mail_fsync left at its default (optimized)
instance_name = bench-$(basename "$dir")
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
protocols = lmtp
ssl = no
auth_mechanisms = plain
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=$uid gid=$uid home=$root/%d/%n
}
mail_location = maildir:$root/%d/%n/Maildir
lmtp_save_to_detail_mailbox = no
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
${DV_EXTRA:-}
CONF
    DV_FSYNC=$(doveconf -c "$dir/dovecot.conf" -h mail_fsync)
    /usr/sbin/dovecot -F -c "$dir/dovecot.conf" >"$dir/stdout.log" 2>&1 &
    DOVECOT_PID=$!
    DV_SOCKET=$dir/run/lmtp
    wait_for "dovecot's LMTP socket" 20 test -S "$DV_SOCKET" ||
        { cat "$dir/stdout.log" "$dir/dovecot.log" >&2; return 1; }
    log "dovecot $(/usr/sbin/dovecot --version) pid $DOVECOT_PID, socket $DV_SOCKET, mail_fsync=$DV_FSYNC"
}

# start_postfix DIR LISTEN MAINCF_EXTRA: a private Postfix (config DIR/etc, queue DIR/spool,
# log DIR/maillog) with smtpd on LISTEN (127.0.0.1:PORT), mynetworks 127.0.0.0/8, no local
# delivery, plus the main.cf lines in MAINCF_EXTRA. Sets PF_DIR; stop it with stop_postfix.
start_postfix() {
    local dir=$1 listen=$2 extra=$3 s
    mkdir -p "$dir/etc" "$dir/spool"
    cat >"$dir/etc/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.classic.test
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtpd_peername_lookup = no
$extra
CONF
    {
        echo "$listen inet n - n - - smtpd"
        for s in "pickup unix n - n 60 1 pickup" "cleanup unix n - n - 0 cleanup" "qmgr unix n - n 300 1 qmgr" \
            "rewrite unix - - n - - trivial-rewrite" "bounce unix - - n - 0 bounce" "defer unix - - n - 0 bounce" \
            "trace unix - - n - 0 bounce" "verify unix - - n - 1 verify" "flush unix n - n 1000? 0 flush" \
            "proxymap unix - - n - - proxymap" "smtp unix - - n - - smtp" "relay unix - - n - - smtp" \
            "showq unix n - n - - showq" "error unix - - n - - error" "retry unix - - n - - error" \
            "discard unix - - n - - discard" "lmtp unix - - n - - lmtp" "anvil unix - - n - 1 anvil" \
            "scache unix - - n - 1 scache" "postlog unix-dgram n - n - 1 postlogd"; do
            echo "$s"
        done
    } >"$dir/etc/master.cf"
    /usr/sbin/postfix -c "$dir/etc" start >"$dir/start.log" 2>&1 || { cat "$dir/start.log" "$dir/maillog" >&2; return 1; }
    PF_DIR=$dir
    wait_for "postfix on $listen" 20 bash -c "exec 3<>/dev/tcp/${listen%:*}/${listen##*:}" || return 1
    log "postfix $(/usr/sbin/postconf -c "$dir/etc" -h mail_version) on $listen"
}

# stop_postfix: stop the instance start_postfix started, if any.
stop_postfix() {
    [ -n "${PF_DIR:-}" ] || return 0
    /usr/sbin/postfix -c "$PF_DIR/etc" stop >/dev/null 2>&1 && log "stopped postfix ($PF_DIR)"
    PF_DIR=
}

# start_smtp_sink LISTEN: Postfix's smtp-sink on LISTEN (127.0.0.1:PORT), accepting everything,
# PIPELINING and 8BITMIME offered, no TLS. Sets SINK_PID.
start_smtp_sink() {
    /usr/sbin/smtp-sink -u postfix "$1" 256 >/dev/null 2>&1 &
    SINK_PID=$!
    wait_for "smtp-sink on $1" 20 bash -c "exec 3<>/dev/tcp/${1%:*}/${1##*:}" || return 1
    log "smtp-sink pid $SINK_PID on $1"
}

# files_under DIR...: regular files below the DIRs (queue files still waiting), 0 for none.
files_under() {
    { find "$@" -type f -printf x 2>/dev/null || true; } | wc -c
}

# start_dovecot_mail DIR ROOT UID PROTOCOL PORT PASS: a private Dovecot serving PROTOCOL (pop3
# or imap) on 127.0.0.1:PORT, ssl = no, static passdb (every user's password is PASS) and
# userdb (uid/gid UID, home ROOT/%d/%n), mail_location = maildir:ROOT/%d/%n/Maildir, limits
# raised so thousands of idle connections fit; otherwise Dovecot's defaults (one process per
# connection). Sets DOVECOT_PID; /etc/dovecot and any system Dovecot are not touched.
start_dovecot_mail() {
    local dir=$1 root=$2 uid=$3 proto=$4 port=$5 pass=$6 secure
    secure=$([ "$proto" = imap ] && echo imaps || echo pop3s)
    mkdir -p "$dir/run" "$dir/state"
    chmod 755 "$dir"
    cat >"$dir/dovecot.conf" <<CONF
# private instance for mailroom's bench/
instance_name = bench-$proto
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
protocols = $proto
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_process_limit = 2000
default_client_limit = 4000
default_vsz_limit = 0
passdb {
  driver = static
  args = password=$pass
}
userdb {
  driver = static
  args = uid=$uid gid=$uid home=$root/%d/%n
}
mail_location = maildir:$root/%d/%n/Maildir
protocol $proto {
  mail_max_userip_connections = 5000
}
service $proto-login {
  inet_listener $proto {
    port = $port
  }
  inet_listener $secure {
    port = 0
  }
}
CONF
    /usr/sbin/dovecot -F -c "$dir/dovecot.conf" >"$dir/stdout.log" 2>&1 &
    DOVECOT_PID=$!
    wait_for "dovecot's $proto port" 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" ||
        { cat "$dir/stdout.log" "$dir/dovecot.log" >&2; return 1; }
    log "dovecot $(/usr/sbin/dovecot --version) pid $DOVECOT_PID, $proto on port $port"
}

# start_mailroom_mra DIR DB_URL ROOT PROTO PORT PASS USER...: a scratch MariaDB database at
# DB_URL (created, migrated with mailroomctl; dropped by drop_bench_db) with domain b.test and
# each USER@b.test as a {PLAIN}PASS mailbox at b.test/USER/, then mailroom-mra (release build,
# $REL) serving PROTO (pop3 or imap) on 127.0.0.1:PORT from Maildirs ROOT/%d/%n/Maildir,
# auth = "direct", user = "nobody", log_level = "warn", no failure delay. Sets MRA_PID and
# BENCH_DB. MR_WRAP, when set, is a command line put before the daemon (valgrind ...).
start_mailroom_mra() {
    local dir=$1 url=$2 root=$3 proto=$4 port=$5 pass=$6 u
    shift 6
    local mysql=(mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot)
    mkdir -p "$dir"
    chmod 755 "$dir"
    BENCH_DB=${url##*/}
    "${mysql[@]}" -e "DROP DATABASE IF EXISTS $BENCH_DB; CREATE DATABASE $BENCH_DB"
    MAILROOM_DATABASE_URL=$url "$REL/mailroomctl" db migrate >"$dir/ctl.log" 2>&1 ||
        { cat "$dir/ctl.log" >&2; return 1; }
    {
        echo "INSERT INTO domain (domain) VALUES ('b.test');"
        for u in "$@"; do
            echo "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain)" \
                "VALUES ('$u@b.test', '{PLAIN}$pass', 'b.test/$u/', 0, '$u', 'b.test');"
        done
    } | "${mysql[@]}" "$BENCH_DB"
    cat >"$dir/mailroom.toml" <<TOML
[database]
url = "$url"
mail_root = "$root"
maildir_template = "%d/%n/Maildir"

[mra]
pop3_listen = [$([ "$proto" = pop3 ] && echo "\"127.0.0.1:$port\"")]
pop3s_listen = []
imap_listen = [$([ "$proto" = imap ] && echo "\"127.0.0.1:$port\"")]
imaps_listen = []
managesieve_listen = []
auth = "direct"
user = "nobody"
auth_failure_delay = 0
log_level = "warn"
max_connections = 5000
TOML
    # shellcheck disable=SC2086 # MR_WRAP is a command line
    ${MR_WRAP:-} "$REL/mailroom-mra" --config "$dir/mailroom.toml" </dev/null >"$dir/stdout.log" 2>"$dir/mra.log" &
    MRA_PID=$!
    wait_for "mailroom-mra's $proto port" 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" ||
        { cat "$dir/mra.log" >&2; return 1; }
    log "mailroom-mra $(git -C "$REPO" rev-parse --short HEAD) pid $MRA_PID, $proto on port $port"
}

# drop_bench_db: drop the database start_mailroom_mra created, if any.
drop_bench_db() {
    [ -n "${BENCH_DB:-}" ] || return 0
    mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot -e "DROP DATABASE IF EXISTS $BENCH_DB" &&
        log "dropped database $BENCH_DB"
    BENCH_DB=
}

# fill_maildir DIR N BODY TAG: N messages of about BODY bytes in DIR/new, named as Dovecot
# names them (,S= and ,W=), dated and numbered so that every server sees the same mailbox.
fill_maildir() {
    python3 - "$@" <<'PY'
import os, sys
root, n, body, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for d in ("tmp", "new", "cur"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
line = "The quick brown fox jumps over the lazy dog; 0123456789 abcdefghij.\n"
for i in range(n):
    text = (f"Return-Path: <bench@a.test>\nDate: Mon, 7 Feb 1994 21:52:25 -0800\nFrom: Bench <bench@a.test>\n"
            f"To: load1@b.test\nSubject: {tag} bench {i}\nMessage-ID: <{i}.{tag}bench@a.test>\n\n")
    text += (line * (body // len(line) + 1))[:body]
    data = text.encode()
    vsize = len(data) + data.count(b"\n")
    name = f"{1790000000 + i}.M{i}P4242.bench,S={len(data)},W={vsize}"
    with open(os.path.join(root, "new", name), "wb") as f:
        f.write(data)
PY
}
