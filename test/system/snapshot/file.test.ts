// Snapshot files: snap.save / saveSync, Snapshot.load / loadSync, and the
// format of docs/snapshot-format.md. Damage of every kind must be rejected
// with ECORRUPT or EVERSION (and leave a heap the caller would have restored
// into untouched); file system failures are EIO and never harm the old file.
// Seeded tests print their seed; replay one with
// PRIVHEAP_SEED=<seed> bun test test/system/snapshot/file.test.ts.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeapError } from "../../../src/errors.ts";
import { NATIVE_CONSTANTS } from "../../../src/ffi/symbols.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import { FIELD, FORMAT_VERSION, GROUP_PAGES, HEADER_BYTES, MAGIC } from "../../../src/snapshot/file-format.ts";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { SRC } from "../../support/bun.ts";
import { encode, isZeroPage, partsOf } from "../../support/snapshot-craft.ts";
import { expectCode } from "../../support/expect.ts";
import { rng, seeds, type Rng } from "../../support/random.ts";

const MiB = 1 << 20;
const PAGE = 4096;
const DOC = join(import.meta.dir, "..", "..", "..", "docs", "snapshot-format.md");

let dir = "";
let target: PrivateHeap; // the heap a caller would restore into; no failed load may change it
let targetSum = 0n;
let targetSnap: Snapshot; // to put `target` back after a load that wrongly succeeded, so one failure does not cascade
const open: PrivateHeap[] = [];
let fileSeq = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "privheap-file-test-"));
  target = PrivateHeap.create({ size: 4 * MiB });
  busy(target, rng(99));
  targetSum = target.checksum();
  targetSnap = target.snapshot();
});
afterAll(() => {
  target.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  for (const h of open.splice(0)) if (!h.closed) h.close();
});

function heapOf(size = 4 * MiB): PrivateHeap {
  const h = PrivateHeap.create({ size });
  open.push(h);
  return h;
}

/** A fresh path in the test directory. */
function pathFor(name = "snap"): string {
  return join(dir, `${name}-${fileSeq++}.phsnap`);
}

/** A fresh empty directory inside the test directory. */
function subdir(): string {
  const d = join(dir, `d${fileSeq++}`);
  mkdirSync(d);
  return d;
}

/** Small and large allocations with random contents (some zero pages among them), some freed, two roots. */
function busy(heap: PrivateHeap, r: Rng, count = 300): void {
  const live: number[] = [];
  for (let i = 0; i < count; i++) {
    const n = r.int(0, 9) === 0 ? r.int(4097, 60_000) : r.int(1, 700);
    const off = heap.malloc(n);
    if (r.int(0, 4) !== 0) for (let k = 0; k < Math.min(n, 48); k++) heap.u8[off + r.int(0, n - 1)] = r.int(1, 255);
    live.push(off);
    if (r.int(0, 3) === 0) heap.free(live.splice(r.int(0, live.length - 1), 1)[0]!);
  }
  heap.setRoot("world", live[0]!);
  heap.setRoot("player", live[live.length - 1]!);
}

/** Run `body`, and name the seed when it fails. */
async function withSeed(seed: number, body: () => void | Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    console.error(`failed with seed ${seed}; replay with PRIVHEAP_SEED=${seed}`);
    throw e;
  }
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/** A file encoded from docs/snapshot-format.md alone (test/support/snapshot-craft.ts), independently of src/snapshot/file.ts. */
function encodeFromSpec(image: Uint8Array, regionBytes: number, zstdLevel = 0): Uint8Array {
  return encode(partsOf(image, regionBytes, zstdLevel));
}

/** Recompute the header checksum, so that only the check under test can reject the file. */
function reseal(file: Uint8Array): Uint8Array {
  new DataView(file.buffer, file.byteOffset).setBigUint64(72, Bun.hash.xxHash3(file.subarray(0, 72)), true);
  return file;
}

function setU16(file: Uint8Array, at: number, x: number): Uint8Array {
  new DataView(file.buffer, file.byteOffset).setUint16(at, x, true);
  return file;
}
function setU32(file: Uint8Array, at: number, x: number): Uint8Array {
  new DataView(file.buffer, file.byteOffset).setUint32(at, x, true);
  return file;
}
function setU64(file: Uint8Array, at: number, x: bigint | number): Uint8Array {
  new DataView(file.buffer, file.byteOffset).setBigUint64(at, BigInt(x), true);
  return file;
}
function getU64(file: Uint8Array, at: number): number {
  return Number(new DataView(file.buffer, file.byteOffset).getBigUint64(at, true));
}

// ---- rejection helpers -------------------------------------------------------

/**
 * Restoring `target` from the file at `path` fails with one of `codes`
 * (both sync and async loads when `both`), and `target` is unchanged.
 */
async function expectRejected(path: string, codes: readonly string[], both = true): Promise<HeapError> {
  const errors: unknown[] = [];
  try {
    target.restore(Snapshot.loadSync(path));
    errors.push(undefined);
  } catch (e) {
    errors.push(e);
  }
  if (both) {
    try {
      target.restore(await Snapshot.load(path));
      errors.push(undefined);
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.includes(undefined)) target.restore(targetSnap);
  for (const e of errors) {
    if (!(e instanceof HeapError)) throw new Error(`expected ${codes.join(" or ")} for ${path}, got ${e === undefined ? "a successful load" : String(e)}`);
    if (!codes.includes(e.code)) throw new Error(`expected ${codes.join(" or ")} for ${path}, got ${e.message}`);
  }
  expect((errors[0] as HeapError).code).toBe((errors[errors.length - 1] as HeapError).code);
  expect(target.checksum()).toBe(targetSum);
  return errors[0] as HeapError;
}

/** Write `bytes` as a file and expect it rejected. */
async function expectBytesRejected(bytes: Uint8Array, codes: readonly string[], both = true): Promise<HeapError> {
  const p = pathFor("bad");
  writeFileSync(p, bytes);
  return expectRejected(p, codes, both);
}

/** A populated heap, its snapshot, and that snapshot saved raw and with zstd. */
function fixture(seed: number, size = 4 * MiB, count = 300) {
  const heap = heapOf(size);
  busy(heap, rng(seed), count);
  const snap = heap.snapshot();
  const raw = pathFor("raw");
  const zstd = pathFor("zstd");
  snap.saveSync(raw, { fsync: false });
  snap.saveSync(zstd, { compress: true, fsync: false });
  return { heap, snap, raw, zstd, rawBytes: new Uint8Array(readFileSync(raw)), zstdBytes: new Uint8Array(readFileSync(zstd)) };
}

function tempFilesIn(d: string): string[] {
  return readdirSync(d).filter((n) => n.endsWith(".tmp"));
}

// ---- round trips ---------------------------------------------------------------

describe("round trip", () => {
  for (const seed of seeds(3)) {
    test(`raw and zstd, sync and async: same bytes, same checksum, a consistent restored heap (seed ${seed})`, () =>
      withSeed(seed, async () => {
        const heap = heapOf();
        busy(heap, rng(seed));
        const snap = heap.snapshot();
        const variants: [string, { compress?: boolean | number; fsync?: boolean }][] = [
          ["raw", {}],
          ["raw, no fsync", { fsync: false }],
          ["zstd", { compress: true }],
          ["zstd level 1", { compress: 1, fsync: false }],
          ["zstd level 19", { compress: 19, fsync: false }],
        ];
        for (const [name, options] of variants) {
          for (const mode of ["sync", "async"] as const) {
            const p = pathFor(name.replaceAll(/\W+/g, "-"));
            if (mode === "sync") snap.saveSync(p, options);
            else await snap.save(p, options);
            const loaded = mode === "sync" ? Snapshot.loadSync(p) : await Snapshot.load(p);
            const what = `${name}, ${mode}`;
            expect({ what, same: same(loaded.bytes, snap.bytes) }).toEqual({ what, same: true });
            expect(loaded.checksum()).toBe(snap.checksum());
            expect(loaded.regionSize).toBe(heap.size);
            expect(loaded.roots()).toEqual(heap.roots());
            const restored = heapOf();
            restored.restore(loaded);
            expect(restored.checksum()).toBe(heap.checksum());
            expect(restored.check()).toBe(0);
            expect(restored.roots()).toEqual(heap.roots());
            expect([...restored.snapshot().allocations()]).toEqual([...snap.allocations()]);
            expect(tempFilesIn(dir)).toEqual([]);
          }
        }
      }),
    );
  }

  test("sync and async saves write the same bytes, and saving twice gives the same file", async () => {
    const { snap } = fixture(5);
    for (const options of [{ fsync: false }, { compress: 7, fsync: false }]) {
      const a = pathFor();
      const b = pathFor();
      const c = pathFor();
      snap.saveSync(a, options);
      await snap.save(b, options);
      snap.saveSync(c, options);
      expect(same(readFileSync(a), readFileSync(b))).toBe(true);
      expect(same(readFileSync(a), readFileSync(c))).toBe(true);
    }
  });

  test("the writer's file is byte for byte what the format document describes", () => {
    for (const seed of [1, 2, 3]) {
      const { snap, rawBytes, zstdBytes } = fixture(seed);
      const spec = encodeFromSpec(snap.bytes, snap.regionSize);
      expect({ seed, equal: same(rawBytes, spec) }).toEqual({ seed, equal: true });
      // zstd: the same header fields and map; the document fixes the data's meaning, not its encoding.
      const zspec = encodeFromSpec(snap.bytes, snap.regionSize, 3);
      expect(same(zstdBytes, zspec)).toBe(true);
    }
  });

  test("a file from the document's encoder loads, even with a zstd level the writer never uses", () => {
    const { snap } = fixture(11);
    for (const level of [0, 1, 22]) {
      const p = pathFor();
      writeFileSync(p, encodeFromSpec(snap.bytes, snap.regionSize, level));
      expect(Snapshot.loadSync(p).checksum()).toBe(snap.checksum());
    }
  });

  test("saving replaces an existing file, and the result loads as the new snapshot", async () => {
    const a = fixture(21);
    const b = fixture(22);
    const p = pathFor();
    a.snap.saveSync(p);
    expect(Snapshot.loadSync(p).checksum()).toBe(a.snap.checksum());
    b.snap.saveSync(p);
    expect(Snapshot.loadSync(p).checksum()).toBe(b.snap.checksum());
    await a.snap.save(p, { compress: true });
    expect((await Snapshot.load(p)).checksum()).toBe(a.snap.checksum());
    expect(tempFilesIn(dir)).toEqual([]);
  });

  test("snapshot({ into }) during an async save copies into new memory: the file gets the bytes of when the save began", async () => {
    const heap = heapOf();
    const off = heap.malloc(3 * MiB);
    heap.u8.fill(1, off, off + 3 * MiB);
    const snap = heap.snapshot();
    const sum = snap.checksum();
    const p = pathFor();
    const saving = snap.save(p, { fsync: false });
    heap.u8.fill(2, off, off + 3 * MiB);
    expect(heap.snapshot({ into: snap })).toBe(snap);
    await saving;
    expect(Snapshot.loadSync(p).checksum()).toBe(sum);
    expect(snap.checksum()).toBe(heap.checksum());
    expect(snap.checksum()).not.toBe(sum);
  });

  test("a delta snapshot saves as its full image", () => {
    const heap = heapOf();
    busy(heap, rng(3));
    const base = heap.snapshot();
    heap.u8[heap.malloc(100)] = 9;
    const delta = heap.snapshot({ base });
    const p = pathFor();
    delta.saveSync(p);
    expect(Snapshot.loadSync(p).checksum()).toBe(heap.checksum());
  });

  test("a loaded snapshot restores into a larger heap; a smaller heap is ESIZE from restore, not from load", async () => {
    const { heap, raw } = fixture(8, 8 * MiB, 200);
    const snap = await Snapshot.load(raw);
    expect(snap.regionSize).toBe(8 * MiB);
    const larger = heapOf(16 * MiB);
    larger.restore(snap);
    expect(larger.check()).toBe(0);
    expect(larger.roots()).toEqual(heap.roots());
    const smaller = heapOf(4 * MiB);
    busy(smaller, rng(1), 20);
    const before = smaller.checksum();
    expectCode(() => smaller.restore(snap), "ESIZE");
    expect(smaller.checksum()).toBe(before);
    expect(smaller.check()).toBe(0);
  });
});

// ---- zero pages ------------------------------------------------------------------

describe("a save succeeds only when its load would accept the file", () => {
  test("a heap whose page map was overwritten near offset 0: save is ECORRUPT, and the old file stays", async () => {
    const heap = heapOf();
    busy(heap, rng(31));
    const big = heap.malloc(100_000);
    const p = pathFor();
    heap.snapshot().saveSync(p);
    const old = readFileSync(p);
    // The page-map entry of the large run (leaf 0 follows the two header pages, 16 bytes per page):
    // a field of a large struct written through the null offset.
    const at = 2 * PAGE + 16 * (big / PAGE) + 4;
    const good = heap.u8.slice(at, at + 4);
    heap.u32[at >>> 2] = 3;
    const snap = heap.snapshot(); // the O(1) header check does not walk the page map
    const e = expectCode(() => snap.saveSync(p), "ECORRUPT");
    expect(e.message).toContain("its load would refuse it");
    await expect(snap.save(p, { compress: true })).rejects.toMatchObject({ code: "ECORRUPT" });
    expect(readFileSync(p).equals(old)).toBe(true);
    expect(tempFilesIn(dir)).toEqual([]);
    heap.u8.set(good, at);
    expect(heap.check()).toBe(0);
    heap.snapshot().saveSync(p);
    expect(Snapshot.loadSync(p).checksum()).toBe(heap.checksum());
  });
});

describe("zero pages", () => {
  test("all-zero pages are not stored: a mostly zero 32 MiB heap makes a small file", async () => {
    const heap = heapOf(64 * MiB);
    const big = heap.malloc(32 * MiB);
    heap.u8[big + 5 * MiB + 77] = 1; // one non-zero page inside the big block
    heap.u8[big + 32 * MiB - 1] = 2; // and its last page
    const small = heap.malloc(100);
    heap.u8.fill(3, small, small + 100);
    const snap = heap.snapshot();
    expect(snap.byteLength).toBeGreaterThan(32 * MiB);
    let nonZero = 0;
    for (let p = 0; p < snap.byteLength / PAGE; p++) if (!isZeroPage(heap.u8, p)) nonZero++;
    for (const options of [{}, { compress: true }]) {
      const p = pathFor();
      await snap.save(p, options);
      const size = statSync(p).size;
      expect(size).toBeLessThan(64 * 1024);
      if (!options.compress) expect(size).toBe(HEADER_BYTES + Math.ceil(snap.byteLength / PAGE / 8) + nonZero * PAGE);
      const bytes = readFileSync(p);
      expect(getU64(bytes, FIELD.storedPages)).toBe(nonZero);
      const loaded = Snapshot.loadSync(p);
      expect(loaded.checksum()).toBe(snap.checksum());
      const restored = heapOf(64 * MiB);
      restored.restore(loaded);
      expect(restored.u8[big + 5 * MiB + 77]).toBe(1);
      expect(restored.u8[big + 32 * MiB - 1]).toBe(2);
      expect(restored.check()).toBe(0);
    }
  });

  test("pages alternating zero and non-zero, across unit groups, round-trip", () => {
    const heap = heapOf(8 * MiB);
    const block = heap.malloc(3 * MiB);
    const pages = (3 * MiB) / PAGE;
    const r = rng(4);
    for (let i = 0; i < pages; i++) if (i % 2 === 0 || i % GROUP_PAGES === 63 || r.int(0, 5) === 0) heap.u8[block + i * PAGE + r.int(0, PAGE - 1)] = r.int(1, 255);
    const snap = heap.snapshot();
    const p = pathFor();
    snap.saveSync(p);
    expect(same(Snapshot.loadSync(p).bytes, snap.bytes)).toBe(true);
    expect(same(readFileSync(p), encodeFromSpec(snap.bytes, snap.regionSize))).toBe(true);
  });
});

// ---- atomic replace and file system errors ---------------------------------------------

describe("atomic replace", () => {
  test("a path in a missing directory is EIO with the OS error as cause; nothing is created", async () => {
    const { snap } = fixture(31, 4 * MiB, 50);
    const d = subdir();
    const p = join(d, "missing", "x.phsnap");
    for (const save of [() => snap.saveSync(p), () => snap.save(p)]) {
      let err: unknown;
      try {
        await save();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HeapError);
      const he = err as HeapError;
      expect(he.code).toBe("EIO");
      expect(he.message).toContain("ENOENT");
      expect((he.cause as { code?: string }).code).toBe("ENOENT");
    }
    expect(readdirSync(d)).toEqual([]);
  });

  test("when the rename fails (the target is a directory), the temporary file is removed", async () => {
    const { snap } = fixture(32, 4 * MiB, 50);
    const d = subdir();
    const victim = join(d, "victim");
    mkdirSync(victim);
    writeFileSync(join(victim, "inside"), "keep me");
    expectCode(() => snap.saveSync(victim, { fsync: false }), "EIO");
    let err: unknown;
    try {
      await snap.save(victim);
    } catch (e) {
      err = e;
    }
    expect((err as HeapError).code).toBe("EIO");
    expect((err as HeapError).cause).toBeDefined();
    expect(readdirSync(d)).toEqual(["victim"]);
    expect(readFileSync(join(victim, "inside"), "utf8")).toBe("keep me");
  });

  test("a write that fails midway (file size limit) leaves the old file byte-identical and no temporary file", async () => {
    const d = subdir();
    const old = join(d, "save.phsnap");
    const small = fixture(33, 4 * MiB, 30);
    small.snap.saveSync(old);
    const oldBytes = readFileSync(old);
    expect(oldBytes.length).toBeLessThan(200 * 1024);
    const child = join(d, "child.ts");
    writeFileSync(
      child,
      `import { PrivateHeap } from ${JSON.stringify(join(SRC, "heap.ts"))};
const heap = PrivateHeap.create({ size: 8 << 20 });
const off = heap.malloc(2 << 20);
for (let i = 0; i < 2 << 20; i += 64) heap.u8[off + i] = ((i >> 6) & 0xff) | 1;
const snap = heap.snapshot();
const out = {};
for (const [name, save] of [
  ["saveSync", () => snap.saveSync(process.argv[2])],
  ["save", () => snap.save(process.argv[2])],
  ["saveSync no fsync", () => snap.saveSync(process.argv[2], { fsync: false })],
]) {
  try { await save(); out[name] = "saved"; }
  catch (e) { out[name] = { code: e.code, cause: e.cause?.code }; }
}
console.log(JSON.stringify(out));
`,
    );
    // A 256 KiB file size limit, with SIGXFSZ ignored: writes past it fail with EFBIG instead of killing the child.
    const proc = Bun.spawn(["bash", "-c", `trap '' XFSZ; ulimit -f 256; exec "$0" "$1" "$2"`, process.execPath, child, old], {
      env: { ...process.env, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    await proc.exited;
    expect({ exit: proc.exitCode, stderr }).toEqual({ exit: 0, stderr: "" });
    const failure = { code: "EIO", cause: "EFBIG" };
    expect(JSON.parse(stdout)).toEqual({ saveSync: failure, save: failure, "saveSync no fsync": failure });
    expect(same(readFileSync(old), oldBytes)).toBe(true);
    expect(Snapshot.loadSync(old).checksum()).toBe(small.snap.checksum());
    expect(readdirSync(d).sort()).toEqual(["child.ts", "save.phsnap"]);
  }, 30_000);

  test("a process killed while saving leaves the old file or the new one, never a mix", async () => {
    const d = subdir();
    const path = join(d, "slot.phsnap");
    const child = join(d, "child.ts");
    writeFileSync(
      child,
      `import { PrivateHeap } from ${JSON.stringify(join(SRC, "heap.ts"))};
const make = (tag) => {
  const heap = PrivateHeap.create({ size: 16 << 20 });
  const off = heap.malloc(6 << 20);
  for (let i = 0; i < 6 << 20; i += 16) heap.u8[off + i] = (tag + i) & 0xff | 1;
  return heap.snapshot();
};
const a = make(1), b = make(2);
a.saveSync(process.argv[2], { fsync: false });
console.log("ready", String(a.checksum()), String(b.checksum()));
for (let i = 0; ; i++) (i & 1 ? a : b).saveSync(process.argv[2], { fsync: false });
`,
    );
    const r = rng(seeds(1)[0]!);
    for (let round = 0; round < 4; round++) {
      const proc = Bun.spawn([process.execPath, child, path], { stdout: "pipe", stderr: "inherit" });
      const reader = proc.stdout.getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      const [, sumA, sumB] = text.trim().split(" ");
      await Bun.sleep(r.int(5, 60));
      proc.kill("SIGKILL");
      await proc.exited;
      const sum = String(Snapshot.loadSync(path).checksum());
      expect([sumA, sumB]).toContain(sum);
      for (const t of tempFilesIn(d)) rmSync(join(d, t)); // a killed save leaves its temporary file (documented)
    }
  }, 30_000);
});

// ---- load errors ----------------------------------------------------------------

describe("load: file system errors", () => {
  test("a missing file is EIO with the OS error as cause", async () => {
    const p = join(dir, "does-not-exist.phsnap");
    const e = expectCode(() => Snapshot.loadSync(p), "EIO");
    expect(e.message).toContain("ENOENT");
    expect((e.cause as { code?: string }).code).toBe("ENOENT");
    let err: unknown;
    try {
      await Snapshot.load(p);
    } catch (x) {
      err = x;
    }
    expect((err as HeapError).code).toBe("EIO");
    expect(((err as HeapError).cause as { code?: string }).code).toBe("ENOENT");
  });

  test("a directory or a FIFO is EIO, without blocking", async () => {
    await expectRejected(subdir(), ["EIO"]);
    const fifo = join(dir, `fifo-${fileSeq++}`);
    const mk = Bun.spawnSync(["mkfifo", fifo]);
    expect(mk.exitCode).toBe(0);
    const e = await expectRejected(fifo, ["EIO"]);
    expect(e.message).toContain("not a regular file");
  });

  test("bad arguments are EINVAL", async () => {
    const { snap } = fixture(41, 4 * MiB, 10);
    const p = pathFor();
    for (const options of [{ compress: 0 }, { compress: 23 }, { compress: 2.5 }, { compress: "yes" }, { fsync: 1 }, 5])
      expectCode(() => snap.saveSync(p, options as never), "EINVAL");
    for (const bad of ["", 42, undefined]) {
      expectCode(() => snap.saveSync(bad as never), "EINVAL");
      expectCode(() => Snapshot.loadSync(bad as never), "EINVAL");
    }
    let err: unknown;
    try {
      await snap.save(p, { compress: -1 });
    } catch (e) {
      err = e;
    }
    expect((err as HeapError).code).toBe("EINVAL");
    expect(existsSync(p)).toBe(false);
  });
});

describe("load: damaged files", () => {
  test("truncated at every byte of the header and map, and at many offsets of the data", async () => {
    const seed = seeds(1)[0]!;
    await withSeed(seed, async () => {
      const r = rng(seed);
      const { rawBytes, zstdBytes } = fixture(51);
      for (const file of [rawBytes, zstdBytes]) {
        const mapEnd = HEADER_BYTES + Math.ceil(getU64(file, FIELD.usedBytes) / PAGE / 8);
        const cuts = new Set<number>();
        for (let n = 0; n <= mapEnd + 1; n++) cuts.add(n);
        for (let n = mapEnd; n < file.length; n += PAGE) for (const d of [-1, 0, 1]) if (n + d > 0 && n + d < file.length) cuts.add(n + d);
        for (let i = 0; i < 150; i++) cuts.add(r.int(mapEnd, file.length - 1));
        cuts.add(file.length - 1);
        for (const n of cuts) {
          const e = await expectBytesRejected(file.subarray(0, n), ["ECORRUPT"], n % 7 === 0);
          if (n >= HEADER_BYTES) expect({ n, message: e.message }).toEqual({ n, message: expect.stringMatching(/truncated/) });
        }
        const longer = new Uint8Array(file.length + 1);
        longer.set(file);
        const e = await expectBytesRejected(longer, ["ECORRUPT"]);
        expect(e.message).toContain("1 bytes follow");
      }
    });
  }, 60_000);

  test("every byte of the header, flipped in every bit, is rejected", async () => {
    const { rawBytes } = fixture(52);
    const wrong: string[] = [];
    for (let at = 0; at < HEADER_BYTES; at++)
      for (let bit = 0; bit < 8; bit++) {
        const bad = rawBytes.slice();
        bad[at]! ^= 1 << bit;
        const version = new DataView(bad.buffer).getUint16(FIELD.version, true);
        const expected = (at === 8 || at === 9) && version > FORMAT_VERSION ? "EVERSION" : "ECORRUPT";
        const e = await expectBytesRejected(bad, [expected], bit === 0);
        if (e.code !== expected) wrong.push(`byte ${at} bit ${bit}: ${e.message}`);
      }
    expect(wrong).toEqual([]);
  }, 60_000);

  test("10,000 random single-byte flips across the whole file are all rejected", () => {
    const seed = seeds(1)[0]!;
    return withSeed(seed, () => {
      const r = rng(seed);
      const { rawBytes, zstdBytes } = fixture(53, 1 * MiB, 60);
      const wrong: string[] = [];
      for (const [file, flips] of [
        [rawBytes, 10_000],
        [zstdBytes, 2_000],
      ] as const) {
        const p = pathFor("flip");
        writeFileSync(p, file);
        const fd = openSync(p, "r+");
        try {
          for (let i = 0; i < flips; i++) {
            const at = r.int(0, file.length - 1);
            const old = file[at]!;
            const now = old ^ r.int(1, 255);
            writeSync(fd, Uint8Array.of(now), 0, 1, at);
            let code = "none";
            let message = "";
            try {
              target.restore(Snapshot.loadSync(p));
              target.restore(targetSnap);
            } catch (e) {
              code = e instanceof HeapError ? e.code : String(e);
              message = (e as Error).message;
            }
            const version = at === 8 ? now | (file[9]! << 8) : at === 9 ? file[8]! | (now << 8) : 1;
            const expected = version > FORMAT_VERSION ? "EVERSION" : "ECORRUPT";
            if (code !== expected) wrong.push(`offset ${at}: ${old} -> ${now}: ${code} ${message}`);
            if (target.checksum() !== targetSum) wrong.push(`offset ${at}: ${old} -> ${now}: the target heap changed`);
            writeSync(fd, Uint8Array.of(old), 0, 1, at);
          }
        } finally {
          closeSync(fd);
        }
        expect(same(readFileSync(p), file)).toBe(true);
        expect(Snapshot.loadSync(p).byteLength).toBeGreaterThan(0);
      }
      expect(wrong.slice(0, 20)).toEqual([]);
      expect(target.checksum()).toBe(targetSum);
      expect(target.check()).toBe(0);
    });
  }, 120_000);

  test("wrong magic, and files that are not snapshots, are ECORRUPT", async () => {
    const { rawBytes } = fixture(54);
    const bad = rawBytes.slice();
    bad.set(new TextEncoder().encode("PRIVHEAP"), 0);
    expect((await expectBytesRejected(bad, ["ECORRUPT"])).message).toContain("magic");
    expect((await expectBytesRejected(reseal(bad), ["ECORRUPT"])).message).toContain("magic");
    await expectBytesRejected(new Uint8Array(0), ["ECORRUPT"]);
    await expectBytesRejected(new TextEncoder().encode("hello, world\n"), ["ECORRUPT"]);
    await expectBytesRejected(Uint8Array.from({ length: 5000 }, (_, i) => (i * 131) & 0xff), ["ECORRUPT"]);
    await expectBytesRejected(Uint8Array.from(MAGIC), ["ECORRUPT"]);
  });

  test("a newer format version is EVERSION, with or without a valid header checksum; version 0 is ECORRUPT", async () => {
    const { rawBytes } = fixture(55);
    for (const v of [2, 3, 0xffff]) {
      const e = await expectBytesRejected(setU16(rawBytes.slice(), FIELD.version, v), ["EVERSION"]);
      expect(e.message).toContain(`version ${v}`);
      await expectBytesRejected(reseal(setU16(rawBytes.slice(), FIELD.version, v)), ["EVERSION"]);
    }
    await expectBytesRejected(reseal(setU16(rawBytes.slice(), FIELD.version, 0)), ["ECORRUPT"]);
  });

  test("another native ABI, another page size, unknown flags or codec are EVERSION (header checksum valid)", async () => {
    const { rawBytes } = fixture(56);
    const abi = NATIVE_CONSTANTS.PH_ABI_VERSION;
    const cases: [string, Uint8Array, string][] = [
      ["ABI + 1", setU32(rawBytes.slice(), FIELD.abi, abi + 1), "ABI"],
      ["ABI 0", setU32(rawBytes.slice(), FIELD.abi, 0), "ABI"],
      ["page size 16384", setU32(rawBytes.slice(), FIELD.pageSize, 16384), "page size"],
      ["page size 65536", setU32(rawBytes.slice(), FIELD.pageSize, 65536), "page size"],
      ["flags", setU32(rawBytes.slice(), FIELD.flags, 1), "flags"],
      ["codec 2", setU16(rawBytes.slice(), FIELD.codec, 2), "codec"],
    ];
    for (const [name, file, word] of cases) {
      const e = await expectBytesRejected(reseal(file.slice()), ["EVERSION"]);
      expect({ name, message: e.message }).toEqual({ name, message: expect.stringContaining(word) });
      // Without resealing, the header checksum rejects it first.
      await expectBytesRejected(file.slice(), ["ECORRUPT"], false);
    }
  });

  test("inconsistent lengths with a valid header checksum are ECORRUPT", async () => {
    const { rawBytes, zstdBytes, snap } = fixture(57, 8 * MiB, 300);
    const used = snap.byteLength;
    const stored = getU64(rawBytes, FIELD.storedPages);
    const cases: [string, Uint8Array][] = [
      ["used - 1 page", setU64(rawBytes.slice(), FIELD.usedBytes, used - PAGE)],
      ["used + 1 page", setU64(rawBytes.slice(), FIELD.usedBytes, used + PAGE)],
      ["used + 8 pages", setU64(rawBytes.slice(), FIELD.usedBytes, used + 8 * PAGE)],
      ["used not whole pages", setU64(rawBytes.slice(), FIELD.usedBytes, used + 1)],
      ["used 0", setU64(rawBytes.slice(), FIELD.usedBytes, 0)],
      ["used > region", setU64(rawBytes.slice(), FIELD.usedBytes, 16 * MiB)],
      ["used 2^63", setU64(rawBytes.slice(), FIELD.usedBytes, 2n ** 63n)],
      ["region 0", setU64(rawBytes.slice(), FIELD.regionBytes, 0)],
      ["region not whole pages", setU64(rawBytes.slice(), FIELD.regionBytes, 8 * MiB + 100)],
      ["region above 4 GiB", setU64(rawBytes.slice(), FIELD.regionBytes, 2 ** 32 + PAGE)],
      ["region other than the heap's", setU64(rawBytes.slice(), FIELD.regionBytes, 16 * MiB)],
      ["stored - 1", setU64(rawBytes.slice(), FIELD.storedPages, stored - 1)],
      ["stored + 1", setU64(rawBytes.slice(), FIELD.storedPages, stored + 1)],
      ["stored > used pages", setU64(rawBytes.slice(), FIELD.storedPages, used / PAGE + 1)],
      ["data bytes - 1", setU64(rawBytes.slice(), FIELD.dataBytes, stored * PAGE - 1)],
      ["data bytes + page", setU64(rawBytes.slice(), FIELD.dataBytes, (stored + 1) * PAGE)],
      ["data bytes 2^60", setU64(rawBytes.slice(), FIELD.dataBytes, 2n ** 60n)],
      ["zstd data bytes - 1", setU64(zstdBytes.slice(), FIELD.dataBytes, getU64(zstdBytes, FIELD.dataBytes) - 1)],
      ["zstd stored + 1", setU64(zstdBytes.slice(), FIELD.storedPages, stored + 1)],
      ["raw data marked zstd", setU16(rawBytes.slice(), FIELD.codec, 1)],
      ["zstd data marked raw", setU16(zstdBytes.slice(), FIELD.codec, 0)],
    ];
    for (const [name, file] of cases) {
      const e = await expectBytesRejected(reseal(file), ["ECORRUPT"]);
      expect({ name, checksum: /header checksum/.test(e.message) }).toEqual({ name, checksum: false });
    }
  });

  test("a damaged page map with a valid header is ECORRUPT", async () => {
    const { rawBytes } = fixture(58);
    const mapLen = Math.ceil(getU64(rawBytes, FIELD.usedBytes) / PAGE / 8);
    // A bit past the used pages, with the map checksum recomputed: the map check itself rejects it.
    const pages = getU64(rawBytes, FIELD.usedBytes) / PAGE;
    if (pages % 8 !== 0) {
      const bad = rawBytes.slice();
      bad[HEADER_BYTES + mapLen - 1]! |= 0x80;
      setU64(bad, FIELD.mapChecksum, Bun.hash.xxHash3(bad.subarray(HEADER_BYTES, HEADER_BYTES + mapLen)));
      expect((await expectBytesRejected(reseal(bad), ["ECORRUPT"])).message).toContain("past the used prefix");
    }
    // Two bits swapped (same count), map checksum recomputed: the data checksum rejects it.
    const bad = rawBytes.slice();
    const map = bad.subarray(HEADER_BYTES, HEADER_BYTES + mapLen);
    const one = map.findIndex((b, i) => i > 0 && b !== 0 && b !== 0xff); // past the heap header's pages
    expect(one).toBeGreaterThanOrEqual(0);
    const b = map[one]!;
    const set = b & -b;
    const clear = (~b & 0xff) & -(~b & 0xff);
    map[one] = (b & ~set) | clear;
    setU64(bad, FIELD.mapChecksum, Bun.hash.xxHash3(map));
    expect((await expectBytesRejected(reseal(bad), ["ECORRUPT"])).message).toContain("data checksum");
  });

  test("a bad zstd stream is ECORRUPT even with valid checksums: damaged, a second frame, a lying size, a bomb", async () => {
    const { snap, zstdBytes } = fixture(59);
    const original = snap.checksum();
    const mapEnd = HEADER_BYTES + Math.ceil(snap.byteLength / PAGE / 8);
    const frame = zstdBytes.subarray(mapEnd);
    /** The file with `data` as its zstd data, every checksum valid: only the frame checks and the decoder can object. */
    const withData = (data: Uint8Array): Uint8Array => {
      const out = new Uint8Array(mapEnd + data.length);
      out.set(zstdBytes.subarray(0, mapEnd));
      out.set(data, mapEnd);
      setU64(out, FIELD.dataBytes, data.length);
      setU64(out, FIELD.dataChecksum, Bun.hash.xxHash3(data));
      return reseal(out);
    };
    // Without the resealing, any change is caught by the data checksum before decoding.
    const flipped = zstdBytes.slice();
    flipped[mapEnd + 4]! ^= 0x10; // a bit of the frame header that zstd decoders ignore
    expect((await expectBytesRejected(flipped, ["ECORRUPT"])).message).toContain("data checksum");
    // Damaged frames that carry valid checksums (crafted, not accidental: the data
    // checksum catches accidents): rejected, or decoded to other bytes that must
    // then pass the full native check, as any crafted file must. Never a crash.
    let rejected = 0;
    let loadedOther = 0;
    for (let i = 0; i < frame.length; i += i < 64 || i >= frame.length - 16 ? 1 : 97) {
      const d = frame.slice();
      d[i]! ^= 0x41;
      const p = pathFor("zbad");
      writeFileSync(p, withData(d));
      try {
        const loaded = Snapshot.loadSync(p);
        const h = heapOf();
        h.restore(loaded);
        expect({ i, check: h.check() }).toEqual({ i, check: 0 });
        if (loaded.checksum() !== original) loadedOther++;
        h.close();
      } catch (e) {
        expect({ i, error: e instanceof HeapError ? e.code : String(e) }).toEqual({ i, error: "ECORRUPT" });
        rejected++;
        if (i < 9) expect(target.checksum()).toBe(targetSum); // magic, frame header, size: always rejected
      }
      if (i < 9) expect({ i, rejected }).toEqual({ i, rejected: i + 1 });
    }
    expect(rejected + loadedOther).toBeGreaterThan(0);
    expect(target.checksum()).toBe(targetSum);
    // A second frame after the first.
    const two = new Uint8Array(frame.length * 2);
    two.set(frame);
    two.set(frame, frame.length);
    expect((await expectBytesRejected(withData(two), ["ECORRUPT"])).message).toContain("follow the zstd frame");
    // The first half of the frame only.
    expect((await expectBytesRejected(withData(frame.slice(0, frame.length >> 1)), ["ECORRUPT"])).message).toContain("truncated");
    // A valid frame of the right size holding other pages: its first blocks decode, and the heap header check rejects it.
    const stored = getU64(zstdBytes, FIELD.storedPages);
    const other = new Uint8Array(stored * PAGE).fill(7);
    expect((await expectBytesRejected(withData(Bun.zstdCompressSync(other)), ["ECORRUPT"])).message).toContain("heap header");
    // The same with the real header pages first: the whole frame decodes, then the native heap check rejects it.
    other.set(snap.bytes.subarray(0, 2 * PAGE));
    expect((await expectBytesRejected(withData(Bun.zstdCompressSync(other)), ["ECORRUPT"])).message).toContain("not a usable heap snapshot");
    // A frame declaring fewer or more bytes than the header needs.
    for (const pages of [stored - 1, stored + 1]) {
      const e = await expectBytesRejected(withData(Bun.zstdCompressSync(new Uint8Array(pages * PAGE).fill(1))), ["ECORRUPT"]);
      expect(e.message).toContain("declares");
    }
    // A bomb: a size field that promises 2^40 bytes; rejected before decoding.
    const bomb = frame.slice();
    const fhd = bomb[4]!;
    expect(fhd >>> 6).toBe(2); // the writer's frames carry a 4-byte content size
    bomb[4] = fhd | 0xc0; // an 8-byte size field instead
    // Refused by the declared size, so no decoder ran.
    expect((await expectBytesRejected(withData(bomb), ["ECORRUPT"])).message).toContain("the zstd frame declares");
    // A frame that needs a dictionary, and one that does not declare its size.
    const dict = frame.slice();
    dict[4] = fhd | 0x01;
    expect((await expectBytesRejected(withData(dict), ["ECORRUPT"])).message).toContain("dictionary");
    const nosize = frame.slice();
    nosize[4] = fhd & 0x1f & ~0x20;
    await expectBytesRejected(withData(nosize), ["ECORRUPT"]);
    // Random bytes that start like a frame.
    const r = rng(59);
    const noise = Uint8Array.from({ length: 4000 }, () => r.int(0, 255));
    noise.set(frame.subarray(0, 9));
    await expectBytesRejected(withData(noise), ["ECORRUPT"]);
    expect(target.check()).toBe(0);
  });

  test("valid checksums around broken heap metadata: the full native check rejects it (ECORRUPT)", async () => {
    const seed = seeds(1)[0]!;
    await withSeed(seed, async () => {
      const r = rng(seed);
      const { snap } = fixture(60);
      const image = snap.bytes;
      const pages = image.length / PAGE;
      // The document's encoder is faithful: the undamaged image loads.
      const good = pathFor();
      writeFileSync(good, encodeFromSpec(image, snap.regionSize));
      expect(Snapshot.loadSync(good).checksum()).toBe(snap.checksum());
      // Damage page-map entries (16 bytes per page from byte 8192) until the native check rejects the image.
      let damaged: Uint8Array | undefined;
      for (let attempt = 0; attempt < 2000 && damaged === undefined; attempt++) {
        const img = image.slice();
        const at = 8192 + 16 * r.int(0, pages - 1) + r.int(0, 15);
        img[at]! ^= 1 << r.int(0, 7);
        try {
          Snapshot.fromBytes(img);
        } catch (e) {
          if (e instanceof HeapError && e.code === "ECORRUPT") damaged = img;
        }
      }
      expect(damaged).toBeDefined();
      for (const level of [0, 3]) {
        const e = await expectBytesRejected(encodeFromSpec(damaged!, snap.regionSize, level), ["ECORRUPT"]);
        expect(e.message).toContain("not a usable heap snapshot");
        expect(e.message).not.toContain("checksum");
      }
    });
  });
});

// ---- the document ----------------------------------------------------------------

describe("docs/snapshot-format.md", () => {
  test("the header table lists every field at the offset and size the code uses", () => {
    const rows = [...readFileSync(DOC, "utf8").matchAll(/^\| (\d+) \| (\d+) \| (u8\[8\]|u16|u32|u64) \| `(\w+)` \|/gm)];
    const fromDoc = Object.fromEntries(rows.map((m) => [m[4]!, Number(m[1])]));
    expect(fromDoc).toEqual({ ...FIELD });
    // Each field ends where the next begins, and the last ends at HEADER_BYTES.
    for (let i = 0; i < rows.length; i++) {
      const end = Number(rows[i]![1]) + Number(rows[i]![2]);
      expect(end).toBe(i + 1 < rows.length ? Number(rows[i + 1]![1]) : HEADER_BYTES);
    }
  });

  test("the example's header fields (before the checksums) are what saveSync writes for that heap", () => {
    const heap = heapOf(MiB);
    const off = heap.malloc(16);
    heap.u32[off >>> 2] = 42;
    heap.setRoot("player", off);
    const p = pathFor();
    heap.snapshot().saveSync(p);
    const bytes = readFileSync(p);
    const hex = [...readFileSync(DOC, "utf8").matchAll(/^000000[0-4]0: ((?:[0-9a-f]{4} ){8})/gm)].map((m) => m[1]!.replaceAll(" ", "")).join("");
    expect(hex.length).toBe(2 * HEADER_BYTES);
    // The checksums depend on every byte of the heap's header; the fields before them on its size only.
    expect(bytes.subarray(0, FIELD.mapChecksum).toString("hex")).toBe(hex.slice(0, 2 * FIELD.mapChecksum));
    expect(bytes.length).toBe(12369);
  });
});

describe("close during a save", () => {
  test("closing a snapshot while its async save runs leaves the save whole; the snapshot is ECLOSED", async () => {
    using heap = PrivateHeap.create({ size: 32 * MiB });
    const data = heap.malloc(12 * MiB);
    heap.u8.fill(9, data, data + 12 * MiB);
    const snap = heap.snapshot();
    const sum = snap.checksum();
    const path = join(dir, `closing-${fileSeq++}.phsnap`);
    const saving = snap.save(path, { fsync: false });
    snap.close();
    await saving;
    expect(Snapshot.loadSync(path).checksum()).toBe(sum);
    expectCode(() => snap.checksum(), "ECLOSED");
  });
});
