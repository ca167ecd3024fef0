/**
 * struct.ts - typed layouts over a heap's bytes, in the C layout: each field
 * at the next offset that is a multiple of its alignment, the struct aligned
 * to its most aligned field and its size rounded up to that alignment. So C
 * code given the same declaration reads the same bytes.
 *
 * Access is through a cursor: an object positioned at an offset whose
 * getters and setters read and write the heap's typed arrays. The cursor
 * class is generated once per layout (field offsets are constants in the
 * generated code); moving a cursor with `at(off)` allocates nothing, so one
 * cursor walks any number of structs.
 *
 * Field types: `u8 i8 u16 i16 u32 i32 f32 f64` (numbers), `u64 i64` (BigInt:
 * exact, but every read allocates a BigInt; prefer f64 or a pair of u32 on hot
 * paths), another layout (a nested struct), and `[type, count]` for arrays,
 * which nest (`[["f32", 4], 4]` is a 4x4 matrix).
 *
 * Debug mode (`PRIVHEAP_DEBUG=1` when the layout is made, or `{ debug: true }`):
 * every access first checks that the heap has not been reset since the
 * cursor was positioned, and throws `ESTALE` instead of reading recycled
 * memory; a cursor over a FrameArena goes stale when the frame it was
 * positioned in is discarded.
 */
import { HeapError } from "./errors.ts";
import { FrameArena } from "./frame-arena.ts";
import { PrivateHeap } from "./heap.ts";

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
 * const Checked = struct({ x: "f32" }, { debug: true }); // ESTALE checks on every access
 * ```
 */
export interface StructOptions {
  /** Check for stale cursors on every access (default: `PRIVHEAP_DEBUG=1` in the environment). */
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
// A node is any cursor-like object: a struct cursor (root or nested) or an
// array accessor. Nodes hold `_o` (absolute offset), `_r` (the root cursor) and
// the typed arrays; `_move(o)` repositions a node and its fixed children.

interface Node {
  _o: number;
  _r: RootState;
  _kids: { node: Node; rel: number }[];
  _move(o: number): void;
  _bind(views: Views): void;
  [k: string]: unknown;
}
type Views = Record<(typeof VIEW_NAMES)[number], ArrayBufferView>;
interface RootState {
  _src: StructSource;
  _heap: PrivateHeap | undefined;
  _gen: number;
  _chk(op: string): void;
}

function bindViews(node: Node, v: Views): void {
  for (const n of VIEW_NAMES) node["_" + n] = v[n];
}

function viewsOf(heap: PrivateHeap): Views {
  return { u8: heap.u8, i8: heap.i8, u16: heap.u16, i16: heap.i16, u32: heap.u32, i32: heap.i32, f32: heap.f32, f64: heap.f64, u64: heap.u64, i64: heap.i64 };
}

/** Expression for the element of scalar `t` at byte offset expression `at`. */
function elem(t: ScalarType, at: string): string {
  const s = SCALARS[t];
  return s.shift === 0 ? `this.${s.view}[${at}]` : `this.${s.view}[(${at}) >>> ${s.shift}]`;
}

/** The debug check that generated accessors run first; `op` names the accessor in the error. */
function staleCheck(debug: boolean, op: string): string {
  return debug ? `this._r._chk(${JSON.stringify(op)});` : "";
}

/** Generated constructor of a node type (cached per FieldType object + debug flag). */
type NodeFactory = (root: RootState | undefined) => Node;

const factoryCache = new WeakMap<object, { plain?: NodeFactory; debug?: NodeFactory }>();

function nodeFactory(t: StructLayout<any> | readonly [FieldType, number], debug: boolean): NodeFactory {
  let entry = factoryCache.get(t);
  if (entry === undefined) factoryCache.set(t, (entry = {}));
  const key = debug ? "debug" : "plain";
  return (entry[key] ??= t instanceof StructLayout ? structFactory(t, debug) : arrayFactory(t, debug));
}

function baseProto(): object {
  return {
    _move(this: Node, o: number) {
      this._o = o;
      const kids = this._kids;
      for (let i = 0; i < kids.length; i++) kids[i]!.node._move(o + kids[i]!.rel);
    },
    _bind(this: Node, v: Views) {
      bindViews(this, v);
      const kids = this._kids;
      for (let i = 0; i < kids.length; i++) kids[i]!.node._bind(v);
      const e = this._e as Node | undefined;
      if (e !== undefined) e._bind(v);
    },
  };
}

function structFactory(layout: StructLayout<any>, debug: boolean): NodeFactory {
  const proto = baseProto() as Record<string, unknown>;
  const children: { name: string; rel: number; make: NodeFactory }[] = [];
  for (const f of layout.fields) {
    const pre = staleCheck(debug, `StructCursor.${f.name}`);
    if (isScalar(f.type)) {
      const at = `this._o + ${f.offset}`;
      const get = new Function(`${pre}return ${elem(f.type, at)};`) as () => unknown;
      const set = new Function("v", `${pre}${elem(f.type, at)} = v;`) as (v: unknown) => void;
      Object.defineProperty(proto, f.name, { get, set, enumerable: true });
    } else {
      const make = nodeFactory(f.type as StructLayout<any> | readonly [FieldType, number], debug);
      children.push({ name: f.name, rel: f.offset, make });
      const slot = `_c_${f.name}`;
      const get = new Function(`${pre}return this.${slot};`) as () => unknown;
      Object.defineProperty(proto, f.name, {
        get,
        set() {
          throw new HeapError("EINVAL", `StructCursor.${f.name}`, `field ${f.name} is ${Array.isArray(f.type) ? "an array" : "a struct"}: assign its elements or fields`);
        },
        enumerable: true,
      });
    }
  }
  return (root) => {
    const node = Object.create(proto) as Node;
    node._o = 0;
    node._kids = [];
    node._r = root ?? (node as unknown as RootState);
    for (const n of VIEW_NAMES) node["_" + n] = undefined;
    for (const c of children) {
      const kid = c.make(node._r);
      node[`_c_${c.name}`] = kid;
      node._kids.push({ node: kid, rel: c.rel });
    }
    return node;
  };
}

function arrayFactory(t: readonly [FieldType, number], debug: boolean): NodeFactory {
  const [et, n] = t;
  const { size: stride } = sizeAlign(et, "array");
  const proto = baseProto() as Record<string, unknown>;
  /** The index check and the debug check of the accessor `method`. */
  const pre = (method: string) => {
    const op = `ArrayCursor.${method}`;
    return `if (typeof i !== "number" || i >>> 0 !== i || i >= ${n}) throw this._range(${JSON.stringify(op)}, i);${staleCheck(debug, op)}`;
  };
  proto._range = (op: string, i: unknown) => new HeapError("EINVAL", op, `array index must be an integer from 0 to ${n - 1}, got ${String(i)}`);
  proto.offsetOf = new Function("i", `${pre("offsetOf")}return this._o + i * ${stride};`);
  Object.defineProperty(proto, "length", { value: n });
  let make: NodeFactory | undefined;
  if (isScalar(et)) {
    const at = `this._o + i * ${stride}`;
    proto.get = new Function("i", `${pre("get")}return ${elem(et, at)};`);
    proto.set = new Function("i", "v", `${pre("set")}${elem(et, at)} = v;`);
    proto.at = () => {
      throw new HeapError("EINVAL", "ArrayCursor.at", "at(i) is for arrays of structs or arrays; use get(i) / set(i, v)");
    };
  } else {
    make = nodeFactory(et as StructLayout<any> | readonly [FieldType, number], debug);
    proto.at = new Function("i", `${pre("at")}this._e._move(this._o + i * ${stride}); return this._e;`);
    const wrong = (method: string) => () => {
      throw new HeapError("EINVAL", `ArrayCursor.${method}`, "get/set are for arrays of scalars; use at(i) for arrays of structs or arrays");
    };
    proto.get = wrong("get");
    proto.set = wrong("set");
  }
  return (root) => {
    const node = Object.create(proto) as Node;
    node._o = 0;
    node._kids = [];
    node._r = root!;
    for (const v of VIEW_NAMES) node["_" + v] = undefined;
    node._e = make === undefined ? undefined : make(root);
    return node;
  };
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
  /** True when accesses check for stale cursors. */
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
    const node = nodeFactory(this, this.debug)(undefined) as Node & RootState;
    node._src = source;
    node._heap = undefined;
    node._gen = 0;
    const c = node as unknown as StructCursor<F>;
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
    writeValue(this, viewsOf(heap), off, value);
  }
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

// Root-cursor members, added to every generated struct prototype on first use as a root.
const rootMembers = {
  at(this: Node & RootState, off: number) {
    // A misaligned offset would make every field's view index fractional: its reads would truncate to another field.
    if (typeof off !== "number" || off >>> 0 !== off || (off & ((this._align as number) - 1)) !== 0)
      throw new HeapError("EINVAL", "StructCursor.at", `offset must be a multiple of ${String(this._align)} from 0 to 2^32 - 1, got ${String(off)}`);
    if ((this._r as unknown) !== this) throw new HeapError("EINVAL", "StructCursor.at", "this is a nested cursor: move the outer cursor instead");
    const src = this._src;
    const heap = src instanceof FrameArena ? src.heap : src;
    if (heap !== this._heap) {
      this._heap = heap;
      this._bind(viewsOf(heap));
    }
    if (this._debugRoot === true) this._gen = heap.generation;
    this._move(off);
    return this;
  },
  index(this: Node & RootState & { at(o: number): unknown }, base: number, i: number) {
    return this.at(base + i * (this._size as number));
  },
  _chk(this: Node & RootState, op: string) {
    const heap = this._heap!;
    if (heap.closed) throw new HeapError("ECLOSED", op);
    if (heap.generation !== this._gen)
      throw new HeapError("ESTALE", op, `the cursor was positioned in generation ${this._gen}; the heap is at ${heap.generation}`);
  },
};

const rootReady = new WeakSet<object>();

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
  const debug = options.debug ?? process.env.PRIVHEAP_DEBUG === "1";
  const layout = new StructLayout(MAKE_LAYOUT, fields, debug);
  // Give the generated root prototype its cursor members once.
  const probe = nodeFactory(layout, debug)(undefined);
  const proto = Object.getPrototypeOf(probe) as Record<string, unknown>;
  if (!rootReady.has(proto)) {
    rootReady.add(proto);
    Object.assign(proto, rootMembers);
    proto._size = layout.size;
    proto._align = layout.align;
    proto._debugRoot = debug;
    Object.defineProperty(proto, "offset", {
      get(this: Node) {
        return this._o;
      },
    });
    Object.defineProperty(proto, "heap", {
      get(this: Node & RootState) {
        return this._heap;
      },
    });
  }
  return layout;
}
