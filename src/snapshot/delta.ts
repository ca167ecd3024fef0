/**
 * delta.ts - a heap image stored as the pages that differ from another
 * image (its base). Taking one costs a page compare (ph_pages_diff) and a
 * copy of the changed pages; rebuilding the image costs a copy of the base
 * and of those pages.
 *
 * Invariant: image = base's first `length` bytes (zero-extended), with
 * page pages[i] replaced by data's page i. Every page at or above the
 * base's length is stored, whatever it holds.
 */
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";
import { newImage } from "./image-memory.ts";
import { UNKNOWN } from "../tracking.ts";
import { bytePages, copyPages, diffListed, diffPages, type PageOps, type PageSource, sequence } from "./pages.ts";

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;

/** Pages of an image that differ from a base image. */
export interface Delta {
  /** Bytes of the whole image. */
  length: number;
  /** Indices of the stored pages, ascending. */
  pages: Uint32Array;
  /** Their bytes, page i of data for pages[i]. */
  data: Uint8Array;
}

/** Pages of image[0, length) and of base it has in common. */
function commonPages(length: number, base: Uint8Array): { pages: number; common: number } {
  const pages = length / PAGE;
  return { pages, common: Math.min(pages, Math.floor(base.length / PAGE)) };
}

/**
 * Pages that may have been written since a base image was taken: `count`
 * of them in `pages` (ascending), or a count of UNKNOWN (any page may).
 */
export interface Written {
  count: number;
  pages: Uint32Array;
}

const ANY_PAGE: Written = { count: UNKNOWN, pages: new Uint32Array(0) };

/**
 * The pages of image[0, length) that differ from base: of the pages
 * `written` lists since base was the image, or of every page. `op` names
 * the caller in errors.
 */
export function makeDelta(image: Uint8Array, length: number, base: Uint8Array, op: string, written: Written = ANY_PAGE): Delta {
  const { pages, common } = commonPages(length, base);
  const changed = new Uint32Array(pages);
  let n = changedPages(image, base, common, written.count, written.pages, changed, op);
  for (let p = common; p < pages; p++) changed[n++] = p;
  const stored = changed.slice(0, n);
  const data = new Uint8Array(n * PAGE);
  copyPages(data, image, sequence(n), stored, n, op);
  return { length, pages: stored, data };
}

/**
 * The pages of [0, common) where `image` differs from `base`, ascending,
 * into `out` (at least `common` long); returns their count. `listed` is
 * what a change set's collect returned since `base` was the image: with
 * a count, only those pages (`list`, ascending) are compared; with
 * UNKNOWN, every page is. `ops`: the page engine (pages.ts).
 */
export function changedPages(image: PageSource, base: PageSource, common: number, listed: number, list: Uint32Array, out: Uint32Array, op: string, ops: PageOps = bytePages()): number {
  if (listed === UNKNOWN) return diffPages(image, base, common, out, common, op, ops);
  let k = 0;
  while (k < listed && list[k]! < common) k++;
  return diffListed(image, base, list, k, out, op, ops);
}

/**
 * Lay a delta over the image of its base, held at the start of `buffer`
 * (at least delta.length bytes): returns the view of the delta's image.
 * Bytes past the base's end need not be anything: a delta stores every
 * page there.
 */
export function overlay(delta: Delta, buffer: Uint8Array, op: string, ops: PageOps = bytePages()): Uint8Array {
  const out = buffer.subarray(0, delta.length);
  copyPages(out, delta.data, delta.pages, sequence(delta.pages.length), delta.pages.length, op, ops);
  return out;
}

/** The whole image a delta describes, in new memory. */
export function applyDelta(delta: Delta, base: Uint8Array, op: string): Uint8Array {
  const out = newImage(delta.length, false, op);
  out.set(base.subarray(0, Math.min(delta.length, base.length)));
  return overlay(delta, out, op);
}
