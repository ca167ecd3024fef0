// A process that mirrors a heap to a file and syncs it once, for the kill
// suite (test/system/heap-mirror.test.ts), which kills it at each of its
// system calls.
// Usage: bun mirror-child.ts <path>; prints "created" once the mirror file
// holds state A, "syncing B" before the sync to B (a few pages: the
// journal), "synced B" after it, then "syncing C" and "synced C" around the
// sync to C (most pages: a new file renamed over the path).
import { writeSync } from "node:fs";
import { HeapMirror } from "../../src/heap-mirror.ts";
import { PrivateHeap } from "../../src/heap.ts";

/** State A: the same bytes in every process (a few allocations, scattered fills). */
export function buildA(heap: PrivateHeap): void {
  const a = heap.malloc(300_000);
  for (let i = 0; i < 300_000; i += 97) heap.u8[a + i] = (i >>> 7) | 1;
  heap.setRoot("a", a);
  const b = heap.malloc(40_000);
  heap.u8.fill(3, b, b + 40_000);
  heap.setRoot("b", b);
}

/** State B from A: a few changed pages in several runs, a freed block and a little growth of the used prefix. */
export function toB(heap: PrivateHeap): void {
  const a = heap.getRoot("a");
  for (let i = 0; i < 300_000; i += 4096 * 5) heap.u8[a + i] = heap.u8[a + i]! ^ 0xff;
  heap.free(heap.getRoot("b"));
  heap.setRoot("b", 0);
  const c = heap.malloc(20_000);
  heap.u8.fill(9, c, c + 20_000);
  heap.setRoot("c", c);
}

/** State C from B: the used prefix more than doubles. */
export function toC(heap: PrivateHeap): void {
  const d = heap.malloc(1_000_000);
  heap.u8.fill(11, d, d + 1_000_000);
  heap.setRoot("d", d);
}

if (import.meta.main) {
  const path = process.argv[2]!;
  const heap = PrivateHeap.create({ size: 8 << 20 });
  buildA(heap);
  const mirror = HeapMirror.create(heap, path);
  writeSync(1, "created\n");
  toB(heap);
  writeSync(1, "syncing B\n");
  mirror.sync();
  writeSync(1, "synced B\n");
  toC(heap);
  writeSync(1, "syncing C\n");
  mirror.sync();
  writeSync(1, "synced C\n");
}
