#!/usr/bin/env bash
# test.sh - every test suite this machine can run, with the tools it has.
#
# Usage: bash scripts/test.sh          (npm test)
#        bash scripts/test.sh --fast   (npm run test:fast: the Bun unit tier)
#
# Installs nothing and writes only inside the project (zig-out/); needs no
# root. Steps: build the library (scripts/build-native.mjs: Zig, else the C
# compiler), the C tests (built by Zig with -Dstrict=true, else by the C
# compiler), the C tests under ASan+UBSan (when the compiler has them), the
# C quickstart, bun test, the TypeScript type check. A suite that cannot run
# here is listed as skipped with its reason; suites that need root, strace or
# gdb skip inside bun test and are counted as skipped there. The last line
# is "N passed, M failed"; the exit status is non-zero if anything failed.
# .ci/run installs the missing tools first, then runs this script.
#
# Environment: ZIG (a Zig command line; default: `zig`, then
# `python3 -m ziglang`, at the version in .zig-version), CC (default cc),
# TEST_TIMEOUT (seconds per C test program, default 900).
set -uo pipefail # not -e: a failing step is counted, and the run goes on
shopt -s nullglob
cd "$(dirname "$0")/.."
source scripts/test-lib.sh

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
bun=./node_modules/.bin/bun

if [[ ${1:-} == --fast ]]; then
  bun_suite "bun test (unit tier)" "$bun" test ./test/unit
  summary
  exit
fi

# The Zig of .zig-version, as a command line in $zig, or empty.
zig=
wanted=$(tr -d '[:space:]' <.zig-version)
for candidate in "${ZIG:-}" zig "python3 -m ziglang"; do
  # shellcheck disable=SC2086 # a command line, split on purpose
  if [[ -n $candidate && $($candidate version 2>/dev/null) == "$wanted" ]]; then
    zig=$candidate
    break
  fi
done
cc=${CC:-cc}

step "build library" node scripts/build-native.mjs
# The WebAssembly module (the wasm backend's tests, the Node/Deno/browser bundles) needs Zig.
if [[ -n $zig ]]; then
  # shellcheck disable=SC2086
  step "build WebAssembly module" $zig build wasm
else
  skip "build WebAssembly module" "no Zig $wanted: the WebAssembly tests fail without zig-out/wasm/privheap.wasm or prebuilds/wasm32/"
fi

# The C tests: Zig builds them as CI does; without it the C compiler builds
# the same programs (csrc/cflags.txt, PH_DEBUG, optimized with assertions).
c_tests_with_cc() {
  local out=zig-out/test-cc t status=0
  local -a flags
  mapfile -t flags < <(grep -v '^[[:space:]]*\(#\|$\)' csrc/cflags.txt)
  rm -rf "$out" && mkdir -p "$out" || return 1
  for t in csrc/test/*.c; do
    "$cc" "${flags[@]}" -O2 -DPH_DEBUG=1 -pthread -Icsrc "$t" csrc/*.c -o "$out/$(basename "${t%.c}")" || status=1
  done
  return "$status"
}
if [[ -n $zig ]]; then
  rm -rf zig-out/test # programs of deleted tests must not run
  # shellcheck disable=SC2086
  step "zig build test-bins" $zig build test-bins -Dstrict=true
  c_suites c zig-out/test
elif command -v "$cc" >/dev/null; then
  skip "c (Zig build)" "no Zig $wanted; built with $cc below"
  step "build C tests ($cc)" c_tests_with_cc
  c_suites c zig-out/test-cc
else
  skip "c" "neither Zig $wanted nor a C compiler"
fi

# ASan+UBSan: when the compiler builds and runs a sanitized program.
sanitizers_work() {
  local probe
  probe=$(mktemp -d) || return 1
  printf 'int main(void) { return 0; }\n' >"$probe/p.c"
  "${CC:-gcc}" -fsanitize=address,undefined "$probe/p.c" -o "$probe/p" 2>/dev/null && "$probe/p"
  local rc=$?
  rm -rf "$probe"
  return "$rc"
}
if sanitizers_work; then
  step "build sanitizer tests" bash scripts/c-sanitize.sh --build-only
  c_suites asan zig-out/sanitize
else
  skip "asan" "${CC:-gcc} cannot build and run -fsanitize=address,undefined"
fi

# The README's C example must build and run.
c_example() {
  # shellcheck disable=SC2046 # one flag per line of csrc/cflags.txt, split on purpose
  "$cc" $(grep -v '^[[:space:]]*\(#\|$\)' csrc/cflags.txt) -O2 -Werror -Icsrc examples/c/quickstart.c csrc/*.c -o zig-out/quickstart &&
    ./zig-out/quickstart
}
if command -v "$cc" >/dev/null; then
  step "C quickstart example" c_example
else
  skip "C quickstart example" "no C compiler ($cc)"
fi

if [[ -x $bun ]]; then
  bun_suite "bun test" "$bun" test
  # bun test strips types without checking them; tsc is what checks them.
  step "typecheck" ./node_modules/.bin/tsc --noEmit -p .
else
  record "bun test" 0 1 "FAILED: no $bun (run npm install)"
fi

summary
