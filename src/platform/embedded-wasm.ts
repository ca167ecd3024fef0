/**
 * embedded-wasm.ts - privheap.wasm as bytes inside the built bundles
 * (dist/, made by scripts/build-dist.ts, which defines
 * PRIVHEAP_WASM_BASE64 as the module's base64 text). Node, Deno and
 * browsers then need no file and no fetch: the 69 KiB module compiles
 * synchronously, which Chromium allows on its main thread at this size.
 */
import { HeapError } from "../errors.ts";

declare const PRIVHEAP_WASM_BASE64: string;

let bytes: Uint8Array | undefined;

/** The embedded module's bytes, decoded once (ENOLIB in a build that embeds none). */
export function embeddedWasm(): Uint8Array {
  if (bytes !== undefined) return bytes;
  if (typeof PRIVHEAP_WASM_BASE64 !== "string")
    throw new HeapError("ENOLIB", "embeddedWasm", "this build embeds no privheap.wasm: import privheap's dist/ bundles (scripts/build-dist.ts makes them)");
  const text = atob(PRIVHEAP_WASM_BASE64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return (bytes = out);
}
