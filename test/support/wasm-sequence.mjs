// A fixed sequence of allocator calls and writes, in plain JavaScript so
// Node runs it unchanged: on any heap with PrivateHeap's allocation methods
// (a PrivateHeap, a WasmHeap), its summary as JSON-ready values.
export function runSequence(heap) {
  const offsets = [];
  const live = [];
  let x = 12345;
  const next = (n) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % n;
  };
  for (let i = 0; i < 2000; i++) {
    const roll = next(10);
    if (roll < 4 && live.length > 0) {
      heap.free(live.splice(next(live.length), 1)[0]);
    } else if (roll < 5 && live.length > 0) {
      const j = next(live.length);
      live[j] = heap.realloc(live[j], 1 + next(40000));
      offsets.push(live[j]);
    } else if (roll < 6) {
      const off = heap.calloc(1 + next(8), 1 + next(1000));
      live.push(off);
      offsets.push(off);
    } else {
      const size = [16, 64, 256, 4096][next(4)] + next(3000);
      const off = heap.malloc(size);
      heap.u8.fill(i & 255, off, off + Math.min(size, 100));
      live.push(off);
      offsets.push(off);
    }
    if (i === 1000) {
      heap.reset();
      live.length = 0;
    }
  }
  return { offsets, usedBytes: heap.usedBytes, stats: heap.stats(), checksum: String(heap.checksum()) };
}
