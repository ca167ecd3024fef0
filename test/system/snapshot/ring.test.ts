// SnapshotRing: save every frame, load any frame held, in both modes,
// against checksums recorded when each frame was saved.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../../src/heap.ts";
import { SnapshotRing, type SnapshotRingOptions } from "../../../src/snapshot/ring.ts";
import { expectCode, expectUnchanged } from "../../support/expect.ts";
import { rng, type Rng } from "../../support/random.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";

const MiB = 1 << 20;
const heapOf = heapsClosedAfterEach(8 * MiB);

/** One simulated frame: allocate, free and write a few random places. */
function step(heap: PrivateHeap, live: number[], r: Rng): void {
  for (let k = r.int(0, 6); k > 0; k--) {
    if (live.length > 0 && r.int(0, 2) === 0) heap.free(live.splice(r.int(0, live.length - 1), 1)[0]!);
    else {
      const n = r.int(0, 8) === 0 ? r.int(5000, 200_000) : r.int(1, 900);
      const off = heap.malloc(n);
      heap.u8.fill(r.int(1, 255), off, off + Math.min(n, 64));
      live.push(off);
    }
  }
  if (live.length > 0) {
    const off = live[r.int(0, live.length - 1)]!;
    heap.u8[off] = r.int(0, 255);
  }
}

/** The live offsets as they were at a frame (restored alongside the heap). */
function scenario(mode: SnapshotRingOptions["mode"], seed: number, options: Partial<SnapshotRingOptions> = {}, heap = heapOf()): SnapshotRing {
  const ring = SnapshotRing.create(heap, { capacity: 16, mode, ...options });
  const r = rng(seed);
  const sums = new Map<number, bigint>();
  const lives = new Map<number, number[]>();
  let live: number[] = [];
  let frame = 0;
  for (let i = 0; i < 400; i++) {
    step(heap, live, r);
    frame++;
    ring.save(frame);
    sums.set(frame, heap.checksum());
    lives.set(frame, live.slice());
    expect(ring.newest).toBe(frame);
    if (r.int(0, 9) === 0 && ring.size > 1) {
      // Change some more without saving, then rewind to a held frame.
      step(heap, live, r);
      const oldest = ring.oldest!;
      const back = r.int(oldest, frame);
      ring.load(back);
      expect(heap.checksum(), `seed ${seed} step ${i}: load(${back})`).toBe(sums.get(back)!);
      expect(heap.check()).toBe(0);
      expect(ring.newest).toBe(back);
      expect(ring.oldest).toBe(oldest);
      if (back < frame) expect(ring.has(back + 1)).toBe(false);
      frame = back;
      live = lives.get(back)!.slice();
    }
  }
  // Everything still held loads correctly, newest first.
  for (let f = ring.newest!; f >= ring.oldest!; f--) {
    ring.load(f);
    expect(heap.checksum(), `seed ${seed}: final load(${f})`).toBe(sums.get(f)!);
  }
  expect(heap.check()).toBe(0);
  // And the heap goes on working from there.
  for (const off of lives.get(ring.newest!)!) heap.free(off);
  expect(heap.stats().liveCount).toBe(0);
  return ring;
}

/** calloc of `n` bytes returns zeros (no stale bytes above a restored touched mark). */
function expectCallocZero(heap: PrivateHeap, n: number, what: string): void {
  const z = heap.calloc(1, n);
  expect(heap.u8.subarray(z, z + n).every((b) => b === 0), what).toBe(true);
  heap.free(z);
}

describe("SnapshotRing", () => {
  for (const mode of ["delta", "full"] as const) {
    test(`${mode}: seeded simulation, random rewinds, every load gives the saved checksum`, () => {
      for (const seed of [1, 2, 3]) scenario(mode, seed);
    });
  }

  test("delta: with a small undo log, each save either keeps every frame or is ENOMEM and changes nothing", () => {
    const seed = 9;
    const heap = heapOf();
    const ring = SnapshotRing.create(heap, { capacity: 16, logBytes: 40 * 4096 });
    const r = rng(seed);
    const sums = new Map<number, bigint>();
    const live: number[] = [];
    let refused = 0;
    for (let frame = 1; frame <= 300; frame++) {
      step(heap, live, r);
      const before = [ring.size, ring.oldest, ring.newest, ring.storedBytes];
      try {
        ring.save(frame);
        sums.set(frame, heap.checksum());
        expect(ring.size, `seed ${seed} frame ${frame}`).toBe(Math.min(before[0]! + 1, 16));
      } catch (e) {
        expect((e as { code?: string }).code, `seed ${seed} frame ${frame}`).toBe("ENOMEM");
        expect([ring.size, ring.oldest, ring.newest, ring.storedBytes]).toEqual(before);
        refused++;
        ring.clear(); // start over from here
        ring.save(frame);
        sums.set(frame, heap.checksum());
      }
    }
    expect(refused).toBeGreaterThan(0); // the log is small enough to matter
    for (let f = ring.newest!; f >= ring.oldest!; f--) {
      ring.load(f);
      expect(heap.checksum(), `seed ${seed}: load(${f})`).toBe(sums.get(f)!);
    }
    expect(heap.check()).toBe(0);
  });

  test("capacity 16 on a 4 MiB heap whose state changes 2 MiB per frame keeps 16 frames, each loads", () => {
    const heap = heapOf(4 * MiB);
    const data = heap.malloc(2 * MiB);
    const ring = SnapshotRing.create(heap, { capacity: 16 });
    const sums = new Map<number, bigint>();
    for (let f = 1; f <= 40; f++) {
      heap.u8.fill(f, data, data + 2 * MiB);
      ring.save(f);
      sums.set(f, heap.checksum());
      expect(ring.size).toBe(Math.min(f, 16));
    }
    expect([ring.oldest, ring.newest]).toEqual([25, 40]);
    for (let f = 40; f >= 25; f--) {
      ring.load(f);
      expect(heap.checksum(), `load(${f})`).toBe(sums.get(f)!);
      expect(heap.u8[data + 12345]).toBe(f);
    }
    expect(heap.check()).toBe(0);
    // Its memory is what 15 frames of 2 MiB changes and the shadow need, and says so.
    expect(ring.reservedBytes).toBeGreaterThanOrEqual(15 * 2 * MiB);
    expect(ring.reservedBytes).toBeLessThan(2 * (15 * 2 * MiB + heap.usedBytes));
  });

  test("a save that would drop a frame inside capacity (logBytes too small) is ENOMEM, and the ring and heap are unchanged", () => {
    const heap = heapOf(4 * MiB);
    const data = heap.malloc(2 * MiB);
    const ring = SnapshotRing.create(heap, { capacity: 16, logBytes: 5 * MiB });
    const sums: bigint[] = [];
    for (let f = 1; f <= 3; f++) {
      heap.u8.fill(f, data, data + 2 * MiB);
      ring.save(f);
      sums.push(heap.checksum());
    }
    heap.u8.fill(4, data, data + 2 * MiB);
    const before = heap.u8.slice(0, heap.usedBytes);
    const e = expectCode(() => ring.save(4), "ENOMEM");
    expect(e.message).toContain("logBytes");
    expect(Buffer.compare(Buffer.from(heap.u8.subarray(0, heap.usedBytes)), Buffer.from(before))).toBe(0);
    expect([ring.size, ring.oldest, ring.newest]).toEqual([3, 1, 3]);
    for (let f = 3; f >= 1; f--) {
      ring.load(f);
      expect(heap.checksum()).toBe(sums[f - 1]!);
    }
    expect(heap.check()).toBe(0);
  });

  test("a save whose own change is larger than logBytes is ENOMEM and keeps the frames held", () => {
    const heap = heapOf(4 * MiB);
    const data = heap.malloc(2 * MiB);
    const ring = SnapshotRing.create(heap, { capacity: 4, logBytes: 64 * 4096 });
    heap.u8[data] = 1;
    ring.save(1);
    const sum = heap.checksum();
    heap.u8.fill(2, data, data + 2 * MiB);
    expectCode(() => ring.save(2), "ENOMEM");
    expect([ring.size, ring.newest]).toEqual([1, 1]);
    ring.load(1);
    expect(heap.checksum()).toBe(sum);
  });

  test("reservedBytes is the memory the ring holds, and follows what changes, not the heap's size", () => {
    const heap = heapOf(64 * MiB);
    const data = heap.malloc(MiB);
    const delta = SnapshotRing.create(heap, { capacity: 8 });
    const full = SnapshotRing.create(heap, { capacity: 8, mode: "full" });
    expect(delta.reservedBytes).toBeLessThan(MiB);
    expect(full.reservedBytes).toBeLessThan(MiB);
    for (let f = 1; f <= 20; f++) {
      heap.u8[data + (f % 8) * 4096] = f; // one page per frame
      delta.save(f);
      full.save(f);
      expect(delta.storedBytes).toBeLessThanOrEqual(delta.reservedBytes);
      expect(full.storedBytes).toBeLessThanOrEqual(full.reservedBytes);
    }
    // Delta: the shadow of the used prefix and a few undo pages; full: 8 copies of it.
    expect(delta.reservedBytes).toBeLessThan(2 * heap.usedBytes + 64 * 4096);
    expect(full.reservedBytes).toBeGreaterThanOrEqual(8 * heap.usedBytes);
    expect(full.reservedBytes).toBeLessThan(8 * 2 * heap.usedBytes + 64 * 4096);
  });

  test("oldest, newest, has, size and capacity", () => {
    const heap = heapOf();
    const ring = SnapshotRing.create(heap, { capacity: 3 });
    expect(ring.oldest).toBeUndefined();
    expect(ring.newest).toBeUndefined();
    expect(ring.size).toBe(0);
    expect(ring.capacity).toBe(3);
    for (const f of [10, 11, 12, 13]) ring.save(f);
    expect([ring.oldest, ring.newest, ring.size]).toEqual([11, 13, 3]);
    expect([ring.has(10), ring.has(11), ring.has(13), ring.has(14)]).toEqual([false, true, true, false]);
    ring.save(12); // replaces 12 and 13 (a new timeline from 12)
    expect([ring.oldest, ring.newest, ring.size]).toEqual([11, 12, 2]);
    ring.clear();
    expect(ring.size).toBe(0);
  });

  test("capacity 1 keeps the newest frame, in both modes", () => {
    for (const mode of ["delta", "full"] as const) {
      const heap = heapOf();
      const ring = SnapshotRing.create(heap, { capacity: 1, mode });
      const hp = heap.malloc(8);
      for (let f = 1; f <= 3; f++) {
        heap.u8[hp] = f;
        ring.save(f);
      }
      heap.u8[hp] = 9;
      expect([ring.size, ring.oldest]).toEqual([1, 3]);
      ring.load(3);
      expect(heap.u8[hp]).toBe(3);
      expect(heap.check()).toBe(0);
    }
  });

  test("a rewind across heap growth leaves no stale bytes for calloc", () => {
    for (const mode of ["delta", "full"] as const) {
      const heap = heapOf();
      const ring = SnapshotRing.create(heap, { capacity: 4, mode });
      heap.malloc(100);
      ring.save(1);
      const big = heap.malloc(3 * MiB);
      heap.u8.fill(0xee, big, big + 3 * MiB);
      heap.free(big);
      ring.save(2);
      const bigger = heap.malloc(4 * MiB);
      heap.u8.fill(0xdd, bigger, bigger + 4 * MiB);
      ring.load(1);
      const z = heap.calloc(1, 5 * MiB);
      expect(heap.u8.subarray(z, z + 5 * MiB).every((b) => b === 0), mode).toBe(true);
      expect(heap.check()).toBe(0);
    }
  });

  describe("heap files (every page counts as touched)", () => {
    const dir = mkdtempSync(join(tmpdir(), "privheap-ring-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    let seq = 0;
    const fileHeap = (size: number) => PrivateHeap.open(join(dir, `r${seq++}.phheap`), { size, create: true });

    test("delta: loads give the saved checksums, and the ring holds the used prefix, not the file", () => {
      for (const seed of [4, 5]) {
        using heap = fileHeap(64 * MiB);
        expect(heap.stats().touchedBytes).toBe(heap.size);
        const ring = scenario("delta", seed, {}, heap);
        // The shadow and undo pages: a few MiB of used prefix, not the 64 MiB file.
        expect(ring.storedBytes).toBeLessThan(heap.size / 4);
      }
    });

    test("a rewind leaves stale bytes above the used prefix only where calloc clears them", () => {
      using heap = fileHeap(16 * MiB);
      const ring = SnapshotRing.create(heap, { capacity: 4 });
      heap.malloc(100);
      ring.save(1);
      const sum1 = heap.checksum();
      const big = heap.malloc(3 * MiB);
      heap.u8.fill(0xee, big, big + 3 * MiB);
      ring.save(2);
      const bigger = heap.malloc(4 * MiB);
      heap.u8.fill(0xdd, bigger, bigger + 4 * MiB);
      ring.load(1);
      expect(heap.checksum()).toBe(sum1);
      expect(heap.check()).toBe(0);
      expectCallocZero(heap, 10 * MiB, "after load(1)");
    });

    test("after a restore lowers the touched mark, the ring zeroes what is above it on a load", () => {
      using heap = fileHeap(16 * MiB);
      const ring = SnapshotRing.create(heap, { capacity: 8 });
      const first = heap.malloc(2 * MiB);
      heap.u8.fill(7, first, first + 2 * MiB);
      ring.save(1);
      const sum1 = heap.checksum();
      using small = PrivateHeap.create({ size: 16 * MiB });
      small.setRoot("x", small.malloc(64));
      heap.restore(small.snapshot()); // the touched mark is now the small heap's
      expect(heap.stats().touchedBytes).toBeLessThan(heap.size);
      ring.save(2);
      const sum2 = heap.checksum();
      const big = heap.malloc(6 * MiB);
      heap.u8.fill(0xdd, big, big + 6 * MiB);
      heap.free(big);
      ring.save(3);
      const unsaved = heap.malloc(8 * MiB); // changes above the mark, never saved
      heap.u8.fill(0xcc, unsaved, unsaved + 8 * MiB);
      ring.load(2);
      expect(heap.checksum()).toBe(sum2);
      expect(heap.check()).toBe(0);
      expect(heap.stats().touchedBytes).toBeLessThan(heap.size);
      // Above the touched mark the header promises zeros, and calloc trusts it.
      expectCallocZero(heap, 12 * MiB, "after load(2)");
      ring.load(1);
      expect(heap.checksum()).toBe(sum1);
      expect(heap.check()).toBe(0);
      expectCallocZero(heap, 8 * MiB, "after load(1)");
    });
  });

  test("bad arguments and closed heaps fail with their codes, and change nothing", () => {
    const heap = heapOf();
    heap.malloc(10);
    const ring = SnapshotRing.create(heap, { capacity: 2 });
    ring.save(5);
    heap.malloc(20);
    expectUnchanged(heap, () => ring.load(4), "EINVAL");
    expectUnchanged(heap, () => ring.save(1.5), "EINVAL");
    expectUnchanged(heap, () => ring.save(Number.NaN), "EINVAL");
    expect(ring.newest).toBe(5);
    for (const capacity of [0, -1, 1.5, Number.NaN, undefined])
      expectCode(() => SnapshotRing.create(heap, { capacity: capacity as number }), "EINVAL");
    expectCode(() => SnapshotRing.create(heap, { capacity: 2, mode: "fast" as never }), "EINVAL");
    expectCode(() => SnapshotRing.create(heap, { capacity: 2, logBytes: 100 }), "EINVAL");
    heap.close();
    expectCode(() => ring.save(6), "ECLOSED");
    expectCode(() => ring.load(5), "ECLOSED");
    expectCode(() => SnapshotRing.create(heap, { capacity: 2 }), "ECLOSED");
  });

  test("close gives the memory back and every method after it is ECLOSED", () => {
    const heap = heapOf();
    const data = heap.malloc(64 * 1024);
    for (const mode of ["delta", "full"] as const) {
      const ring = SnapshotRing.create(heap, { capacity: 4, mode });
      for (let f = 1; f <= 3; f++) {
        heap.u8.fill(f, data, data + 64 * 1024);
        ring.save(f);
      }
      expect(ring.reservedBytes).toBeGreaterThan(0);
      const before = heap.checksum();
      ring.close();
      ring.close(); // idempotent
      expect(ring.closed).toBe(true);
      expect([ring.reservedBytes, ring.storedBytes, ring.size, ring.oldest, ring.newest]).toEqual([0, 0, 0, undefined, undefined]);
      expect(heap.checksum()).toBe(before); // the heap is untouched
      const proto = SnapshotRing.prototype as unknown as Record<string, unknown>;
      const methods = Object.getOwnPropertyNames(proto).filter(
        (name) => name !== "constructor" && name !== "close" && typeof Object.getOwnPropertyDescriptor(proto, name)!.value === "function",
      );
      expect(methods.sort()).toEqual(["clear", "get", "has", "load", "save"]); // a new method joins this list and the check below
      for (const name of methods) {
        const e = expectCode(() => (ring as unknown as Record<string, (f: number) => unknown>)[name]!(1), "ECLOSED");
        expect(e.op).toBe(`SnapshotRing.${name}`);
      }
      expect(heap.check()).toBe(0);
    }
    let disposed: SnapshotRing | undefined;
    {
      using ring = SnapshotRing.create(heap, { capacity: 2 });
      ring.save(1);
      disposed = ring;
    }
    expect(disposed.closed).toBe(true);
    expect(disposed.reservedBytes).toBe(0);
    // Checked by tsc: create is the only way to make a ring.
    // @ts-expect-error the constructor is private
    const typeOnly = () => new SnapshotRing(heap, "delta", 1, 4096);
    expect(typeof typeOnly).toBe("function");
  });

  test("delta mode stores about what changed, full mode a copy per frame", () => {
    const heap = heapOf(16 * MiB);
    const data = heap.malloc(4 * MiB);
    heap.u8.fill(1, data, data + 4 * MiB);
    const delta = SnapshotRing.create(heap, { capacity: 10 });
    const full = SnapshotRing.create(heap, { capacity: 10, mode: "full" });
    for (let f = 1; f <= 10; f++) {
      heap.u8[data + f * 4096 * 7] = f; // one page per frame
      delta.save(f);
      full.save(f);
    }
    // The shadow's non-zero pages (the touched prefix; zero pages share one) plus one undo page per older frame.
    let nonZero = 0;
    for (let p = 0; p < Math.ceil(heap.stats().touchedBytes / 4096); p++) if (heap.u8.subarray(p * 4096, (p + 1) * 4096).some((b) => b !== 0)) nonZero++;
    expect(delta.storedBytes).toBe((nonZero + 9) * 4096);
    expect(full.storedBytes).toBe(10 * heap.usedBytes);
  });
});

describe("SnapshotRing.save and a damaged header", () => {
  for (const mode of ["delta", "full"] as const) {
    test(`${mode}: a write through offset 0 is ECORRUPT at the save, which keeps nothing; put back, saving goes on`, () => {
      const heap = heapOf();
      const ring = SnapshotRing.create(heap, { capacity: 4, mode });
      const x = heap.malloc(64);
      heap.u8[x] = 1;
      ring.save(1);
      const good = heap.u8.slice(0, 8);
      heap.f64[0] = 2.5; // a struct field written through the null offset
      heap.u8[x] = 2;
      const e = expectCode(() => ring.save(2), "ECORRUPT");
      expect(e.message).toContain("offset 0");
      expect(ring.newest).toBe(1);
      expect(ring.has(2)).toBe(false);
      heap.u8.set(good, 0);
      ring.save(2);
      ring.load(1);
      expect(heap.u8[x]).toBe(1);
      expect(heap.check()).toBe(0);
      ring.close();
    });
  }
});

describe("SnapshotRing.get", () => {
  /** The used prefix of `heap`, as bytes to compare. */
  const prefix = (heap: PrivateHeap) => Buffer.from(heap.u8.subarray(0, heap.usedBytes));

  /**
   * Two heaps run the same seeded frames (with rewinds), each with its own
   * ring; get() of every held frame from the first ring into a third heap
   * gives the bytes load() of that frame gives the second heap, and the
   * first ring and heap stay as they were.
   */
  function compareWithLoad(mode: "delta" | "full", seed: number): void {
    const heaps = [heapOf(), heapOf()];
    const rings = heaps.map((h) => SnapshotRing.create(h, { capacity: 16, mode }));
    const sums = new Map<number, bigint>();
    const runs = heaps.map(() => ({ r: rng(seed), live: [] as number[], lives: new Map<number, number[]>() }));
    let frame = 0;
    const rewinds = rng(seed ^ 0x5bd1e995);
    for (let i = 0; i < 150; i++) {
      frame++;
      for (let k = 0; k < 2; k++) {
        const run = runs[k]!;
        step(heaps[k]!, run.live, run.r);
        rings[k]!.save(frame);
        run.lives.set(frame, run.live.slice());
      }
      sums.set(frame, heaps[0]!.checksum());
      if (rewinds.int(0, 11) === 0 && rings[0]!.size > 1) {
        const back = rewinds.int(rings[0]!.oldest!, frame);
        for (let k = 0; k < 2; k++) {
          rings[k]!.load(back);
          runs[k]!.live = runs[k]!.lives.get(back)!.slice();
        }
        frame = back;
      }
    }
    // Changes never saved: get must not read the heap.
    step(heaps[0]!, runs[0]!.live, runs[0]!.r);
    const [heap, ring] = [heaps[0]!, rings[0]!];
    const region = heap.u8.slice();
    const held = [ring.size, ring.oldest, ring.newest, ring.storedBytes];
    const into = heapOf();
    for (let k = 0; k < 50; k++) into.malloc(1 + ((k * 7919) % 300_000)); // something to replace
    const order: number[] = [];
    for (let f = ring.oldest!; f <= ring.newest!; f++) order.push(f);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rewinds.int(0, i);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const f of order) {
      ring.get(f, into);
      expect(into.checksum(), `seed ${seed} get(${f})`).toBe(sums.get(f)!);
      expect(into.check()).toBe(0);
    }
    // Against load: newest first, so each load keeps the frames still to compare.
    for (let f = ring.newest!; f >= ring.oldest!; f--) {
      ring.get(f, into);
      rings[1]!.load(f);
      expect(Buffer.compare(prefix(into), prefix(heaps[1]!)), `seed ${seed} get(${f}) against load(${f})`).toBe(0);
      expectCallocZero(into, 4 * MiB, `seed ${seed} after get(${f})`);
    }
    // The ring and its heap are as they were: same bytes, same frames, each still loads.
    expect(Buffer.compare(Buffer.from(heap.u8), Buffer.from(region)), `seed ${seed}: the ring's heap changed`).toBe(0);
    expect([ring.size, ring.oldest, ring.newest, ring.storedBytes]).toEqual(held);
    for (let f = ring.newest!; f >= ring.oldest!; f--) {
      ring.load(f);
      expect(heap.checksum(), `seed ${seed}: load(${f}) after the gets`).toBe(sums.get(f)!);
    }
    expect(heap.check()).toBe(0);
  }

  for (const mode of ["delta", "full"] as const) {
    test(`${mode}: get(frame) of seeded frames equals load(frame) of a twin ring, and leaves the ring and its heap unchanged`, () => {
      for (const seed of [11, 12, 13]) compareWithLoad(mode, seed);
    });
  }

  test("a save after get goes on from the heap, not from the frame read", () => {
    const heap = heapOf();
    const into = heapOf();
    const ring = SnapshotRing.create(heap, { capacity: 4 });
    const hp = heap.malloc(8);
    for (let f = 1; f <= 3; f++) {
      heap.u32[hp >>> 2] = f;
      ring.save(f);
    }
    ring.get(1, into);
    expect(into.u32[hp >>> 2]).toBe(1);
    heap.u32[hp >>> 2] = 4;
    ring.save(4);
    for (const f of [4, 3, 2, 1]) {
      ring.get(f, into);
      expect(into.u32[hp >>> 2]).toBe(f);
      ring.load(f);
      expect(heap.u32[hp >>> 2]).toBe(f);
    }
  });

  test("a frame not held, another heap's size, the ring's own heap and closed rings or heaps fail with their codes, and change nothing", () => {
    for (const mode of ["delta", "full"] as const) {
      const heap = heapOf();
      const ring = SnapshotRing.create(heap, { capacity: 2, mode });
      heap.malloc(100);
      ring.save(1);
      heap.malloc(200);
      ring.save(2);
      const into = heapOf();
      into.malloc(300);
      expectUnchanged(into, () => ring.get(3, into), "EINVAL");
      expectUnchanged(into, () => ring.get(1.5, into), "EINVAL");
      expectUnchanged(heap, () => ring.get(1, heap), "EINVAL");
      expectCode(() => ring.get(1, {} as PrivateHeap), "EINVAL");
      const small = heapOf(4 * MiB);
      expectUnchanged(small, () => ring.get(1, small), "ESIZE");
      const closed = heapOf();
      closed.close();
      expectCode(() => ring.get(1, closed), "ECLOSED");
      expect([ring.size, ring.oldest, ring.newest]).toEqual([2, 1, 2]);
      ring.close();
      expectUnchanged(into, () => ring.get(2, into), "ECLOSED");
    }
  });
});
