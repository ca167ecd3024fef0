/**
 * core.ts - the C core compiled to WebAssembly (privheap.wasm), instantiated
 * and bound under the names of the native symbols.
 *
 * The module is built by `zig build wasm` from the same csrc/*.c as the
 * native library (csrc/prim_wasm.c is its platform: memory is the module's
 * linear memory; there are no files, locks between processes, threads or
 * written-page tracker). Regions live inside that memory: a heap's offsets,
 * bytes, stats and checksums are the native library's for the same calls
 * (test/system/wasm/parity.test.ts holds it to that).
 *
 * Memory growth. Linear memory grows when a region or an image is mapped
 * (ph_region_map_anon, ph_image_alloc, the tracker's bookkeeping), never
 * inside an allocation call: a heap's allocations stay in its region. A
 * grown memory has a new ArrayBuffer and the old one is detached, so views
 * are made over `buffer` and remade when it is no longer the memory's
 * (`generation` counts the buffers seen).
 *
 * PrivateHeap over either backend (native through bun:ffi, or this): the
 * design below, which ../backend.ts and ./backend.ts implement for
 * PrivateHeap.create({ backend: "wasm" }) and FrameArena.create({ backend:
 * "wasm" }). Rings and replays still run on the native backend only.
 *
 * - What PrivateHeap calls, by the same names: the ph_off_* allocation calls
 *   (identical signatures: a heap handle, f64 offsets and sizes, f64 or i32
 *   results; `symbols` here passes the exports through unwrapped, so the hot
 *   path is one WebAssembly call), ph_heap_init / reset / flags / min_size /
 *   check / restore, ph_region_map_anon / unmap, ph_image_alloc / free,
 *   ph_heap_stats and ph_checksum. `symbols` normalizes what differs in
 *   type: a NULL pointer is null, as bun:ffi gives it, and a uint64_t is a
 *   number (bun:ffi's u64_fast) rather than a bigint.
 * - Out-parameters and byte sources: the native calls take JS typed arrays
 *   as `ptr`; here they must be addresses inside the module's memory. A
 *   backend therefore owns its scratch space: `scratch` (one page here) for
 *   outputs such as ph_stats_t and a checksum, and `WasmHeap.restore`'s
 *   copy of an image into ph_image_alloc memory for inputs.
 * - Views: the native heap makes one ArrayBuffer over its mapping
 *   (bun:ffi's toArrayBuffer with ph_region_unmap as its finalizer); over
 *   this backend the views are over `memory.buffer` at the region's base
 *   and are remade when `generation` moves (only after a call that maps).
 *   PrivateHeap's `u8`, `view` and the typed views would become getters
 *   that compare the generation, or be refreshed after its mapping calls.
 * - Isolation, so `import "privheap"` loads where bun:ffi does not exist:
 *   only src/ffi/loader.ts and heap.ts's toArrayBuffer import bun:ffi, but
 *   errors.ts imports the loader (for ph_strerror), and heap.ts, introspect.ts
 *   and the snapshot code call loadNative() directly. Each of those would
 *   call the active backend instead (errors.ts asking it for the text of a
 *   code), and the native backend would be the only module importing
 *   bun:ffi, reached through the package's "bun" export condition (or a
 *   dynamic import in Bun), with this backend the "default" condition's.
 *   src/ffi/symbols.ts imports bun:ffi for types only and loads anywhere.
 * - What the WebAssembly backend lacks: heap files and their locks
 *   (ph_region_map_file fails with PH_EIO, OS error 52, ENOSYS), PH_LOCKED
 *   across threads (one thread: the lock is always free), and the tracker
 *   (ph_tracker_start fails: rings and checksums compare bytes, the
 *   "compare" tracking mode).
 */
import { EXPORTED_FUNCTIONS, type WasmExports } from "./exports.ts";

/** The ph_* functions over WebAssembly, with the native symbols' names and result types. */
export interface WasmSymbols {
  ph_strerror(code: number): string;
  ph_last_error(): number;
  ph_heap_init(base: number, size: number, flags: number): number | null;
  ph_heap_reset(h: number): number;
  ph_heap_min_size(): number;
  ph_heap_flags(h: number): number;
  ph_heap_generation(h: number): number;
  ph_off_malloc(h: number, size: number): number;
  ph_off_calloc(h: number, n: number, size: number): number;
  ph_off_realloc(h: number, off: number, size: number): number;
  ph_off_aligned_alloc(h: number, align: number, size: number): number;
  ph_off_free(h: number, off: number): number;
  ph_off_usable_size(h: number, off: number): number;
  ph_off_used_bytes(h: number): number;
  ph_heap_check(base: number, len: number): number;
  ph_heap_stats(h: number, out: number): number;
  ph_region_map_anon(size: number): number | null;
  ph_region_unmap(base: number, size: number): number;
  ph_heap_restore(dst: number, dstSize: number, src: number, len: number, flags: number): number | null;
  ph_image_alloc(size: number, flags: number): number | null;
  ph_image_free(image: number, size: number): void;
  ph_checksum(bytes: number, used: number, out: number): number;
}

/** An address result: null for NULL, else unsigned (i32 results above 2 GiB arrive negative). */
function address(p: number): number | null {
  return p === 0 ? null : p >>> 0;
}

/** Bytes of the scratch span: outputs of the calls (a ph_stats_t, a checksum). */
const SCRATCH_BYTES = 4096;

/** One instance of privheap.wasm: its symbols, its memory and views over it. */
export class WasmCore {
  /** The module's functions under the native names (hot calls unwrapped). */
  readonly symbols: WasmSymbols;
  /** The raw exports. */
  readonly exports: WasmExports;
  /** Address of SCRATCH_BYTES bytes of the module's memory for out-parameters. */
  readonly scratch: number;
  #buffer: ArrayBuffer;
  #u8: Uint8Array;
  #view: DataView;
  #generation = 0;

  /** Instantiate a compiled privheap.wasm (see source.ts for compiling one). */
  constructor(module: WebAssembly.Module) {
    const instance = new WebAssembly.Instance(module, {});
    const x = instance.exports as unknown as WasmExports;
    if (!(x.memory instanceof WebAssembly.Memory)) throw new TypeError("privheap.wasm: the module exports no memory");
    for (const name of EXPORTED_FUNCTIONS)
      if (typeof x[name] !== "function") throw new TypeError(`privheap.wasm: the module does not export ${name}`);
    this.exports = x;
    this.#buffer = x.memory.buffer as ArrayBuffer;
    this.#u8 = new Uint8Array(this.#buffer);
    this.#view = new DataView(this.#buffer);
    this.symbols = {
      ph_strerror: (code) => this.cString(x.ph_strerror(code) >>> 0),
      ph_last_error: x.ph_last_error,
      ph_heap_init: (base, size, flags) => address(x.ph_heap_init(base, size, flags)),
      ph_heap_reset: x.ph_heap_reset,
      ph_heap_min_size: () => x.ph_heap_min_size() >>> 0,
      ph_heap_flags: x.ph_heap_flags,
      ph_heap_generation: (h) => Number(x.ph_heap_generation(h)),
      ph_off_malloc: x.ph_off_malloc,
      ph_off_calloc: x.ph_off_calloc,
      ph_off_realloc: x.ph_off_realloc,
      ph_off_aligned_alloc: x.ph_off_aligned_alloc,
      ph_off_free: x.ph_off_free,
      ph_off_usable_size: x.ph_off_usable_size,
      ph_off_used_bytes: x.ph_off_used_bytes,
      ph_heap_check: x.ph_heap_check,
      ph_heap_stats: x.ph_heap_stats,
      ph_region_map_anon: (size) => address(x.ph_region_map_anon(size)),
      ph_region_unmap: x.ph_region_unmap,
      ph_heap_restore: (dst, dstSize, src, len, flags) => address(x.ph_heap_restore(dst, dstSize, src, len, flags)),
      ph_image_alloc: (size, flags) => address(x.ph_image_alloc(size, flags)),
      ph_image_free: x.ph_image_free,
      ph_checksum: x.ph_checksum,
    };
    const scratch = this.symbols.ph_region_map_anon(SCRATCH_BYTES);
    if (scratch === null) throw new RangeError("privheap.wasm: no memory for the scratch page");
    this.scratch = scratch;
  }

  /** How many buffers the memory has had: views made at another generation are detached. */
  get generation(): number {
    this.#refresh();
    return this.#generation;
  }

  /** The whole memory's current buffer. */
  get buffer(): ArrayBuffer {
    this.#refresh();
    return this.#buffer;
  }

  /** The whole memory as bytes (remade after growth). */
  get u8(): Uint8Array {
    this.#refresh();
    return this.#u8;
  }

  /** The whole memory as a DataView (remade after growth). */
  get view(): DataView {
    this.#refresh();
    return this.#view;
  }

  /** The NUL-terminated bytes at `at`, as text. */
  cString(at: number): string {
    const u8 = this.u8;
    let end = at;
    while (end < u8.length && u8[end] !== 0) end++;
    return new TextDecoder().decode(u8.subarray(at, end));
  }

  #refresh(): void {
    const buffer = this.exports.memory.buffer as ArrayBuffer;
    if (buffer === this.#buffer) return;
    this.#buffer = buffer;
    this.#u8 = new Uint8Array(buffer);
    this.#view = new DataView(buffer);
    this.#generation++;
  }
}
