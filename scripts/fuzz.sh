#!/usr/bin/env bash
# Fuzz ph_heap_check / ph_heap_attach on damaged heap images with libFuzzer.
# Usage: bash scripts/fuzz.sh [seconds]   (needs Debian clang-14 and libclang-rt-14-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
cc=${CLANG:-clang-14}
if ! command -v "$cc" >/dev/null; then
  echo "fuzz: $cc not found; install it with: apt-get install -y clang-14 libclang-rt-14-dev" >&2
  exit 2
fi
out=$(mktemp -d)
"$cc" -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Icsrc \
  csrc/*.c csrc/fuzz/fuzz_region.c -o "$out/fuzz_region"
mkdir -p "$out/corpus"
"$out/fuzz_region" -max_total_time="$secs" -max_len=256 -print_final_stats=1 "$out/corpus" 2>&1 | tail -n 12
