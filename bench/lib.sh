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
