/**
 * bun.ts - "#runtime" in Bun (see runtime.ts): Bun's own hash and zstd, a
 * file system, and privheap.wasm read from its file.
 */
import { zstdDecompressSync as decompressBounded } from "node:zlib";
import type { XxHash3, ZstdCompress, ZstdCompressAsync, ZstdDecompress, ZstdDecompressAsync } from "./runtime.ts";
import { readWasmFile } from "../wasm/file.ts";

export const RUNTIME = "bun";
export const HAS_FILES = true;
export const HAS_ZSTD = true;

export const xxHash3: XxHash3 = (bytes) => Bun.hash.xxHash3(bytes);

export const zstdCompress: ZstdCompress = (data, level) => Bun.zstdCompressSync(data, { level });

// node:zlib's decoder, since it stops at maxOutputLength (Bun's own has no bound).
export const zstdDecompress: ZstdDecompress = (frame, maxBytes) => decompressBounded(frame, { maxOutputLength: Math.max(maxBytes, 1) });

export const zstdCompressAsync: ZstdCompressAsync = (data, level) => Bun.zstdCompress(data, { level });

export const zstdDecompressAsync: ZstdDecompressAsync = async (frame) => Bun.zstdDecompress(frame);

/** Run the collector now, so finalizers of dropped native images run (image-memory.ts). */
export function collectGarbage(): void {
  Bun.gc(true);
}

/** The bytes of privheap.wasm. */
export function wasmModuleBytes(): Uint8Array {
  return readWasmFile();
}
