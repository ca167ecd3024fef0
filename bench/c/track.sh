#!/usr/bin/env bash
# bench/c/track.sh - build and run bench/c/track.c: the cost of the
# written-page tracker of csrc/prim.h (Linux 6.7+; elsewhere it says the
# system refused it). Environment: CC (default gcc), CFLAGS (default -O2;
# added to the flags of csrc/cflags.txt), BUILD_DIR (default bench/c/build).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$here/build}
mkdir -p "$build"
mapfile -t shared < <(grep -v '^[[:space:]]*\(#\|$\)' "$root/csrc/cflags.txt")
# shellcheck disable=SC2086 # CFLAGS is a list of flags
${CC:-gcc} "${shared[@]}" ${CFLAGS:--O2} -I"$root/csrc" "$here/track.c" "$root"/csrc/*.c -o "$build/track" -lpthread
"$build/track" "$@"
