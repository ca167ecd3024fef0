import { afterEach, expect, test } from "bun:test";
import { PrivateHeap } from "../../src/heap.ts";

const heaps: PrivateHeap[] = [];
afterEach(() => {
  for (const h of heaps.splice(0)) h.close();
});

test("alignedAlloc of 0 bytes is a minimal allocation at every alignment, page alignments included", () => {
  const heap = PrivateHeap.create({ size: 16 << 20 });
  heaps.push(heap);
  const got: number[] = [];
  for (let align = 1; align <= 1 << 20; align *= 2) {
    const off = heap.alignedAlloc(align, 0);
    expect({ align, aligned: off > 0 && off % align === 0 }).toEqual({ align, aligned: true });
    expect(heap.usableSize(off)).toBeGreaterThanOrEqual(1);
    got.push(off);
  }
  expect(new Set(got).size).toBe(got.length);
  for (const off of got) heap.free(off);
  expect(heap.stats().liveCount).toBe(0);
  expect(heap.check()).toBe(0);
});
