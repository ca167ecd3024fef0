/**
 * core.ts - one instance of the C core compiled to WebAssembly
 * (privheap.wasm): its exports, its memory and views over that memory.
 *
 * The module is built by `zig build wasm` from the same csrc/*.c as the
 * native library (csrc/prim_wasm.c is its platform: memory is the module's
 * linear memory; there are no files, locks between processes, threads or
 * written-page tracker). Regions live inside that memory, so a heap's
 * offsets, bytes, stats and checksums are the native library's for the same
 * calls (test/system/wasm/parity.test.ts holds it to that). backend.ts
 * makes a WasmCore PrivateHeap's backend (`backend: "wasm"`, and every heap
 * outside Bun).
 *
 * Memory growth. Linear memory grows when a region or an image is mapped
 * (ph_region_map_anon, ph_image_alloc), never inside an allocation call. A
 * grown memory has a new ArrayBuffer and the old one is detached, so `u8`
 * and `buffer` are remade when the memory's buffer is no longer theirs, and
 * `generation` counts the buffers seen.
 *
 * Out-parameters (a ph_stats_t, a checksum) must be addresses in the
 * module's memory: `scratch` is one page of it, mapped at instantiation.
 */
import { EXPORTED_FUNCTIONS, type WasmExports } from "./exports.ts";

/** Bytes of the scratch span: outputs of the calls (a ph_stats_t, a checksum). */
const SCRATCH_BYTES = 4096;

/** One instance of privheap.wasm: its exports, its memory and views over it. */
export class WasmCore {
  /** The raw exports (exports.ts types them). */
  readonly exports: WasmExports;
  /** Address of SCRATCH_BYTES bytes of the module's memory for out-parameters. */
  readonly scratch: number;
  #buffer: ArrayBuffer;
  #u8: Uint8Array;
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
    const scratch = x.ph_region_map_anon(SCRATCH_BYTES) >>> 0;
    if (scratch === 0) throw new RangeError("privheap.wasm: no memory for the scratch page");
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
    this.#generation++;
  }
}
