#!/usr/bin/env bash
# bench/real/instructions.sh - instructions executed by run.sh's real
# programs under the four allocators (glibc, jemalloc and mimalloc from their
# Debian packages through LD_PRELOAD, privheap through the shim), counted by
# valgrind's cachegrind. The count is exact and the same on every run, so it
# needs one run per allocator and no quiet machine; CPU time (run.sh) is what
# a user sees, instruction counts are the guide for the allocator's own code.
#
# Each program runs once per allocator as
#   valgrind --tool=cachegrind --cache-sim=no --trace-children=yes env LD_PRELOAD=... program
# (env follows valgrind so that valgrind itself is not preloaded; its exec is
# traced and only the program writes counts). Every output must equal the
# program's output under glibc and valgrind (not without: valgrind computes
# long double with 64 bits, so sqlite prints some numbers with a different
# last digit; run.sh compares the outputs natively). Prints, per program, the
# instructions under each allocator and privheap's ratios against each, then
# the instructions in the allocator's own code under glibc (glibc's malloc
# sources, known from libc6-dbg) and under privheap (the shim and csrc/, known
# from the shim's -g build). jemalloc's and mimalloc's libraries are stripped,
# so their own share cannot be told from the program's and is not shown.
#
# Environment: PROGRAMS (default "sqlite lua python python-malloc bigrho"),
# RHO_COUNT (bigrho's count, default 60), QUICK=1 (bigrho count 20),
# BUILD_DIR (default bench/real/build/instructions), CC, CFLAGS (as build.sh;
# -g is added, which changes no generated code).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$here/build/instructions}
export BUILD_DIR=$build
rho_count=${RHO_COUNT:-60}
[ "${QUICK:-0}" = 1 ] && rho_count=20

fail() { echo "instructions.sh: FAILED: $*" >&2; exit 1; }

# ---- tools, programs and allocators ----------------------------------------
# shellcheck source=bench/real/programs.sh
. "$here/programs.sh"
install_programs valgrind libc6-dbg
CFLAGS="${CFLAGS:--O2} -g" bash "$here/build.sh" || fail "build.sh"

env_for() {
  local preload
  preload=$(preload_of "$1")
  if [ -n "$preload" ]; then echo "LD_PRELOAD=$preload"; else echo "-u LD_PRELOAD"; fi
}

# ---- one cachegrind run per program and allocator --------------------------
out=$build/out
results=$build/instructions.txt
rm -rf "$out"
mkdir -p "$out"
: >"$results"
read -r -a programs <<<"${PROGRAMS:-${programs[*]}}"
for p in "${programs[@]}"; do
  for a in "${allocators[@]}"; do
    dir=$out/$p.$a
    mkdir -p "$dir"
    # shellcheck disable=SC2046 # env_for gives one or two words
    run_program "$p" "$dir/stdout" valgrind --tool=cachegrind --cache-sim=no --trace-children=yes \
      --cachegrind-out-file="$dir/cachegrind.%p" --log-file="$dir/valgrind.log" \
      env $(env_for "$a") 2>"$dir/stderr" ||
      fail "$p under $a and valgrind exited non-zero ($dir/valgrind.log, $dir/stderr)"
    cmp -s "$out/$p.glibc/stdout" "$dir/stdout" ||
      fail "$p: output under $a differs from glibc's ($dir/stdout, $out/$p.glibc/stdout)"
    /usr/bin/python3 - "$p" "$a" "$dir" "$root" "$here" >>"$results" <<'PY'
# Sums the cachegrind files of one run: the total instructions and those
# in the allocator's own source files (none known for stripped libraries).
import glob
import os
import re
import sys

prog, alloc, run_dir, root, here = sys.argv[1:]
if alloc == "glibc":
    own = re.compile(r"\./malloc/.*/(malloc|arena|morecore|hooks)\.c$").search
elif alloc == "privheap":
    own = lambda f: f.startswith(os.path.join(root, "csrc") + "/") or f == os.path.join(here, "shim.c")
else:
    own = None
files = glob.glob(os.path.join(run_dir, "cachegrind.*"))
if not files:
    sys.exit("no cachegrind output in " + run_dir)
total = own_total = 0
for path in files:
    counted = in_own = False
    for line in open(path):
        if line.startswith("fl="):
            in_own = own is not None and bool(own(line[3:].rstrip("\n")))
        elif line.startswith("summary:"):
            total += int(line.split()[1])
            counted = True
        elif in_own and line[:1].isdigit():
            own_total += int(line.split()[1])
    if not counted:
        sys.exit("no summary line in " + path)
print(prog, alloc, total, own_total if own is not None else "-")
PY
    read -r _ _ total _ < <(tail -1 "$results")
    echo "$p under $a: $((total / 1000000))M instructions"
  done
done

# ---- summary ----------------------------------------------------------------
echo
cpu_field() { grep -m1 "^$1[[:space:]]*:" /proc/cpuinfo | sed 's/.*: //'; }
echo "CPU: $(cpu_field 'model name') (family $(cpu_field 'cpu family') model $(cpu_field model)), $(nproc) cores (instruction counts do not depend on it)"
changes=$(git -C "$root" status --porcelain -- csrc bench/real/shim.c 2>/dev/null || true)
echo "privheap at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '(no git)')${changes:+ with uncommitted changes in csrc/ or shim.c}; $(valgrind --version); bigrho count $rho_count"
/usr/bin/python3 - "$results" <<'PY'
import sys

runs = {}
for line in open(sys.argv[1]):
    prog, alloc, total, own = line.split()
    runs.setdefault(prog, {})[alloc] = (int(total), None if own == "-" else int(own))
allocs = ["glibc", "jemalloc", "mimalloc", "privheap"]
M = 1e6
print()
print("instructions (millions, whole process); privheap's ratios against each allocator")
print("%-14s %s | ph/glibc ph/jemal ph/mimal" % ("program", " ".join("%9s" % a for a in allocs)))
for prog, by in runs.items():
    t = {a: by[a][0] for a in allocs}
    print("%-14s %s | %8.3f %8.3f %8.3f" % (
        prog, " ".join("%9.1f" % (t[a] / M) for a in allocs),
        t["privheap"] / t["glibc"], t["privheap"] / t["jemalloc"], t["privheap"] / t["mimalloc"]))
print()
print("instructions in the allocator's own code (millions, share of the total) and the rest")
print("%-14s %20s %9s | %20s %9s" % ("program", "glibc malloc", "rest", "privheap", "rest"))
for prog, by in runs.items():
    cells = []
    for a in ("glibc", "privheap"):
        total, own = by[a]
        cells.append("%11.1f (%5.1f%%) %9.1f" % (own / M, 100 * own / total, (total - own) / M))
    print("%-14s %s | %s" % (prog, cells[0], cells[1]))
PY
