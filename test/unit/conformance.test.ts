// One allocator contract, three surfaces.
import { FrameArena } from "../../src/frame-arena.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { conformance, type Target } from "../support/conformance.ts";

const SIZE = 8 << 20;

function heapTarget(heap: PrivateHeap): Target {
  return {
    alloc: (n) => heap.malloc(n),
    free: (o) => heap.free(o),
    resize: (o, _oldSize, n) => heap.realloc(o, n),
    usable: (o) => heap.usableSize(o),
    u8: () => heap.u8,
    check: () => heap.check(),
    dispose: () => heap.close(),
  };
}

conformance("fresh heap", () => heapTarget(PrivateHeap.create({ size: SIZE })));

conformance("heap after reset", () => {
  const heap = PrivateHeap.create({ size: SIZE });
  // Dirty it first: small and large allocations, frees, roots; then reset.
  const offs: number[] = [];
  for (let i = 0; i < 1500; i++) offs.push(heap.malloc((i * 37) % 5000));
  for (let i = 0; i < offs.length; i += 3) heap.free(offs[i]!);
  heap.setRoot("dirty", offs[1]!);
  heap.u8.fill(0xa5, 4096 * 4, heap.usedBytes);
  heap.reset();
  return heapTarget(heap);
});

conformance("heap restored from a snapshot of a busy heap", () => {
  // A busy heap is snapshotted; the target (a larger heap that held other
  // data) is restored from it, then the snapshot's allocations are freed.
  const src = PrivateHeap.create({ size: SIZE });
  const offs: number[] = [];
  for (let i = 0; i < 1000; i++) offs.push(src.malloc((i * 53) % 6000));
  for (let i = 0; i < offs.length; i += 2) src.free(offs[i]!);
  src.setRoot("busy", offs[1]!);
  const snap = src.snapshot();
  src.close();
  const heap = PrivateHeap.create({ size: 2 * SIZE });
  for (let i = 0; i < 300; i++) heap.u8.fill(0x5a, heap.malloc(20_000), heap.usedBytes);
  heap.restore(snap);
  for (let i = 1; i < offs.length; i += 2) heap.free(offs[i]!);
  return heapTarget(heap);
});

conformance("frame arena (third frame, double-buffered)", () => {
  const arena = FrameArena.create({ size: SIZE, buffers: 2 });
  arena.frame((a) => {
    for (let i = 0; i < 500; i++) a.alloc(i * 3);
  });
  arena.frame((a) => a.alloc(100_000));
  arena.beginFrame();
  return {
    alloc: (n) => arena.alloc(n),
    resize: (o, oldSize, n) => arena.realloc(o, oldSize, n),
    releaseAll: () => {
      arena.endFrame();
      arena.beginFrame();
    },
    u8: () => arena.u8,
    check: () => arena.heap.check(),
    dispose: () => arena.close(),
  };
});
