/**
 * node.ts - "#runtime" in Node and Deno (see runtime.ts): their file
 * system, zstd where node:zlib has it (Node 22.15 and later; Node 20 has
 * none: ENOTSUP), XXH3 and privheap.wasm from the bundle's embedded module.
 */
import * as zlib from "node:zlib";
import { HeapError } from "../errors.ts";
import type { ZstdCompress, ZstdCompressAsync, ZstdDecompress, ZstdDecompressAsync } from "./runtime.ts";
import { embeddedWasm } from "./embedded-wasm.ts";

export { xxHash3 } from "./wasm-hash.ts";

export const HAS_FILES = true;

/** node:zlib's zstd calls, where this version has them. */
type Zstd = {
  zstdCompressSync(data: Uint8Array, options: object): Uint8Array;
  zstdDecompressSync(data: Uint8Array, options: object): Uint8Array;
};
const z = zlib as unknown as Partial<Zstd>;

export const HAS_ZSTD = typeof z.zstdCompressSync === "function" && typeof z.zstdDecompressSync === "function";

function noZstd(op: string): HeapError {
  return new HeapError("ENOTSUP", op, "this runtime's node:zlib has no zstd (Node 22.15 and later have it): save without compress, or read the file in Bun");
}

/** node:zlib's keys (zstd's parameter numbers): the level, and whether a frame declares its size. */
const LEVEL = 100;
const CONTENT_SIZE_FLAG = 200;

// privheap's formats need frames that declare their decoded size (readers
// bound memory by it): zstd writes it only when told the size up front.
export const zstdCompress: ZstdCompress = (data, level) => {
  if (!HAS_ZSTD) throw noZstd("zstdCompress");
  return new Uint8Array(z.zstdCompressSync!(data, { pledgedSrcSize: data.length, params: { [LEVEL]: level, [CONTENT_SIZE_FLAG]: 1 } }));
};

export const zstdDecompress: ZstdDecompress = (frame, maxBytes) => {
  if (!HAS_ZSTD) throw noZstd("zstdDecompress");
  return new Uint8Array(z.zstdDecompressSync!(frame, { maxOutputLength: Math.max(maxBytes, 1) }));
};

export const zstdCompressAsync: ZstdCompressAsync = async (data, level) => zstdCompress(data, level);

export const zstdDecompressAsync: ZstdDecompressAsync = async (frame, maxBytes) => zstdDecompress(frame, maxBytes);

export function wasmModuleBytes(): Uint8Array {
  return embeddedWasm();
}
