# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # sourced: its caller sets here, build, rho_count and fail, and uses the rest
# bench/real/programs.sh - what run.sh and instructions.sh share, sourced by
# both: the Debian packages they need, the allocators and how each is
# preloaded, and the programs with their fixed workloads.
# Needs: here (this folder), build (where build.sh put bigrho and the shim),
# rho_count (bigrho's argument) and a fail function.

work=$here/workloads
programs=(sqlite lua python python-malloc bigrho)
allocators=(glibc jemalloc mimalloc privheap)

# Installs the programs, jemalloc, mimalloc and the packages named in the
# arguments when missing (the script's job, not CI's); sets jemalloc and
# mimalloc to their libraries.
install_programs() {
  local missing=() pkg
  command -v sqlite3 >/dev/null || missing+=(sqlite3)
  command -v lua5.4 >/dev/null || missing+=(lua5.4)
  [ -x /usr/bin/python3 ] || missing+=(python3)
  for pkg in libjemalloc2 libmimalloc2.0 "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null ||
      { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
  fi
  local libdir
  libdir=/usr/lib/$(gcc -print-multiarch)
  jemalloc=$libdir/libjemalloc.so.2
  mimalloc=$libdir/libmimalloc.so.2
  for pkg in "$jemalloc" "$mimalloc"; do
    [ -f "$pkg" ] || fail "$pkg not found"
  done
}

# The library allocator $1 preloads ("" for glibc).
preload_of() {
  case $1 in
    glibc) echo "" ;;
    jemalloc) echo "$jemalloc" ;;
    mimalloc) echo "$mimalloc" ;;
    privheap) echo "$build/libprivheap-shim.so" ;;
  esac
}

# Runs program $1 with stdout to $2, under the command prefix in the rest of
# the arguments (a wrapper that takes the program's command line).
run_program() {
  local name=$1 out=$2
  shift 2
  case $name in
    sqlite) "$@" sqlite3 :memory: <"$work/sqlite.sql" >"$out" ;;
    lua) "$@" lua5.4 "$work/lua.lua" </dev/null >"$out" ;;
    python) "$@" /usr/bin/python3 "$work/python.py" </dev/null >"$out" ;;
    python-malloc) PYTHONMALLOC=malloc "$@" /usr/bin/python3 "$work/python.py" </dev/null >"$out" ;;
    bigrho) "$@" "$build/bigrho" "$rho_count" </dev/null >"$out" ;;
    *) fail "unknown program $name" ;;
  esac
}
