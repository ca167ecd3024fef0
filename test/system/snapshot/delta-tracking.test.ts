// Delta snapshots with the written-page tracker: a delta against the heap's
// latest full snapshot compares only the pages written since it, and every
// delta stores the same pages and rebuilds the same image as with "compare"
// tracking (every page compared).
import { describe, expect, spyOn, test } from "bun:test";
import { changesOf, PrivateHeap } from "../../../src/heap.ts";
import * as pagesModule from "../../../src/snapshot/pages.ts";
import type { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { ChangeSet } from "../../../src/tracking.ts";
import { rng } from "../../support/random.ts";

const MiB = 1 << 20;
const PAGE = 4096;
/** Byte offset of the header's touched mark (pages, u32). */
const TOUCHED_AT = 60;

const tracked = (() => {
  using probe = PrivateHeap.create({ size: MiB });
  return probe.tracking !== "compare";
})();

/** Pages a delta of `image` over `base` must store: those that differ, and every one past base's end. */
function expectedPages(image: Uint8Array, base: Uint8Array): number {
  let n = 0;
  for (let p = 0; p < image.length / PAGE; p++) {
    const page = image.subarray(p * PAGE, (p + 1) * PAGE);
    if ((p + 1) * PAGE > base.length || !Buffer.from(page).equals(base.subarray(p * PAGE, (p + 1) * PAGE))) n++;
  }
  return n;
}

/**
 * A seeded run on a new heap: allocations (growing the used prefix), frees,
 * writes (some of the bytes already there), restores, resets; full
 * snapshots (some into an older one) and deltas against the latest full
 * snapshot, an older one, a delta, and another heap's snapshot. Returns,
 * for every delta, its stored bytes and its rebuilt image; checks each
 * against the heap's bytes as they were.
 */
function run(seed: number, tracking: "auto" | "compare", other: Snapshot): { stored: number[]; images: Uint8Array[] } {
  const r = rng(seed);
  using heap = PrivateHeap.create({ size: 8 * MiB, tracking });
  const addBallast = () => {
    const ballast = heap.malloc(512 * 1024); // a prefix the tracker looks at: past SMALL_PAGES
    heap.u8.fill(1, ballast, ballast + 512 * 1024);
  };
  addBallast();
  const live: number[] = [];
  const fulls: Snapshot[] = [heap.snapshot()];
  const stored: number[] = [];
  const images: Uint8Array[] = [];
  let lastDelta: Snapshot | null = null;
  for (let i = 0; i < 150; i++) {
    const action = r.int(0, 99);
    if (action < 25) {
      const size = r.int(0, 3) === 0 ? PAGE * r.int(1, 30) : r.int(1, 3000);
      const off = heap.malloc(size);
      if (off !== 0) {
        live.push(off);
        heap.u8.fill(r.int(0, 255), off, off + size);
      }
    } else if (action < 35 && live.length > 0) {
      heap.free(live.splice(r.int(0, live.length - 1), 1)[0]!);
    } else if (action < 50 && live.length > 0) {
      const off = r.pick(live);
      if (r.int(0, 1) === 0) heap.u8.copyWithin(off, off, off + heap.usableSize(off)); // written, not changed
      else heap.u8[off + r.int(0, heap.usableSize(off) - 1)]! ^= 1 + r.int(0, 254);
    } else if (action < 55) {
      heap.restore(r.pick(fulls));
      live.length = 0;
    } else if (action < 57) {
      heap.reset();
      addBallast();
      live.length = 0;
    } else if (action < 65) {
      fulls.push(r.int(0, 2) === 0 ? heap.snapshot({ into: r.pick(fulls) }) : heap.snapshot());
    } else {
      const which = r.int(0, 9);
      const base = which < 6 ? fulls[fulls.length - 1]! : which < 8 ? r.pick(fulls) : which < 9 && lastDelta !== null ? lastDelta : other;
      const now = heap.u8.slice(0, heap.usedBytes); // what the delta must rebuild
      const delta = heap.snapshot({ base });
      const image = delta.bytes;
      const where = `${tracking}, seed ${seed}, step ${i}`;
      expect(Buffer.from(image).equals(Buffer.from(now)), where).toBe(true);
      expect(delta.storedBytes, where).toBe(expectedPages(now, base.bytes) * PAGE);
      stored.push(delta.storedBytes);
      images.push(image);
      lastDelta = delta;
    }
  }
  expect(heap.check()).toBe(0);
  return { stored, images };
}

describe("delta snapshots with the written-page tracker", () => {
  test("deltas store the pages that differ and rebuild the heap's image, with either tracker, the same way", () => {
    using elsewhere = PrivateHeap.create({ size: 8 * MiB });
    elsewhere.u8.fill(9, elsewhere.malloc(5 * PAGE), elsewhere.usedBytes);
    const other = elsewhere.snapshot();
    for (const seed of [1, 2, 3, 77]) {
      const whole = spyOn(pagesModule, "diffPages");
      let a: ReturnType<typeof run>;
      try {
        a = run(seed, "auto", other);
        // Against the latest full snapshot, a tracked heap compared only what was written.
        if (tracked) expect(whole.mock.calls.length).toBeLessThan(a.images.length * 0.7);
      } finally {
        whole.mockRestore();
      }
      const c = run(seed, "compare", other);
      expect(a.stored).toEqual(c.stored);
      expect(a.images.length).toBe(c.images.length);
      expect(a.images.length).toBeGreaterThan(20);
      a.images.forEach((img, i) => expect(Buffer.from(img).equals(Buffer.from(c.images[i]!))).toBe(true));
    }
  });

  test("several deltas against one base each hold every change since the base", () => {
    for (const tracking of ["auto", "compare"] as const) {
      using heap = PrivateHeap.create({ size: 8 * MiB, tracking });
      const block = heap.malloc(64 * PAGE);
      heap.snapshot({ base: heap.snapshot() }); // the heap takes deltas: its full snapshots are tracked from now on
      const base = heap.snapshot();
      for (let k = 1; k <= 6; k++) {
        heap.u8[block + k * PAGE * 5]! ^= 0xff;
        const delta = heap.snapshot({ base });
        expect(delta.storedBytes, `${tracking}, delta ${k}`).toBe(k * PAGE);
        expect(Buffer.from(delta.bytes).equals(heap.u8.subarray(0, heap.usedBytes))).toBe(true);
      }
    }
  });

  test.skipIf(!tracked)("a delta against the latest full snapshot compares only the pages written since it", () => {
    using heap = PrivateHeap.create({ size: 64 * MiB });
    const state = heap.malloc(16 * MiB);
    heap.u8.fill(3, state, state + 16 * MiB);
    const older = heap.snapshot();
    heap.snapshot({ base: older }); // the first delta compares every page and starts the tracking
    heap.u8[state + 5 * PAGE]! ^= 1; // before the base: not the deltas' business
    const base = heap.snapshot();
    const whole = spyOn(pagesModule, "diffPages");
    const listed = spyOn(pagesModule, "diffListed");
    try {
      for (let k = 1; k <= 4; k++) {
        for (let j = 0; j < 3; j++) heap.u8[state + (k * 101 + j * 7) * PAGE]! ^= 1;
        expect(heap.snapshot({ base }).storedBytes).toBe(3 * k * PAGE);
      }
      const next = heap.snapshot({ into: heap.snapshot() }); // a new base: the count starts again
      for (let j = 0; j < 2; j++) heap.u8[state + (900 + j) * PAGE]! ^= 1;
      expect(heap.snapshot({ base: next }).storedBytes).toBe(2 * PAGE);
      expect(whole).not.toHaveBeenCalled();
      expect(listed.mock.calls.map((c) => c[3])).toEqual([3, 6, 9, 12, 2]); // every page written since the base, none more
      heap.snapshot({ base: older }); // not the latest: every page
      expect(whole).toHaveBeenCalledTimes(1);
      expect(whole.mock.calls[0]![2]).toBe(older.byteLength / PAGE);
    } finally {
      whole.mockRestore();
      listed.mockRestore();
    }
  });

  test("a snapshot refilled by another heap is compared whole, not as this heap's base", () => {
    using a = PrivateHeap.create({ size: 8 * MiB });
    using b = PrivateHeap.create({ size: 8 * MiB });
    const x = a.malloc(8 * PAGE);
    a.u8.fill(1, x, x + 8 * PAGE);
    const y = b.malloc(8 * PAGE);
    b.u8.fill(2, y, y + 8 * PAGE);
    a.snapshot({ base: a.snapshot() });
    const s = a.snapshot(); // a's base
    b.snapshot({ into: s }); // now b's bytes; a has written nothing since
    const delta = a.snapshot({ base: s });
    expect(Buffer.from(delta.bytes).equals(a.u8.subarray(0, a.usedBytes))).toBe(true);
    expect(delta.storedBytes).toBe(expectedPages(a.u8.subarray(0, a.usedBytes), b.u8.subarray(0, b.usedBytes)) * PAGE);
    expect(delta.storedBytes).toBeGreaterThan(0);
  });

  test("a heap that never takes a delta never looks at its tracker for snapshots", () => {
    const collect = spyOn(ChangeSet.prototype, "collect");
    try {
      using heap = PrivateHeap.create({ size: 4 * MiB });
      heap.malloc(3 * PAGE);
      const s = heap.snapshot();
      heap.snapshot({ into: s });
      expect(collect).not.toHaveBeenCalled();
      heap.snapshot({ base: s });
      const calls = collect.mock.calls.length;
      heap.snapshot();
      expect(collect.mock.calls.length).toBe(calls + 1); // from the first delta on, each full snapshot is a base
    } finally {
      collect.mockRestore();
    }
  });
});

describe("restoring a delta over the heap's latest full snapshot", () => {
  /** Random allocations, frees and writes, some growing the prefix and touched mark. */
  function churn(heap: PrivateHeap, r: ReturnType<typeof rng>, live: number[]): void {
    for (let i = r.int(1, 8); i > 0; i--) {
      const k = r.int(0, 9);
      if (k < 4 || live.length === 0) {
        try {
          const off = heap.malloc(r.pick([24, 3000, 20_000, 300_000]));
          heap.u8[off] = r.int(1, 255);
          live.push(off);
        } catch {
          // full
        }
      } else if (k < 7) heap.free(live.splice(r.int(0, live.length - 1), 1)[0]!);
      else heap.u8[r.pick(live) + r.int(0, 20)] = r.int(0, 255);
    }
  }

  test.skipIf(!tracked)("writes the delta's pages and the pages written since the base, not the prefix", () => {
    using heap = PrivateHeap.create({ size: 32 * MiB });
    const data = heap.malloc(16 * MiB);
    heap.u8.fill(3, data, data + 16 * MiB);
    heap.snapshot({ base: heap.snapshot() }); // the heap takes deltas from now on
    const base = heap.snapshot();
    for (const p of [10, 500, 3000]) heap.u8[data + p * PAGE] = 7;
    const delta = heap.snapshot({ base });
    for (const p of [11, 12, 900, 2000, 3500]) heap.u8[data + p * PAGE] = 9;
    const watch = changesOfHeap(heap);
    heap.restore(delta);
    const n = watch.collect(touchedPages(heap));
    expect(n).toBeGreaterThanOrEqual(5); // the pages written since the delta go back
    expect(n).toBeLessThanOrEqual(3 + 5 + 4); // and the delta's, and the header's: not 4,000 pages
    expect(heap.checksum()).toBe(delta.checksum());
    for (const p of [11, 12, 900, 2000, 3500]) expect(heap.u8[data + p * PAGE]).toBe(3);
    for (const p of [10, 500, 3000]) expect(heap.u8[data + p * PAGE]).toBe(7);
  });

  test.skipIf(!tracked)("over a header whose touched mark was overwritten (a write through offset 0), it restores the delta's image whole", () => {
    using heap = PrivateHeap.create({ size: 16 * MiB });
    const data = heap.malloc(4 * MiB);
    heap.u8.fill(3, data, data + 4 * MiB);
    heap.snapshot({ base: heap.snapshot() }); // the heap takes deltas from now on
    const base = heap.snapshot();
    heap.u8[data + 5 * PAGE] = 8;
    const delta = heap.snapshot({ base });
    heap.u32[TOUCHED_AT / 4] = 0xfffffff0; // far past the region
    heap.restore(delta);
    expect(heap.check()).toBe(0);
    expect(heap.checksum()).toBe(delta.checksum());
  });

  test.skipIf(!tracked)("gives the same bytes as a full restore", { timeout: 60_000 }, () => {
    for (const seed of [31, 32, 33, 34, 35]) {
      const r = rng(seed);
      using heap = PrivateHeap.create({ size: 8 * MiB });
      using twin = PrivateHeap.create({ size: 8 * MiB, tracking: "compare" });
      const live: number[] = [];
      churn(heap, r, live);
      const first = heap.snapshot();
      heap.snapshot({ base: first }); // the heap takes deltas from now on
      const base = heap.snapshot(); // its latest full snapshot
      const deltas: Snapshot[] = [];
      for (let step = 0; step < 40; step++) {
        churn(heap, r, live);
        const k = r.int(0, 9);
        if (k < 3) deltas.push(heap.snapshot({ base }));
        else if (k < 6 && deltas.length > 0) {
          const delta = r.pick(deltas);
          twin.u8.set(heap.u8); // the same region, bytes above the prefix included
          heap.restore(delta);
          twin.restore(delta); // a compare heap: the whole image
          const what = `seed ${seed} step ${step}`;
          expect(Buffer.compare(heap.u8, twin.u8), what).toBe(0);
          expect(heap.check(), what).toBe(0);
          expect(heap.checksum(), what).toBe(delta.checksum());
          live.length = 0;
        } else if (k === 6) {
          heap.restore(first); // a full snapshot that is not the base: the full path
          live.length = 0;
        } else if (k === 7) {
          heap.reset();
          live.length = 0;
        }
      }
    }
  });
});

const limits = new WeakMap<ChangeSet, number>();
const touchedPages = (heap: PrivateHeap) => Math.ceil(heap.stats().touchedBytes / PAGE);
const limitOf = (set: ChangeSet) => limits.get(set)!;

/** A change set of the heap, looking from now on at its touched pages (a larger range would count every page above them as written). */
function changesOfHeap(heap: PrivateHeap): ChangeSet {
  const set = changesOf(heap, "test");
  limits.set(set, touchedPages(heap));
  set.collect(limitOf(set));
  return set;
}
