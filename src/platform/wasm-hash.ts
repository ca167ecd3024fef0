/**
 * wasm-hash.ts - XXH3-64 where the runtime has none of its own (Node, Deno,
 * browsers): the C core's, in the default WebAssembly backend's module.
 */
import type { XxHash3 } from "./runtime.ts";
import { wasmBackend } from "../wasm/default-backend.ts";
import { xxHash3In } from "../wasm/xxh3.ts";

export const xxHash3: XxHash3 = (bytes) => xxHash3In(wasmBackend().core, bytes);
