/**
 * diff.ts - where two heap images differ: changed byte ranges, and the
 * allocations and named roots that hold them. This is the tool for "two runs
 * diverged: what changed?". Pages are compared with memcmp first (via
 * Buffer.compare), so equal pages cost little; only differing pages are
 * scanned byte by byte. Given the user's layouts (layout-map.ts), the diff
 * also names each changed field by its path.
 */
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";
import { sameBytes } from "../platform/bytes.ts";
import { allocationHolding, listAllocations, readRoots, type RegionRef } from "../introspect.ts";
import type { ScalarType } from "../struct.ts";
import { fieldAt, placeStructs, segmentAt, segmentsOf, type LayoutMap, type Segment } from "./layout-map.ts";

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;

/** An allocation: offset and usable size. */
export interface DiffAllocation {
  offset: number;
  size: number;
  /** Named roots whose offset lies inside this allocation. */
  roots: string[];
}

/** One run of changed bytes. */
export interface DiffRange {
  offset: number;
  length: number;
  /**
   * The allocation that holds the range in the second image (or, if it was
   * freed there, in the first); null for allocator metadata (header, page
   * map, run bitmaps) and free space.
   */
  allocation: DiffAllocation | null;
}

/** What {@link Snapshot.diff} returns. */
export interface SnapshotDiff {
  /** True when the images are byte-identical. */
  equal: boolean;
  /** Bytes that differ (the longer image's tail counts where it is not zero). */
  changedBytes: number;
  /** Changed ranges in address order (at most `maxRanges`; see `truncated`). */
  ranges: DiffRange[];
  /** True when more ranges existed than `maxRanges`. */
  truncated: boolean;
  /** Distinct allocations that hold a change, in address order. */
  allocations: DiffAllocation[];
  /** Roots whose offset differs, or whose allocation holds a change. */
  roots: string[];
  /** The changes by field path; present when `layouts` were given. */
  paths?: DiffPaths;
}

/** One changed field of a registered layout. */
export interface DiffField {
  /** Its path in C notation: `entities[4242].vel.x`, `world.player->hp`. */
  path: string;
  /** Byte offset of the whole field (not only of its changed bytes). */
  offset: number;
  /** Bytes of the field. */
  length: number;
  /** Its scalar type; null for padding between or after fields (then `before` and `after` are null). */
  type: ScalarType | null;
  /** The value in the first image (bytes past an image's end read as 0). */
  before: number | bigint | null;
  /** The value in the second image. */
  after: number | bigint | null;
}

/** The changes named through the user's layouts. */
export interface DiffPaths {
  /** Changed fields in address order (at most `maxFields`). */
  fields: DiffField[];
  /** Changed bytes no registered struct holds (allocator metadata, unregistered data, unreachable structs). */
  unnamed: { offset: number; length: number }[];
  /** True when fields or ranges were left out (`maxFields`, `maxRanges`). */
  truncated: boolean;
  /**
   * False when the walk from the roots skipped something in either image: a
   * pointer outside the image or misaligned, a count reaching past it, or
   * the work bound (about one step per byte) hit by overlapping structs.
   */
  complete: boolean;
}

/** Options of {@link Snapshot.diff}. */
export interface DiffOptions {
  /** Stop listing ranges after this many (default 10,000); counts stay exact. */
  maxRanges?: number;
  /** The user's layouts: when given, the diff's `paths` name the changed fields. */
  layouts?: LayoutMap;
  /** Stop listing named fields after this many (default 10,000). */
  maxFields?: number;
}

/** The images' allocations (sorted pairs) and roots, for mapping offsets. */
interface Side {
  allocs: Float64Array;
  roots: Record<string, number>;
}

function side(region: RegionRef): Side {
  return { allocs: listAllocations(region, "Snapshot.diff"), roots: readRoots(region) };
}

function rootsIn(roots: Record<string, number>, start: number, size: number): string[] {
  return Object.keys(roots).filter((name) => roots[name]! >= start && roots[name]! < start + size);
}

// The header's lock block is the region's, not heap state: never a change
// (as checksums leave it out).
const LOCK_FROM = NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET;
const LOCK_TO = NATIVE_CONSTANTS.PH_LOCK_BLOCK_END;

/**
 * Compare images `a` and `b` (used prefixes of two heaps, validated) and map
 * the changes to allocations and roots.
 */
export function diffImages(a: Uint8Array, b: Uint8Array, options: DiffOptions = {}): SnapshotDiff {
  const maxRanges = options.maxRanges ?? 10_000;
  const ranges: { offset: number; length: number }[] = [];
  let changed = 0;
  let truncated = false;
  let runStart = -1;
  const close = (end: number): void => {
    if (runStart < 0) return;
    if (ranges.length < maxRanges) ranges.push({ offset: runStart, length: end - runStart });
    else truncated = true;
    runStart = -1;
  };
  const byteAt = (img: Uint8Array, i: number): number => (i < img.length ? img[i]! : 0);
  const zero = new Uint8Array(PAGE);
  const end = Math.max(a.length, b.length);
  for (let page = 0; page < end; page += PAGE) {
    const n = Math.min(PAGE, end - page);
    const pa = page < a.length ? a.subarray(page, page + n) : zero.subarray(0, n);
    const pb = page < b.length ? b.subarray(page, page + n) : zero.subarray(0, n);
    if (pa.length === n && pb.length === n && sameBytes(pa, pb)) {
      close(page);
      continue;
    }
    for (let i = page; i < page + n; i++) {
      if (byteAt(a, i) !== byteAt(b, i) && (i < LOCK_FROM || i >= LOCK_TO)) {
        changed++;
        if (runStart < 0) runStart = i;
      } else {
        close(i);
      }
    }
  }
  close(end);

  const sa = side(a);
  const sb = side(b);
  const byOffset = new Map<number, DiffAllocation>();
  const mapped: DiffRange[] = ranges.map((r) => {
    let s = sb;
    let i = allocationHolding(sb.allocs, r.offset);
    if (i < 0) {
      s = sa;
      i = allocationHolding(sa.allocs, r.offset);
    }
    if (i < 0) return { ...r, allocation: null };
    const offset = s.allocs[i]!;
    let alloc = byOffset.get(offset);
    if (alloc === undefined) {
      const size = s.allocs[i + 1]!;
      alloc = { offset, size, roots: rootsIn(s.roots, offset, size) };
      byOffset.set(offset, alloc);
    }
    return { ...r, allocation: alloc };
  });
  const allocations = [...byOffset.values()].sort((x, y) => x.offset - y.offset);
  const roots = new Set<string>();
  for (const name of new Set([...Object.keys(sa.roots), ...Object.keys(sb.roots)]))
    if (sa.roots[name] !== sb.roots[name]) roots.add(name);
  for (const alloc of allocations) for (const name of alloc.roots) roots.add(name);
  const diff: SnapshotDiff = { equal: changed === 0, changedBytes: changed, ranges: mapped, truncated, allocations, roots: [...roots].sort() };
  if (options.layouts !== undefined) diff.paths = namePaths(a, b, sa, sb, ranges, truncated, options.layouts, options.maxFields ?? 10_000);
  return diff;
}

/**
 * One line for a changed field: its path, type, offset and both values
 * (`entities[7].vel.x (f32 at 1056): 0 -> 2.5`; padding reads
 * `entities[1] (2 bytes of padding at 1030)`). For logs and the command line.
 *
 * @example
 * ```ts
 * import { formatDiffField } from "privheap";
 * const line = formatDiffField({ path: "hero.hp", offset: 64, length: 4, type: "i32", before: 10, after: 7 });
 * console.log(line); // hero.hp (i32 at 64): 10 -> 7
 * ```
 */
export function formatDiffField(f: DiffField): string {
  if (f.type === null) return `${f.path} (${f.length} ${f.length === 1 ? "byte" : "bytes"} of padding at ${f.offset})`;
  return `${f.path} (${f.type} at ${f.offset}): ${String(f.before)} -> ${String(f.after)}`;
}

/** The scalar of `type` at `off` of `img`; bytes past its end read as 0 (as the diff compares them). */
function valueAt(img: Uint8Array, off: number, type: ScalarType): number | bigint {
  const bytes = new Uint8Array(8);
  bytes.set(img.subarray(Math.min(off, img.length), Math.min(off + 8, img.length)));
  const v = new DataView(bytes.buffer);
  switch (type) {
    case "u8": return v.getUint8(0);
    case "i8": return v.getInt8(0);
    case "u16": return v.getUint16(0, true);
    case "i16": return v.getInt16(0, true);
    case "u32": return v.getUint32(0, true);
    case "i32": return v.getInt32(0, true);
    case "f32": return v.getFloat32(0, true);
    case "f64": return v.getFloat64(0, true);
    case "u64": return v.getBigUint64(0, true);
    case "i64": return v.getBigInt64(0, true);
  }
}

/**
 * Name the changed `ranges` through `layouts`: each byte by the struct of
 * the second image holding it, else of the first (as allocations are).
 */
function namePaths(
  a: Uint8Array, b: Uint8Array, sa: Side, sb: Side,
  ranges: { offset: number; length: number }[], rangesTruncated: boolean, layouts: LayoutMap, maxFields: number,
): DiffPaths {
  const placeIn = (img: Uint8Array, s: Side) => placeStructs(layouts, img, s.roots, (off) => {
    const i = allocationHolding(s.allocs, off);
    return i < 0 ? -1 : s.allocs[i]! + s.allocs[i + 1]!;
  });
  const pb = placeIn(b, sb);
  const pa = placeIn(a, sa);
  const segB = segmentsOf(pb.placements);
  const segA = segmentsOf(pa.placements);
  const fields: DiffField[] = [];
  const unnamed: { offset: number; length: number }[] = [];
  let truncated = rangesTruncated;
  const nextStart = (segs: Segment[], i: number): number => (~i < segs.length ? segs[~i]!.start : Infinity);
  outer: for (const r of ranges) {
    const end = r.offset + r.length;
    for (let o = r.offset; o < end; ) {
      const ib = segmentAt(segB, o);
      const ia = ib >= 0 ? -1 : segmentAt(segA, o);
      const seg = ib >= 0 ? segB[ib] : ia >= 0 ? segA[ia] : undefined;
      if (seg === undefined) {
        const to = Math.min(end, nextStart(segB, ib), nextStart(segA, ia));
        const last = unnamed[unnamed.length - 1];
        if (last !== undefined && last.offset + last.length === o) last.length += to - o;
        else unnamed.push({ offset: o, length: to - o });
        o = to;
        continue;
      }
      const f = fieldAt(seg.placement, o);
      const prev = fields[fields.length - 1];
      if (prev === undefined || prev.offset !== f.offset || prev.path !== f.path) {
        if (fields.length >= maxFields) {
          truncated = true;
          break outer;
        }
        fields.push({
          ...f,
          before: f.type === null ? null : valueAt(a, f.offset, f.type),
          after: f.type === null ? null : valueAt(b, f.offset, f.type),
        });
      }
      o = Math.min(end, f.offset + f.length, seg.end);
    }
  }
  return { fields, unnamed, truncated, complete: pa.complete && pb.complete };
}
