// XXH3-64 of the C core (csrc/xxh3.c) equals Bun.hash.xxHash3, an
// independent implementation, bit for bit: the native library's one-shot and
// streaming calls, and xxHash3In over the WebAssembly module (bytes copied
// through its window, or hashed in place in its memory), for every length
// 0..2100 and random lengths up to 4 MiB, each at several alignments.
// Seeded: equal to Bun.hash.xxHash3(bytes, seed) for seeds below 2^32 (Bun
// 1.4 keeps only a seed's low 32 bits, oven-sh/bun#32833), and to the
// reference library's known answers above; native, wasm and #runtime's
// xxHash3 (Bun's and the core's) agree for every seed.
import { describe, expect, test } from "bun:test";
import { loadNative } from "../../src/ffi/loader.ts";
import { WasmCore } from "../../src/wasm/core.ts";
import { readWasmFile } from "../../src/wasm/file.ts";
import { compileWasm } from "../../src/wasm/source.ts";
import { xxHash3In } from "../../src/wasm/xxh3.ts";
import { xxHash3 as bunRuntimeXxHash3 } from "../../src/platform/bun.ts";
import { xxHash3 as coreRuntimeXxHash3 } from "../../src/platform/wasm-hash.ts";
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

/** A fresh native streaming state (8-aligned: a BigUint64Array's memory), with `seed` unless it is undefined. */
function nativeState(seed?: bigint): BigUint64Array {
  const state = new BigUint64Array(Math.ceil(Number(native.ph_xxh3_state_size()) / 8));
  if (seed === undefined) native.ph_xxh3_reset(state);
  else native.ph_xxh3_reset_seeded(state, seed);
  return state;
}

/** The native streaming digest of `bytes`, given in pieces of random sizes up to `most`. */
function nativeStreamed(r: Rng, bytes: Uint8Array, most: number, seed?: bigint): bigint {
  const state = nativeState(seed);
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

/** Every seeded way of hashing `bytes` with `seed`, by name (the in-place one copies them to `inModule` first). */
function seededHashes(r: Rng, bytes: Uint8Array, seed: bigint, inModule: number, most: number): Record<string, bigint> {
  const got: Record<string, bigint> = {
    "native ph_xxh3_64_seeded": native.ph_xxh3_64_seeded(bytes, bytes.length, seed),
    "native streamed": nativeStreamed(r, bytes, most, seed),
    "wasm xxHash3In, copied": xxHash3In(core, bytes, seed),
    "#runtime xxHash3, Bun's": bunRuntimeXxHash3(bytes, seed),
    "#runtime xxHash3, the core's": coreRuntimeXxHash3(bytes, seed),
  };
  const there = moduleView(inModule, bytes.length);
  there.set(bytes);
  got["wasm xxHash3In, in place"] = xxHash3In(core, there, seed);
  return got;
}

/** The hashes of `got` that are not `want`, as "name: value". */
function wrongOf(got: Record<string, bigint>, want: bigint): string[] {
  return Object.entries(got)
    .filter(([, v]) => v !== want)
    .map(([name, v]) => `${name}: ${v.toString(16)} (want ${want.toString(16)})`);
}

/** A random seed below 2^32 (Bun's hash takes those whole). */
function seed32(r: Rng): bigint {
  return BigInt(Math.floor(r.next() * 2 ** 32));
}

/** A random 64-bit seed. */
function seed64(r: Rng): bigint {
  return (seed32(r) << 32n) | seed32(r);
}

/** The known-answer input of csrc/test/unit_xxh3.c: byte i is (i * 131 + 7) mod 256. */
function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + 7) & 255;
  return b;
}

describe("seeded XXH3-64", () => {
  for (const seed of seeds(1))
    test(`seeds below 2^32 (0, 1, 2^31, 2^32 - 1, random), every length 0..1100: Bun.hash.xxHash3(bytes, seed) (seed ${seed})`, () => {
      const r = rng(seed);
      const pool = randomBytes(r, 1100 + 8);
      const room = moduleRoom(1100 + 8);
      const wrong: string[] = [];
      for (const s of [0n, 1n, 1n << 31n, (1n << 32n) - 1n, seed32(r), seed32(r)])
        for (let n = 0; n <= 1100; n++) {
          const bytes = pool.subarray(n % 8, (n % 8) + n);
          for (const d of wrongOf(seededHashes(r, bytes, s, room + (n % 8), 300), Bun.hash.xxHash3(bytes, s))) wrong.push(`seed ${s}, n ${n}: ${d}`);
        }
      expect(wrong).toEqual([]);
    });

  for (const seed of seeds(1))
    test(`random lengths up to 4 MiB with random seeds below 2^32: Bun.hash.xxHash3(bytes, seed) (seed ${seed})`, () => {
      const r = rng(seed);
      const pool = randomBytes(r, 4 * MiB + 8);
      const room = moduleRoom(4 * MiB + 8);
      const wrong: string[] = [];
      for (const n of [65024, 65025, 130049, r.int(1101, 4 * MiB), r.int(1101, 4 * MiB), r.int(1101, 4 * MiB)]) {
        const at = r.int(0, 8);
        const bytes = pool.subarray(at, at + n);
        const s = seed32(r);
        for (const d of wrongOf(seededHashes(r, bytes, s, room + at, r.pick([300, 200_000])), Bun.hash.xxHash3(bytes, s))) wrong.push(`seed ${s}, n ${n}: ${d}`);
      }
      expect(wrong).toEqual([]);
    });

  test("seeds of 2^32 and above: the reference's known answers (libxxhash 0.8.1's XXH3_64bits_withSeed, as csrc/test/unit_xxh3.c)", () => {
    const r = rng(seeds(1)[0]!);
    const room = moduleRoom(100_000);
    const known: [bigint, number, bigint][] = [
      [(1n << 32n) + 5n, 0, 0x8a1e29d29b8bb1a2n],
      [(1n << 32n) + 5n, 3, 0x17b2444d608618b4n],
      [(1n << 32n) + 5n, 8, 0x078abc575f19cb6cn],
      [(1n << 32n) + 5n, 16, 0xfd2b7253f0498874n],
      [(1n << 32n) + 5n, 128, 0x8e883aa1cf6908a7n],
      [(1n << 32n) + 5n, 240, 0x23e0106d2947a124n],
      [(1n << 32n) + 5n, 1025, 0xe74a84c5c82cbcf3n],
      [(1n << 32n) + 5n, 100000, 0x2c7cc040a37e517en],
      [(1n << 64n) - 1n, 0, 0x4c093276ae47a555n],
      [(1n << 64n) - 1n, 1, 0x36ce6de3f8ce2550n],
      [(1n << 64n) - 1n, 4, 0x7d3c976072267e11n],
      [(1n << 64n) - 1n, 9, 0xdaa24bb15e66f8c7n],
      [(1n << 64n) - 1n, 17, 0x397bbd722a5d5277n],
      [(1n << 64n) - 1n, 129, 0x7706f67ef1f6cba6n],
      [(1n << 64n) - 1n, 241, 0xc895ed9e580244d6n],
      [(1n << 64n) - 1n, 100000, 0xd9a81e6fea82b465n],
    ];
    const wrong: string[] = [];
    for (const [s, n, want] of known) for (const d of wrongOf(seededHashes(r, pattern(n), s, room, 5000), want)) wrong.push(`seed ${s}, n ${n}: ${d}`);
    expect(wrong).toEqual([]);
  });

  for (const seed of seeds(1))
    test(`random 64-bit seeds, every length 0..1100 and long ones: every way agrees with the native one-shot hash, and a seed's high half counts (seed ${seed})`, () => {
      const r = rng(seed);
      const pool = randomBytes(r, 300_000 + 8);
      const room = moduleRoom(300_000 + 8);
      const wrong: string[] = [];
      let sameAsLow32 = 0;
      const lengths = Array.from({ length: 1101 }, (_, n) => n).concat([r.int(1101, 300_000), 300_000]);
      for (const n of lengths) {
        const bytes = pool.subarray(n % 8, (n % 8) + n);
        const s = seed64(r) | (1n << 40n); // at least one bit above 2^32
        const want = native.ph_xxh3_64_seeded(bytes, n, s);
        for (const d of wrongOf(seededHashes(r, bytes, s, room + (n % 8), 300), want)) wrong.push(`seed ${s}, n ${n}: ${d}`);
        if (want === native.ph_xxh3_64_seeded(bytes, n, s & 0xffffffffn)) sameAsLow32++;
      }
      expect(wrong).toEqual([]);
      expect(sameAsLow32).toBe(0);
    });

  test("a seed that is not a bigint in 0..2^64-1 is EINVAL, in xxHash3In and #runtime's xxHash3", () => {
    const bytes = new Uint8Array(10);
    for (const bad of [-1n, 1n << 64n, 5, "1", null] as unknown as bigint[]) {
      expect(codeOf(() => xxHash3In(core, bytes, bad))).toBe("EINVAL");
      expect(codeOf(() => coreRuntimeXxHash3(bytes, bad))).toBe("EINVAL");
      expect(codeOf(() => bunRuntimeXxHash3(bytes, bad))).toBe("EINVAL");
    }
  });
});

describe("bad input", () => {
  test("a NULL pointer with bytes to read, or a misaligned or garbled state, is EINVAL (0 for hashes)", () => {
    expect(native.ph_xxh3_64(null, 5)).toBe(0n);
    expect(native.ph_last_error()).toBe(-2);
    expect(native.ph_xxh3_64_seeded(null, 5, 7n)).toBe(0n);
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
