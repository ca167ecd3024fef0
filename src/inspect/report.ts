/**
 * report.ts - one report of a heap's state: sizes, live allocations per
 * size class, fragmentation, roots and what they reach, the largest
 * allocations, and the page map. Built from a region's bytes (a live heap
 * or an image) by the C readers; every number here is derived from the
 * page map, the walk of live allocations and the header's counters.
 */
import type { Pointer } from "bun:ffi";
import { bytesBackend } from "../bytes-backend.ts";
import { HeapError } from "../errors.ts";
import type { NativeSymbols } from "../ffi/symbols.ts";
import { listAllocations, readRoots, readStats, type HeapStats } from "../introspect.ts";
import type { LayoutMap } from "../snapshot/layout-map.ts";
import { NO_CLASS, PageKind, readPageMap, sizeClasses, type PageMap } from "./page-map.ts";
import { rootsReport, type RootReport } from "./roots.ts";

const PAGE = 4096;

/** Live allocations of one small size class. */
export interface ClassUsage {
  /** Size-class index. */
  index: number;
  /** Usable bytes of each allocation. */
  size: number;
  /** Runs of this class. */
  runs: number;
  /** Pages those runs hold. */
  runPages: number;
  /** Regions those runs hold, live or not. */
  regions: number;
  /** Live allocations. */
  liveCount: number;
  /** Their usable bytes. */
  liveBytes: number;
}

/** Large allocations whose size lies in [minBytes, maxBytes]. */
export interface LargeBucket {
  minBytes: number;
  maxBytes: number;
  count: number;
  bytes: number;
}

/** Free space and how well the held pages are used. */
export interface Fragmentation {
  /** Free pages below the high-water mark, in bytes. */
  freeBytes: number;
  /** Free runs below the high-water mark. */
  freeRuns: number;
  /** The longest free run below the high-water mark, in bytes (0 when none). */
  largestFreeRunBytes: number;
  /** Free bytes as a share of the used prefix (0..1). */
  freeShare: number;
  /** Pages held by small runs, in bytes. */
  smallRunBytes: number;
  /** Live bytes of small allocations as a share of smallRunBytes (0..1; 1 when there are none). */
  smallOccupancy: number;
  /** Pages held by frame scratch chunks, in bytes. */
  scratchBytes: number;
}

/** An allocation: offset and usable size. */
export interface AllocationRef {
  offset: number;
  size: number;
}

/** Options of {@link inspectRegion}. */
export interface InspectOptions {
  /** Registered layouts, to say what each root reaches. */
  layouts?: LayoutMap;
  /** How many of the largest allocations to list (default 20). */
  largest?: number;
}

/**
 * What a heap holds. Numbers are bytes unless named otherwise.
 *
 * @example
 * ```ts
 * import { PrivateHeap } from "privheap";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * heap.malloc(100);
 * const r = heap.inspect();
 * console.log(r.live.count, r.classes.find((c) => c.liveCount > 0)?.size); // 1 112
 * ```
 */
export interface HeapReport {
  /** The header's counters. */
  stats: HeapStats;
  sizes: { regionBytes: number; usedBytes: number; touchedBytes: number; metaBytes: number; pageSize: number };
  live: { count: number; bytes: number; smallCount: number; smallBytes: number; largeCount: number; largeBytes: number };
  /** Every small size class, by index (empty classes included). */
  classes: ClassUsage[];
  /** Large allocations by size, one bucket per power of two of pages, in order (empty ones left out). */
  large: LargeBucket[];
  fragmentation: Fragmentation;
  roots: RootReport[];
  /** The largest live allocations, largest first (ties by address). */
  largest: AllocationRef[];
  /** Every page and run. */
  map: PageMap;
  /** Live allocations as (offset, usable size) pairs in address order. */
  allocations: Float64Array;
  /** The run holding page `page` (an offset's page is `Math.floor(offset / 4096)`), or -1 above the high-water mark or for no page. */
  runAt(page: number): number;
  /** The live allocations of run `run` as (offset, size) pairs in address order. */
  allocationsIn(run: number): Float64Array;
}

/** First index i (even) of pairs with list[i] >= off. */
function firstPairAtOrAfter(list: Float64Array, off: number): number {
  let lo = 0;
  let hi = list.length >>> 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[2 * mid]! < off) lo = mid + 1;
    else hi = mid;
  }
  return 2 * lo;
}

/** The `n` largest allocations of `list`, largest first, ties by address. */
function largestOf(list: Float64Array, n: number): AllocationRef[] {
  const top: AllocationRef[] = [];
  if (n <= 0) return top;
  for (let i = 0; i < list.length; i += 2) {
    const size = list[i + 1]!;
    if (top.length === n && size <= top[n - 1]!.size) continue;
    let j = top.length < n ? top.length : n - 1;
    while (j > 0 && top[j - 1]!.size < size) j--;
    top.splice(j, 0, { offset: list[i]!, size });
    if (top.length > n) top.pop();
  }
  return top;
}

/**
 * The report of the heap in `region`: a live heap's base (with `len` its
 * size) or an image holding its used prefix (`len` its length). Images
 * may be untrusted: a layout the readers cannot walk is `ECORRUPT`.
 * `S`: the functions of the core a live heap's address belongs to; an
 * image without it is read by the default backend's core (the WebAssembly
 * one reads one copy of it, made here for every reader).
 */
export function inspectRegion(region: Pointer | Uint8Array, len: number, bytes: Uint8Array, op: string, options: InspectOptions = {}, S?: NativeSymbols): HeapReport {
  const largestN = options.largest ?? 20;
  if (!Number.isInteger(largestN) || largestN < 0) throw new HeapError("EINVAL", op, "largest must be a non-negative integer");
  if (S === undefined) {
    if (!(region instanceof Uint8Array)) throw new HeapError("EINVAL", op, "a region address needs its backend's functions");
    const b = bytesBackend(op);
    return b.withBytes(region, (at) => inspectRegion(at, len, bytes, op, options, b.symbols));
  }
  const map = readPageMap(region, len, op, S); // checks the header first
  const stats = readStats(region, op, S);
  const allocations = listAllocations(region, op, S);
  const table = sizeClasses();
  const classes: ClassUsage[] = [];
  for (const c of table) if (c.runPages > 0) classes.push({ index: c.index, size: c.size, runs: 0, runPages: 0, regions: 0, liveCount: 0, liveBytes: 0 });
  const byIndex: (ClassUsage | undefined)[] = [];
  for (const c of classes) byIndex[c.index] = c;

  const buckets = new Map<number, LargeBucket>();
  let smallCount = 0, smallBytes = 0, largeCount = 0, largeBytes = 0;
  let freeBytes = 0, freeRuns = 0, largestFree = 0, smallRunBytes = 0, scratchBytes = 0;
  const { runStart, runPages, runKind, runClass, runLive } = map;
  for (let r = 0; r < runStart.length; r++) {
    const pages = runPages[r]!;
    switch (runKind[r]) {
      case PageKind.small: {
        const c = byIndex[runClass[r]!];
        if (c === undefined) throw new HeapError("ECORRUPT", op, `a small run of class ${runClass[r]}, which has no runs`);
        c.runs++;
        c.runPages += pages;
        c.regions += table[c.index]!.regionsPerRun;
        c.liveCount += runLive[r]!;
        c.liveBytes += runLive[r]! * c.size;
        smallCount += runLive[r]!;
        smallBytes += runLive[r]! * c.size;
        smallRunBytes += pages * PAGE;
        break;
      }
      case PageKind.large: {
        const bytesOf = pages * PAGE;
        largeCount++;
        largeBytes += bytesOf;
        const lg = 31 - Math.clz32(pages);
        let b = buckets.get(lg);
        if (b === undefined) buckets.set(lg, (b = { minBytes: PAGE * 2 ** lg, maxBytes: PAGE * (2 ** (lg + 1) - 1), count: 0, bytes: 0 }));
        b.count++;
        b.bytes += bytesOf;
        break;
      }
      case PageKind.free:
        freeRuns++;
        freeBytes += pages * PAGE;
        largestFree = Math.max(largestFree, pages * PAGE);
        break;
      case PageKind.scratch:
        scratchBytes += pages * PAGE;
        break;
    }
  }
  const large = [...buckets.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  const roots = rootsReport(readRoots(region, S), allocations, bytes, options.layouts);
  return {
    stats,
    sizes: { regionBytes: stats.regionBytes, usedBytes: stats.usedBytes, touchedBytes: stats.touchedBytes, metaBytes: stats.metaBytes, pageSize: PAGE },
    live: { count: smallCount + largeCount, bytes: smallBytes + largeBytes, smallCount, smallBytes, largeCount, largeBytes },
    classes,
    large,
    fragmentation: {
      freeBytes,
      freeRuns,
      largestFreeRunBytes: largestFree,
      freeShare: stats.usedBytes > 0 ? freeBytes / stats.usedBytes : 0,
      smallRunBytes,
      smallOccupancy: smallRunBytes > 0 ? smallBytes / smallRunBytes : 1,
      scratchBytes,
    },
    roots,
    largest: largestOf(allocations, largestN),
    map,
    allocations,
    runAt: (page) => (Number.isInteger(page) && page >= 0 && page < map.pages ? map.pageRun[page]! : -1),
    allocationsIn: (run) => {
      if (!(run >= 0 && run < runStart.length)) return new Float64Array(0);
      const start = runStart[run]! * PAGE;
      const end = start + runPages[run]! * PAGE;
      return allocations.subarray(firstPairAtOrAfter(allocations, start), firstPairAtOrAfter(allocations, end));
    },
  };
}

/** NO_CLASS again, for callers that read {@link PageMap.classes}. */
export { NO_CLASS };
