/**
 * xxh3.ts - XXH3-64, unseeded or seeded (the hash Bun.hash.xxHash3
 * computes, which privheap's file formats carry), through the WebAssembly
 * core, for runtimes without Bun: Node, Deno, browsers. The module hashes bytes in its own
 * memory only, so bytes from elsewhere are copied through a window of the
 * module's memory, 64 KiB at a time, into the core's streaming state
 * (csrc/xxh3.c); the result is the same for any split.
 */
import { HeapError } from "../errors.ts";
import type { WasmCore } from "./core.ts";

/** Bytes of the module's memory a core keeps for hashing outside bytes: the state, then the window. */
const SPAN_BYTES = 65536;
/** The window's offset in the span: past the state (ph_xxh3_state_size bytes, 8-aligned). */
const WINDOW_AT = 512;
/** The most bytes copied into the module per call. */
const WINDOW_BYTES = SPAN_BYTES - WINDOW_AT;

/** Seeds are unsigned 64-bit. */
const SEED_LIMIT = 1n << 64n;

/** Each core's span, mapped at its first hash of outside bytes and kept while the core lives. */
const spans = new WeakMap<WasmCore, number>();

function spanOf(core: WasmCore): number {
  let span = spans.get(core);
  if (span === undefined) {
    const stateBytes = core.exports.ph_xxh3_state_size() >>> 0;
    if (stateBytes > WINDOW_AT) throw new HeapError("EINVAL", "xxHash3In", `the module's hash state (${stateBytes} bytes) is larger than ${WINDOW_AT}`);
    const at = core.exports.ph_region_map_anon(SPAN_BYTES) >>> 0 || null; // an address, null for NULL
    if (at === null) throw new HeapError("ENOMEM", "xxHash3In", `no room for ${SPAN_BYTES} bytes in the module's memory`);
    spans.set(core, at);
    span = at;
  }
  return span;
}

/**
 * XXH3-64 of `bytes` with `seed` (0n by default, any of 0n..2n ** 64n - 1n;
 * EINVAL otherwise), as an unsigned 64-bit bigint: xxHash's
 * XXH3_64bits_withSeed, equal to `Bun.hash.xxHash3(bytes, seed)` for every
 * input and every seed below 2^32 (Bun 1.4 keeps only the low 32 bits of
 * a seed, so above that it differs from the reference and this does not). Bytes over the module's
 * current memory (a heap's `u8`, say) are hashed in place; any other
 * Uint8Array is copied through 64 KiB of the module's memory, which the
 * core keeps after its first such call (mapping it may grow the memory,
 * which detaches views made over the old buffer, as other mapping calls do).
 *
 * @example
 * ```ts
 * import { WasmCore } from "./core.ts";
 * import { readWasmFile } from "./file.ts";
 * import { compileWasm } from "./source.ts";
 * import { xxHash3In } from "./xxh3.ts";
 * const core = new WasmCore(compileWasm(readWasmFile()));
 * console.log(xxHash3In(core, new TextEncoder().encode("abc")).toString(16)); // 78af5f94892f3950
 * ```
 */
export function xxHash3In(core: WasmCore, bytes: Uint8Array, seed = 0n): bigint {
  if (!(bytes instanceof Uint8Array)) throw new HeapError("EINVAL", "xxHash3In", "the bytes must be a Uint8Array");
  if (typeof seed !== "bigint" || seed < 0n || seed >= SEED_LIMIT) throw new HeapError("EINVAL", "xxHash3In", `the seed must be a bigint in 0..2^64-1, got ${String(seed)}`);
  const x = core.exports;
  if (bytes.buffer === core.buffer) return BigInt.asUintN(64, x.ph_xxh3_64_seeded(bytes.byteOffset, bytes.length, seed));
  const span = spanOf(core);
  const window = span + WINDOW_AT;
  const memory = core.u8; // after spanOf, which may have grown the memory; hashing does not
  if (bytes.length <= WINDOW_BYTES) {
    memory.set(bytes, window);
    return BigInt.asUintN(64, x.ph_xxh3_64_seeded(window, bytes.length, seed));
  }
  x.ph_xxh3_reset_seeded(span, seed);
  for (let at = 0; at < bytes.length; at += WINDOW_BYTES) {
    const piece = bytes.subarray(at, at + WINDOW_BYTES);
    memory.set(piece, window);
    const rc = x.ph_xxh3_update(span, window, piece.length);
    if (rc !== 0) throw new HeapError("EINVAL", "xxHash3In", `the module refused its own hash state (${rc})`);
  }
  return BigInt.asUintN(64, x.ph_xxh3_64_digest(span));
}
