/**
 * layout-map.ts - the user's struct layouts registered for naming heap
 * bytes: which named root holds which struct (or array of structs), and
 * which fields hold offsets of other structs (pointer fields). From a heap
 * image it finds where each registered struct sits (walking roots, then
 * pointers, breadth first) and names a byte by its path, as C would write
 * it: `entities[4242].vel.x`, `world.player->hp`.
 *
 * Images are untrusted: every offset read is checked against the image and
 * the target's alignment, each (offset, layout, count) is walked once, and
 * the walk does at most about one step per byte of the image. Whatever
 * fails a check is skipped (its bytes stay unnamed), never thrown.
 */
import { HeapError } from "../errors.ts";
import { fieldTypeSize, scalarAtPath, StructLayout, type FieldInfo, type FieldType, type ScalarType } from "../struct.ts";

/** Types a pointer field may have: the integer types wide enough for an offset, and f64 (JS numbers). */
const POINTER_TYPES = new Set<ScalarType>(["u32", "i32", "u64", "i64", "f64"]);

/**
 * How many structs a named root holds: a constant (default 1, named
 * `root.field`; any count names `root[i].field`), or `"allocation"`: as many
 * as fit from the root's offset to the end of the allocation holding it.
 *
 * @example
 * ```ts
 * import type { RootShape } from "privheap";
 * const shape: RootShape = { count: "allocation" };
 * ```
 */
export interface RootShape {
  count?: number | "allocation";
}

/**
 * What a pointer field points to: one struct when `count` is left out
 * (named `ptr->field`), else an array (named `ptr[i].field`) of a constant
 * count, of as many as fit in the allocation (`"allocation"`), or of the
 * count read from another field of the struct holding the pointer
 * (`{ field: "len" }`).
 *
 * @example
 * ```ts
 * import type { PointerShape } from "privheap";
 * const shape: PointerShape = { count: { field: "itemCount" } };
 * ```
 */
export interface PointerShape {
  count?: number | "allocation" | { field: string };
}

/** A scalar inside a layout, by dotted path. */
interface ScalarSite {
  offset: number;
  type: ScalarType;
}

interface RootEntry {
  layout: StructLayout<any>;
  count: number | "allocation" | null;
}

/** A pointer field where it sits in its layout, with nested structs flattened: `path` is the field's path in C notation. */
interface PointerSite {
  path: string;
  at: ScalarSite;
  target: StructLayout<any>;
  count: number | "allocation" | ScalarSite | null;
}

/** Where a registered struct (or array of them) sits in one image: `count === null` is a single struct. */
export interface Placement {
  start: number;
  layout: StructLayout<any>;
  count: number | null;
  /** The placement whose pointer led here (null for a root). */
  parent: Placement | null;
  /** The path from the parent's struct to this one (a root: its name), as `[3].next` or `->inv.items`. */
  hop: string;
  /** What joins a single struct's path to its fields: "." for a root, "->" through a pointer. */
  join: string;
  /** The path's steps, made when first named (see {@link pathOf}). */
  steps?: Steps;
}

/** A run of one step repeated. */
interface Run {
  hop: string;
  times: number;
}

/**
 * A path as runs of steps: the first KEPT_RUNS, the last KEPT_RUNS, and a
 * count of the steps between them left out. So a path costs the same
 * whatever its depth (a linked list walked to its 10,000th node).
 */
interface Steps {
  head: Run[];
  tail: Run[];
  elided: number;
}

const KEPT_RUNS = 16;

function extend(steps: Steps, hop: string): Steps {
  const inTail = steps.tail.length > 0 || steps.elided > 0;
  const runs = inTail ? steps.tail : steps.head;
  const last = runs[runs.length - 1];
  if (last !== undefined && last.hop === hop) {
    const grown = [...runs.slice(0, -1), { hop, times: last.times + 1 }];
    return inTail ? { head: steps.head, tail: grown, elided: steps.elided } : { head: grown, tail: steps.tail, elided: 0 };
  }
  if (!inTail && steps.head.length < KEPT_RUNS) return { head: [...steps.head, { hop, times: 1 }], tail: [], elided: 0 };
  const tail = [...steps.tail, { hop, times: 1 }];
  let elided = steps.elided;
  if (tail.length > KEPT_RUNS) elided += tail.shift()!.times;
  return { head: steps.head, tail, elided };
}

function runText(r: Run): string {
  return r.times >= 3 ? `(${r.hop})*${r.times}` : r.hop.repeat(r.times);
}

/**
 * The path of placement `p` (of its struct, or of its array). A step
 * repeated 3 or more times in a row is written `(step)*n`
 * (`list.next(->next)*4998`); past 2 x 16 runs the middle is left out as
 * `...(n steps)...`.
 */
export function pathOf(p: Placement): string {
  if (p.steps === undefined) {
    // Make the missing steps from the nearest placement up that has them (iteratively: chains can be long).
    const chain: Placement[] = [];
    for (let q: Placement | null = p; q !== null && q.steps === undefined; q = q.parent) chain.push(q);
    for (let i = chain.length - 1; i >= 0; i--) {
      const q = chain[i]!;
      q.steps = q.parent === null ? { head: [{ hop: q.hop, times: 1 }], tail: [], elided: 0 } : extend(q.parent.steps!, q.hop);
    }
  }
  const st = p.steps!;
  const gap = st.elided > 0 ? `...(${st.elided} steps)...` : "";
  return st.head.map(runText).join("") + gap + st.tail.map(runText).join("");
}

/** A named scalar (or padding, `type === null`) holding a byte. */
export interface NamedField {
  path: string;
  offset: number;
  length: number;
  type: ScalarType | null;
}

function checkLayout(layout: unknown, op: string, what: string): asserts layout is StructLayout<any> {
  if (!(layout instanceof StructLayout)) throw new HeapError("EINVAL", op, `${what} must be a struct layout made by struct({ ... })`);
}

function checkCount(count: unknown, op: string): void {
  if (count === undefined || count === "allocation") return;
  if (!Number.isSafeInteger(count) || (count as number) < 0)
    throw new HeapError("EINVAL", op, `count must be a non-negative integer or "allocation", got ${String(count)}`);
}


/** `a.b.3.c` in C notation: `a.b[3].c`. */
function cPath(dotted: string): string {
  return dotted.replace(/\.(\d+)(?=\.|$)/g, "[$1]");
}

/**
 * Read the scalar of `type` at `off` of `image` as a number (u64/i64 only
 * when exact), or undefined when it lies outside the image.
 */
function readNumber(image: DataView, off: number, type: ScalarType): number | undefined {
  if (off < 0 || off + fieldTypeSize(type) > image.byteLength) return undefined;
  switch (type) {
    case "u8": return image.getUint8(off);
    case "i8": return image.getInt8(off);
    case "u16": return image.getUint16(off, true);
    case "i16": return image.getInt16(off, true);
    case "u32": return image.getUint32(off, true);
    case "i32": return image.getInt32(off, true);
    case "f32": return image.getFloat32(off, true);
    case "f64": return image.getFloat64(off, true);
    case "u64": return Number(image.getBigUint64(off, true));
    case "i64": return Number(image.getBigInt64(off, true));
  }
}

/** LayoutMap's private walk (set by its static block). */
let placeWith: (map: LayoutMap, image: Uint8Array, roots: Record<string, number>, allocationEnd: (off: number) => number) => Placed;

/**
 * The user's layouts: roots and pointer fields. Build one with
 * {@link LayoutMap.create}, register with `root` and `pointer` (each returns
 * the map), and pass it as `Snapshot.diff(a, b, { layouts })`: the diff then
 * names every changed field by its path.
 *
 * @example
 * ```ts
 * import { LayoutMap, PrivateHeap, Snapshot, struct } from "privheap";
 * const Vec2 = struct({ x: "f64", y: "f64" });
 * const Entity = struct({ pos: Vec2, vel: Vec2 });
 * const World = struct({ entities: "u32", count: "u32" });
 * const layouts = LayoutMap.create()
 *   .root("world", World)
 *   .pointer(World, "entities", Entity, { count: { field: "count" } });
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const world = World.alloc(heap);
 * World.write(heap, world, { entities: Entity.alloc(heap, 100), count: 100 });
 * heap.setRoot("world", world);
 * const before = heap.snapshot();
 * Entity.cursor(heap).index(World.read(heap, world).entities, 42).vel.x = 1;
 * const d = Snapshot.diff(before, heap.snapshot(), { layouts });
 * console.log(d.paths?.fields[0]); // { path: "world.entities[42].vel.x", offset: ..., length: 8, type: "f64", before: 0, after: 1 }
 * ```
 */
export class LayoutMap {
  readonly #roots = new Map<string, RootEntry>();
  readonly #pointers = new Map<StructLayout<any>, { path: string; at: ScalarSite; target: StructLayout<any>; count: PointerSite["count"] }[]>();
  /** Pointer sites per layout, nested layouts flattened in (cleared by every registration). */
  #sites = new Map<StructLayout<any>, PointerSite[]>();

  private constructor() {}

  /**
   * An empty map.
   *
   * @example
   * ```ts
   * import { LayoutMap } from "privheap";
   * const layouts = LayoutMap.create();
   * ```
   */
  static create(): LayoutMap {
    return new LayoutMap();
  }

  /**
   * The named root `name` (`heap.setRoot(name, off)`) holds a `layout`
   * struct, or `shape.count` of them. Registering a name again replaces it.
   *
   * @example
   * ```ts
   * import { LayoutMap, struct } from "privheap";
   * const Entity = struct({ x: "f32", hp: "i32" });
   * const layouts = LayoutMap.create().root("entities", Entity, { count: 10_000 });
   * ```
   */
  root(name: string, layout: StructLayout<any>, shape: RootShape = {}): this {
    if (typeof name !== "string" || name === "") throw new HeapError("EINVAL", "LayoutMap.root", "name must be a non-empty string");
    checkLayout(layout, "LayoutMap.root", "layout");
    checkCount(shape.count, "LayoutMap.root");
    this.#roots.set(name, { layout, count: shape.count ?? null });
    return this;
  }

  /**
   * Field `field` (a dotted path to a scalar of `layout`: `"inv"`,
   * `"slots.3.item"`) holds the offset of a `target` struct, or of an array
   * of them (see {@link PointerShape}); 0 is null. The field must be u32,
   * i32, u64, i64 or f64. Applies wherever `layout` sits, nested in other
   * structs too.
   *
   * @example
   * ```ts
   * import { LayoutMap, struct } from "privheap";
   * const Item = struct({ id: "u32", qty: "u16" });
   * const Inventory = struct({ items: "u32", len: "u32" });
   * const layouts = LayoutMap.create().pointer(Inventory, "items", Item, { count: { field: "len" } });
   * ```
   */
  pointer(layout: StructLayout<any>, field: string, target: StructLayout<any>, shape: PointerShape = {}): this {
    const op = "LayoutMap.pointer";
    checkLayout(layout, op, "layout");
    checkLayout(target, op, "target");
    const at = typeof field === "string" ? scalarAtPath(layout, field) : undefined;
    if (at === undefined || !POINTER_TYPES.has(at.type))
      throw new HeapError("EINVAL", op, `${JSON.stringify(field)} is not a path to a u32, i32, u64, i64 or f64 field of the layout`);
    let count: PointerSite["count"] = null;
    const c = shape.count;
    if (typeof c === "object" && c !== null) {
      const site = typeof c.field === "string" ? scalarAtPath(layout, c.field) : undefined;
      if (site === undefined) throw new HeapError("EINVAL", op, `count field ${JSON.stringify(c.field)} is not a path to a scalar field of the layout`);
      count = site;
    } else {
      checkCount(c, op);
      count = c ?? null;
    }
    const list = this.#pointers.get(layout) ?? [];
    const kept = list.filter((p) => p.at.offset !== at.offset);
    kept.push({ path: cPath(field), at, target, count });
    this.#pointers.set(layout, kept);
    this.#sites = new Map();
    return this;
  }

  /** The pointer sites of `layout`, its nested structs' included, at their offsets in it. */
  #sitesOf(layout: StructLayout<any>): PointerSite[] {
    let sites = this.#sites.get(layout);
    if (sites !== undefined) return sites;
    sites = [...(this.#pointers.get(layout) ?? [])];
    const nest = (t: FieldType, path: string, base: number): void => {
      if (t instanceof StructLayout) {
        for (const s of this.#sitesOf(t)) {
          const shift = (x: ScalarSite): ScalarSite => ({ offset: x.offset + base, type: x.type });
          const count = s.count !== null && typeof s.count === "object" ? shift(s.count) : s.count;
          sites!.push({ path: `${path}.${s.path}`, at: shift(s.at), target: s.target, count });
        }
      } else if (Array.isArray(t)) {
        const [et, n] = t as readonly [FieldType, number];
        if (typeof et === "string") return;
        const size = fieldTypeSize(et);
        for (let i = 0; i < n; i++) nest(et, `${path}[${i}]`, base + i * size);
      }
    };
    for (const f of layout.fields) nest(f.type, f.name, f.offset);
    this.#sites.set(layout, sites);
    return sites;
  }

  static {
    placeWith = (map, image, roots, allocationEnd) => map.#place(image, roots, allocationEnd);
  }

  /** See {@link placeStructs}. */
  #place(image: Uint8Array, roots: Record<string, number>, allocationEnd: (off: number) => number): Placed {
    const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
    const placements: Placement[] = [];
    const seen = new Set<string>();
    let complete = true;
    // One step per struct scanned for pointers and per placement: legitimate
    // structs holding pointers do not overlap and are at least 4 bytes, so
    // this bound is only reached by overlapping (damaged) placements.
    let budget = image.length + 1024;
    // Memory: one placement per 8 bytes of image at most (each is reached
    // through a pointer field of 4 or 8 bytes, or is a root).
    const maxPlacements = Math.floor(image.length / 8) + 1024;

    const add = (start: number, layout: StructLayout<any>, want: number | "allocation" | null, parent: Placement | null, hop: string, join: string): void => {
      if (!Number.isSafeInteger(start) || start <= 0 || start % layout.align !== 0 || start + layout.size > image.length) {
        complete = false;
        return;
      }
      let count: number | null = null;
      if (want === "allocation") {
        const end = allocationEnd(start);
        if (end < 0) {
          complete = false;
          return;
        }
        count = Math.floor((Math.min(end, image.length) - start) / layout.size);
      } else if (want !== null) {
        const fit = Math.floor((image.length - start) / layout.size);
        if (want > fit) complete = false;
        count = Math.min(want, fit);
      }
      const key = `${start}:${count}`;
      if (seenLayout(seen, key, layout)) return;
      if (--budget < 0 || placements.length >= maxPlacements) {
        complete = false;
        return;
      }
      placements.push({ start, layout, count, parent, hop, join });
    };

    for (const [name, r] of this.#roots) {
      const off = roots[name];
      if (off !== undefined) add(off, r.layout, r.count, null, name, ".");
    }
    let walked = 0;
    for (; walked < placements.length && budget > 0; walked++) {
      const placement = placements[walked]!;
      const { start, layout, count, join } = placement;
      const sites = this.#sitesOf(layout);
      if (sites.length === 0) continue;
      const n = count ?? 1;
      for (let i = 0; i < n; i++) {
        if (--budget < 0) {
          complete = false;
          break;
        }
        const elem = start + i * layout.size;
        const prefix = count === null ? join : `[${i}].`;
        for (const s of sites) {
          const target = readNumber(view, elem + s.at.offset, s.at.type);
          if (target === 0) continue;
          if (target === undefined || !Number.isSafeInteger(target)) {
            complete = false;
            continue;
          }
          let want: number | "allocation" | null;
          if (s.count !== null && typeof s.count === "object") {
            const c = readNumber(view, elem + s.count.offset, s.count.type);
            if (c === undefined || !Number.isSafeInteger(c) || c < 0) {
              complete = false;
              continue;
            }
            want = c;
          } else want = s.count;
          add(target, s.target, want, placement, `${prefix}${s.path}`, "->");
        }
      }
    }
    if (walked < placements.length) complete = false; // the bound ran out first
    return { placements, complete };
  }
}

/** What {@link placeStructs} returns. */
export interface Placed {
  placements: Placement[];
  complete: boolean;
}

/**
 * Where the structs registered in `map` sit in `image`, in walk order
 * (roots in registration order, then what their pointers reach, breadth
 * first). `roots` are the image's named roots; `allocationEnd(off)` is the
 * end of the allocation holding `off`, or -1. `complete` is false when a
 * check skipped something (an offset outside the image or misaligned, a
 * count past the image, the work bound). Internal: diff.ts's input.
 */
export function placeStructs(map: LayoutMap, image: Uint8Array, roots: Record<string, number>, allocationEnd: (off: number) => number): Placed {
  return placeWith(map, image, roots, allocationEnd);
}

/** Mark (key, layout) seen; true when it was already. */
function seenLayout(seen: Set<string>, key: string, layout: StructLayout<any>): boolean {
  const id = layoutId(layout);
  const k = `${key}:${id}`;
  if (seen.has(k)) return true;
  seen.add(k);
  return false;
}

const ids = new WeakMap<StructLayout<any>, number>();
let nextId = 0;
function layoutId(layout: StructLayout<any>): number {
  let id = ids.get(layout);
  if (id === undefined) ids.set(layout, (id = nextId++));
  return id;
}

/**
 * The scalar (or padding) of placement `p` holding byte `off` (inside `p`).
 */
export function fieldAt(p: Placement, off: number): NamedField {
  const rel = off - p.start;
  const i = Math.floor(rel / p.layout.size);
  let path = p.count === null ? pathOf(p) : `${pathOf(p)}[${i}]`;
  let join = p.count === null ? p.join : ".";
  let t: FieldType = p.layout;
  let base = p.start + i * p.layout.size;
  for (;;) {
    if (typeof t === "string") return { path, offset: base, length: fieldTypeSize(t), type: t };
    if (t instanceof StructLayout) {
      const f: FieldInfo | undefined = t.fields.find((x) => off >= base + x.offset && off < base + x.offset + x.size);
      if (f === undefined) {
        // Padding: from the end of the field before to the next field (or the struct's end).
        let from = base;
        let to = base + t.size;
        for (const x of t.fields) {
          if (base + x.offset + x.size <= off) from = Math.max(from, base + x.offset + x.size);
          else if (base + x.offset > off) to = Math.min(to, base + x.offset);
        }
        return { path, offset: from, length: to - from, type: null };
      }
      path = `${path}${join}${f.name}`;
      join = ".";
      base += f.offset;
      t = f.type;
    } else {
      const [et, n] = t as readonly [FieldType, number];
      const size = fieldTypeSize(et);
      const j = Math.min(Math.floor((off - base) / size), n - 1);
      path = `${path}[${j}]`;
      base += j * size;
      t = et;
    }
  }
}

/** A run of bytes owned by one placement. */
export interface Segment {
  start: number;
  end: number;
  placement: Placement;
}

/**
 * Split the placements' bytes into non-overlapping segments in address
 * order, each owned by the earliest placement (in walk order) covering it:
 * an entity reached through a pointer keeps the name its array gives it.
 * A sweep over starts with a min-heap of the active placements' indexes.
 */
export function segmentsOf(placements: Placement[]): Segment[] {
  const endOf = (p: Placement): number => p.start + p.layout.size * (p.count ?? 1);
  const byStart = placements.map((_, i) => i).sort((x, y) => placements[x]!.start - placements[y]!.start || x - y);
  const heap: number[] = [];
  const push = (v: number): void => {
    let i = heap.push(v) - 1;
    while (i > 0 && heap[(i - 1) >> 1]! > heap[i]!) {
      const up = (i - 1) >> 1;
      [heap[up], heap[i]] = [heap[i]!, heap[up]!];
      i = up;
    }
  };
  const pop = (): void => {
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const m = l + 1 < heap.length && heap[l + 1]! < heap[l]! ? l + 1 : l;
      if (m >= heap.length || heap[i]! <= heap[m]!) break;
      [heap[m], heap[i]] = [heap[i]!, heap[m]!];
      i = m;
    }
  };
  const out: Segment[] = [];
  let next = 0;
  let pos = 0;
  while (next < byStart.length || heap.length > 0) {
    while (heap.length > 0 && endOf(placements[heap[0]!]!) <= pos) pop();
    if (heap.length === 0) {
      if (next >= byStart.length) break;
      pos = Math.max(pos, placements[byStart[next]!]!.start);
    }
    while (next < byStart.length && placements[byStart[next]!]!.start <= pos) push(byStart[next++]!);
    while (heap.length > 0 && endOf(placements[heap[0]!]!) <= pos) pop();
    if (heap.length === 0) continue;
    const owner = placements[heap[0]!]!;
    const to = Math.min(endOf(owner), next < byStart.length ? placements[byStart[next]!]!.start : Infinity);
    const last = out[out.length - 1];
    if (last !== undefined && last.placement === owner && last.end === pos) last.end = to;
    else out.push({ start: pos, end: to, placement: owner });
    pos = to;
  }
  return out;
}

/** The segment holding `off`, or the index where one starting after it would go (as `~index`). */
export function segmentAt(segments: Segment[], off: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = segments[mid]!;
    if (off < s.start) hi = mid - 1;
    else if (off >= s.end) lo = mid + 1;
    else return mid;
  }
  return ~lo;
}
