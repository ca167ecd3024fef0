/**
 * replay-timeline.ts - `privheap replay timeline FILE [--step MODULE]
 * [--html OUT]`: a recording over time. From the file alone: the keyframes'
 * used bytes, live allocations and bytes changed between them, and each
 * tick's input size. With a step: every tick re-run and measured, and
 * verified on the way; a divergent tick is reported and, with `--html`,
 * linked to a diff page written beside the timeline page.
 *
 * Exit status: 0, or 1 when the re-run found a divergent tick (as `replay
 * verify`). Errors are thrown for the entry to report with status 2.
 */
import { writeFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { HeapError } from "../errors.ts";
import { PrivateHeap } from "../heap.ts";
import { heapDiff } from "../inspect/heap-diff.ts";
import { heapDiffPage } from "../inspect/html/heap-diff-page.ts";
import { timelinePage } from "../inspect/html/timeline-page.ts";
import { type ReplayTimeline, replayTimeline } from "../inspect/timeline.ts";
import type { LayoutMap } from "../snapshot/layout-map.ts";
import { Replay, type StepFn } from "../snapshot/replay.ts";
import type { Snapshot } from "../snapshot/snapshot.ts";
import { StepContext } from "../snapshot/step-context.ts";
import { StepError } from "./errors.ts";
import type { Io } from "./io.ts";
import { ProgressBar } from "./progress.ts";
import { humanBytes } from "./replay-info.ts";

/** Keyframe rows printed; the rest are counted. */
const KEYFRAMES_SHOWN = 12;

/** Options of {@link replayTimelineCommand}. */
export interface TimelineCommandOptions {
  step?: StepFn;
  layouts?: LayoutMap;
  /** Write the HTML page here (and the divergence's diff page beside it). */
  html?: string;
  /** No progress bar even on a terminal. */
  quiet?: boolean;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** min, median and max of `a` (not empty). */
function spread(a: Float64Array): string {
  const sorted = Float64Array.from(a).sort();
  return `min ${sorted[0]}, median ${sorted[sorted.length >>> 1]}, max ${sorted[sorted.length - 1]}; first ${a[0]}, last ${a[a.length - 1]}`;
}

/**
 * The lines `privheap replay timeline` prints for `tl`.
 *
 * @example
 * ```ts
 * import { Replay } from "privheap";
 * import { formatTimeline } from "./replay-timeline.ts";
 * import { replayTimeline } from "../inspect/timeline.ts";
 * using replay = await Replay.open("run.phreplay");
 * console.log(formatTimeline(replayTimeline(replay), "run.phreplay").join("\n"));
 * ```
 */
export function formatTimeline(tl: ReplayTimeline, file: string): string[] {
  const lines = [`file: ${file}`, `ticks: ${tl.ticks}, keyframes: ${tl.keyframes.length} (every ${plural(tl.keyframeEvery, "tick")})`];
  let inputs = 0;
  for (const n of tl.inputBytes) inputs += n;
  lines.push(`inputs: ${plural(inputs, "byte")}${tl.ticks > 0 ? ` (${spread(tl.inputBytes)})` : ""}`);
  lines.push("keyframes:");
  lines.push(`  ${"after tick".padStart(10)} ${"used".padStart(12)} ${"live".padStart(8)} ${"live bytes".padStart(12)} ${"changed bytes".padStart(14)}`);
  const shown = tl.keyframes.length <= KEYFRAMES_SHOWN ? tl.keyframes : [...tl.keyframes.slice(0, KEYFRAMES_SHOWN - 2), ...tl.keyframes.slice(-2)];
  shown.forEach((k, i) => {
    if (shown.length < tl.keyframes.length && i === KEYFRAMES_SHOWN - 2) lines.push(`  ... ${tl.keyframes.length - shown.length} more`);
    lines.push(`  ${String(k.after).padStart(10)} ${String(k.usedBytes).padStart(12)} ${String(k.liveCount).padStart(8)} ${String(k.liveBytes).padStart(12)} ${String(k.changedBytes).padStart(14)}`);
  });
  const run = tl.run;
  if (run === undefined) {
    lines.push("per tick: not measured (give --step MODULE to re-run the recording, measure every tick and verify it)");
    return lines;
  }
  const v = run.verify;
  lines.push(v.ok ? `re-run: ok, ${plural(tl.ticks, "tick")} verified` : `re-run: tick ${v.firstDivergentTick} diverged (ticks before it matched; the series below stop there)`);
  const s = run.series;
  if (s.usedBytes.length > 0) {
    lines.push(`per tick (${plural(s.usedBytes.length, "tick")}):`);
    lines.push(`  bytes changed: ${spread(s.changedBytes)}`);
    lines.push(`  used bytes:    ${spread(s.usedBytes)} (${humanBytes(Math.max(...s.usedBytes))} at most)`);
    lines.push(`  live count:    ${spread(s.liveCount)}`);
    lines.push(`  live bytes:    ${spread(s.liveBytes)}`);
    const busiest = [...s.changedBytes.keys()].sort((a, b) => s.changedBytes[b]! - s.changedBytes[a]! || a - b).slice(0, 5);
    lines.push(`  most bytes changed: ${busiest.map((t) => `tick ${t} (${s.changedBytes[t]})`).join(", ")}`);
  }
  return lines;
}

/** The diff page's path beside `html`: `timeline.html` -> `timeline.diff-tick-57.html`. */
export function diffPagePath(html: string, tick: number): string {
  const ext = extname(html);
  return join(dirname(html), `${basename(html, ext)}.diff-tick-${tick}${ext || ".html"}`);
}

/**
 * The recorded state a divergence's diff compares the re-run's with: the
 * keyframe after that tick, else the tick re-run once more from the state
 * before it (what verify compared); null when verify had nothing to
 * compare with.
 */
function expectedState(replay: Replay, tl: ReplayTimeline, step: StepFn): Snapshot | null {
  const v = tl.run!.verify;
  if (v.diffAgainst === "keyframe") return replay.keyframe(v.diffTick);
  if (v.diffAgainst === "none") return null;
  using heap = PrivateHeap.create({ size: replay.regionSize });
  using ctx = StepContext.of(heap);
  replay.seek(v.diffTick - 1, heap, step);
  step(heap, replay.input(v.diffTick), v.diffTick, ctx);
  return heap.snapshot();
}

function write(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new HeapError("EIO", "privheap replay timeline", `cannot write ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * `privheap replay timeline FILE`: print the timeline of the replay at
 * `path` and, with `html`, write its page (and a divergence's diff page
 * beside it). Returns 0, or 1 when a re-run diverged.
 *
 * @example
 * ```ts
 * import { processIo } from "./io.ts";
 * import { replayTimelineCommand } from "./replay-timeline.ts";
 * process.exitCode = await replayTimelineCommand("run.phreplay", {}, processIo());
 * ```
 */
export async function replayTimelineCommand(path: string, options: TimelineCommandOptions, io: Io): Promise<number> {
  using replay = await Replay.open(path);
  const torn = replay.torn;
  if (torn !== null) io.err(`privheap: torn tail: ${torn.bytes} bytes at offset ${torn.offset}: ${torn.reason}; reading the ${plural(replay.ticks, "complete tick")} before it\n`);
  const user = options.step;
  const step: StepFn | undefined =
    user === undefined
      ? undefined
      : (h, input, t, ctx) => {
          try {
            user(h, input, t, ctx);
          } catch (e) {
            throw new StepError(t, e);
          }
        };
  const bar = options.quiet || !io.errIsTTY ? null : new ProgressBar({ write: (s) => io.err(s), columns: io.errColumns, label: "timeline", unit: "steps" });
  let tl: ReplayTimeline;
  try {
    tl = replayTimeline(replay, { step, layouts: options.layouts, onProgress: bar === null ? undefined : (done, total) => bar.update(done, total) });
  } finally {
    bar?.clear();
  }
  io.out(`${formatTimeline(tl, path).join("\n")}\n`);
  const v = tl.run?.verify;
  if (options.html !== undefined) {
    let diffHref: string | undefined;
    if (v !== undefined && !v.ok) {
      const expected = expectedState(replay, tl, step!);
      const actual = tl.run!.divergentState!;
      if (expected !== null) {
        const diffPath = diffPagePath(options.html, v.diffTick);
        const d = heapDiff(expected, actual, { layouts: options.layouts });
        const compared = v.diffAgainst === "keyframe" ? "the recorded keyframe" : "the tick run again from the recorded state before it";
        write(diffPath, heapDiffPage(d, {
          before: expected,
          after: actual,
          beforeLabel: `${path}: ${compared}, after tick ${v.diffTick}`,
          afterLabel: `the re-run after tick ${v.diffTick}`,
          note: `Tick ${v.firstDivergentTick} diverged; this compares the state after tick ${v.diffTick}.`,
        }));
        diffHref = basename(diffPath);
        io.out(`diff page: ${diffPath}\n`);
      }
    }
    write(options.html, timelinePage(tl, { file: path, diffHref }));
    io.out(`page: ${options.html}\n`);
  }
  return v !== undefined && !v.ok ? 1 : 0;
}
