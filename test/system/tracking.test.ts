// The written-page tracker of a heap (src/tracking.ts): change sets report
// at least every page whose bytes changed since their consumer last looked,
// whichever consumer looked in between, and the rollback ring gives the same
// results with the system's tracker as with tracking: "compare", through
// sparse and dense writes, growth, frees, restores and resets.
import { describe, expect, test } from "bun:test";
import { changesOf, pageTrackerOf, PrivateHeap } from "../../src/heap.ts";
import { SnapshotRing } from "../../src/snapshot/ring.ts";
import { SMALL_PAGES, UNKNOWN } from "../../src/tracking.ts";
import { heapChecksum } from "../../src/checksum.ts";
import { rng, type Rng } from "../support/random.ts";
import { runScript, SRC } from "../support/bun.ts";
import { join } from "node:path";

const PAGE = 4096;
const MiB = 1 << 20;

const probe = PrivateHeap.create({ size: MiB });
const SYSTEM = probe.tracking;
const WHY = probe.trackingReason;
probe.close();
const noTracker = SYSTEM === "compare";
if (noTracker) console.log(`# the system's tracker is not available here (${WHY}): the cases that need it are skipped`);

/** Pages of [0, pages) whose bytes differ between a and b. */
function changedPages(a: Uint8Array, b: Uint8Array, pages: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < pages; p++) if (Buffer.compare(a.subarray(p * PAGE, (p + 1) * PAGE), b.subarray(p * PAGE, (p + 1) * PAGE)) !== 0) out.push(p);
  return out;
}

/** The allocation dense writes go to: a root, so it survives rollbacks, restores and (made again) resets. */
const STATE_BYTES = 3 * MiB;
function stateOf(heap: PrivateHeap): number {
  let at = heap.getRoot("state");
  if (at === 0) {
    at = heap.malloc(STATE_BYTES);
    heap.setRoot("state", at);
  }
  return at;
}

/** Random writes: allocations, frees, and bytes written through the views; `dense`: a byte of every page of the state. */
function scribble(heap: PrivateHeap, r: Rng, live: number[], dense = false): void {
  const state = stateOf(heap);
  if (dense) {
    const v = r.int(1, 255);
    for (let at = state + r.int(0, PAGE - 1); at < state + STATE_BYTES; at += PAGE) heap.u8[at] = v;
    return;
  }
  const ops = r.int(1, 12);
  for (let i = 0; i < ops; i++) {
    const k = r.int(0, 9);
    if (k === 9) {
      heap.u8[state + r.int(0, STATE_BYTES - 1)] = r.int(0, 255);
    } else if (k < 3 || live.length === 0) {
      const n = r.pick([16, 200, 5000, 70_000, 300_000]);
      try {
        const off = heap.malloc(n);
        heap.u8.fill(r.int(1, 255), off, off + Math.min(n, 20_000));
        live.push(off);
      } catch {
        // full: fine, the next op frees
      }
    } else if (k < 5) {
      heap.free(live.splice(r.int(0, live.length - 1), 1)[0]!);
    } else {
      const off = r.pick(live);
      heap.u8[off] = r.int(0, 255);
    }
  }
}

describe.skipIf(noTracker)("change sets", () => {
  test("each set reports at least the pages changed since its own last collect, whoever collected in between", { timeout: 60_000 }, () => {
    for (const seed of [1, 2, 3]) {
      const r = rng(seed);
      using heap = PrivateHeap.create({ size: 8 * MiB });
      heap.malloc(MiB); // a prefix the tracker looks at (past SMALL_PAGES)
      const sets = [changesOf(heap, "test"), changesOf(heap, "test")];
      const copies: Uint8Array[] = [];
      const limits: number[] = [];
      const live: number[] = [];
      for (const [i, s] of sets.entries()) {
        const limit = heap.usedBytes / PAGE;
        expect(s.collect(limit)).toBe(UNKNOWN); // no moment to compare with yet
        copies[i] = heap.u8.slice(0, heap.size);
        limits[i] = limit;
      }
      for (let round = 0; round < 60; round++) {
        scribble(heap, r, live, round % 17 === 16);
        const i = r.int(0, 1);
        const s = sets[i]!;
        const limit = heap.usedBytes / PAGE;
        const n = s.collect(limit, false, true);
        expect(n, `seed ${seed} round ${round}`).not.toBe(UNKNOWN);
        const got = Array.from(s.pages.subarray(0, n));
        const reported = new Set(got);
        for (const p of changedPages(heap.u8, copies[i]!, limit)) expect(reported.has(p), `seed ${seed} round ${round}: page ${p} changed, not reported`).toBe(true);
        for (let p = limits[i]!; p < limit; p++) expect(reported.has(p), `page ${p} above the last limit`).toBe(true);
        for (let k = 0; k < got.length; k++) {
          expect(got[k]!).toBeLessThan(limit);
          if (k > 0) expect(got[k]!).toBeGreaterThan(got[k - 1]!);
        }
        copies[i] = heap.u8.slice(0, heap.size);
        limits[i] = limit;
      }
    }
  });

  test("a forgotten set, and every set of a closed heap, is UNKNOWN; a released set gets no more reports", () => {
    const heap = PrivateHeap.create({ size: 4 * MiB });
    heap.malloc(MiB); // a prefix the tracker looks at (past SMALL_PAGES)
    const a = changesOf(heap, "test");
    const b = changesOf(heap, "test");
    const limit = heap.usedBytes / PAGE;
    a.collect(limit);
    b.collect(limit);
    heap.u8[heap.malloc(100)] = 1;
    expect(a.collect(limit)).toBeGreaterThan(0);
    a.forget();
    expect(a.collect(limit)).toBe(UNKNOWN);
    expect(a.collect(limit)).toBe(0); // exact again, and nothing written since
    b.release();
    expect(b.collect(limit)).toBe(UNKNOWN);
    heap.close();
    expect(a.collect(limit)).toBe(UNKNOWN);
  });

  test("dense writes make the tracker stop watching for a while, and sparse ones make it watch again; reports stay complete", { timeout: 60_000 }, () => {
    using heap = PrivateHeap.create({ size: 16 * MiB });
    const data = heap.malloc(8 * MiB);
    const set = changesOf(heap, "test");
    const tracker = pageTrackerOf(heap);
    const limit = () => heap.usedBytes / PAGE;
    set.collect(limit());
    let copy = heap.u8.slice(0, heap.size);
    const check = (what: string) => {
      const n = set.collect(limit());
      expect(n, what).not.toBe(UNKNOWN);
      const reported = new Set(set.pages.subarray(0, n));
      for (const p of changedPages(heap.u8, copy, limit())) expect(reported.has(p), `${what}: page ${p}`).toBe(true);
      copy = heap.u8.slice(0, heap.size);
    };
    for (let t = 0; t < 3; t++) {
      for (let at = data; at < data + 8 * MiB; at += PAGE) heap.u8[at]! ^= 1; // every page of the data
      check(`dense ${t}`);
    }
    expect(tracker.keeping).toBe(true);
    let watching = false;
    for (let t = 0; t < 200 && !watching; t++) {
      heap.u8[data + (t % 100) * PAGE]! ^= 1; // one page
      check(`sparse ${t}`);
      watching = !tracker.keeping;
    }
    expect(watching).toBe(true);
  });
});

describe("the rollback ring gives the same results with either tracker", () => {
  test.skipIf(noTracker)("random frames, rollbacks, dense frames, restores and resets", { timeout: 120_000 }, () => {
    for (const seed of [11, 12, 13, 14]) {
      const r = rng(seed);
      const heaps = [PrivateHeap.create({ size: 8 * MiB }), PrivateHeap.create({ size: 8 * MiB, tracking: "compare" })];
      expect(heaps[0]!.tracking).toBe(SYSTEM);
      expect(heaps[1]!.tracking).toBe("compare");
      const rings = heaps.map((h) => SnapshotRing.create(h, { capacity: 6 }));
      const lives: number[][] = [[], []];
      const snaps = new Map<number, ReturnType<PrivateHeap["snapshot"]>[]>();
      let frame = 0;
      for (let step = 0; step < 120; step++) {
        const k = r.int(0, 19);
        const state = r.next(); // both heaps get the same random choices
        for (const [i, heap] of heaps.entries()) {
          const rr = rng(Math.floor(state * 2 ** 32));
          const ring = rings[i]!;
          if (k < 10) scribble(heap, rr, lives[i]!, k === 9);
          else if (k < 14) ring.save(frame + 1);
          else if (k < 17 && ring.size > 0) {
            const target = ring.oldest! + Math.floor(state * ring.size);
            ring.load(target);
            lives[i] = []; // offsets of the loaded frame are unknown here: start over
          } else if (k === 17) {
            snaps.set(i, [heap.snapshot()]);
            scribble(heap, rr, lives[i]!);
            heap.restore(snaps.get(i)![0]!);
            lives[i] = [];
          } else if (k === 18) {
            heap.reset();
            lives[i] = [];
          } else ring.clear();
        }
        if (k >= 10 && k < 14) frame++;
        if (k >= 14 && k < 17 && rings[0]!.size > 0) frame = rings[0]!.newest!;
        const [a, b] = heaps as [PrivateHeap, PrivateHeap];
        const what = `seed ${seed} step ${step} (op ${k})`;
        expect(b.usedBytes, what).toBe(a.usedBytes);
        expect(b.checksum(), what).toBe(a.checksum());
        expect(Buffer.compare(a.u8.subarray(0, a.size), b.u8.subarray(0, b.size)), what).toBe(0);
        expect([rings[1]!.size, rings[1]!.oldest, rings[1]!.newest, rings[1]!.storedBytes], what).toEqual([rings[0]!.size, rings[0]!.oldest, rings[0]!.newest, rings[0]!.storedBytes]);
        expect(a.check(), what).toBe(0);
      }
      for (const ring of rings) ring.close();
      for (const heap of heaps) heap.close();
    }
  });
});

describe("checksum() follows the tracker and always equals a full recomputation", () => {
  test("random writes, dense frames, restores, resets, growth", { timeout: 60_000 }, () => {
    for (const seed of [21, 22, 23]) {
      const r = rng(seed);
      using heap = PrivateHeap.create({ size: 8 * MiB });
      using other = PrivateHeap.create({ size: 8 * MiB, tracking: "compare" });
      const live: number[] = [];
      let snap = heap.snapshot();
      for (let step = 0; step < 150; step++) {
        const k = r.int(0, 19);
        if (k < 14) scribble(heap, r, live, k === 13);
        else if (k < 16) snap = heap.snapshot();
        else if (k < 18) {
          heap.restore(snap);
          live.length = 0;
        } else if (k === 18) {
          heap.reset();
          live.length = 0;
        } else if (live.length > 0) heap.u8[r.pick(live) + 1]! ^= 0xff;
        const what = `seed ${seed} step ${step} (op ${k})`;
        const full = heapChecksum(heap.u8.subarray(0, heap.usedBytes));
        expect(heap.checksum(), what).toBe(full);
        other.restore(heap.snapshot());
        expect(other.checksum(), what).toBe(full);
      }
    }
  });
});

describe.skipIf(noTracker)("small states", () => {
  test("a used prefix of at most SMALL_PAGES pages is never looked at: every collect is UNKNOWN, and no write faults", () => {
    using heap = PrivateHeap.create({ size: 4 * MiB });
    const set = changesOf(heap, "test");
    const limit = () => heap.usedBytes / PAGE;
    expect(limit()).toBeLessThanOrEqual(SMALL_PAGES);
    for (let i = 0; i < 3; i++) {
      heap.u8[heap.malloc(64)] = i + 1;
      expect(set.collect(limit())).toBe(UNKNOWN);
    }
    heap.malloc(MiB); // past it: the next collects are exact again
    set.collect(limit());
    expect(set.collect(limit())).not.toBe(UNKNOWN);
  });
});

describe.skipIf(noTracker)("the system's tracker is stopped once", () => {
  test("heaps whose tracker stopped itself, then dropped without close(), are collected without stopping it again", async () => {
    const r = await runScript(`
      import { PrivateHeap, pageTrackerOf } from ${JSON.stringify(join(SRC, "heap.ts"))};
      for (let i = 0; i < 50; i++) {
        const heap = PrivateHeap.create({ size: 1 << 20 });
        pageTrackerOf(heap).take(heap.size / 4096);
        pageTrackerOf(heap).stop("the system stopped tracking (a test)"); // as a failed take does
      }
      for (let i = 0; i < 5; i++) { Bun.gc(true); await new Promise((done) => setTimeout(done, 10)); }
      console.log("collected");
    `);
    expect([r.exitCode, r.stdout.trim(), r.stderr]).toEqual([0, "collected", ""]);
  });
});

