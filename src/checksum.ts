/**
 * checksum.ts - the heap checksum: one definition for live heaps, snapshot
 * images and replay records, so they compare equal whenever they hold the
 * same heap.
 *
 * The checksum is the native ph_checksum (docs/checksum.md): the sum of a
 * keyed 64-bit hash of each 4096-byte page of the used prefix, mixed with
 * the prefix's length. The header's lock block reads as zero: it is the
 * region's (it names whichever thread holds a shared heap's lock, and
 * restores leave it alone), so two processes that hold the same heap agree
 * on its checksum whoever holds the lock. Because it is a sum of page
 * terms, `PageHashes` keeps it up to date by hashing only the pages that
 * changed. The native calls read the bytes in place: no copy. Bytes are
 * hashed by the default backend (bytesBackend), a live region by its own
 * backend's functions (`S`).
 */
import type { Pointer } from "bun:ffi";
import { bytesBackend } from "./bytes-backend.ts";
import { HeapError } from "./errors.ts";
import { NATIVE_CONSTANTS, type NativeSymbols } from "./ffi/symbols.ts";

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;
/** ph_checksum's result (one call at a time: JavaScript is single-threaded here). */
const result = new BigUint64Array(1);

/** Checksum of a heap's used prefix (whole pages: every used prefix is). */
export function heapChecksum(usedPrefix: Uint8Array, op = "checksum"): bigint {
  const b = bytesBackend(op);
  const rc = b.withBytes(usedPrefix, (at) => b.symbols.ph_checksum(at as Pointer, usedPrefix.length, result));
  if (rc < 0) throw HeapError.fromNative(rc, op, `${usedPrefix.length} bytes is not a used prefix of whole ${PAGE}-byte pages`);
  return result[0]!;
}

/**
 * The checksum of a region's used prefix, kept up to date from the pages
 * that changed: a cached hash per page (8 bytes a page, grown with the
 * prefix) and their running sum (ph_checksum_update). The result always
 * equals `heapChecksum` of the same bytes, provided every page written
 * since the last update is listed (or `pages` is null).
 *
 * @example
 * ```ts
 * import { PageHashes, heapChecksum } from "./checksum.ts";
 * const image = new Uint8Array(3 * 4096);
 * const sums = new PageHashes();
 * sums.update(image, image.length, null, 0); // hashes every page
 * image[4096] = 1; // page 1 changes
 * const sum = sums.update(image, image.length, Uint32Array.of(1), 1);
 * console.log(sum === heapChecksum(image)); // true
 * ```
 */
export class PageHashes {
  /** hashes[i]: the hash of page i, for the pages state[1] counts. */
  #hashes = new BigUint64Array(0);
  /** The running sum, the pages it covers, the last checksum. */
  readonly #state = new BigUint64Array(3);
  /** Listed pages inside the prefix, when some were not. */
  #scratch = new Uint32Array(0);

  /**
   * The checksum of the `used` bytes at `region` (a live region's base, or
   * bytes), after hashing again the first `n` pages of `pages` (indices,
   * in any order; those at or above the prefix are ignored) and every page the prefix
   * gained; `pages` null: every page may have changed, all are hashed.
   * `EINVAL` for a `used` that is not whole pages, or `n` above the list's
   * length (nothing changes then).
   */
  update(region: Pointer | Uint8Array, used: number, pages: Uint32Array | null, n: number, op = "checksum", S: NativeSymbols = bytesBackend(op).symbols): bigint {
    const count = Math.ceil(used / PAGE);
    if (count > this.#hashes.length) this.#grow(count);
    if (pages === null) this.#state.fill(0n);
    else {
      if (n > pages.length) throw new HeapError("EINVAL", op, `${n} pages listed in a list of ${pages.length}`);
      for (let k = 0; k < n; k++)
        if (pages[k]! >= count) {
          [pages, n] = this.#within(pages, n, count); // past the prefix, they do not count; the native call wants them below its capacity
          break;
        }
    }
    const rc = S.ph_checksum_update(region as Pointer, used, this.#hashes, this.#hashes.length, this.#state, pages, pages === null ? 0 : n);
    if (rc < 0) throw HeapError.fromNative(rc, op, `a used prefix of ${used} bytes (whole ${PAGE}-byte pages are expected)`);
    return this.#state[2]!;
  }

  /** Forget every cached hash: the next update hashes every page. */
  clear(): void {
    this.#state.fill(0n);
  }

  /** The first n of `pages` that are below `count`, in a scratch list. */
  #within(pages: Uint32Array, n: number, count: number): [Uint32Array, number] {
    if (this.#scratch.length < n) this.#scratch = new Uint32Array(n);
    let kept = 0;
    for (let k = 0; k < n; k++) if (pages[k]! < count) this.#scratch[kept++] = pages[k]!;
    return [this.#scratch, kept];
  }

  /** Room for at least `pages` hashes, keeping those cached. */
  #grow(pages: number): void {
    const bigger = new BigUint64Array(Math.max(pages, 2 * this.#hashes.length));
    bigger.set(this.#hashes);
    this.#hashes = bigger;
  }
}
