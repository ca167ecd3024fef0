/**
 * replay.ts - record a deterministic simulation's inputs and keyframes, then
 * reproduce any tick and find the first one where a re-run stops matching.
 *
 * A simulation is a step function (heap, input, tick) -> new heap state;
 * it keeps what it binds to one heap (cursors, scratch) in that heap's
 * StepContext, since seek and verify step heaps of their own.
 * The recorder appends, for every tick, the tick's input and a checksum of
 * the heap after the step, and every K ticks a keyframe: the heap's used
 * prefix, as the pages that differ from the previous keyframe when that is
 * smaller (every FULL_EVERY-th keyframe is whole, so a seek rebuilds at most
 * that many). A rewind cuts the recording back to a tick, for a rollback
 * game that replaces predicted ticks. A keyframe record is stored
 * zstd-compressed when that is smaller (unless `compress: false`). The file
 * format is in docs/replay-format.md.
 *
 * A keyframe costs what changed since the previous one: the recorder keeps
 * that keyframe's image and which of its pages are all zero, and compares
 * only the pages the heap's tracker reports written since (every page with
 * "compare" tracking, heap.tracking). The file is the same either way.
 *
 * Ticks count from 0; "the state after tick t" is what the heap held when
 * `recorder.tick()` recorded tick t. Keyframe -1 is the state before tick 0.
 */
import { runAsync, runSync } from "./file-io.ts";
import { HAS_ZSTD } from "#runtime";
import { requireZstd } from "../platform/zstd.ts";
import { readReplayFile, ReplayFile } from "./replay-file.ts";
import { ReplayMemory } from "./replay-memory.ts";
import type { ReplaySink } from "./replay-sink.ts";
import { heapChecksum } from "../checksum.ts";
import { HeapError } from "../errors.ts";
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";
import { backendOf, changesOf, PrivateHeap, symbolsOf, underHeapLock } from "../heap.ts";
import type { Pointer } from "bun:ffi";
import type { ChangeSet } from "../tracking.ts";
import { changedPages, overlay } from "./delta.ts";
import { StepContext } from "./step-context.ts";
import { copyPages, diffListed, diffPages, JS_PAGES, nativePages, type PageOps, sequence } from "./pages.ts";
import { checkBytes, restoreImage, Snapshot, snapshotOfChecked } from "./snapshot.ts";
import type { DiffOptions, SnapshotDiff } from "./diff.ts";
import type { LayoutMap } from "./layout-map.ts";
import {
  compressKeyframeRecord,
  encodeHeader,
  fillKeyframePages,
  frameRecord,
  keyframePayloadBytes,
  KEYFRAME_DELTA,
  KEYFRAME_FULL,
  MAX_INPUT_BYTES,
  parseHeader,
  parseRecords,
  RECORD_HEAD_BYTES,
  RECORD_KEYFRAME,
  RECORD_TAIL_BYTES,
  readKeyframeRecord,
  REPLAY_FLAG_ZSTD,
  REPLAY_HEADER_BYTES,
  REPLAY_VERSION,
  type KeyframeEntry,
  type TickEntry,
  TickRecords,
  type TornTail,
} from "./replay-format.ts";

/** Every this many keyframes one is stored whole, bounding a seek's delta chain. */
const FULL_EVERY = 16;
const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;
const TRUSTED = NATIVE_CONSTANTS.PH_SNAPSHOT_TRUSTED;
const EMPTY = new Uint8Array(0);

/**
 * One tick of a simulation: advance `heap` by `input`. Must be deterministic.
 * `ctx` is the heap's {@link StepContext}, `StepContext.of(heap)`: the place
 * for cursors and scratch bound to this heap, since seek and verify step
 * heaps of their own. Replay always passes it; other callers may leave it
 * out, so a step that uses it declares `ctx = StepContext.of(heap)`. A step
 * that needs none takes three arguments.
 */
export type StepFn = (heap: PrivateHeap, input: Uint8Array, tick: number, ctx?: StepContext) => void;

/** Options of {@link Replay.record}. */
export interface RecordOptions {
  /** Ticks between keyframes (default 60). */
  keyframeEvery?: number;
  /**
   * Store each keyframe zstd-compressed when that makes it smaller
   * (default: true where the runtime has zstd, which Bun, Deno and Node
   * 22.15+ have; false elsewhere, and true there is ENOTSUP). Such a file sets a header flag that readers older
   * than compression refuse (EVERSION); `false` writes every keyframe
   * uncompressed and leaves the flag clear, a file every version-2 reader
   * reads. Each keyframe then costs a compression: state that hardly
   * compresses (4 MiB of random floats: +10 ms a keyframe for a file
   * 0.93x the size) records faster with `false`.
   */
  compress?: boolean;
}

/** Options of {@link Replay.verify}. */
export interface VerifyOptions {
  /** Called after each tick with (tick, ticks): for progress bars. */
  onProgress?: (tick: number, ticks: number) => void;
  /** The user's layouts: the diff of a divergence then names the changed fields (`diff.paths`). */
  layouts?: LayoutMap;
}

/** What {@link Replay.verify} found. */
export interface VerifyResult {
  /** True when every tick's checksum matched the recording. */
  ok: boolean;
  /** The first tick whose state differs from the recorded one, or -1. */
  firstDivergentTick: number;
  /** The recorded checksum at that tick (0n when ok). */
  expected: bigint;
  /** The re-run's checksum at that tick (0n when ok). */
  actual: bigint;
  /**
   * Where the states differ (null when ok): against the recorded keyframe
   * after that tick when there is one; else against a second run of that
   * tick from the recorded state before it (which shows what a
   * nondeterministic step wrote); and when that second run agrees with the
   * first (a deterministic change of behaviour), against the next recorded
   * keyframe, with the re-run carried on to it.
   */
  diff: SnapshotDiff | null;
  /** The tick whose states `diff` compares (-1 when ok). */
  diffTick: number;
  /** What the re-run's state was compared with. */
  diffAgainst: "keyframe" | "rerun" | "none";
}

function checkPath(path: unknown, op: string): string {
  if (typeof path !== "string" || path === "") throw new HeapError("EINVAL", op, "path must be a non-empty string");
  return path;
}

function checkHeap(heap: unknown, op: string): asserts heap is PrivateHeap {
  if (!(heap instanceof PrivateHeap)) throw new HeapError("EINVAL", op, "heap must be a PrivateHeap");
  if (heap.closed) throw new HeapError("ECLOSED", op);
}

/** Replay.record's way to the recorder's private constructor (set by its static block). */
/** A recorder of `heap` into the file at `path` (null: into memory), after checking the heap and the options. */
function recorderOf(path: string | null, heap: PrivateHeap, options: RecordOptions, op: string): ReplayRecorder {
  checkHeap(heap, op);
  const every = options.keyframeEvery ?? 60;
  const compress = options.compress ?? HAS_ZSTD;
  if (typeof compress !== "boolean") throw new HeapError("EINVAL", op, `compress must be a boolean, got ${String(compress)}`);
  if (compress) requireZstd(op);
  if (!Number.isSafeInteger(every) || every < 1 || every > 2 ** 31) throw new HeapError("EINVAL", op, `keyframeEvery must be a positive integer, got ${String(every)}`);
  return makeRecorder(path, heap, every, compress, op);
}

/** Makes a recorder into the file at `path`, or into memory when `path` is null; `op` names the call for errors. */
let makeRecorder: (path: string | null, heap: PrivateHeap, keyframeEvery: number, compress: boolean, op: string) => ReplayRecorder;

/**
 * Appends a simulation's ticks to a replay file. Made by {@link Replay.record}.
 *
 * @example
 * ```ts
 * import { PrivateHeap, Replay } from "privheap";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const counter = heap.malloc(8);
 * using rec = Replay.record(join(mkdtempSync(join(tmpdir(), "rp-")), "run.phreplay"), heap, { keyframeEvery: 10 });
 * for (let t = 0; t < 25; t++) {
 *   heap.f64[counter >>> 3] += 1; // the step
 *   rec.tick(new Uint8Array([t & 0xff]));
 * }
 * console.log(rec.ticks); // 25
 * ```
 */
export class ReplayRecorder implements Disposable {
  readonly #heap: PrivateHeap;
  /** The page engine for the heap's view and the recorder's images: the native library's, or JavaScript's for a WebAssembly heap. */
  readonly #ops: PageOps;
  readonly #keyframeEvery: number;
  readonly #compress: boolean;
  #file: ReplaySink | null;
  /** The recording, for a recorder into memory (kept after close, for bytes()); null for a file. */
  readonly #memory: ReplayMemory | null;
  #ticks = 0;
  #keyframes = 0;
  // Invariant: #previous[0, #previousLength) is the image of the last
  // keyframe, #nonzero[p] is 1 where its page p is not all zero (0 at and
  // past its end), and #nonzeroPages counts those pages.
  #previous: Uint8Array;
  #previousLength = 0;
  #previousDirty = 0; // bytes of #previous ever written
  #nonzero: Uint8Array;
  #nonzeroPages = 0;
  // Where the file's records are, for a rewind: tick t's record starts at
  // #tickAt[t]; keyframe k's (numbered from 0, the one after tick -1) at
  // #keyframeAt[k], of kind #keyframeKind[k].
  #tickAt = new Float64Array(1024);
  readonly #keyframeAt: number[] = [];
  readonly #keyframeKind: number[] = [];
  #startChecksum = 0n; // the heap's checksum before tick 0
  readonly #zeros: Uint8Array; // never written: what non-zero pages are found against
  /** The heap's pages written since the last keyframe; released by close. */
  readonly #changes: ChangeSet;
  // Page lists, as long as the heap has pages: what a delta would store
  // (#candidates), the non-zero ones among them, what a whole keyframe
  // stores, and 0, 1, 2, ...
  readonly #candidates: Uint32Array;
  readonly #nonzeroCandidates: Uint32Array;
  readonly #whole: Uint32Array;
  readonly #identity: Uint32Array;
  readonly #tickRecords = new TickRecords();
  #keyframeScratch = new Uint8Array(0); // keyframe records, grown as needed
  #compressedScratch = new Uint8Array(0); // their compressed forms, as long as #keyframeScratch

  static {
    makeRecorder = (path, heap, keyframeEvery, compress, op) => new ReplayRecorder(path, heap, keyframeEvery, compress, op);
  }

  private constructor(path: string | null, heap: PrivateHeap, keyframeEvery: number, compress: boolean, op: string) {
    this.#heap = heap;
    // A WebAssembly heap's view is compared and copied by JavaScript (a C call there would copy #previous whole).
    this.#ops = backendOf(heap).kind === "native" ? nativePages(symbolsOf(heap)) : JS_PAGES;
    this.#keyframeEvery = keyframeEvery;
    this.#compress = compress;
    this.#previous = new Uint8Array(heap.size);
    this.#zeros = new Uint8Array(heap.size);
    const pages = heap.size / PAGE;
    this.#nonzero = new Uint8Array(pages);
    this.#candidates = new Uint32Array(pages);
    this.#nonzeroCandidates = new Uint32Array(pages);
    this.#whole = new Uint32Array(pages);
    this.#identity = sequence(pages);
    this.#changes = changesOf(heap, op);
    this.#memory = path === null ? new ReplayMemory() : null;
    let file: ReplaySink;
    try {
      file = this.#memory ?? ReplayFile.create(path!, op);
    } catch (e) {
      this.#changes.release();
      throw e;
    }
    try {
      const header = encodeHeader({ version: REPLAY_VERSION, flags: compress ? REPLAY_FLAG_ZSTD : 0, abi: NATIVE_CONSTANTS.PH_ABI_VERSION, pageSize: NATIVE_CONSTANTS.PH_PAGE_SIZE, keyframeEvery, regionBytes: heap.size });
      const first = underHeapLock(heap, op, () => {
        this.#startChecksum = heap.checksum();
        return this.#keyframe(-1);
      });
      file.append([header, first.record], op);
      first.commit(REPLAY_HEADER_BYTES);
      file.publish(op);
    } catch (e) {
      this.#changes.release();
      try {
        file.close(op);
      } catch {
        // The first failure is the one to report.
      }
      throw e;
    }
    this.#file = file;
  }

  /** Ticks recorded so far: the ones the file keeps. */
  get ticks(): number {
    return this.#ticks;
  }

  /**
   * A copy of the recording so far, for a recorder made by
   * `Replay.recordInMemory` (also after close): what `Replay.fromBytes`
   * reads. EINVAL for a recorder into a file, whose bytes are in the file.
   */
  bytes(): Uint8Array {
    if (this.#memory === null) throw new HeapError("EINVAL", "ReplayRecorder.bytes", "this recorder writes a file: read it with Replay.open");
    return this.#memory.bytes();
  }

  /**
   * Record the tick the caller has just stepped: its input and the heap's
   * checksum now; every `keyframeEvery` ticks also a keyframe. Returns the
   * tick's number. On a locked heap, the checksum and keyframe are taken
   * under one hold of its lock.
   *
   * Durability: when `tick` returns, the tick's record (and its keyframe)
   * has been written to the operating system, so it survives the process
   * being killed; it is not synced to the device (`close` does that), so
   * a power loss may lose a tail of ticks.
   *
   * Failure: when the write fails (`EIO`, naming the system error, such as
   * ENOSPC), the file is cut back to the end of the previous tick, this
   * tick is not counted, and every later `tick` fails with `EIO` too: a
   * replay needs every step, so a recording cannot go on past a tick it
   * did not keep. The file then holds ticks 0 to `ticks - 1`; `close`
   * still works; start a new recording to go on.
   */
  tick(input: Uint8Array): number {
    const file = this.#file;
    if (file === null) throw new HeapError("ECLOSED", "ReplayRecorder.tick", "the recorder was closed");
    if (!(input instanceof Uint8Array) || input.length > MAX_INPUT_BYTES)
      throw new HeapError("EINVAL", "ReplayRecorder.tick", `input must be a Uint8Array of at most ${MAX_INPUT_BYTES} bytes`);
    return underHeapLock(this.#heap, "ReplayRecorder.tick", () => this.#record(file, input));
  }

  #record(file: ReplaySink, input: Uint8Array): number {
    const t = this.#ticks;
    if (t === this.#tickAt.length) {
      const grown = new Float64Array(2 * t);
      grown.set(this.#tickAt);
      this.#tickAt = grown;
    }
    const at = file.length;
    const checksum = this.#heap.checksum();
    const record = this.#tickRecords.frame(t, checksum, input);
    if ((t + 1) % this.#keyframeEvery !== 0) {
      file.append([record], "ReplayRecorder.tick");
    } else {
      // The tick and its keyframe are kept together or not at all.
      const keyframe = this.#keyframe(t);
      try {
        file.append([record, keyframe.record], "ReplayRecorder.tick");
      } catch (e) {
        this.#changes.forget(); // the pages found went nowhere
        throw e;
      }
      keyframe.commit(at + record.length);
    }
    this.#tickAt[t] = at;
    this.#ticks++;
    return t;
  }

  /**
   * Drop ticks `tick` and after from the recording, and go on recording
   * from there: the next `tick()` records tick `tick` again. For a rollback
   * game, whose late input replaces a timeline it had already recorded:
   * the file then holds the confirmed timeline only, byte for byte the
   * file a recording that never had the dropped ticks would have written.
   *
   * The heap must already be in the state after tick `tick - 1` (before
   * tick 0 for 0): the caller puts it back, as `SnapshotRing.load` of the
   * frame saved then does. The recorder checks this against the checksum
   * it recorded for that tick, and fails with `EINVAL`, dropping nothing,
   * when the heap differs. On a locked heap the check holds its lock.
   *
   * The file is cut back in one `ftruncate` to the end of tick `tick - 1`
   * (and of its keyframe, when it has one), so a process killed during or
   * right after a rewind leaves either the whole old recording or the cut
   * one, each read back without a torn tail; not synced to the device
   * (`close` does that). When keyframes are dropped, the last one kept is
   * read back from the file as the base of the next delta (at most 16
   * records; `ECORRUPT` when the file no longer holds what was written).
   * `EINVAL` for a tick outside 0..`ticks`, `ECLOSED` after `close()`,
   * `EIO` when the file cannot be read or cut, or takes no more ticks (an
   * earlier write failed). On any failure nothing is dropped. To find
   * where a tick starts, a recorder keeps 8 bytes per tick recorded.
   *
   * @example
   * ```ts
   * import { PrivateHeap, Replay, SnapshotRing } from "privheap";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const hp = heap.calloc(1, 8);
   * using ring = SnapshotRing.create(heap, { capacity: 8 });
   * using rec = Replay.record(join(mkdtempSync(join(tmpdir(), "rp-")), "run.phreplay"), heap);
   * ring.save(0); // frame t: the state before tick t
   * for (const input of [1, 2, 3]) {
   *   heap.f64[hp >>> 3] += input; // the step
   *   rec.tick(Uint8Array.of(input));
   *   ring.save(rec.ticks);
   * }
   * // Tick 1's input was really 5: back to the state before tick 1, and again.
   * ring.load(1);
   * rec.rewind(1);
   * for (const input of [5, 3]) {
   *   heap.f64[hp >>> 3] += input;
   *   rec.tick(Uint8Array.of(input));
   *   ring.save(rec.ticks);
   * }
   * console.log(rec.ticks, heap.f64[hp >>> 3]); // 3 9
   * ```
   */
  rewind(tick: number): void {
    const op = "ReplayRecorder.rewind";
    const file = this.#file;
    if (file === null) throw new HeapError("ECLOSED", op, "the recorder was closed");
    if (!Number.isSafeInteger(tick) || tick < 0 || tick > this.#ticks) throw new HeapError("EINVAL", op, `tick must be an integer from 0 to ${this.#ticks}, got ${String(tick)}`);
    underHeapLock(this.#heap, op, () => this.#rewind(file, tick));
  }

  #rewind(file: ReplaySink, tick: number): void {
    const op = "ReplayRecorder.rewind";
    const expected = tick === 0 ? this.#startChecksum : this.#recordedChecksum(file, tick - 1, op);
    if (this.#heap.checksum() !== expected)
      throw new HeapError(
        "EINVAL",
        op,
        `the heap is not in the state after tick ${tick - 1} (its checksum differs from the recorded one): put it back first (SnapshotRing.load of the frame saved then); nothing was dropped`,
      );
    // Keyframes after ticks -1, K-1, 2K-1, ... below `tick` stay.
    const kept = Math.floor(tick / this.#keyframeEvery) + 1;
    const base = kept < this.#keyframes ? this.#imageFromFile(file, kept - 1, op) : null;
    file.truncate(tick < this.#ticks ? this.#tickAt[tick]! : file.length, op);
    // Nothing can fail from here on.
    if (base !== null) {
      this.#previous = base.image;
      this.#previousLength = base.length;
      this.#previousDirty = base.dirty;
      this.#nonzero = base.nonzero;
      this.#nonzeroPages = base.nonzeroPages;
      this.#keyframes = kept;
      this.#keyframeAt.length = this.#keyframeKind.length = kept;
    }
    this.#ticks = tick;
    this.#changes.forget(); // the heap was put back: its pages are compared with the kept keyframe's
  }

  /** The heap checksum the file's record of tick `t` holds. */
  #recordedChecksum(file: ReplaySink, t: number, op: string): bigint {
    const bytes = new Uint8Array(8);
    file.readAt(this.#tickAt[t]! + RECORD_HEAD_BYTES + 8, bytes, op); // after the tick number and the input's length
    return new DataView(bytes.buffer).getBigUint64(0, true);
  }

  /**
   * Keyframe k's image rebuilt from the file (its last whole keyframe and
   * the deltas after it), in new buffers that replace #previous and
   * #nonzero once the rewind cannot fail.
   */
  #imageFromFile(file: ReplaySink, k: number, op: string): { image: Uint8Array; length: number; dirty: number; nonzero: Uint8Array; nonzeroPages: number } {
    let from = k;
    while (this.#keyframeKind[from] !== KEYFRAME_FULL) from--; // keyframe 0 is whole
    const image = new Uint8Array(this.#heap.size); // fresh zeroed memory: the base of a whole keyframe
    let length = 0;
    let dirty = 0;
    const head = new Uint8Array(RECORD_HEAD_BYTES);
    for (let i = from; i <= k; i++) {
      const at = this.#keyframeAt[i]!;
      file.readAt(at, head, op);
      const bytes = new Uint8Array(RECORD_HEAD_BYTES + new DataView(head.buffer).getUint32(4, true) + RECORD_TAIL_BYTES);
      file.readAt(at, bytes, op);
      const entry = readKeyframeRecord(bytes, this.#heap.size);
      const after = i * this.#keyframeEvery - 1;
      if (entry === null || entry.after !== after || entry.kind !== this.#keyframeKind[i])
        throw new HeapError("ECORRUPT", op, `the keyframe after tick ${after}, at byte ${at} of the recording, does not read back as written`);
      overlay(entry.delta, image, op, this.#ops);
      length = entry.delta.length;
      dirty = Math.max(dirty, length);
    }
    const pages = length / PAGE;
    const list = this.#candidates; // scratch: no keyframe is being made
    const n = diffPages(image, this.#zeros, pages, list, pages, op, this.#ops);
    const nonzero = new Uint8Array(this.#nonzero.length);
    for (let i = 0; i < n; i++) nonzero[list[i]!] = 1;
    return { image, length, dirty, nonzero, nonzeroPages: n };
  }

  /**
   * Sync the file to the device and close it (idempotent). `EIO` when the
   * sync or the close fails: the ticks may then not all be on the device.
   */
  close(): void {
    const file = this.#file;
    if (file === null) return;
    this.#file = null;
    this.#changes.release();
    file.close("ReplayRecorder.close");
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * A keyframe record of the heap now (the state after tick `after`), and
   * the step that makes it the base of the next one, to run once the
   * record is in the file, at byte `at`.
   */
  #keyframe(after: number): { record: Uint8Array; commit: (at: number) => void } {
    const used = this.#heap.usedBytes;
    const listed = this.#changes.collect(used / PAGE, false, true);
    try {
      return this.#keyframeOf(after, used, listed);
    } catch (e) {
      this.#changes.forget(); // the pages it reported went nowhere: compare every page next time
      throw e;
    }
  }

  /** #keyframe's record of a used prefix of `used` bytes, `listed` pages (#changes) written since the last keyframe. */
  #keyframeOf(after: number, used: number, listed: number): { record: Uint8Array; commit: (at: number) => void } {
    const op = after < 0 ? "Replay.record" : "ReplayRecorder.tick";
    const image = this.#heap.u8;
    const pages = used / PAGE;
    const previousPages = this.#previousLength / PAGE;
    const common = Math.min(pages, previousPages);
    const nonzero = this.#nonzero;
    const candidates = this.#candidates;
    const nonzeroCandidates = this.#nonzeroCandidates;
    // A delta stores the pages of the common part that differ, and every page past it.
    const changed = changedPages(image, this.#previous, common, listed, this.#changes.pages, candidates, op, this.#ops);
    let count = changed;
    for (let p = common; p < pages; p++) candidates[count++] = p;
    // A whole keyframe stores the non-zero pages: the last image's, less
    // those that changed or left, plus the candidates that are non-zero now.
    const found = diffListed(image, this.#zeros, candidates, count, nonzeroCandidates, op, this.#ops);
    let nonzeroPages = this.#nonzeroPages + found;
    for (let i = 0; i < changed; i++) nonzeroPages -= nonzero[candidates[i]!]!;
    for (let p = pages; p < previousPages; p++) nonzeroPages -= nonzero[p]!;
    const delta = this.#keyframes % FULL_EVERY !== 0 && count < nonzeroPages;
    const kind = delta ? KEYFRAME_DELTA : KEYFRAME_FULL;
    const stored = delta ? candidates : this.#whole;
    const n = delta ? count : this.#wholePages(pages, count, found);
    const bytes = keyframePayloadBytes(n) + 16;
    if (this.#keyframeScratch.length < bytes) this.#keyframeScratch = new Uint8Array(bytes);
    let data: Uint8Array = EMPTY;
    const plain = frameRecord(RECORD_KEYFRAME, keyframePayloadBytes(n), this.#keyframeScratch, (payload) =>
      fillKeyframePages(payload, after, kind, used, stored, n, (into) => {
        // The heap's view read again: framing may have hashed through the WebAssembly module, which can grow its memory.
        copyPages(into, this.#heap.u8, this.#identity, stored, n, op, this.#ops);
        data = into;
      }),
    );
    // The image's pages stay in #keyframeScratch (`data`) for commit; the compressed record goes to the file.
    let record = plain;
    if (this.#compress) {
      if (this.#compressedScratch.length < plain.length) this.#compressedScratch = new Uint8Array(this.#keyframeScratch.length);
      record = compressKeyframeRecord(plain, this.#compressedScratch) ?? plain;
    }
    const commit = (at: number) => {
      // The image's pages come from the record (a locked heap may have changed since).
      if (kind === KEYFRAME_FULL) this.#previous.fill(0, 0, Math.min(used, this.#previousDirty)); // past #previousDirty: still fresh zeroed memory
      copyPages(this.#previous, data, stored, this.#identity, n, op, this.#ops);
      for (let i = 0; i < count; i++) nonzero[candidates[i]!] = 0;
      for (let i = 0; i < found; i++) nonzero[nonzeroCandidates[i]!] = 1;
      nonzero.fill(0, pages, Math.max(pages, previousPages));
      this.#nonzeroPages = nonzeroPages;
      this.#previousDirty = Math.max(this.#previousDirty, used);
      this.#previousLength = used;
      this.#keyframeAt.push(at);
      this.#keyframeKind.push(kind);
      this.#keyframes++;
    };
    return { record, commit };
  }

  /**
   * The non-zero pages of the heap's [0, pages) now, ascending, into
   * #whole; returns their count. The `count` candidates (ascending) hold
   * every page that is not as in the last image, and `found` of them are
   * non-zero now (#nonzeroCandidates, ascending); any other page is as
   * #nonzero says.
   */
  #wholePages(pages: number, count: number, found: number): number {
    const nonzero = this.#nonzero;
    const candidates = this.#candidates;
    const nonzeroCandidates = this.#nonzeroCandidates;
    const out = this.#whole;
    let n = 0;
    let c = 0;
    let z = 0;
    for (let p = 0; p < pages; p++) {
      if (c < count && candidates[c] === p) {
        c++;
        if (z < found && nonzeroCandidates[z] === p) {
          z++;
          out[n++] = p;
        }
      } else if (nonzero[p] === 1) out[n++] = p;
    }
    return n;
  }
}

/**
 * A recorded replay, read whole: inputs, checksums and keyframes. Seek to any
 * tick, or re-run everything and find the first tick that differs.
 *
 * @example
 * ```ts
 * import { PrivateHeap, Replay, type StepFn } from "privheap";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const step: StepFn = (heap, input) => {
 *   const at = heap.getRoot("sum") >>> 3;
 *   heap.f64[at] = heap.f64[at]! * 0.5 + input[0]!;
 * };
 * const path = join(mkdtempSync(join(tmpdir(), "rp-")), "run.phreplay");
 * {
 *   using heap = PrivateHeap.create({ size: 1 << 20 });
 *   heap.setRoot("sum", heap.calloc(1, 8));
 *   using rec = Replay.record(path, heap, { keyframeEvery: 8 });
 *   for (let t = 0; t < 50; t++) {
 *     const input = new Uint8Array([t % 7]);
 *     step(heap, input, t);
 *     rec.tick(input);
 *   }
 * }
 * using replay = await Replay.open(path);
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * replay.seek(30, heap, step); // keyframe after tick 23, then ticks 24..30
 * console.log(heap.checksum() === replay.checksum(30)); // true
 * console.log(replay.verify(heap, step).ok); // true
 * ```
 */
export class Replay implements Disposable {
  readonly #path: string;
  // Released by close() (emptied), with the decode buffers below.
  #file: Uint8Array;
  #ticks: TickEntry[];
  #keyframes: KeyframeEntry[];
  #closed = false;
  readonly #torn: TornTail | null;
  readonly #keyframeEvery: number;
  readonly #regionBytes: number;
  // The last keyframe decoded, to rebuild the next delta from.
  #work: Uint8Array = EMPTY; // as large as the largest image rebuilt so far
  #workDirty = 0; // high-water mark of the bytes ever written to #work: past it, fresh zeroed memory
  #cachedIndex = -1; // the keyframe #cachedImage (a view of #work) holds
  #cachedImage: Uint8Array = EMPTY; // checked in full by the native checker

  private constructor(path: string, file: Uint8Array, op: string) {
    this.#path = path;
    this.#file = file;
    const header = parseHeader(file, op, path);
    const parsed = parseRecords(file, header, op);
    if (parsed.keyframes.length === 0)
      throw new HeapError("ECORRUPT", op, `${path}: no readable keyframe${parsed.torn ? ` (${parsed.torn.reason} at byte ${parsed.torn.offset})` : ""}`);
    this.#ticks = parsed.ticks;
    this.#keyframes = parsed.keyframes;
    this.#torn = parsed.torn;
    this.#keyframeEvery = header.keyframeEvery;
    this.#regionBytes = header.regionBytes;
  }

  /**
   * Start recording `heap` into a new file at `path`: the header and a
   * keyframe of the heap as it is now, the state before tick 0. Then call
   * `tick(input)` after each step. The file is written as a temporary file
   * (mode 0600) in the same directory and renamed to `path` once it holds
   * that keyframe, so `path` never names a recording without one. An
   * existing `path` is replaced only when it is a privheap replay file:
   * a symbolic link, a directory or any other file there is `EINVAL`, and
   * left as it is. `EIO` when the file cannot be written.
   */
  static record(path: string, heap: PrivateHeap, options: RecordOptions = {}): ReplayRecorder {
    checkPath(path, "Replay.record");
    return recorderOf(path, heap, options, "Replay.record");
  }

  /**
   * Start recording `heap` into memory: the same bytes `record` would
   * write to a file, which `recorder.bytes()` copies out at any time (also
   * after close) for `Replay.fromBytes`, a download or a network peer. For
   * runtimes without files (browsers) and for replays that never touch a
   * disk. At most 4 GiB (ENOMEM beyond).
   *
   * @example
   * ```ts
   * import { PrivateHeap, Replay } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const hp = heap.calloc(1, 8);
   * const step = (h: PrivateHeap, input: Uint8Array) => { h.f64[hp >>> 3] += input[0]!; };
   * using rec = Replay.recordInMemory(heap, { keyframeEvery: 4 });
   * for (let t = 0; t < 10; t++) {
   *   const input = Uint8Array.of(t);
   *   step(heap, input);
   *   rec.tick(input);
   * }
   * using replay = Replay.fromBytes(rec.bytes());
   * using again = PrivateHeap.create({ size: 1 << 20 });
   * console.log(replay.ticks, replay.verify(again, step).ok); // 10 true
   * ```
   */
  static recordInMemory(heap: PrivateHeap, options: RecordOptions = {}): ReplayRecorder {
    return recorderOf(null, heap, options, "Replay.recordInMemory");
  }

  /**
   * Read a replay file, whole (the reads run off the JS thread). A file cut
   * short or damaged after some records opens with those records (see
   * `torn`). Rejects with `ECORRUPT` when not even the first keyframe is
   * readable, `EVERSION` for a newer format, another native ABI or page
   * size, `EIO` when it cannot be read or is not a regular file.
   *
   * @example
   * ```ts
   * import { PrivateHeap, Replay } from "privheap";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * const path = join(mkdtempSync(join(tmpdir(), "rp-")), "run.phreplay");
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * Replay.record(path, heap).close();
   * using replay = await Replay.open(path);
   * console.log(replay.ticks); // 0
   * ```
   */
  static async open(path: string): Promise<Replay> {
    checkPath(path, "Replay.open");
    return new Replay(path, await runAsync(readReplayFile(path, "Replay.open")), "Replay.open");
  }

  /**
   * The synchronous form of {@link Replay.open}: the same reads and checks,
   * on the calling thread.
   *
   * @example
   * ```ts
   * import { PrivateHeap, Replay } from "privheap";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * const path = join(mkdtempSync(join(tmpdir(), "rp-")), "run.phreplay");
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * Replay.record(path, heap).close();
   * using replay = Replay.openSync(path);
   * console.log(replay.keyframes); // [-1]
   * ```
   */
  static openSync(path: string): Replay {
    checkPath(path, "Replay.openSync");
    return new Replay(path, runSync(readReplayFile(path, "Replay.openSync")), "Replay.openSync");
  }

  /**
   * A replay from the bytes of a replay file (received over the network,
   * say), read as `open` reads a file; the bytes are copied.
   */
  static fromBytes(bytes: Uint8Array): Replay {
    if (!(bytes instanceof Uint8Array)) throw new HeapError("EINVAL", "Replay.fromBytes", "bytes must be a Uint8Array");
    return new Replay("(bytes)", bytes.slice(), "Replay.fromBytes");
  }

  /** Ticks recorded (complete ones). */
  get ticks(): number {
    this.#live("Replay.ticks");
    return this.#ticks.length;
  }

  /** The ticks after which keyframes were recorded; -1 is the state before tick 0. */
  get keyframes(): number[] {
    this.#live("Replay.keyframes");
    return this.#keyframes.map((k) => k.after);
  }

  /** Ticks between keyframes, as recorded. Readable after `close()`. */
  get keyframeEvery(): number {
    return this.#keyframeEvery;
  }

  /** Size of the recorded heap: the smallest heap `seek` and `verify` accept. Readable after `close()`. */
  get regionSize(): number {
    return this.#regionBytes;
  }

  /** Where reading stopped before the end of the file (a torn or damaged tail), or null. */
  get torn(): TornTail | null {
    this.#live("Replay.torn");
    return this.#torn === null ? null : { ...this.#torn };
  }

  /** Bytes of the file. */
  get fileBytes(): number {
    this.#live("Replay.fileBytes");
    return this.#file.length;
  }

  /** A copy of tick `tick`'s input. */
  input(tick: number): Uint8Array {
    const t = this.#tick(tick, "Replay.input");
    return this.#file.slice(t.inputAt, t.inputAt + t.inputBytes);
  }

  /** The heap checksum recorded after tick `tick`. */
  checksum(tick: number): bigint {
    return this.#tick(tick, "Replay.checksum").checksum;
  }

  /** The recorded keyframe after tick `after` (-1: before tick 0), as a snapshot. */
  keyframe(after: number): Snapshot {
    this.#live("Replay.keyframe");
    const i = this.#keyframes.findIndex((k) => k.after === after);
    if (i < 0) throw new HeapError("EINVAL", "Replay.keyframe", `no keyframe after tick ${String(after)} (keyframes: ${this.keyframes.join(", ")})`);
    return this.#snapshotOf(i, "Replay.keyframe");
  }

  /**
   * Put `heap` in the state right after tick `tick` (-1: before tick 0):
   * restore the nearest keyframe at or before it, then run `step` for the
   * ticks in between (at most keyframeEvery - 1). With a deterministic
   * step, and a heap of exactly `regionSize` bytes, the heap's checksum is
   * then `checksum(tick)` (a larger heap holds the same allocations and
   * bytes, but its header records its own size). On a locked heap the
   * seek holds its lock throughout: no other writer sees a half-done state.
   */
  seek(tick: number, heap: PrivateHeap, step: StepFn): void {
    this.#live("Replay.seek");
    if (!Number.isSafeInteger(tick) || tick < -1 || tick >= this.ticks)
      throw new HeapError("EINVAL", "Replay.seek", `tick must be an integer from -1 to ${this.ticks - 1}, got ${String(tick)}`);
    if (typeof step !== "function") throw new HeapError("EINVAL", "Replay.seek", "step must be a function");
    checkHeap(heap, "Replay.seek");
    // Before anything is rebuilt: an image needs a heap of the recorded size.
    if (heap.size < this.#regionBytes) throw new HeapError("ESIZE", "Replay.seek", `the heap has ${heap.size} bytes; the recording needs ${this.#regionBytes}`);
    underHeapLock(heap, "Replay.seek", () => this.#seek(tick, heap, step));
  }

  #seek(tick: number, heap: PrivateHeap, step: StepFn): void {
    // The last keyframe at or before tick (keyframes ascend): binary search.
    let lo = 0;
    let hi = this.#keyframes.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.#keyframes[mid]!.after <= tick) lo = mid;
      else hi = mid - 1;
    }
    this.#restore(lo, heap);
    const ctx = StepContext.of(heap);
    for (let t = this.#keyframes[lo]!.after + 1; t <= tick; t++) step(heap, this.input(t), t, ctx);
  }

  /**
   * Re-run the whole recording on `heap` from the state before tick 0, and
   * compare the checksum after every tick with the recorded one. Stops at
   * the first tick that differs and says where the states differ. The heap
   * must have the recorded size (`ESIZE` otherwise): the checksums cover the
   * header, which records it. On a locked heap the whole run holds its lock.
   */
  verify(heap: PrivateHeap, step: StepFn, options: VerifyOptions = {}): VerifyResult {
    this.#live("Replay.verify");
    checkHeap(heap, "Replay.verify");
    if (heap.size !== this.#regionBytes)
      throw new HeapError("ESIZE", "Replay.verify", `the heap has ${heap.size} bytes; checksums cover the header, which records the region size, so verify needs the recorded ${this.#regionBytes}`);
    if (typeof step !== "function") throw new HeapError("EINVAL", "Replay.verify", "step must be a function");
    return underHeapLock(heap, "Replay.verify", () => this.#verify(heap, step, options));
  }

  #verify(heap: PrivateHeap, step: StepFn, options: VerifyOptions): VerifyResult {
    this.seek(-1, heap, step);
    const progress = options.onProgress;
    const ctx = StepContext.of(heap);
    for (let t = 0; t < this.ticks; t++) {
      step(heap, this.input(t), t, ctx);
      const actual = heap.checksum();
      const expected = this.#tick(t, "Replay.verify").checksum; // ECLOSED when step closed the replay
      if (actual !== expected) return { ok: false, firstDivergentTick: t, expected, actual, ...this.#explain(t, heap, step, { layouts: options.layouts }) };
      progress?.(t, this.ticks);
    }
    return { ok: true, firstDivergentTick: -1, expected: 0n, actual: 0n, diff: null, diffTick: -1, diffAgainst: "none" };
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Give back the memory the replay holds: the file's bytes, its index of
   * ticks and keyframes, and the image buffer seeks rebuild keyframes in.
   * Then every method, and every getter but `keyframeEvery`, `regionSize`
   * and `closed`, throws `ECLOSED`. Idempotent.
   *
   * @example
   * ```ts
   * import { PrivateHeap, Replay } from "privheap";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * const path = join(mkdtempSync(join(tmpdir(), "rp-")), "run.phreplay");
   * {
   *   using heap = PrivateHeap.create({ size: 1 << 20 });
   *   using rec = Replay.record(path, heap);
   *   rec.tick(new Uint8Array(1));
   * }
   * const replay = await Replay.open(path);
   * console.log(replay.ticks); // 1
   * replay.close();
   * console.log(replay.closed); // true
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file = this.#work = this.#cachedImage = EMPTY;
    this.#ticks = [];
    this.#keyframes = [];
    this.#cachedIndex = -1;
    this.#workDirty = 0;
  }

  /** `using replay = await Replay.open(path)` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---- internals ----------------------------------------------------------

  #live(op: string): void {
    if (this.#closed) throw new HeapError("ECLOSED", op, "the replay was closed");
  }

  #tick(tick: number, op: string): TickEntry {
    this.#live(op);
    const t = Number.isSafeInteger(tick) ? this.#ticks[tick] : undefined;
    if (t === undefined) throw new HeapError("EINVAL", op, `tick must be an integer from 0 to ${this.ticks - 1}, got ${String(tick)}`);
    return t;
  }

  /**
   * The image of keyframe i, rebuilt in #work: the last whole keyframe at or
   * before it with the deltas after it laid over it in order (or going on
   * from the cached image when that is on the way). Then run through the
   * full native heap check, and checked against the checksum recorded for
   * its tick, so a damaged chain is an error, not a wrong state. The check
   * comes first: it reads only the metadata the header points at, so a
   * broken or hostile image fails before the checksum reads every page.
   */
  #imageOf(i: number, op: string): Uint8Array {
    if (i === this.#cachedIndex) return this.#cachedImage;
    const keyframes = this.#keyframes;
    let from = i;
    while (keyframes[from]!.kind !== KEYFRAME_FULL) from--; // keyframe 0 is whole
    const resume = this.#cachedIndex >= from && this.#cachedIndex < i;
    let m = resume ? this.#cachedIndex + 1 : from;
    const carried = resume ? this.#cachedImage : EMPTY;
    this.#cachedIndex = -1; // #work changes from here on
    // Each image's size passed the parser's heap header check: at most regionBytes.
    let need = 0;
    for (let k = m; k <= i; k++) need = Math.max(need, keyframes[k]!.delta.length);
    if (this.#work.length < need) {
      // Fresh memory reads as zero and costs address space only until written: no fill.
      const grown = new Uint8Array(need);
      grown.set(carried);
      this.#work = grown;
      this.#workDirty = carried.length;
    } else if (!resume) {
      // A whole keyframe leaves its zero pages out: clear what earlier images wrote, no more.
      this.#work.fill(0, 0, Math.min(keyframes[from]!.delta.length, this.#workDirty));
    }
    // Every page at or past the previous image's end is stored, so the
    // stale bytes of #work there are all overwritten.
    let image = carried;
    for (; m <= i; m++) {
      const delta = keyframes[m]!.delta;
      image = overlay(delta, this.#work, op);
      if (delta.pages.length > 0) this.#workDirty = Math.max(this.#workDirty, (delta.pages[delta.pages.length - 1]! + 1) * PAGE);
    }
    const after = keyframes[i]!.after;
    const what = `${this.#path}: keyframe after tick ${after}`;
    try {
      checkBytes(image, this.#regionBytes, 0, op);
    } catch (e) {
      if (e instanceof HeapError) throw new HeapError(e.code, op, `${what}: ${e.message}`, { cause: e });
      throw e;
    }
    if (after >= 0 && heapChecksum(image) !== this.#ticks[after]!.checksum) throw new HeapError("ECORRUPT", op, `${what} does not match that tick's checksum`);
    this.#cachedIndex = i;
    this.#cachedImage = image;
    return image;
  }

  /** Keyframe i as a snapshot of its own: a copy of the image #imageOf checked in full (not checked again). */
  #snapshotOf(i: number, op: string): Snapshot {
    return snapshotOfChecked(this.#imageOf(i, op), op);
  }

  /** Restore keyframe i into heap straight from #work (which #imageOf checked in full). */
  #restore(i: number, heap: PrivateHeap): void {
    const image = this.#imageOf(i, "Replay.seek");
    restoreImage(heap.address as Pointer, heap.size, image, image.length, TRUSTED, "Replay.seek", `${this.#path}: keyframe after tick ${this.#keyframes[i]!.after}`, backendOf(heap));
  }

  /** The diff part of a failed verify at tick t (see VerifyResult.diff). */
  #explain(t: number, heap: PrivateHeap, step: StepFn, how: DiffOptions): Pick<VerifyResult, "diff" | "diffTick" | "diffAgainst"> {
    const actual = heap.snapshot();
    const exact = this.#keyframes.findIndex((k) => k.after === t);
    if (exact >= 0) return { diff: Snapshot.diff(this.#snapshotOf(exact, "Replay.verify"), actual, how), diffTick: t, diffAgainst: "keyframe" };
    let rerun: SnapshotDiff;
    {
      using again = PrivateHeap.create({ size: heap.size, backend: backendOf(heap).kind });
      // What the step made for this heap goes with it (a FrameArena's heaps, say).
      using againContext = StepContext.of(again);
      this.seek(t - 1, again, step);
      step(again, this.input(t), t, againContext);
      rerun = Snapshot.diff(again.snapshot(), actual, how);
    }
    if (!rerun.equal) return { diff: rerun, diffTick: t, diffAgainst: "rerun" };
    const next = this.#keyframes.findIndex((k) => k.after > t);
    if (next < 0) return { diff: rerun, diffTick: t, diffAgainst: "none" };
    const until = this.#keyframes[next]!.after;
    const ctx = StepContext.of(heap);
    for (let u = t + 1; u <= until; u++) step(heap, this.input(u), u, ctx);
    return { diff: Snapshot.diff(this.#snapshotOf(next, "Replay.verify"), heap.snapshot(), how), diffTick: until, diffAgainst: "keyframe" };
  }
}
