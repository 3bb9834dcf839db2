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
CONF
    DV_FSYNC=$(doveconf -c "$dir/dovecot.conf" -h mail_fsync)
    /usr/sbin/dovecot -F -c "$dir/dovecot.conf" >"$dir/stdout.log" 2>&1 &
    DOVECOT_PID=$!
    DV_SOCKET=$dir/run/lmtp
    wait_for "dovecot's LMTP socket" 20 test -S "$DV_SOCKET" ||
        { cat "$dir/stdout.log" "$dir/dovecot.log" >&2; return 1; }
    log "dovecot $(/usr/sbin/dovecot --version) pid $DOVECOT_PID, socket $DV_SOCKET, mail_fsync=$DV_FSYNC"
}
