/**
 * The one allocator contract every surface meets (STYLE.md: "one conformance
 * suite run against a fresh heap, a frame arena and a heap restored ..."):
 * run by test/unit/conformance.test.ts against a fresh heap, a frame arena (in a
 * frame, after earlier frames) and a heap after reset.
 */
import { describe, expect, test } from "bun:test";
import { HeapError } from "../../src/errors.ts";
import { expectCode } from "./expect.ts";

/** What the suite needs from an allocator surface. */
export interface Target {
  /** Allocate; returns an offset or throws a HeapError. */
  alloc(size: number): number;
  /** Free, for surfaces with per-allocation free (undefined for a frame arena). */
  free?: (off: number) => void;
  /** Release every allocation at once, for surfaces that free by frame (a frame arena: end the frame, begin the next). */
  releaseAll?: () => void;
  /** Usable size of an allocation, when the surface reports it. */
  usable?: (off: number) => number;
  /** The region's bytes. */
  u8(): Uint8Array;
  /** ph_heap_check: 0 when consistent. */
  check(): number;
  /** Release everything the target holds. */
  dispose(): void;
}

export const BAD_SIZES: unknown[] = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -Number.MIN_VALUE, 2 ** 32, 2 ** 53, "8", null, undefined, 8n];

/** Sizes at interesting edges: tiny, around 8/16-byte alignment, size classes, pages. */
export function edgeSizes(): number[] {
  const s = new Set<number>([0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000, 1024, 1025]);
  for (const p of [4096, 8192, 12288, 14336, 16384, 65536]) for (const d of [-1, 0, 1]) s.add(p + d);
  return [...s];
}

/** Fill [off, off+n) with a byte pattern derived from `tag`, and verify it. */
export function fill(u8: Uint8Array, off: number, n: number, tag: number): void {
  for (let i = 0; i < n; i++) u8[off + i] = (tag * 31 + i) & 255;
}
export function intact(u8: Uint8Array, off: number, n: number, tag: number): boolean {
  for (let i = 0; i < n; i++) if (u8[off + i] !== ((tag * 31 + i) & 255)) return false;
  return true;
}

export function conformance(name: string, make: () => Target): void {
  describe(`conformance: ${name}`, () => {
    test("edge sizes give distinct, aligned, non-overlapping allocations inside the region", () => {
      const t = make();
      try {
        const u8 = t.u8();
        const got: { off: number; size: number }[] = [];
        edgeSizes().forEach((size, tag) => {
          const off = t.alloc(size);
          expect(off).toBeGreaterThan(0);
          expect(off % 8).toBe(0);
          expect(off + size).toBeLessThanOrEqual(u8.length);
          if (t.usable) {
            // The header's rule: aligned to the largest power of two dividing the size class, up to a page.
            const usable = t.usable(off);
            expect(usable).toBeGreaterThanOrEqual(size);
            expect(off % Math.min(usable & -usable, 4096)).toBe(0);
          } else expect(off % 16).toBe(0); // a frame arena aligns every allocation to 16
          fill(u8, off, size, tag);
          got.push({ off, size });
          Bun.gc(true);
        });
        expect(new Set(got.map((g) => g.off)).size).toBe(got.length);
        got.forEach((g, tag) => expect({ off: g.off, ok: intact(u8, g.off, g.size, tag) }).toEqual({ off: g.off, ok: true }));
        expect(t.check()).toBe(0);
      } finally {
        t.dispose();
      }
    });

    test("size 0 gives a unique allocation each time", () => {
      const t = make();
      try {
        const offs = Array.from({ length: 50 }, () => t.alloc(0));
        expect(new Set(offs).size).toBe(50);
        expect(Math.min(...offs)).toBeGreaterThan(0);
        expect(t.check()).toBe(0);
      } finally {
        t.dispose();
      }
    });

    test("a bad size is EINVAL and changes nothing", () => {
      const t = make();
      try {
        const keep = t.alloc(100);
        fill(t.u8(), keep, 100, 9);
        for (const bad of BAD_SIZES) expectCode(() => t.alloc(bad as number), "EINVAL");
        expect(intact(t.u8(), keep, 100, 9)).toBe(true);
        expect(t.check()).toBe(0);
        expect(t.alloc(100)).toBeGreaterThan(0);
      } finally {
        t.dispose();
      }
    });

    test("exhaustion is ENOMEM, leaves the heap consistent and earlier data intact", () => {
      const t = make();
      try {
        const u8 = t.u8();
        const first = t.alloc(64);
        fill(u8, first, 64, 3);
        let n = 0;
        expectCode(() => {
          for (;;) {
            t.alloc(100_000);
            if (++n > 1e6) throw new Error("no ENOMEM after a million allocations");
          }
        }, "ENOMEM");
        expect(n).toBeGreaterThan(0);
        expectCode(() => t.alloc(u8.length), "ENOMEM");
        expect(t.check()).toBe(0);
        expect(intact(u8, first, 64, 3)).toBe(true);
        // Small requests may still fit in the gaps; none may break the heap.
        try {
          for (let i = 0; i < 10_000; i++) t.alloc(16);
        } catch (e) {
          expect((e as HeapError).code).toBe("ENOMEM");
        }
        expect(t.check()).toBe(0);
      } finally {
        t.dispose();
      }
    });

    test("freeing everything (one by one, or the whole frame) makes the space reusable", () => {
      const t = make();
      try {
        const offs: number[] = [];
        try {
          for (;;) offs.push(t.alloc(50_000));
        } catch (e) {
          expect((e as HeapError).code).toBe("ENOMEM");
        }
        expect(offs.length).toBeGreaterThan(100); // most of the region: the fill really filled it
        if (t.free) for (const o of offs) t.free(o);
        else t.releaseAll!();
        expect(t.check()).toBe(0);
        const again: number[] = [];
        for (let i = 0; i < offs.length; i++) again.push(t.alloc(50_000));
        expect(again.length).toBe(offs.length);
        expect(t.check()).toBe(0);
      } finally {
        t.dispose();
      }
    });
  });
}
