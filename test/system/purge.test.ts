// Memory given back (csrc/purge.c): PrivateHeap.create's `purge` option,
// heap.purge(), heap files that never give pages back, and the same
// rings, checksums and snapshots whether the system's tracker or a
// comparison of bytes sees the pages a purge zeroes.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { heapChecksum } from "../../src/checksum.ts";
import { FrameArena, HeapError, PrivateHeap } from "../../src/index.ts";
import { SnapshotRing } from "../../src/snapshot/ring.ts";
import { rng } from "../support/random.ts";

const PAGE = 4096;
const MiB = 1 << 20;

/** Whether bytes [from, to) of the heap are all `v`. */
function allBytes(heap: PrivateHeap, from: number, to: number, v: number): boolean {
  return heap.u8.subarray(from, to).every((b) => b === v);
}

describe("PrivateHeap.create's purge option and heap.purge()", () => {
  test("decay (the default) keeps a few freed pages and purge() gives them back, reading zero", () => {
    using heap = PrivateHeap.create({ size: 64 * MiB });
    const big = heap.malloc(MiB);
    const guard = heap.malloc(PAGE * 2);
    heap.u8.fill(0xab, big, big + MiB);
    heap.u8.fill(0xee, guard, guard + 2 * PAGE);
    heap.free(big);
    expect(heap.stats().dirtyBytes).toBe(MiB); // below the 4 MiB floor of the limit: kept
    expect(allBytes(heap, big, big + MiB, 0xab)).toBe(true);
    expect(heap.purge()).toBe(MiB);
    expect(heap.stats().dirtyBytes).toBe(0);
    expect(allBytes(heap, big, big + MiB, 0)).toBe(true);
    expect(allBytes(heap, guard, guard + 2 * PAGE, 0xee)).toBe(true);
    expect(heap.purge()).toBe(0); // nothing left
    expect(heap.check()).toBe(0);
  });

  test('"now" gives each freed run back at once; "off" never, and purge() then gives back nothing', () => {
    using now = PrivateHeap.create({ size: 16 * MiB, purge: "now" });
    using off = PrivateHeap.create({ size: 16 * MiB, purge: "off" });
    for (const heap of [now, off]) {
      const a = heap.malloc(64 * PAGE);
      heap.malloc(PAGE * 2); // a guard: a is not the top run
      heap.u8.fill(0x5a, a, a + 64 * PAGE);
      heap.free(a);
    }
    expect(now.stats().dirtyBytes).toBe(0);
    expect(off.stats().dirtyBytes).toBe(64 * PAGE);
    expect(off.purge()).toBe(0);
    expect(off.stats().dirtyBytes).toBe(64 * PAGE);
    expect(now.check()).toBe(0);
    expect(off.check()).toBe(0);
  });

  test("an unknown purge option is EINVAL naming PrivateHeap.create", () => {
    for (const purge of ["sometimes", 1, "DECAY"]) {
      let err: unknown;
      try {
        PrivateHeap.create({ size: MiB, purge: purge as never });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HeapError);
      expect((err as HeapError).code).toBe("EINVAL");
      expect((err as HeapError).op).toBe("PrivateHeap.create");
    }
  });

  test("a heap file never gives pages back: its freed bytes stay in the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "privheap-purge-"));
    try {
      using heap = PrivateHeap.open(join(dir, "h.phheap"), { size: 16 * MiB, create: true });
      const a = heap.malloc(2 * MiB);
      heap.malloc(PAGE * 2);
      heap.u8.fill(0x77, a, a + 2 * MiB);
      heap.free(a);
      expect(heap.purge()).toBe(0);
      expect(allBytes(heap, a, a + 2 * MiB, 0x77)).toBe(true);
      expect(heap.check()).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("after freeing everything, usedBytes and dirtyBytes come back down", () => {
    using heap = PrivateHeap.create({ size: 256 * MiB });
    const r = rng(7);
    const live: number[] = [];
    for (let i = 0; i < 4000; i++) live.push(heap.malloc(r.pick([24, 100, 700, 3000, 20_000, 100_000])));
    const peak = heap.usedBytes;
    for (const off of live) heap.free(off);
    const s = heap.stats();
    expect(s.liveCount).toBe(0);
    expect(s.usedBytes).toBeLessThan(peak / 100);
    // Freed with no allocation since: all young, all kept (a frame that frees
    // everything keeps its pages for the next).
    expect(s.dirtyBytes).toBeGreaterThan(64 * MiB);
    // An allocation of pages that leaves them unused makes them old; the free
    // after it leaves at most the limit's floor (the pages in use are few now).
    heap.free(heap.malloc(2 * PAGE));
    expect(heap.stats().dirtyBytes).toBeLessThanOrEqual(4 * MiB);
    heap.purge();
    expect(heap.stats().dirtyBytes).toBe(0);
    expect(heap.stats().touchedBytes).toBe(heap.usedBytes);
    expect(heap.check()).toBe(0);
  });
});

describe("reset gives nothing back; a later free of whole pages does", () => {
  test("a FrameArena's frames never give pages back: the pages each reset leaves keep their bytes", () => {
    using arena = FrameArena.create({ size: 64 * MiB });
    const heap = arena.heap;
    let peak = 0;
    let highest = 0; // the highest byte written
    for (let frame = 0; frame < 40; frame++) {
      arena.beginFrame();
      for (let i = 0; i < 2000; i++) {
        const off = arena.alloc(4096);
        heap.u8.fill(0x99, off, off + 4096);
        highest = Math.max(highest, off + 4095);
      }
      peak = Math.max(peak, heap.usedBytes);
      arena.endFrame();
      const s = heap.stats();
      expect(s.touchedBytes).toBeGreaterThanOrEqual(peak); // nothing above usedBytes went back
      expect(heap.u8[highest]).toBe(0x99);
    }
    expect(heap.stats().dirtyBytes).toBeGreaterThan(4 * MiB); // more than the limit, left for a later free
    // The first free of whole pages gives back what the resets left, down to half the limit.
    const big = heap.malloc(PAGE * 3);
    heap.malloc(8);
    heap.free(big);
    expect(heap.stats().dirtyBytes).toBeLessThanOrEqual(2 * MiB + 3 * PAGE);
    expect(heap.stats().touchedBytes).toBeLessThan(peak);
    expect(heap.u8[highest]).toBe(0);
    expect(heap.check()).toBe(0);
  });
});

describe("pages given back change the bytes alike in a tracked heap and a compared one", () => {
  for (const purge of ["decay", "now"] as const) {
    test(`purge: "${purge}": rings, checksums, snapshots and bytes agree after every step`, { timeout: 120_000 }, () => {
      for (const seed of [31, 32, 33]) {
        const r = rng(seed);
        const heaps = [PrivateHeap.create({ size: 32 * MiB, purge }), PrivateHeap.create({ size: 32 * MiB, purge, tracking: "compare" })];
        const rings = heaps.map((h) => SnapshotRing.create(h, { capacity: 5 }));
        const lives: number[][] = [[], []];
        let frame = 0;
        for (let step = 0; step < 150; step++) {
          const k = r.int(0, 19);
          const state = r.next(); // both heaps get the same random choices
          for (const [i, heap] of heaps.entries()) {
            const rr = rng(Math.floor(state * 2 ** 32));
            const live = lives[i]!;
            if (k < 10) {
              for (let n = rr.int(1, 8); n > 0; n--) {
                if (rr.int(0, 2) > 0 || live.length === 0) {
                  const size = rr.pick([40, 3000, 9000, 70_000, 600_000, 3 * MiB]);
                  try {
                    const off = heap.malloc(size);
                    heap.u8.fill(rr.int(1, 255), off, off + size);
                    live.push(off);
                  } catch {
                    // full: the next op frees
                  }
                } else heap.free(live.splice(rr.int(0, live.length - 1), 1)[0]!);
              }
            } else if (k < 12) heap.purge();
            else if (k < 15) rings[i]!.save(frame + 1);
            else if (k < 17 && rings[i]!.size > 0) {
              rings[i]!.load(rings[i]!.oldest! + Math.floor(state * rings[i]!.size));
              lives[i] = [];
            } else if (k === 17) {
              const snap = heap.snapshot();
              for (const off of live.splice(0, live.length >> 1)) heap.free(off);
              heap.restore(snap);
              lives[i] = [];
            } else if (k === 18) {
              heap.reset();
              lives[i] = [];
            }
          }
          if (k >= 12 && k < 15) frame++;
          if (k >= 15 && k < 17 && rings[0]!.size > 0) frame = rings[0]!.newest!;
          const [a, b] = heaps as [PrivateHeap, PrivateHeap];
          const what = `seed ${seed} step ${step} (op ${k})`;
          expect(b.usedBytes, what).toBe(a.usedBytes);
          expect(b.stats().touchedBytes, what).toBe(a.stats().touchedBytes);
          const full = heapChecksum(a.u8.subarray(0, a.usedBytes));
          expect(a.checksum(), what).toBe(full);
          expect(b.checksum(), what).toBe(full);
          expect(Buffer.compare(a.u8.subarray(0, a.size), b.u8.subarray(0, b.size)), what).toBe(0);
          expect([rings[1]!.size, rings[1]!.oldest, rings[1]!.newest, rings[1]!.storedBytes], what).toEqual([rings[0]!.size, rings[0]!.oldest, rings[0]!.newest, rings[0]!.storedBytes]);
          expect(a.check(), what).toBe(0);
        }
        for (const ring of rings) ring.close();
        for (const heap of heaps) heap.close();
      }
    });
  }
});
