/**
 * wasm-hash.ts - XXH3-64 where the runtime has none of its own (Node, Deno,
 * browsers): the C core's, in the default WebAssembly backend's module.
 * Its first call maps a window in the module's memory, which may grow it:
 * the backend then remakes the views of the heaps that live there.
 */
import type { XxHash3 } from "./runtime.ts";
import { wasmBackend } from "../wasm/default-backend.ts";
import { xxHash3In } from "../wasm/xxh3.ts";

export const xxHash3: XxHash3 = (bytes, seed = 0n) => {
  const backend = wasmBackend();
  const hash = xxHash3In(backend.core, bytes, seed);
  backend.syncViews();
  return hash;
};
