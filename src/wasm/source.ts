/**
 * source.ts - compiling privheap.wasm from its bytes (the runtime's #runtime
 * gives them: the file in Bun, the bundle's embedded copy elsewhere), or
 * passing a module compiled before. Synchronous: the module is small
 * enough that Chromium compiles it on its main thread too (measured with
 * Chromium 156), so a heap can be made without an await.
 */

/** What the module can be compiled from. */
export type WasmBytes = Uint8Array | ArrayBuffer | WebAssembly.Module;

/** Compile the module now (a module passes through). */
export function compileWasm(bytes: WasmBytes): WebAssembly.Module {
  if (bytes instanceof WebAssembly.Module) return bytes;
  return new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
}
