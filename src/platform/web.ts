/**
 * web.ts - "#runtime" in a browser (see runtime.ts): no file system and no
 * zstd (ENOTSUP, saying so), XXH3 and privheap.wasm from the bundle's
 * embedded module.
 */
import { HeapError } from "../errors.ts";
import type { ZstdCompress, ZstdCompressAsync, ZstdDecompress, ZstdDecompressAsync } from "./runtime.ts";
import { embeddedWasm } from "./embedded-wasm.ts";

export { xxHash3 } from "./wasm-hash.ts";

export const HAS_FILES = false;
export const HAS_ZSTD = false;

function noZstd(op: string): HeapError {
  return new HeapError("ENOTSUP", op, "a browser has no zstd: record replays and save snapshots without compress, or read compressed ones in Bun");
}

export const zstdCompress: ZstdCompress = () => {
  throw noZstd("zstdCompress");
};

export const zstdDecompress: ZstdDecompress = () => {
  throw noZstd("zstdDecompress");
};

export const zstdCompressAsync: ZstdCompressAsync = async () => {
  throw noZstd("zstdCompress");
};

export const zstdDecompressAsync: ZstdDecompressAsync = async () => {
  throw noZstd("zstdDecompress");
};

export function wasmModuleBytes(): Uint8Array {
  return embeddedWasm();
}
