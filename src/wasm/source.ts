/**
 * source.ts - compiling privheap.wasm from what a runtime has: bytes (Bun,
 * Node and Deno read the file; a bundle may inline it), or a URL or a
 * fetch Response (a browser, which compiles while the bytes download).
 * Nothing here touches a file system: file.ts finds the module's file.
 */

/** What the module can be compiled from. */
export type WasmBytes = Uint8Array | ArrayBuffer | WebAssembly.Module;

/** Compile the module now, synchronously (fine in Bun, Node and workers; a
 * browser's main thread refuses modules this large: use compileWasmAsync). */
export function compileWasm(bytes: WasmBytes): WebAssembly.Module {
  if (bytes instanceof WebAssembly.Module) return bytes;
  return new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
}

/** Compile the module from bytes, a URL (fetched) or a fetch Response. */
export async function compileWasmAsync(source: WasmBytes | URL | string | Response | PromiseLike<Response>): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) return WebAssembly.compile(source as Uint8Array<ArrayBuffer>);
  const response = await (typeof source === "string" || source instanceof URL ? fetch(source) : source);
  if (!response.ok) throw new Error(`privheap.wasm: fetching ${response.url} gave HTTP ${response.status}`);
  return WebAssembly.compile(await response.arrayBuffer());
}
