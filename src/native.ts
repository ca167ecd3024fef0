/**
 * native.ts - `privheap/native`, the raw native layer. UNSAFE: a wrong
 * argument here can corrupt any heap or crash the process.
 *
 * It gives the C library's bound functions (every `ph_*` call of
 * csrc/privheap.h that src/ffi/symbols.ts declares) and where the library
 * was loaded from. It skips everything the main entry (`privheap`)
 * guarantees:
 *
 * - No validation: the calls take raw addresses, offsets and page indices
 *   and check only what C checks. `ph_pages_copy` and `ph_heap_put_pages`
 *   copy whole pages at indices nobody compared with any heap's size;
 *   `ph_heap_restore` with `PH_SNAPSHOT_TRUSTED` adopts bytes unchecked.
 *   So "bad input never corrupts" (DESIGN.md, invariant 5) does not hold.
 * - No lifetime: a closed heap's address is unmapped memory, and nothing
 *   stops a call from touching it.
 * - No locking: a `PH_LOCKED` heap shared with other processes is changed
 *   without its lock unless the caller takes it.
 * - No `HeapError`: functions return the C codes (`ph_last_error()` after
 *   a NULL), which `HeapError.fromNative` turns into errors.
 *
 * It is for benchmarks, diagnostics and bindings privheap does not offer.
 * Nothing in the main entry needs it.
 *
 * @example
 * ```ts
 * import { loadNative } from "privheap/native";
 * const lib = loadNative();
 * console.log(lib.source, lib.path, lib.symbols.ph_heap_min_size());
 * ```
 */
export { loadNative } from "./ffi/loader.ts";
export type { NativeLibrary } from "./ffi/loader.ts";
export type { NativeSymbols } from "./ffi/symbols.ts";
