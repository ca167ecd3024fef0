#!/usr/bin/env bash
# bench/c/lock.sh - build and run bench/c/lock.c: the shared lock against
# glibc's process-shared mutex (Linux). Usage: bench/c/lock.sh [pairs]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$here/build}
mkdir -p "$build"
${CC:-gcc} ${CFLAGS:--O2} -I"$root/csrc" "$here/lock.c" "$root"/csrc/*.c -o "$build/lock" -lpthread
"$build/lock" "$@"
