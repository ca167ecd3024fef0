// Every ```ts block of README.md runs as is (with "privheap" pointing
// at src/), in a child Bun, without an error.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runScript } from "../support/bun.ts";

const DOC = join(import.meta.dir, "..", "..", "README.md");
const ROOT = join(import.meta.dir, "..", "..");
/** package.json "exports": "." and subpaths such as "./native", each to its file under src/. */
const EXPORTS: Record<string, string> = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).exports;

/** `code` with each `from "privheap..."` import pointing at the file the package exports. */
function resolvePackage(code: string): string {
  for (const [sub, file] of Object.entries(EXPORTS)) code = code.replaceAll(`from "${join("privheap", sub)}"`, `from ${JSON.stringify(join(ROOT, file))}`);
  return code;
}
const blocks = [...readFileSync(DOC, "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

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
    });
  });
});
