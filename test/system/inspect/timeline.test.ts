// replayTimeline: the per-keyframe facts read from a replay file, and the
// per-tick series of a re-run, against what the recording heap held after
// each tick (measured while recording, with a byte-by-byte comparison of
// its own); a step that stops matching ends the series at the divergent tick.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeapError } from "../../../src/errors.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import { NATIVE_CONSTANTS } from "../../../src/ffi/symbols.ts";
import { replayTimeline } from "../../../src/inspect/timeline.ts";
import { Replay, type StepFn } from "../../../src/snapshot/replay.ts";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";

const REGION = 1 << 20;
const TICKS = 23;
const EVERY = 5;
const heapOf = heapsClosedAfterEach(REGION);
const dir = mkdtempSync(join(tmpdir(), "privheap-timeline-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Allocates and frees by input; writes a counter, so every tick changes something. */
const step: StepFn = (heap, input, tick) => {
  const list = heap.getRoot("list");
  const n = heap.u32[list >>> 2]!;
  if (input[0]! % 3 !== 0 && n < 60) {
    const at = heap.malloc(24 + 40 * (input[0]! % 4));
    heap.u8.fill(tick & 0xff, at, at + 24);
    heap.u32[(list >>> 2) + 1 + n] = at;
    heap.u32[list >>> 2] = n + 1;
  } else if (n > 0) {
    heap.free(heap.u32[(list >>> 2) + n]!);
    heap.u32[list >>> 2] = n - 1;
  }
  heap.u32[(list >>> 2) + 63] = tick * 7;
};
const inputOf = (t: number) => Uint8Array.of((t * 7 + 1) % 11);

/** Differing bytes, one by one, outside the header's lock block (region state, not heap state). */
function naiveChanged(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  const { PH_LOCK_BLOCK_OFFSET: from, PH_LOCK_BLOCK_END: to } = NATIVE_CONSTANTS;
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0) && !(i >= from && i < to)) n++;
  return n;
}

interface Truth {
  path: string;
  used: number[];
  live: number[];
  liveBytes: number[];
  changed: number[];
  byTick: Map<number, { used: number; live: number; liveBytes: number; image: Uint8Array }>;
  before: Uint8Array;
}

function record(name: string): Truth {
  const path = join(dir, name);
  const heap = heapOf();
  heap.setRoot("list", heap.calloc(64, 4));
  const truth: Truth = { path, used: [], live: [], liveBytes: [], changed: [], byTick: new Map(), before: heap.snapshot().bytes };
  using rec = Replay.record(path, heap, { keyframeEvery: EVERY });
  let previous = truth.before;
  for (let t = 0; t < TICKS; t++) {
    step(heap, inputOf(t), t);
    rec.tick(inputOf(t));
    const s = heap.stats();
    const image = heap.snapshot().bytes;
    truth.used.push(s.usedBytes);
    truth.live.push(s.liveCount);
    truth.liveBytes.push(s.liveBytes);
    truth.changed.push(naiveChanged(previous, image));
    truth.byTick.set(t, { used: s.usedBytes, live: s.liveCount, liveBytes: s.liveBytes, image });
    previous = image;
  }
  return truth;
}

describe("replayTimeline", () => {
  test("keyframes from the file alone: their tick, used and live bytes, live count, and bytes changed since the one before", async () => {
    const truth = record("keyframes.phreplay");
    using replay = await Replay.open(truth.path);
    const tl = replayTimeline(replay);
    expect(tl.ticks).toBe(TICKS);
    expect(tl.run).toBeUndefined();
    expect([...tl.inputBytes]).toEqual(Array.from({ length: TICKS }, () => 1));
    expect(tl.keyframes.map((k) => k.after)).toEqual([-1, 4, 9, 14, 19]);
    let previous: Uint8Array = new Uint8Array(0);
    for (const k of tl.keyframes) {
      const at = k.after < 0 ? { image: truth.before, ...statsOf(truth.before) } : truth.byTick.get(k.after)!;
      expect(k).toEqual({ after: k.after, usedBytes: at.used, liveCount: at.live, liveBytes: at.liveBytes, changedBytes: naiveChanged(previous, at.image) });
      previous = at.image;
    }
  });

  test("a re-run measures every tick: bytes changed, used bytes, live count and live bytes", async () => {
    const truth = record("ticks.phreplay");
    using replay = await Replay.open(truth.path);
    const seen: number[] = [];
    const tl = replayTimeline(replay, { step, onProgress: (done, total) => seen.push(done, total) });
    const run = tl.run!;
    expect(run.verify.ok).toBe(true);
    expect(run.divergentState).toBeNull();
    expect([...run.series.usedBytes]).toEqual(truth.used);
    expect([...run.series.liveCount]).toEqual(truth.live);
    expect([...run.series.liveBytes]).toEqual(truth.liveBytes);
    expect([...run.series.changedBytes]).toEqual(truth.changed);
    expect(truth.changed.every((n) => n > 0)).toBe(true);
    expect(new Set(truth.live).size).toBeGreaterThan(3); // the series has something to show
    const total = tl.keyframes.length + TICKS;
    expect(seen.slice(-2)).toEqual([total, total]);
  });

  test("a step that stops matching ends the series at the divergent tick, with the re-run's state there", async () => {
    const truth = record("diverges.phreplay");
    using replay = await Replay.open(truth.path);
    const DIVERGE = 12;
    const changed: StepFn = (heap, input, tick) => {
      step(heap, input, tick);
      if (tick === DIVERGE) heap.u32[(heap.getRoot("list") >>> 2) + 62] = 99;
    };
    const tl = replayTimeline(replay, { step: changed });
    const run = tl.run!;
    expect(run.verify.ok).toBe(false);
    expect(run.verify.firstDivergentTick).toBe(DIVERGE);
    expect(run.series.usedBytes.length).toBe(DIVERGE);
    expect([...run.series.liveCount]).toEqual(truth.live.slice(0, DIVERGE));
    expect(run.divergentState!.checksum()).not.toBe(replay.checksum(run.verify.diffTick));
    const list = run.divergentState!.roots().list!;
    expect(new DataView(run.divergentState!.bytes.buffer).getUint32(list + 62 * 4, true)).toBe(99);
  });

  test("a step that is not a function is EINVAL; a closed replay is ECLOSED", async () => {
    const truth = record("bad.phreplay");
    const replay = await Replay.open(truth.path);
    expect(() => replayTimeline(replay, { step: 5 as unknown as StepFn })).toThrow(HeapError);
    replay.close();
    try {
      replayTimeline(replay);
      throw new Error("no error");
    } catch (e) {
      expect((e as HeapError).code).toBe("ECLOSED");
    }
  });
});

function statsOf(image: Uint8Array): { used: number; live: number; liveBytes: number } {
  const s = Snapshot.fromBytes(image).stats();
  return { used: s.usedBytes, live: s.liveCount, liveBytes: s.liveBytes };
}

describe("replayTimeline on a heap large enough for the tracker to report pages", () => {
  const BIG = 16 << 20;
  /** Writes a few scattered bytes of a 4 MiB block each tick, and allocates or frees now and then. */
  const scatter: StepFn = (heap, input, tick) => {
    const block = heap.getRoot("block");
    for (let i = 0; i < 3; i++) heap.u8[block + ((input[i]! * 16411 + tick * 4099 + i * 97) % (4 << 20))] = tick & 0xff;
    if (tick % 5 === 2) heap.setRoot("extra", heap.malloc(70_000));
    if (tick % 5 === 4) heap.free(heap.getRoot("extra"));
  };

  test("every tick's changed bytes, counted on the pages the tracker reports, equal a byte-by-byte count", async () => {
    const path = join(dir, "scatter.phreplay");
    const truth: number[] = [];
    {
      using heap = PrivateHeap.create({ size: BIG });
      heap.setRoot("block", heap.calloc(1, 4 << 20));
      using rec = Replay.record(path, heap, { keyframeEvery: 16 });
      let previous = heap.snapshot().bytes;
      for (let t = 0; t < 40; t++) {
        const input = Uint8Array.of((t * 37) & 0xff, (t * 91) & 0xff, (t * 13) & 0xff);
        scatter(heap, input, t);
        rec.tick(input);
        const now = heap.snapshot().bytes;
        truth.push(naiveChanged(previous, now));
        previous = now;
      }
      console.log(`# tracking of the re-run's heap kind: ${heap.tracking}${heap.trackingReason ? ` (${heap.trackingReason})` : ""}`);
    }
    using replay = await Replay.open(path);
    const run = replayTimeline(replay, { step: scatter }).run!;
    expect(run.verify.ok).toBe(true);
    expect([...run.series.changedBytes]).toEqual(truth);
  });
});
