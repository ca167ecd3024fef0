/**
 * Hostile replay files: seeded structure-aware mutations of real recordings
 * (every field of the header, the record framing, tick records, keyframe
 * records and their pages, and the order of records), with the checksums
 * recomputed so each mutation reaches the checks behind them. Every reader
 * must end each case in a result or a HeapError, leave the target heap
 * consistent, and stay within bounded memory and time. The long run is
 * `bun scripts/hostile-replays.ts --cases N`.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode, encode, imageChecksum, resealHeapChecksums } from "../../support/replay-craft.ts";
import { campaign, recordings } from "../../support/replay-hostile.ts";
import { seeds } from "../../support/random.ts";
import { Replay } from "../../../src/snapshot/replay.ts";

const CASES = 1200;

describe("hostile replay files", () => {
  test("the crafter reproduces a recording byte for byte, and its heap checksums are the recorder's", () => {
    const dir = mkdtempSync(join(tmpdir(), "privheap-craft-"));
    try {
      const { base, baseBytes } = recordings(dir);
      expect(Buffer.from(encode(base)).equals(Buffer.from(baseBytes))).toBe(true);
      const resealed = structuredClone(base);
      resealHeapChecksums(resealed);
      expect(Buffer.from(encode(resealed)).equals(Buffer.from(baseBytes))).toBe(true);
      const replay = Replay.fromBytes(baseBytes);
      expect(imageChecksum(replay.keyframe(3).bytes)).toBe(replay.checksum(3));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const seed of seeds(1)) {
    test(`${CASES} crafted files end in a result or a HeapError, the heap stays consistent, memory and time stay bounded (seed ${seed})`, async () => {
      const before = process.memoryUsage().rss;
      const r = await campaign(seed, CASES, 40);
      const seen = Object.fromEntries(r.outcomes);
      console.log(`seed ${seed}: ${r.cases} cases (${r.cliCases} through the command line), max ${r.maxCaseMs.toFixed(0)} ms a case, peak RSS ${(r.maxRssBytes / 2 ** 20).toFixed(0)} MiB`, seen);
      expect(r.cases).toBe(CASES);
      // The mutations reach every stage: the header and record checks, the
      // native check of keyframe images, restores, and the re-run.
      for (const outcome of ["open ECORRUPT", "open EVERSION", "open ok", "keyframe ECORRUPT", "seek ok", "verify ok", "verify diverged", "info ok", "verify exit 0"])
        expect(seen[outcome] ?? 0, `outcome "${outcome}" (seed ${seed})`).toBeGreaterThan(0);
      // Nothing a 1 MiB recording can declare costs more than a few images.
      expect(r.maxRssBytes - before).toBeLessThan(256 << 20);
    }, 60_000);
  }
});
