#!/usr/bin/env bash
# Check mailroom's systemd units: `systemd-analyze verify` on every unit, and
# `systemd-analyze security --offline=true` on every service, failing above an exposure of 2.0.
# Neither needs systemd running as PID 1 (systemd 252 here).
#
#   systemd/check.sh [BIN_DIR]     the units of this directory, against the binaries in BIN_DIR
#                                  (default target/debug) and, when dist/man.sh has written
#                                  them, BIN_DIR/mailroom-dist/man for Documentation=
#   systemd/check.sh --installed   the units, binaries and man pages the package installed
#
# verify insists that ExecStart= names an executable file and that every unit a unit names
# (sysinit.target, Sockets=, ...) exists. Installed, that is simply /. For the source tree it
# builds a scratch root: the host's own units, ours, the binaries at their ExecStart= paths
# and /usr/bin/kill (ExecReload=), and runs `verify --root=` on it, so nothing is installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
max_exposure=2.0

installed=false
case "${1:-}" in
--installed) installed=true ;;
-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
esac

cd "$here"
units=(mailroom*.service mailroom*.socket mailroom*.target)
services=(mailroom*.service)

root_args=()
man_args=(--man=yes)
if $installed; then
    unit_dir=/usr/lib/systemd/system
    for u in "${units[@]}"; do
        [ -f "$unit_dir/$u" ] || { echo "check: $unit_dir/$u is not installed" >&2; exit 1; }
    done
else
    bin_dir=$(cd "$here/.." && realpath -m "${1:-${CARGO_TARGET_DIR:-target}/debug}")
    root=$(mktemp -d "${TMPDIR:-/tmp}/mailroom-units.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/usr/lib/systemd" "$root/usr/sbin" "$root/usr/bin"
    ln -s usr/bin "$root/bin"
    ln -s usr/sbin "$root/sbin"
    cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
    cp "${units[@]}" "$root/usr/lib/systemd/system/"
    for u in "${services[@]}"; do
        exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$u")
        src=$bin_dir/$(basename "$exe")
        [ -x "$src" ] || { echo "check: $src is missing (cargo build first, or give BIN_DIR)" >&2; exit 1; }
        # A hard link where the file system allows, else a copy: verify only needs the file.
        ln "$src" "$root$exe" 2>/dev/null || cp "$src" "$root$exe"
    done
    cp /usr/bin/kill "$root/usr/bin/kill"
    unit_dir=$root/usr/lib/systemd/system
    root_args=(--root="$root")
    if [ -d "$bin_dir/mailroom-dist/man" ]; then
        export MANPATH=$bin_dir/mailroom-dist/man
    else
        echo "check: no $bin_dir/mailroom-dist/man (dist/man.sh): Documentation= not checked"
        man_args=(--man=no)
    fi
fi

fail=0
echo "systemd-analyze verify: ${units[*]}"
# verify exits 0 on mere warnings (an unknown or misspelt key is "ignoring"): any word is a failure.
if ! out=$(systemd-analyze verify "${man_args[@]}" "${root_args[@]}" "${units[@]}" 2>&1) || [ -n "$out" ]; then
    echo "$out" >&2
    echo "check: verify failed" >&2
    fail=1
fi

# Exposure is printed with one decimal; --threshold takes it times ten.
threshold=$(awk -v m="$max_exposure" 'BEGIN { printf "%d", m * 10 }')
printf '%-32s %s\n' "service" "exposure (at most $max_exposure)"
for s in "${services[@]}"; do
    out=$(systemd-analyze security --offline=true --threshold="$threshold" \
        "$unit_dir/$s" 2>&1) && ok=true || ok=false
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
    printf '%-32s %s\n' "$s" "${score:-?}"
    if ! $ok || [ -z "$score" ]; then
        echo "$out" | grep -v '✓' >&2
        echo "check: $s scores ${score:-nothing} (more than $max_exposure)" >&2
        fail=1
    fi
done

# For comparison, Debian's own mail daemons where they are installed (never a failure).
for theirs in /lib/systemd/system/postfix@.service /lib/systemd/system/dovecot.service; do
    [ -f "$theirs" ] || continue
    score=$(systemd-analyze security --offline=true "$theirs" 2>&1 |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    printf '%-32s %s (Debian, for comparison)\n' "$(basename "$theirs")" "${score:-?}"
done

[ "$fail" = 0 ] && echo "check: ${#units[@]} units verify, ${#services[@]} services at most $max_exposure"
exit "$fail"
