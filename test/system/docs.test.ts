// Every ```ts block of README.md runs as is (with "privheap" pointing
// at src/), in a child Bun, without an error, and prints what its
// `console.log(...); // output` comments say.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runScript } from "../support/bun.ts";
import { BUN_EXPORTS } from "../support/package-exports.ts";

const DOC = join(import.meta.dir, "..", "..", "README.md");


/** `code` with each `from "privheap..."` import pointing at the file the package exports. */
function resolvePackage(code: string): string {
  for (const [sub, file] of Object.entries(BUN_EXPORTS)) code = code.replaceAll(`from "${join("privheap", sub)}"`, `from ${JSON.stringify(file)}`);
  return code;
}
const blocks = [...readFileSync(DOC, "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** Output without quotes and spaces, which console.log and the README write differently. */
const normalize = (text: string): string => text.replace(/["'\s]/g, "");

/**
 * What a block says it prints: the comment after each `console.log(...)`,
 * up to the ": " that starts a remark. It is one line of output, or, for a
 * log in a loop, its lines separated by ", ". Comments that elide ("...")
 * say nothing checkable.
 */
function promisedOutput(code: string): string[] {
  const promised: string[] = [];
  for (const line of code.split("\n")) {
    const m = /console\.log\(.*\);?\s*\/\/\s*(.+)$/.exec(line);
    if (m && !m[1]!.includes("...")) promised.push(m[1]!.split(": ")[0]!);
  }
  return promised;
}

/** Where `said` ends in `printed` from line `at` on (see promisedOutput), or -1. */
function findPrinted(printed: string[], said: string, at: number): number {
  const whole = printed.indexOf(normalize(said), at);
  if (whole >= 0) return whole + 1;
  for (const part of said.split(", ")) {
    const found = printed.indexOf(normalize(part), at);
    if (found < 0) return -1;
    at = found + 1;
  }
  return at;
}

describe("README.md examples", () => {
  test("the tour has an example for each part", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10);
  });
  blocks.forEach((code, i) => {
    const title = code.split("\n").find((l) => l.trim() !== "" && !l.startsWith("import"))!;
    test(`example ${i + 1}: ${title.trim().slice(0, 60)}`, async () => {
      const r = await runScript(resolvePackage(code));
      expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
      expect(r.stdout.length).toBeGreaterThan(0);
      // Each promised line appears in the output, in order (loops may print more).
      const printed = r.stdout.split("\n").map(normalize);
      let at = 0;
      for (const said of promisedOutput(code)) {
        const next = findPrinted(printed, said, at);
        expect({ said, found: next >= 0 }).toEqual({ said, found: true });
        if (next >= 0) at = next;
      }
    });
  });
});
