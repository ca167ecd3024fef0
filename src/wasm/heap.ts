/**
 * heap.ts - WasmHeap: one heap in a region of privheap.wasm's memory, used
 * by offset as PrivateHeap is: the same C calls on the same region layout,
 * so the same calls give the same offsets, bytes, stats and checksum as a
 * native PrivateHeap of the same size and flags.
 *
 * Failures throw a WasmHeapError carrying the C code (a negative PH_E*),
 * the code HeapError.fromNative maps to its name; this file imports nothing
 * that needs bun:ffi, so it loads in Node and browsers.
 */
import { NATIVE_CONSTANTS, STATS_FIELDS } from "../ffi/symbols.ts";
import type { HeapStats } from "../introspect.ts";
import type { WasmCore, WasmSymbols } from "./core.ts";

/** The flags PrivateHeap.create gives a heap by default: a zeroed region, decay purging, zeroed re-entry. */
export const DEFAULT_HEAP_FLAGS = NATIVE_CONSTANTS.PH_REGION_ZEROED | NATIVE_CONSTANTS.PH_PURGE | NATIVE_CONSTANTS.PH_ZERO_REENTRY;

/** A failed call: `nativeCode` is the C core's negative PH_E* code. */
export class WasmHeapError extends Error {
  constructor(
    readonly nativeCode: number,
    op: string,
    text: string,
  ) {
    super(`${op}: ${text} (${nativeCode})`);
    this.name = "WasmHeapError";
  }
}

/** A heap in a region of the module's memory. */
export class WasmHeap {
  /** The module instance the region belongs to. */
  readonly core: WasmCore;
  /** The region's address in the module's memory (the heap handle). */
  readonly address: number;
  /** The region's size in bytes. */
  readonly size: number;
  #S: WasmSymbols;
  #h: number;
  #generation = -1;
  #u8!: Uint8Array;
  #view!: DataView;

  private constructor(core: WasmCore, address: number, size: number) {
    this.core = core;
    this.address = address;
    this.size = size;
    this.#S = core.symbols;
    this.#h = address;
  }

  /** A new heap of `size` bytes (whole pages) in `core`'s memory, with PrivateHeap.create's flags unless `flags` says otherwise. */
  static create(core: WasmCore, size: number, flags: number = DEFAULT_HEAP_FLAGS): WasmHeap {
    const S = core.symbols;
    if (!Number.isSafeInteger(size) || size <= 0 || size % NATIVE_CONSTANTS.PH_PAGE_SIZE !== 0 || size >= 2 ** 32)
      throw new WasmHeapError(PH_EINVAL, "WasmHeap.create", `size must be whole pages below 4 GiB, got ${size}`);
    const base = S.ph_region_map_anon(size);
    if (base === null) throw failure(S, S.ph_last_error(), "WasmHeap.create", `mapping ${size} bytes`);
    if (S.ph_heap_init(base, size, flags) === null) {
      const rc = S.ph_last_error();
      S.ph_region_unmap(base, size);
      throw failure(S, rc, "WasmHeap.create", `formatting ${size} bytes`);
    }
    return new WasmHeap(core, base, size);
  }

  /** The region's bytes (a new view after the memory grew). */
  get u8(): Uint8Array {
    if (this.#generation !== this.core.generation) this.#remake();
    return this.#u8;
  }

  /** The region as a DataView (a new view after the memory grew). */
  get view(): DataView {
    if (this.#generation !== this.core.generation) this.#remake();
    return this.#view;
  }

  malloc(size: number): number {
    const off = this.#S.ph_off_malloc(this.#live("WasmHeap.malloc"), size);
    if (off > 0) return off;
    throw this.#error(off, "WasmHeap.malloc", `${size} bytes`);
  }

  calloc(n: number, size: number): number {
    const off = this.#S.ph_off_calloc(this.#live("WasmHeap.calloc"), n, size);
    if (off > 0) return off;
    throw this.#error(off, "WasmHeap.calloc", `${n} x ${size} bytes`);
  }

  realloc(off: number, size: number): number {
    const r = this.#S.ph_off_realloc(this.#live("WasmHeap.realloc"), off, size);
    if (r > 0) return r;
    throw this.#error(r, "WasmHeap.realloc", `offset ${off} to ${size} bytes`);
  }

  free(off: number): void {
    const rc = this.#S.ph_off_free(this.#live("WasmHeap.free"), off);
    if (rc !== 0) throw this.#error(rc, "WasmHeap.free", `offset ${off}`);
  }

  usableSize(off: number): number {
    const n = this.#S.ph_off_usable_size(this.#live("WasmHeap.usableSize"), off);
    if (n > 0) return n;
    throw this.#error(n, "WasmHeap.usableSize", `offset ${off}`);
  }

  /** Bytes of the used prefix (what a snapshot copies). */
  get usedBytes(): number {
    return this.#S.ph_off_used_bytes(this.#live("WasmHeap.usedBytes"));
  }

  /** Discard every allocation and root in O(1), as PrivateHeap.reset. */
  reset(): void {
    const rc = this.#S.ph_heap_reset(this.#live("WasmHeap.reset"));
    if (rc !== 0) throw this.#error(rc, "WasmHeap.reset", "");
  }

  /** The header's counters, in PrivateHeap.stats' shape. */
  stats(): HeapStats {
    const rc = this.#S.ph_heap_stats(this.#live("WasmHeap.stats"), this.core.scratch);
    if (rc !== 0) throw this.#error(rc, "WasmHeap.stats", "");
    const view = this.core.view;
    const out = {} as Record<(typeof STATS_FIELDS)[number], number>;
    for (let i = 0; i < STATS_FIELDS.length; i++) out[STATS_FIELDS[i]!] = Number(view.getBigUint64(this.core.scratch + 8 * i, true));
    return out;
  }

  /** ph_checksum of the used prefix: PrivateHeap.checksum's value for the same bytes. */
  checksum(): bigint {
    const used = this.usedBytes;
    const rc = this.#S.ph_checksum(this.address, used, this.core.scratch);
    if (rc !== 0) throw this.#error(rc, "WasmHeap.checksum", "");
    return this.core.view.getBigUint64(this.core.scratch, true);
  }

  /** Broken invariants of the region (ph_heap_check): 0 when consistent. */
  check(): number {
    const n = this.#S.ph_heap_check(this.#live("WasmHeap.check"), this.size);
    if (n < 0) throw this.#error(n, "WasmHeap.check", "");
    return n;
  }

  /** A copy of the used prefix: a snapshot's image, as Snapshot.bytes gives it. */
  image(): Uint8Array {
    return this.u8.slice(0, this.usedBytes);
  }

  /** Replace the heap with a snapshot's image (Snapshot.bytes of any backend), checked in full first. */
  restore(image: Uint8Array): void {
    const h = this.#live("WasmHeap.restore");
    const S = this.#S;
    if (image.length === 0) throw new WasmHeapError(PH_EINVAL, "WasmHeap.restore", "an empty image");
    const src = S.ph_image_alloc(image.length, 0); // may grow the memory: views are taken after it
    if (src === null) throw this.#error(S.ph_last_error(), "WasmHeap.restore", `${image.length} bytes for the image`);
    try {
      this.core.u8.set(image, src);
      if (S.ph_heap_restore(h, this.size, src, image.length, 0) === null) throw this.#error(S.ph_last_error(), "WasmHeap.restore", `an image of ${image.length} bytes`);
    } finally {
      S.ph_image_free(src, image.length);
    }
  }

  /** Give the region back to the module's memory; the heap is unusable after. */
  close(): void {
    if (this.#h === 0) return;
    this.#h = 0;
    this.#S.ph_region_unmap(this.address, this.size);
  }

  #live(op: string): number {
    if (this.#h === 0) throw new WasmHeapError(PH_EINVAL, op, "the heap is closed");
    return this.#h;
  }

  #error(r: number, op: string, detail: string): WasmHeapError {
    return failure(this.#S, r < 0 ? r : this.#S.ph_last_error(), op, detail);
  }

  #remake(): void {
    const buffer = this.core.buffer;
    this.#u8 = new Uint8Array(buffer, this.address, this.size);
    this.#view = new DataView(buffer, this.address, this.size);
    this.#generation = this.core.generation;
  }
}

/** csrc/privheap.h's PH_EINVAL. */
const PH_EINVAL = -2;

function failure(S: WasmSymbols, rc: number, op: string, detail: string): WasmHeapError {
  const code = rc < 0 ? rc : -1;
  return new WasmHeapError(code, op, detail ? `${S.ph_strerror(code)}: ${detail}` : S.ph_strerror(code));
}
