/**
 * image-memory.ts - memory for snapshot images: bytes written whole right
 * after they are made (a heap's used prefix copied in, a file read in, a
 * delta rebuilt over its base).
 *
 * New memory costs the system a fault and a clear per 4 KiB page on its
 * first write (and, on a virtual machine that hands freed memory back to
 * its host, the host's faults too): a copy of 64 MiB into a new Uint8Array
 * took 4 to 40 times the copy itself. Images of NATIVE_MIN bytes and more
 * live in memory from ph_image_alloc instead: 2 MiB pages where the system
 * gives them on request, and mappings of collected images kept (bounded)
 * for the next image of about the same size. Smaller images are plain
 * Uint8Arrays.
 *
 * Lifetime: the native memory is owned by its ArrayBuffer, made by
 * `toArrayBuffer(ptr, 0, length, length, ph_image_free)`, so Bun calls
 * `ph_image_free(ptr, length)` (from the collector's thread, maybe) only
 * when that buffer is collected or detached. A view keeps its buffer
 * alive, and detaching empties every view first, so no view can reach the
 * memory once it is given back or reused. The collector does not see
 * this memory as pressure soon enough for the pool to work (see
 * COLLECT_EVERY), so a new image forces a collection once the images held
 * have grown by that much; `ph_image_live_bytes` counts what is held.
 */
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { HeapError } from "../errors.ts";
import { loadNative } from "../ffi/loader.ts";
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";

/**
 * Images from this size up get native memory: a huge page's size, where
 * huge pages start. Below it a plain Uint8Array cost about as much in the
 * benchmark (0.75-0.9 ms per 1 MiB either way) without native calls.
 */
export const NATIVE_MIN = 2 << 20;

/** Bun's types omit the deallocator arguments: (ptr, offset, length, context, deallocator). */
const ownedBuffer = toArrayBuffer as unknown as (p: Pointer, offset: number, length: number, context: number, deallocator: number) => ArrayBuffer;

let freeAddress: number | undefined;

/** The buffers whose memory is native image memory (only these may be detached to give it back). */
const nativeBuffers = new WeakSet<ArrayBuffer>();

/**
 * Images held may grow this much past what the last collection left
 * before the next image forces one (Bun.gc(true)). The collector alone
 * let 16 dropped 4 MiB images pile up without collecting one, and 9 of
 * 64 MiB, so their memory came back too late for reuse and many images
 * paid for new pages (14 ms for 4 MiB, 200 ms for 64 MiB on a virtual
 * machine whose host takes freed memory back at once). A full collection
 * of a small JavaScript heap costs about 3 ms (more for a large one), about
 * a tenth of what copying 256 MiB of images costs.
 */
const COLLECT_EVERY = 256 << 20;
let collectAt = COLLECT_EVERY;

/** Collect garbage when the images held, `held` bytes with the next one, reach the mark; then move the mark. */
function collectWhenDue(held: number): void {
  if (held <= collectAt) return;
  Bun.gc(true); // runs the deallocators of collected images, which fill the pool
  collectAt = Number(loadNative().symbols.ph_image_live_bytes()) + COLLECT_EVERY;
}

/**
 * `length` bytes for an image, to be written at once: zeroed with `zero`,
 * else maybe holding an earlier image's bytes. `ENOMEM` when the system
 * has no room.
 */
export function newImage(length: number, zero: boolean, op: string): Uint8Array {
  if (length < NATIVE_MIN) return plainImage(length, op);
  const S = loadNative().symbols;
  collectWhenDue(Number(S.ph_image_live_bytes()) + length);
  const p = S.ph_image_alloc(length, zero ? NATIVE_CONSTANTS.PH_IMAGE_ZERO : 0);
  if (p === null) throw HeapError.fromNative(S.ph_last_error(), op, `no memory for a ${length}-byte snapshot image`);
  freeAddress ??= (S.ph_image_free as unknown as { ptr: number }).ptr;
  const buffer = ownedBuffer(p as Pointer, 0, length, length, freeAddress);
  nativeBuffers.add(buffer);
  return new Uint8Array(buffer);
}

/**
 * Give an image's memory back now rather than when it is collected: a
 * native image's buffer is detached (every view of it reads as empty from
 * then on, so none can reach the memory), which frees it into the pool for
 * the next image. Other arrays are left to the collector. The caller must
 * hold the only views of the image that are still in use.
 */
export function releaseImage(image: Uint8Array): void {
  const buffer = image.buffer as ArrayBuffer;
  if (!nativeBuffers.has(buffer)) return;
  nativeBuffers.delete(buffer);
  buffer.transfer(0);
}

/** A copy of `bytes` in new image memory. */
export function copyOfImage(bytes: Uint8Array, op: string): Uint8Array {
  const out = newImage(bytes.length, false, op);
  out.set(bytes);
  return out;
}

/** Bytes of native image memory in this process: held by images not yet collected, and kept for reuse. */
export function imageMemory(): { live: number; pooled: number } {
  const S = loadNative().symbols;
  return { live: Number(S.ph_image_live_bytes()), pooled: Number(S.ph_image_pooled_bytes()) };
}

/** Give back the memory kept for reuse; returns its bytes. */
export function trimImageMemory(): number {
  return Number(loadNative().symbols.ph_image_trim());
}

function plainImage(length: number, op: string): Uint8Array {
  try {
    return new Uint8Array(length);
  } catch (e) {
    if (e instanceof RangeError) throw new HeapError("ENOMEM", op, `no memory for a ${length}-byte snapshot image`, { cause: e });
    throw e;
  }
}
