// Rings and replays on the WebAssembly backend, in lockstep with the native
// one: the same seeded run (allocations, frees, struct-like writes) on a
// native heap and a WebAssembly heap gives the same ring frames, the same
// replay file bytes, the same seeks, verifies and divergence reports, and
// images cross between the backends. A ring save on a WebAssembly heap
// copies the pages that changed, compares the pages it covers, and never
// stages a frame in the module's memory (pageWork counts the pages).
// Seeds are fresh each run; PRIVHEAP_SEED=<n> replays one.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type HeapOptions, PrivateHeap } from "../../../src/heap.ts";
import type { HeapReport } from "../../../src/inspect/report.ts";
import { pageWork } from "../../../src/snapshot/pages.ts";
import { Replay, type StepFn } from "../../../src/snapshot/replay.ts";
import { SnapshotRing, type SnapshotRingOptions } from "../../../src/snapshot/ring.ts";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { wasmBackend } from "../../../src/wasm/default-backend.ts";
import { rng, type Rng, seeds } from "../../support/random.ts";

const MiB = 1 << 20;
const PAGE = 4096;
const SIZE = 8 * MiB;
type Kind = NonNullable<HeapOptions["backend"]>;

const open: PrivateHeap[] = [];
afterEach(() => {
  for (const h of open.splice(0)) if (!h.closed) h.close();
});
const dir = mkdtempSync(join(tmpdir(), "privheap-wasm-replay-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

function heap(backend: Kind, size = SIZE): PrivateHeap {
  const h = PrivateHeap.create({ size, backend });
  open.push(h);
  return h;
}

/** The heap's used prefix, copied. */
function prefix(h: PrivateHeap): Uint8Array {
  return h.u8.slice(0, h.usedBytes);
}

/** 256 entity slots (f64 offsets) under the root "slots", and a word no step writes under "tag". */
function setup(h: PrivateHeap): void {
  h.setRoot("slots", h.calloc(256, 8));
  h.setRoot("tag", h.calloc(1, 8));
}

/**
 * One deterministic tick (reads only the heap, the input and the tick):
 * each input byte frees, allocates or writes the fields of one entity
 * (u32 id, f64 position, a byte run), with now and then a large one.
 */
const step: StepFn = (h, input, t) => {
  const slots = h.getRoot("slots") >>> 3;
  for (let i = 0; i < input.length; i++) {
    const b = input[i]!;
    const s = slots + ((b * 7 + i) & 255);
    const off = h.f64[s]!;
    if (off !== 0 && b % 5 === 0) {
      h.free(off);
      h.f64[s] = 0;
    } else if (off === 0) {
      const size = b % 29 === 0 ? 20_000 + ((b * 977 + t * 13) % 90_000) : 24 + ((b * 31 + t) % 700);
      const p = h.malloc(size);
      h.u32[p >>> 2] = t * 256 + b;
      h.f64[(p >>> 3) + 1] = t * 1.5 + i;
      h.u8.fill(b, p + 16, p + Math.min(size, 80));
      h.f64[s] = p;
    } else {
      h.u32[(off >>> 2) + 1] = (h.u32[(off >>> 2) + 1]! + b) >>> 0;
      h.f64[(off >>> 3) + 1] = h.f64[(off >>> 3) + 1]! * 0.5 + b;
    }
  }
};

/** A report's data: its fields without the lookup functions (closures over each report's own arrays). */
function dataOf(report: HeapReport): object {
  return Object.fromEntries(Object.entries(report).filter(([, v]) => typeof v !== "function"));
}

function inputOf(r: Rng): Uint8Array {
  return Uint8Array.from({ length: r.int(4, 16) }, () => r.int(0, 255));
}

/** Both heaps hold the same bytes and checksum. */
function expectSame(a: PrivateHeap, b: PrivateHeap): bigint {
  expect(b.usedBytes).toBe(a.usedBytes);
  expect(Buffer.from(prefix(b)).equals(Buffer.from(prefix(a)))).toBe(true);
  const sum = a.checksum();
  expect(b.checksum()).toBe(sum);
  return sum;
}

describe.each(["delta", "full"] as SnapshotRingOptions["mode"][])("SnapshotRing (%s) on both backends in lockstep", (mode) => {
  test.each(seeds(2))("seed %d: saves, loads back, gets across backends, and survives the memory growing", (seed) => {
    const r = rng(seed);
    const nat = heap("native");
    const wasm = heap("wasm");
    setup(nat);
    setup(wasm);
    using rn = SnapshotRing.create(nat, { capacity: 8, mode });
    using rw = SnapshotRing.create(wasm, { capacity: 8, mode });
    const sums = new Map<number, bigint>();
    let frame = 0;
    for (let round = 0; round < 120; round++) {
      const input = inputOf(r);
      step(nat, input, frame);
      step(wasm, input, frame);
      frame++;
      rn.save(frame);
      rw.save(frame);
      sums.set(frame, expectSame(nat, wasm));
      expect(rw.storedBytes).toBe(rn.storedBytes);
      if (round === 60) {
        // Another heap grows the module's memory: the ring's heap gets new views, which the ring must read.
        const grow = heap("wasm", 32 * MiB);
        grow.malloc(16 * MiB);
      }
      if (round % 17 === 16) {
        const back = r.int(0, Math.min(7, rw.size - 1));
        frame = rn.newest! - back;
        rn.load(frame);
        rw.load(frame);
        expect(expectSame(nat, wasm)).toBe(sums.get(frame)!);
        expect(wasm.check()).toBe(0);
        expect(rw.newest).toBe(frame);
      }
      if (round % 23 === 22) {
        // A frame read out of each ring into a heap of the other backend.
        const f = rn.oldest! + r.int(0, rn.size - 1);
        const intoWasm = heap("wasm");
        const intoNat = heap("native");
        rn.get(f, intoWasm);
        rw.get(f, intoNat);
        expect(expectSame(intoNat, intoWasm)).toBe(sums.get(f)!);
        intoWasm.close();
        intoNat.close();
      }
    }
    expect(dataOf(wasm.inspect())).toEqual(dataOf(nat.inspect()));
    expect(nat.check()).toBe(0);
    expect(wasm.check()).toBe(0);
  });
});

describe("ring save and load cost on a WebAssembly heap", () => {
  test("a save copies the pages that changed and compares only the pages the ring covers, with no memory staged", () => {
    const h = heap("wasm", 64 * MiB);
    const block = h.malloc(4 * MiB); // pages [block/4096, +1024)
    h.u8.fill(1, block, block + 4 * MiB);
    using ring = SnapshotRing.create(h, { capacity: 4 });
    ring.save(1);
    const covered = Math.ceil(h.stats().touchedBytes / PAGE);
    const memory = wasmBackend().core.buffer.byteLength;
    const first = block / PAGE + 3;
    for (const changed of [1, 10, 40]) {
      const before = { ...pageWork };
      for (let k = 0; k < changed; k++) h.u8[(first + 7 * k) * PAGE + 100]! ^= 0xff;
      ring.save(ring.newest! + 1);
      expect(pageWork.copied - before.copied).toBe(changed);
      expect(pageWork.compared - before.compared).toBe(covered);
      expect(covered).toBeLessThan(h.size / PAGE / 8); // the touched part, not the 64 MiB region
    }
    // A load writes back the pages its frames changed: 40 + 10 pages to reach frame 2.
    const before = { ...pageWork };
    ring.load(2);
    expect(pageWork.copied - before.copied).toBe(50);
    expect(wasmBackend().core.buffer.byteLength).toBe(memory);
  });
});

/** Record `ticks` ticks of the seeded run on `h`; returns the file's path. */
function record(h: PrivateHeap, inputs: Uint8Array[], compress: boolean): string {
  const path = join(dir, `r${files++}.phreplay`);
  setup(h);
  using rec = Replay.record(path, h, { keyframeEvery: 8, compress });
  inputs.forEach((input, t) => {
    step(h, input, t);
    rec.tick(input);
  });
  return path;
}

describe("Replay on both backends", () => {
  test.each(seeds(2))("seed %d: the same file bytes, seeks, verifies, divergences and keyframes", (seed) => {
    const r = rng(seed);
    const inputs = Array.from({ length: 60 }, () => inputOf(r));
    for (const compress of [false, true]) {
      const nat = heap("native");
      const wasm = heap("wasm");
      const pn = record(nat, inputs, compress);
      const pw = record(wasm, inputs, compress);
      expectSame(nat, wasm);
      expect(Buffer.from(readFileSync(pw)).equals(readFileSync(pn))).toBe(true);
      using replay = Replay.openSync(pw);
      for (const t of [-1, 0, 7, 8, 23, r.int(0, 59), 59]) {
        const a = heap("native");
        const b = heap("wasm");
        replay.seek(t, a, step);
        replay.seek(t, b, step);
        const sum = expectSame(a, b);
        if (t >= 0) expect(sum).toBe(replay.checksum(t));
        a.close();
        b.close();
      }
      for (const kind of ["native", "wasm"] as const) {
        const v = replay.verify(heap(kind), step);
        expect(v.ok).toBe(true);
      }
      // A step that goes wrong at one tick is found at that tick on both, with the same diff.
      const bad = r.int(1, 55); // a keyframe follows it (the last is after tick 55)
      const wrong: StepFn = (h, input, t, ctx) => {
        step(h, input, t, ctx);
        const tag = h.getRoot("tag") >>> 2;
        if (t === bad) h.u32[tag] = h.u32[tag]! ^ 1;
      };
      const vn = replay.verify(heap("native"), wrong);
      const vw = replay.verify(heap("wasm"), wrong);
      expect(vn.firstDivergentTick).toBe(bad);
      expect(vw.firstDivergentTick).toBe(bad);
      expect(vw.actual).toBe(vn.actual);
      expect(vw.diffTick).toBe(vn.diffTick);
      expect(vw.diffAgainst).toBe(vn.diffAgainst);
      expect(vw.diff).toEqual(vn.diff);
      expect(vn.diff!.changedBytes).toBeGreaterThan(0);
      // A keyframe restored on either backend.
      const key = replay.keyframe(31);
      const a = heap("native");
      const b = heap("wasm");
      a.restore(key);
      b.restore(key);
      expect(expectSame(a, b)).toBe(replay.checksum(31));
      // Snapshots cross: one from each heap into the other, and from bytes.
      a.restore(Snapshot.fromBytes(b.snapshot().bytes));
      b.restore(a.snapshot());
      expectSame(a, b);
      expect(dataOf(b.inspect())).toEqual(dataOf(a.inspect()));
      expect(dataOf(b.snapshot().inspect())).toEqual(dataOf(a.inspect()));
      expect(Object.keys(dataOf(a.inspect())).length).toBeGreaterThan(5);
      for (const h of [nat, wasm, a, b]) expect(h.check()).toBe(0);
    }
  });
});
