// XXH3-64 of the C core (csrc/xxh3.c) equals Bun.hash.xxHash3, an
// independent implementation, bit for bit: the native library's one-shot and
// streaming calls, and xxHash3In over the WebAssembly module (bytes copied
// through its window, or hashed in place in its memory), for every length
// 0..2100 and random lengths up to 4 MiB, each at several alignments.
import { describe, expect, test } from "bun:test";
import { loadNative } from "../../src/ffi/loader.ts";
import { WasmCore } from "../../src/wasm/core.ts";
import { readWasmFile } from "../../src/wasm/file.ts";
import { compileWasm } from "../../src/wasm/source.ts";
import { xxHash3In } from "../../src/wasm/xxh3.ts";
import { codeOf } from "../support/expect.ts";
import { rng, type Rng, seeds } from "../support/random.ts";

const MiB = 1 << 20;
const native = loadNative().symbols;
// A core of its own, from the built module (readWasmFile says what to run
// when there is none; the fast tier starts no build).
const core = new WasmCore(compileWasm(readWasmFile()));

/** `n` bytes from the generator. */
function randomBytes(r: Rng, n: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(n / 4));
  for (let i = 0; i < words.length; i++) words[i] = Math.floor(r.next() * 4294967296);
  return new Uint8Array(words.buffer, 0, n);
}

/** A fresh native streaming state (8-aligned: a BigUint64Array's memory). */
function nativeState(): BigUint64Array {
  const state = new BigUint64Array(Math.ceil(Number(native.ph_xxh3_state_size()) / 8));
  native.ph_xxh3_reset(state);
  return state;
}

/** The native streaming digest of `bytes`, given in pieces of random sizes up to `most`. */
function nativeStreamed(r: Rng, bytes: Uint8Array, most: number): bigint {
  const state = nativeState();
  for (let at = 0; at < bytes.length; ) {
    const k = Math.min(r.int(0, most), bytes.length - at);
    const rc = native.ph_xxh3_update(state, bytes.subarray(at, at + k), k);
    if (rc !== 0) throw new Error(`ph_xxh3_update: ${rc}`);
    at += k;
  }
  return native.ph_xxh3_64_digest(state);
}

/** The address of room for `n` bytes in the module's memory, to hash there in place. */
function moduleRoom(n: number): number {
  const at = core.exports.ph_region_map_anon(Math.max(n, 1)) >>> 0 || null;
  if (at === null) throw new Error(`no ${n} bytes in the module's memory`);
  return at;
}

/** The `n` bytes at `at` in the module's memory, over its current buffer (a mapping may grow it). */
function moduleView(at: number, n: number): Uint8Array {
  return core.u8.subarray(at, at + n);
}

/** Every way of hashing `bytes` that differs from Bun.hash.xxHash3's, as "name: value";
 * the in-place one copies them to `inModule` in the module's memory first. */
function disagreements(r: Rng, bytes: Uint8Array, inModule: number, most: number): string[] {
  const want = Bun.hash.xxHash3(bytes);
  const got: Record<string, bigint> = {
    "native ph_xxh3_64": native.ph_xxh3_64(bytes, bytes.length),
    "native streamed": nativeStreamed(r, bytes, most),
    "wasm xxHash3In, copied": xxHash3In(core, bytes),
  };
  const there = moduleView(inModule, bytes.length);
  there.set(bytes);
  got["wasm xxHash3In, in place"] = xxHash3In(core, there);
  return Object.entries(got)
    .filter(([, v]) => v !== want)
    .map(([name, v]) => `${name}: ${v.toString(16)} (want ${want.toString(16)})`);
}

describe("XXH3-64 of the core equals Bun.hash.xxHash3", () => {
  for (const seed of seeds(1))
    test(`every length 0..2100, at offsets 0..7, streamed in pieces up to 300 bytes (seed ${seed})`, () => {
      const r = rng(seed);
      const pool = randomBytes(r, 2100 + 8);
      const room = moduleRoom(2100 + 8);
      const wrong: string[] = [];
      for (let n = 0; n <= 2100; n++) {
        const at = n % 8;
        for (const d of disagreements(r, pool.subarray(at, at + n), room + at, 300)) wrong.push(`seed ${seed}, n ${n}: ${d}`);
      }
      expect(wrong).toEqual([]);
    });

  for (const seed of seeds(2))
    test(`random lengths up to 4 MiB, and the edges of the wasm window (seed ${seed})`, () => {
      const r = rng(seed);
      const pool = randomBytes(r, 4 * MiB + 8);
      const room = moduleRoom(4 * MiB + 8);
      // xxHash3In copies 65024 bytes at a time: lengths about one and two windows.
      const lengths = [65023, 65024, 65025, 130048, 130049, 4 * MiB];
      for (let i = 0; i < 10; i++) lengths.push(r.int(2101, 4 * MiB));
      const wrong: string[] = [];
      for (const n of lengths) {
        const at = r.int(0, 8);
        pool[at + r.int(0, n - 1)]! ^= 1 << r.int(0, 7); // a different content each time
        const most = r.pick([300, 5000, 200_000]);
        for (const d of disagreements(r, pool.subarray(at, at + n), room + at, most)) wrong.push(`seed ${seed}, n ${n}: ${d}`);
      }
      expect(wrong).toEqual([]);
    });

  test("the module's streaming calls in random pieces give the one-shot hash", () => {
    const r = rng(seeds(1)[0]!);
    const x = core.exports;
    const base = moduleRoom(300_000);
    const state = moduleRoom(4096);
    const bytes = moduleView(base, 300_000);
    bytes.set(randomBytes(r, bytes.length));
    const wrong: number[] = [];
    for (const n of [0, 1, 240, 241, 1024, 1025, 300_000, r.int(0, 300_000)]) {
      x.ph_xxh3_reset(state);
      for (let at = 0; at < n; ) {
        const k = Math.min(r.int(0, 3000), n - at);
        expect(x.ph_xxh3_update(state, base + at, k)).toBe(0);
        at += k;
      }
      if (BigInt.asUintN(64, x.ph_xxh3_64_digest(state)) !== Bun.hash.xxHash3(bytes.subarray(0, n))) wrong.push(n);
    }
    expect({ seed: r.seed, wrong }).toEqual({ seed: r.seed, wrong: [] });
  });
});

describe("bad input", () => {
  test("a NULL pointer with bytes to read, or a misaligned or garbled state, is EINVAL (0 for hashes)", () => {
    expect(native.ph_xxh3_64(null, 5)).toBe(0n);
    expect(native.ph_last_error()).toBe(-2);
    const state = nativeState();
    expect(native.ph_xxh3_update(state, null, 1)).toBe(-2);
    const misaligned = new Uint8Array(state.byteLength + 8).subarray(4);
    expect(native.ph_xxh3_update(misaligned, new Uint8Array(3), 3)).toBe(-2);
    new Uint8Array(state.buffer).fill(0xff);
    expect(native.ph_xxh3_update(state, new Uint8Array(3), 3)).toBe(-2);
    expect(native.ph_xxh3_64_digest(state)).toBe(0n);
    expect(native.ph_last_error()).toBe(-2);
  });

  test("xxHash3In of something other than a Uint8Array is EINVAL", () => {
    expect(codeOf(() => xxHash3In(core, [1, 2, 3] as unknown as Uint8Array))).toBe("EINVAL");
  });
});
