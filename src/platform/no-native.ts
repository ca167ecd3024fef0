/**
 * no-native.ts - "#native" where bun:ffi does not exist (Node, Deno,
 * browsers: package.json's imports, condition "default"). Heaps use the
 * WebAssembly backend; asking for the native one (`backend: "native"`,
 * heap files) is ENOTSUP, saying why.
 */
import type { Backend } from "../backend.ts";
import { setDefaultBackend } from "../backend.ts";
import { HeapError } from "../errors.ts";
import { wasmBackend } from "../wasm/default-backend.ts";

/** Why the native backend is missing here. */
const WHY = "the native backend (and with it heap files and their locks) runs in Bun only; this runtime has the WebAssembly backend";

export function nativeBackend(): Backend {
  throw new HeapError("ENOTSUP", "nativeBackend", WHY);
}

/** The backend of heaps that name none: the WebAssembly module, outside Bun. */
export const DEFAULT_BACKEND: "native" | "wasm" = "wasm";

export function peekU64(_address: number): bigint {
  throw new HeapError("ENOTSUP", "peekU64", WHY);
}

setDefaultBackend(wasmBackend);
