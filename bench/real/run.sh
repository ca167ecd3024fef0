#!/usr/bin/env bash
# bench/real/run.sh - real programs under four allocators: glibc, jemalloc,
# mimalloc (their Debian packages, through LD_PRELOAD) and privheap (the
# shim of shim.c over the seed API). Programs and fixed workloads:
#   sqlite         sqlite3 on an in-memory database, workloads/sqlite.sql
#   lua            lua5.4, workloads/lua.lua (trees, strings, a queue, sorting)
#   python         python3, workloads/python.py (objects, JSON, sets)
#   python-malloc  the same with PYTHONMALLOC=malloc (every object from malloc)
#   bigrho         bigrho.c: cfrac-style factoring over heap-allocated bignums
# Installs what is missing with apt-get (sqlite3, lua5.4, python3,
# libjemalloc2, libmimalloc2.0), builds and checks the shim (selftest.sh),
# then checks each program under privheap: its output must equal glibc's
# and the heap must check clean at exit. Rounds alternate the allocators
# (the order rotates every round); every timed run's output is compared
# with glibc's too. Prints, per program, the medians of CPU time
# (user + system) and peak RSS, and privheap's ratios against each.
# Environment: ROUNDS (default 7), QUICK=1 (1 round, smaller bigrho),
# BUILD_DIR (default bench/real/build), CC, CFLAGS (as build.sh).
#
# instructions.sh runs the same programs once per allocator under valgrind's
# cachegrind and prints instruction counts instead: exact and repeatable,
# with the allocator's own share under glibc and privheap.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${BUILD_DIR:-$here/build}
export BUILD_DIR=$build
rounds=${ROUNDS:-7}
rho_count=300
if [ "${QUICK:-0}" = 1 ]; then
  rounds=1
  rho_count=60
fi

# ---- programs and allocators ----------------------------------------------
fail() { echo "run.sh: FAILED: $*" >&2; exit 1; }
# shellcheck source=bench/real/programs.sh
. "$here/programs.sh"
# shellcheck disable=SC2119 # no extra packages
install_programs

bash "$here/selftest.sh"
shim=$build/libprivheap-shim.so
measure=$build/measure

# ---- correctness: privheap's output is glibc's, and the heap checks clean --
out=$build/out
mkdir -p "$out"
for p in "${programs[@]}"; do
  run_program "$p" "$out/$p.expected" "$measure" "$out/report" "" || fail "$p under glibc exited non-zero"
  PRIVHEAP_SHIM_CHECK=1 run_program "$p" "$out/$p.privheap" "$measure" "$out/report" "$shim" 2>"$out/$p.check" ||
    fail "$p under privheap exited non-zero: $(tail -3 "$out/$p.check")"
  cmp -s "$out/$p.expected" "$out/$p.privheap" ||
    fail "$p: output under privheap differs from glibc's ($out/$p.privheap, $out/$p.expected)"
  check=$(grep '^privheap-shim: check=' "$out/$p.check") || fail "$p: no heap check at exit"
  case $check in *" check=0 "*) ;; *) fail "$p: $check" ;; esac
  echo "$p: privheap output = glibc output; ${check#privheap-shim: }"
done

# ---- timed rounds -----------------------------------------------------------
results=$build/results.txt
: >"$results"
for ((r = 0; r < rounds; r++)); do
  order=("${allocators[@]:r%4}" "${allocators[@]:0:r%4}")
  for p in "${programs[@]}"; do
    for a in "${order[@]}"; do
      run_program "$p" "$out/$p.run" "$measure" "$out/report" "$(preload_of "$a")" || fail "$p under $a exited non-zero"
      cmp -s "$out/$p.expected" "$out/$p.run" || fail "$p: output under $a differs from glibc's"
      read -r cpu rss _ <"$out/report"
      echo "$p $a $cpu $rss" >>"$results"
    done
  done
  echo "round $((r + 1))/$rounds done"
done

# ---- summary ----------------------------------------------------------------
echo
cpu_field() { grep -m1 "^$1[[:space:]]*:" /proc/cpuinfo | sed 's/.*: //'; }
echo "CPU: $(cpu_field 'model name') (family $(cpu_field 'cpu family') model $(cpu_field model)), $(nproc) cores; $rounds rounds"
/usr/bin/python3 - "$results" <<'PY'
import statistics
import sys

runs = {}
for line in open(sys.argv[1]):
    prog, alloc, cpu, rss = line.split()
    runs.setdefault(prog, {}).setdefault(alloc, []).append((float(cpu), int(rss)))
allocs = ["glibc", "jemalloc", "mimalloc", "privheap"]
print("median CPU seconds (user+sys) and peak RSS (MiB); privheap's ratios against each allocator")
print("%-14s %s | %s | %s | %s" % ("program", " ".join("%8s" % a for a in allocs),
      "ph/glibc ph/jemal ph/mimal", " ".join("%8s" % a for a in allocs), "ph/glibc ph/jemal ph/mimal"))
for prog, by in runs.items():
    cpu = {a: statistics.median(c for c, _ in by[a]) for a in allocs}
    rss = {a: statistics.median(r for _, r in by[a]) / 1024 for a in allocs}
    print("%-14s %s | %8.2f %8.2f %8.2f | %s | %8.2f %8.2f %8.2f" % (
        prog, " ".join("%8.3f" % cpu[a] for a in allocs),
        cpu["privheap"] / cpu["glibc"], cpu["privheap"] / cpu["jemalloc"], cpu["privheap"] / cpu["mimalloc"],
        " ".join("%8.1f" % rss[a] for a in allocs),
        rss["privheap"] / rss["glibc"], rss["privheap"] / rss["jemalloc"], rss["privheap"] / rss["mimalloc"]))
PY
