// `import "privheap"` in Node (20 and later) and Deno: the package's "node"
// and "default" conditions load dist/node.js (scripts/build-dist.ts), the
// WebAssembly backend with the module embedded. A plain script runs the
// shared scenario (test/support/portable-scenario.mjs) and gets the
// offsets, bytes and checksums Bun gets on the native and on the
// WebAssembly backend; files written there are read in Bun and the other
// way round; what the runtime lacks is ENOTSUP. Deno is the npm package's
// (a pinned devDependency).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as P from "../../../src/index.ts";
import { builtPackage, type BuiltPackage } from "../../support/dist.ts";
// @ts-expect-error plain JavaScript, shared with Node, Deno and the browser
import { runScenario } from "../../support/portable-scenario.mjs";

/** A runtime that runs a plain ES module: its command for a file, or why it is missing. */
interface Runtime {
  readonly name: string;
  readonly argv: (file: string) => string[];
  readonly missing: string;
}

function runtime(name: string, version: string[], argv: (file: string) => string[]): Runtime {
  const r = spawnSync(version[0]!, version.slice(1), { encoding: "utf8" });
  const missing = r.status === 0 ? "" : `no ${name} here (${r.error?.message ?? r.stderr})`;
  if (missing) console.log(`runtimes.test.ts: ${name} skipped: ${missing}`);
  return { name, argv, missing };
}

const DENO = join(import.meta.dir, "../../../node_modules/.bin/deno");
const RUNTIMES: Runtime[] = [
  runtime("node", ["node", "--version"], (file) => ["node", file]),
  runtime("deno", [DENO, "--version"], (file) => [DENO, "run", "--quiet", "--allow-read", "--allow-write", "--allow-env", file]),
];

const files = mkdtempSync(join(tmpdir(), "privheap-node-files-"));
afterAll(() => rmSync(files, { recursive: true, force: true }));

/** Run `code` (an ES module importing "privheap") with `rt` in the built project; its stdout as JSON. */
function run(rt: Runtime, pkg: BuiltPackage, name: string, code: string): any {
  const file = join(pkg.project, `${rt.name}-${name}`);
  writeFileSync(file, code);
  const [cmd, ...args] = rt.argv(file);
  const r = spawnSync(cmd!, args, { cwd: pkg.project, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  if (r.status !== 0) throw new Error(`${rt.name} ${name} exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe.each(RUNTIMES)("privheap in $name", (rt) => {
  if (rt.missing) return;
  let pkg: BuiltPackage;
  beforeAll(async () => {
    pkg = await builtPackage();
    copyFileSync(join(import.meta.dir, "../../support/portable-scenario.mjs"), join(pkg.project, "portable-scenario.mjs"));
  }, 120_000);

  test("the scenario gives Bun's results on both backends", () => {
    const there = run(rt, pkg, "scenario.mjs", `import * as P from "privheap";\nimport { runScenario } from "./portable-scenario.mjs";\nconsole.log(JSON.stringify(runScenario(P)));\n`);
    const native = JSON.parse(JSON.stringify(runScenario(P)));
    const wasm = JSON.parse(JSON.stringify(runScenario(P, { backend: "wasm" })));
    expect(there.offsets.length).toBeGreaterThan(1000);
    expect(there.errors).toEqual(["EBADPTR", "EINVAL", "EINVAL"]);
    expect(there).toEqual(native);
    expect(there).toEqual(wasm);
  }, 60_000);

  test("what the runtime lacks is ENOTSUP, and the heaps it has are the WebAssembly backend's", () => {
    const r = run(
      rt,
      pkg,
      "lacks.mjs",
      `import { PrivateHeap, HeapError } from "privheap";
       const codes = {};
       const tryIt = (name, fn) => { try { fn(); codes[name] = "none"; } catch (e) { codes[name] = e instanceof HeapError ? e.code : String(e); } };
       tryIt("native", () => PrivateHeap.create({ size: 1 << 20, backend: "native" }));
       tryIt("open", () => PrivateHeap.open(${JSON.stringify(join(files, "x.phheap"))}, { size: 1 << 20, create: true }));
       const heap = PrivateHeap.create({ size: 1 << 20 });
       codes.tracking = heap.tracking;
       heap.close();
       console.log(JSON.stringify(codes));`,
    );
    expect(r).toEqual({ native: "ENOTSUP", open: "ENOTSUP", tracking: "compare" });
  });

  test("a snapshot saved there loads in Bun, and one saved in Bun loads there", async () => {
    const fromThere = join(files, `${rt.name}.phsnap`);
    const fromBun = join(files, "bun.phsnap");
    using heap = P.PrivateHeap.create({ size: 4 << 20 });
    for (let i = 0; i < 300; i++) {
      const off = heap.malloc(50 + i);
      heap.u8.fill(i & 255, off, off + 50 + i);
    }
    heap.snapshot().saveSync(fromBun);
    const r = run(
      rt,
      pkg,
      "files.mjs",
      `import { PrivateHeap, Snapshot } from "privheap";
       const loaded = Snapshot.loadSync(${JSON.stringify(fromBun)});
       const heap = PrivateHeap.create({ size: 4 << 20 });
       heap.restore(loaded);
       const sum = String(heap.checksum());
       heap.malloc(12345);
       heap.snapshot().saveSync(${JSON.stringify(fromThere)});
       console.log(JSON.stringify({ sum, after: String(heap.checksum()) }));`,
    );
    expect(r.sum).toBe(String(heap.checksum()));
    const back = P.Snapshot.loadSync(fromThere);
    using again = P.PrivateHeap.create({ size: 4 << 20 });
    again.restore(back);
    expect(String(again.checksum())).toBe(r.after);
  });

  test("compressed files: written and read where node:zlib has zstd, else ENOTSUP", async () => {
    const path = join(files, "z.phsnap");
    using heap = P.PrivateHeap.create({ size: 4 << 20 });
    heap.malloc(1000);
    heap.snapshot().saveSync(path, { compress: true });
    const r = run(
      rt,
      pkg,
      "zstd.mjs",
      `import { Snapshot, HeapError } from "privheap";
       import * as zlib from "node:zlib";
       const zstd = typeof zlib.zstdDecompressSync === "function";
       try { const s = Snapshot.loadSync(${JSON.stringify(path)}); console.log(JSON.stringify({ zstd, loaded: String(s.checksum()) })); }
       catch (e) { console.log(JSON.stringify({ zstd, code: e instanceof HeapError ? e.code : String(e) })); }`,
    );
    if (r.zstd) expect(r).toEqual({ zstd: true, loaded: String(heap.checksum()) });
    else expect(r).toEqual({ zstd: false, code: "ENOTSUP" });
  });
});
