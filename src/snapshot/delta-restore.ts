/**
 * delta-restore.ts - `heap.restore(delta)` in O(pages the delta stores +
 * pages written since its base), when the heap can say which pages it wrote
 * since the base: its latest full snapshot (delta-base.ts). Otherwise the
 * caller rebuilds the delta's whole image and restores that.
 *
 * The result is byte for byte what ph_heap_restore of the whole image
 * gives (over a live header damaged by a write through offset 0, it is
 * the image, where ph_heap_restore also counts every page as touched:
 * every page this writes is bounded by the image, its base and the
 * tracker's region, never by the damaged header). The reasoning, with L the image's used bytes, Td its touched
 * mark, Tb the base's, Tnow the heap's before the restore, W the pages
 * written since the base and D the pages the delta stores:
 * - a page below L is the delta's page (D), else the base's; a page in
 *   neither W nor D already holds the base's bytes, which are the image's;
 * - ph_heap_restore leaves [L, Td) as the heap has it, and zeroes
 *   [Td, Tnow); of those pages only the ones in W, or in [Td, Tb) (non-zero
 *   at the base's moment, maybe), can be non-zero now: pages at or above
 *   Tb were zero at the base's moment and not written since;
 * - the header is in the first pages, restored like any other; the lock
 *   block is never written (unlocked heaps only: a locked heap's restore
 *   also settles its lock's verdict, which the full path does).
 */
import type { Pointer } from "bun:ffi";
import { NATIVE_CONSTANTS, type NativeSymbols } from "../ffi/symbols.ts";
import type { PrivateHeap } from "../heap.ts";
import { readStat } from "../introspect.ts";
import { UNKNOWN } from "../tracking.ts";
import type { Delta } from "./delta.ts";
import { writtenSince } from "./delta-base.ts";
import { nativePages } from "./pages.ts";
import type { Snapshot } from "./snapshot.ts";

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;
/** The pages the heap header spans (the lock block ends it): enough to read the image's counters. */
const HEADER_PAGES = Math.ceil(NATIVE_CONSTANTS.PH_LOCK_BLOCK_END / PAGE);
const ZERO_PAGE = new Uint8Array(PAGE);

/**
 * Restore `delta` (over `baseImage`, the image of the snapshot `base`)
 * into `heap` (its region at `region`, of `size` bytes) by writing only the
 * pages that differ, and return true; or return false, having changed
 * nothing, when the heap cannot say what it wrote since `base`. `S`: the
 * functions of the heap's core (a native one: only its tracker says what
 * was written).
 */
export function restoreDeltaInPlace(heap: PrivateHeap, region: Pointer, size: number, delta: Delta, baseImage: Uint8Array, base: Snapshot, op: string, S: NativeSymbols): boolean {
  if (heap.locked) return false;
  const pages = nativePages(S);
  const putPages = (from: Uint8Array, dst: Uint32Array, src: Uint32Array, n: number) => pages.put(region, from, dst, src, n, op);
  const tNow = Math.ceil(readStat(region, "touchedBytes", op, S) / PAGE);
  const written = writtenSince(heap, base, tNow * PAGE);
  if (written.count === UNKNOWN) return false;
  const header = imageHeader(delta, baseImage);
  // An image of another size is adopted to this one, and a locked one loses its flag: the full path does both.
  if (readStat(header, "regionBytes", op) !== size || (S.ph_heap_flags(header) & NATIVE_CONSTANTS.PH_LOCKED) !== 0) return false;
  const length = delta.length / PAGE;
  const tD = Math.ceil(readStat(header, "touchedBytes", op) / PAGE);
  const tB = Math.ceil(readStat(baseImage, "touchedBytes", op) / PAGE);
  // Pages below the image's length: the delta's, then the written ones it does not store, from the base.
  const stored = new Set(delta.pages);
  const fromBase: number[] = [];
  const zeroed: number[] = [];
  for (let i = 0; i < written.count; i++) {
    const p = written.pages[i]!;
    if (p < length) {
      if (!stored.has(p)) fromBase.push(p);
    } else if (p >= tD && p < tNow) zeroed.push(p);
  }
  // Pages in [Td, Tb) were below the base's touched mark. Whatever lowered the mark since
  // (a restore) zeroed them, so they are in W; this covers a mark lowered without writes.
  for (let p = tD; p < Math.min(tB, tNow); p++) if (p >= length) zeroed.push(p);
  // The body first, the header's pages last (as a ring load does), so a
  // process killed in between leaves a header that still attaches.
  const body = (p: number) => p >= HEADER_PAGES;
  const baseList = Uint32Array.from(fromBase.filter(body));
  putPages(baseImage, baseList, baseList, baseList.length);
  const deltaPages: number[] = [];
  const deltaSlots: number[] = [];
  delta.pages.forEach((p, i) => {
    if (body(p)) {
      deltaPages.push(p);
      deltaSlots.push(i);
    }
  });
  putPages(delta.data, Uint32Array.from(deltaPages), Uint32Array.from(deltaSlots), deltaPages.length);
  putPages(ZERO_PAGE, Uint32Array.from(zeroed), new Uint32Array(zeroed.length), zeroed.length);
  for (let p = HEADER_PAGES - 1; p >= 0; p--) {
    const i = delta.pages.indexOf(p);
    if (i >= 0) putPages(delta.data, Uint32Array.of(p), Uint32Array.of(i), 1);
    else if (fromBase.includes(p)) putPages(baseImage, Uint32Array.of(p), Uint32Array.of(p), 1);
  }
  return true;
}

/** The image's header pages, from the delta where it stores them, else from the base. */
function imageHeader(delta: Delta, baseImage: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_PAGES * PAGE);
  out.set(baseImage.subarray(0, Math.min(out.length, baseImage.length)));
  for (let i = 0; i < delta.pages.length && delta.pages[i]! < HEADER_PAGES; i++) {
    const p = delta.pages[i]!;
    out.set(delta.data.subarray(i * PAGE, (i + 1) * PAGE), p * PAGE);
  }
  return out;
}
