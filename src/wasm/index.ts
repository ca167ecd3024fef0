/**
 * index.ts - the WebAssembly backend (preview): the C core compiled to
 * privheap.wasm and WasmHeap, a heap inside the module's memory. Loads in
 * Bun, Node and Deno (loadWasmCore reads the module's file); a browser
 * bundle passes the module's bytes or URL to compileWasmAsync and builds
 * a WasmCore from the result.
 */
import { WasmCore } from "./core.ts";
import { readWasmFile } from "./file.ts";
import { compileWasm } from "./source.ts";

export { WasmCore, type WasmSymbols } from "./core.ts";
export { WasmHeap, WasmHeapError, DEFAULT_HEAP_FLAGS } from "./heap.ts";
export { compileWasm, compileWasmAsync, type WasmBytes } from "./source.ts";
export { readWasmFile, wasmCandidates } from "./file.ts";

/**
 * A new instance of privheap.wasm, from the file file.ts finds (or the
 * bytes given). Each instance has its own memory: heaps of one instance
 * never touch another's.
 *
 * @example
 * ```ts
 * import { loadWasmCore, WasmHeap } from "privheap/wasm";
 * const heap = WasmHeap.create(loadWasmCore(), 1 << 20);
 * const off = heap.malloc(100);
 * heap.u8.fill(7, off, off + 100);
 * console.log(heap.usableSize(off)); // 112
 * heap.close();
 * ```
 */
export function loadWasmCore(bytes?: Uint8Array): WasmCore {
  return new WasmCore(compileWasm(bytes ?? readWasmFile()));
}
