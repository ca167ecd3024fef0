/**
 * bun.ts - "#runtime" in Bun (see runtime.ts): Bun's own hash and zstd, a
 * file system, and privheap.wasm read from its file.
 */
import { zstdDecompressSync as decompressBounded } from "node:zlib";
import type { XxHash3, ZstdCompress, ZstdCompressAsync, ZstdDecompress, ZstdDecompressAsync } from "./runtime.ts";
import { readWasmFile } from "../wasm/file.ts";
import { xxHash3 as coreXxHash3 } from "./wasm-hash.ts";

export const HAS_FILES = true;
export const HAS_ZSTD = true;

/** Seeds Bun.hash.xxHash3 takes whole: Bun 1.4 keeps only a seed's low 32 bits (oven-sh/bun#32833). */
const BUN_SEED_LIMIT = 1n << 32n;

// Bun's hash where it is the reference's; the core's (in the WebAssembly
// module, which also refuses a bad seed) for larger seeds, which privheap
// never passes itself.
export const xxHash3: XxHash3 = (bytes, seed = 0n) =>
  typeof seed === "bigint" && seed >= 0n && seed < BUN_SEED_LIMIT ? Bun.hash.xxHash3(bytes, seed) : coreXxHash3(bytes, seed);

export const zstdCompress: ZstdCompress = (data, level) => Bun.zstdCompressSync(data, { level });

// node:zlib's decoder, since it stops at maxOutputLength (Bun's own has no bound).
export const zstdDecompress: ZstdDecompress = (frame, maxBytes) => decompressBounded(frame, { maxOutputLength: Math.max(maxBytes, 1) });

export const zstdCompressAsync: ZstdCompressAsync = (data, level) => Bun.zstdCompress(data, { level });

export const zstdDecompressAsync: ZstdDecompressAsync = async (frame) => Bun.zstdDecompress(frame);

/** The bytes of privheap.wasm. */
export function wasmModuleBytes(): Uint8Array {
  return readWasmFile();
}
