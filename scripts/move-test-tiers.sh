#!/usr/bin/env bash
# move-test-tiers.sh - splits the Bun tests into two tiers, once:
#   test/unit/    no child processes, no files made, no locks, no CLI
#                 (npm run test:fast; test/unit/tiers.test.ts keeps it so)
#   test/system/  everything else (processes, files, locks, the CLI)
# test/support/ stays where it is. Every test file not named in FAST below
# goes to test/system/, so files added since this list was written land in
# the slow tier. Relative imports, import.meta.dir paths and path mentions
# (docs, scripts, src comments, README.md) are rewritten. Delete this
# script after running it.
#
# Usage: bash scripts/move-test-tiers.sh   (in a clean tree; then review
#        `git status`, run both tiers and commit)
set -euo pipefail
cd "$(dirname "$0")/.."
self=scripts/move-test-tiers.sh
{ # read whole before it runs: the path rewrite below would edit this file

FAST=(
  test/aligned-alloc.test.ts
  test/conformance.test.ts
  test/frame-arena.test.ts
  test/heap-model.test.ts
  test/heap.test.ts
  test/hostile-image.test.ts
  test/ffi/symbols.test.ts
  test/snapshot/diff.test.ts
  test/snapshot/snapshot.test.ts
)

is_fast() {
  local f
  for f in "${FAST[@]}"; do [[ $f == "$1" ]] && return 0; done
  return 1
}

moves=$(mktemp)
trap 'rm -f "$moves"' EXIT
while IFS= read -r old; do
  case $old in test/unit/* | test/system/* | test/support/*) continue ;; esac
  rest=${old#test/}
  if is_fast "$old"; then new=test/unit/$rest; else new=test/system/$rest; fi
  printf '%s %s\n' "$old" "$new" >>"$moves"
done < <(git ls-files 'test/*.test.ts' 'test/**/*.test.ts' | sort -u)

for f in "${FAST[@]}"; do
  grep -q "^$f " "$moves" || { echo "move-test-tiers: $f is not a tracked test file" >&2; exit 1; }
done

while read -r old new; do
  mkdir -p "$(dirname "$new")"
  git mv "$old" "$new"
done <"$moves"
find test -mindepth 1 -type d -empty -delete # the old test/ffi/ and test/snapshot/

python3 - "$moves" "$self" <<'EOF'
import os, re, subprocess, sys

moves = [line.split() for line in open(sys.argv[1]) if line.strip()]
root = os.getcwd()

def rel(target, from_dir):
    r = os.path.relpath(target, from_dir)
    return r if r.startswith("../") else "./" + r

# 1. Inside each moved file: paths relative to its folder now start one level deeper.
spec = re.compile(r'''((?:from|import)\s*\(?\s*|new URL\(\s*)(["'])(\.\.?/[^"']*)\2''')
for old, new in moves:
    old_dir, new_dir = os.path.dirname(old), os.path.dirname(new)
    text = open(new).read()
    text = spec.sub(lambda m: m.group(1) + m.group(2) + rel(os.path.normpath(os.path.join(old_dir, m.group(3))), new_dir) + m.group(2), text)
    text = text.replace("import.meta.dir, ", 'import.meta.dir, "..", ')
    text = text.replace("${import.meta.dir}/..", "${import.meta.dir}/../..")
    open(new, "w").write(text)

# 2. Mentions of the old paths anywhere in the tracked text files.
mention = re.compile(r"(?<![\w./-])(" + "|".join(re.escape(o) for o, _ in moves) + r")(?![\w-])")
renamed = dict(moves)
files = subprocess.run(["git", "ls-files", "-z"], capture_output=True, text=True, check=True).stdout.split("\0")
for path in files:
    if not path or path == sys.argv[2] or not os.path.isfile(path) or path.startswith("node_modules/"):
        continue
    try:
        text = open(path, encoding="utf-8").read()
    except UnicodeDecodeError:
        continue
    updated = mention.sub(lambda m: renamed[m.group(1)], text)
    if updated != text:
        open(path, "w", encoding="utf-8").write(updated)
        print(f"paths updated in {path}")
EOF

echo "moved $(wc -l <"$moves") test files: $(grep -c ' test/unit/' "$moves") to test/unit/, the rest to test/system/"
exit 0
}
