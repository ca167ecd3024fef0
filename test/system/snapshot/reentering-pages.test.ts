// Pages that re-enter the used prefix (freed at the top, or left by a
// reset, then taken again) read as zero, so a heap restored from a copy of
// the used prefix and the heap it was taken from, driven the same way,
// hold the same bytes: malloc returns the same bytes, checksums agree, and
// a replay of such a run verifies.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FrameArena } from "../../../src/frame-arena.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import { SnapshotRing } from "../../../src/snapshot/ring.ts";
import { Replay, type StepFn } from "../../../src/snapshot/replay.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";

const MiB = 1 << 20;
const BLOCK = 256 * 1024;
const heapOf = heapsClosedAfterEach(4 * MiB);
const dir = mkdtempSync(join(tmpdir(), "privheap-reentering-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Fill a block at the top with `value` and free it: the high-water mark falls, the pages keep the bytes. */
function leaveStalePages(heap: PrivateHeap, value: number): void {
  const before = heap.usedBytes;
  const off = heap.malloc(BLOCK);
  heap.u8.fill(value, off, off + BLOCK);
  heap.free(off);
  expect(heap.usedBytes).toBe(before);
  expect(heap.stats().touchedBytes).toBeGreaterThan(before);
}

/** The bytes of a malloc that takes the pages above the mark, none of them written. */
function unwrittenBlock(heap: PrivateHeap): Uint8Array {
  const off = heap.malloc(BLOCK);
  return heap.u8.slice(off, off + BLOCK);
}

const nonZero = (bytes: Uint8Array) => bytes.some((b) => b !== 0);

describe("pages re-entering the used prefix", () => {
  test("malloc of pages freed at the top reads zero, and a restored copy agrees", () => {
    const a = heapOf();
    a.setRoot("keep", a.malloc(100));
    leaveStalePages(a, 0xab);
    const b = heapOf();
    b.restore(a.snapshot());
    expect(b.checksum()).toBe(a.checksum());
    const fromA = unwrittenBlock(a);
    const fromB = unwrittenBlock(b);
    expect(a.checksum()).toBe(b.checksum());
    expect(fromA).toEqual(fromB);
    expect(nonZero(fromA)).toBe(false);
    expect(a.check()).toBe(0);
    expect(b.check()).toBe(0);
  });

  test("malloc after a reset reads zero where the heap was used before", () => {
    const a = heapOf();
    const off = a.malloc(BLOCK);
    a.u8.fill(0x5c, off, off + BLOCK);
    a.reset();
    const b = heapOf();
    b.restore(a.snapshot());
    const fromA = unwrittenBlock(a);
    const fromB = unwrittenBlock(b);
    expect(a.checksum()).toBe(b.checksum());
    expect(fromA).toEqual(fromB);
    expect(nonZero(fromA)).toBe(false);
  });

  test("realloc growing the top allocation in place reads zero past its old end", () => {
    const a = heapOf();
    leaveStalePages(a, 0x77);
    const off = a.malloc(8192);
    const grown = a.realloc(off, BLOCK);
    expect(grown).toBe(off);
    expect(nonZero(a.u8.subarray(off + 8192, off + BLOCK))).toBe(false);
  });

  test.each(["full", "delta"] as const)("a %s ring load, then the same steps give the bytes of a straight run", (mode) => {
    {
      const straight = heapOf();
      leaveStalePages(straight, 0x11);
      const expected = unwrittenBlock(straight);

      const rolled = heapOf();
      leaveStalePages(rolled, 0x11);
      using ring = SnapshotRing.create(rolled, { capacity: 4, mode });
      ring.save(0);
      leaveStalePages(rolled, 0x22); // a predicted frame that is rolled back
      ring.save(1);
      ring.load(0);
      expect(unwrittenBlock(rolled)).toEqual(expected);
      expect(rolled.checksum()).toBe(straight.checksum());
    }
  });

  test("a restore of a delta snapshot, then the same steps give the bytes of a straight run", () => {
    const straight = heapOf();
    leaveStalePages(straight, 0x11);
    const expected = unwrittenBlock(straight);

    const rolled = heapOf();
    leaveStalePages(rolled, 0x11);
    const base = rolled.snapshot();
    const delta = rolled.snapshot({ base });
    leaveStalePages(rolled, 0x22); // a predicted frame that is rolled back
    rolled.restore(delta);
    expect(unwrittenBlock(rolled)).toEqual(expected);
    expect(rolled.checksum()).toBe(straight.checksum());
  });

  test("a recording that takes pages freed before it started verifies, and seeks to the recorded checksums", () => {
    // Each tick allocates a block at the top, writes its first bytes only, and frees it the next tick.
    const step: StepFn = (heap, input, t) => {
      const old = heap.getRoot("block");
      if (old !== 0) {
        heap.free(old);
        heap.setRoot("block", 0);
      }
      if (t % 2 === 0) {
        const off = heap.malloc(BLOCK);
        heap.u8.set(input, off);
        heap.setRoot("block", off);
      }
    };
    const heap = heapOf();
    heap.setRoot("block", 0);
    leaveStalePages(heap, 0xcd);
    const path = join(dir, "stale.phreplay");
    const sums: bigint[] = [];
    {
      using rec = Replay.record(path, heap, { keyframeEvery: 3 });
      for (let t = 0; t < 12; t++) {
        const input = Uint8Array.of(t, t + 1, t + 2);
        step(heap, input, t);
        rec.tick(input);
        sums.push(heap.checksum());
      }
    }
    using replay = Replay.openSync(path);
    const result = replay.verify(heapOf(), step);
    expect(result.firstDivergentTick).toBe(-1);
    expect(result.ok).toBe(true);
    for (let t = 0; t < 12; t++) {
      const at = heapOf();
      replay.seek(t, at, step);
      expect(at.checksum()).toBe(sums[t]!);
      at.close();
    }
  });

  test("a heap file zeroes re-entering pages too", () => {
    using heap = PrivateHeap.open(join(dir, "heap.bin"), { size: 4 * MiB, create: true });
    leaveStalePages(heap, 0x3c);
    expect(nonZero(unwrittenBlock(heap))).toBe(false);
    expect(heap.check()).toBe(0);
  });

  test("zeroReentry: false keeps the old bytes, and a restored copy reads zeros there", () => {
    const a = PrivateHeap.create({ size: 4 * MiB, zeroReentry: false });
    const b = heapOf();
    try {
      leaveStalePages(a, 0x9e);
      b.restore(a.snapshot());
      const fromA = unwrittenBlock(a);
      expect(fromA.every((x) => x === 0x9e)).toBe(true);
      expect(nonZero(unwrittenBlock(b))).toBe(false);
      expect(a.checksum()).not.toBe(b.checksum());
    } finally {
      a.close();
    }
  });

  test("a FrameArena's frames take the pages of the frame before without zeroing them", () => {
    using arena = FrameArena.create({ size: 4 * MiB });
    const first = arena.frame(() => {
      const off = arena.alloc(BLOCK);
      arena.heap.u8.fill(0x42, off, off + BLOCK);
      return off;
    });
    arena.frame(() => {
      const off = arena.alloc(BLOCK);
      expect(off).toBe(first);
      expect(arena.heap.u8[off + BLOCK - 1]).toBe(0x42);
    });
  });
});
