/**
 * replay-verify.ts - `privheap replay verify FILE --step MODULE`: re-run a
 * recording with a step function and report the first tick whose heap
 * checksum differs from the recorded one, and where the heaps differ.
 *
 * Exit status: 0 every tick matched, 1 a tick diverged. Errors (a file that
 * is no replay, a module that cannot be loaded, a step that throws) are
 * thrown (HeapError, CommandError, StepError) for the entry to report with
 * status 2.
 */
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { PrivateHeap } from "../heap.ts";
import { type DiffRange, formatDiffField } from "../snapshot/diff.ts";
import { LayoutMap } from "../snapshot/layout-map.ts";
import { Replay, type StepFn, type VerifyResult } from "../snapshot/replay.ts";
import { CommandError, StepError, UsageError } from "./errors.ts";
import type { Io } from "./io.ts";
import { ProgressBar } from "./progress.ts";

/** Changed ranges, and named fields, printed on a divergence; the rest are counted. */
const RANGES_SHOWN = 8;

/** Options of {@link replayVerify}. */
export interface VerifyCommandOptions {
  /** No progress bar even on a terminal. */
  quiet?: boolean;
  /** The step module's layouts: a divergence then names the changed fields. */
  layouts?: LayoutMap;
}

/**
 * The step function of the module at absolute path `modulePath`: its
 * `step` export, or else a default export that is a function. Throws
 * {@link UsageError} when it has neither, and {@link CommandError} when it
 * cannot be loaded.
 *
 * @example
 * ```ts
 * import { loadStep } from "./replay-verify.ts";
 * const step = await loadStep(`${process.cwd()}/examples/sim.ts`);
 * ```
 */
export async function loadStep(modulePath: string): Promise<StepFn> {
  if (!existsSync(modulePath)) throw new CommandError(`cannot load the step module ${modulePath}: no such file`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
  } catch (e) {
    throw new CommandError(`cannot load the step module ${modulePath}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (typeof mod.step === "function") return mod.step as StepFn;
  if (typeof mod.default === "function") return mod.default as StepFn;
  const has = Object.keys(mod);
  throw new UsageError(
    `${modulePath} exports no step function: export \`step\` (heap, input, tick) => void, or a default function (it exports ${has.length === 0 ? "nothing" : has.join(", ")})`,
  );
}

/**
 * The `layouts` export of the step module at `modulePath` (already loaded
 * by {@link loadStep}), or undefined when it has none. Throws
 * {@link UsageError} when `layouts` is not a LayoutMap.
 *
 * @example
 * ```ts
 * import { loadLayouts } from "./replay-verify.ts";
 * const layouts = await loadLayouts(`${process.cwd()}/examples/sim.ts`);
 * ```
 */
export async function loadLayouts(modulePath: string): Promise<LayoutMap | undefined> {
  const mod = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
  if (mod.layouts === undefined) return undefined;
  if (mod.layouts instanceof LayoutMap) return mod.layouts;
  throw new UsageError(`${modulePath} exports \`layouts\` that is not a LayoutMap (made by LayoutMap.create() from this privheap)`);
}

function hex(v: bigint): string {
  return `0x${v.toString(16).padStart(16, "0")}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** What `diff` compared, in words (VerifyResult.diffAgainst and diffTick). */
function comparedWith(r: VerifyResult): string {
  const t = r.firstDivergentTick;
  const raw = `(diffAgainst: ${r.diffAgainst}, diffTick: ${r.diffTick})`;
  if (r.diffAgainst === "rerun")
    return `a second run of tick ${t} from the recorded state before it ${raw}: the two runs differ, so the step is not deterministic`;
  if (r.diffAgainst === "keyframe" && r.diffTick === t) return `the recorded keyframe after tick ${t} ${raw}`;
  if (r.diffAgainst === "keyframe")
    return `the recorded keyframe after tick ${r.diffTick} ${raw}: a second run of tick ${t} matched the first, so the step changed behaviour deterministically; the re-run was carried on to that keyframe`;
  return `nothing ${raw}: a second run of tick ${t} matched the first (a deterministic change) and no recorded keyframe follows it`;
}

function describeRange(r: DiffRange): string {
  const where = `offset ${r.offset}, ${plural(r.length, "byte")}`;
  if (r.allocation === null) return `${where}: allocator metadata or free space`;
  const a = r.allocation;
  return `${where}: allocation at offset ${a.offset}, size ${a.size}, roots: ${a.roots.join(", ") || "none"}`;
}

/**
 * The lines printed for a divergent verify result `r` of a replay of
 * `ticks` ticks.
 *
 * @example
 * ```ts
 * import { formatDivergence } from "./replay-verify.ts";
 * // r: a VerifyResult with ok === false
 * // console.log(formatDivergence(r, replay.ticks).join("\n"));
 * ```
 */
export function formatDivergence(r: VerifyResult, ticks: number): string[] {
  const t = r.firstDivergentTick;
  const lines = [
    `diverged at tick ${t} of ${ticks}${t > 0 ? ` (ticks 0 to ${t - 1} matched)` : ""}`,
    `  expected checksum: ${hex(r.expected)}`,
    `  actual checksum:   ${hex(r.actual)}`,
    `  compared with: ${comparedWith(r)}`,
  ];
  const d = r.diff;
  if (d === null || d.equal) {
    lines.push("  changed bytes: none to show");
    return lines;
  }
  const rangeCount = d.truncated ? `more than ${d.ranges.length} ranges` : plural(d.ranges.length, "range");
  lines.push(`  changed bytes: ${d.changedBytes} in ${rangeCount}, ${plural(d.allocations.length, "allocation")}`);
  lines.push(`  roots: ${d.roots.join(", ") || "none"}`);
  const shown = d.ranges.slice(0, RANGES_SHOWN);
  lines.push(`  changed ranges${d.ranges.length > shown.length || d.truncated ? ` (the first ${shown.length})` : ""}:`);
  for (const range of shown) lines.push(`    ${describeRange(range)}`);
  const more = d.ranges.length - shown.length;
  if (more > 0 || d.truncated) lines.push(`    ... and ${d.truncated ? "more than " : ""}${more} more`);
  const p = d.paths;
  if (p !== undefined) {
    const fields = p.fields.slice(0, RANGES_SHOWN);
    lines.push(`  changed fields${p.fields.length > fields.length || p.truncated ? ` (the first ${fields.length})` : ""}:${fields.length === 0 ? " none named" : ""}`);
    for (const f of fields) lines.push(`    ${formatDiffField(f)}`);
    const left = p.fields.length - fields.length;
    if (left > 0 || p.truncated) lines.push(`    ... and ${p.truncated ? "more than " : ""}${left} more`);
    if (p.unnamed.length > 0) lines.push(`  bytes no registered struct holds: ${plural(p.unnamed.length, "range")}`);
    if (!p.complete) lines.push("  (the walk from the roots skipped a pointer or count that did not fit the image)");
  }
  return lines;
}

/**
 * `privheap replay verify FILE --step MODULE`: re-run the replay at `path`
 * with `step` in a heap of the recorded size and print the result. Returns
 * the exit status: 0 when every tick matched, 1 at a divergence. A
 * progress bar is drawn on stderr when it is a terminal, the run takes a
 * while, and `quiet` is not set.
 *
 * @example
 * ```ts
 * import { processIo } from "./io.ts";
 * import { loadStep, replayVerify } from "./replay-verify.ts";
 * const step = await loadStep(`${process.cwd()}/examples/sim.ts`);
 * process.exitCode = await replayVerify("run.phreplay", step, {}, processIo());
 * ```
 */
export async function replayVerify(path: string, step: StepFn, options: VerifyCommandOptions, io: Io): Promise<number> {
  using replay = await Replay.open(path);
  const torn = replay.torn;
  if (torn !== null)
    io.err(`privheap: torn tail: ${torn.bytes} bytes at offset ${torn.offset}: ${torn.reason}; verifying the ${plural(replay.ticks, "complete tick")} before it\n`);
  using heap = PrivateHeap.create({ size: replay.regionSize });
  const bar = options.quiet || !io.errIsTTY ? null : new ProgressBar({ write: (s) => io.err(s), columns: io.errColumns, label: "verifying", unit: "ticks" });
  const guarded: StepFn = (h, input, t) => {
    try {
      step(h, input, t);
    } catch (e) {
      throw new StepError(t, e);
    }
  };
  let result: VerifyResult;
  try {
    result = replay.verify(heap, guarded, { onProgress: bar === null ? undefined : (t, n) => bar.update(t + 1, n), layouts: options.layouts });
  } finally {
    bar?.clear();
  }
  if (result.ok) {
    io.out(`ok: ${plural(replay.ticks, "tick")} verified\n`);
    return 0;
  }
  io.out(`${formatDivergence(result, replay.ticks).join("\n")}\n`);
  return 1;
}
