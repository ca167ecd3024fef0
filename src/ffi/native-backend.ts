/**
 * native-backend.ts - the native library (loader.ts) as a Backend: regions
 * are mappings of this process, viewed through an ArrayBuffer that owns
 * them (bun:ffi's toArrayBuffer with ph_region_unmap as its deallocator).
 */
import { toArrayBuffer } from "bun:ffi";
import type { Backend } from "../backend.ts";
import { loadNative } from "./loader.ts";

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
    // The buffer's memory is released when it is detached or collected: Bun then calls ph_region_unmap(base, size).
    regionBuffer: (base, size) => ({ buffer: ownedBuffer(base, 0, size, size, unmap), offset: 0 }),
    releaseRegion: (buffer) => {
      buffer.transfer(0);
      return buffer.detached;
    },
  };
  return made;
}
