// Hostile snapshot inputs (test/support/snapshot-hostile.ts): structure-aware
// mutations of every part of a snapshot file and of the heap image inside,
// with the file's checksums recomputed. Each case must end in a consistent
// heap or a HeapError code (ECORRUPT, EVERSION, ESIZE): never a crash, a
// hang or memory beyond the bound. Seeded; replay a run with
// PRIVHEAP_SEED=<seed> bun test test/system/snapshot/snapshot-hostile.test.ts.
// The long campaign is scripts/hostile-snapshots.ts.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../../src/heap.ts";
import { rng, seeds } from "../../support/random.ts";
import { makeBases, makeCase, runCase } from "../../support/snapshot-hostile.ts";

const CASES = 2000;
const dir = mkdtempSync(join(process.platform === "linux" ? "/dev/shm" : tmpdir(), "privheap-hostile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test(`${CASES} hostile snapshot files and images end in a consistent heap or a code, within time and memory bounds`, async () => {
  const seed = seeds(1)[0]!;
  const r = rng(seed);
  const bases = makeBases();
  using target = PrivateHeap.create({ size: 4 << 20 });
  const clean = target.snapshot();
  const counts = new Map<string, number>();
  Bun.gc(true);
  const rss0 = process.memoryUsage().rss;
  let rssMax = rss0;
  let slowest = 0;
  let slowestKind = "";
  for (let i = 0; i < CASES; i++) {
    const c = makeCase(bases[i % bases.length]!, r);
    const t0 = performance.now();
    let outcome: string;
    try {
      outcome = await runCase(c, target, clean, join(dir, "case.phsnap"), i % 8 === 7);
    } catch (e) {
      throw new Error(`seed ${seed} case ${i}: ${(e as Error).message}; replay with PRIVHEAP_SEED=${seed}`);
    }
    if (performance.now() - t0 > slowest) {
      slowest = performance.now() - t0;
      slowestKind = c.kind;
    }
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    if (i % 250 === 249) {
      Bun.gc(true); // garbage is not what this bounds
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
    }
  }
  console.log(`seed ${seed}: ${CASES} cases`, Object.fromEntries(counts), `slowest ${slowest.toFixed(1)} ms (${slowestKind}), RSS +${((rssMax - rss0) / 2 ** 20).toFixed(0)} MiB`);
  expect(target.check()).toBe(0);
  expect(rssMax - rss0).toBeLessThan(256 * 2 ** 20); // nothing near the sizes a mutated header declares (up to 4 GiB)
  expect(counts.get("ECORRUPT") ?? 0).toBeGreaterThan(CASES / 2);
}, 60_000);
