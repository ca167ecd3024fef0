/**
 * backend.ts - the C core behind a heap: the native library through bun:ffi
 * (src/ffi/native-backend.ts) or the WebAssembly module (src/wasm/backend.ts),
 * both giving the same functions under the same names.
 *
 * `symbols` takes what bun:ffi's functions take: a `ptr` argument is an
 * address in the backend's memory (a number) or a typed array; the
 * WebAssembly backend copies a typed array that is not over its own memory
 * into its memory for the call and back after it. A heap's handle is an
 * address in its backend's memory, so code given a heap calls that heap's
 * backend; code given only bytes (a snapshot's image) may call any.
 *
 * This module loads without bun:ffi. The native backend's module makes
 * itself the default when it loads (Bun); errors.ts asks the default for
 * the C core's texts.
 */
import type { Pointer } from "bun:ffi";
import type { NativeSymbols } from "./ffi/symbols.ts";

/** Where a region's views are made: `buffer` holds the region at `offset`. */
export interface RegionBuffer {
  readonly buffer: ArrayBuffer;
  readonly offset: number;
}

/**
 * Snapshot images in memory the core maps outside the JavaScript heap (the
 * native library's ph_image_alloc: huge pages, a pool of recycled
 * mappings), each owned by its ArrayBuffer: given back when the buffer is
 * detached or collected.
 */
export interface ImageMemory {
  /** `length` bytes (zeroed with `zero`, else maybe an earlier image's); ENOMEM (named by `op`) when the system has none. */
  alloc(length: number, zero: boolean, op: string): Uint8Array;
  /** Give the memory behind `buffer` back now (detaching it): false when alloc did not make it. */
  release(buffer: ArrayBuffer): boolean;
  /** Bytes held by images not yet given back. */
  live(): number;
  /** Bytes kept for the next images. */
  pooled(): number;
  /** Give the pooled bytes back to the system; returns them. */
  trim(): number;
}

/** One C core, as PrivateHeap and the code it calls use it. */
export interface Backend {
  /** "native": the library through bun:ffi; "wasm": privheap.wasm. */
  readonly kind: "native" | "wasm";
  /** The core's functions, with bun:ffi's argument and result types. */
  readonly symbols: NativeSymbols;
  /**
   * The buffer to view the region [base, base + size) through. The native
   * backend's owns the region (releasing it unmaps); the WebAssembly
   * backend's is its whole memory, replaced when the memory grows.
   */
  regionBuffer(base: number, size: number): RegionBuffer;
  /**
   * Give back the region, whose views were made from `buffer` (null when
   * none remain): the native backend detaches the buffer, which unmaps.
   * Returns false when the region stays mapped.
   */
  releaseRegion(buffer: ArrayBuffer, base: number, size: number): boolean;
  /** Counts the memory's buffers: views made at another generation are detached (always 0 for native). */
  readonly generation: number;
  /** What this backend cannot do, for errors: null when it has files, locks and a written-page tracker. */
  readonly lacks: string | null;
  /**
   * Where large snapshot images live: the native library's image memory,
   * or null for plain ArrayBuffers (the WebAssembly backend keeps images
   * out of its memory, which never shrinks and holds at most 4 GiB).
   */
  readonly images: ImageMemory | null;
  /**
   * Run `fn` with `bytes` where this core's functions read them: the array
   * itself (native), or the address of one copy in the module's memory,
   * given back after `fn` (WebAssembly; none for bytes already in it). For
   * the C readers that take untrusted bytes (checks, page map, walks), so
   * several calls on the same bytes copy them once. `fn` must not keep the
   * address, nor expect its writes through it to reach `bytes`.
   */
  withBytes<T>(bytes: Uint8Array, fn: (at: Pointer | Uint8Array) => T): T;
}

let makeDefault: (() => Backend) | undefined;
let current: Backend | undefined;

/** Make `make` the backend of heaps that name none (the native backend's module does, in Bun). */
export function setDefaultBackend(make: () => Backend): void {
  makeDefault = make;
  current = undefined;
}

/** The default backend, made on first use; null when no backend module was loaded. Throws what making it throws. */
export function defaultBackend(): Backend | null {
  if (current !== undefined) return current;
  if (makeDefault === undefined) return null;
  return (current = makeDefault());
}
