// Every TSDoc @example in src/ runs as is, in a child Bun, without an error,
// as the README's examples do (test/system/docs.test.ts): "privheap" and its
// subpaths point where package.json's exports say, relative imports at the
// file the example documents.
//
// Examples run in a folder that holds what the command-line examples name:
// run.phreplay (a recording of examples/sim.ts) and examples/ (a link to the
// repository's); it is also their tmpdir(), so the files they save stay in it. A one-line example on a member (@example `heap.i8[off] = -1;`)
// runs after a prelude that defines the names such lines use: `heap` or
// `arena`, and `off`, a 64-byte block of it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Glob } from "bun";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { createWorld, inputFor, step } from "../../examples/sim.ts";
import { PrivateHeap, Replay } from "../../src/index.ts";
import { SRC, runScript } from "../support/bun.ts";
import { BUN_EXPORTS } from "../support/package-exports.ts";

interface Example {
  file: string;
  line: number;
  code: string;
}

const INLINE_PRELUDE = {
  heap: 'import { PrivateHeap } from "privheap";\nconst heap = PrivateHeap.create({ size: 1 << 20 });\nconst off = heap.malloc(64);',
  arena: 'import { FrameArena } from "privheap";\nconst arena = FrameArena.create({ size: 1 << 20 });\narena.beginFrame();\nconst off = arena.alloc(64);',
  none: 'import { FrameArena, PrivateHeap } from "privheap";',
};

/** A one-line example's code after the prelude of the names it uses. */
function withPrelude(line: string): string {
  const prelude = /\barena\./.test(line) ? INLINE_PRELUDE.arena : /\bheap\./.test(line) ? INLINE_PRELUDE.heap : INLINE_PRELUDE.none;
  return `${prelude}\n${line}\n`;
}

/**
 * The ```ts block after each @example tag of a doc comment, with the
 * comment's " * " prefixes removed, and each one-line @example `code`. A tag
 * without either is returned with an empty code, so the test below fails
 * on it.
 */
function examplesOf(file: string): Example[] {
  const lines = readFileSync(file, "utf8").split("\n");
  const found: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const inline = /@example\s+`([^`]+)`/.exec(lines[i]!);
    if (inline) {
      found.push({ file, line: i + 1, code: withPrelude(inline[1]!) });
      continue;
    }
    if (!/^\s*\*\s*@example\b/.test(lines[i]!)) continue;
    const body: string[] = [];
    let j = i + 1;
    const text = (k: number) => lines[k]!.replace(/^\s*\*( |$)/, "");
    if (j < lines.length && text(j).trim() === "```ts") {
      for (j++; j < lines.length && text(j).trim() !== "```" && !/^\s*\*\//.test(lines[j]!); j++) body.push(text(j));
    }
    found.push({ file, line: i + 1, code: body.join("\n") });
  }
  return found;
}


/** The file package.json's exports give `spec` ("privheap" or "privheap/<subpath>"), or undefined. */
function exported(spec: string): string | undefined {
  return BUN_EXPORTS[spec === "privheap" ? "." : `.${spec.slice("privheap".length)}`];
}

/** `code` with package and relative specifiers made absolute for a script elsewhere. */
function resolveImports(code: string, file: string): string {
  return code.replace(/(from\s+|import\s*\(\s*)"([^"]+)"/g, (whole, lead: string, spec: string) => {
    const target = spec === "privheap" || spec.startsWith("privheap/") ? exported(spec) : undefined;
    if (target !== undefined) return `${lead}${JSON.stringify(target)}`;
    if (spec.startsWith("./") || spec.startsWith("../")) return `${lead}${JSON.stringify(join(dirname(file), spec))}`;
    return whole;
  });
}

/** Whether an example writes to stderr on purpose (then stderr is its output, not a warning). */
const writesStderr = (code: string) => /\bstderr\b|\.err\(/.test(code);

const files = [...new Glob("**/*.ts").scanSync(SRC)].sort().map((f) => join(SRC, f));
const examples = files.flatMap(examplesOf);

const cwd = mkdtempSync(join(tmpdir(), "privheap-tsdoc-"));
beforeAll(() => {
  symlinkSync(join(import.meta.dir, "..", "..", "examples"), join(cwd, "examples"));
  using heap = PrivateHeap.create({ size: 8 << 20 });
  createWorld(heap, 50);
  using rec = Replay.record(join(cwd, "run.phreplay"), heap, { keyframeEvery: 10 });
  for (let t = 0; t < 30; t++) {
    const input = inputFor(t);
    step(heap, input, t);
    rec.tick(input);
  }
});
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

describe("TSDoc examples", () => {
  test("src/ has examples, and every @example tag has a ```ts block", () => {
    expect(examples.length).toBeGreaterThanOrEqual(100);
    const empty = examples.filter((e) => e.code.trim() === "").map((e) => `${relative(SRC, e.file)}:${e.line}`);
    expect(empty).toEqual([]);
  });

  for (const e of examples) {
    const where = `${relative(SRC, e.file)}:${e.line}`;
    test.skipIf(e.code.trim() === "")(where, async () => {
      const r = await runScript(resolveImports(e.code, e.file), { TMPDIR: cwd }, cwd);
      expect({ exit: r.exitCode, stderr: writesStderr(e.code) ? "" : r.stderr }).toEqual({ exit: 0, stderr: "" });
    });
  }
});
