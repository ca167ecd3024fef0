/**
 * A small deterministic simulation for replay tests: a table of 64 slots
 * under the root "table", each holding one allocation that a tick frees
 * and replaces by one of a size its input chooses, then stamps.
 *
 * It runs on heaps restored from hostile replay files too, so it checks
 * what it reads (a root or slot may point anywhere): bad offsets end the
 * step or reach the heap as a HeapError (free of a non-allocation is
 * EBADPTR), never a JS error.
 */
import type { PrivateHeap } from "../../src/heap.ts";

export const SLOTS = 64;

/** Give `heap` the simulation's table (before recording). */
export function setUp(heap: PrivateHeap): void {
  heap.setRoot("table", heap.calloc(SLOTS, 4));
}

/** One tick: input[0] picks the slot, input[1] the size. */
export function step(heap: PrivateHeap, input: Uint8Array, tick: number): void {
  const table = heap.getRoot("table");
  if (table === 0 || table % 4 !== 0 || table + SLOTS * 4 > heap.size) return;
  const at = (table >>> 2) + ((input[0] ?? 0) % SLOTS);
  const old = heap.u32[at]!;
  if (old !== 0) heap.free(old);
  heap.u32[at] = 0;
  const size = 8 + (((input[1] ?? 0) * 37 + tick) % 3000);
  const off = heap.malloc(size);
  heap.u32[at] = off;
  heap.u8.fill(tick & 255, off, off + Math.min(size, 64));
}

/** The input of tick t of a recording seeded by `seed`: 2 to 9 bytes. */
export function inputOf(seed: number, t: number): Uint8Array {
  const n = 2 + ((seed + t * 7) % 8);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (Math.imul(seed ^ (t * 2654435761), i + 1) >>> 3) & 255;
  return out;
}

export default step;

/** Pages of the block the heavy simulation stamps: keyframes of about a MiB, so a kill often lands inside one. */
export const HEAVY_PAGES = 256;

/** Give `heap` the heavy simulation's state: the table and a block under the root "big". */
export function setUpHeavy(heap: PrivateHeap): void {
  setUp(heap);
  heap.setRoot("big", heap.calloc(HEAVY_PAGES, 4096));
}

/** A tick of the simulation that also stamps every page of the block, so each keyframe stores them all. */
export function heavyStep(heap: PrivateHeap, input: Uint8Array, tick: number): void {
  step(heap, input, tick);
  const big = heap.getRoot("big");
  if (big === 0 || big % 4096 !== 0 || big + HEAVY_PAGES * 4096 > heap.size) return;
  for (let p = 0; p < HEAVY_PAGES; p++) heap.u32[(big >>> 2) + p * 1024 + (tick % 1024)] = tick ^ (input[0] ?? 0) ^ p;
}
