/**
 * image-memory.ts - memory for snapshot images: bytes written whole right
 * after they are made (a heap's used prefix copied in, a file read in, a
 * delta rebuilt over its base).
 *
 * New memory costs the system a fault and a clear per 4 KiB page on its
 * first write (and, on a virtual machine that hands freed memory back to
 * its host, the host's faults too): a copy of 64 MiB into a new Uint8Array
 * took 4 to 40 times the copy itself. So images of NATIVE_MIN bytes and
 * more live in the default backend's image memory when it has one (the
 * native library's: 2 MiB pages where the system gives them, mappings of
 * collected images kept, bounded, for the next image of about the same
 * size; see ImageMemory in ../backend.ts and src/ffi/native-backend.ts).
 * Smaller images, and every image where the backend has none (the
 * WebAssembly one), are plain Uint8Arrays.
 */
import type { ImageMemory } from "../backend.ts";
import { bytesBackendOrNull } from "../bytes-backend.ts";
import { HeapError } from "../errors.ts";

/**
 * Images from this size up get native memory: a huge page's size, where
 * huge pages start. Below it a plain Uint8Array cost about as much in the
 * benchmark (0.75-0.9 ms per 1 MiB either way) without native calls.
 */
export const NATIVE_MIN = 2 << 20;

/** The default backend's image memory, or null (none, or no backend loads). */
function imageMemoryOf(): ImageMemory | null {
  return bytesBackendOrNull()?.images ?? null; // no core loads: plain arrays need none
}

/**
 * `length` bytes for an image, to be written at once: zeroed with `zero`,
 * else maybe holding an earlier image's bytes. `ENOMEM` when the system
 * has no room.
 */
export function newImage(length: number, zero: boolean, op: string): Uint8Array {
  const images = length >= NATIVE_MIN ? imageMemoryOf() : null;
  if (images !== null) return images.alloc(length, zero, op);
  try {
    return new Uint8Array(length);
  } catch (e) {
    if (e instanceof RangeError) throw new HeapError("ENOMEM", op, `no memory for a ${length}-byte snapshot image`, { cause: e });
    throw e;
  }
}

/**
 * Give an image's memory back now rather than when it is collected: a
 * native image's buffer is detached (every view of it reads as empty from
 * then on, so none can reach the memory), which frees it into the pool for
 * the next image. Other arrays are left to the collector. The caller must
 * hold the only views of the image that are still in use.
 */
export function releaseImage(image: Uint8Array): void {
  imageMemoryOf()?.release(image.buffer as ArrayBuffer);
}

/** A copy of `bytes` in new image memory. */
export function copyOfImage(bytes: Uint8Array, op: string): Uint8Array {
  const out = newImage(bytes.length, false, op);
  out.set(bytes);
  return out;
}

/** Bytes of native image memory in this process: held by images not yet collected, and kept for reuse (0 without image memory). */
export function imageMemory(): { live: number; pooled: number } {
  const images = imageMemoryOf();
  return { live: images?.live() ?? 0, pooled: images?.pooled() ?? 0 };
}

/** Give back the memory kept for reuse; returns its bytes. */
export function trimImageMemory(): number {
  return imageMemoryOf()?.trim() ?? 0;
}
