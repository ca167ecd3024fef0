#!/usr/bin/env bash
# c-sanitize.sh - the C tests under AddressSanitizer and UBSan, with gcc.
#
# Usage: scripts/c-sanitize.sh [--build-only]
#
# Builds every csrc/test/*.c against all of csrc/*.c into zig-out/sanitize/
# and runs each one (unless --build-only: scripts/test.sh runs them itself so
# it can count results per program). gcc rather than zig: its ASan runtime is the
# reference one and catches what Zig's UBSan-only safe builds cannot
# (overflows, use after free, leaks). Exits non-zero if a build or a test fails.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
# Stack traces for UB reports too (ASan prints them by default).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

CC=${CC:-gcc}
out=zig-out/sanitize
# The flags of every build (csrc/cflags.txt), then this build's own.
# -fno-sanitize-recover: a UB report must fail the test, not scroll past.
mapfile -t flags < <(grep -v '^[[:space:]]*\(#\|$\)' csrc/cflags.txt)
flags+=(-O1 -g -fno-omit-frame-pointer
  -fsanitize=address,undefined -fno-sanitize-recover=undefined
  -DPH_DEBUG=1 -Icsrc)

rm -rf "$out" && mkdir -p "$out/obj"
# Library objects once, then one link per test program. A program that does
# not build is reported and skipped, so the others still build and run.
status=0
objs=()
for src in csrc/*.c; do
  obj="$out/obj/$(basename "${src%.c}").o"
  "$CC" "${flags[@]}" -c "$src" -o "$obj" || status=1
  objs+=("$obj")
done
for t in csrc/test/*.c; do
  "$CC" "${flags[@]}" "$t" "${objs[@]}" -o "$out/$(basename "${t%.c}")" || status=1
done
[[ ${1:-} == --build-only ]] && exit "$status"

for exe in "$out"/*; do
  [[ -f $exe && -x $exe ]] || continue
  echo "## $exe"
  "$exe" || status=1
done
exit "$status"
