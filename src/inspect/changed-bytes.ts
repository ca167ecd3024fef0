/**
 * changed-bytes.ts - how many bytes differ between two heap images, in all
 * and page by page. The shorter image reads as zeros past its end (as
 * Snapshot.diff compares them), and the header's lock block is left out: it
 * is the region's, not heap state (checksums and diffs leave it out too).
 * An equal page costs one memcmp; only differing pages are walked byte by
 * byte.
 */
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";
import { sameBytes } from "../platform/bytes.ts";

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;
const LOCK_FROM = NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET;
const LOCK_TO = NATIVE_CONSTANTS.PH_LOCK_BLOCK_END;

/** Bytes that differ in page `page` of `a` and `b` (bytes past an image's end read as zero). */
function changedInPage(a: Uint8Array, b: Uint8Array, page: number): number {
  const from = page * PAGE;
  const to = Math.min(from + PAGE, Math.max(a.length, b.length));
  let changed = 0;
  for (let i = from; i < to; i++) {
    const x = i < a.length ? a[i]! : 0;
    const y = i < b.length ? b[i]! : 0;
    if (x !== y && (i < LOCK_FROM || i >= LOCK_TO)) changed++;
  }
  return changed;
}

/**
 * Call `each(page, changed)` for every page of the longer image that holds
 * a differing byte.
 */
function forChangedPages(a: Uint8Array, b: Uint8Array, each: (page: number, changed: number) => void): void {
  const end = Math.max(a.length, b.length);
  for (let from = 0; from < end; from += PAGE) {
    const to = Math.min(from + PAGE, end);
    if (to <= a.length && to <= b.length && sameBytes(a.subarray(from, to), b.subarray(from, to))) continue;
    const changed = changedInPage(a, b, from / PAGE);
    if (changed > 0) each(from / PAGE, changed);
  }
}

/**
 * Bytes that differ between images `a` and `b`.
 *
 * @example
 * ```ts
 * import { PrivateHeap } from "privheap";
 * import { changedByteCount } from "./changed-bytes.ts";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const p = heap.malloc(16);
 * const before = heap.snapshot().bytes;
 * heap.u8[p] = 1;
 * heap.u8[p + 9] = 2;
 * console.log(changedByteCount(before, heap.snapshot().bytes)); // 2
 * ```
 */
export function changedByteCount(a: Uint8Array, b: Uint8Array): number {
  let total = 0;
  forChangedPages(a, b, (_page, changed) => {
    total += changed;
  });
  return total;
}

/** Per page of the longer of `a` and `b`: the bytes that differ there. */
export function changedBytesPerPage(a: Uint8Array, b: Uint8Array): Uint32Array {
  const out = new Uint32Array(Math.ceil(Math.max(a.length, b.length) / PAGE));
  forChangedPages(a, b, (page, changed) => {
    out[page] = changed;
  });
  return out;
}

/**
 * Bytes that differ between `a` and `b` in the `count` pages listed in
 * `pages` (each once), for a caller that knows no other page can differ:
 * the heap's tracker reported them written (tracking.ts).
 */
export function changedBytesInPages(a: Uint8Array, b: Uint8Array, pages: Uint32Array, count: number): number {
  let total = 0;
  for (let i = 0; i < count; i++) total += changedInPage(a, b, pages[i]!);
  return total;
}
