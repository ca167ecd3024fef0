import { afterEach, expect, test } from "bun:test";
import { PrivateHeap } from "../../src/heap.ts";
import { Snapshot } from "../../src/snapshot/snapshot.ts";
import { expectCode } from "../support/expect.ts";

const heaps: PrivateHeap[] = [];
afterEach(() => {
  for (const h of heaps.splice(0)) h.close();
});

/** Byte offset of the header's leaf directory (struct ph_heap in csrc/internal.h); dir[0] is always 2. */
const DIR = 2384;

test("a snapshot whose leaf directory names one leaf twice is ECORRUPT, in fromBytes and in restore", () => {
  const heap = PrivateHeap.create({ size: 16 << 20 });
  heaps.push(heap);
  heap.malloc(500 * 4096);
  heap.malloc(1000 * 4096); // a run over map chunks 1 and 2: their leaves read alike
  const bytes = heap.snapshot().bytes.slice();
  const view = new DataView(bytes.buffer);
  expect(view.getUint32(DIR, true)).toBe(2); // the layout this test assumes
  expect(view.getUint32(DIR + 8, true)).toBeGreaterThan(view.getUint32(DIR + 4, true)); // three leaves
  expect(Snapshot.fromBytes(bytes).byteLength).toBe(bytes.length); // sound as taken
  view.setUint32(DIR + 8, view.getUint32(DIR + 4, true), true);
  expectCode(() => Snapshot.fromBytes(bytes), "ECORRUPT");
  const target = PrivateHeap.create({ size: 16 << 20 });
  heaps.push(target);
  const off = target.malloc(100);
  expectCode(() => target.restore(Snapshot.fromBytes(bytes)), "ECORRUPT");
  expect(target.usableSize(off)).toBeGreaterThanOrEqual(100); // the target is unchanged
  expect(target.check()).toBe(0);
});
