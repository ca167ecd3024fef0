/**
 * runtime.ts - what privheap needs from the JavaScript runtime beyond the
 * language, as one interface: "#runtime" (package.json's imports) is
 * bun.ts in Bun, node.ts in Node and Deno, web.ts elsewhere (a browser).
 * Each file exports these names with these types; the rest of the code
 * imports them from "#runtime" and never touches `Bun`, node:zlib or the
 * WebAssembly module's file directly.
 */

/**
 * The 64-bit XXH3 hash of `bytes`, unsigned, with `seed` (0n by default; a
 * bigint in 0n..2n ** 64n - 1n, EINVAL otherwise): xxHash's
 * XXH3_64bits_withSeed, the checksums of privheap's file formats. The same
 * value in every runtime for every seed (HeapMirror's journal passes only
 * seeds below 2^32, see heap-mirror.ts).
 */
export type XxHash3 = (bytes: Uint8Array, seed?: bigint) => bigint;

/** One zstd frame of `data` at `level`; ENOTSUP where the runtime has no zstd. */
export type ZstdCompress = (data: Uint8Array, level: number) => Uint8Array;

/** The bytes of one zstd frame, at most `maxBytes` of them (a frame that decodes to more fails); ENOTSUP without zstd. */
export type ZstdDecompress = (frame: Uint8Array, maxBytes: number) => Uint8Array;

/** The same, off the JavaScript thread where the runtime can. */
export type ZstdCompressAsync = (data: Uint8Array, level: number) => Promise<Uint8Array>;
export type ZstdDecompressAsync = (frame: Uint8Array, maxBytes: number) => Promise<Uint8Array>;
