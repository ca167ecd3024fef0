import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FrameArena } from "../../src/frame-arena.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { struct, StructLayout } from "../../src/struct.ts";
import { expectCode, expectUnchanged } from "../support/expect.ts";

const MiB = 1 << 20;
const open: { close(): void }[] = [];
function heapOf(): PrivateHeap {
  const h = PrivateHeap.create({ size: 4 * MiB });
  open.push(h);
  return h;
}
afterEach(() => {
  for (const h of open.splice(0)) h.close();
});

const Vec3 = struct({ x: "f32", y: "f32", z: "f32" });
const Mixed = struct({
  a: "u8",
  b: "f64",
  c: "i16",
  d: ["u8", 3],
  e: "u32",
  v: Vec3,
  f: "i8",
  g: "u64",
  m: [["f32", 3], 2],
  h: "u16",
  parts: [Vec3, 2],
  last: "u8",
});

const C_MIXED = `
typedef struct { float x, y, z; } Vec3;
typedef struct {
  uint8_t a; double b; int16_t c; uint8_t d[3]; uint32_t e; Vec3 v; int8_t f;
  uint64_t g; float m[2][3]; uint16_t h; Vec3 parts[2]; uint8_t last;
} Mixed;
typedef struct { uint8_t tag; } One;
typedef struct { uint16_t a; uint8_t b; } Odd;
`;

const hasCC = spawnSync("cc", ["--version"]).status === 0;

/** Compile and run a C program; returns its stdout. */
function runC(body: string, stdin?: Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), "privheap-struct-"));
  const src = join(dir, "t.c");
  const exe = join(dir, "t");
  writeFileSync(src, `#include <stdio.h>\n#include <stdint.h>\n#include <stddef.h>\n#include <inttypes.h>\n${C_MIXED}\nint main(void) {\n${body}\nreturn 0; }\n`);
  const cc = spawnSync("cc", ["-std=c11", "-O0", "-o", exe, src], { encoding: "utf8" });
  if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);
  const run = spawnSync(exe, [], { input: stdin, encoding: "utf8" });
  if (run.status !== 0) throw new Error(`C program failed: ${run.stderr}`);
  return run.stdout;
}

describe("struct layout", () => {
  test("sizes, alignments and offsets follow the C rules (hand-checked small cases)", () => {
    const A = struct({ a: "u8", b: "u32" });
    expect([A.size, A.align, A.offsets.a, A.offsets.b]).toEqual([8, 4, 0, 4]);
    const B = struct({ a: "u8", b: "u8", c: "u16" });
    expect([B.size, B.align, B.offsets.c]).toEqual([4, 2, 2]);
    const C = struct({ d: "f64", a: "u8" });
    expect([C.size, C.align]).toEqual([16, 8]);
    const D = struct({ p: ["f32", 3] });
    expect([D.size, D.align]).toEqual([12, 4]);
    expect(D.offsetOf("p")).toBe(0);
    expect(Vec3.fields.map((f) => f.offset)).toEqual([0, 4, 8]);
  });

  test.skipIf(!hasCC)("every offset, size and alignment equals what the C compiler says", () => {
    const fields = Mixed.fields.map((f) => f.name);
    const out = runC(`
      printf("{\\"size\\":%zu,\\"align\\":%zu,\\"one\\":[%zu,%zu],\\"odd\\":[%zu,%zu]", sizeof(Mixed), _Alignof(Mixed), sizeof(One), _Alignof(One), sizeof(Odd), _Alignof(Odd));
      ${fields.map((n) => `printf(",\\"${n}\\":%zu", offsetof(Mixed, ${n}));`).join("\n")}
      printf("}\\n");`);
    const c = JSON.parse(out);
    expect(Mixed.size).toBe(c.size);
    expect(Mixed.align).toBe(c.align);
    for (const f of Mixed.fields) expect({ field: f.name, offset: f.offset }).toEqual({ field: f.name, offset: c[f.name] });
    const One = struct({ tag: "u8" });
    const Odd = struct({ a: "u16", b: "u8" });
    expect([One.size, One.align]).toEqual(c.one);
    expect([Odd.size, Odd.align]).toEqual(c.odd);
  });

  test.skipIf(!hasCC)("C reads back the bytes that cursors wrote", () => {
    const heap = heapOf();
    const n = 3;
    const base = Mixed.alloc(heap, n);
    const m = Mixed.cursor(heap);
    for (let i = 0; i < n; i++) {
      m.index(base, i);
      m.a = 200 + i;
      m.b = -1.25 * (i + 1);
      m.c = -300 - i;
      m.d.set(2, 7 + i);
      m.e = 4_000_000_000 + i;
      m.v.y = 0.5 + i;
      m.f = -100 + i;
      m.g = (1n << 63n) + BigInt(i);
      m.m.at(1).set(2, 9.5 + i);
      m.h = 65535 - i;
      m.parts.at(1).z = 3.25 + i;
      m.last = 42 + i;
    }
    const bytes = heap.u8.slice(base, base + n * Mixed.size);
    const out = runC(
      `Mixed s[${n}];
       if (fread(s, sizeof(Mixed), ${n}, stdin) != ${n}) return 1;
       for (int i = 0; i < ${n}; i++)
         printf("%u %g %d %u %" PRIu32 " %g %d %" PRIu64 " %g %u %g %u\\n", s[i].a, s[i].b, s[i].c, s[i].d[2], s[i].e, s[i].v.y, s[i].f, s[i].g, s[i].m[1][2], s[i].h, s[i].parts[1].z, s[i].last);`,
      bytes,
    );
    const expected = Array.from({ length: n }, (_, i) =>
      [200 + i, -1.25 * (i + 1), -300 - i, 7 + i, 4_000_000_000 + i, 0.5 + i, -100 + i, ((1n << 63n) + BigInt(i)).toString(), 9.5 + i, 65535 - i, 3.25 + i, 42 + i].join(" "),
    );
    expect(out.trim().split("\n")).toEqual(expected);
  });

  test("bad specs are EINVAL", () => {
    expectCode(() => struct({}), "EINVAL");
    expectCode(() => struct({ x: "f16" as "f32" }), "EINVAL");
    expectCode(() => struct({ x: ["f32", 0] }), "EINVAL");
    expectCode(() => struct({ x: ["f32", 1.5] }), "EINVAL");
    expectCode(() => struct({ at: "u8" }), "EINVAL");
    expectCode(() => struct({ offset: "u8" }), "EINVAL");
    expectCode(() => struct({ _x: "u8" }), "EINVAL");
    expectCode(() => struct({ "a-b": "u8" }), "EINVAL");
    expectCode(() => Vec3.offsetOf("w" as "x"), "EINVAL");
  });

  test("struct() is the one way to a layout: the constructor refuses other callers (EINVAL)", () => {
    const Ctor = StructLayout as unknown as new (...args: unknown[]) => unknown;
    expect(expectCode(() => new Ctor({ x: "f32" }, false), "EINVAL").op).toBe("StructLayout.constructor");
    expect(expectCode(() => new Ctor(Symbol("privheap.StructLayout"), { x: "f32" }, false), "EINVAL").op).toBe("StructLayout.constructor");
    // @ts-expect-error the constructor takes struct()'s private token first
    expectCode(() => new StructLayout({ x: "f32" }, false), "EINVAL");
  });
});

describe("struct cursors", () => {
  test("scalars round-trip with C conversion semantics", () => {
    const heap = heapOf();
    const S = struct({ u8: "u8", i8: "i8", u16: "u16", i16: "i16", u32: "u32", i32: "i32", f32: "f32", f64: "f64", u64: "u64", i64: "i64" });
    const c = S.cursor(heap, S.alloc(heap));
    c.u8 = 300;
    c.i8 = 200;
    c.u16 = -1;
    c.i16 = 40000;
    c.u32 = -1;
    c.i32 = 2 ** 31;
    c.f32 = 0.1;
    c.f64 = 0.1;
    c.u64 = -1n as bigint;
    c.i64 = (1n << 63n) as bigint;
    expect([c.u8, c.i8, c.u16, c.i16, c.u32, c.i32]).toEqual([44, -56, 65535, 40000 - 65536, 2 ** 32 - 1, -(2 ** 31)]);
    expect(c.f32).toBe(Math.fround(0.1));
    expect(c.f64).toBe(0.1);
    expect(c.u64).toBe((1n << 64n) - 1n);
    expect(c.i64).toBe(-(1n << 63n));
  });

  test("fields land at their offsets in the heap's bytes", () => {
    const heap = heapOf();
    const off = Mixed.alloc(heap);
    const m = Mixed.cursor(heap, off);
    m.e = 0x01020304;
    m.v.z = 2.5;
    m.parts.at(1).x = -4;
    m.m.at(1).set(0, 6);
    expect(heap.u32[(off + Mixed.offsets.e) >>> 2]).toBe(0x01020304);
    expect(heap.f32[(off + Mixed.offsets.v + Vec3.offsets.z) >>> 2]).toBe(2.5);
    expect(heap.f32[(off + Mixed.offsets.parts + Vec3.size + Vec3.offsets.x) >>> 2]).toBe(-4);
    expect(heap.f32[(off + Mixed.offsets.m + 3 * 4) >>> 2]).toBe(6);
    expect(m.parts.offsetOf(1)).toBe(off + Mixed.offsets.parts + Vec3.size);
    expect(m.offset).toBe(off);
    expect(m.v.offset).toBe(off + Mixed.offsets.v);
  });

  test("arrays of structs: index(base, i) walks them; nested cursors are reused, not allocated", () => {
    const heap = heapOf();
    const P = struct({ id: "u32", pos: Vec3, hist: ["f32", 4] });
    const n = 1000;
    const base = P.alloc(heap, n);
    const p = P.cursor(heap);
    expect(p.at(base)).toBe(p);
    const pos = p.pos;
    const hist = p.hist;
    for (let i = 0; i < n; i++) {
      p.index(base, i);
      p.id = i;
      p.pos.x = i * 2;
      p.hist.set(3, i / 2);
    }
    expect(p.pos).toBe(pos);
    expect(p.hist).toBe(hist);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += p.index(base, i).pos.x + p.hist.get(3) - p.id;
    expect(sum).toBe((n * (n - 1)) / 2 + (n * (n - 1)) / 4 + 0);
    const grid = struct({ cells: [[Vec3, 3], 2] });
    const g = grid.cursor(heap, grid.alloc(heap));
    expect(g.cells.at(0)).toBe(g.cells.at(1));
    g.cells.at(1).at(2).y = 5;
    expect(grid.read(heap, g.offset).cells[1]![2]!.y).toBe(5);
  });

  test("array indexes are checked; get/set vs at misuse is EINVAL; nested cursors cannot move alone", () => {
    const heap = heapOf();
    const m = Mixed.cursor(heap, Mixed.alloc(heap));
    for (const bad of [-1, 3, 1.5, Number.NaN, "1"]) expect(expectCode(() => m.d.get(bad as number), "EINVAL").op).toBe("ArrayCursor.get");
    expect(expectCode(() => m.d.set(3, 1), "EINVAL").op).toBe("ArrayCursor.set");
    expectCode(() => m.m.at(2), "EINVAL");
    expectCode(() => m.parts.get(0 as never), "EINVAL");
    expectCode(() => m.d.at(0 as never), "EINVAL");
    expectCode(() => m.v.at(0), "EINVAL");
    expectCode(() => {
      (m as unknown as { v: number }).v = 1;
    }, "EINVAL");
    expectCode(() => m.at(-8), "EINVAL");
    expect(m.d.length).toBe(3);
  });

  test("read and write copy plain objects", () => {
    const heap = heapOf();
    const off = Mixed.alloc(heap);
    Mixed.write(heap, off, { a: 1, d: [1, 2, 3], v: { x: 1, y: 2, z: 3 }, parts: [{ x: 9 }] as never, g: 5n });
    const v = Mixed.read(heap, off);
    expect(v.a).toBe(1);
    expect(v.d).toEqual([1, 2, 3]);
    expect(v.v).toEqual({ x: 1, y: 2, z: 3 });
    expect(v.parts[0]!.x).toBe(9);
    expect(v.g).toBe(5n);
    expect(v.m).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]);
  });

  test("read, write and at() at an offset that is not a multiple of the alignment are EINVAL and change no byte", () => {
    const heap = heapOf();
    const off = Mixed.alloc(heap);
    Mixed.write(heap, off, { a: 7, b: 1.5, g: 9n });
    expect(Mixed.align).toBe(8);
    for (const bad of [off + 1, off + 4, off + 7, off + 0.5]) {
      expectUnchanged(heap, () => Mixed.write(heap, bad, { b: 2.5, g: 3n }), "EINVAL");
      expect(expectCode(() => Mixed.read(heap, bad), "EINVAL").op).toBe("StructLayout.read");
      expect(expectCode(() => Mixed.cursor(heap, bad), "EINVAL").op).toBe("StructCursor.at");
    }
    expect(expectCode(() => Mixed.write(heap, off + 2, { a: 1 }), "EINVAL").op).toBe("StructLayout.write");
    const two = struct({ h: "u16" });
    const t = two.cursor(heap, off);
    expectCode(() => t.at(off + 1), "EINVAL");
    expect(t.offset).toBe(off); // the failed move left the cursor where it was
    expect(Mixed.read(heap, off)).toMatchObject({ a: 7, b: 1.5, g: 9n });
  });

  test("read and write of a struct that does not fit inside the region are EINVAL and change no byte", () => {
    const heap = heapOf();
    const end = heap.u8.length;
    const S = struct({ x: "f64", y: "f64" });
    for (const bad of [end - 8, end, -16, 2 ** 53]) {
      expectUnchanged(heap, () => S.write(heap, bad, { x: 1 }), "EINVAL");
      expectCode(() => S.read(heap, bad), "EINVAL");
    }
    expect(S.read(heap, end - 16)).toEqual({ x: 0, y: 0 });
  });

  test("alloc zeroes and aligns, from heaps and frame arenas", () => {
    const heap = heapOf();
    const Big = struct({ x: "f64", pad: ["u8", 100] });
    const dirty = heap.malloc(4096);
    heap.u8.fill(0xff, dirty, dirty + 4096);
    heap.free(dirty);
    const off = Big.alloc(heap, 30);
    expect(off % Big.align).toBe(0);
    expect(heap.u8.subarray(off, off + Big.size * 30).every((b) => b === 0)).toBe(true);
    const arena = FrameArena.create({ size: MiB });
    open.push(arena);
    arena.frame((a) => {
      const o = a.alloc(256);
      a.u8.fill(0xff, o, o + 256);
    });
    arena.frame((a) => {
      const o = Big.alloc(a, 2);
      expect(a.u8.subarray(o, o + Big.size * 2).every((b) => b === 0)).toBe(true);
      const c = Big.cursor(a, o);
      c.x = 3;
      expect(a.f64[o >>> 3]).toBe(3);
    });
  });
});

describe("stale cursors (debug mode)", () => {
  test("after heap.reset(), a debug cursor throws ESTALE; at() makes it fresh again", () => {
    const heap = heapOf();
    const D = struct({ x: "f32", arr: ["u32", 2], v: Vec3 }, { debug: true });
    const c = D.cursor(heap, D.alloc(heap));
    c.x = 1;
    const arr = c.arr;
    heap.reset();
    expectCode(() => c.x, "ESTALE");
    expectCode(() => (c.x = 2), "ESTALE");
    expect(expectCode(() => c.arr.get(0), "ESTALE").op).toBe("StructCursor.arr");
    expect(expectCode(() => arr.get(0), "ESTALE").op).toBe("ArrayCursor.get");
    expect(expectCode(() => c.v.y, "ESTALE").op).toBe("StructCursor.v");
    expect(expectCode(() => c.x, "ESTALE").op).toBe("StructCursor.x");
    c.at(D.alloc(heap));
    expect(c.x).toBe(0);
  });

  test("without debug mode the same read does not throw", () => {
    const heap = heapOf();
    const N = struct({ x: "f32" }, { debug: false });
    const c = N.cursor(heap, N.alloc(heap));
    heap.reset();
    expect(typeof c.x).toBe("number");
  });

  test("PRIVHEAP_DEBUG=1 turns debug mode on for layouts made afterwards", () => {
    const saved = process.env.PRIVHEAP_DEBUG;
    process.env.PRIVHEAP_DEBUG = "1";
    try {
      expect(struct({ x: "u8" }).debug).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.PRIVHEAP_DEBUG;
      else process.env.PRIVHEAP_DEBUG = saved;
    }
    expect(struct({ x: "u8" }).debug).toBe(saved === "1");
  });

  test("a cursor made in an earlier frame throws ESTALE once that frame's memory is recycled", () => {
    const D = struct({ hp: "u32" }, { debug: true });
    const single = FrameArena.create({ size: MiB });
    open.push(single);
    const c1 = single.frame((a) => {
      const c = D.cursor(a, D.alloc(a));
      c.hp = 5;
      expect(c.hp).toBe(5);
      return c;
    });
    single.frame(() => expectCode(() => c1.hp, "ESTALE"));

    const double = FrameArena.create({ size: MiB, buffers: 2 });
    open.push(double);
    const c2 = double.frame((a) => {
      const c = D.cursor(a, D.alloc(a));
      c.hp = 7;
      return c;
    });
    double.frame(() => expect(c2.hp).toBe(7)); // previous frame: still readable
    double.frame(() => expectCode(() => c2.hp, "ESTALE"));
    // Repositioning binds the current frame's heap.
    double.frame((a) => {
      c2.at(D.alloc(a));
      c2.hp = 1;
      expect(c2.heap).toBe(a.heap);
    });
  });

  test("a debug cursor over a closed heap throws ECLOSED; a plain one reads undefined", () => {
    const h = PrivateHeap.create({ size: MiB });
    const D = struct({ x: "f32" }, { debug: true });
    const P = struct({ x: "f32" }, { debug: false });
    const d = D.cursor(h, D.alloc(h));
    const p = P.cursor(h, P.alloc(h));
    h.close();
    expectCode(() => d.x, "ECLOSED");
    expect(p.x).toBeUndefined();
  });
});
