import { describe, expect, test } from "bun:test";
import { FREE_LOG_CAPACITY, FreeLog } from "../../src/free-log.ts";
import { rng } from "../support/random.ts";

/** What the log must answer, from every free kept: offsets in order of freeing (serial i + 1 is frees[i]). */
function modelAnswer(frees: number[], off: number, since: number): boolean | undefined {
  const newest = frees.lastIndexOf(off) + 1; // its serial; 0: never freed
  if (newest > since && newest > frees.length - FREE_LOG_CAPACITY) return true; // still in the log
  if (frees.length - since > FREE_LOG_CAPACITY) return undefined;
  return false;
}

describe("FreeLog", () => {
  test("a free after the serial a cursor noted is seen, one before it is not", () => {
    const log = new FreeLog();
    log.add(4096);
    const since = log.serial;
    expect(log.freedSince(4096, since)).toBe(false);
    log.add(8192);
    expect(log.freedSince(4096, since)).toBe(false);
    expect(log.freedSince(8192, since)).toBe(true);
    log.add(4096);
    expect(log.freedSince(4096, since)).toBe(true);
  });

  test("agrees with a model that keeps every free, across the ring's wrap, for offsets freed again and again", () => {
    const r = rng(1234);
    const log = new FreeLog();
    const frees: number[] = [];
    // Few distinct offsets, so the same offset sits in the ring many times and entries leave it while a newer one stays.
    const total = 3 * FREE_LOG_CAPACITY + 777;
    const mismatches: string[] = [];
    for (let i = 0; i < total; i++) {
      const off = 16 * r.int(1, 2000);
      log.add(off);
      frees.push(off);
      if (i % 997 === 0 || i > total - 50) {
        for (let q = 0; q < 20; q++) {
          const since = r.int(Math.max(0, frees.length - FREE_LOG_CAPACITY - 100), frees.length);
          const probe = r.next() < 0.5 ? frees[r.int(Math.max(0, since - 5), frees.length - 1)]! : 16 * r.int(1, 2100);
          const want = modelAnswer(frees, probe, since);
          const got = log.freedSince(probe, since);
          if (got !== want) mismatches.push(`after ${frees.length} frees: offset ${probe} since ${since}: ${got}, model ${want}`);
        }
      }
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(log.serial).toBe(total);
  });

  test("more frees since the noted serial than the log holds: it says it cannot tell", () => {
    const log = new FreeLog();
    log.add(64);
    for (let i = 0; i < FREE_LOG_CAPACITY; i++) log.add(128 + 16 * (i % 100));
    expect(log.freedSince(64, 0)).toBeUndefined();
    expect(log.freedSince(64, 1)).toBe(false);
  });
});
