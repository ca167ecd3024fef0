/**
 * bench/js/mixed-heap.ts - the heap the inspect and page benchmarks look
 * at: half its live bytes in small allocations (16 B to 2 KiB, every size
 * class of that range, skewed small) and half in large ones (16 KiB to
 * 2 MiB), about a fifth of each freed again as it fills, so it has free
 * runs and partly used small runs, as a heap that has lived a while. The
 * same seed makes the same heap every run.
 */
import type { PrivateHeap } from "../../src/heap.ts";

const MiB = 1 << 20;

/** xorshift32: uniform numbers in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** The live allocations `fillMixed` left, small and large. */
export interface MixedLive {
  small: number[];
  large: number[];
}

/** Allocate until `live` bytes are live (half small, half large), freeing a fifth of each kind at random as it goes. */
export function fillMixed(heap: PrivateHeap, live: number): MixedLive {
  const rnd = seededRandom(0x5eed);
  const out: MixedLive = { small: [], large: [] };
  const bytes = { small: 0, large: 0 };
  const add = (kind: keyof MixedLive, size: number): void => {
    const list = out[kind];
    const off = heap.malloc(size);
    list.push(off);
    bytes[kind] += heap.usableSize(off);
    if (rnd() < 0.2) {
      const at = Math.floor(rnd() * list.length);
      bytes[kind] -= heap.usableSize(list[at]!);
      heap.free(list[at]!);
      list[at] = list[list.length - 1]!;
      list.pop();
    }
  };
  while (bytes.small < live / 2 || bytes.large < live / 2) {
    if (bytes.small < live / 2) for (let i = 0; i < 64; i++) add("small", 16 + Math.floor(rnd() * rnd() * 2032));
    if (bytes.large < live / 2) add("large", 16384 + Math.floor(rnd() * rnd() * 2 * MiB));
  }
  return out;
}
