// Replay recording with the written-page tracker: a keyframe compares only
// the pages written since the previous one, and the file is the same, byte
// for byte, as with "compare" tracking (every page compared).
import { afterAll, describe, expect, spyOn, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../src/heap.ts";
import * as pagesModule from "../../src/snapshot/pages.ts";
import { Replay } from "../../src/snapshot/replay.ts";
import { ReplayFile } from "../../src/snapshot/replay-file.ts";
import { KEYFRAME_DELTA, KEYFRAME_FULL, parseHeader, parseRecords } from "../../src/snapshot/replay-format.ts";
import type { Snapshot } from "../../src/snapshot/snapshot.ts";
import { rng } from "../support/random.ts";

const MiB = 1 << 20;
const PAGE = 4096;
/** The writer's rhythm (docs/replay-format.md, Keyframe images): keyframe i is whole when i % 16 == 0. */
const FULL_EVERY = 16;
const dir = mkdtempSync(join(tmpdir(), "privheap-tracking-replay-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const pathFor = () => join(dir, `r${seq++}.phreplay`);

const tracked = (() => {
  using probe = PrivateHeap.create({ size: MiB });
  return probe.tracking !== "compare";
})();

type Tracking = "auto" | "compare";

/**
 * Record `ticks` ticks of a seeded workload on a new heap: allocations that
 * grow the used prefix (some of whole pages, some zeroed), frees, writes
 * (some of zeros, some of the bytes already there), restores of earlier
 * snapshots and resets. Returns the file's bytes and the heap's used prefix
 * at every keyframe (keyframe 0 is before tick 0).
 */
function record(seed: number, tracking: Tracking, ticks = 240, keyframeEvery = 3): { file: Uint8Array; images: Uint8Array[] } {
  const r = rng(seed);
  using heap = PrivateHeap.create({ size: 8 * MiB, tracking });
  let live: number[] = [];
  const saved: { snap: Snapshot; live: number[] }[] = [];
  for (let i = 0; i < 20; i++) live.push(heap.malloc(r.int(1, 20_000)));
  const images = [heap.snapshot().bytes];
  const path = pathFor();
  {
    using rec = Replay.record(path, heap, { keyframeEvery });
    for (let t = 0; t < ticks; t++) {
      const action = r.int(0, 99);
      if (action < 30) {
        const size = r.int(0, 3) === 0 ? PAGE * r.int(1, 40) : r.int(1, 3000);
        const off = r.int(0, 2) === 0 ? heap.calloc(1, size) : heap.malloc(size);
        if (off !== 0) {
          live.push(off);
          if (r.int(0, 1) === 0) heap.u8.fill(r.int(1, 255), off, off + size);
        }
      } else if (action < 50 && live.length > 0) {
        heap.free(live.splice(r.int(0, live.length - 1), 1)[0]!);
      } else if (action < 75 && live.length > 0) {
        const off = r.pick(live);
        heap.u8.fill(r.int(0, 2) === 0 ? 0 : r.int(1, 255), off, off + heap.usableSize(off));
      } else if (action < 85 && live.length > 0) {
        const off = r.pick(live); // written with the bytes it holds: reported, not changed
        heap.u8.copyWithin(off, off, off + heap.usableSize(off));
      } else if (action < 90) {
        saved.push({ snap: heap.snapshot(), live: live.slice() });
      } else if (action < 95 && saved.length > 0) {
        const s = r.pick(saved);
        heap.restore(s.snap);
        live = s.live.slice();
      } else if (action < 97) {
        heap.reset();
        live = [];
      }
      rec.tick(Uint8Array.of(t & 0xff, action));
      if ((t + 1) % keyframeEvery === 0) images.push(heap.snapshot().bytes);
    }
  }
  expect(heap.check()).toBe(0);
  return { file: new Uint8Array(readFileSync(path)), images };
}

/** Indices of the pages of `image` that are not all zero. */
function nonzeroPages(image: Uint8Array): number[] {
  const out: number[] = [];
  for (let p = 0; p < image.length / PAGE; p++) if (image.subarray(p * PAGE, (p + 1) * PAGE).some((b) => b !== 0)) out.push(p);
  return out;
}

/** Indices of the pages a delta of `image` over `base` stores: those that differ, and every one past base's end. */
function deltaPages(image: Uint8Array, base: Uint8Array): number[] {
  const out: number[] = [];
  for (let p = 0; p < image.length / PAGE; p++) {
    const page = image.subarray(p * PAGE, (p + 1) * PAGE);
    if ((p + 1) * PAGE > base.length || !page.every((b, i) => b === base[p * PAGE + i])) out.push(p);
  }
  return out;
}

const SEEDS = [1, 2, 3, 42, 1234];

describe("replay recording with the written-page tracker", () => {
  test("each keyframe stores exactly what the format says: whole every 16th, else the smaller of delta and whole", () => {
    for (const tracking of ["auto", "compare"] as const) {
      for (const seed of SEEDS.slice(0, 2)) {
        const { file, images } = record(seed, tracking);
        const parsed = parseRecords(file, parseHeader(file, "test", "run"), "test");
        expect(parsed.torn).toBeNull();
        expect(parsed.keyframes.length).toBe(images.length);
        const kinds = new Set<number>();
        for (const [i, k] of parsed.keyframes.entries()) {
          const image = images[i]!;
          const whole = nonzeroPages(image);
          const delta = i === 0 ? [] : deltaPages(image, images[i - 1]!);
          const kind = i % FULL_EVERY !== 0 && delta.length < whole.length ? KEYFRAME_DELTA : KEYFRAME_FULL;
          const where = `${tracking}, seed ${seed}, keyframe ${i}`;
          expect(k.kind, where).toBe(kind);
          expect(k.delta.length, where).toBe(image.length);
          expect(Array.from(k.delta.pages), where).toEqual(kind === KEYFRAME_FULL ? whole : delta);
          k.delta.pages.forEach((p, j) => {
            if (!Buffer.from(k.delta.data.subarray(j * PAGE, (j + 1) * PAGE)).equals(image.subarray(p * PAGE, (p + 1) * PAGE))) throw new Error(`${where}: page ${p} is not the image's`);
          });
          kinds.add(k.kind);
        }
        expect([...kinds].sort()).toEqual([KEYFRAME_FULL, KEYFRAME_DELTA]); // the workload makes both kinds
        expect(new Set(images.map((i) => i.length)).size).toBeGreaterThan(5); // and the used prefix grows and shrinks
      }
    }
  });

  test.skipIf(!tracked)("the file is the same byte for byte on a tracked heap and a compare heap", () => {
    for (const seed of SEEDS) {
      const a = record(seed, "auto").file;
      const b = record(seed, "compare").file;
      expect(a.length, `seed ${seed}`).toBe(b.length);
      expect(Buffer.from(a).equals(Buffer.from(b)), `seed ${seed}`).toBe(true);
    }
  });

  test.skipIf(!tracked)("on a tracked heap a keyframe compares only the pages written since the last one", () => {
    const pagesCompared = (tracking: Tracking) => {
      using heap = PrivateHeap.create({ size: 16 * MiB, tracking });
      const state = heap.malloc(4 * MiB);
      heap.u8.fill(7, state, state + 4 * MiB);
      const whole = spyOn(pagesModule, "diffPages");
      const listed = spyOn(pagesModule, "diffListed");
      try {
        using rec = Replay.record(pathFor(), heap, { keyframeEvery: 5 });
        for (let t = 0; t < 50; t++) {
          heap.u8[state + ((t * 37) % 1024) * PAGE]! ^= 1; // one page per tick
          rec.tick(Uint8Array.of(t));
        }
        // Calls after the first keyframe's (the recorder's first look at the heap compares it whole).
        return { whole: whole.mock.calls.slice(1).map((c) => c[2]), listed: listed.mock.calls.slice(1).map((c) => c[3]) };
      } finally {
        whole.mockRestore();
        listed.mockRestore();
      }
    };
    const t = pagesCompared("auto");
    expect(t.whole).toEqual([]);
    // Ten keyframes, each comparing the 5 pages written with the last image and then with zero.
    expect(t.listed.length).toBe(20);
    for (const n of t.listed) expect(n).toBeLessThanOrEqual(5);
    const c = pagesCompared("compare");
    expect(c.whole.length).toBe(10);
    for (const n of c.whole) expect(n).toBeGreaterThan(1024);
  });

  for (const [what, fail] of [
    ["its pages cannot be compared", () => spyOn(pagesModule, "diffListed").mockImplementationOnce(() => { throw new Error("injected"); })],
    ["its write fails", () => spyOn(ReplayFile.prototype, "append").mockImplementationOnce(() => { throw new Error("injected"); })],
  ] as const) {
    test(`a keyframe that fails after looking at the heap (${what}) loses no page: the next one stores it`, () => {
      using heap = PrivateHeap.create({ size: 8 * MiB });
      const state = heap.malloc(64 * PAGE);
      heap.u8.fill(1, state, state + 64 * PAGE);
      const path = pathFor();
      const images = new Map<number, Uint8Array>();
      {
        using rec = Replay.record(path, heap, { keyframeEvery: 4 });
        for (let t = 0; t < 16; t++) {
          heap.u8[state + t * 3 * PAGE]! ^= 0x5a; // written before the failing keyframe's look
          if (t === 7) {
            const spy = fail();
            try {
              expect(() => rec.tick(Uint8Array.of(t))).toThrow("injected");
            } finally {
              spy.mockRestore();
            }
            heap.u8[state + 63 * PAGE]! ^= 1; // and after it
          }
          rec.tick(Uint8Array.of(t));
          if ((t + 1) % 4 === 0) images.set(t, heap.u8.slice(0, heap.usedBytes));
        }
      }
      using replay = Replay.openSync(path);
      expect(replay.ticks).toBe(16);
      for (const [t, image] of images) expect(Buffer.from(replay.keyframe(t).bytes).equals(Buffer.from(image)), `keyframe after tick ${t}`).toBe(true);
    });
  }
});
