// The heap checksum computed from its definition in docs/checksum.md, and
// from nothing else: BigInt arithmetic reduced modulo 2^64 by hand, the
// constants derived from square roots of primes, every word assembled one
// byte at a time. Slow (about a millisecond a page) and independent of the
// native code, which the tests compare with it.
import { NATIVE_CONSTANTS } from "../../src/ffi/symbols.ts";

const PAGE = 4096;
const M64 = (1n << 64n) - 1n;
const M32 = (1n << 32n) - 1n;
const LOCK_FROM = NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET;
const LOCK_TO = NATIVE_CONSTANTS.PH_LOCK_BLOCK_END;

/** floor(sqrt(n)) by Newton's method. */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((n.toString(2).length >> 1) + 1); // above the root
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** floor(frac(sqrt(p)) * 2^64) with its lowest bit set. */
export function sqrtConstant(p: number): bigint {
  const root = isqrt(BigInt(p) << 128n); // floor(sqrt(p) * 2^64)
  return (root & M64) | 1n;
}

export const K_WORD = sqrtConstant(2);
export const K_P = sqrtConstant(3);
export const K_W = sqrtConstant(5);
export const K_INDEX = sqrtConstant(7);
export const K_LENGTH = sqrtConstant(11);
export const M1 = sqrtConstant(13);
export const M2 = sqrtConstant(17);

/** The 128-bit product's low 64 bits xor its high 64 bits. */
export function fold(a: bigint, b: bigint): bigint {
  const m = a * b;
  return (m & M64) ^ (m >> 64n);
}

export function mix(x: bigint): bigint {
  x ^= x >> 32n;
  x = (x * M1) & M64;
  x ^= x >> 29n;
  x = (x * M2) & M64;
  x ^= x >> 32n;
  return x;
}

/** Byte `at` of the region as the checksum reads it: the lock block is zero. */
function byteAt(region: Uint8Array, at: number): bigint {
  return at >= LOCK_FROM && at < LOCK_TO ? 0n : BigInt(region[at]!);
}

/** H(i): the hash of page i of `region`. */
export function pageHash(region: Uint8Array, i: number): bigint {
  const P = new Array<bigint>(8).fill(0n);
  const W = new Array<bigint>(8).fill(0n);
  for (let j = 0; j < 512; j++) {
    let w = 0n;
    for (let b = 7; b >= 0; b--) w = (w << 8n) | byteAt(region, i * PAGE + 8 * j + b);
    const x = w ^ ((BigInt(j + 1) * K_WORD) & M64);
    const l = j % 8;
    P[l] = (P[l]! + (x & M32) * (x >> 32n)) & M64;
    W[l] = (W[l]! + w) & M64;
  }
  let s = 0n;
  for (let l = 0; l < 8; l++) s = (s + fold(P[l]! ^ ((BigInt(l + 1) * K_P) & M64), W[l]! ^ ((BigInt(l + 1) * K_W) & M64))) & M64;
  return mix(s ^ ((BigInt(i + 1) * K_INDEX) & M64));
}

/** The checksum of the first `used` bytes of `region` (whole pages). */
export function referenceChecksum(region: Uint8Array, used = region.length): bigint {
  if (used % PAGE !== 0) throw new Error(`${used} bytes is not whole pages`);
  let S = 0n;
  for (let i = 0; i < used / PAGE; i++) S = (S + pageHash(region, i)) & M64;
  return mix(S ^ mix(BigInt(used) ^ K_LENGTH));
}
