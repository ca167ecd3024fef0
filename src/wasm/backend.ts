/**
 * backend.ts - a WasmCore as a Backend (../backend.ts): every function of
 * src/ffi/symbols.ts under its name, taking and giving what bun:ffi's do.
 *
 * - The allocation calls (ph_off_*) are the exports themselves: their
 *   arguments and results are numbers on both backends.
 * - A `ptr` argument that is a number is an address in the module's
 *   memory. A typed array over that memory passes as its address; any other
 *   is copied into the memory for the call (the scratch page, or image
 *   memory for larger ones) and copied back after it, since the call may
 *   write it. NULL arguments are null or 0.
 * - Results: a NULL pointer is null, addresses and unsigned sizes are
 *   unsigned, 64-bit results are numbers (bun:ffi's u64_fast), a C string
 *   is text.
 *
 * Memory growth. Only calls that map (regions, images, the copies above)
 * grow the memory, and they all pass through the wrappers here, which look
 * at the memory's buffer after each call and remake the views of every
 * live heap watching when it changed. The allocation calls never grow it.
 */
import type { Pointer } from "bun:ffi";
import type { Backend, RegionBuffer } from "../backend.ts";
import { HeapError } from "../errors.ts";
import { type NativeSymbols, symbols as DECLARED } from "../ffi/symbols.ts";
import type { WasmCore } from "./core.ts";

/** The allocation calls: passed through (same arguments and results on both backends). */
const DIRECT = new Set([
  "ph_off_malloc",
  "ph_off_calloc",
  "ph_off_realloc",
  "ph_off_aligned_alloc",
  "ph_off_free",
  "ph_off_usable_size",
  "ph_off_used_bytes",
  "ph_off_malloc_locked",
  "ph_off_calloc_locked",
  "ph_off_realloc_locked",
  "ph_off_aligned_alloc_locked",
  "ph_off_free_locked",
  "ph_off_usable_size_locked",
]);

/** Argument kinds that are 64-bit integers in C on wasm32 (BigInt across the boundary). */
const WIDE_ARGS = new Set(["u64", "i64"]);

type Raw = (...args: unknown[]) => unknown;

/** A typed array copied into the module's memory for one call. */
interface Staged {
  readonly array: ArrayBufferView;
  readonly at: number;
  /** Bytes of image memory to free after the call (0: in the scratch page). */
  readonly owned: number;
}

/** The C core compiled to WebAssembly, as PrivateHeap's backend. */
export class WasmBackend implements Backend {
  readonly kind = "wasm";
  readonly lacks = "the WebAssembly backend has no files, no locks between processes or threads and no written-page tracker";
  readonly symbols: NativeSymbols;
  readonly core: WasmCore;
  /** Images are plain ArrayBuffers: this memory never shrinks, so images kept in it would hold its high-water mark. */
  readonly images = null;
  #buffer: ArrayBuffer;
  /** Views to remake after growth: each owner with what remakes its views, in the order they came. */
  readonly #watchers = new Set<{ owner: WeakRef<object>; remake: (owner: object) => void }>();
  /** Watchers counted at the last sweep of collected owners. */
  #swept = 0;

  constructor(core: WasmCore) {
    this.core = core;
    this.#buffer = core.buffer;
    const x = core.exports as unknown as Record<string, Raw>;
    const out: Record<string, unknown> = {};
    for (const [name, decl] of Object.entries(DECLARED)) {
      const fn = x[name];
      if (typeof fn !== "function") continue; // not in this module: the property stays undefined
      out[name] = DIRECT.has(name) ? fn : this.#wrap(name, fn, decl.args, decl.returns as string);
    }
    this.symbols = out as unknown as NativeSymbols;
  }

  get generation(): number {
    return this.core.generation;
  }

  regionBuffer(base: number): RegionBuffer {
    return { buffer: this.core.buffer, offset: base };
  }

  releaseRegion(_buffer: ArrayBuffer, base: number, size: number): boolean {
    return this.symbols.ph_region_unmap(base as Pointer, size) === 0;
  }

  withBytes<T>(bytes: Uint8Array, fn: (at: Pointer | Uint8Array) => T): T {
    const core = this.core;
    if (bytes.buffer === core.exports.memory.buffer) return fn(bytes.byteOffset as Pointer);
    const raw = core.exports as unknown as Record<string, Raw>;
    const size = Math.max(bytes.length, 1);
    const at = raw.ph_image_alloc!(size, 0) as number;
    this.#afterCall(); // the allocation may have grown the memory
    if (at === 0) throw new HeapError("ENOMEM", "withBytes", `no room in the WebAssembly memory for a copy of ${bytes.length} bytes`);
    try {
      core.u8.set(bytes, at >>> 0);
      return fn((at >>> 0) as Pointer);
    } finally {
      raw.ph_image_free!(at, size);
    }
  }

  /** Call `remake(owner)` after each growth of the memory, while `owner` lives and until unwatch. */
  watch<T extends object>(owner: T, remake: (owner: T) => void): void {
    // Owners made and dropped in a loop (a cursor per call) would pile up until the next growth: sweep the collected ones as the set doubles.
    if (this.#watchers.size >= 2 * this.#swept + 64) {
      for (const w of this.#watchers) if (w.owner.deref() === undefined) this.#watchers.delete(w);
      this.#swept = this.#watchers.size;
    }
    this.#watchers.add({ owner: new WeakRef(owner), remake: remake as (owner: object) => void });
  }

  unwatch(owner: object): void {
    for (const w of this.#watchers) if (w.owner.deref() === owner) this.#watchers.delete(w);
  }

  #wrap(name: string, fn: Raw, args: readonly string[], returns: string): Raw {
    if (args.includes("function")) return () => { throw new TypeError(`${name}: callbacks do not cross into the WebAssembly backend`); };
    const core = this.core;
    const image = (core.exports as unknown as Record<string, Raw>);
    return (...given: unknown[]) => {
      const staged: Staged[] = [];
      const pass = new Array<unknown>(args.length);
      try {
        let scratchUsed = 0;
        for (let i = 0; i < args.length; i++) {
          const v = given[i];
          if (args[i] === "ptr") {
            if (v === null || v === undefined) pass[i] = 0;
            else if (typeof v === "number") pass[i] = v;
            else if (ArrayBuffer.isView(v)) {
              if (v.buffer === core.exports.memory.buffer) pass[i] = v.byteOffset;
              else {
                const len = v.byteLength;
                const fits = scratchUsed + len <= SCRATCH_BYTES;
                let at: number;
                if (fits) {
                  at = core.scratch + scratchUsed;
                  scratchUsed += (len + 7) & ~7;
                } else {
                  const p = image.ph_image_alloc!(len, 0) as number;
                  if (p === 0) return failNoMemory(returns);
                  at = p >>> 0;
                }
                staged.push({ array: v, at, owned: fits ? 0 : len });
                pass[i] = at;
              }
            } else throw new TypeError(`${name}: argument ${i} must be an address or a typed array`);
          } else pass[i] = WIDE_ARGS.has(args[i]!) ? BigInt(v as number) : v;
        }
        // Copies in after every allocation: an allocation may have grown the memory.
        let u8 = core.u8;
        for (const s of staged) u8.set(bytesOf(s.array), s.at);
        const r = fn(...pass);
        u8 = core.u8;
        for (const s of staged) bytesOf(s.array).set(u8.subarray(s.at, s.at + s.array.byteLength));
        return result(core, r, returns);
      } finally {
        for (const s of staged) if (s.owned > 0) image.ph_image_free!(s.at, s.owned);
        this.#afterCall();
      }
    };
  }

  /**
   * Remake the views of every live heap (and watcher) when the memory has
   * a new buffer. The wrapped calls do it themselves; code that calls the
   * module's exports directly and may grow the memory (a mapping) calls
   * this after, or the heaps' views stay detached.
   */
  syncViews(): void {
    this.#afterCall();
  }

  /** Remake the watchers' views when the memory has a new buffer. */
  #afterCall(): void {
    const buffer = this.core.buffer;
    if (buffer === this.#buffer) return;
    this.#buffer = buffer;
    for (const w of this.#watchers) {
      const owner = w.owner.deref();
      if (owner === undefined) this.#watchers.delete(w);
      else w.remake(owner);
    }
  }
}

/** The scratch page's size (core.ts's SCRATCH_BYTES). */
const SCRATCH_BYTES = 4096;

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** A call whose argument could not be copied in fails as the C call fails for no memory. */
function failNoMemory(returns: string): unknown {
  if (returns === "ptr") return null;
  return -1; // PH_ENOMEM
}

function result(core: WasmCore, r: unknown, returns: string): unknown {
  if (typeof r === "bigint") return Number(r);
  if (typeof r !== "number") return r;
  switch (returns) {
    case "ptr":
      return r === 0 ? null : r >>> 0;
    case "cstring":
      return core.cString(r >>> 0);
    case "u32":
    case "u64_fast":
    case "usize":
      return r >>> 0;
    default:
      return r;
  }
}
