#!/usr/bin/env bash
# fuzz.sh - damaged heap bytes and random operation sequences, for a time budget.
#
# Usage: bash scripts/fuzz.sh [seconds] [seed]   (default 60 s; CI runs 60)
#
# Needs Debian's clang-14 and libclang-rt-14-dev (libFuzzer). Every program
# is built with ASan + UBSan. The budget is split in three:
#   40%  fuzz_ops     csrc/fuzz/fuzz_ops.c: a real heap with chosen header
#                     fields, map entries and bitmap words overwritten,
#                     attached with ph_heap_attach alone, then a chosen
#                     sequence of operations; never a crash, never a hang
#                     (-timeout), every result in the region or a code.
#   30%  fuzz_region  csrc/fuzz/fuzz_region.c: bit-damaged images through
#                     ph_heap_check, attach and snapshot restore; an image
#                     that passes check stays consistent under operations.
#   30%  stress_model csrc/test/stress_model.c against its model, one seed
#                     after another (PH_STRESS_OPS each, checked every
#                     PH_STRESS_CHECK_EVERY steps) until the time is up.
# Prints executions, images and operations per program, then totals; exits
# non-zero on the first crash, hang or failed model comparison (libFuzzer
# leaves the input as crash-*/timeout-* in the work directory it names).
#
# Environment: CLANG (default clang-14), FUZZ_DIR (work directory, kept;
# default a new temporary one, removed after a clean run), PH_STRESS_OPS
# and PH_STRESS_CHECK_EVERY (per stress run; defaults 200000 and 101).
# Long campaigns: csrc/fuzz/driver.c runs a target on random inputs without
# libFuzzer's bookkeeping, many times faster.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
seed=${2:-$(date +%s)}
cc=${CLANG:-clang-14}
if ! command -v "$cc" >/dev/null; then
  echo "fuzz: $cc not found; install it with: apt-get install -y clang-14 libclang-rt-14-dev" >&2
  exit 2
fi
dir=${FUZZ_DIR:-$(mktemp -d)}
mkdir -p "$dir/corpus_ops" "$dir/corpus_region"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
flags=(-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -Icsrc)
# The library's own flags (csrc/cflags.txt, as in every build of csrc/); the
# harnesses keep their compiler's defaults.
mapfile -t libflags < <(grep -v '^[[:space:]]*\(#\|$\)' csrc/cflags.txt)
# The library once, with coverage (the sanitizer runtime stubs it out where
# libFuzzer is not linked), two files at a time.
mkdir -p "$dir/obj"
srcs=(csrc/*.c)
for ((i = 0; i < ${#srcs[@]}; i += 2)); do
  pids=()
  for src in "${srcs[@]:i:2}"; do
    "$cc" "${libflags[@]}" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$dir/obj/$(basename "${src%.c}").o" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done # a failed compile stops the script (set -e)
done
"$cc" "${flags[@]}" -fsanitize=fuzzer csrc/fuzz/fuzz_ops.c "$dir"/obj/*.o -o "$dir/fuzz_ops"
"$cc" "${flags[@]}" -fsanitize=fuzzer csrc/fuzz/fuzz_region.c "$dir"/obj/*.o -o "$dir/fuzz_region"
"$cc" "${flags[@]}" -std=c11 -D_DEFAULT_SOURCE csrc/test/stress_model.c "$dir"/obj/*.o -o "$dir/stress_model" -lpthread
echo "fuzz: ${secs}s, seed $seed, work directory $dir"

# run_fuzzer NAME SECONDS MAXLEN: one libFuzzer run; prints its counts.
run_fuzzer() {
  local name=$1 t=$2 maxlen=$3 log="$dir/$1.log"
  if ! (cd "$dir" && "./$name" -max_total_time="$t" -timeout=10 -max_len="$maxlen" -seed="$seed" -entropic=0 \
    -print_final_stats=1 "corpus_${name#fuzz_}" >"$log" 2>&1); then
    tail -n 40 "$log"
    echo "fuzz: $name FAILED (log: $log)"
    return 1
  fi
  local execs
  execs=$(grep -o 'number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  echo "$name: $execs executions $(grep -o 'fuzz_ops: .*' "$log" || true)"
}

t_ops=$((secs * 4 / 10)) t_region=$((secs * 3 / 10))
((t_ops > 0)) || t_ops=1
((t_region > 0)) || t_region=1
status=0
run_fuzzer fuzz_ops "$t_ops" 1024 || status=1
run_fuzzer fuzz_region "$t_region" 256 || status=1

# The model stress, seed after seed, until the rest of the budget is spent.
end=$((SECONDS + secs - t_ops - t_region))
ops=0 runs=0
while ((SECONDS < end)); do
  out=$(PH_STRESS_OPS=${PH_STRESS_OPS:-200000} PH_STRESS_SEED=$((seed + runs * 10007)) \
    PH_STRESS_CHECK_EVERY=${PH_STRESS_CHECK_EVERY:-101} "$dir/stress_model" 2>&1) || {
    echo "$out" | tail -n 20
    echo "fuzz: stress_model FAILED (PH_STRESS_SEED=$((seed + runs * 10007)))"
    status=1
    break
  }
  ops=$((ops + $(echo "$out" | grep -o '^# [0-9]* operations' | grep -o '[0-9]*')))
  runs=$((runs + 1))
done
echo "stress_model: $ops operations in $runs runs"
if ((status == 0)); then
  echo "fuzz: no crash, no hang, no model mismatch"
  [[ -n ${FUZZ_DIR:-} ]] || rm -rf "$dir"
fi
exit "$status"
