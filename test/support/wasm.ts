/**
 * The WebAssembly core for tests: a new instance of privheap.wasm from where
 * src/wasm/file.ts looks (its error names the build command when there is
 * none; system tests build it first with ./wasm-build.ts). Starts no
 * process, so unit tests may use it.
 */
import { WasmCore } from "../../src/wasm/core.ts";
import { readWasmFile } from "../../src/wasm/file.ts";
import { compileWasm } from "../../src/wasm/source.ts";

/** A new instance of the module, with its own memory (not the one PrivateHeap's wasm heaps share). */
export function wasmCore(): WasmCore {
  return new WasmCore(compileWasm(readWasmFile()));
}
