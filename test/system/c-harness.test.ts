// The C tests' runner (csrc/test/harness.h) must never pass a program whose
// cases did not all run: a case registered past its table is a failure.
// Builds small programs against the harness with the system C compiler.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const HARNESS_DIR = resolve(import.meta.dir, "..", "..", "csrc", "test");
const hasCc = spawnSync("cc", ["--version"]).status === 0;
if (!hasCc) console.log("c-harness.test.ts: skipped: no cc on PATH");

/** Builds and runs a program of `cases` passing cases against a table of `tableSize`. */
function runHarness(tableSize: number, cases: number): { status: number | null; stdout: string } {
  const dir = mkdtempSync(join(tmpdir(), "privheap-harness-"));
  try {
    const body = Array.from({ length: cases }, (_, i) => `TEST(case_${i}) { EXPECT(1); }`).join("\n");
    writeFileSync(join(dir, "t.c"), `#define TEST_MAX ${tableSize}\n#include "harness.h"\n${body}\nTEST_MAIN()\n`);
    const build = spawnSync("cc", ["-std=c11", "-I", HARNESS_DIR, join(dir, "t.c"), "-o", join(dir, "t")], { encoding: "utf8" });
    if (build.status !== 0) throw new Error(`cc failed: ${build.stderr}`);
    const run = spawnSync(join(dir, "t"), [], { encoding: "utf8" });
    return { status: run.status, stdout: run.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!hasCc)("harness.h", () => {
  test("a program whose cases fit the table runs them all and passes", () => {
    const r = runHarness(3, 3);
    expect(r.stdout).toContain("ok - case_2\n");
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("# 3 passed, 0 failed");
    expect(r.status).toBe(0);
  });

  test("cases registered past the table are one failed case and a non-zero exit", () => {
    const r = runHarness(2, 5);
    expect(r.stdout).not.toContain("case_2");
    expect(r.stdout).toContain("not ok - 3 more cases than TEST_MAX (2) were not run\n");
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("# 2 passed, 1 failed");
    expect(r.status).toBe(1);
  });
});
