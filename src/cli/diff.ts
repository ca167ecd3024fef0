/**
 * diff.ts - `privheap diff A B` (two snapshot files or heap files) and
 * `privheap diff FILE --ticks N M` (two ticks of a replay): the changed
 * pages, the allocations added, freed and changed, the changed roots and,
 * with layouts, the changed fields; as text, as JSON (`--json`), and as an
 * HTML page (`--html OUT`).
 *
 * Exit status: 0 the states are the same, 1 they differ (as diff(1)).
 * Errors are thrown for the entry to report with status 2.
 */
import { writeFileSync } from "node:fs";
import { HeapError } from "../errors.ts";
import { PrivateHeap } from "../heap.ts";
import { stateOfFile } from "../inspect/file.ts";
import { type HeapDiff, heapDiff } from "../inspect/heap-diff.ts";
import { heapDiffPage } from "../inspect/html/heap-diff-page.ts";
import { formatDiffField } from "../snapshot/diff.ts";
import type { LayoutMap } from "../snapshot/layout-map.ts";
import { Replay, type StepFn } from "../snapshot/replay.ts";
import type { Snapshot } from "../snapshot/snapshot.ts";
import { CommandError } from "./errors.ts";
import type { Io } from "./io.ts";
import { ProgressBar } from "./progress.ts";
import { humanBytes } from "./replay-info.ts";

/** Entries of each list printed; the rest are counted. */
const SHOWN = 20;

/** Two heap states and what to call them. */
export interface DiffSides {
  before: Snapshot;
  after: Snapshot;
  beforeLabel: string;
  afterLabel: string;
}

/** Options of {@link diffCommand}. */
export interface DiffCommandOptions {
  layouts?: LayoutMap;
  json?: boolean;
  /** Write the HTML page here. */
  html?: string;
}

/** The progress bar of one phase of the work, or null where none is drawn. */
export type BarMaker = (label: string, unit: string) => ProgressBar | null;

/** Bars on `io`'s stderr when it is a terminal, and none with `quiet`. */
export function terminalBars(io: Io, quiet: boolean | undefined): BarMaker {
  return (label, unit) => (quiet || !io.errIsTTY ? null : new ProgressBar({ write: (s) => io.err(s), columns: io.errColumns, label, unit }));
}

const MiB = 1 << 20;

/**
 * The states in the files at `a` and `b`: each a snapshot file or a heap
 * file (read, never attached). Each file's reading is shown on a bar of
 * `bars` in MiB, erased once it is read: from the disk rather than the
 * cache, the whole command took 1.0 to 10 s on a shared virtual machine
 * for two files holding 512 MiB each (0.45-0.7 s from the cache).
 */
export function fileSides(a: string, b: string, bars: BarMaker = () => null): DiffSides {
  const read = (path: string, label: string): Snapshot => {
    const bar = bars(label, "MiB");
    // Whole MiB done, so 100% only at the end.
    const progress = bar === null ? undefined : (done: number, total: number) => bar.update(done < total ? Math.floor(done / MiB) : Math.ceil(total / MiB), Math.ceil(total / MiB));
    try {
      return stateOfFile(path, progress);
    } finally {
      bar?.clear();
    }
  };
  const before = read(a, "reading A");
  try {
    return { before, after: read(b, "reading B"), beforeLabel: a, afterLabel: b };
  } catch (e) {
    before.close();
    throw e;
  }
}

/**
 * The states after ticks `n` and `m` (-1: before tick 0) of the replay at
 * `path`: a keyframe is read from the file, any other tick is reached by
 * seeking with `step`; without one, a tick that is no keyframe is a
 * CommandError naming the keyframes. `progress` is told of each tick run,
 * counted over both seeks.
 */
export async function replaySides(path: string, n: number, m: number, step: StepFn | undefined, progress?: (done: number, total: number) => void): Promise<DiffSides> {
  using replay = await Replay.open(path);
  const keyframes = replay.keyframes;
  const check = (t: number) => {
    if (!Number.isSafeInteger(t) || t < -1 || t >= replay.ticks)
      throw new CommandError(`${path} has ticks -1 (before tick 0) to ${replay.ticks - 1}; there is no tick ${t}`);
    if (!keyframes.includes(t) && step === undefined)
      throw new CommandError(`tick ${t} of ${path} is no keyframe (keyframes after ticks ${keyframes.join(", ")}): give --step MODULE to reach it`);
  };
  check(n);
  check(m);
  // A seek runs the ticks after the last keyframe before its tick.
  const ticksToRun = (t: number) => t - keyframes.reduce((k, at) => (at <= t ? at : k), keyframes[0]!);
  const total = ticksToRun(n) + ticksToRun(m);
  let ran = 0;
  const stateAfter = (t: number): Snapshot => {
    if (keyframes.includes(t)) return replay.keyframe(t);
    using heap = PrivateHeap.create({ size: replay.regionSize });
    replay.seek(t, heap, (h, input, tick, ctx) => {
      step!(h, input, tick, ctx);
      progress?.(++ran, total);
    });
    return heap.snapshot();
  };
  const label = (t: number) => `${path} ${t < 0 ? "before tick 0" : `after tick ${t}`}`;
  return { before: stateAfter(n), after: stateAfter(m), beforeLabel: label(n), afterLabel: label(m) };
}

/** What {@link sidesOf} compares: two files, or two ticks of a replay. */
export interface SidesArgs {
  file: string;
  /** The second file; none with `ticks`. */
  second?: string;
  ticks?: [number, number];
  step?: StepFn;
  /** No progress bar even on a terminal. */
  quiet?: boolean;
}

/**
 * The two states `privheap diff` compares: the files' (fileSides) or the
 * replay's ticks (replaySides). Reading the files and running the ticks of
 * a seek draw a progress bar on stderr when it is a terminal (not with
 * `quiet`), erased before anything else is written. Comparing draws none:
 * two states of 512 MiB compare in 0.15-0.3 s.
 */
export async function sidesOf(args: SidesArgs, io: Io): Promise<DiffSides> {
  const bars = terminalBars(io, args.quiet);
  if (args.ticks === undefined) return fileSides(args.file, args.second!, bars);
  const bar = bars("seeking", "ticks");
  try {
    return await replaySides(args.file, args.ticks[0], args.ticks[1], args.step, bar === null ? undefined : (done, total) => bar.update(done, total));
  } finally {
    bar?.clear();
  }
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Page numbers as ranges: `0, 3-5, 9`. */
export function pageRanges(pages: ArrayLike<number>, max = SHOWN): string {
  const parts: string[] = [];
  for (let i = 0; i < pages.length && parts.length < max; ) {
    let j = i;
    while (j + 1 < pages.length && pages[j + 1] === pages[j]! + 1) j++;
    parts.push(i === j ? `${pages[i]}` : `${pages[i]}-${pages[j]}`);
    i = j + 1;
  }
  const shown = parts.join(", ");
  return parts.length === max && pages.length > 0 && parts.length < pages.length ? `${shown}, ...` : shown;
}

function side(label: string, s: HeapDiff["stats"]["before"]): string {
  return `${label}: ${humanBytes(s.usedBytes)} used, ${plural(s.liveCount, "live allocation")} (${humanBytes(s.liveBytes)})`;
}

/**
 * The lines `privheap diff` prints for `d`.
 *
 * @example
 * ```ts
 * import { PrivateHeap } from "privheap";
 * import { formatHeapDiff } from "./diff.ts";
 * import { heapDiff } from "../inspect/heap-diff.ts";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const before = heap.snapshot();
 * heap.malloc(100);
 * console.log(formatHeapDiff(heapDiff(before, heap.snapshot()), "before", "after").join("\n"));
 * ```
 */
export function formatHeapDiff(d: HeapDiff, beforeLabel: string, afterLabel: string): string[] {
  const lines = [side(`before (${beforeLabel})`, d.stats.before), side(`after (${afterLabel})`, d.stats.after)];
  if (d.diff.equal) {
    lines.push("the heaps are the same");
    return lines;
  }
  const ranges = d.diff.truncated ? `more than ${d.diff.ranges.length} ranges` : plural(d.diff.ranges.length, "range");
  lines.push(`changed: ${plural(d.diff.changedBytes, "byte")} in ${ranges}, ${plural(d.changedPages.length, "page")} of ${d.pages} (pages ${pageRanges(d.changedPages)})`);
  lines.push(`allocations: ${d.added.length} added, ${d.freed.length} freed, ${d.changed.length} changed`);
  const list = (what: string, spans: { offset: number; size: number }[]) => {
    for (const s of spans.slice(0, SHOWN)) lines.push(`  ${what} ${s.offset} (${plural(s.size, "byte")})`);
    if (spans.length > SHOWN) lines.push(`  ... and ${spans.length - SHOWN} more ${what}`);
  };
  list("added", d.added);
  list("freed", d.freed);
  list("changed", d.changed);
  lines.push(`roots: ${d.diff.roots.join(", ") || "none changed"}`);
  const p = d.diff.paths;
  if (p !== undefined) {
    const fields = p.fields.slice(0, SHOWN);
    lines.push(`changed fields${p.fields.length > fields.length || p.truncated ? ` (the first ${fields.length})` : ""}:${fields.length === 0 ? " none named" : ""}`);
    for (const f of fields) lines.push(`  ${formatDiffField(f)}`);
    const left = p.fields.length - fields.length;
    if (left > 0 || p.truncated) lines.push(`  ... and ${p.truncated ? "more than " : ""}${left} more`);
    if (p.unnamed.length > 0) lines.push(`bytes no registered struct holds: ${plural(p.unnamed.reduce((n, u) => n + u.length, 0), "byte")} in ${plural(p.unnamed.length, "range")}`);
    if (!p.complete) lines.push("(the walk from the roots skipped a pointer or count that did not fit the image)");
  }
  return lines;
}

/** `d` as plain JSON: typed arrays as arrays, 64-bit field values as decimal strings. */
export function heapDiffJson(d: HeapDiff, beforeLabel: string, afterLabel: string): unknown {
  const { changedPerPage: _perPage, ...rest } = d;
  return JSON.parse(
    JSON.stringify({ before: beforeLabel, after: afterLabel, ...rest, changedPages: [...d.changedPages] }, (_k, v) => (typeof v === "bigint" ? v.toString() : v)),
  );
}

/**
 * `privheap diff`: compare `sides` and print the result (text or JSON);
 * with `html`, write the page there too. Returns 0 when the states are the
 * same, 1 when they differ.
 */
export function diffCommand(sides: DiffSides, options: DiffCommandOptions, io: Io): number {
  const d = heapDiff(sides.before, sides.after, { layouts: options.layouts });
  if (options.json) io.out(`${JSON.stringify(heapDiffJson(d, sides.beforeLabel, sides.afterLabel), null, 2)}\n`);
  else io.out(`${formatHeapDiff(d, sides.beforeLabel, sides.afterLabel).join("\n")}\n`);
  if (options.html !== undefined) {
    const html = heapDiffPage(d, { before: sides.before, after: sides.after, beforeLabel: sides.beforeLabel, afterLabel: sides.afterLabel });
    try {
      writeFileSync(options.html, html);
    } catch (e) {
      throw new HeapError("EIO", "privheap diff", `cannot write ${options.html}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (!options.json) io.out(`page: ${options.html}\n`);
  }
  return d.diff.equal ? 0 : 1;
}
