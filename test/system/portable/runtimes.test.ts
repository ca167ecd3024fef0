// `import "privheap"` in Node (20 and later) and Deno: the package's "node"
// and "default" conditions load dist/node.js (scripts/build-dist.ts), the
// WebAssembly backend with the module embedded. A plain script runs the
// shared scenario (test/support/portable-scenario.mjs) and gets the
// offsets, bytes and checksums Bun gets on the native and on the
// WebAssembly backend; files written there are read in Bun and the other
// way round; what the runtime lacks is ENOTSUP. Deno is the npm package's
// (a pinned devDependency). A HeapMirror there writes the file Bun writes,
// byte for byte, and their journals replay in either.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as P from "../../../src/index.ts";
import { builtPackage, type BuiltPackage } from "../../support/dist.ts";
import { codeOf } from "../../support/expect.ts";
// @ts-expect-error plain JavaScript, shared with Node, Deno and the browser
import { runScenario } from "../../support/portable-scenario.mjs";
// @ts-expect-error plain JavaScript, shared with Node and Deno
import { buildWorld, changeWorld, mirrorTwoSyncs } from "../../support/portable-mirror.mjs";

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

/**
 * Leave `path` (a mirror's closed file) as a sync to `heap`'s state that
 * stopped after its mark: the file marked with sync `id`, and a journal of
 * all of `heap`'s used pages, checksummed by Bun's own hash as
 * docs/heap-mirror.md says.
 */
function interruptedSync(path: string, heap: P.PrivateHeap, id: bigint): void {
  const pages = heap.u8.slice(0, heap.usedBytes);
  const journal = new Uint8Array(56 + pages.length);
  const v = new DataView(journal.buffer);
  journal.set(new TextEncoder().encode("PHMJRNL1"), 0);
  v.setUint32(8, 1, true); // version
  v.setUint32(12, P.PAGE_SIZE, true);
  v.setBigUint64(16, id, true);
  v.setBigUint64(24, BigInt(heap.size), true);
  v.setUint32(32, 1, true); // one run: pages 0..used
  v.setUint32(52, pages.length / P.PAGE_SIZE, true);
  journal.set(pages, 56);
  let h = Bun.hash.xxHash3(journal.subarray(0, 40));
  h = Bun.hash.xxHash3(journal.subarray(48, 56), h & 0xffffffffn);
  h = Bun.hash.xxHash3(pages, h & 0xffffffffn);
  v.setBigUint64(40, h, true);
  writeFileSync(`${path}-journal`, journal);
  const mark = new Uint8Array(16);
  mark.set(new TextEncoder().encode("PHMIRSYN"), 0);
  new DataView(mark.buffer).setBigUint64(8, id, true);
  const fd = openSync(path, "r+");
  writeSync(fd, mark, 0, 16, 0);
  closeSync(fd);
}

describe.each(RUNTIMES)("privheap in $name", (rt) => {
  if (rt.missing) return;
  let pkg: BuiltPackage;
  beforeAll(async () => {
    pkg = await builtPackage();
    copyFileSync(join(import.meta.dir, "../../support/portable-scenario.mjs"), join(pkg.project, "portable-scenario.mjs"));
    copyFileSync(join(import.meta.dir, "../../support/portable-mirror.mjs"), join(pkg.project, "portable-mirror.mjs"));
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

  test("compressed snapshots and replays: read where node:zlib has zstd, else ENOTSUP (never a damaged file)", async () => {
    const path = join(files, "z.phsnap");
    const replayPath = join(files, "z.phreplay");
    const thereReplay = join(files, `${rt.name}-z.phreplay`);
    const thereSnapshot = join(files, `${rt.name}-z.phsnap`);
    using heap = P.PrivateHeap.create({ size: 4 << 20 });
    const at = heap.calloc(64, 8);
    heap.snapshot().saveSync(path, { compress: true });
    const saved = String(heap.checksum());
    const rec = P.Replay.record(replayPath, heap, { keyframeEvery: 4, compress: true });
    for (let t = 0; t < 10; t++) {
      heap.f64[(at >>> 3) + t] = t;
      rec.tick(Uint8Array.of(t));
    }
    rec.close();
    const r = run(
      rt,
      pkg,
      "zstd.mjs",
      `import { PrivateHeap, Replay, Snapshot, HeapError } from "privheap";
       import * as zlib from "node:zlib";
       const zstd = typeof zlib.zstdDecompressSync === "function";
       const outcome = (f) => { try { return f(); } catch (e) { return e instanceof HeapError ? e.code : String(e); } };
       const snapshot = outcome(() => String(Snapshot.loadSync(${JSON.stringify(path)}).checksum()));
       const replay = outcome(() => String(Replay.openSync(${JSON.stringify(replayPath)}).checksum(9)));
       // The same recording made there, compressed where it can be (the default).
       const heap = PrivateHeap.create({ size: 4 << 20 });
       const at = heap.calloc(64, 8);
       const rec = Replay.record(${JSON.stringify(thereReplay)}, heap, { keyframeEvery: 4 });
       for (let t = 0; t < 10; t++) { heap.f64[(at >>> 3) + t] = t; rec.tick(Uint8Array.of(t)); }
       rec.close();
       if (zstd) heap.snapshot().saveSync(${JSON.stringify(thereSnapshot)}, { compress: true });
       console.log(JSON.stringify({ zstd, snapshot, replay, made: String(heap.checksum()) }));`,
    );
    using again = P.Replay.openSync(replayPath);
    if (r.zstd) expect(r).toEqual({ zstd: true, snapshot: saved, replay: String(again.checksum(9)), made: String(again.checksum(9)) });
    else expect(r).toEqual({ zstd: false, snapshot: "ENOTSUP", replay: "ENOTSUP", made: String(again.checksum(9)) });
    // A snapshot compressed there loads in Bun.
    if (r.zstd) expect(String(P.Snapshot.loadSync(thereSnapshot).checksum())).toBe(r.made);
    // Bun reads what was recorded there, compressed by that runtime's zstd or not, to the same checksums.
    using made = P.Replay.openSync(thereReplay);
    expect(made.ticks).toBe(10);
    for (let t = 0; t < 10; t++) expect(made.checksum(t)).toBe(again.checksum(t));
    using fresh = P.PrivateHeap.create({ size: 4 << 20 });
    made.seek(7, fresh, () => {}); // a keyframe follows tick 7: no step runs
    expect(fresh.checksum()).toBe(again.checksum(7));
  });

  test("HeapMirror: the file made there is Bun's byte for byte; Bun's loads there; journals replay both ways", () => {
    const made = join(files, `${rt.name}-mirror.phheap`);
    const bunMade = join(files, `bun-mirror-for-${rt.name}.phheap`);
    const sealed = join(files, `bun-sealed-for-${rt.name}.phheap`);
    const crashed = join(files, `${rt.name}-crashed.phheap`);
    // Bun, native backend: the same run, and a sync to state 5 stopped after its mark.
    using heap = buildWorld(P);
    const bun = mirrorTwoSyncs(P, heap, bunMade);
    using sealedHeap = buildWorld(P);
    P.HeapMirror.create(sealedHeap, sealed).close();
    changeWorld(sealedHeap, 5);
    interruptedSync(sealed, sealedHeap, 0x5eed0001n << 32n);
    expect(codeOf(() => P.PrivateHeap.open(sealed))).toBe("ECORRUPT");
    const r = run(
      rt,
      pkg,
      "mirror.mjs",
      `import fs from "node:fs";
       import { syncBuiltinESMExports } from "node:module";
       import * as P from "privheap";
       import { buildWorld, changeWorld, mirrorTwoSyncs } from "./portable-mirror.mjs";
       const code = (f) => { try { f(); return "none"; } catch (e) { return e instanceof P.HeapError ? e.code : String(e); } };
       const out = {};
       const heap = buildWorld(P);
       out.made = mirrorTwoSyncs(P, heap, ${JSON.stringify(made)});
       out.bunMade = String(P.HeapMirror.loadSync(${JSON.stringify(bunMade)}).checksum());
       out.open = code(() => P.HeapMirror.open(${JSON.stringify(bunMade)}));
       out.recovered = P.HeapMirror.recover(${JSON.stringify(sealed)});
       out.sealed = String(P.HeapMirror.loadSync(${JSON.stringify(sealed)}).checksum());
       // Last: a sync whose writes to the file fail once it is marked. Node's
       // ES bindings of node:fs follow the patched module; Deno's do not.
       const mirror = P.HeapMirror.create(heap, ${JSON.stringify(crashed)}, { fsync: false });
       changeWorld(heap, 3);
       out.crashSum = String(heap.checksum());
       const write = fs.writeSync;
       let markedFd = -1;
       fs.writeSync = function (fd, bytes, offset, length, position) {
         if (markedFd < 0 && position === 0 && length === 16 && new TextDecoder().decode(bytes.subarray(0, 8)) === "PHMIRSYN") markedFd = fd;
         else if (fd === markedFd) throw Object.assign(new Error("ENOSPC: no space left on device (injected)"), { code: "ENOSPC" });
         return write.apply(this, arguments);
       };
       syncBuiltinESMExports();
       out.crash = code(() => mirror.sync());
       out.injected = markedFd >= 0;
       console.log(JSON.stringify(out));`,
    );
    // Made there: Bun's sync counts and checksum, and Bun's file byte for byte.
    expect(r.made).toEqual(bun);
    expect(r.made.syncs[0]).toBeGreaterThan(1);
    expect(Buffer.compare(readFileSync(made), readFileSync(bunMade))).toBe(0);
    expect(String(P.HeapMirror.loadSync(made).checksum())).toBe(bun.checksum);
    using opened = P.HeapMirror.open(made, { check: true });
    expect(opened.check()).toBe(0);
    // Bun's file loads there (mapping a heap file is what the runtime lacks), and Bun's journal replays there.
    expect(r.bunMade).toBe(bun.checksum);
    expect(r.open).toBe("ENOTSUP");
    expect(r.recovered).toBe("replayed");
    expect(r.sealed).toBe(String(sealedHeap.checksum()));
    // The journal written there replays in Bun.
    changeWorld(heap, 3);
    expect(r.crashSum).toBe(String(heap.checksum()));
    if (rt.name === "node") expect(r.injected).toBe(true);
    if (r.injected) {
      expect(r.crash).toBe("EIO");
      expect(codeOf(() => P.PrivateHeap.open(crashed))).toBe("ECORRUPT");
      expect(P.HeapMirror.recover(crashed)).toBe("replayed");
    } else expect(r.crash).toBe("none");
    expect(String(P.HeapMirror.loadSync(crashed).checksum())).toBe(r.crashSum);
  }, 60_000);
});
