/**
 * Seeded randomness for tests: a small xorshift128+ style generator on
 * 32-bit halves (sfc32), so a failing sequence replays from its seed.
 */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number;
  /** One element of `items`. */
  pick<T>(items: readonly T[]): T;
  /** The seed this generator started from. */
  readonly seed: number;
}

/** A generator from `seed` (an unsigned 32-bit integer). */
export function rng(seed: number): Rng {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88;
  let c = 0xb7e15162 ^ Math.imul(seed, 0x85ebca6b);
  let d = 1;
  const u32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) u32();
  const next = () => u32() / 4294967296;
  return {
    seed,
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}

/** Seeds for a test: `PRIVHEAP_SEED=n` replays one, otherwise `count` fresh ones. */
export function seeds(count: number): number[] {
  const fixed = process.env.PRIVHEAP_SEED;
  if (fixed !== undefined && fixed !== "") return [Number(fixed) >>> 0];
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((Math.random() * 4294967296) >>> 0);
  return out;
}
