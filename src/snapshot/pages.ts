/**
 * pages.ts - page operations (compare, copy, put back into a live heap)
 * between a heap's region and byte arrays, for the modules that keep pages
 * rather than whole images: deltas, the rollback ring, replays, the
 * snapshot file's zero-page scan.
 *
 * Two engines do the same work:
 * - the native library's (ph_pages_diff, ph_pages_diff_pairs,
 *   ph_pages_copy, ph_heap_put_pages), which reads JavaScript arrays in
 *   place and takes a native heap's region by its address;
 * - JavaScript's (JS_PAGES), for WebAssembly heaps: their region is a view
 *   over the module's memory, and a C call there would copy every array
 *   argument whole into that memory and back. Here a copy is one
 *   TypedArray.set per run of consecutive pages and a compare is a word
 *   loop per page pair, so each costs the pages it is given. It counts
 *   the pages it compares and copies (`pageWork`).
 * Code given a heap uses `pagesOf(heap)`; code given only bytes uses the
 * free functions below, which take the default backend's engine (the
 * native one in Bun, JavaScript's where only WebAssembly exists).
 */
import type { Pointer } from "bun:ffi";
import { bytesBackendOrNull } from "../bytes-backend.ts";
import { HeapError } from "../errors.ts";
import { NATIVE_CONSTANTS, type NativeSymbols } from "../ffi/symbols.ts";

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;
const WORDS = PAGE / 4;
const LOCK_FROM = NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET;
const LOCK_TO = NATIVE_CONSTANTS.PH_LOCK_BLOCK_END;

/** A native region's base, or bytes holding pages (a WebAssembly region is its view). */
export type PageSource = Pointer | Uint8Array;

/** The page operations of one engine (see the module comment); `op` names the caller in errors. */
export interface PageOps {
  /** How many of pages [0, npages) differ between a and b; the first `cap` indices go to out (ascending). */
  diff(a: PageSource, b: PageSource, npages: number, out: Uint32Array | null, cap: number, op: string): number;
  /** Of the n pairs (page aPages[i] of a, page bPages[i] of b), the differing ones' aPages[i] into out (may be aPages), in order; their count. */
  diffPairs(a: PageSource, b: PageSource, aPages: Uint32Array, bPages: Uint32Array, n: number, out: Uint32Array, op: string): number;
  /** Page src[i] of `from` to page dst[i] of `to`, for i < n. */
  copy(to: PageSource, from: PageSource, dst: Uint32Array, src: Uint32Array, n: number, op: string): void;
  /** Page src[i] of `from` to page dst[i] of the live heap `region`, for i < n, leaving its lock block as it is. */
  put(region: PageSource, from: PageSource, dst: Uint32Array, src: Uint32Array, n: number, op: string): void;
}

/** Pages the JavaScript engine compared and copied since the process started: for tests and benchmarks of what a call costs. */
export const pageWork = { compared: 0, copied: 0 };

/** The native library's engine, through `S` (a native heap's symbols, or the default backend's for bytes). */
export function nativePages(S: NativeSymbols): PageOps {
  return {
    diff(a, b, npages, out, cap, op) {
      const n = S.ph_pages_diff(a as Pointer, b as Pointer, npages, out, cap);
      if (n < 0) throw HeapError.fromNative(n, op);
      return n;
    },
    diffPairs(a, b, aPages, bPages, n, out, op) {
      if (n === 0) return 0;
      const k = S.ph_pages_diff_pairs(a as Pointer, b as Pointer, aPages, bPages, n, out);
      if (k < 0) throw HeapError.fromNative(k, op);
      return k;
    },
    copy(to, from, dst, src, n, op) {
      if (n === 0) return;
      const rc = S.ph_pages_copy(to as Pointer, from as Pointer, dst, src, n);
      if (rc < 0) throw HeapError.fromNative(rc, op);
    },
    put(region, from, dst, src, n, op) {
      if (n === 0) return;
      const rc = S.ph_heap_put_pages(region as Pointer, from as Pointer, dst, src, n);
      if (rc < 0) throw HeapError.fromNative(rc, op);
    },
  };
}

/** Word views of byte arrays, made once per array (a region's view changes only when the memory grows). */
const wordViews = new WeakMap<Uint8Array, Int32Array | null>();

/** `bytes` as 32-bit words, or null when it does not start on a word. */
function wordsOf(bytes: Uint8Array): Int32Array | null {
  let w = wordViews.get(bytes);
  if (w === undefined) {
    w = bytes.byteOffset % 4 === 0 ? new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2) : null;
    wordViews.set(bytes, w);
  }
  return w;
}

function bytesOf(s: PageSource, op: string): Uint8Array {
  if (s instanceof Uint8Array) return s;
  throw new HeapError("EINVAL", op, "a region address reached the JavaScript page engine, which takes views");
}

/** Throws EINVAL unless page p lies inside `bytes`. */
function within(bytes: Uint8Array, p: number, op: string): void {
  if (!((p + 1) * PAGE <= bytes.length)) throw new HeapError("EINVAL", op, `page ${p} lies past the ${bytes.length} bytes it is read from or written to`);
}

/**
 * Whether page ap of a and page bp of b hold the same bytes: by 32-bit
 * words when both arrays start on a word (`aw`, `bw`: wordsOf, looked up
 * once per call), else by bytes.
 */
function samePage(a: Uint8Array, aw: Int32Array | null, ap: number, b: Uint8Array, bw: Int32Array | null, bp: number): boolean {
  if (aw !== null && bw !== null) return sameWords(aw, ap * WORDS, bw, bp * WORDS);
  return samePageBytes(a, ap * PAGE, b, bp * PAGE);
}

/** One page of words from i in a and from j in b: equal? Eight words a step, their differences or-ed (one branch per 32 bytes). */
function sameWords(a: Int32Array, i: number, b: Int32Array, j: number): boolean {
  for (let k = 0; k < WORDS; k += 8) {
    const d =
      (a[i + k]! ^ b[j + k]!) |
      (a[i + k + 1]! ^ b[j + k + 1]!) |
      (a[i + k + 2]! ^ b[j + k + 2]!) |
      (a[i + k + 3]! ^ b[j + k + 3]!) |
      (a[i + k + 4]! ^ b[j + k + 4]!) |
      (a[i + k + 5]! ^ b[j + k + 5]!) |
      (a[i + k + 6]! ^ b[j + k + 6]!) |
      (a[i + k + 7]! ^ b[j + k + 7]!);
    if (d !== 0) return false;
  }
  return true;
}

function samePageBytes(a: Uint8Array, i: number, b: Uint8Array, j: number): boolean {
  for (let k = 0; k < PAGE; k++) if (a[i + k] !== b[j + k]) return false;
  return true;
}

/** Copy n pages, one set() per run of pages consecutive in both lists; `lock` leaves [LOCK_FROM, LOCK_TO) of `to` as it is. */
function copyRuns(to: Uint8Array, from: Uint8Array, dst: Uint32Array, src: Uint32Array, n: number, op: string, lock: boolean): void {
  if (n > dst.length || n > src.length) throw new HeapError("EINVAL", op, `${n} pages listed in lists of ${dst.length} and ${src.length}`);
  for (let i = 0; i < n; ) {
    const d = dst[i]!;
    const s = src[i]!;
    let run = 1;
    while (i + run < n && dst[i + run] === d + run && src[i + run] === s + run) run++;
    within(to, d + run - 1, op);
    within(from, s + run - 1, op);
    const at = d * PAGE;
    const bytes = from.subarray(s * PAGE, (s + run) * PAGE);
    if (lock && at < LOCK_TO && at + bytes.length > LOCK_FROM) {
      // The lock block is the region's own: copy around it.
      to.set(bytes.subarray(0, Math.max(0, LOCK_FROM - at)), at);
      to.set(bytes.subarray(LOCK_TO - at), LOCK_TO);
    } else to.set(bytes, at);
    pageWork.copied += run;
    i += run;
  }
}

/** The JavaScript engine: arrays and views only (a WebAssembly region is passed as its view). */
export const JS_PAGES: PageOps = {
  diff(a, b, npages, out, cap, op) {
    const x = bytesOf(a, op);
    const y = bytesOf(b, op);
    if (out === null && cap > 0) throw new HeapError("EINVAL", op, "no list for the pages found");
    if (npages > 0) {
      within(x, npages - 1, op);
      within(y, npages - 1, op);
    }
    const xw = wordsOf(x);
    const yw = wordsOf(y);
    let n = 0;
    for (let p = 0; p < npages; p++) {
      if (samePage(x, xw, p, y, yw, p)) continue;
      if (n < cap) out![n] = p;
      n++;
    }
    pageWork.compared += npages;
    return n;
  },
  diffPairs(a, b, aPages, bPages, n, out, op) {
    const x = bytesOf(a, op);
    const y = bytesOf(b, op);
    if (n > aPages.length || n > bPages.length) throw new HeapError("EINVAL", op, `${n} pairs listed in lists of ${aPages.length} and ${bPages.length}`);
    const xw = wordsOf(x);
    const yw = wordsOf(y);
    let k = 0;
    for (let i = 0; i < n; i++) {
      const p = aPages[i]!;
      const q = bPages[i]!;
      within(x, p, op);
      within(y, q, op);
      if (!samePage(x, xw, p, y, yw, q)) out[k++] = p; // k <= i: writing into aPages itself reads nothing not yet read
    }
    pageWork.compared += n;
    return k;
  },
  copy(to, from, dst, src, n, op) {
    copyRuns(bytesOf(to, op), bytesOf(from, op), dst, src, n, op, false);
  },
  put(region, from, dst, src, n, op) {
    const to = bytesOf(region, op);
    // As ph_heap_put_pages: a destination past the region copies nothing.
    for (let i = 0; i < n; i++) within(to, dst[i]!, op);
    copyRuns(to, bytesOf(from, op), dst, src, n, op, true);
  },
};

/** The engine for code given only bytes: the default backend's native one, else JavaScript's. */
export function bytePages(): PageOps {
  const b = bytesBackendOrNull();
  if (b !== null && b.kind === "native") return (nativeByDefault ??= nativePages(b.symbols));
  return JS_PAGES;
}
let nativeByDefault: PageOps | undefined;

/** How many of pages [0, npages) differ between a and b (bytes); the first `cap` indices go to out (ascending). */
export function diffPages(a: PageSource, b: PageSource, npages: number, out: Uint32Array | null, cap: number, op: string, ops: PageOps = bytePages()): number {
  return ops.diff(a, b, npages, out, cap, op);
}

/**
 * Of the n pages listed (indices into a and b), the ones whose bytes
 * differ, into out (may be `list` itself), in the list's order; returns
 * their count. Turns a tracker's written pages into the changed ones.
 */
export function diffListed(a: PageSource, b: PageSource, list: Uint32Array, n: number, out: Uint32Array, op: string, ops: PageOps = bytePages()): number {
  return ops.diffPairs(a, b, list, list, n, out, op);
}

/** Of the n pairs (page aPages[i] of a, page bPages[i] of b), the differing ones' aPages[i] into out, in order; their count. */
export function diffPairs(a: PageSource, b: PageSource, aPages: Uint32Array, bPages: Uint32Array, n: number, out: Uint32Array, op: string, ops: PageOps = bytePages()): number {
  return ops.diffPairs(a, b, aPages, bPages, n, out, op);
}

/** Page src[i] of `from` to page dst[i] of `to`, for i < n. */
export function copyPages(to: PageSource, from: PageSource, dst: Uint32Array, src: Uint32Array, n: number, op: string, ops: PageOps = bytePages()): void {
  ops.copy(to, from, dst, src, n, op);
}

/** Page src[i] of `from` back to page dst[i] of the live heap at `heap`, for i < n, leaving its lock block as it is. */
export function putPages(heap: PageSource, from: PageSource, dst: Uint32Array, src: Uint32Array, n: number, op: string, ops: PageOps = bytePages()): void {
  ops.put(heap, from, dst, src, n, op);
}

/** 0, 1, ..., n - 1: the page list of a packed run of n pages. */
export function sequence(n: number): Uint32Array {
  const s = new Uint32Array(n);
  for (let i = 0; i < n; i++) s[i] = i;
  return s;
}
