/**
 * inspect.ts - `privheap inspect FILE [--tick N] [--step MODULE]
 * [--layouts MODULE] [--json] [--html OUT] [--quiet]`: the report of the
 * heap in a snapshot file, a heap file or a replay at a tick, as text (or
 * JSON), and with --html as one self-contained page.
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fromSystemError } from "../errors.ts";
import { inspectFile, type FileReport } from "../inspect/file.ts";
import { renderInspectPage } from "../inspect/html/inspect-page.ts";
import { reportJson } from "../inspect/json.ts";
import { formatReport } from "../inspect/text.ts";
import type { LayoutMap } from "../snapshot/layout-map.ts";
import type { StepFn } from "../snapshot/replay.ts";
import { parseArgs } from "./args.ts";
import { UsageError } from "./errors.ts";
import type { Io } from "./io.ts";
import { ProgressBar } from "./progress.ts";
import { loadLayouts, loadStep } from "./replay-verify.ts";

/** What `privheap inspect ...` asks for. */
export interface InspectArgs {
  file: string;
  tick?: number;
  step?: string;
  layouts?: string;
  json: boolean;
  html?: string;
  quiet: boolean;
}

/** Parse the arguments after `inspect`; throws UsageError when they do not say. */
export function inspectArgsOf(argv: readonly string[]): InspectArgs {
  // --tick's value may be -1, which would read as an option: take it out first.
  const at = argv.indexOf("--tick");
  if (at >= 0 && at + 1 >= argv.length) throw new UsageError("inspect: --tick needs a value");
  const rest = at < 0 ? argv : [...argv.slice(0, at), ...argv.slice(at + 2)];
  const a = parseArgs(rest, { values: ["--tick", "--step", "--layouts", "--html"], flags: ["--json", "--quiet"], aliases: { "-q": "--quiet" } });
  const [file, ...extra] = a.positionals;
  if (file === undefined) throw new UsageError("inspect: missing FILE");
  if (extra.length > 0) throw new UsageError(`inspect: unexpected argument "${extra[0]}"`);
  if (at >= 0 && a.values.has("--tick")) throw new UsageError("inspect: --tick given twice");
  const tickText = at >= 0 ? argv[at + 1] : a.values.get("--tick");
  let tick: number | undefined;
  if (tickText !== undefined) {
    tick = Number(tickText);
    if (!/^-?\d+$/.test(tickText) || !Number.isSafeInteger(tick) || tick < -1) throw new UsageError(`inspect: --tick takes a tick number (-1 or more), not "${tickText}"`);
  }
  if (a.values.has("--step") && tick === undefined) throw new UsageError("inspect: --step runs a replay's ticks up to --tick N; give --tick");
  return { file, tick, step: a.values.get("--step"), layouts: a.values.get("--layouts"), json: a.flags.has("--json"), html: a.values.get("--html"), quiet: a.flags.has("--quiet") };
}

function titleOf(r: FileReport, file: string): string {
  if (r.kind !== "replay") return `${file} (${r.kind} file)`;
  return `${file} (replay, after tick ${r.tick}${r.keyframe === r.tick ? ", a keyframe" : `, run from the keyframe after tick ${r.keyframe}`})`;
}

/**
 * Run `privheap inspect` and return the exit status (0). HeapErrors (a
 * file of no known kind, damaged, truncated) and UsageErrors are thrown for
 * main to report.
 */
export async function inspectCommand(args: InspectArgs, io: Io): Promise<number> {
  let step: StepFn | undefined;
  let layouts: LayoutMap | undefined;
  if (args.step !== undefined) {
    const modulePath = resolve(io.cwd, args.step);
    step = await loadStep(modulePath);
    layouts = await loadLayouts(modulePath);
  }
  if (args.layouts !== undefined) {
    const modulePath = resolve(io.cwd, args.layouts);
    layouts = await loadLayouts(modulePath);
    if (layouts === undefined) throw new UsageError(`${modulePath} exports no \`layouts\` (a LayoutMap)`);
  }
  // Only a replay's ticks take long enough to show (a heap file is mapped: its pages come as they are read).
  const bar = args.quiet || !io.errIsTTY ? null : new ProgressBar({ write: (s) => io.err(s), columns: io.errColumns, label: "running", unit: "ticks" });
  const progress = bar === null ? undefined : (done: number, total: number) => bar.update(done, total);
  let result: FileReport;
  try {
    result = inspectFile(resolve(io.cwd, args.file), { tick: args.tick, step, layouts, progress });
  } finally {
    bar?.clear();
  }
  const title = titleOf(result, args.file);
  if (args.html !== undefined) {
    const out = resolve(io.cwd, args.html);
    try {
      writeFileSync(out, renderInspectPage(result.report, title));
    } catch (e) {
      throw fromSystemError(e, "privheap inspect", out);
    }
  }
  if (args.json) io.out(`${JSON.stringify({ file: args.file, kind: result.kind, tick: result.tick, keyframe: result.keyframe, ...reportJson(result.report) }, null, 2)}\n`);
  else io.out(formatReport(result.report, title));
  if (args.html !== undefined && !args.json) io.out(`\npage written to ${args.html}\n`);
  return 0;
}
