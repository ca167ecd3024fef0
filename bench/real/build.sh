#!/usr/bin/env bash
# bench/real/build.sh - build the malloc-replacement shim (shim.c with the
# library's sources, the flags of csrc/cflags.txt, as one shared object for
# LD_PRELOAD), the timing wrapper (measure.c) and the cfrac-style program
# (bigrho.c). Prints nothing on success.
# Environment: CC (default gcc), CFLAGS (default -O2; added to the flags of
# csrc/cflags.txt), BUILD_DIR (default bench/real/build).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$here/build}
mkdir -p "$build"
mapfile -t shared < <(grep -v '^[[:space:]]*\(#\|$\)' "$root/csrc/cflags.txt")
cc=${CC:-gcc}
# shellcheck disable=SC2086 # CFLAGS is a list of flags
# -Bsymbolic-functions: the shim's calls into the library bind inside the
# object, as a program linked with the library statically would call it,
# not through the PLT.
$cc "${shared[@]}" ${CFLAGS:--O2} -fPIC -shared -Wl,-Bsymbolic-functions -I"$root/csrc" \
  "$here/shim.c" "$root"/csrc/*.c -o "$build/libprivheap-shim.so" -ldl -lpthread
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra ${CFLAGS:--O2} "$here/measure.c" -o "$build/measure"
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra ${CFLAGS:--O2} "$here/bigrho.c" -o "$build/bigrho"
