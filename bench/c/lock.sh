#!/usr/bin/env bash
# bench/c/lock.sh - build and run bench/c/lock.c: the shared lock against
# glibc's process-shared mutex (Linux). Usage: bench/c/lock.sh [pairs]
# Environment: CC (default gcc), CFLAGS (default -O2; added to the flags of
# csrc/cflags.txt), BUILD_DIR (default bench/c/build).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$here/build}
mkdir -p "$build"
# The flags of every build of csrc/ (csrc/cflags.txt), then this build's own.
mapfile -t shared < <(grep -v '^[[:space:]]*\(#\|$\)' "$root/csrc/cflags.txt")
# shellcheck disable=SC2086 # CFLAGS is a list of flags
${CC:-gcc} "${shared[@]}" ${CFLAGS:--O2} -I"$root/csrc" "$here/lock.c" "$root"/csrc/*.c -o "$build/lock" -lpthread
"$build/lock" "$@"
