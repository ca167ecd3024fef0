import { describe, expect, test } from "bun:test";
import { HeapError } from "../../src/errors.ts";
import { MAX_REGION_SIZE, PAGE_SIZE, PrivateHeap } from "../../src/heap.ts";
import { BAD_SIZES, fill, intact } from "../support/conformance.ts";
import { expectCode, expectUnchanged } from "../support/expect.ts";
import { BACKENDS, heapsClosedAfterEach } from "../support/heaps.ts";

const MiB = 1 << 20;
const heapOf = heapsClosedAfterEach(4 * MiB);

describe("PrivateHeap.create", () => {
  test("a new heap is empty, consistent, generation 1, sized in whole pages", () => {
    const heap = heapOf(4 * MiB + 100);
    expect(heap.size).toBe(4 * MiB);
    expect(heap.u8.length).toBe(heap.size);
    expect(heap.generation).toBe(1);
    expect(heap.check()).toBe(0);
    const s = heap.stats();
    expect(s.liveCount).toBe(0);
    expect(s.liveBytes).toBe(0);
    expect(s.regionBytes).toBe(heap.size);
    expect(s.generation).toBe(1);
    expect(heap.usedBytes).toBe(s.usedBytes);
    expect(heap.usedBytes).toBeGreaterThan(0);
    expect(heap.usedBytes).toBeLessThan(heap.size);
    expect(heap.address % (2 * MiB)).toBe(0);
  });

  test("bad sizes are EINVAL", () => {
    for (const size of [0, -PAGE_SIZE, 1.5 * MiB + 0.5, Number.NaN, Number.POSITIVE_INFINITY, "1048576", null, undefined])
      expectCode(() => PrivateHeap.create({ size: size as number }), "EINVAL");
    expectCode(() => PrivateHeap.create(undefined as never), "EINVAL");
  });

  test("a region below the minimum, or above 4 GiB, is ESIZE", () => {
    expectCode(() => PrivateHeap.create({ size: PAGE_SIZE }), "ESIZE");
    expectCode(() => PrivateHeap.create({ size: MAX_REGION_SIZE + PAGE_SIZE }), "ESIZE");
    const e = expectCode(() => PrivateHeap.create({ size: 2 ** 40 }), "ESIZE");
    expect(e.message).toContain("4 GiB");
  });

  test("the minimum size works and one page less does not", () => {
    let min = PAGE_SIZE;
    while (true) {
      try {
        const h = PrivateHeap.create({ size: min });
        expect(h.check()).toBe(0);
        expect(h.malloc(1)).toBeGreaterThan(0);
        h.close();
        break;
      } catch (e) {
        expect((e as HeapError).code).toBe("ESIZE");
        min += PAGE_SIZE;
        if (min > 64 * PAGE_SIZE) throw new Error("no minimum size found below 64 pages");
      }
    }
    expectCode(() => PrivateHeap.create({ size: min - PAGE_SIZE }), "ESIZE");
  });

  test("a 4 GiB region: views span it and the last byte is usable", () => {
    const heap = heapOf(MAX_REGION_SIZE);
    expect(heap.size).toBe(MAX_REGION_SIZE);
    expect(heap.u8.length).toBe(MAX_REGION_SIZE);
    expect(heap.f64.length).toBe(MAX_REGION_SIZE / 8);
    const big = heap.malloc(heap.maxAlloc);
    const end = big + heap.maxAlloc - 1;
    expect(end).toBeLessThan(MAX_REGION_SIZE);
    heap.u8[end] = 0x5a;
    expect(heap.view.getUint8(end)).toBe(0x5a);
    expect(heap.u32[(big + 8) >>> 2]).toBe(0);
    expect(big).toBeGreaterThan(0);
    heap.free(big);
    expect(heap.check()).toBe(0);
  });

  test("several heaps are independent", () => {
    const a = heapOf();
    const b = heapOf();
    const oa = a.malloc(64);
    a.u8.fill(1, oa, oa + 64);
    const ob = b.malloc(64);
    expect(b.u8[ob]).toBe(0);
    expect(a.address).not.toBe(b.address);
    expectCode(() => b.free(oa + 8), "EBADPTR");
    expect(a.stats().liveCount).toBe(1);
    expect(b.stats().liveCount).toBe(1);
  });
});

// The same tests on each backend: the WebAssembly core must behave as the native one.
describe.each(BACKENDS)("%s backend", (backend) => {
  const heapOf = heapsClosedAfterEach(4 * MiB, backend);

  describe("allocation", () => {
    test("malloc: aligned to the largest power of two dividing the size class (at least 8, at most a page)", () => {
      const heap = heapOf(16 * MiB);
      for (let size = 0; size < 20_000; size += size < 300 ? 1 : 97) {
        const off = heap.malloc(size);
        const usable = heap.usableSize(off);
        expect(usable).toBeGreaterThanOrEqual(Math.max(size, 1));
        const align = Math.min(usable & -usable, PAGE_SIZE);
        expect(align).toBeGreaterThanOrEqual(8);
        expect({ size, usable, rem: off % align }).toEqual({ size, usable, rem: 0 });
      }
      expect(heap.check()).toBe(0);
    });

    test("size classes: usableSize is closed (a request of the usable size gets the same) at every class edge", () => {
      const heap = heapOf(16 * MiB);
      let edges = 0;
      for (let size = 1; size <= 3 * 16384; size = heap.usableSize(heap.malloc(size)) + 1) {
        const usable = heap.usableSize(heap.malloc(size));
        expect(heap.usableSize(heap.malloc(usable))).toBe(usable);
        expect(heap.usableSize(heap.malloc(usable + 1))).toBeGreaterThan(usable);
        edges++;
      }
      expect(edges).toBeGreaterThan(20);
      expect(heap.check()).toBe(0);
    });

    test("page-sized and larger requests are page aligned and page granular", () => {
      const heap = heapOf(16 * MiB);
      for (const size of [16384 + 1, 20000, 65536, 100_000, MiB]) {
        const off = heap.malloc(size);
        expect(off % PAGE_SIZE).toBe(0);
        expect(heap.usableSize(off) % PAGE_SIZE).toBe(0);
        expect(heap.usableSize(off)).toBeLessThan(size + PAGE_SIZE);
      }
      expect(heap.stats().largeCount).toBe(5);
    });

    test("maxAlloc: the whole region in one allocation, and one byte more is ENOMEM", () => {
      const heap = heapOf();
      const max = heap.maxAlloc;
      expect(max).toBeGreaterThan(heap.size - 64 * 1024);
      expectUnchanged(heap, () => heap.malloc(max + 1), "ENOMEM");
      const off = heap.malloc(max);
      heap.u8[off + max - 1] = 7;
      expectUnchanged(heap, () => heap.malloc(1), "ENOMEM");
      heap.free(off);
      expect(heap.check()).toBe(0);
      expect(heap.malloc(max)).toBe(off);
    });

    test("calloc zeroes recycled memory; overflowing products are ENOMEM", () => {
      const heap = heapOf();
      const a = heap.malloc(4000);
      heap.u8.fill(0xff, a, a + 4000);
      heap.free(a);
      const b = heap.calloc(1000, 4);
      for (let i = 0; i < 4000; i++) if (heap.u8[b + i] !== 0) throw new Error(`byte ${i} of calloc memory is ${heap.u8[b + i]}`);
      expect(heap.u8[b + 3999]).toBe(0);
      expectUnchanged(heap, () => heap.calloc(2 ** 31, 2 ** 31), "ENOMEM");
      expectUnchanged(heap, () => heap.calloc(-1, 4), "EINVAL");
      expectUnchanged(heap, () => heap.calloc(4, 0.5), "EINVAL");
    });

    test("realloc keeps contents while growing and shrinking, small to large and back", () => {
      const heap = heapOf(16 * MiB);
      let off = heap.realloc(0, 10);
      fill(heap.u8, off, 10, 1);
      for (const size of [100, 1000, 14336, 20000, 200_000, 5000, 40, 10]) {
        off = heap.realloc(off, size);
        expect(intact(heap.u8, off, 10, 1)).toBe(true);
        expect(heap.usableSize(off)).toBeGreaterThanOrEqual(size);
        expect(heap.check()).toBe(0);
      }
      expect(heap.stats().liveCount).toBe(1);
    });

    test("realloc failures leave the allocation valid and the heap unchanged", () => {
      const heap = heapOf();
      const off = heap.malloc(100);
      fill(heap.u8, off, 100, 4);
      expectUnchanged(heap, () => heap.realloc(off, heap.size), "ENOMEM");
      expectUnchanged(heap, () => heap.realloc(off + 16, 200), "EBADPTR");
      expectUnchanged(heap, () => heap.realloc(off, -5), "EINVAL");
      expect(intact(heap.u8, off, 100, 4)).toBe(true);
      const dead = heap.malloc(8);
      heap.free(dead);
      expectUnchanged(heap, () => heap.realloc(dead, 16), "EDOUBLEFREE");
      expect(heap.usableSize(off)).toBeGreaterThanOrEqual(100);
    });

    test("alignedAlloc honours every power of two up to 64 KiB; other alignments are EINVAL", () => {
      const heap = heapOf(16 * MiB);
      for (let align = 1; align <= 65536; align *= 2) {
        for (const size of [1, 24, 3000, 70_000]) {
          const off = heap.alignedAlloc(align, size);
          expect(off % align).toBe(0);
          expect(heap.usableSize(off)).toBeGreaterThanOrEqual(size);
        }
      }
      for (const bad of [0, 3, 12, 1.5, -8, 2 ** 32, Number.NaN]) expectUnchanged(heap, () => heap.alignedAlloc(bad, 8), "EINVAL");
      expectUnchanged(heap, () => heap.alignedAlloc(8, -1), "EINVAL");
      expect(heap.check()).toBe(0);
    });
  });

  describe("bad input never corrupts (each failure leaves every byte as it was)", () => {
    test("free of an interior offset is EBADPTR", () => {
      const heap = heapOf();
      const a = heap.malloc(64);
      const big = heap.malloc(50_000);
      expectUnchanged(heap, () => heap.free(a + 8), "EBADPTR");
      expectUnchanged(heap, () => heap.free(a + 1), "EBADPTR");
      expectUnchanged(heap, () => heap.free(big + PAGE_SIZE), "EBADPTR");
      expectUnchanged(heap, () => heap.free(big + 16), "EBADPTR");
    });

    test("free of an offset inside the header is EBADPTR", () => {
      const heap = heapOf();
      heap.malloc(10);
      for (const off of [8, 64, PAGE_SIZE]) expectUnchanged(heap, () => heap.free(off), "EBADPTR");
    });

    test("free of an offset in pages never allocated (above the high-water mark) is EBADPTR", () => {
      const heap = heapOf();
      heap.malloc(10);
      expect(heap.stats().touchedBytes).toBe(heap.usedBytes);
      for (const off of [heap.size - PAGE_SIZE, heap.size - 16, heap.usedBytes + PAGE_SIZE]) expectUnchanged(heap, () => heap.free(off), "EBADPTR");
    });

    test("a second free is EDOUBLEFREE, for small and large allocations", () => {
      const heap = heapOf();
      const keep = heap.malloc(32);
      for (const size of [8, 100, 14336, 30_000]) {
        const off = heap.malloc(size);
        heap.free(off);
        expectUnchanged(heap, () => heap.free(off), "EDOUBLEFREE");
        expectUnchanged(heap, () => heap.usableSize(off), "EDOUBLEFREE");
      }
      expect(heap.usableSize(keep)).toBeGreaterThanOrEqual(32);
    });

    test("offsets that are negative, fractional, NaN, not numbers or past the region are EINVAL", () => {
      const heap = heapOf();
      heap.malloc(10);
      for (const off of [-16, 16.5, Number.NaN, Number.POSITIVE_INFINITY, heap.size, heap.size + 16, 2 ** 32, "16", 16n, null])
        for (const op of [() => heap.free(off as number), () => heap.usableSize(off as number), () => heap.realloc(off as number, 8)])
          expectUnchanged(heap, op, "EINVAL");
    });

    test("bad sizes are EINVAL for malloc", () => {
      const heap = heapOf();
      heap.malloc(10);
      for (const size of BAD_SIZES) expectUnchanged(heap, () => heap.malloc(size as number), "EINVAL");
    });

    test("free(0) is a no-op", () => {
      const heap = heapOf();
      const before = heap.stats();
      heap.free(0);
      expect(heap.stats()).toEqual(before);
    });
  });

  describe("reset", () => {
    test("reset discards allocations and roots, increments the generation, keeps the views", () => {
      const heap = heapOf();
      const u8 = heap.u8;
      const empty = heap.usedBytes;
      for (let i = 0; i < 3000; i++) heap.malloc(i % 700);
      heap.malloc(MiB);
      heap.setRoot("r", heap.malloc(8));
      expect(heap.usedBytes).toBeGreaterThan(empty);
      heap.reset();
      expect(heap.generation).toBe(2);
      expect(heap.stats().liveCount).toBe(0);
      expect(heap.stats().mallocCount).toBe(0);
      expect(heap.usedBytes).toBe(empty);
      expect(heap.getRoot("r")).toBe(0);
      expect(heap.check()).toBe(0);
      expect(heap.u8).toBe(u8);
      const off = heap.malloc(100);
      u8[off] = 9;
      expect(heap.u8[off]).toBe(9);
      heap.reset();
      expect(heap.generation).toBe(3);
    });
  });

  describe("named roots", () => {
    test("set, get, overwrite, remove with 0, list", () => {
      const heap = heapOf();
      const a = heap.malloc(8);
      const b = heap.malloc(8);
      heap.setRoot("world", a);
      heap.setRoot("ünïcødé", b);
      expect(heap.getRoot("world")).toBe(a);
      expect(heap.getRoot("ünïcødé")).toBe(b);
      heap.setRoot("world", b);
      expect(heap.getRoot("world")).toBe(b);
      expect(heap.roots()).toEqual({ world: b, "ünïcødé": b });
      heap.setRoot("world", 0);
      expect(heap.getRoot("world")).toBe(0);
      expect(heap.roots()).toEqual({ "ünïcødé": b });
      expect(heap.getRoot("never")).toBe(0);
    });

    test("32 slots, then ENOSPC; a freed slot is reusable", () => {
      const heap = heapOf();
      const off = heap.malloc(8);
      for (let i = 0; i < 32; i++) heap.setRoot(`root${i}`, off);
      expectUnchanged(heap, () => heap.setRoot("one-more", off), "ENOSPC");
      heap.setRoot("root5", 0);
      heap.setRoot("one-more", off);
      expect(Object.keys(heap.roots()).length).toBe(32);
    });

    test("names must be 1..31 bytes of UTF-8 without NUL; offsets must be in the region", () => {
      const heap = heapOf();
      const off = heap.malloc(8);
      heap.setRoot("x".repeat(31), off);
      expect(heap.getRoot("x".repeat(31))).toBe(off);
      for (const name of ["", "x".repeat(32), "é".repeat(16), "a\0b", 42, null])
        expectUnchanged(heap, () => heap.setRoot(name as string, off), "EINVAL");
      expectCode(() => heap.getRoot(""), "EINVAL");
      for (const bad of [-8, 1.5, heap.size, Number.NaN]) expectUnchanged(heap, () => heap.setRoot("ok", bad), "EINVAL");
    });
  });

  describe("introspection", () => {
    test("stats count allocations and frees", () => {
      const heap = heapOf();
      const offs = [heap.malloc(10), heap.malloc(100), heap.malloc(20_000)];
      let s = heap.stats();
      expect(s.liveCount).toBe(3);
      expect(s.smallCount).toBe(2);
      expect(s.largeCount).toBe(1);
      expect(s.mallocCount).toBe(3);
      expect(s.liveBytes).toBe(offs.reduce((n, o) => n + heap.usableSize(o), 0));
      heap.free(offs[1]!);
      s = heap.stats();
      expect(s.liveCount).toBe(2);
      expect(s.freeCount).toBe(1);
    });

    test("walk reports exactly the live allocations, in address order", () => {
      const heap = heapOf();
      const live = new Map<number, number>();
      for (let i = 0; i < 300; i++) {
        const off = heap.malloc((i * 53) % 6000);
        live.set(off, heap.usableSize(off));
      }
      for (const off of [...live.keys()].filter((_, i) => i % 4 === 0)) {
        heap.free(off);
        live.delete(off);
      }
      const seen: [number, number][] = [];
      expect(heap.walk((off, size) => void seen.push([off, size]))).toBe(live.size);
      expect(seen).toEqual([...live.entries()].sort((a, b) => a[0] - b[0]));
    });

    test("walk stops when fn returns false; fn may free; exceptions propagate", () => {
      const heap = heapOf();
      for (let i = 0; i < 10; i++) heap.malloc(32);
      let n = 0;
      expect(heap.walk(() => ++n < 3)).toBe(3);
      expect(heap.walk((off) => heap.free(off))).toBe(10);
      expect(heap.stats().liveCount).toBe(0);
      expect(heap.check()).toBe(0);
      heap.malloc(8);
      expect(() =>
        heap.walk(() => {
          throw new RangeError("from fn");
        }),
      ).toThrow(RangeError);
      expect(heap.walk(() => {})).toBe(1);
      expectCode(() => heap.walk(null as never), "EINVAL");
    });

    test("zeroOnFree: freed allocations below usedBytes read as zero", () => {
      const heap = heapOf(4 * MiB, true);
      expect(heap.zeroOnFree).toBe(true);
      expect(heapOf().zeroOnFree).toBe(false);
      const got: [number, number][] = [];
      for (const size of [24, 3000, 40_000, 24, 100_000, 64, 8]) {
        const off = heap.malloc(size);
        const n = heap.usableSize(off);
        heap.u8.fill(0xee, off, off + n);
        got.push([off, n]);
      }
      // Free all but the last, so the freed memory stays below the high-water mark.
      for (const [off] of got.slice(0, -1)) heap.free(off);
      const used = heap.usedBytes;
      for (const [off, n] of got.slice(0, -1)) {
        expect(off + n).toBeLessThanOrEqual(used);
        expect({ off, zero: heap.u8.subarray(off, off + n).every((b) => b === 0) }).toEqual({ off, zero: true });
      }
      const [last, n] = got.at(-1)!;
      expect(heap.u8[last + n - 1]).toBe(0xee);
      expect(heap.check()).toBe(0);
    });

    test("every view aliases the same bytes", () => {
      const heap = heapOf();
      const off = heap.malloc(16);
      heap.f64[off >>> 3] = -2.5;
      expect(heap.view.getFloat64(off, true)).toBe(-2.5);
      heap.u32[off >>> 2] = 0xdeadbeef;
      expect(heap.i32[off >>> 2]).toBe(0xdeadbeef | 0);
      expect(heap.u16[off >>> 1]).toBe(0xbeef);
      expect(heap.i16[off >>> 1]).toBe(0xbeef - 0x10000);
      expect(heap.u8[off]).toBe(0xef);
      expect(heap.i8[off]).toBe(0xef - 0x100);
      heap.f32[(off + 8) >>> 2] = 0.5;
      expect(heap.view.getFloat32(off + 8, true)).toBe(0.5);
      heap.u64[(off + 8) / 8] = (1n << 64n) - 1n;
      expect(heap.i64[(off + 8) / 8]).toBe(-1n);
      for (const v of [heap.u8, heap.i8, heap.u16, heap.i16, heap.u32, heap.i32, heap.f32, heap.f64, heap.u64, heap.i64]) expect(v.byteLength).toBe(heap.size);
    });
  });
});

// On the native backend only: a WebAssembly memory never shrinks, and the
// 256 MiB this writes would stay resident for every later test of the run.
describe("reset of a large heap", () => {
  test("reset writes the same few pages for one allocation and for 256 MiB of them (O(1))", () => {
    const heap = heapOf(MAX_REGION_SIZE);
    /** How many pages of the used prefix differ after a reset of what `fillHeap` made. */
    const pagesWritten = (fillHeap: () => void) => {
      fillHeap();
      const pageHash = (p: number) => Bun.hash.xxHash64(heap.u8.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE));
      const before = Array.from({ length: heap.usedBytes / PAGE_SIZE }, (_, p) => pageHash(p));
      heap.reset();
      return before.filter((hash, p) => pageHash(p) !== hash).length;
    };
    const one = pagesWritten(() => heap.malloc(16));
    const many = pagesWritten(() => {
      for (let i = 0; i < 20_000; i++) heap.malloc(64);
      for (let i = 0; i < 64; i++) heap.malloc(4 * MiB);
    });
    // A reset that cleared the page map or the blocks would write some of
    // the 65 536 used pages.
    expect(one).toBeGreaterThan(0); // the generation changed
    expect(many).toBe(one);
    expect(many).toBeLessThanOrEqual(4);
  });
});

describe("close", () => {
  test("every operation after close() is ECLOSED; close is idempotent; size stays readable", () => {
    const heap = PrivateHeap.create({ size: MiB });
    const off = heap.malloc(8);
    heap.close();
    heap.close();
    expect(heap.closed).toBe(true);
    expect(heap.size).toBe(MiB);
    expect(heap.address).toBe(0);
    const ops: [string, () => unknown][] = [
      ["malloc", () => heap.malloc(8)],
      ["calloc", () => heap.calloc(1, 8)],
      ["realloc", () => heap.realloc(off, 16)],
      ["alignedAlloc", () => heap.alignedAlloc(64, 8)],
      ["free", () => heap.free(off)],
      ["usableSize", () => heap.usableSize(off)],
      ["reset", () => heap.reset()],
      ["setRoot", () => heap.setRoot("a", off)],
      ["getRoot", () => heap.getRoot("a")],
      ["roots", () => heap.roots()],
      ["stats", () => heap.stats()],
      ["check", () => heap.check()],
      ["walk", () => heap.walk(() => {})],
      ["usedBytes", () => heap.usedBytes],
      ["generation", () => heap.generation],
      ["maxAlloc", () => heap.maxAlloc],
      ["zeroOnFree", () => heap.zeroOnFree],
      ...(["u8", "i8", "u16", "i16", "u32", "i32", "f32", "f64", "u64", "i64", "view"] as const).map(
        (v) => [v, () => heap[v]] as [string, () => unknown],
      ),
    ];
    for (const [name, op] of ops) expect({ name, code: expectCode(op, "ECLOSED").code }).toEqual({ name, code: "ECLOSED" });
  });

  test("views handed out before close() are empty afterwards", () => {
    const heap = PrivateHeap.create({ size: MiB });
    const off = heap.malloc(64);
    const { u8, f32, f64 } = heap;
    const dv = heap.view;
    const sub = heap.u8.subarray(off, off + 64);
    const mine = new Float32Array(heap.u8.buffer, off, 16);
    f32[off >>> 2] = 1;
    heap.close();
    for (const v of [u8, f32, f64, sub, mine]) {
      expect(v.length).toBe(0);
      expect(v[0]).toBeUndefined();
    }
    u8[off] = 1;
    expect(u8[off]).toBeUndefined();
    expect(() => dv.getUint8(off)).toThrow(TypeError);
  });

  test("using closes at the end of the scope", () => {
    let kept: PrivateHeap;
    {
      using heap = PrivateHeap.create({ size: MiB });
      kept = heap;
      expect(heap.closed).toBe(false);
    }
    expect(kept.closed).toBe(true);
  });
});
