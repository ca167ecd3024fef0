// One fixed HeapMirror run in plain JavaScript, so Bun, Node and Deno run
// it unchanged (test/system/portable/runtimes.test.ts): the same heap
// bytes on any backend, mirrored, changed and synced, so the files the
// runtimes write can be compared byte for byte. `P` is the module
// `import "privheap"` gives.

/** A heap of 8 MiB holding a 3 MiB world: one block of scattered bytes, rooted. */
export function buildWorld(P) {
  const heap = P.PrivateHeap.create({ size: 8 << 20 });
  const a = heap.malloc(3_000_000);
  for (let i = 0; i < 3_000_000; i += 97) heap.u8[a + i] = (i >>> 7) | 1;
  heap.setRoot("world", a);
  return heap;
}

/** Change round `k`: one byte in every 23rd page of the world (about 4% of its pages) and a new small block. */
export function changeWorld(heap, k) {
  const a = heap.getRoot("world");
  for (let i = 64 * k; i < 3_000_000; i += 4096 * 23) heap.u8[a + i] ^= 0x5a + k;
  const b = heap.malloc(1000 + k);
  heap.u8.fill(k + 1, b, b + 1000 + k);
}

/** Mirror `heap` to `path`, sync after two rounds of changes, close: the pages each sync wrote and the heap's checksum (decimal). */
export function mirrorTwoSyncs(P, heap, path) {
  const mirror = P.HeapMirror.create(heap, path);
  changeWorld(heap, 1);
  const first = mirror.sync();
  changeWorld(heap, 2);
  const second = mirror.sync();
  mirror.close();
  return { syncs: [first, second], checksum: String(heap.checksum()) };
}
