/**
 * symbols.ts - the one FFI declaration of the C core, in the order and groups
 * of csrc/privheap.h. test/unit/ffi/symbols.test.ts parses the header's PH_API
 * prototypes and fails when a name or a type here drifts from it.
 *
 * Types are chosen by measurement on Bun 1.4.4 (bench/js/ffi-types.ts):
 * i32 / u32 / f64 arguments and returns cost a few ns, `ptr` arguments cost
 * the same as f64 when given a number, while usize / u64 arguments and ptr /
 * u64 returns cost several times more (u64 returns allocate a BigInt). So:
 *
 * - hot calls are the `ph_off_*` functions: offsets and sizes cross as f64;
 * - the heap handle crosses as `ptr` (a number; as cheap as an f64 argument);
 * - `size_t` / `uint64_t` returns of cold calls use `u64_fast` (a number when
 *   it fits in 2^53, which every value of a region of at most 4 GiB does);
 * - the seed-compatible section is declared so the table mirrors the header,
 *   but the loader does not bind it (nothing in TypeScript calls it).
 */
import type { FFIFunction, FFIType } from "bun:ffi";

/** "u64_fast": Bun accepts the name at run time; its type declarations only know the enum. */
const u64_fast = "u64_fast" as unknown as FFIType.u64_fast;
/** "i64_fast": the same for signed returns (a count or a negative code). */
const i64_fast = "i64_fast" as unknown as FFIType.i64_fast;

/** Handle API, offsets API, roots, introspection and region helpers. */
export const symbols = {
  // 1. Conventions and error codes
  ph_strerror: { args: ["i32"], returns: "cstring" },
  ph_last_error: { args: [], returns: "i32" },
  ph_last_os_error: { args: [], returns: "i32" },

  // 2. Heap lifecycle
  ph_heap_init: { args: ["ptr", "usize", "u32"], returns: "ptr" },
  ph_heap_attach: { args: ["ptr", "usize"], returns: "ptr" },
  ph_heap_grow: { args: ["ptr", "usize"], returns: "i32" },
  ph_heap_reset: { args: ["ptr"], returns: "i32" },
  ph_heap_min_size: { args: [], returns: u64_fast },
  ph_heap_overhead: { args: ["usize"], returns: u64_fast },
  ph_heap_max_alloc: { args: ["usize"], returns: u64_fast },
  ph_heap_used_bytes: { args: ["ptr"], returns: u64_fast },
  ph_heap_generation: { args: ["ptr"], returns: u64_fast },
  ph_heap_flags: { args: ["ptr"], returns: "u32" },

  // 3. Allocation (pointer API)
  ph_heap_malloc: { args: ["ptr", "usize"], returns: "ptr" },
  ph_heap_calloc: { args: ["ptr", "usize", "usize"], returns: "ptr" },
  ph_heap_realloc: { args: ["ptr", "ptr", "usize"], returns: "ptr" },
  ph_heap_aligned_alloc: { args: ["ptr", "usize", "usize"], returns: "ptr" },
  ph_heap_free: { args: ["ptr", "ptr"], returns: "i32" },
  ph_heap_usable_size: { args: ["ptr", "ptr"], returns: u64_fast },

  // 4. Allocation by offset (the hot path)
  ph_off_malloc: { args: ["ptr", "f64"], returns: "f64" },
  ph_off_calloc: { args: ["ptr", "f64", "f64"], returns: "f64" },
  ph_off_realloc: { args: ["ptr", "f64", "f64"], returns: "f64" },
  ph_off_aligned_alloc: { args: ["ptr", "f64", "f64"], returns: "f64" },
  ph_off_free: { args: ["ptr", "f64"], returns: "i32" },
  ph_off_usable_size: { args: ["ptr", "f64"], returns: "f64" },
  ph_off_used_bytes: { args: ["ptr"], returns: "f64" },

  // 5. Named roots (names are NUL-terminated bytes passed as a Uint8Array)
  ph_heap_set_root: { args: ["ptr", "ptr", "u64"], returns: "i32" },
  ph_heap_get_root: { args: ["ptr", "ptr"], returns: u64_fast },
  ph_off_set_root: { args: ["ptr", "ptr", "f64"], returns: "i32" },
  ph_off_get_root: { args: ["ptr", "ptr"], returns: "f64" },
  ph_heap_root_at: { args: ["ptr", "u32", "ptr"], returns: u64_fast },

  // 6. Introspection
  ph_heap_check: { args: ["ptr", "usize"], returns: "i32" },
  ph_heap_stats: { args: ["ptr", "ptr"], returns: "i32" },
  ph_heap_walk: { args: ["ptr", "function", "ptr"], returns: "i32" },
  ph_off_walk: { args: ["ptr", "f64", "ptr", "i32"], returns: "i32" },
  ph_heap_page_map: { args: ["ptr", "usize", "u32", "ptr", "ptr", "ptr"], returns: i64_fast },
  ph_size_classes: { args: ["ptr", "u32"], returns: "i32" },

  // 7. Region helpers
  ph_region_map_anon: { args: ["usize"], returns: "ptr" },
  ph_region_map_file: { args: ["ptr", "ptr", "u32", "u32"], returns: "ptr" },
  ph_region_flush: { args: ["ptr", "usize"], returns: "i32" },
  ph_region_unmap: { args: ["ptr", "usize"], returns: "i32" },
  ph_heap_file_grow: { args: ["ptr", "usize"], returns: "i32" },

  // 9. Frame scratch (the out-of-line part: FrameArena bumps the header's cursor itself)
  ph_scratch_refill: { args: ["ptr", "usize"], returns: "ptr" },
  ph_scratch_refill_with: { args: ["ptr", "usize", "usize", "usize"], returns: "ptr" },

  // 10. Snapshots (sources cross as typed arrays, which `ptr` accepts)
  ph_snapshot_check: { args: ["ptr", "usize", "usize", "u32"], returns: "i32" },
  ph_heap_restore: { args: ["ptr", "usize", "ptr", "usize", "u32"], returns: "ptr" },
  ph_pages_diff: { args: ["ptr", "ptr", "u32", "ptr", "u32"], returns: "i32" },
  ph_pages_diff_pairs: { args: ["ptr", "ptr", "ptr", "ptr", "u32", "ptr"], returns: "i32" },
  ph_pages_copy: { args: ["ptr", "ptr", "ptr", "ptr", "u32"], returns: "i32" },
  ph_heap_put_pages: { args: ["ptr", "ptr", "ptr", "ptr", "u32"], returns: "i32" },
  ph_image_alloc: { args: ["usize", "u32"], returns: "ptr" },
  ph_image_free: { args: ["ptr", "usize"], returns: "void" },
  ph_image_live_bytes: { args: [], returns: u64_fast },
  ph_image_pooled_bytes: { args: [], returns: u64_fast },
  ph_image_trim: { args: [], returns: u64_fast },

  // 11. Locking (PH_LOCKED heaps)
  ph_heap_lock: { args: ["ptr"], returns: "i32" },
  ph_heap_unlock: { args: ["ptr"], returns: "i32" },
  ph_heap_lock_recoveries: { args: ["ptr", "ptr"], returns: "i32" },
  ph_heap_lock_timeout: { args: ["ptr", "u32"], returns: "i32" },
  ph_heap_lock_recheck: { args: ["ptr"], returns: "i32" },
  ph_off_malloc_locked: { args: ["ptr", "f64"], returns: "f64" },
  ph_off_calloc_locked: { args: ["ptr", "f64", "f64"], returns: "f64" },
  ph_off_realloc_locked: { args: ["ptr", "f64", "f64"], returns: "f64" },
  ph_off_aligned_alloc_locked: { args: ["ptr", "f64", "f64"], returns: "f64" },
  ph_off_free_locked: { args: ["ptr", "f64"], returns: "i32" },
  ph_off_usable_size_locked: { args: ["ptr", "f64"], returns: "f64" },

  // 12. Written pages
  ph_tracker_start: { args: ["ptr", "usize"], returns: "ptr" },
  ph_tracker_kind: { args: ["ptr"], returns: "i32" },
  ph_tracker_take: { args: ["ptr", "u32", "u32", "ptr", "u32", "u32"], returns: "i32" },
  ph_tracker_stop: { args: ["ptr"], returns: "void" },

  // 13. The heap checksum
  ph_checksum: { args: ["ptr", "usize", "ptr"], returns: "i32" },
  ph_checksum_update: { args: ["ptr", "usize", "ptr", "usize", "ptr", "ptr", "u32"], returns: "i32" },

  // 14. Memory given back
  ph_heap_set_purge: { args: ["ptr", "u32"], returns: "i32" },
  ph_heap_purge: { args: ["ptr"], returns: i64_fast },

  // 15. Content hashes (u64 results: a hash needs all 64 bits, as a bigint)
  ph_xxh3_64: { args: ["ptr", "usize"], returns: "u64" },
  ph_xxh3_64_seeded: { args: ["ptr", "usize", "u64"], returns: "u64" },
  ph_xxh3_state_size: { args: [], returns: u64_fast },
  ph_xxh3_reset: { args: ["ptr"], returns: "void" },
  ph_xxh3_reset_seeded: { args: ["ptr", "u64"], returns: "void" },
  ph_xxh3_update: { args: ["ptr", "ptr", "usize"], returns: "i32" },
  ph_xxh3_64_digest: { args: ["ptr"], returns: "u64" },
} as const satisfies Record<string, FFIFunction>;

/**
 * Section 8 of the header, the seed-compatible API over one default heap.
 * Declared for the drift test; not bound by the loader.
 */
export const seedSymbols = {
  ph_config_private_heap: { args: ["ptr", "usize"], returns: "i32" },
  ph_malloc: { args: ["usize"], returns: "ptr" },
  ph_calloc: { args: ["usize", "usize"], returns: "ptr" },
  ph_realloc: { args: ["ptr", "usize"], returns: "ptr" },
  ph_free: { args: ["ptr"], returns: "void" },
  ph_posix_memalign: { args: ["ptr", "usize", "usize"], returns: "i32" },
  ph_malloc_usable_size: { args: ["ptr"], returns: u64_fast },
  ph_malloc_reset: { args: [], returns: "void" },
  ph_default_heap: { args: [], returns: "ptr" },
} as const satisfies Record<string, FFIFunction>;

/** The bound symbols, as `dlopen(path, symbols).symbols` types them. */
export type NativeSymbols = import("bun:ffi").ConvertFns<typeof symbols>;

/** Layout of `ph_stats_t`: 15 uint64 fields, in this order. */
export const STATS_FIELDS = [
  "regionBytes",
  "usedBytes",
  "touchedBytes",
  "metaBytes",
  "liveBytes",
  "liveCount",
  "smallCount",
  "largeCount",
  "smallRunBytes",
  "freeBytes",
  "freeRuns",
  "generation",
  "mallocCount",
  "freeCount",
  "dirtyBytes",
] as const;

/** Constants of csrc/privheap.h that the TypeScript layer relies on (checked by the drift test). */
export const NATIVE_CONSTANTS = {
  PH_ABI_VERSION: 3,
  PH_PAGE_SIZE: 4096,
  PH_SMALL_MAX: 14336,
  PH_ROOT_COUNT: 32,
  PH_ROOT_NAME_MAX: 31,
  PH_ZERO_ON_FREE: 1,
  PH_REGION_ZEROED: 2,
  PH_MAP_CREATE: 1,
  PH_MAP_EXCL: 2,
  PH_MAP_SPARSE: 4,
  PH_SNAPSHOT_TRUSTED: 1,
  PH_IMAGE_ZERO: 1,
  PH_LOCKED: 4,
  PH_PURGE: 8,
  PH_PURGE_NOW: 16,
  PH_ZERO_REENTRY: 32,
  PH_GENERATION_OFFSET: 232,
  PH_FREE_COUNT_OFFSET: 296,
  PH_HEADER_BYTES: 8192,
  PH_SCRATCH_CURSOR: 16,
  PH_SCRATCH_CHUNK: 65536,
  PH_SCRATCH_CHUNK_MAX: 1048576,
  PH_LOCK_BLOCK_OFFSET: 6480,
  PH_LOCK_BLOCK_END: 6504,
  PH_ATTACH_WAIT_MS: 2000,
  PH_TRACK_USERFAULTFD: 1,
  PH_TRACK_WRITE_WATCH: 2,
  PH_TAKE_KEEP: 1,
  PH_PAGEMAP_UNTOUCHED: 0,
  PH_PAGEMAP_TOUCHED: 1,
  PH_PAGEMAP_HEADER: 2,
  PH_PAGEMAP_LEAF: 3,
  PH_PAGEMAP_FREE: 4,
  PH_PAGEMAP_SMALL: 5,
  PH_PAGEMAP_LARGE: 6,
  PH_PAGEMAP_SCRATCH: 7,
  PH_PAGEMAP_RUN_HEAD: 128,
  PH_PAGEMAP_NO_CLASS: 255,
} as const;
