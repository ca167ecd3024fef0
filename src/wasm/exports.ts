/**
 * exports.ts - the functions privheap.wasm exports, as WebAssembly types
 * them: every pointer and size_t is an i32 (a JavaScript number, which the
 * module reads as unsigned; a result above 2 GiB comes back negative, so
 * core.ts turns results into addresses with `>>> 0`), offsets and sizes of
 * the ph_off_* calls are f64 as in the native library, and uint64_t results
 * are i64 (a bigint).
 *
 * The module exports every PH_API function of csrc/privheap.h; these are
 * the ones the binding calls.
 */

/** The raw exports of privheap.wasm the binding uses. */
export interface WasmExports {
  readonly memory: WebAssembly.Memory;

  ph_strerror(code: number): number;
  ph_last_error(): number;

  ph_heap_init(base: number, size: number, flags: number): number;
  ph_heap_reset(h: number): number;
  ph_heap_min_size(): number;
  ph_heap_flags(h: number): number;
  ph_heap_generation(h: number): bigint;

  ph_off_malloc(h: number, size: number): number;
  ph_off_calloc(h: number, n: number, size: number): number;
  ph_off_realloc(h: number, off: number, size: number): number;
  ph_off_aligned_alloc(h: number, align: number, size: number): number;
  ph_off_free(h: number, off: number): number;
  ph_off_usable_size(h: number, off: number): number;
  ph_off_used_bytes(h: number): number;

  ph_heap_check(base: number, len: number): number;
  ph_heap_stats(h: number, out: number): number;

  ph_region_map_anon(size: number): number;
  ph_region_unmap(base: number, size: number): number;

  ph_heap_restore(dst: number, dstSize: number, src: number, len: number, flags: number): number;
  ph_image_alloc(size: number, flags: number): number;
  ph_image_free(image: number, size: number): void;

  ph_checksum(bytes: number, used: number, out: number): number;

  ph_xxh3_64(p: number, n: number): bigint;
  /** The seed is an i64: any bigint, taken modulo 2^64. */
  ph_xxh3_64_seeded(p: number, n: number, seed: bigint): bigint;
  ph_xxh3_state_size(): number;
  ph_xxh3_reset(state: number): void;
  ph_xxh3_reset_seeded(state: number, seed: bigint): void;
  ph_xxh3_update(state: number, p: number, n: number): number;
  ph_xxh3_64_digest(state: number): bigint;
}

/** Names of WasmExports' functions: instantiation checks the module has each. */
export const EXPORTED_FUNCTIONS = [
  "ph_strerror",
  "ph_last_error",
  "ph_heap_init",
  "ph_heap_reset",
  "ph_heap_min_size",
  "ph_heap_flags",
  "ph_heap_generation",
  "ph_off_malloc",
  "ph_off_calloc",
  "ph_off_realloc",
  "ph_off_aligned_alloc",
  "ph_off_free",
  "ph_off_usable_size",
  "ph_off_used_bytes",
  "ph_heap_check",
  "ph_heap_stats",
  "ph_region_map_anon",
  "ph_region_unmap",
  "ph_heap_restore",
  "ph_image_alloc",
  "ph_image_free",
  "ph_checksum",
  "ph_xxh3_64",
  "ph_xxh3_64_seeded",
  "ph_xxh3_state_size",
  "ph_xxh3_reset",
  "ph_xxh3_reset_seeded",
  "ph_xxh3_update",
  "ph_xxh3_64_digest",
] as const satisfies readonly Exclude<keyof WasmExports, "memory">[];
