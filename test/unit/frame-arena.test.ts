import { afterEach, describe, expect, test } from "bun:test";
import { NATIVE_CONSTANTS } from "../../src/ffi/symbols.ts";
import { FrameArena } from "../../src/frame-arena.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { fill, intact } from "../support/conformance.ts";
import { expectCode } from "../support/expect.ts";
import { BACKENDS } from "../support/heaps.ts";
import { rng, seeds } from "../support/random.ts";

const MiB = 1 << 20;
/** The scratch cursor's low words in a u32 view of the region. */
const NEXT = NATIVE_CONSTANTS.PH_SCRATCH_CURSOR >>> 2;
const END = NEXT + 2;
const open: FrameArena[] = [];
type ArenaOptions = Partial<Parameters<typeof FrameArena.create>[0]>;
function openArena(opts: ArenaOptions = {}): FrameArena {
  const a = FrameArena.create({ size: 8 * MiB, ...opts });
  open.push(a);
  return a;
}
const arenaOf = openArena;
afterEach(() => {
  for (const a of open.splice(0)) a.close();
});

describe.each(BACKENDS)("FrameArena on the %s backend", (backend) => {
  const arenaOf = (opts: ArenaOptions = {}) => openArena({ backend, ...opts });
    test("create validates its options", () => {
      expectCode(() => FrameArena.create({ size: MiB, buffers: 3 as 1 }), "EINVAL");
      expectCode(() => FrameArena.create({ size: MiB, chunkSize: 10 }), "EINVAL");
      expectCode(() => FrameArena.create({ size: MiB, chunkSize: 4096, bumpMax: 5000 }), "EINVAL");
      expectCode(() => FrameArena.create({ size: -1 }), "EINVAL");
      expectCode(() => FrameArena.create({ size: 2 ** 33 }), "ESIZE");
    });

    test("allocations within a frame are 16-aligned, distinct, non-overlapping, and the heap hands none of their bytes out", () => {
      const arena = arenaOf();
      arena.beginFrame();
      const got: [number, number][] = [];
      for (let i = 0; i < 5000; i++) {
        const size = (i * 7919) % 300;
        const off = arena.alloc(size);
        expect(off % 16).toBe(0);
        fill(arena.u8, off, size, i);
        got.push([off, size]);
      }
      got.push([arena.alloc(100_000), 100_000]);
      got.forEach(([off, size], i) => {
        if (i < 5000) expect({ i, ok: intact(arena.u8, off, size, i) }).toEqual({ i, ok: true });
      });
      // They lie in scratch chunks, or in allocations of their own; the heap
      // hands out none of their bytes again.
      for (const [off, size] of got) expect(off + size <= arena.heap.usedBytes).toBe(true);
      for (let i = 0; i < 200; i++) {
        const size = 16 + ((i * 37) % 20_000);
        const block = arena.heap.malloc(size);
        for (const [off, n] of got) if (off < block + size && block < off + n) throw new Error(`malloc ${block}+${size} overlaps scratch ${off}+${n}`);
      }
      got.forEach(([off, size], i) => {
        if (i < 5000) expect({ i, ok: intact(arena.u8, off, size, i) }).toEqual({ i, ok: true });
      });
      expect(arena.heap.check()).toBe(0);
      arena.endFrame();
    });

    test("endFrame resets in O(1): the heap is empty again, generation increments", () => {
      const arena = arenaOf();
      const empty = arena.heap.usedBytes;
      expect(arena.generation).toBe(1);
      for (let f = 0; f < 5; f++) {
        arena.frame((a) => {
          for (let i = 0; i < 10_000; i++) a.alloc(48);
          expect(a.heap.usedBytes).toBeGreaterThan(empty + 10_000 * 48);
        });
        expect(arena.heap.stats().liveCount).toBe(0);
        expect(arena.heap.usedBytes).toBe(empty);
        expect(arena.generation).toBe(f + 2);
        expect(arena.heap.generation).toBe(f + 2);
      }
    });

    test("a reset of its heap inside a frame: later allocations never land in a live malloc block", () => {
      for (const buffers of [1, 2] as const) {
        const arena = arenaOf({ buffers });
        arena.beginFrame();
        const before = arena.alloc(64);
        arena.heap.reset(); // frees the chunk under the arena's cursor
        const size = 64 * 1024;
        const block = arena.heap.malloc(size); // the chunk's pages again
        fill(arena.u8, block, size, 7);
        const got: number[] = [];
        for (let i = 0; i < 2000; i++) {
          const off = arena.alloc(48);
          fill(arena.u8, off, 48, i);
          got.push(off);
        }
        expect({ buffers, blockIntact: intact(arena.u8, block, size, 7) }).toEqual({ buffers, blockIntact: true });
        for (const off of got) expect(off + 48 <= block || off >= block + size).toBe(true);
        got.forEach((off, i) => expect({ i, ok: intact(arena.u8, off, 48, i) }).toEqual({ i, ok: true }));
        expect(before).toBeGreaterThan(0);
        expect(arena.heap.check()).toBe(0);
        arena.endFrame();
        expect(arena.heap.check()).toBe(0);
      }
    });

    test("the same offsets come back frame after frame (memory is recycled, not leaked)", () => {
      const arena = arenaOf();
      const firsts = new Set<number>();
      for (let f = 0; f < 20; f++) arena.frame((a) => void firsts.add(a.alloc(64)));
      expect(firsts.size).toBe(1);
    });

    test("buffers: 2 keeps the previous frame readable for exactly one more frame", () => {
      const arena = arenaOf({ buffers: 2 });
      const empty = arena.heap.usedBytes;
      expect(arena.buffers).toBe(2);
      const off = arena.frame((a) => {
        const o = a.alloc(4);
        a.u32[o >>> 2] = 0xc0ffee;
        return o;
      });
      const first = arena.previous!;
      arena.frame((a) => {
        expect(a.previous).toBe(first);
        expect(a.heap).not.toBe(first);
        expect(a.previous!.u32[off >>> 2]).toBe(0xc0ffee);
        expect(a.previous!.usedBytes).toBeGreaterThan(empty);
        a.alloc(4);
      });
      // Two frames later the first heap has been reset and is current again.
      expect(first.usedBytes).toBe(empty);
      expect(arena.heap).toBe(first);
    });

    test("one buffer: previous is undefined", () => {
      expect(arenaOf().previous).toBeUndefined();
    });

    test("alloc outside a frame, nested beginFrame and unmatched endFrame are EINVAL", () => {
      const arena = arenaOf();
      expectCode(() => arena.alloc(8), "EINVAL");
      expectCode(() => arena.endFrame(), "EINVAL");
      arena.beginFrame();
      expectCode(() => arena.beginFrame(), "EINVAL");
      arena.alloc(8);
      arena.endFrame();
      expectCode(() => arena.alloc(8), "EINVAL");
      expect(arena.generation).toBe(2);
    });

    test("frame(fn) ends the frame when fn throws, and returns fn's value", () => {
      const arena = arenaOf();
      expect(() =>
        arena.frame((a) => {
          a.alloc(10);
          throw new SyntaxError("boom");
        }),
      ).toThrow(SyntaxError);
      expect(arena.inFrame).toBe(false);
      expect(arena.generation).toBe(2);
      expect(arena.frame(() => 42)).toBe(42);
    });

    test("allocAligned and allocZeroed", () => {
      const arena = arenaOf();
      arena.frame((a) => {
        for (const align of [1, 2, 16, 32, 256, 4096]) expect(a.allocAligned(align, 33) % align).toBe(0);
        for (const bad of [0, 3, -2, 1.5]) expectCode(() => a.allocAligned(bad, 8), "EINVAL");
        const dirty = a.alloc(64);
        a.u8.fill(0xff, dirty, dirty + 64);
      });
      arena.frame((a) => {
        const z = a.allocZeroed(64);
        expect(a.u8.subarray(z, z + 64).every((b) => b === 0)).toBe(true);
      });
    });

    test("exhaustion is ENOMEM; the next frame works again", () => {
      const arena = arenaOf({ size: MiB });
      arena.beginFrame();
      let n = 0;
      expectCode(() => {
        for (;;) {
          arena.alloc(1000);
          n++;
        }
      }, "ENOMEM");
      expect(n).toBeGreaterThan(500);
      expect(arena.heap.check()).toBe(0);
      arena.endFrame();
      arena.frame((a) => expect(a.alloc(1000)).toBeGreaterThan(0));
    });

    test("huge sizes are ENOMEM, never a bogus offset, and do not move the cursor", () => {
      const arena = arenaOf();
      arena.frame((a) => {
        const x = a.alloc(16);
        for (const huge of [2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, a.heap.size]) expectCode(() => a.alloc(huge), "ENOMEM");
        expect(a.alloc(16)).toBe(x + 16);
        expect(a.heap.check()).toBe(0);
      });
    });

    test("bad sizes are EINVAL and do not move the cursor", () => {
      const arena = arenaOf();
      arena.frame((a) => {
        const x = a.alloc(16);
        for (const bad of [-1, 0.5, Number.NaN, 2 ** 32, "4", 4n]) expectCode(() => a.alloc(bad as number), "EINVAL");
        expect(a.alloc(16)).toBe(x + 16);
      });
    });

    test("after close: ECLOSED, close is idempotent, using works", () => {
      const arena = FrameArena.create({ size: MiB });
      arena.close();
      arena.close();
      expect(arena.closed).toBe(true);
      expect(expectCode(() => arena.beginFrame(), "ECLOSED").op).toBe("FrameArena.beginFrame");
      expect(expectCode(() => arena.alloc(8), "ECLOSED").op).toBe("FrameArena.alloc");
      expectCode(() => arena.heap, "ECLOSED");
      expectCode(() => arena.f32, "ECLOSED");
      let kept: FrameArena;
      {
        using a = FrameArena.create({ size: MiB });
        kept = a;
      }
      expect(kept.closed).toBe(true);
    });

    test("closing the arena inside frame(fn) does not throw on the way out", () => {
      const arena = FrameArena.create({ size: MiB });
      arena.frame((a) => a.close());
      expect(arena.closed).toBe(true);
    });

    test("the arena bumps the heap's scratch cursor, the one check() validates", () => {
      const arena = arenaOf();
      arena.frame((a) => {
        const w = a.u32;
        expect([w[NEXT], w[END]]).toEqual([0, 0]);
        const x = a.alloc(40);
        expect(w[NEXT]).toBe(x + 48);
        const y = a.alloc(16);
        expect(y).toBe(x + 48);
        expect(w[NEXT]).toBe(y + 16);
        expect(w[END]! > y + 16).toBe(true);
        expect(a.heap.check()).toBe(0);
      });
      expect([arena.u32[NEXT], arena.u32[END]]).toEqual([0, 0]); // endFrame's reset empties it
    });

    test("a damaged scratch cursor: check() reports it, alloc is ECORRUPT and hands out nothing, the cursor stays as it was", () => {
      const arena = arenaOf();
      arena.beginFrame();
      const w = arena.u32;
      arena.alloc(64);
      const block = arena.heap.malloc(4096);
      fill(arena.u8, block, 4096, 3);
      const [next, end] = [w[NEXT]!, w[END]!];
      const damage: [number, number][] = [
        [block, block + 4096], // a cursor over a live block
        [64, end], // next in the header
        [block + 16, end], // next past end, in a live block
      ];
      for (const [n, e] of damage) {
        w[NEXT] = n;
        w[END] = e;
        expectCode(() => arena.heap.check(), "ECORRUPT");
        expect(expectCode(() => arena.alloc(16), "ECORRUPT").op).toBe("FrameArena.alloc");
        expect([w[NEXT], w[END]]).toEqual([n, e]);
      }
      // Too little room for a big request: C makes it an allocation of its own
      // without checking the cursor, and the arena does not adopt the cursor.
      w[NEXT] = 64;
      w[END] = 96;
      expect(arena.heap.usableSize(arena.alloc(5000))).toBeGreaterThanOrEqual(5000);
      expect(expectCode(() => arena.alloc(16), "ECORRUPT").op).toBe("FrameArena.alloc");
      expect(intact(arena.u8, block, 4096, 3)).toBe(true);
      w[NEXT] = next;
      w[END] = end;
      expect(arena.heap.check()).toBe(0);
      expect(arena.alloc(16)).toBe(next);
      arena.endFrame();
    });

    test("the arena bumps only up to the header's end: a cursor whose end moved under it (a restore of a shorter chunk at the same next) sends the request to C", () => {
      const arena = arenaOf();
      arena.beginFrame();
      const w = arena.u32;
      arena.alloc(64);
      const next = w[NEXT]!;
      w[END] = next + 32; // the same next, 32 bytes of room left
      const off = arena.alloc(64);
      expect(off).not.toBe(next); // it did not fit below the header's end
      expect(arena.heap.check()).toBe(0);
      expect(off + 64).toBeLessThanOrEqual(w[END]!);
      arena.endFrame();
    });

    test("a restore brings the scratch cursor back with the heap: the arena repeats the allocations made after the snapshot", () => {
      for (const buffers of [1, 2] as const) {
        const arena = arenaOf({ buffers });
        arena.frame((a) => {
          for (let i = 0; i < 10; i++) a.alloc(100);
          const snap = a.heap.snapshot();
          const after = () => Array.from({ length: 300 }, (_, i) => a.alloc(1000 + i)); // crosses chunks
          const first = after();
          a.heap.restore(snap);
          expect({ buffers, offsets: after() }).toEqual({ buffers, offsets: first });
          expect(a.heap.check()).toBe(0);
        });
      }
    });

    test("one rule with C: past bumpMax a request that does not fit the cursor is an allocation of its own; one that fits is carved", () => {
      const arena = arenaOf({ bumpMax: 1000 });
      arena.frame((a) => {
        const own = a.alloc(1001); // no chunk yet
        expect(a.heap.usableSize(own)).toBeGreaterThanOrEqual(1001);
        const carved = a.alloc(1000);
        expectCode(() => a.heap.usableSize(carved), "EBADPTR");
        expect(a.alloc(2000)).toBe(carved + 1008);
        a.heap.free(own);
        expect(a.heap.check()).toBe(0);
      });
    });

    for (const seed of seeds(3)) {
      test(`seeded frames of random sizes never overlap within a frame (seed ${seed})`, () => {
        const r = rng(seed);
        const arena = arenaOf({ buffers: r.int(1, 2) as 1 | 2, chunkSize: r.pick([1024, 4096, 65536]), bumpMax: 1000 });
        try {
          for (let f = 0; f < 30; f++) {
            arena.frame((a) => {
              const got: [number, number, number][] = [];
              const count = r.int(0, 400);
              for (let i = 0; i < count; i++) {
                const size = r.next() < 0.05 ? r.int(1000, 50_000) : r.int(0, 1000);
                const off = a.alloc(size);
                fill(a.u8, off, size, i + f);
                got.push([off, size, i + f]);
              }
              for (const [off, size, tag] of got) if (!intact(a.u8, off, size, tag)) throw new Error(`overlap at ${off}`);
              expect(a.heap.check()).toBe(0);
            });
            Bun.gc(true);
          }
        } catch (e) {
          console.error(`frame arena random test failed; replay with PRIVHEAP_SEED=${seed}`);
          throw e;
        }
      });
    }
});

test("a FrameArena has every view its heap has, and they are the current heap's", () => {
  const arena = arenaOf({ buffers: 2 });
  const heapViews = Object.entries(Object.getOwnPropertyDescriptors(PrivateHeap.prototype))
    .filter(([name, d]) => d.get !== undefined && ArrayBuffer.isView((arena.heap as unknown as Record<string, unknown>)[name]))
    .map(([name]) => name)
    .sort();
  expect(heapViews).toEqual(["f32", "f64", "i16", "i32", "i64", "i8", "u16", "u32", "u64", "u8", "view"]);
  const views = arena as unknown as Record<string, unknown>;
  for (let frame = 0; frame < 2; frame++) {
    arena.frame((a) => {
      const heap = a.heap as unknown as Record<string, unknown>;
      for (const name of heapViews) expect(views[name], name).toBe(heap[name]);
      const off = a.alloc(16);
      a.i8[off] = -1;
      a.i16[(off >>> 1) + 1] = -2;
      a.u16[(off >>> 1) + 2] = 65535;
      a.i64[off / 8 + 1] = -3n;
      expect([a.u8[off], a.u16[(off >>> 1) + 1], a.i16[(off >>> 1) + 2], a.u64[off / 8 + 1]]).toEqual([255, 65534, -1, 2n ** 64n - 3n]);
    });
  }
  arena.close();
  for (const name of heapViews) expectCode(() => views[name], "ECLOSED");
});

test("a FrameArena's heap is an ordinary PrivateHeap", () => {
  const arena = arenaOf();
  expect(arena.heap).toBeInstanceOf(PrivateHeap);
});

describe.each(BACKENDS)("FrameArena.realloc on the %s backend", (backend) => {
  const arenaOf = (opts: ArenaOptions = {}) => openArena({ backend, ...opts });
    test("the newest allocation grows and shrinks in place: the cursor moves, nothing is copied", () => {
      const arena = arenaOf();
      arena.frame((a) => {
        const w = a.u32;
        a.alloc(32);
        const x = a.alloc(40);
        fill(a.u8, x, 40, 1);
        expect(a.realloc(x, 40, 200)).toBe(x);
        expect(w[NEXT]).toBe(x + 208);
        expect(intact(a.u8, x, 40, 1)).toBe(true);
        expect(a.realloc(x, 200, 8)).toBe(x);
        expect(w[NEXT]).toBe(x + 16);
        expect(a.realloc(x, 8, 0)).toBe(x); // 0 bytes still take 16, as alloc(0) does
        expect(w[NEXT]).toBe(x + 16);
        expect(a.alloc(16)).toBe(x + 16);
        expect(a.heap.check()).toBe(0);
      });
    });

    test("an older allocation moves when it grows, keeping its bytes and its neighbours'; it stays put when it shrinks", () => {
      const arena = arenaOf();
      arena.frame((a) => {
        const x = a.alloc(64);
        const y = a.alloc(64);
        fill(a.u8, x, 64, 1);
        fill(a.u8, y, 64, 2);
        const moved = a.realloc(x, 64, 500);
        expect(moved).not.toBe(x);
        expect(moved % 16).toBe(0);
        expect(moved >= y + 64 || moved + 500 <= x).toBe(true);
        expect(intact(a.u8, moved, 64, 1)).toBe(true);
        expect(intact(a.u8, y, 64, 2)).toBe(true);
        expect(a.realloc(y, 64, 10)).toBe(y);
        expect(a.alloc(16)).toBe(moved + 512); // the shrink of y left the cursor alone
        expect(a.heap.check()).toBe(0);
      });
    });

    test("the newest allocation moves to a new chunk with its contents when its chunk is full", () => {
      const arena = arenaOf({ chunkSize: 16384, bumpMax: 0 });
      arena.frame((a) => {
        let size = 16;
        let off = a.alloc(size);
        fill(a.u8, off, size, 5);
        const first = off;
        while (off === first) {
          const grown = size * 2;
          off = a.realloc(off, size, grown);
          expect(intact(a.u8, off, size, 5)).toBe(true);
          fill(a.u8, off, grown, 5);
          size = grown;
        }
        expect(size).toBeLessThanOrEqual(32768);
        // It went on growing in place in its new chunk, or is an allocation of its own.
        const again = a.realloc(off, size, size + 16);
        expect(intact(a.u8, again, size, 5)).toBe(true);
        expect(a.heap.check()).toBe(0);
      });
    });

    test("realloc(0, 0, n) is alloc(n); outside a frame, after close and with non-integer arguments it is refused", () => {
      const arena = arenaOf();
      expectCode(() => arena.realloc(0, 0, 16), "EINVAL");
      arena.frame((a) => {
        const x = a.realloc(0, 0, 24);
        expect(a.alloc(16)).toBe(x + 32);
        const w = a.u32;
        const cursor = [w[NEXT], w[END]];
        for (const bad of [-1, 0.5, Number.NaN, 2 ** 32, "4", 4n]) {
          expect(expectCode(() => a.realloc(bad as number, 16, 32), "EINVAL").op).toBe("FrameArena.realloc");
          expectCode(() => a.realloc(x, bad as number, 32), "EINVAL");
          expectCode(() => a.realloc(x, 16, bad as number), "EINVAL");
        }
        expect([w[NEXT], w[END]]).toEqual(cursor);
      });
      arena.close();
      expectCode(() => arena.realloc(0, 0, 16), "ECLOSED");
    });

    test("an offset that is not this frame's allocation is EBADPTR, an oldSize past it is EINVAL; nothing moves or is written", () => {
      const arena = arenaOf({ bumpMax: 1000 });
      arena.frame((a) => {
        const x = a.alloc(64);
        const own = a.alloc(100_000); // past bumpMax and larger than the chunk: an allocation of its own
        const y = a.alloc(64);
        expect(a.heap.usableSize(own)).toBeGreaterThanOrEqual(100_000);
        const block = a.heap.malloc(64);
        fill(a.u8, x, 64, 1);
        fill(a.u8, own, 100_000, 2);
        fill(a.u8, y, 64, 3);
        fill(a.u8, block, 64, 4);
        const w = a.u32;
        const cursor = [w[NEXT], w[END]];
        const notOurs: [number, number][] = [
          [block, 16], // the heap's, not the arena's
          [0, 16], // the header
          [64, 16], // in the header
          [x + 4, 16], // not 16-aligned
          [y + 64, 16], // past the cursor
          [y + 4096, 16], // further past it, in the chunk
          [own + 16, 16], // inside an allocation of its own
          [a.heap.size - 16, 16], // the region's last bytes
        ];
        for (const [off, size] of notOurs) {
          expect({ off, code: expectCode(() => a.realloc(off, size, 256), "EBADPTR").code }).toEqual({ off, code: "EBADPTR" });
          expectCode(() => a.realloc(off, size, 8), "EBADPTR"); // a shrink is checked too
        }
        expectCode(() => a.realloc(y, 65 + (w[END]! - w[NEXT]!), 128), "EINVAL"); // past the cursor
        expectCode(() => a.realloc(x, 64 + 64 + 1, 1000), "EINVAL"); // past y, the end of what the frame holds
        expectCode(() => a.realloc(own, 100_001, 200_000), "EINVAL");
        expect([w[NEXT], w[END]]).toEqual(cursor);
        expect([intact(a.u8, x, 64, 1), intact(a.u8, own, 100_000, 2), intact(a.u8, y, 64, 3), intact(a.u8, block, 64, 4)]).toEqual([true, true, true, true]);
        expect(a.heap.check()).toBe(0);
        // The same offsets with their own sizes are accepted.
        expect(a.realloc(y, 64, 128)).toBe(y);
        expect(intact(a.u8, a.realloc(own, 100_000, 200_000), 100_000, 2)).toBe(true);
        expect(intact(a.u8, a.realloc(x, 64, 100), 64, 1)).toBe(true);
      });
    });

    test("an allocation of its own grows into a new allocation with its bytes", () => {
      const arena = arenaOf({ bumpMax: 0, chunkSize: 16384 });
      arena.frame((a) => {
        const big = a.alloc(20_000); // larger than a chunk: its own
        expect(a.heap.usableSize(big)).toBeGreaterThanOrEqual(20_000);
        fill(a.u8, big, 20_000, 9);
        const grown = a.realloc(big, 20_000, 70_000);
        expect(intact(a.u8, grown, 20_000, 9)).toBe(true);
        expect(a.realloc(big, 20_000, 100)).toBe(big); // the old one is still the frame's until the frame ends
        const aligned = a.allocAligned(4096, 100);
        fill(a.u8, aligned, 100, 8);
        expect(intact(a.u8, a.realloc(aligned, 100, 9000), 100, 8)).toBe(true);
        expect(a.heap.check()).toBe(0);
      });
    });

    test("offsets of an earlier frame are EBADPTR unless the current frame handed them out again", () => {
      for (const buffers of [1, 2] as const) {
        const arena = arenaOf({ buffers, bumpMax: 1000 });
        arena.frame(() => {}); // so that with two buffers both heaps are at generation 2 from here on
        const [small, far, own] = arena.frame((a) => {
          const s = a.alloc(64);
          for (let i = 0; i < 2000; i++) a.alloc(64); // past the first chunk
          return [s, a.alloc(64), a.alloc(100_000)];
        });
        arena.frame((a) => {
          expectCode(() => a.realloc(small, 64, 128), "EBADPTR"); // nothing handed out yet (in the other heap with two buffers)
          expect(a.alloc(64)).toBe(small); // recycled: now this frame's
          expect({ buffers, code: expectCode(() => a.realloc(far, 64, 128), "EBADPTR").code }).toEqual({ buffers, code: "EBADPTR" });
          expectCode(() => a.realloc(own, 100_000, 200_000), "EBADPTR");
          expect(a.realloc(small, 64, 128)).toBe(small);
        });
      }
    });

    test("after a reset of the heap inside a frame, the offsets from before it are EBADPTR", () => {
      const arena = arenaOf({ bumpMax: 1000 });
      arena.frame((a) => {
        const x = a.alloc(64);
        const y = a.alloc(64);
        const own = a.alloc(100_000);
        a.heap.reset();
        for (const [off, size] of [[x, 64], [y, 64], [own, 100_000]] as const) expectCode(() => a.realloc(off, size, size * 2), "EBADPTR");
        const z = a.alloc(16); // a new chunk, maybe where x was
        expectCode(() => a.realloc(y + 64, 64, 128), "EBADPTR");
        expect(a.realloc(z, 16, 64)).toBe(z);
        expect(a.heap.check()).toBe(0);
      });
    });

    test("after a restore inside a frame, what the restore took back is EBADPTR; what the snapshot holds still resizes", () => {
      const arena = arenaOf({ bumpMax: 1000 });
      arena.frame((a) => {
        const x = a.alloc(64);
        fill(a.u8, x, 64, 1);
        const snap = a.heap.snapshot();
        const own = a.alloc(100_000);
        let last = 0;
        for (let i = 0; i < 3000; i++) last = a.alloc(64); // into later chunks
        a.heap.restore(snap);
        expectCode(() => a.realloc(own, 100_000, 200_000), "EBADPTR");
        expectCode(() => a.realloc(last, 64, 128), "EBADPTR");
        const moved = a.realloc(x, 64, 128);
        expect(intact(a.u8, moved, 64, 1)).toBe(true);
        expect(a.heap.check()).toBe(0);
      });
    });

    test("a region too full to grow into is ENOMEM; the allocation and the cursor stay as they were", () => {
      const arena = arenaOf({ size: MiB });
      arena.frame((a) => {
        const x = a.alloc(64);
        const y = a.alloc(64);
        fill(a.u8, x, 64, 1);
        fill(a.u8, y, 64, 2);
        const w = a.u32;
        const cursor = [w[NEXT], w[END]];
        for (const [off, huge] of [[x, 4 * MiB], [y, 4 * MiB], [y, 2 ** 32 - 1]] as const) expectCode(() => a.realloc(off, 64, huge), "ENOMEM");
        expect([w[NEXT], w[END]]).toEqual(cursor);
        expect([intact(a.u8, x, 64, 1), intact(a.u8, y, 64, 2)]).toEqual([true, true]);
        expect(a.realloc(y, 64, 80)).toBe(y);
        expect(a.heap.check()).toBe(0);
      });
    });

    for (const seed of seeds(3)) {
      test(`seeded growing lists interleaved with other scratch keep every byte (seed ${seed})`, () => {
        const r = rng(seed);
        const arena = arenaOf({ buffers: r.int(1, 2) as 1 | 2, chunkSize: r.pick([16384, 65536]), bumpMax: r.pick([0, 1000, 4096]) });
        try {
          for (let f = 0; f < 10; f++) {
            arena.frame((a) => {
              // Each list: [offset, size, tag]; its first `size` bytes hold fill(tag).
              const lists: [number, number, number][] = [];
              const others: [number, number, number][] = [];
              for (let step = 0; step < 600; step++) {
                const roll = r.next();
                const tag = step + f * 1000;
                if (roll < 0.15 || lists.length === 0) {
                  const size = r.int(0, 200);
                  const off = r.next() < 0.2 ? a.realloc(0, 0, size) : a.alloc(size);
                  fill(a.u8, off, size, tag);
                  lists.push([off, size, tag]);
                } else if (roll < 0.3) {
                  const size = r.next() < 0.05 ? r.int(1000, 30_000) : r.int(0, 300);
                  const off = r.next() < 0.1 ? a.allocAligned(r.pick([32, 256, 4096]), size) : a.alloc(size);
                  fill(a.u8, off, size, tag);
                  others.push([off, size, tag]);
                } else {
                  // Grow (mostly) or shrink a list, the newest one half the time.
                  const i = r.next() < 0.5 ? lists.length - 1 : r.int(0, lists.length - 1);
                  const [off, size, t] = lists[i]!;
                  const next = size < 2000 && r.next() < 0.8 ? size + r.int(1, size + 64) : r.int(0, size);
                  const moved = a.realloc(off, size, next);
                  if (!intact(a.u8, moved, Math.min(size, next), t)) throw new Error(`list ${i} lost bytes moving ${off} -> ${moved}`);
                  fill(a.u8, moved, next, t);
                  lists[i] = [moved, next, t];
                }
              }
              for (const [off, size, tag] of [...lists, ...others]) if (!intact(a.u8, off, size, tag)) throw new Error(`overwritten at ${off}+${size}`);
              expect(a.heap.check()).toBe(0);
            });
          }
        } catch (e) {
          console.error(`frame arena realloc random test failed; replay with PRIVHEAP_SEED=${seed}`);
          throw e;
        }
      });
    }
});
