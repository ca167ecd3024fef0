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
  /** Resize an allocation of `oldSize` bytes to `newSize`, keeping its bytes (realloc); returns its offset. */
  resize(off: number, oldSize: number, newSize: number): number;
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

    test("resize keeps the bytes up to the smaller size and leaves other allocations intact; bad sizes are EINVAL, too large is ENOMEM", () => {
      const t = make();
      try {
        const u8 = t.u8();
        let off = t.alloc(10);
        let size = 10;
        fill(u8, off, size, 1);
        const others: [number, number][] = [];
        for (const next of [100, 5000, 70_000, 300, 0, 20_000, 16, 4096]) {
          const moved = t.resize(off, size, next);
          expect(moved).toBeGreaterThan(0);
          expect(moved % 8).toBe(0);
          expect({ size, next, kept: intact(u8, moved, Math.min(size, next), 1) }).toEqual({ size, next, kept: true });
          fill(u8, moved, next, 1);
          [off, size] = [moved, next];
          const other = t.alloc(64);
          fill(u8, other, 64, 10 + others.length);
          others.push([other, 10 + others.length]);
        }
        for (const [o, tag] of others) expect({ o, ok: intact(u8, o, 64, tag) }).toEqual({ o, ok: true });
        for (const bad of BAD_SIZES) expectCode(() => t.resize(off, size, bad as number), "EINVAL");
        expectCode(() => t.resize(off, size, u8.length), "ENOMEM");
        expect(intact(u8, off, size, 1)).toBe(true);
        expect(t.check()).toBe(0);
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
