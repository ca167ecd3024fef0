/**
 * diff.ts - where two heap images differ: changed byte ranges, and the
 * allocations and named roots that hold them. This is the tool for "two runs
 * diverged: what changed?". Pages are compared with memcmp first (via
 * Buffer.compare), so equal pages cost little; only differing pages are
 * scanned byte by byte.
 */
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";
import { listAllocations, readRoots, type RegionRef } from "../introspect.ts";

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
}

/** Options of {@link Snapshot.diff}. */
export interface DiffOptions {
  /** Stop listing ranges after this many (default 10,000); counts stay exact. */
  maxRanges?: number;
}

/** The images' allocations (sorted pairs) and roots, for mapping offsets. */
interface Side {
  allocs: Float64Array;
  roots: Record<string, number>;
}

function side(region: RegionRef): Side {
  return { allocs: listAllocations(region, "Snapshot.diff"), roots: readRoots(region) };
}

/** Index i (even) of the pair containing off, or -1. */
function findAlloc(allocs: Float64Array, off: number): number {
  let lo = 0;
  let hi = allocs.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const start = allocs[2 * mid]!;
    if (off < start) hi = mid - 1;
    else if (off >= start + allocs[2 * mid + 1]!) lo = mid + 1;
    else return 2 * mid;
  }
  return -1;
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
  const ba = Buffer.from(a.buffer, a.byteOffset, a.length);
  const bb = Buffer.from(b.buffer, b.byteOffset, b.length);
  const zero = Buffer.alloc(PAGE);
  const end = Math.max(a.length, b.length);
  for (let page = 0; page < end; page += PAGE) {
    const n = Math.min(PAGE, end - page);
    const pa = page < a.length ? ba.subarray(page, page + n) : zero.subarray(0, n);
    const pb = page < b.length ? bb.subarray(page, page + n) : zero.subarray(0, n);
    if (pa.length === n && pb.length === n && Buffer.compare(pa, pb) === 0) {
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
    let i = findAlloc(sb.allocs, r.offset);
    if (i < 0) {
      s = sa;
      i = findAlloc(sa.allocs, r.offset);
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
  return { equal: changed === 0, changedBytes: changed, ranges: mapped, truncated, allocations, roots: [...roots].sort() };
}
