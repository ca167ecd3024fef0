# test-lib.sh - the counting helpers of scripts/test.sh and .ci/run (sourced).
#
# Every suite adds one summary line and its counts to the totals; a build
# step that fails counts as 1 failed test; a suite this machine cannot run is
# listed as skipped, with its reason, and counts as neither. `summary` prints
# the lines and, last, "N passed, M failed", and returns non-zero on any
# failure.

passed=0 failed=0
results=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# record NAME PASSED FAILED [TEXT]: add a summary line (TEXT instead of the
# counts, for build steps) and add to the totals.
record() {
  results+=("$(printf '%-34s %s' "$1" "${4:-$(printf '%d passed, %d failed' "$2" "$3")}")")
  passed=$((passed + $2)) failed=$((failed + $3))
}

# skip NAME REASON: a suite that does not run here; never counted as passed.
skip() {
  banner "$1: skipped ($2)"
  record "$1" 0 0 "skipped ($2)"
}

banner() { printf '\n==> %s\n' "$1"; }

# step NAME COMMAND...: a build step; its failure counts as 1 failed.
step() {
  local name=$1
  shift
  banner "$name: $*"
  if "$@"; then record "$name" 0 0 ok; else
    echo "!! $name failed"
    record "$name" 0 1 "FAILED (counts as 1 failed)"
  fi
}

# c_suite NAME EXE: runs a harness.h program (through "${c_runner[@]}"
# when set: wine for Windows programs) and counts its
# "# N passed, M failed[, K skipped]" line (skipped cases are listed, not
# counted as passed). A crash, a timeout or a missing count line is one
# more failure, so a dying program never reads as a pass.
c_runner=()
c_suite() {
  local name=$1 exe=$2 rc line p=0 f=0 s=0
  banner "$name"
  timeout "${TEST_TIMEOUT:-900}" "${c_runner[@]}" "$exe" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  sed -i 's/\r$//' "$log" # Windows programs end their lines with CR LF
  line=$(grep -E '^# [0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n 1)
  if [[ $line =~ ^#\ ([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
    p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} s=${BASH_REMATCH[4]:-0}
    if ((rc != 0 && f == 0)); then
      echo "!! $name exited with status $rc"
      f=1
    fi
  else # died mid-run: count the cases it reported, plus the one it died in
    p=$(grep '^ok - ' "$log" | grep -vc ' # SKIP ') f=$(($(grep -c '^not ok - ' "$log") + 1))
    s=$(grep -c '^ok - .* # SKIP ' "$log")
    echo "!! $name exited with status $rc before its summary line"
  fi
  if ((s > 0)); then
    record "$name" "$p" "$f" "$(printf '%d passed, %d failed, %d skipped: %s' "$p" "$f" "$s" "$(grep '^ok - .* # SKIP ' "$log" | sed 's/^ok - //' | paste -sd ';' -)")"
  else
    record "$name" "$p" "$f"
  fi
}

# c_suites PREFIX DIR: c_suite for every program in DIR (none is a failure:
# the build step before it failed or csrc/test/ lost its tests).
c_suites() {
  local exe found=0
  for exe in "$2"/*; do
    [[ -f $exe && -x $exe ]] || continue
    found=1
    c_suite "$1/$(basename "$exe")" "$exe"
  done
  ((found)) || record "$1 (no test programs)" 0 1
}

# bun_suite NAME COMMAND...: bun test ends with " N pass", " N skip" and
# " N fail" lines (on stderr, hence 2>&1). Skipped cases are listed, not
# counted as passed.
bun_suite() {
  local name=$1 rc p f s
  shift
  banner "$name: $*"
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  p=$(grep -E '^ *[0-9]+ pass$' "$log" | tail -n 1 | tr -dc 0-9)
  f=$(grep -E '^ *[0-9]+ fail$' "$log" | tail -n 1 | tr -dc 0-9)
  s=$(grep -E '^ *[0-9]+ skip$' "$log" | tail -n 1 | tr -dc 0-9)
  p=${p:-0} f=${f:-0} s=${s:-0}
  if ((rc != 0 && f == 0)); then
    echo "!! $name exited with status $rc"
    f=1
  fi
  if ((s > 0)); then
    record "$name" "$p" "$f" "$(printf '%d passed, %d failed, %d skipped' "$p" "$f" "$s")"
  else
    record "$name" "$p" "$f"
  fi
}

# counted NAME COMMAND...: a command that ends with its own "N passed, M
# failed" line (scripts/test.sh); its counts join the totals. A missing line
# or a non-zero exit without failures is one failure.
counted() {
  local name=$1 rc line p=0 f=1
  shift
  banner "$name: $*"
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(tail -n 1 "$log")
  if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
    ((rc != 0 && f == 0)) && f=1
  fi
  record "$name" "$p" "$f"
}

summary() {
  banner "summary"
  printf '%s\n' "${results[@]}"
  echo "$passed passed, $failed failed"
  ((failed == 0))
}
