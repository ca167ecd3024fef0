/**
 * page-map.ts - what each page of a region is, read by the C core
 * (ph_heap_page_map) into typed arrays, and the runs those pages form.
 * One byte per page, not one object: a 1 GiB region is 262,144 pages.
 */
import type { Pointer } from "bun:ffi";
import { HeapError } from "../errors.ts";
import { bytesBackend } from "../bytes-backend.ts";
import { NATIVE_CONSTANTS, type NativeSymbols } from "../ffi/symbols.ts";
import { MAX_REGION_SIZE } from "../heap.ts";

const PAGE_BYTES = NATIVE_CONSTANTS.PH_PAGE_SIZE;

/** A page's kind in {@link PageMap.kinds}. */
export const PageKind = {
  /** Above the touched mark: never used, reads as zero. */
  untouched: NATIVE_CONSTANTS.PH_PAGEMAP_UNTOUCHED,
  /** Above the high-water mark, used before: outside the heap. */
  touched: NATIVE_CONSTANTS.PH_PAGEMAP_TOUCHED,
  /** The heap header. */
  header: NATIVE_CONSTANTS.PH_PAGEMAP_HEADER,
  /** A leaf of the allocator's page map. */
  leaf: NATIVE_CONSTANTS.PH_PAGEMAP_LEAF,
  /** Free pages below the high-water mark. */
  free: NATIVE_CONSTANTS.PH_PAGEMAP_FREE,
  /** A run of small allocations of one size class. */
  small: NATIVE_CONSTANTS.PH_PAGEMAP_SMALL,
  /** One large allocation. */
  large: NATIVE_CONSTANTS.PH_PAGEMAP_LARGE,
  /** A frame scratch chunk. */
  scratch: NATIVE_CONSTANTS.PH_PAGEMAP_SCRATCH,
} as const;

/** Names of the kinds, indexed by kind. */
export const PAGE_KIND_NAMES: readonly string[] = ["untouched", "touched", "header", "leaf", "free", "small", "large", "scratch"];

/** {@link PageMap.classes} of a page outside small runs. */
export const NO_CLASS: number = NATIVE_CONSTANTS.PH_PAGEMAP_NO_CLASS;

/** One size class of the allocator. */
export interface SizeClass {
  /** Index (the value in {@link PageMap.classes}). */
  index: number;
  /** Region size in bytes: the usable size of its allocations. */
  size: number;
  /** Pages per run; 0 for a class served as page runs (large allocations). */
  runPages: number;
  /** Regions per run. */
  regionsPerRun: number;
}

let classTable: readonly SizeClass[] | null = null;

/** The allocator's size classes, by index (read from the default backend's core once: every build of the core has the same). */
export function sizeClasses(): readonly SizeClass[] {
  if (classTable === null) {
    const S = bytesBackend("sizeClasses").symbols;
    const n = S.ph_size_classes(null, 0);
    const out = new Uint32Array(3 * n);
    S.ph_size_classes(out, n);
    const table: SizeClass[] = [];
    for (let c = 0; c < n; c++) table.push({ index: c, size: out[3 * c]!, runPages: out[3 * c + 1]!, regionsPerRun: out[3 * c + 2]! });
    classTable = table;
  }
  return classTable;
}

/**
 * Every page of a region, and the runs below its high-water mark. Run r
 * covers pages [runStart[r], runStart[r] + runPages[r]); runs are in
 * address order.
 */
export interface PageMap {
  /** Pages the heap manages. */
  pages: number;
  /** Per page: a {@link PageKind}. */
  kinds: Uint8Array;
  /** Per page: the size class of a small run's pages, else {@link NO_CLASS}. */
  classes: Uint8Array;
  /** Per page: the index of its run, or -1 above the high-water mark. */
  pageRun: Int32Array;
  /** Per run: its first page. */
  runStart: Uint32Array;
  /** Per run: its length in pages. */
  runPages: Uint32Array;
  /** Per run: its kind. */
  runKind: Uint8Array;
  /** Per run: its size class, or {@link NO_CLASS}. */
  runClass: Uint8Array;
  /** Per run: live allocations (a small run's live regions, 1 for a large run, else 0). */
  runLive: Uint16Array;
}

/**
 * The page map of the heap in `region` (a live heap's base with its size,
 * or bytes holding at least its used prefix). The bytes may be untrusted:
 * the C reader bounds everything it follows and a layout it cannot walk is
 * `ECORRUPT`; a short or foreign image is `ECORRUPT`, `EVERSION` or `ESIZE`.
 * `S`: the functions of the region's core (a live heap's address); bytes
 * without it are read by the default backend's core.
 */
export function readPageMap(region: Pointer | Uint8Array, len: number, op: string, S?: NativeSymbols): PageMap {
  if (S === undefined) {
    if (!(region instanceof Uint8Array)) throw new HeapError("EINVAL", op, "a region address needs its backend's functions");
    const b = bytesBackend(op);
    return b.withBytes(region, (at) => readPageMap(at, len, op, b.symbols));
  }
  const pages = Number(S.ph_heap_page_map(region as Pointer, len, 0, null, null, null));
  if (pages < 0) throw HeapError.fromNative(pages, op);
  // A header may declare up to 2^32 pages; the arrays below hold one entry per page.
  if (pages * PAGE_BYTES > MAX_REGION_SIZE) throw new HeapError("ESIZE", op, `the heap declares ${pages} pages, more than a heap of this library has (${MAX_REGION_SIZE / PAGE_BYTES})`);
  const raw = new Uint8Array(pages);
  const classes = new Uint8Array(pages);
  const live = new Uint16Array(pages);
  const rc = Number(S.ph_heap_page_map(region as Pointer, len, pages, raw, classes, live));
  if (rc < 0) throw HeapError.fromNative(rc, op);
  if (rc !== pages) throw new HeapError("ECORRUPT", op, "the heap's page count changed while it was read");
  return runsOf(raw, classes, live);
}

const HEAD = NATIVE_CONSTANTS.PH_PAGEMAP_RUN_HEAD;

/** Split the head bits off the kinds and list the runs they start. */
function runsOf(raw: Uint8Array, classes: Uint8Array, live: Uint16Array): PageMap {
  const pages = raw.length;
  let runs = 0;
  for (let p = 0; p < pages; p++) runs += raw[p]! >>> 7;
  const runStart = new Uint32Array(runs);
  const runPages = new Uint32Array(runs);
  const runKind = new Uint8Array(runs);
  const runClass = new Uint8Array(runs);
  const runLive = new Uint16Array(runs);
  const pageRun = new Int32Array(pages);
  const kinds = raw; // the head bits are cleared in place below
  let r = -1;
  for (let p = 0; p < pages; p++) {
    const k = raw[p]!;
    if (k & HEAD) {
      if (r >= 0) runPages[r] = p - runStart[r]!;
      r++;
      runStart[r] = p;
      runKind[r] = k & ~HEAD;
      runClass[r] = classes[p]!;
      runLive[r] = live[p]!;
      kinds[p] = k & ~HEAD;
    } else if (k === PageKind.touched || k === PageKind.untouched) {
      if (r >= 0 && runPages[r] === 0) runPages[r] = p - runStart[r]!;
      pageRun[p] = -1;
      continue;
    }
    pageRun[p] = r;
  }
  if (r >= 0 && runPages[r] === 0) runPages[r] = pages - runStart[r]!;
  return { pages, kinds, classes, pageRun, runStart, runPages, runKind, runClass, runLive };
}
