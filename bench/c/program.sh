#!/usr/bin/env bash
# bench/c/program.sh - build bench/c/NAME.c with the library's sources
# (csrc/*.c, the flags of csrc/cflags.txt) into one program and run it:
# the C benchmarks that are a single program (lock.sh, track.sh).
# Usage: bench/c/program.sh NAME [arguments...]
# Environment: CC (default gcc), CFLAGS (default -O2; added to the flags of
# csrc/cflags.txt), BUILD_DIR (default bench/c/build).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$here/build}
name=$1
shift
mkdir -p "$build"
# The flags of every build of csrc/ (csrc/cflags.txt), then this build's own.
mapfile -t shared < <(grep -v '^[[:space:]]*\(#\|$\)' "$root/csrc/cflags.txt")
# shellcheck disable=SC2086 # CFLAGS is a list of flags
${CC:-gcc} "${shared[@]}" ${CFLAGS:--O2} -I"$root/csrc" "$here/$name.c" "$root"/csrc/*.c -o "$build/$name" -lpthread
"$build/$name" "$@"
