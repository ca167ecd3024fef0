/**
 * checksum.ts - the heap checksum: one definition for live heaps, snapshot
 * images and replay records, so they compare equal whenever they hold the
 * same heap.
 *
 * The checksum is 64-bit xxHash3 of the used prefix without the header's
 * lock block (PH_LOCK_BLOCK_OFFSET to PH_LOCK_BLOCK_END): the bytes after
 * the block, hashed with the hash of the bytes before it as seed. The lock
 * block is the region's (it names whichever thread holds a shared heap's
 * lock, and restores leave it alone), so two processes that hold the same
 * heap agree on its checksum whoever holds the lock. Both hashes read the
 * bytes in place: no copy.
 */
import { NATIVE_CONSTANTS } from "./ffi/symbols.ts";

const LOCK_FROM = NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET;
const LOCK_TO = NATIVE_CONSTANTS.PH_LOCK_BLOCK_END;

/** Checksum of a heap's used prefix (every used prefix holds the whole header). */
export function heapChecksum(usedPrefix: Uint8Array): bigint {
  const seed = Bun.hash.xxHash3(usedPrefix.subarray(0, LOCK_FROM));
  return Bun.hash.xxHash3(usedPrefix.subarray(LOCK_TO), seed);
}
