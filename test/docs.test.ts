// Every ```ts block of README.md runs as is (with "privheap" pointing
// at src/), in a child Bun, without an error.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SRC, runScript } from "./support/bun.ts";

const DOC = join(import.meta.dir, "..", "README.md");
const blocks = [...readFileSync(DOC, "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe("README.md examples", () => {
  test("the tour has an example for each part", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10);
  });
  blocks.forEach((code, i) => {
    const title = code.split("\n").find((l) => l.trim() !== "" && !l.startsWith("import"))!;
    test(`example ${i + 1}: ${title.trim().slice(0, 60)}`, async () => {
      const r = await runScript(code.replaceAll('from "privheap"', `from ${JSON.stringify(join(SRC, "index.ts"))}`));
      expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
      expect(r.stdout.length).toBeGreaterThan(0);
    });
  });
});
