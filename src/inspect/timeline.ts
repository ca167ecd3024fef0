/**
 * timeline.ts - a replay over time: per tick, the input's size and, when a
 * step function re-runs it, how many bytes the tick changed, the heap's used
 * bytes, its live allocations and their bytes; per keyframe, the same facts
 * read from the recorded image alone.
 *
 * A replay file holds each tick's input and checksum and every K-th tick's
 * heap, so without a step only the keyframes say what the heap held. With a
 * step the timeline re-runs the recording from the state before tick 0, as
 * `Replay.verify` does (it is that verify, measuring after each tick): the
 * checksums are compared on the way, and the first tick that differs ends
 * the per-tick series and is reported with the verify's diff.
 *
 * Cost: a keyframe rebuilds its image (as a seek does) and reads its
 * counters; a re-run tick compares, with the state before it, the pages the
 * heap's tracker saw written (tracking.ts), or the whole used prefix page by
 * page where the heap compares instead (memcmp; only differing pages are
 * walked byte by byte).
 */
import { HeapError } from "../errors.ts";
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";
import { changesOf, PrivateHeap } from "../heap.ts";
import type { LayoutMap } from "../snapshot/layout-map.ts";
import { Replay, type StepFn, type VerifyResult } from "../snapshot/replay.ts";
import { imageOfSnapshot, type Snapshot } from "../snapshot/snapshot.ts";
import { UNKNOWN } from "../tracking.ts";
import { changedByteCount, changedBytesInPages } from "./changed-bytes.ts";

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;

/** A recorded keyframe's heap, as the timeline shows it. */
export interface TimelineKeyframe {
  /** The tick it holds the state after (-1: before tick 0). */
  after: number;
  usedBytes: number;
  liveCount: number;
  liveBytes: number;
  /** Bytes that differ from the keyframe before it (the first: from an empty image). */
  changedBytes: number;
}

/** Per-tick series of a re-run, index = tick; as long as the ticks that matched. */
export interface TimelineTicks {
  /** Bytes the tick changed in the heap. */
  changedBytes: Float64Array;
  /** The heap's used bytes after the tick. */
  usedBytes: Float64Array;
  /** Live allocations after the tick. */
  liveCount: Float64Array;
  /** Usable bytes of the live allocations after the tick. */
  liveBytes: Float64Array;
}

/** What {@link replayTimeline} returns. */
export interface ReplayTimeline {
  ticks: number;
  regionSize: number;
  keyframeEvery: number;
  /** Each tick's input size in bytes. */
  inputBytes: Float64Array;
  keyframes: TimelineKeyframe[];
  /** Present when a step re-ran the recording. */
  run?: {
    series: TimelineTicks;
    /** The re-run's verify result: `firstDivergentTick` ends the series. */
    verify: VerifyResult;
    /**
     * The re-run heap's state that `verify.diff` compares (after
     * `verify.diffTick`), for a diff page; null when every tick matched.
     */
    divergentState: Snapshot | null;
  };
}

/** Options of {@link replayTimeline}. */
export interface TimelineOptions {
  /** Re-run the recording with this step to measure every tick (and verify it). */
  step?: StepFn;
  /** The step's layouts: a divergence's diff then names the changed fields. */
  layouts?: LayoutMap;
  /** Called with (done, total) as keyframes are read and ticks re-run: for progress bars. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * The timeline of `replay`: inputs and keyframes from the file, and with
 * `step` every tick re-run and measured (in a heap of the recorded size,
 * closed before returning). EINVAL for a step that is not a function; the
 * replay's own errors (ECORRUPT for a damaged keyframe, ECLOSED) pass
 * through, and whatever the step throws.
 *
 * @example
 * ```ts
 * import { PrivateHeap, Replay, replayTimeline } from "privheap";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const step = (heap: PrivateHeap, input: Uint8Array) => {
 *   if (input[0]! > 2) heap.malloc(64);
 * };
 * const path = join(mkdtempSync(join(tmpdir(), "tl-")), "run.phreplay");
 * {
 *   using heap = PrivateHeap.create({ size: 1 << 20 });
 *   using rec = Replay.record(path, heap, { keyframeEvery: 4 });
 *   for (let t = 0; t < 10; t++) {
 *     const input = new Uint8Array([t % 5]);
 *     step(heap, input);
 *     rec.tick(input);
 *   }
 * }
 * using replay = await Replay.open(path);
 * const tl = replayTimeline(replay, { step });
 * console.log(tl.keyframes.length, tl.run!.series.liveCount[9]); // 3 4
 * ```
 */
export function replayTimeline(replay: Replay, options: TimelineOptions = {}): ReplayTimeline {
  if (!(replay instanceof Replay)) throw new HeapError("EINVAL", "replayTimeline", "replay must be a Replay");
  const step = options.step;
  if (step !== undefined && typeof step !== "function") throw new HeapError("EINVAL", "replayTimeline", "step must be a function");
  const ticks = replay.ticks;
  const after = replay.keyframes;
  const total = after.length + (step === undefined ? 0 : ticks);
  const progress = options.onProgress;

  const inputBytes = new Float64Array(ticks);
  for (let t = 0; t < ticks; t++) inputBytes[t] = replay.input(t).length;

  const keyframes: TimelineKeyframe[] = [];
  // Each keyframe is compared with the one before, whose image stays in use
  // until then: a snapshot is closed (its memory given back) one step later.
  let previous: Snapshot | null = null;
  try {
    for (let k = 0; k < after.length; k++) {
      const snap = replay.keyframe(after[k]!);
      const image = imageOfSnapshot(snap, "replayTimeline");
      const before = previous === null ? new Uint8Array(0) : imageOfSnapshot(previous, "replayTimeline");
      const s = snap.stats();
      keyframes.push({ after: after[k]!, usedBytes: s.usedBytes, liveCount: s.liveCount, liveBytes: s.liveBytes, changedBytes: changedByteCount(before, image) });
      previous?.close();
      previous = snap;
      progress?.(k + 1, total);
    }
  } finally {
    previous?.close();
  }

  const timeline: ReplayTimeline = { ticks, regionSize: replay.regionSize, keyframeEvery: replay.keyframeEvery, inputBytes, keyframes };
  if (step !== undefined) timeline.run = rerun(replay, step, options.layouts, (t) => progress?.(after.length + t, total));
  return timeline;
}

/**
 * The image of the heap before each tick, kept up to date by copying only
 * the pages that changed: `bytes` (capacity grows) holds the image in
 * [0, length), zeros past it.
 */
class PreviousImage {
  bytes: Uint8Array;
  length: number;
  constructor(image: Uint8Array) {
    this.bytes = image.slice();
    this.length = image.length;
  }

  get image(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  /** Become `now`, of which only `pages` (count of them, or all when null) may differ. */
  update(now: Uint8Array, pages: Uint32Array | null, count: number): void {
    if (this.bytes.length < now.length) {
      const grown = new Uint8Array(Math.max(now.length, 2 * this.bytes.length));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    if (pages === null) {
      this.bytes.set(now);
    } else {
      for (let i = 0; i < count; i++) {
        const from = pages[i]! * PAGE;
        if (from < now.length) this.bytes.set(now.subarray(from, Math.min(from + PAGE, now.length)), from);
      }
      // Pages the image grew into were reported; bytes it gave up read as zero.
    }
    if (now.length < this.length) this.bytes.fill(0, now.length, this.length);
    this.length = now.length;
  }
}

/**
 * Re-run `replay` with `step`, measuring after each tick that matched. The
 * bytes a tick changed are counted in the pages the heap's tracker says
 * were written since the tick before (every page where it cannot say, as
 * with "compare" tracking), so a tick costs what it wrote.
 */
function rerun(replay: Replay, step: StepFn, layouts: LayoutMap | undefined, progress: (ticksDone: number) => void): NonNullable<ReplayTimeline["run"]> {
  const ticks = replay.ticks;
  const series: TimelineTicks = {
    changedBytes: new Float64Array(ticks),
    usedBytes: new Float64Array(ticks),
    liveCount: new Float64Array(ticks),
    liveBytes: new Float64Array(ticks),
  };
  using heap = PrivateHeap.create({ size: replay.regionSize });
  const changes = changesOf(heap, "replayTimeline");
  // The state before the tick: the recorded state before tick 0, then each tick's.
  const before = new PreviousImage(imageOfSnapshot(replay.keyframe(-1), "replayTimeline"));
  let verify: VerifyResult;
  try {
    // A set reports exactly from its second collect; tick 0 (after verify's
    // restore of the state before it) is compared whole.
    changes.collect(Math.ceil(before.length / PAGE));
    verify = replay.verify(heap, step, {
      layouts,
      onProgress: (t) => {
        const s = heap.stats();
        const now = heap.u8.subarray(0, s.usedBytes);
        const limit = Math.ceil(Math.max(s.usedBytes, before.length) / PAGE);
        const n = changes.collect(limit, false, true);
        if (n === UNKNOWN || t === 0) {
          series.changedBytes[t] = changedByteCount(before.image, now);
          before.update(now, null, 0);
        } else {
          series.changedBytes[t] = changedBytesInPages(before.image, now, changes.pages, n);
          before.update(now, changes.pages, n);
        }
        series.usedBytes[t] = s.usedBytes;
        series.liveCount[t] = s.liveCount;
        series.liveBytes[t] = s.liveBytes;
        progress(t + 1);
      },
    });
  } finally {
    changes.release();
  }
  const matched = verify.ok ? ticks : verify.firstDivergentTick;
  const cut = (a: Float64Array) => a.subarray(0, matched);
  return {
    series: { changedBytes: cut(series.changedBytes), usedBytes: cut(series.usedBytes), liveCount: cut(series.liveCount), liveBytes: cut(series.liveBytes) },
    verify,
    divergentState: verify.ok ? null : heap.snapshot(),
  };
}
