/**
 * native-entry.ts - "#native" in Bun (package.json's imports, condition
 * "bun"): the native library through bun:ffi, the default backend of heaps
 * that name none. Elsewhere "#native" is src/platform/no-native.ts, with
 * the same exports, so no module outside src/ffi imports bun:ffi's values.
 */
import { type Pointer, read } from "bun:ffi";
import { setDefaultBackend } from "../backend.ts";
import { nativeBackend } from "./native-backend.ts";

export { nativeBackend };

/** The backend of heaps that name none: the native library, in Bun. */
export const DEFAULT_BACKEND: "native" | "wasm" = "native";

/** The 8 bytes at a native address, as an unsigned integer (heap files read a header word before trusting it). */
export function peekU64(address: number): bigint {
  return read.u64(address as Pointer, 0);
}

setDefaultBackend(nativeBackend);
