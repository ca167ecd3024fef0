/**
 * native-backend.ts - the native library (loader.ts) as a Backend: regions
 * are mappings of this process, viewed through an ArrayBuffer that owns
 * them (bun:ffi's toArrayBuffer with ph_region_unmap as its deallocator);
 * large snapshot images live in the library's image memory the same way
 * (ph_image_free as the deallocator). The C functions read JavaScript
 * arrays in place, so bytes need no copy.
 */
import { toArrayBuffer, type Pointer } from "bun:ffi";
import type { Backend, ImageMemory } from "../backend.ts";
import { HeapError } from "../errors.ts";
import { loadNative } from "./loader.ts";
import { NATIVE_CONSTANTS, type NativeSymbols } from "./symbols.ts";

/** Bun's types omit the deallocator arguments: (ptr, offset, length, context, deallocator). */
const ownedBuffer = toArrayBuffer as unknown as (p: number, offset: number, length: number, context: number, deallocator: number) => ArrayBuffer;

let made: Backend | undefined;

/** The native backend (loads the library: ENOLIB when it cannot). */
export function nativeBackend(): Backend {
  if (made !== undefined) return made;
  const lib = loadNative();
  const unmap = lib.addresses.ph_region_unmap;
  made = {
    kind: "native",
    symbols: lib.symbols,
    generation: 0,
    lacks: null,
    images: nativeImages(lib.symbols),
    // The buffer's memory is released when it is detached or collected: Bun then calls ph_region_unmap(base, size).
    regionBuffer: (base, size) => ({ buffer: ownedBuffer(base, 0, size, size, unmap), offset: 0 }),
    releaseRegion: (buffer) => {
      buffer.transfer(0);
      return buffer.detached;
    },
    withBytes: (bytes, fn) => fn(bytes),
  };
  return made;
}

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

/**
 * The library's image memory: each image's ArrayBuffer is made by
 * `toArrayBuffer(ptr, 0, length, length, ph_image_free)`, so Bun calls
 * `ph_image_free(ptr, length)` (from the collector's thread, maybe) only
 * when that buffer is collected or detached; a view keeps its buffer
 * alive, and detaching empties every view first, so no view can reach the
 * memory once it is given back or reused.
 */
function nativeImages(S: NativeSymbols): ImageMemory {
  const free = (S.ph_image_free as unknown as { ptr: number }).ptr;
  /** The buffers whose memory is image memory (only these may be detached to give it back). */
  const owned = new WeakSet<ArrayBuffer>();
  let collectAt = COLLECT_EVERY;
  return {
    alloc(length, zero, op) {
      // Collect when the images held, with this one, pass the mark: the deallocators of collected images fill the pool.
      if (Number(S.ph_image_live_bytes()) + length > collectAt) {
        Bun.gc(true);
        collectAt = Number(S.ph_image_live_bytes()) + COLLECT_EVERY;
      }
      const p = S.ph_image_alloc(length, zero ? NATIVE_CONSTANTS.PH_IMAGE_ZERO : 0);
      if (p === null) throw HeapError.fromNative(S.ph_last_error(), op, `no memory for a ${length}-byte snapshot image`);
      const buffer = ownedBuffer(p as Pointer as unknown as number, 0, length, length, free);
      owned.add(buffer);
      return new Uint8Array(buffer);
    },
    release(buffer) {
      if (!owned.has(buffer)) return false;
      owned.delete(buffer);
      buffer.transfer(0);
      return true;
    },
    live: () => Number(S.ph_image_live_bytes()),
    pooled: () => Number(S.ph_image_pooled_bytes()),
    trim: () => Number(S.ph_image_trim()),
  };
}
