#!/usr/bin/env bash
# bench/c/run.sh - build and run the C allocator benchmark, print the report.
#
# Usage:
#   bench/c/run.sh                  full run (about 2-3 minutes on 2 cores)
#   QUICK=1 bench/c/run.sh          smoke test with small counts (seconds)
#
# Environment:
#   QUICK=1          small counts, one round; checks that everything runs
#   ROUNDS=n         times each binary runs, alternating (default 3; QUICK 1)
#   REPS=n           timed passes per workload per process (default 2; QUICK 1)
#   WARMUP=n         untimed passes first, which also check tags (default 1)
#   ONLY=a,b         only these workloads: footprint churn frame realloc reset
#   PRIVHEAP_LIB=p   use this libprivheap.so (e.g. zig-out/lib/libprivheap.so)
#                    instead of building csrc/*.c
#   CC, CFLAGS       compiler and flags (default gcc, -O2); privheap also
#                    gets the flags of csrc/cflags.txt, as every build does
#   BUILD_DIR=d      where binaries and raw samples go (default bench/c/build)
#   NO_INSTALL=1     do not apt-get the jemalloc / mimalloc headers
#
# What it does: installs libjemalloc-dev and libmimalloc-dev with apt-get
# when missing (this script's job, not CI's); builds privheap as a shared
# library from csrc/*.c with $CC, the flags of csrc/cflags.txt (the flags
# every build of csrc/ shares: hidden visibility, as it ships), $CFLAGS and
# -fPIC; builds
# the driver three times, one binary per backend group (groups.c says why);
# runs the binaries in alternating rounds, collecting raw samples in
# $BUILD_DIR/raw.txt; prints the report (also saved as $BUILD_DIR/report.txt).
# Exits 0 whatever the figures; non-zero only when it cannot build or run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$here/build}
CC=${CC:-gcc}
CFLAGS=${CFLAGS:--O2}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  ROUNDS=${ROUNDS:-1}
  REPS=${REPS:-1}
else
  ROUNDS=${ROUNDS:-3}
  REPS=${REPS:-2}
fi
WARMUP=${WARMUP:-1}
ONLY=${ONLY:-}

say() { printf 'run.sh: %s\n' "$*" >&2; }

# ---- 1. Debian packages for the baselines ---------------------------------
have_je() { [ -f /usr/include/jemalloc/jemalloc.h ]; }
have_mi() { [ -f /usr/include/mimalloc.h ]; }

install_baselines() {
  local pkgs=() sudo=()
  have_je || pkgs+=(libjemalloc-dev)
  have_mi || pkgs+=(libmimalloc-dev)
  [ ${#pkgs[@]} -eq 0 ] && return 0
  if [ "${NO_INSTALL:-0}" = 1 ] || ! command -v apt-get >/dev/null; then
    say "missing ${pkgs[*]}; those baselines are skipped"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      say "missing ${pkgs[*]} and not root; those baselines are skipped"
      return 0
    fi
  fi
  say "installing ${pkgs[*]}"
  # Try from the package lists as they are; update them once if that fails.
  if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${pkgs[@]}" >&2; then
    "${sudo[@]}" apt-get update -q >&2 || true
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${pkgs[@]}" >&2 ||
      say "could not install ${pkgs[*]}; those baselines are skipped"
  fi
}
install_baselines

# ---- 2. Build -------------------------------------------------------------
mkdir -p "$build"
warn=(-Wall -Wextra)
common=("$here/driver.c" "$here/util.c")
cc_ver=$("$CC" --version | head -n1)

if [ -n "${PRIVHEAP_LIB:-}" ]; then
  phlib=$(cd "$(dirname "$PRIVHEAP_LIB")" && pwd)/$(basename "$PRIVHEAP_LIB")
  [ -f "$phlib" ] || { say "PRIVHEAP_LIB=$PRIVHEAP_LIB: no such file"; exit 1; }
  phsrc="prebuilt $phlib"
else
  shopt -s nullglob
  srcs=("$root"/csrc/*.c)
  shopt -u nullglob
  [ ${#srcs[@]} -gt 0 ] || { say "no csrc/*.c to build (set PRIVHEAP_LIB?)"; exit 1; }
  phlib=$build/libprivheap.so
  say "building privheap from ${#srcs[@]} files in csrc/"
  mapfile -t shared < <(grep -v '^[[:space:]]*\(#\|$\)' "$root/csrc/cflags.txt")
  # shellcheck disable=SC2086
  "$CC" "${shared[@]}" $CFLAGS -fPIC -shared -I"$root/csrc" "${srcs[@]}" -o "$phlib"
  rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "no commit")
  dirty=$(git -C "$root" status --porcelain -- csrc 2>/dev/null | head -n1)
  phsrc="csrc/*.c (${#srcs[@]} files) at $rev${dirty:+ + working tree}, built as a shared library"
fi

build_group() { # name define extra-sources... -- libs...
  local name=$1 def=$2
  shift 2
  local srcs=() libs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do srcs+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  libs=("$@")
  # shellcheck disable=SC2086
  "$CC" $CFLAGS "${warn[@]}" -D"$def" -DBENCH_CFLAGS="\"$CFLAGS\"" -I"$here" -I"$root/csrc" \
    "${common[@]}" "$here/groups.c" "${srcs[@]}" -o "$build/bench-$name" "${libs[@]}"
}

groups=()
say "building the driver"
build_group base BENCH_GROUP_BASE "$here/be_privheap.c" "$here/be_glibc.c" "$here/be_bump.c" \
  -- "$phlib" -Wl,-rpath,"$(dirname "$phlib")"
groups+=(base)
if have_je; then
  build_group jemalloc BENCH_GROUP_JEMALLOC "$here/be_jemalloc.c" -- -ljemalloc
  groups+=(jemalloc)
fi
if have_mi; then
  build_group mimalloc BENCH_GROUP_MIMALLOC "$here/be_mimalloc.c" -- -lmimalloc
  groups+=(mimalloc)
fi
# shellcheck disable=SC2086
"$CC" $CFLAGS "${warn[@]}" "$here/report.c" -o "$build/report" -lm

# ---- 3. Run ---------------------------------------------------------------
raw=$build/raw.txt
args=(--reps "$REPS" --warmup "$WARMUP")
[ "$QUICK" = 1 ] && args+=(--quick)
{
  echo "I build $CC $CFLAGS ($cc_ver); privheap with csrc/cflags.txt, -fPIC, shared; driver linked to it"
  echo "I privheap_src $phsrc"
  echo "I rounds $ROUNDS rounds x ${#groups[@]} binaries, $REPS timed + $WARMUP warmup passes per process"
} >"$raw"

# Which workloads: footprint runs in a fresh process per backend (see
# foot_pass in driver.c), the others once per binary and round.
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
timed=()
for w in churn frame realloc reset; do want "$w" && timed+=("$w"); done
timed_csv=$(IFS=,; echo "${timed[*]:-}")

run_bin() { # group args...
  local g=$1
  shift
  if ! "$build/bench-$g" "$@" >>"$raw"; then
    echo "E bench-$g exited with an error (args: $*)" >>"$raw"
  fi
}

n=${#groups[@]}
start=$(date +%s)
for ((r = 0; r < ROUNDS; r++)); do
  for ((i = 0; i < n; i++)); do
    g=${groups[$(((i + r) % n))]} # rotate who goes first
    say "round $((r + 1))/$ROUNDS: bench-$g"
    if want footprint; then
      for b in $("$build/bench-$g" --list); do
        run_bin "$g" "${args[@]}" --only footprint --backend "$b"
      done
    fi
    [ -n "$timed_csv" ] && run_bin "$g" "${args[@]}" --only "$timed_csv"
  done
done
say "ran in $(($(date +%s) - start)) s; raw samples in $raw"

# ---- 4. Report ------------------------------------------------------------
"$build/report" "$raw" | tee "$build/report.txt"
