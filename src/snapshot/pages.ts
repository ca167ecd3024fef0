/**
 * pages.ts - the native page operations (ph_pages_diff, ph_pages_copy,
 * ph_heap_put_pages) over region pointers and byte arrays, with their
 * errors, for the modules that keep pages rather than whole images: deltas,
 * the rollback ring, the snapshot file's zero-page scan.
 */
import type { Pointer } from "bun:ffi";
import { HeapError } from "../errors.ts";
import { loadNative } from "../ffi/loader.ts";

/** A region's base, or bytes holding pages. */
export type PageSource = Pointer | Uint8Array;

/**
 * How many of pages [0, npages) differ between a and b; the first `cap`
 * indices go to out (ascending). out may be null with cap 0: a count only.
 */
export function diffPages(a: PageSource, b: PageSource, npages: number, out: Uint32Array | null, cap: number, op: string): number {
  const n = loadNative().symbols.ph_pages_diff(a as Pointer, b as Pointer, npages, out, cap);
  if (n < 0) throw HeapError.fromNative(n, op);
  return n;
}

/**
 * Of the n pages listed (indices into a and b), the ones whose bytes
 * differ, into out (may be `list` itself), in the list's order; returns
 * their count. Turns a tracker's written pages into the changed ones.
 */
export function diffListed(a: PageSource, b: PageSource, list: Uint32Array, n: number, out: Uint32Array, op: string): number {
  return diffPairs(a, b, list, list, n, out, op);
}

/**
 * Of the n pairs (page aPages[i] of a, page bPages[i] of b), the ones
 * whose bytes differ: their aPages[i] into out (may be aPages), in order;
 * returns their count.
 */
export function diffPairs(a: PageSource, b: PageSource, aPages: Uint32Array, bPages: Uint32Array, n: number, out: Uint32Array, op: string): number {
  if (n === 0) return 0;
  const k = loadNative().symbols.ph_pages_diff_pairs(a as Pointer, b as Pointer, aPages, bPages, n, out);
  if (k < 0) throw HeapError.fromNative(k, op);
  return k;
}

/** Page src[i] of `from` to page dst[i] of `to`, for i < n. */
export function copyPages(to: PageSource, from: PageSource, dst: Uint32Array, src: Uint32Array, n: number, op: string): void {
  if (n === 0) return;
  const rc = loadNative().symbols.ph_pages_copy(to as Pointer, from as Pointer, dst, src, n);
  if (rc < 0) throw HeapError.fromNative(rc, op);
}

/**
 * Page src[i] of `from` back to page dst[i] of the live heap at `heap`,
 * for i < n, leaving the heap's lock block as it is (ph_heap_put_pages).
 */
export function putPages(heap: Pointer, from: PageSource, dst: Uint32Array, src: Uint32Array, n: number, op: string): void {
  if (n === 0) return;
  const rc = loadNative().symbols.ph_heap_put_pages(heap, from as Pointer, dst, src, n);
  if (rc < 0) throw HeapError.fromNative(rc, op);
}

/** 0, 1, ..., n - 1: the page list of a packed run of n pages. */
export function sequence(n: number): Uint32Array {
  const s = new Uint32Array(n);
  for (let i = 0; i < n; i++) s[i] = i;
  return s;
}
