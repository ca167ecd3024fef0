// The fast tier (test/unit/, `npm run test:fast`) starts no process and
// makes no file or lock: those tests belong in test/system/. Checked on the
// source of each unit test and of every test/support module it imports.
import { describe, expect, test } from "bun:test";
import { Glob } from "bun";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const TEST_ROOT = resolve(import.meta.dir, "..");
const UNIT = import.meta.dir;

/** What a unit test must not do, as patterns of its source. */
const FORBIDDEN: readonly [what: string, pattern: RegExp][] = [
  ["starts a process (Bun.spawn)", /\bBun\.spawn(Sync)?\b/],
  ["starts a process (child_process)", /\bnode:child_process\b|\bspawnSync\b|\bexecSync\b|\bexecFileSync\b/],
  ["starts a worker", /\bnew Worker\b/],
  ["makes a file or directory", /\bwriteFile(Sync)?\b|\bmkdtemp(Sync)?\b|\bmkdir(Sync)?\b|\bopenSync\b|\bBun\.write\b/],
  ["maps a heap file", /\bPrivateHeap\.open\b/],
  ["records a replay file", /\bReplay\.record\b/],
  ["takes a heap lock", /\block:\s*true\b/],
];

/** `file`'s own source and that of each test/support module it reaches through relative imports. */
function sourcesOf(file: string, seen = new Set<string>()): Map<string, string> {
  const out = new Map<string, string>();
  if (seen.has(file)) return out;
  seen.add(file);
  const text = readFileSync(file, "utf8");
  out.set(file, text);
  for (const m of text.matchAll(/from\s+["'](\.\.?\/[^"']+)["']/g)) {
    const target = resolve(dirname(file), m[1]!);
    if (target.startsWith(join(TEST_ROOT, "support")) && existsSync(target))
      for (const [f, t] of sourcesOf(target, seen)) out.set(f, t);
  }
  return out;
}

/** "file: what" for each forbidden pattern found in `file` or the support it uses. */
function violationsOf(file: string): string[] {
  const found: string[] = [];
  for (const [source, text] of sourcesOf(file))
    for (const [what, pattern] of FORBIDDEN)
      if (pattern.test(text)) found.push(`${relative(TEST_ROOT, file)}${source === file ? "" : ` (through ${relative(TEST_ROOT, source)})`}: ${what}`);
  return found;
}

const unitFiles = [...new Glob("**/*.test.ts").scanSync(UNIT)]
  .map((f) => join(UNIT, f))
  .filter((f) => f !== import.meta.path)
  .sort();

describe("the fast tier", () => {
  test("no unit test starts a process or makes a file or a lock", () => {
    expect(unitFiles.flatMap(violationsOf)).toEqual([]);
  });

  test("the check sees each kind in a line of code, and a process started by a support module a test imports", () => {
    for (const [what, pattern] of FORBIDDEN) expect({ what, hit: pattern.test(`x = ${sampleOf(what)};`) }).toEqual({ what, hit: true });
    // A slow test that runs child Buns through test/support/bun.ts.
    const user = [...new Glob("**/*.test.ts").scanSync(TEST_ROOT)]
      .map((f) => join(TEST_ROOT, f))
      .find((f) => !f.startsWith(UNIT) && /from "(\.\.\/)+support\/bun\.ts"|from "\.\/support\/bun\.ts"/.test(readFileSync(f, "utf8")));
    expect(user).toBeDefined();
    expect(violationsOf(user!)).toContain(`${relative(TEST_ROOT, user!)} (through support/bun.ts): starts a process (Bun.spawn)`);
  });
});

/** A line of code that does `what`, to show each pattern matches it. */
function sampleOf(what: string): string {
  const samples: Record<string, string> = {
    "starts a process (Bun.spawn)": 'Bun.spawn(["true"])',
    "starts a process (child_process)": 'spawnSync("cc", [])',
    "starts a worker": 'new Worker("w.ts")',
    "makes a file or directory": 'writeFileSync("f", "")',
    "maps a heap file": 'PrivateHeap.open("f.phheap")',
    "records a replay file": 'Replay.record("r.phreplay", heap)',
    "takes a heap lock": "PrivateHeap.create({ size: 1 << 20, lock: true })",
  };
  return samples[what]!;
}
