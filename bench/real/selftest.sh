#!/usr/bin/env bash
# bench/real/selftest.sh - build the shim and check it under a program of
# its own (selftest.c): the allocation functions behave as the C library's,
# the heap checks clean at exit, threads are kept apart by the lock it
# switches on at the first pthread_create, and a double free is stopped
# with the shim's message. Needs only a C compiler. Prints "selftest: ok".
# Environment: as build.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${BUILD_DIR:-$here/build}
bash "$here/build.sh"
# shellcheck disable=SC2086 # CFLAGS is a list of flags
${CC:-gcc} -std=c11 -Wall -Wextra ${CFLAGS:--O2} "$here/selftest.c" -o "$build/selftest" -lpthread
shim=$build/libprivheap-shim.so
fail() { echo "selftest: FAILED: $*" >&2; exit 1; }

out=$(PRIVHEAP_SHIM_CHECK=1 LD_PRELOAD=$shim "$build/selftest" 2>"$build/selftest.err") ||
  fail "selftest exited non-zero: $out $(cat "$build/selftest.err")"
[ "$out" = ok ] || fail "$out"
grep -q '^privheap-shim: check=0 ' "$build/selftest.err" ||
  fail "no clean heap check at exit (is the shim loaded?): $(cat "$build/selftest.err")"

# The group keeps the shell's own "Aborted" notice out of the output.
out=$(PRIVHEAP_SHIM_CHECK=1 LD_PRELOAD=$shim "$build/selftest" threads 2>"$build/selftest.err") ||
  fail "threads: exited non-zero: $out $(cat "$build/selftest.err")"
[ "$out" = ok ] || fail "threads: $out"
grep -q '^privheap-shim: check=0 ' "$build/selftest.err" ||
  fail "threads: no clean heap check at exit: $(cat "$build/selftest.err")"

if { LD_PRELOAD=$shim "$build/selftest" double-free >/dev/null 2>"$build/selftest.err"; } 2>/dev/null; then
  fail "a double free went on"
fi
grep -q '^privheap-shim: free: ' "$build/selftest.err" ||
  fail "a double free was not stopped by the shim: $(cat "$build/selftest.err")"
echo "selftest: ok"
