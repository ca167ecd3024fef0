/**
 * struct.ts - typed layouts over a heap's bytes, in the C layout: each field
 * at the next offset that is a multiple of its alignment, the struct aligned
 * to its most aligned field and its size rounded up to that alignment. So C
 * code given the same declaration reads the same bytes.
 *
 * Access is through a cursor: an object positioned at an offset whose
 * getters and setters read and write the heap's typed arrays. The cursor
 * classes are generated once per layout (field offsets are constants in the
 * generated code, and no accessor is shared with another layout, so access
 * stays monomorphic); moving a cursor with `at(off)` allocates nothing, so
 * one cursor walks any number of structs. For arrays of structs, `each`
 * walks them with the range checked once, and `strided` gives one field of
 * every element as a typed array, a start and a stride (raw view speed).
 *
 * Field types: `u8 i8 u16 i16 u32 i32 f32 f64` (numbers), `u64 i64` (BigInt:
 * exact, but every read allocates a BigInt; prefer f64 or a pair of u32 on hot
 * paths), another layout (a nested struct), and `[type, count]` for arrays,
 * which nest (`[["f32", 4], 4]` is a 4x4 matrix).
 *
 * Debug mode (`PRIVHEAP_DEBUG=1` when the layout is made, or `{ debug: true }`)
 * refuses what C-style memory lets through. Positioning a cursor (`at`,
 * `index`, `each`) checks that the struct lies inside one live allocation
 * (over a FrameArena: outside the header and inside the region), else
 * `EBADPTR`; a cursor made without an offset sits on the header and its
 * first access throws `EBADPTR`. Every access then checks that the
 * allocation is still live: after a reset, or once the frame it was
 * positioned in is discarded, or after the allocation was freed (or moved
 * by realloc), it throws `ESTALE` instead of touching recycled memory,
 * even when a later malloc has handed the same offset out again (the heap
 * logs its last 65,536 frees once a debug cursor uses it: free-log.ts).
 * Errors name the offset, the allocation, the field (the op) and the
 * generation. An access costs two header reads while nothing was freed.
 * `read`, `write` and `strided` check their offset the same way. Not
 * caught: a place handed out again after more than 65,536 later frees, or
 * freed outside this PrivateHeap object (C code, another process on a
 * shared heap file); a large allocation shrunk in place by realloc; an
 * absolute offset that lands in another live allocation; and writes
 * through the views `strided` returns.
 */
import { HeapError } from "./errors.ts";
import { FREE_LOG, type FreeLog } from "./free-log.ts";
import { FrameArena } from "./frame-arena.ts";
import { NATIVE_CONSTANTS } from "./ffi/symbols.ts";
import { PrivateHeap, watchViews } from "./heap.ts";

/**
 * Scalar field types.
 *
 * @example
 * ```ts
 * import { struct, type ScalarType } from "privheap";
 * const t: ScalarType = "u16";
 * const S = struct({ v: t });
 * ```
 */
export type ScalarType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64" | "u64" | "i64";

/**
 * A field's type: a scalar, a nested layout, or `[type, count]` for an array.
 *
 * @example
 * ```ts
 * import { struct } from "privheap";
 * const Vec2 = struct({ x: "f32", y: "f32" });
 * const S = struct({ a: "u8", v: Vec2, path: [Vec2, 8], m: [["f32", 4], 4] });
 * ```
 */
export type FieldType = ScalarType | StructLayout<any> | readonly [FieldType, number];

/**
 * Field name to type, in declaration order.
 *
 * @example
 * ```ts
 * import { struct, type Fields } from "privheap";
 * const spec = { hp: "u32", pos: ["f32", 3] } satisfies Fields;
 * const S = struct(spec);
 * ```
 */
export type Fields = Record<string, FieldType>;

/**
 * Where cursors read: a heap, or a frame arena's current heap.
 *
 * @example
 * ```ts
 * import { FrameArena, struct, type StructSource } from "privheap";
 * using arena = FrameArena.create({ size: 1 << 20 });
 * const src: StructSource = arena;
 * ```
 */
export type StructSource = PrivateHeap | FrameArena;

type ScalarValue<T> = T extends "u64" | "i64" ? bigint : number;

/** Dotted paths to the scalar fields of a field of type `T` named `P`, at most 8 levels deep (`D` counts them). */
type PathIn<T, P extends string, D extends unknown[]> = D["length"] extends 8
  ? never
  : T extends ScalarType
    ? P
    : T extends StructLayout<infer G>
      ? { [K in keyof G & string]: PathIn<G[K], `${P}.${K}`, [...D, 0]> }[keyof G & string]
      : T extends readonly [infer E, number]
        ? PathIn<E, `${P}.${number}`, [...D, 0]>
        : never;

/**
 * A dotted path from a struct to one of its scalar fields, through nested
 * structs and array indexes: `"hp"`, `"pos.x"`, `"path.3.y"`.
 *
 * @example
 * ```ts
 * import { struct, type ScalarPath } from "privheap";
 * const Vec3 = struct({ x: "f32", y: "f32", z: "f32" });
 * const spec = { pos: Vec3, hist: ["u8", 4] } as const;
 * const p: ScalarPath<typeof spec> = "hist.2"; // or "pos.x", "pos.y", ...
 * ```
 */
export type ScalarPath<F extends Fields> = { [K in keyof F & string]: PathIn<F[K], K, []> }[keyof F & string];

type ChildType<T, H extends string> = T extends StructLayout<infer G> ? (H extends keyof G ? G[H] : never) : T extends readonly [infer E, number] ? E : never;
type TypeAt<T, P extends string> = P extends `${infer H}.${infer R}` ? TypeAt<ChildType<T, H>, R> : ChildType<T, P>;

/**
 * The heap's typed array for each scalar type.
 *
 * @example
 * ```ts
 * import type { ScalarViews } from "privheap";
 * const v: ScalarViews["f64"] = new Float64Array(1);
 * ```
 */
export interface ScalarViews {
  u8: Uint8Array;
  i8: Int8Array;
  u16: Uint16Array;
  i16: Int16Array;
  u32: Uint32Array;
  i32: Int32Array;
  f32: Float32Array;
  f64: Float64Array;
  u64: BigUint64Array;
  i64: BigInt64Array;
}

/**
 * One scalar field of every struct in an array of structs, as a strided
 * view: element `i`'s field is `view[start + i * stride]`. `view` is the
 * heap's own typed array (no copy; valid while the heap is open), so a loop
 * over it runs at raw typed-array speed. Nothing checks `i`: an index past
 * the array reads or writes the neighbouring bytes of the heap.
 *
 * @example
 * ```ts
 * import { PrivateHeap, struct } from "privheap";
 * const Vec3 = struct({ x: "f64", y: "f64", z: "f64" });
 * const Body = struct({ pos: Vec3, vel: Vec3 });
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const base = Body.alloc(heap, 100);
 * const x = Body.strided(heap, base, "pos.x");
 * for (let i = 0; i < 100; i++) x.view[x.start + i * x.stride] = i;
 * console.log(Body.read(heap, base + 7 * Body.size).pos.x); // 7
 * ```
 */
export interface StridedField<V> {
  /** The heap's typed array of the field's type. */
  readonly view: V;
  /** Index in `view` of the field of element 0. */
  readonly start: number;
  /** Elements of `view` from one struct to the next (the struct size over the field size). */
  readonly stride: number;
}

/**
 * Accessor of an array field: `get(i)`, `set(i, v)`, and `at(i)` for arrays of structs or arrays.
 *
 * @example
 * ```ts
 * import { PrivateHeap, struct } from "privheap";
 * const S = struct({ pos: ["f32", 3] });
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const c = S.cursor(heap, S.alloc(heap));
 * c.pos.set(2, 1.5);
 * console.log(c.pos.get(2), c.pos.length); // 1.5 3
 * ```
 */
export interface ArrayCursor<E extends FieldType> {
  /** Number of elements. */
  readonly length: number;
  /** Absolute byte offset of element `i`. */
  offsetOf(i: number): number;
  /** Element `i` (scalar arrays). */
  get(i: number): E extends ScalarType ? ScalarValue<E> : never;
  /** Store element `i` (scalar arrays). */
  set(i: number, v: E extends ScalarType ? ScalarValue<E> : never): void;
  /** The element cursor positioned at `i` (arrays of structs or arrays); reused, not allocated. */
  at(i: number): E extends ScalarType ? never : CursorOf<E>;
}

type CursorOf<T> = T extends ScalarType
  ? never
  : T extends StructLayout<infer G>
    ? StructCursor<G>
    : T extends readonly [infer E extends FieldType, number]
      ? ArrayCursor<E>
      : never;

/**
 * Members every struct cursor has besides its fields.
 *
 * @example
 * ```ts
 * import { PrivateHeap, struct } from "privheap";
 * const S = struct({ v: "u32" });
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const base = S.alloc(heap, 4);
 * const c = S.cursor(heap);
 * c.index(base, 3).v = 1; // same as c.at(base + 3 * S.size)
 * ```
 */
export interface CursorBase {
  /** Absolute byte offset the cursor is at. */
  readonly offset: number;
  /** Move to `off`; returns the cursor. Over a FrameArena this also binds the arena's current heap. */
  at(off: number): this;
  /** Move to element `i` of an array of these structs starting at `base`: `at(base + i * size)`. */
  index(base: number, i: number): this;
  /** The heap the cursor reads (for a FrameArena source, the heap of the frame it was positioned in). */
  readonly heap: PrivateHeap | undefined;
}

/**
 * A cursor: fields as properties (scalars as numbers or BigInt, arrays and nested structs as cursors).
 *
 * @example
 * ```ts
 * import { PrivateHeap, struct, type StructCursor } from "privheap";
 * const S = struct({ hp: "i32" });
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const c: StructCursor<{ hp: "i32" }> = S.cursor(heap, S.alloc(heap));
 * c.hp -= 10;
 * ```
 */
export type StructCursor<F extends Fields> = CursorBase & {
  -readonly [K in keyof F]: F[K] extends ScalarType ? ScalarValue<F[K]> : CursorOf<F[K]>;
};

/**
 * Plain-object form of a struct, as {@link StructLayout.read} returns it.
 *
 * @example
 * ```ts
 * import type { StructValue } from "privheap";
 * const v: StructValue<{ x: "f32"; tags: readonly ["u8", 2] }> = { x: 1, tags: [0, 1] };
 * ```
 */
export type StructValue<F extends Fields> = {
  [K in keyof F]: ValueOf<F[K]>;
};
type ValueOf<T> = T extends ScalarType
  ? ScalarValue<T>
  : T extends StructLayout<infer G>
    ? StructValue<G>
    : T extends readonly [infer E, number]
      ? ValueOf<E>[]
      : never;

/**
 * Where one field sits.
 *
 * @example
 * ```ts
 * import { struct } from "privheap";
 * for (const f of struct({ a: "u8", b: "f64" }).fields) console.log(f.name, f.offset, f.size);
 * ```
 */
export interface FieldInfo {
  /** Field name. */
  readonly name: string;
  /** Byte offset from the start of the struct. */
  readonly offset: number;
  /** Bytes the field occupies (an array: all elements). */
  readonly size: number;
  /** Alignment of the field. */
  readonly align: number;
  /** The declared type. */
  readonly type: FieldType;
}

/**
 * Options of {@link struct}.
 *
 * @example
 * ```ts
 * import { struct } from "privheap";
 * const Checked = struct({ x: "f32" }, { debug: true }); // checked positions, ESTALE after free or reset
 * ```
 */
export interface StructOptions {
  /** Check positions and liveness on every cursor access (default: `PRIVHEAP_DEBUG=1` in the environment). */
  debug?: boolean;
}

const SCALARS: Record<ScalarType, { size: number; view: string; shift: number }> = {
  u8: { size: 1, view: "_u8", shift: 0 },
  i8: { size: 1, view: "_i8", shift: 0 },
  u16: { size: 2, view: "_u16", shift: 1 },
  i16: { size: 2, view: "_i16", shift: 1 },
  u32: { size: 4, view: "_u32", shift: 2 },
  i32: { size: 4, view: "_i32", shift: 2 },
  f32: { size: 4, view: "_f32", shift: 2 },
  f64: { size: 8, view: "_f64", shift: 3 },
  u64: { size: 8, view: "_u64", shift: 3 },
  i64: { size: 8, view: "_i64", shift: 3 },
};

const VIEW_NAMES = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "f64", "u64", "i64"] as const;

/** Names a field may not take: cursor members. */
const RESERVED = new Set(["at", "index", "offset", "heap", "constructor", "toJSON", "__proto__", "prototype"]);

function isScalar(t: unknown): t is ScalarType {
  return typeof t === "string" && Object.hasOwn(SCALARS, t);
}

/** Size in bytes of a field of type `t` (a validated layout's field types only). For the library's modules. */
export function fieldTypeSize(t: FieldType): number {
  return sizeAlign(t, "field").size;
}

function sizeAlign(t: FieldType, where: string): { size: number; align: number } {
  if (isScalar(t)) return { size: SCALARS[t].size, align: SCALARS[t].size };
  if (t instanceof StructLayout) return { size: t.size, align: t.align };
  if (Array.isArray(t) && t.length === 2) {
    const n = t[1];
    if (!Number.isSafeInteger(n) || n < 1) throw new HeapError("EINVAL", "struct", `${where}: array length must be a positive integer, got ${String(n)}`);
    const e = sizeAlign(t[0], `${where}[]`);
    return { size: e.size * n, align: e.align };
  }
  throw new HeapError("EINVAL", "struct", `${where}: unknown field type ${JSON.stringify(t)}; use one of ${Object.keys(SCALARS).join(" ")}, a struct layout or [type, count]`);
}

// ---- code generation -----------------------------------------------------------
// Every cursor object is an instance of a class generated for one place in
// one layout: a root cursor; a nested struct or array at a constant offset
// inside it; or the element of an array of structs or arrays. Each class is
// compiled from its own source (with a serial number in it), so no two
// layouts or places share a function: every property access inside a
// generated accessor sees one object shape, however many layouts exist.
//
// Node fields (every node has all of them, so each class has one shape):
//   _a  the node's anchor: the root, or the innermost array element it sits
//       in (an anchor is its own). A node reads a field at `_a._o + its
//       offset in the anchor + the field's offset`, all but `_o` constants,
//       as `view[(_a._o >>> log2(size)) + constant]`. An anchor's offset is a
//       multiple of its alignment, itself a multiple of every scalar size
//       inside, so the shift loses nothing.
//   _o  an anchor's byte offset (0 in the other nodes)
//   _u8 ... _i64  the heap's typed arrays
//   _r  the root cursor: the source, the heap, the generation (debug mode)
// Moving an anchor is one store, of its `_o`: the nested nodes inside it read
// it from there. (Measured: a store per node and per view index on every
// move cost more than the shift per access saves.) Array elements are
// anchors of their own, moved by their array's `at(i)`; `_bind` on the root
// gives every node of the tree the views.

/** Where a generated node sits: "root" (a cursor), "element" (of an array) or "nested" (a struct or array field). */
type Kind = "root" | "element" | "nested";

interface Node {
  [k: string]: unknown;
}
type Views = Record<(typeof VIEW_NAMES)[number], ArrayBufferView>;
/** A generated node class: roots take (source, isArena), the others (root). */
type NodeClass = new (a: unknown, b?: unknown) => Node;
type Compound = StructLayout<any> | readonly [FieldType, number];

function viewsOf(heap: PrivateHeap): Views {
  return { u8: heap.u8, i8: heap.i8, u16: heap.u16, i16: heap.i16, u32: heap.u32, i32: heap.i32, f32: heap.f32, f64: heap.f64, u64: heap.u64, i64: heap.i64 };
}

// Errors raised from generated code (cold paths, shared by all classes).
const raise = {
  index: (op: string, i: unknown, n: number) => new HeapError("EINVAL", op, `array index must be an integer from 0 to ${n - 1}, got ${String(i)}`),
  assign: (name: string, isArray: boolean) =>
    new HeapError("EINVAL", `StructCursor.${name}`, `field ${name} is ${isArray ? "an array" : "a struct"}: assign its elements or fields`),
  nested: (op: string) => new HeapError("EINVAL", op, "this is a nested cursor: move the outer cursor instead"),
  at: (off: unknown, align: number) => new HeapError("EINVAL", "StructCursor.at", `offset must be a multiple of ${align} from 0 to 2^32 - 1, got ${String(off)}`),
  notScalarArray: (op: string) => new HeapError("EINVAL", op, "get/set are for arrays of scalars; use at(i) for arrays of structs or arrays"),
  scalarArray: () => new HeapError("EINVAL", "ArrayCursor.at", "at(i) is for arrays of structs or arrays; use get(i) / set(i, v)"),
  closed: (op: string) => new HeapError("ECLOSED", op),
};

// ---- debug mode ------------------------------------------------------------------
// A debug root remembers the allocation its struct lies in ([_lo, _hi)) and
// the low words of the heap's generation and free count when it checked it
// (_gen, _frees). Every access compares the two header words with them (two
// typed-array reads, no call); only when one moved does `recheck` ask the
// heap whether the allocation is still live. A cursor at offset 0 (made
// without an offset) has _hi = 0 and _gen = -1: its first access throws.

/** Indexes in the heap's 4-byte views of the low words a debug cursor watches (read through the i32 view: the values stay small integers). */
const GEN_WORD = NATIVE_CONSTANTS.PH_GENERATION_OFFSET >>> 2;
const FREES_WORD = NATIVE_CONSTANTS.PH_FREE_COUNT_OFFSET >>> 2;
const HEADER_BYTES = NATIVE_CONSTANTS.PH_HEADER_BYTES;

/** The debug root's members `guard` reads and sets. */
interface DebugRoot {
  _heap: PrivateHeap;
  _src: StructSource;
  _arena: boolean;
  _i32: Int32Array;
  _o: number;
  _gen: number;
  _frees: number;
  _frame: number;
  _lo: number;
  _hi: number;
  /** The heap's free log (heap cursors) and its serial when the allocation was last found live. */
  _log: FreeLog | undefined;
  _fserial: number;
}

/** The live allocation holding offset `off` of `heap`, as [start, usable size], or undefined. */
function allocationAt(heap: PrivateHeap, off: number): [number, number] | undefined {
  try {
    return [off, heap.usableSize(off)]; // the common case: `off` starts an allocation
  } catch {
    let found: [number, number] | undefined;
    heap.walk((start, size) => {
      if (start > off) return false;
      if (off < start + size) found = [start, size];
      return found === undefined;
    });
    return found;
  }
}

/**
 * Where `bytes` bytes at `off` of `heap` may be used in debug mode: the
 * [start, end) of the one live allocation holding them (for a frame arena,
 * whose scratch is not a heap allocation: the region past the header), or
 * why not.
 */
function homeOf(heap: PrivateHeap, off: number, bytes: number, arena: boolean): [number, number] | string {
  const what = `the struct at offset ${off} (${bytes} bytes)`;
  if (off < HEADER_BYTES) return `${what} overlaps the heap header (bytes 0 to ${HEADER_BYTES - 1})`;
  if (arena) return off + bytes > heap.u8.length ? `${what} ends past the region (${heap.u8.length} bytes)` : [HEADER_BYTES, heap.u8.length];
  const a = allocationAt(heap, off);
  if (a !== undefined && off + bytes <= a[0] + a[1]) return [a[0], a[0] + a[1]];
  const found = a === undefined ? "no live allocation holds that offset" : `the live allocation there starts at ${a[0]} and has ${a[1]} bytes (ends at ${a[0] + a[1]})`;
  return `${what} is not inside one live allocation: ${found}`;
}

/** In debug mode, `EBADPTR` unless `bytes` at `off` lie in one live allocation (see homeOf). */
function checkHome(layout: StructLayout<any>, source: StructSource, heap: PrivateHeap, off: number, bytes: number, op: string): void {
  if (!layout.debug) return;
  const home = homeOf(heap, off, bytes, source instanceof FrameArena);
  if (typeof home === "string") throw new HeapError("EBADPTR", op, home);
}

function frameNote(r: DebugRoot): string {
  return r._arena ? ` (frame ${r._frame}; the arena is at frame ${(r._src as FrameArena).generation})` : "";
}

// Debug checks called from generated code (cold: the generated code calls them only when its quick test fails).
const guard = {
  /**
   * Check that a struct of `size` bytes at `off` lies in one live allocation
   * (in a frame arena: outside the header, inside the region), and remember
   * it. On failure the cursor is left unusable until positioned again, so a
   * refused move cannot hide a free of the allocation it was on.
   */
  place(r: DebugRoot, off: number, size: number): void {
    const heap = r._heap;
    if (heap.closed) throw raise.closed("StructCursor.at");
    r._lo = r._hi = 0;
    r._gen = -1;
    if (off === 0) return;
    const home = homeOf(heap, off, size, r._arena);
    if (typeof home === "string") throw new HeapError("EBADPTR", "StructCursor.at", home);
    const u = r._i32;
    r._gen = u[GEN_WORD]!;
    r._frees = u[FREES_WORD]!;
    if (r._arena) r._frame = (r._src as FrameArena).generation;
    else r._fserial = (r._log ??= heap[FREE_LOG]()).serial;
    r._lo = home[0];
    r._hi = home[1];
  },

  /** Check that element `i` of the array of `size`-byte structs at `base` lies in the allocation holding `base`. */
  index(r: DebugRoot, base: number, i: number, size: number): void {
    const off = base + i * size;
    if (typeof base !== "number" || typeof i !== "number" || off >>> 0 !== off || base >>> 0 !== base) return; // at() reports it
    guard.place(r, base, size);
    if (off < r._lo || off + size > r._hi)
      throw new HeapError(
        "EBADPTR",
        "StructCursor.index",
        `element ${i} of the array at offset ${base} (the struct at offset ${off}, ${size} bytes) is outside its allocation: the allocation at offset ${r._lo} has ${r._hi - r._lo} bytes`,
      );
  },

  /** A header word moved since `r` was checked: throw if its allocation is gone, else remember the new words. */
  recheck(r: DebugRoot, op: string): void {
    const heap = r._heap;
    if (heap.closed) throw raise.closed(op);
    if (r._hi === 0) throw new HeapError("EBADPTR", op, `the cursor is at offset ${r._o}, not in a live allocation (offset 0 is the heap header): position it with at() first`);
    const u = r._i32;
    const alloc = `the allocation at offset ${r._lo} (${r._hi - r._lo} bytes) holding the struct at offset ${r._o}`;
    if (u[GEN_WORD] !== r._gen)
      throw new HeapError("ESTALE", op, `${alloc} is gone: the heap was reset since the cursor was positioned in generation ${r._gen} (now ${heap.generation})${frameNote(r)}`);
    if (!r._arena) {
      const log = r._log!;
      // The log sees a free even when a malloc has since given the same offset out again.
      if (log.freedSince(r._lo, r._fserial) === true)
        throw new HeapError("ESTALE", op, `use after free: ${alloc} was freed since the cursor was positioned (generation ${r._gen}); its offset may hold another allocation now`);
      const a = allocationAt(heap, r._lo);
      if (a === undefined || a[0] !== r._lo || a[1] < r._hi - r._lo)
        throw new HeapError("ESTALE", op, `use after free: ${alloc} was freed or shrunk since the cursor was positioned (generation ${r._gen})`);
    }
    r._frees = u[FREES_WORD]!;
    if (!r._arena) r._fserial = r._log!.serial;
  },
};

let serial = 0;

/** Compile `classSource` (a class expression using `raise` and the classes in `deps`) on its own. */
function compileClass(name: string, classSource: string, deps: NodeClass[]): NodeClass {
  const params = deps.map((_, i) => `K${i}`);
  const body = `"use strict";\n// privheap struct cursor ${name} #${++serial}\nreturn ${classSource};`;
  return new Function("raise", "guard", ...params, body)(raise, guard, ...deps) as NodeClass;
}

/** The debug check generated accessors run first: inline, so an access whose allocation was not rechecked costs two loads and two compares. */
function staleCheck(debug: boolean, op: string, kind: Kind): string {
  if (!debug) return "";
  return `{ const r = ${kind === "root" ? "this" : "this._r"}, u = r._i32; if (u[${GEN_WORD}] !== r._gen || u[${FREES_WORD}] !== r._frees) guard.recheck(r, ${JSON.stringify(op)}); } `;
}

/** The anchor of a node of `kind`, as generated code names it. */
function anchorOf(kind: Kind): string {
  return kind === "nested" ? "this._a" : "this";
}

/** View index expression of scalar `t` at byte `off` from the anchor `a` (`off` a multiple of the scalar's size). */
function viewIndex(t: ScalarType, off: number, a: string): string {
  const size = SCALARS[t].size;
  return size === 1 ? `${a}._o + ${off}` : `(${a}._o >>> ${Math.log2(size)}) + ${off / size}`;
}

/** Expressions (from `self`) of every node of the tree of `t`, array elements included. */
function allPaths(t: Compound, self: string, out: string[] = []): string[] {
  out.push(self);
  if (t instanceof StructLayout) {
    for (const f of t.fields) if (!isScalar(f.type)) allPaths(f.type as Compound, `${self}._c_${f.name}`, out);
  } else if (!isScalar(t[0])) allPaths(t[0] as Compound, `${self}._e`, out);
  return out;
}

/** The fields every node starts with, in one order. */
function nodeInit(root: string, anchor: string): string {
  return `this._r = ${root}; this._a = ${anchor}; this._o = 0; ${VIEW_NAMES.map((v) => `this._${v} = undefined;`).join(" ")}`;
}

/** The constructor of a node that is not a root: it takes the root and the anchor of its parent. */
function nodeConstructor(kind: Kind, kids: string): string {
  return `constructor(r, a) { ${nodeInit("r", kind === "element" ? "this" : "a")} ${kids} }`;
}

function nodeClass(t: Compound, kind: Kind, rel: number, debug: boolean, path: string): NodeClass {
  return t instanceof StructLayout ? structClass(t, kind, rel, debug, false, path) : arrayClass(t, kind, rel, debug, path);
}

/** `arena`: a root cursor over a frame arena, which rebinds its views when the arena's heap changes. */
function structClass(layout: StructLayout<any>, kind: Kind, rel: number, debug: boolean, arena: boolean, path: string): NodeClass {
  const a = anchorOf(kind);
  const deps: NodeClass[] = [];
  const members: string[] = [];
  const kids: string[] = [];
  for (const f of layout.fields) {
    const pre = staleCheck(debug, `StructCursor.${f.name}`, kind);
    if (isScalar(f.type)) {
      const at = `this.${SCALARS[f.type].view}[${viewIndex(f.type, rel + f.offset, a)}]`;
      members.push(`get ${f.name}() { ${pre}return ${at}; }`, `set ${f.name}(v) { ${pre}${at} = v; }`);
    } else {
      const k = deps.push(nodeClass(f.type as Compound, "nested", rel + f.offset, debug, `${path}.${f.name}`)) - 1;
      kids.push(`this._c_${f.name} = new K${k}(this._r, ${kind === "nested" ? "this._a" : "this"});`);
      members.push(`get ${f.name}() { ${pre}return this._c_${f.name}; }`, `set ${f.name}(v) { throw raise.assign(${JSON.stringify(f.name)}, ${Array.isArray(f.type)}); }`);
    }
  }
  members.push(`get offset() { return ${a}._o + ${rel}; }`, `get heap() { return this._r._heap; }`);
  let ctor: string;
  if (kind === "root") {
    ctor = `constructor(src, arena) { ${nodeInit("this", "this")} this._src = src; this._arena = arena; this._heap = undefined; this._gen = -1; this._frees = 0; this._frame = 0; this._lo = 0; this._hi = 0; this._log = undefined; this._fserial = 0; ${kids.join(" ")} }`;
    const bind = allPaths(layout, "this").map((p) => VIEW_NAMES.map((v) => `${p}._${v} = heap.${v};`).join(" "));
    members.push(
      `_bind(heap) { this._heap = heap; ${bind.join(" ")} }`,
      // A misaligned offset would make every field's view index fractional: its reads would truncate to another field.
      `at(off) {
        if (typeof off !== "number" || off >>> 0 !== off || (off & ${layout.align - 1}) !== 0) throw raise.at(off, ${layout.align});
        ${arena ? "const heap = this._src.heap; if (heap !== this._heap) this._bind(heap);" : ""}
        ${debug ? `const u = this._i32; if (u[${GEN_WORD}] !== this._gen || u[${FREES_WORD}] !== this._frees || off < this._lo || off + ${layout.size} > this._hi) guard.place(this, off, ${layout.size});` : ""}
        this._o = off;
        return this;
      }`,
      // Debug: element i must lie in the allocation that holds base, not in a neighbour.
      debug
        ? `index(base, i) {
            const off = base + i * ${layout.size};
            const u = this._i32;
            if (${arena} || u[${GEN_WORD}] !== this._gen || u[${FREES_WORD}] !== this._frees || off >>> 0 !== off || (off & ${layout.align - 1}) !== 0 ||
                base < this._lo || base >= this._hi || off < this._lo || off + ${layout.size} > this._hi) {
              guard.index(this, base, i, ${layout.size});
              return this.at(off);
            }
            this._o = off;
            return this;
          }`
        : `index(base, i) { return this.at(base + i * ${layout.size}); }`,
    );
  } else {
    ctor = nodeConstructor(kind, kids.join(" "));
    members.push(`at(off) { throw raise.nested("StructCursor.at"); }`, `index(base, i) { throw raise.nested("StructCursor.index"); }`);
  }
  return compileClass(path, `class {\n${ctor}\n${members.join("\n")}\n}`, deps);
}

function arrayClass(t: readonly [FieldType, number], kind: Kind, rel: number, debug: boolean, path: string): NodeClass {
  const [et, n] = t;
  const { size: stride } = sizeAlign(et, "array");
  const a = anchorOf(kind);
  const elemAt = `${a}._o + ${rel} + i * ${stride}`;
  /** The index check and the debug check of the accessor `method`. */
  const pre = (method: string) => {
    const op = JSON.stringify(`ArrayCursor.${method}`);
    return `if (typeof i !== "number" || i >>> 0 !== i || i >= ${n}) throw raise.index(${op}, i, ${n}); ${staleCheck(debug, `ArrayCursor.${method}`, kind)}`;
  };
  const deps: NodeClass[] = [];
  const members = [`get length() { return ${n}; }`, `offsetOf(i) { ${pre("offsetOf")}return ${elemAt}; }`];
  let kid = "";
  if (isScalar(et)) {
    const size = SCALARS[et].size;
    const at = `this.${SCALARS[et].view}[${viewIndex(et, rel, a)} + i * ${stride / size}]`;
    members.push(`get(i) { ${pre("get")}return ${at}; }`, `set(i, v) { ${pre("set")}${at} = v; }`, `at(i) { throw raise.scalarArray(); }`);
  } else {
    deps.push(nodeClass(et as Compound, "element", 0, debug, `${path}[]`));
    kid = "this._e = new K0(r, this);";
    members.push(
      `at(i) { ${pre("at")}const e = this._e; e._o = ${elemAt}; return e; }`,
      `get(i) { throw raise.notScalarArray("ArrayCursor.get"); }`,
      `set(i, v) { throw raise.notScalarArray("ArrayCursor.set"); }`,
    );
  }
  const ctor = nodeConstructor(kind, kid);
  return compileClass(path, `class {\n${ctor}\n${members.join("\n")}\n}`, deps);
}

/** Give a root cursor the views of the heap it is bound to again (after they were remade), unless that heap is closed. */
function rebindCursor(c: { _heap?: PrivateHeap; _bind(h: PrivateHeap): void }): void {
  const heap = c._heap;
  if (heap !== undefined && !heap.closed) c._bind(heap);
}

/** Root cursor classes of `layout`, compiled once per layout, debug flag and source kind (heap or frame arena). */
const rootClasses = new WeakMap<StructLayout<any>, Map<string, NodeClass>>();

function rootClass(layout: StructLayout<any>, debug: boolean, arena: boolean): NodeClass {
  let entry = rootClasses.get(layout);
  if (entry === undefined) rootClasses.set(layout, (entry = new Map()));
  const key = `${debug ? "debug" : "plain"} ${arena ? "arena" : "heap"}`;
  let cls = entry.get(key);
  if (cls === undefined) entry.set(key, (cls = structClass(layout, "root", 0, debug, arena, key)));
  return cls;
}

/** The loop of {@link StructLayout.each}, compiled per layout so its call of `fn` sees only this layout's cursors. */
type EachLoop = (c: Node, base: number, count: number, fn: (c: any, i: number) => void) => void;
const eachLoops = new WeakMap<StructLayout<any>, EachLoop>();

function eachLoop(layout: StructLayout<any>): EachLoop {
  let loop = eachLoops.get(layout);
  if (loop === undefined) {
    const body = `"use strict";\n// privheap struct each #${++serial}\nfor (let i = 0, o = base; i < count; i++, o += ${layout.size}) { c._o = o; fn(c, i); }`;
    loop = new Function("c", "base", "count", "fn", body) as EachLoop;
    eachLoops.set(layout, loop);
  }
  return loop;
}

// ---- layouts -----------------------------------------------------------------------

/** Only {@link struct} constructs layouts: it also gives the generated cursor type its root members. */
const MAKE_LAYOUT: unique symbol = Symbol("privheap.StructLayout");

/**
 * A struct layout: field offsets, size and alignment in the C layout, and a
 * generated cursor type. Make one with {@link struct}.
 *
 * @example
 * ```ts
 * import { struct } from "privheap";
 * const Vec3 = struct({ x: "f32", y: "f32", z: "f32" });
 * console.log(Vec3.size, Vec3.align, Vec3.offsets.z); // 12 4 8
 * ```
 */
export class StructLayout<F extends Fields> {
  /** Bytes of one struct, padding included (the C `sizeof`). */
  readonly size: number;
  /** Alignment (the C `_Alignof`). */
  readonly align: number;
  /** Fields in declaration order. */
  readonly fields: readonly FieldInfo[];
  /** Field name to byte offset. */
  readonly offsets: Readonly<Record<keyof F, number>>;
  /** True when cursors check their position and the liveness of their allocation (debug mode). */
  readonly debug: boolean;

  /** @internal Use {@link struct}. */
  constructor(token: typeof MAKE_LAYOUT, spec: F, debug: boolean) {
    if (token !== MAKE_LAYOUT) throw new HeapError("EINVAL", "StructLayout.constructor", "use struct({ ... }) to make a layout");
    if (spec === null || typeof spec !== "object" || Object.keys(spec).length === 0)
      throw new HeapError("EINVAL", "struct", "a struct needs at least one field");
    const fields: FieldInfo[] = [];
    const offsets: Record<string, number> = {};
    let off = 0;
    let align = 1;
    for (const [name, type] of Object.entries(spec)) {
      if (RESERVED.has(name) || name.startsWith("_") || !/^[A-Za-z$][\w$]*$/.test(name))
        throw new HeapError("EINVAL", "struct", `field name ${JSON.stringify(name)} is reserved or not an identifier`);
      const sa = sizeAlign(type, name);
      off = Math.ceil(off / sa.align) * sa.align;
      fields.push(Object.freeze({ name, offset: off, size: sa.size, align: sa.align, type }));
      offsets[name] = off;
      off += sa.size;
      align = Math.max(align, sa.align);
    }
    this.size = Math.ceil(off / align) * align;
    this.align = align;
    this.fields = Object.freeze(fields);
    this.offsets = Object.freeze(offsets) as Record<keyof F, number>;
    this.debug = debug;
  }

  /**
   * Byte offset of field `name` from the start of the struct.
   *
   * @example
   * ```ts
   * import { struct } from "privheap";
   * struct({ a: "u8", b: "f64" }).offsetOf("b"); // 8
   * ```
   */
  offsetOf(name: keyof F & string): number {
    const o = (this.offsets as Record<string, number>)[name];
    if (o === undefined) throw new HeapError("EINVAL", "StructLayout.offsetOf", `no field ${JSON.stringify(name)}`);
    return o;
  }

  /**
   * A cursor over `source` positioned at `off` (move it with `at`). Create
   * cursors once and reuse them: positioning allocates nothing.
   *
   * @example
   * ```ts
   * import { PrivateHeap, struct } from "privheap";
   * const P = struct({ x: "f32", y: "f32", hp: "u32" });
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const base = P.alloc(heap, 100);
   * const p = P.cursor(heap);
   * for (let i = 0; i < 100; i++) p.index(base, i).hp = 100;
   * console.log(p.index(base, 42).hp); // 100
   * ```
   */
  cursor(source: StructSource, off = 0): StructCursor<F> {
    if (!(source instanceof PrivateHeap) && !(source instanceof FrameArena))
      throw new HeapError("EINVAL", "StructLayout.cursor", "cursor source must be a PrivateHeap or a FrameArena");
    const isArena = source instanceof FrameArena;
    const c = new (rootClass(this, this.debug, isArena))(source, isArena) as unknown as StructCursor<F> & { _bind(h: PrivateHeap): void };
    if (!isArena) c._bind(source);
    // On a WebAssembly heap the views die when the module's memory grows: bind the cursor to the new ones then.
    watchViews(isArena ? source.heap : source, c, rebindCursor);
    c.at(off);
    return c;
  }

  /**
   * Allocate zeroed room for `count` structs (default 1), aligned to the
   * layout; returns the offset. From a FrameArena, the memory lasts for the
   * current frame.
   *
   * @example
   * ```ts
   * import { PrivateHeap, struct } from "privheap";
   * const P = struct({ x: "f64" });
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const off = P.alloc(heap, 10);
   * console.log(heap.usableSize(off) >= 80); // true
   * ```
   */
  alloc(source: StructSource, count = 1): number {
    if (!Number.isSafeInteger(count) || count < 0)
      throw new HeapError("EINVAL", "StructLayout.alloc", `count must be a non-negative integer, got ${String(count)}`);
    const bytes = this.size * count;
    if (source instanceof FrameArena) {
      const off = this.align > 16 ? source.allocAligned(this.align, bytes) : source.alloc(bytes);
      source.u8.fill(0, off, off + bytes);
      return off;
    }
    if (this.align > 16) {
      const off = source.alignedAlloc(this.align, bytes);
      source.u8.fill(0, off, off + bytes);
      return off;
    }
    return source.calloc(count, this.size);
  }

  /**
   * Copy the struct at `off` into a plain object (arrays as JS arrays). For
   * tests, logs and saves, not for hot paths: it allocates. `off` must be a
   * multiple of the layout's `align` with the whole struct inside the
   * region (`EINVAL` otherwise).
   *
   * @example
   * ```ts
   * import { PrivateHeap, struct } from "privheap";
   * const P = struct({ x: "f32", tag: ["u8", 2] });
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const off = P.alloc(heap);
   * console.log(P.read(heap, off)); // { x: 0, tag: [0, 0] }
   * ```
   */
  read(source: StructSource, off: number): StructValue<F> {
    const heap = heapOf(source, "StructLayout.read");
    checkPlace(this, heap, off, "StructLayout.read");
    checkHome(this, source, heap, off, this.size, "StructLayout.read");
    return readValue(this, viewsOf(heap), off) as StructValue<F>;
  }

  /**
   * Store the fields present in `value` at `off` (missing fields keep their
   * bytes). `off` must be a multiple of the layout's `align` with the whole
   * struct inside the region (`EINVAL` otherwise, and no byte is written).
   *
   * @example
   * ```ts
   * import { PrivateHeap, struct } from "privheap";
   * const P = struct({ x: "f32", y: "f32" });
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const off = P.alloc(heap);
   * P.write(heap, off, { y: 2 });
   * console.log(P.cursor(heap, off).y); // 2
   * ```
   */
  write(source: StructSource, off: number, value: Partial<StructValue<F>>): void {
    const heap = heapOf(source, "StructLayout.write");
    checkPlace(this, heap, off, "StructLayout.write");
    checkHome(this, source, heap, off, this.size, "StructLayout.write");
    writeValue(this, viewsOf(heap), off, value);
  }

  /**
   * Call `fn(cursor, i)` for each of the `count` structs of the array at
   * `base`, in order, with one cursor positioned at element `i`. The range
   * is checked once (a multiple of `align`, all of it inside the region;
   * `EINVAL` otherwise and `fn` never runs), then each step only moves the
   * cursor, so a loop body runs faster than with `index(base, i)`. The loop
   * is compiled per layout. Keep the cursor only for the call: it moves on.
   *
   * @example
   * ```ts
   * import { PrivateHeap, struct } from "privheap";
   * const Vec3 = struct({ x: "f64", y: "f64", z: "f64" });
   * const Body = struct({ pos: Vec3, vel: Vec3 });
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const base = Body.alloc(heap, 100);
   * Body.each(heap, base, 100, (b, i) => {
   *   b.vel.x = i;
   *   b.pos.x += b.vel.x;
   * });
   * console.log(Body.cursor(heap).index(base, 9).pos.x); // 9
   * ```
   */
  each(source: StructSource, base: number, count: number, fn: (cursor: StructCursor<F>, i: number) => void): void {
    const heap = heapOf(source, "StructLayout.each");
    if (typeof fn !== "function") throw new HeapError("EINVAL", "StructLayout.each", "fn must be a function");
    if (!Number.isSafeInteger(count) || count < 0)
      throw new HeapError("EINVAL", "StructLayout.each", `count must be a non-negative integer, got ${String(count)}`);
    const end = heap.u8.length - count * this.size;
    if (!Number.isSafeInteger(base) || base < 0 || base % this.align !== 0 || base > end)
      throw new HeapError("EINVAL", "StructLayout.each", `base must be a multiple of ${this.align} from 0 to ${Math.max(end, 0)} for ${count} structs, got ${String(base)}`);
    if (count === 0) return;
    const c = this.cursor(source, base) as unknown as Node;
    if (this.debug && base + count * this.size > (c as unknown as DebugRoot)._hi)
      throw new HeapError("EBADPTR", "StructLayout.each", `${count} structs of ${this.size} bytes from offset ${base} are not inside one live allocation (it ends at ${(c as unknown as DebugRoot)._hi})`);
    eachLoop(this)(c, base, count, fn);
  }

  /**
   * The scalar field at `path` (`"hp"`, `"pos.x"`, `"hist.2"`) of every
   * struct of the array at `base`, as a {@link StridedField}: element `i`'s
   * field is `view[start + i * stride]`. For the hottest loops: plain typed
   * array indexing, no cursor. `base` must be a multiple of `align` with a
   * whole struct inside the region, and `path` must name a scalar
   * (`EINVAL` otherwise).
   *
   * @example
   * ```ts
   * import { PrivateHeap, struct } from "privheap";
   * const P = struct({ id: "u32", hp: "i16" });
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const base = P.alloc(heap, 10);
   * const hp = P.strided(heap, base, "hp");
   * for (let i = 0; i < 10; i++) hp.view[hp.start + i * hp.stride] = 100 - i;
   * console.log(P.cursor(heap).index(base, 3).hp); // 97
   * ```
   */
  strided<P extends ScalarPath<F>>(source: StructSource, base: number, path: P): StridedField<ScalarViews[TypeAt<StructLayout<F>, P> & ScalarType]> {
    const heap = heapOf(source, "StructLayout.strided");
    checkPlace(this, heap, base, "StructLayout.strided");
    checkHome(this, source, heap, base, this.size, "StructLayout.strided");
    const field = scalarAtPath(this, String(path));
    if (field === undefined) throw new HeapError("EINVAL", "StructLayout.strided", `${JSON.stringify(path)} is not a path to a scalar field`);
    // base is a multiple of align, which is a multiple of every scalar field's size, and so is size: both shifts are exact.
    // (Integer shifts, not divisions: an index JSC sees as a double makes every access through it several times slower.)
    return Object.freeze({
      view: viewsOf(heap)[field.type] as ScalarViews[TypeAt<StructLayout<F>, P> & ScalarType],
      start: (base + field.offset) >>> SCALARS[field.type].shift,
      stride: this.size >>> SCALARS[field.type].shift,
    });
  }
}

/**
 * Type and byte offset of the scalar at a dotted `path` of `layout`
 * (`"pos.x"`, `"slots.3.item"`), or undefined when the path names none.
 * For the library's modules (layout-map.ts); not exported by the package.
 */
export function scalarAtPath(layout: StructLayout<any>, path: string): { type: ScalarType; offset: number } | undefined {
  let t: FieldType = layout;
  let offset = 0;
  for (const part of path.split(".")) {
    if (t instanceof StructLayout) {
      const f: FieldInfo | undefined = t.fields.find((x) => x.name === part);
      if (f === undefined) return undefined;
      offset += f.offset;
      t = f.type;
    } else if (Array.isArray(t)) {
      const [et, n] = t as readonly [FieldType, number];
      if (!/^(0|[1-9]\d*)$/.test(part) || Number(part) >= n) return undefined;
      offset += Number(part) * sizeAlign(et, "array").size;
      t = et;
    } else return undefined;
  }
  return isScalar(t) ? { type: t, offset } : undefined;
}

function heapOf(source: StructSource, op: string): PrivateHeap {
  if (source instanceof FrameArena) return source.heap;
  if (source instanceof PrivateHeap) return source;
  throw new HeapError("EINVAL", op, "source must be a PrivateHeap or a FrameArena");
}

/**
 * A struct of `layout` may sit at `off` of `heap`: an integer offset, a
 * multiple of the alignment (so every field's index into its typed view is
 * whole), with all `layout.size` bytes inside the region.
 */
function checkPlace(layout: StructLayout<any>, heap: PrivateHeap, off: number, op: string): void {
  if (!Number.isSafeInteger(off) || off < 0 || off % layout.align !== 0 || off + layout.size > heap.u8.length)
    throw new HeapError("EINVAL", op, `offset must be a multiple of ${layout.align} from 0 to ${heap.u8.length - layout.size}, got ${String(off)}`);
}

function readScalar(t: ScalarType, v: Views, off: number): number | bigint {
  const s = SCALARS[t];
  return (v[s.view.slice(1) as keyof Views] as unknown as ArrayLike<number | bigint>)[off / s.size]!;
}

function readValue(t: FieldType, v: Views, off: number): unknown {
  if (isScalar(t)) return readScalar(t, v, off);
  if (t instanceof StructLayout) {
    const out: Record<string, unknown> = {};
    for (const f of t.fields) out[f.name] = readValue(f.type, v, off + f.offset);
    return out;
  }
  const [et, n] = t as readonly [FieldType, number];
  const stride = sizeAlign(et, "array").size;
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(readValue(et, v, off + i * stride));
  return out;
}

function writeValue(t: FieldType, v: Views, off: number, value: unknown): void {
  if (isScalar(t)) {
    const s = SCALARS[t];
    (v[s.view.slice(1) as keyof Views] as unknown as Record<number, unknown>)[off / s.size] = value;
    return;
  }
  if (t instanceof StructLayout) {
    const obj = value as Record<string, unknown>;
    for (const f of t.fields) if (obj[f.name] !== undefined) writeValue(f.type, v, off + f.offset, obj[f.name]);
    return;
  }
  const [et, n] = t as readonly [FieldType, number];
  const stride = sizeAlign(et, "array").size;
  const arr = value as ArrayLike<unknown>;
  for (let i = 0; i < Math.min(n, arr.length); i++) writeValue(et, v, off + i * stride, arr[i]);
}

/**
 * Describe a C struct: `struct({ x: "f32", y: "f32", hp: "u32", pos: ["f32", 3] })`.
 * Fields are laid out in order with natural alignment and padding, exactly
 * as a C compiler does.
 *
 * @example
 * ```ts
 * import { PrivateHeap, struct } from "privheap";
 * const Vec3 = struct({ x: "f32", y: "f32", z: "f32" });
 * const Entity = struct({ id: "u32", pos: Vec3, vel: Vec3, hp: "i16", tags: ["u8", 4] });
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const e = Entity.cursor(heap, Entity.alloc(heap));
 * e.pos.x = 1.5;
 * e.tags.set(0, 255);
 * console.log(Entity.size, e.pos.x, e.tags.get(0)); // 36 1.5 255
 * ```
 */
export function struct<const F extends Fields>(fields: F, options: StructOptions = {}): StructLayout<F> {
  const debug = options.debug ?? (typeof process !== "undefined" && process.env?.PRIVHEAP_DEBUG === "1"); // browsers have no process
  const layout = new StructLayout(MAKE_LAYOUT, fields, debug);
  rootClass(layout, debug, false);
  return layout;
}
