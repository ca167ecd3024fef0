// Seeded random operation sequences against a JS model of the heap: after
// every operation check() passes, the counters match the model, and every
// live allocation still holds the bytes written into it. A failure prints the
// seed; replay it with PRIVHEAP_SEED=<seed> bun test test/unit/heap-model.test.ts.
import { describe, expect, test } from "bun:test";
import { HeapError } from "../../src/errors.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { rng, seeds, type Rng } from "../support/random.ts";

interface Live {
  size: number;
  usable: number;
  tag: number;
}

/** Tag the first and last 8 bytes (and one in the middle) of an allocation. */
function stamp(u8: Uint8Array, off: number, size: number, tag: number): void {
  for (let i = 0; i < Math.min(size, 8); i++) u8[off + i] = (tag + i) & 255;
  for (let i = Math.max(0, size - 8); i < size; i++) u8[off + i] = (tag + i) & 255;
  if (size > 16) u8[off + (size >> 1)] = (tag + (size >> 1)) & 255;
}
function stamped(u8: Uint8Array, off: number, size: number, tag: number): boolean {
  const probe = [...Array(Math.min(size, 8)).keys(), ...Array.from({ length: Math.min(size, 8) }, (_, i) => size - 1 - i)];
  if (size > 16) probe.push(size >> 1);
  return probe.every((i) => u8[off + i] === ((tag + i) & 255));
}

function randomSize(r: Rng): number {
  const p = r.next();
  if (p < 0.5) return r.int(0, 256);
  if (p < 0.8) return r.int(257, 16384);
  if (p < 0.97) return r.int(16385, 200_000);
  return r.int(200_001, 2_000_000);
}

function runSequence(seed: number, steps: number): void {
  const r = rng(seed);
  const heap = PrivateHeap.create({ size: 32 << 20, zeroOnFree: r.next() < 0.3 });
  const live = new Map<number, Live>();
  const freed = new Set<number>();
  let tag = 1;
  let step = 0;
  let op = "";
  const pickLive = () => [...live.keys()][r.int(0, live.size - 1)]!;
  const add = (off: number, size: number) => {
    expect(live.has(off)).toBe(false);
    const usable = heap.usableSize(off);
    expect(usable).toBeGreaterThanOrEqual(size);
    for (const [o, l] of live) if (off < o + l.usable && o < off + usable) throw new Error(`overlap: [${off}, +${usable}) and [${o}, +${l.usable})`);
    tag = (tag + 37) & 255;
    stamp(heap.u8, off, size, tag);
    live.set(off, { size, usable, tag });
    freed.delete(off);
  };
  try {
    for (step = 0; step < steps; step++) {
      const p = r.next();
      try {
        if (p < 0.35 || live.size === 0) {
          op = "malloc";
          const size = randomSize(r);
          add(heap.malloc(size), size);
        } else if (p < 0.6) {
          op = "free";
          const off = pickLive();
          heap.free(off);
          live.delete(off);
          freed.add(off);
        } else if (p < 0.7) {
          op = "realloc";
          const off = pickLive();
          const old = live.get(off)!;
          const size = randomSize(r);
          const next = heap.realloc(off, size);
          // The kept prefix moved with the data.
          const keep = Math.min(old.size, size);
          if (keep > 0) expect(heap.u8[next]).toBe(old.tag & 255);
          live.delete(off);
          if (next !== off) freed.add(off);
          add(next, size);
        } else if (p < 0.76) {
          op = "calloc";
          const n = r.int(0, 64);
          const each = r.int(0, 512);
          const off = heap.calloc(n, each);
          for (let i = 0; i < n * each; i += 97) if (heap.u8[off + i] !== 0) throw new Error(`calloc byte ${i} is not zero`);
          add(off, n * each);
        } else if (p < 0.82) {
          op = "alignedAlloc";
          const align = 2 ** r.int(0, 14);
          const size = randomSize(r);
          const off = heap.alignedAlloc(align, size);
          expect(off % align).toBe(0);
          add(off, size);
        } else if (p < 0.86 && freed.size > 0) {
          op = "double free";
          const off = [...freed][r.int(0, freed.size - 1)]!;
          // A freed offset may have been reused by a later allocation of the same start.
          if (!live.has(off)) expect(() => heap.free(off)).toThrow(HeapError);
        } else if (p < 0.9) {
          op = "interior free";
          const off = pickLive();
          const l = live.get(off)!;
          const inner = off + 8 * r.int(1, Math.max(1, l.usable >> 3) - 1 || 1);
          if (inner < off + l.usable && !live.has(inner)) {
            let code = "";
            try {
              heap.free(inner);
            } catch (e) {
              code = (e as HeapError).code;
            }
            expect(code).toBe("EBADPTR");
          }
        } else if (p < 0.93) {
          op = "Bun.gc";
          Bun.gc(true);
        } else if (p < 0.935) {
          op = "reset";
          heap.reset();
          live.clear();
          freed.clear();
        } else {
          op = "verify";
          for (const [off, l] of live) if (!stamped(heap.u8, off, l.size, l.tag)) throw new Error(`allocation at ${off} lost its bytes`);
        }
      } catch (e) {
        if (!(e instanceof HeapError) || e.code !== "ENOMEM") throw e;
      }
      expect(heap.check()).toBe(0);
      const s = heap.stats();
      expect(s.liveCount).toBe(live.size);
      let bytes = 0;
      for (const l of live.values()) bytes += l.usable;
      expect(s.liveBytes).toBe(bytes);
    }
    let walked = 0;
    heap.walk((off, size) => {
      expect(live.get(off)?.usable).toBe(size);
      walked++;
    });
    expect(walked).toBe(live.size);
    for (const [off, l] of live) expect(stamped(heap.u8, off, l.size, l.tag)).toBe(true);
  } catch (e) {
    console.error(`heap model test failed at step ${step} (${op}); replay with PRIVHEAP_SEED=${seed}`);
    throw e;
  } finally {
    heap.close();
  }
}

describe("random operation sequences against a model", () => {
  for (const seed of seeds(6)) test(`seed ${seed}: 1500 operations`, () => runSequence(seed, 1500), 60_000);
});
