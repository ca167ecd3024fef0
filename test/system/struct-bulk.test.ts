/**
 * Bulk struct access (each, strided) and cursors of many layouts in one
 * process. Expected bytes are computed from C layout rules by hand (field
 * offsets written out below), not read back through the code under test.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { FrameArena } from "../../src/frame-arena.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { struct } from "../../src/struct.ts";
import { expectCode } from "../support/expect.ts";

const MiB = 1 << 20;
const open: { close(): void }[] = [];
function heapOf(size = 4 * MiB): PrivateHeap {
  const h = PrivateHeap.create({ size });
  open.push(h);
  return h;
}
afterEach(() => {
  for (const h of open.splice(0)) {
    if (h instanceof PrivateHeap && !h.closed) h.check();
    h.close();
  }
});

// Entity: pos at 0 (x 0, y 8, z 16), vel at 24 (x 24, y 32, z 40), hp at 48, size 56 (aligned to 8).
const Vec3 = struct({ x: "f64", y: "f64", z: "f64" });
const Entity = struct({ pos: Vec3, vel: Vec3, hp: "u32" });
// Tagged: id u16 at 0, tags u8[3] at 2, w i32 at 8 (after padding), pts Vec2f32[2] at 12 (x, y each f32), size 28 (aligned to 4).
const Vec2 = struct({ x: "f32", y: "f32" });
const Tagged = struct({ id: "u16", tags: ["u8", 3], w: "i32", pts: [Vec2, 2] });

describe("StructLayout.each", () => {
  test("visits every struct of the array in order, with the cursor at element i", () => {
    const heap = heapOf();
    const n = 1000;
    const base = Entity.alloc(heap, n);
    const seen: number[] = [];
    Entity.each(heap, base, n, (e, i) => {
      seen.push(e.offset);
      e.pos.x = i;
      e.vel.z = -i;
      e.hp = i * 3;
    });
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => base + i * 56));
    for (let i = 0; i < n; i++) {
      const at = base + i * 56;
      expect(heap.f64[at >>> 3]).toBe(i);
      expect(heap.f64[(at + 40) >>> 3]).toBe(-i);
      expect(heap.u32[(at + 48) >>> 2]).toBe(i * 3);
    }
  });

  test("array fields and arrays of structs inside each's cursor follow the element", () => {
    const heap = heapOf();
    const n = 50;
    const base = Tagged.alloc(heap, n);
    Tagged.each(heap, base, n, (t, i) => {
      t.id = i;
      t.tags.set(2, i + 1);
      t.w = 5 - i;
      t.pts.at(1).y = i / 2;
    });
    for (let i = 0; i < n; i++) {
      const at = base + i * 28;
      expect(heap.u16[at >>> 1]).toBe(i);
      expect(heap.u8[at + 4]).toBe(i + 1);
      expect(heap.i32[(at + 8) >>> 2]).toBe(5 - i);
      expect(heap.f32[(at + 12 + 8 + 4) >>> 2]).toBe(i / 2);
    }
  });

  test("count 0 calls nothing; a bad range, count or fn is EINVAL and fn never runs", () => {
    const heap = heapOf(MiB);
    const base = Entity.alloc(heap, 4);
    let calls = 0;
    const fn = () => {
      calls++;
    };
    Entity.each(heap, base, 0, fn);
    for (const [b, c] of [
      [base + 4, 4], // not a multiple of the alignment (8)
      [-8, 1],
      [base, -1],
      [base, 1.5],
      [base, Number.NaN],
      [heap.u8.length - 56, 2], // the second struct would pass the region's end
      [heap.u8.length, 1],
    ] as const)
      expect(expectCode(() => Entity.each(heap, b, c, fn), "EINVAL").op).toBe("StructLayout.each");
    expectCode(() => Entity.each(heap, base, 1, 5 as never), "EINVAL");
    expect(calls).toBe(0);
    Entity.each(heap, heap.u8.length - 56, 1, fn); // the last struct that fits
    expect(calls).toBe(1);
  });

  test("over a FrameArena, each writes the current frame's heap", () => {
    using arena = FrameArena.create({ size: MiB });
    arena.frame((a) => {
      const base = Entity.alloc(a, 10);
      Entity.each(a, base, 10, (e, i) => {
        e.vel.y = i + 0.5;
      });
      for (let i = 0; i < 10; i++) expect(a.heap.f64[(base + i * 56 + 32) >>> 3]).toBe(i + 0.5);
    });
  });

  test("in debug mode, a reset inside the loop makes the cursor ESTALE", () => {
    const heap = heapOf();
    const D = struct({ v: "u32" }, { debug: true });
    const base = D.alloc(heap, 4);
    let reached = -1;
    expectCode(
      () =>
        D.each(heap, base, 4, (c, i) => {
          reached = i;
          if (i === 1) heap.reset();
          c.v = 1;
        }),
      "ESTALE",
    );
    expect(reached).toBe(1);
  });
});

describe("StructLayout.strided", () => {
  test("view[start + i * stride] is element i's field, through nested structs and array indexes", () => {
    const heap = heapOf();
    const n = 20;
    const base = Tagged.alloc(heap, n);
    const t = Tagged.cursor(heap);
    for (let i = 0; i < n; i++) {
      t.index(base, i);
      t.id = 100 + i;
      t.tags.set(1, i);
      t.w = 5 - i;
      t.pts.at(1).x = i * 2;
    }
    const id = Tagged.strided(heap, base, "id");
    const tag1 = Tagged.strided(heap, base, "tags.1");
    const w = Tagged.strided(heap, base, "w");
    const x1 = Tagged.strided(heap, base, "pts.1.x");
    expect(id.view).toBe(heap.u16);
    expect(tag1.view).toBe(heap.u8);
    expect(w.view).toBe(heap.i32);
    expect(x1.view).toBe(heap.f32);
    expect([id.start, id.stride]).toEqual([base / 2, 14]);
    expect([tag1.start, tag1.stride]).toEqual([base + 3, 28]);
    expect([w.start, w.stride]).toEqual([(base + 8) / 4, 7]);
    expect([x1.start, x1.stride]).toEqual([(base + 20) / 4, 7]);
    for (let i = 0; i < n; i++) {
      expect(id.view[id.start + i * id.stride]).toBe(100 + i);
      expect(tag1.view[tag1.start + i * tag1.stride]).toBe(i);
      expect(w.view[w.start + i * w.stride]).toBe(5 - i);
      expect(x1.view[x1.start + i * x1.stride]).toBe(i * 2);
    }
    const px = Entity.strided(heap, Entity.alloc(heap, 3), "vel.z");
    expect(px.view).toBe(heap.f64);
    expect(px.stride).toBe(7);
  });

  test("start and stride are int32 values (a double index makes typed-array access slow)", () => {
    const heap = heapOf();
    const base = Entity.alloc(heap, 2);
    const f = Entity.strided(heap, base, "vel.y");
    expect(f.start | 0).toBe(f.start);
    expect(f.stride | 0).toBe(f.stride);
    expect(Object.isFrozen(f)).toBe(true);
  });

  test("a path to a struct, an array, an unknown field or a bad index, and a bad base are EINVAL", () => {
    const heap = heapOf(MiB);
    const base = Tagged.alloc(heap, 2);
    for (const p of ["pts", "pts.1", "tags", "tags.3", "tags.01", "tags.-1", "nope", "id.x", "pts.1.z", "", "pts..x"])
      expect(expectCode(() => Tagged.strided(heap, base, p as never), "EINVAL").op).toBe("StructLayout.strided");
    for (const b of [base + 2, -4, heap.u8.length - 24, 0.5]) expectCode(() => Tagged.strided(heap, b, "w"), "EINVAL");
  });
});

describe("cursors of many layouts in one process", () => {
  test("layouts with the same field names at different offsets read and write only their own bytes", () => {
    const heap = heapOf();
    const kinds = ["u8", "u16", "u32", "f32", "f64", "i8", "i16", "i32"] as const;
    const layouts = kinds.map((k, i) => ({ k, pad: i + 1, L: struct({ pad: ["u8", i + 1], v: k, in: struct({ q: k, r: "u8" }) }) }));
    const bases = layouts.map(({ L }) => L.alloc(heap, 3));
    const bytes = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, f64: 8 } as const;
    // Drive every layout through the same call sites, twice over, so those sites see all of them.
    for (let round = 0; round < 2; round++)
      for (const [j, { L }] of layouts.entries()) {
        const c = L.cursor(heap);
        for (let i = 0; i < 3; i++) {
          c.index(bases[j]!, i);
          c.v = 10 * j + i;
          c.in.q = 20 + i;
          c.in.r = 7;
        }
      }
    for (const [j, { k, pad }] of layouts.entries()) {
      const s = bytes[k];
      const vOff = Math.ceil(pad / s) * s; // v after the pad bytes, aligned to its size
      const inOff = vOff + s; // in { q, r } is aligned to s, q at 0 and r at s
      const size = Math.ceil((inOff + s + 1) / s) * s;
      expect(layouts[j]!.L.size).toBe(size);
      const view = heap[k];
      for (let i = 0; i < 3; i++) {
        const at = bases[j]! + i * size;
        expect(view[(at + vOff) / s]).toBe(10 * j + i);
        expect(view[(at + inOff) / s]).toBe(20 + i);
        expect(heap.u8[at + inOff + s]).toBe(7);
        for (let p = 0; p < pad; p++) expect(heap.u8[at + p]).toBe(0);
      }
    }
  });

  test("a struct nested two levels deep, inside an array element too, follows its outer cursor", () => {
    const heap = heapOf();
    // Mid { b: u16 at 0, inner: Vec2 at 4 } size 12; Outer { a: u8 at 0, mid at 4 } size 16: mid.inner.y at 12.
    const Mid = struct({ b: "u16", inner: Vec2 });
    const Outer = struct({ a: "u8", mid: Mid });
    const n = 6;
    const base = Outer.alloc(heap, n);
    const o = Outer.cursor(heap);
    for (let i = 0; i < n; i++) {
      o.index(base, i);
      o.mid.inner.y = i + 0.25;
      o.mid.b = 7 * i;
    }
    for (let i = 0; i < n; i++) {
      expect(heap.f32[(base + i * 16 + 12) >>> 2]).toBe(i + 0.25);
      expect(heap.u16[(base + i * 16 + 4) >>> 1]).toBe(7 * i);
    }
    // Holder { pad: u32 at 0, outers: Outer[3] at 4 }: element k's mid.inner.x at 4 + 16k + 8.
    const Holder = struct({ pad: "u32", outers: [Outer, 3] });
    const h = Holder.cursor(heap, Holder.alloc(heap));
    for (let k = 0; k < 3; k++) h.outers.at(k).mid.inner.x = 10 + k;
    for (let k = 0; k < 3; k++) expect(heap.f32[(h.offset + 4 + 16 * k + 8) >>> 2]).toBe(10 + k);
  });

  test("a nested cursor held across moves reads the element the outer cursor is at", () => {
    const heap = heapOf();
    const base = Entity.alloc(heap, 5);
    for (let i = 0; i < 5; i++) heap.f64[(base + i * 56 + 24) >>> 3] = i * 1.5; // vel.x
    const e = Entity.cursor(heap);
    const vel = e.vel;
    const got: number[] = [];
    for (let i = 0; i < 5; i++) {
      e.index(base, i);
      got.push(vel.x);
      expect(vel.offset).toBe(base + i * 56 + 24);
    }
    expect(got).toEqual([0, 1.5, 3, 4.5, 6]);
    const t = Tagged.cursor(heap, Tagged.alloc(heap));
    const el = t.pts.at(0);
    expect(t.pts.at(1)).toBe(el);
    expect(el.offset).toBe(t.offset + 12 + 8);
  });
});
