#!/usr/bin/env bash
# Write the manual pages and shell completions of the built binaries, as the Debian package
# ships them. Each binary prints its own (MAILROOM_GENERATE, daemon::manual): the page comes
# from its clap definition and the man-page comment of its main.rs, mailroom.toml(5) from the
# configuration model.
#
#   dist/man.sh [BIN_DIR [OUT_DIR]]
#
# BIN_DIR holds the binaries (default: target/debug); OUT_DIR (default BIN_DIR/mailroom-dist)
# gets man/man8/*.8.gz, man/man5/mailroom.toml.5.gz, completions/{bash,zsh,fish}/.
set -euo pipefail
cd "$(dirname "$0")/.."

bin_dir=${1:-${CARGO_TARGET_DIR:-target}/debug}
out=${2:-$bin_dir/mailroom-dist}
binaries=(mailroom-saslauthd mailroom-mta mailroom-mda mailroom-mra mailroom-web mailroomctl)

rm -rf "$out"
mkdir -p "$out/man/man8" "$out/man/man5" "$out/completions/bash" "$out/completions/zsh" \
    "$out/completions/fish"
for b in "${binaries[@]}"; do
    exe=$bin_dir/$b
    [ -x "$exe" ] || { echo "dist/man.sh: $exe is missing: build it first" >&2; exit 1; }
    MAILROOM_GENERATE="man" "$exe" >"$out/man/man8/$b.8"
    MAILROOM_GENERATE=bash "$exe" >"$out/completions/bash/$b"
    MAILROOM_GENERATE=zsh "$exe" >"$out/completions/zsh/_$b"
    MAILROOM_GENERATE=fish "$exe" >"$out/completions/fish/$b.fish"
done
MAILROOM_GENERATE=config-man "$bin_dir/mailroomctl" >"$out/man/man5/mailroom.toml.5"
# Compressed, as Debian policy wants them (cargo-deb compresses only pages from the source tree).
gzip -9n "$out"/man/man8/*.8 "$out"/man/man5/*.5
echo "dist/man.sh: $(find "$out" -type f | wc -l) files in $out"
