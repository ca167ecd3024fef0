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
import type { NativeSymbols } from "./ffi/symbols.ts";

/** Where a region's views are made: `buffer` holds the region at `offset`. */
export interface RegionBuffer {
  readonly buffer: ArrayBuffer;
  readonly offset: number;
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
