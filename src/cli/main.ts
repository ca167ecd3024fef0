/**
 * main.ts - the `privheap` command line: parse the arguments, run a
 * command, and turn what went wrong into a message and an exit status.
 *
 * Exit status: 0 success (and help), 1 `replay verify` or `replay timeline`
 * found a divergent tick or `diff` found the states differ, 2 anything that kept a command from running to its answer (a usage
 * error, a file that is no readable replay, a step module that cannot be
 * loaded or that throws).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { HeapError } from "../errors.ts";
import { parseArgs } from "./args.ts";
import { diffCommand, sidesOf } from "./diff.ts";
import { CommandError, StepError, UsageError } from "./errors.ts";
import type { Io } from "./io.ts";
import { inspectArgsOf, inspectCommand, type InspectArgs } from "./inspect.ts";
import { replayInfo } from "./replay-info.ts";
import { replayTimelineCommand } from "./replay-timeline.ts";
import { loadLayouts, loadStep, replayVerify } from "./replay-verify.ts";

const SYNOPSIS = `Usage:
  privheap inspect FILE [--tick N [--step MODULE]] [--layouts MODULE] [--json] [--html OUT] [--quiet]
  privheap replay info FILE
  privheap replay verify FILE --step MODULE [--quiet]
  privheap replay timeline FILE [--step MODULE] [--html OUT] [--quiet]
  privheap diff A B [--layouts MODULE] [--json] [--html OUT] [--quiet]
  privheap diff FILE --ticks N M [--step MODULE] [--layouts MODULE] [--json] [--html OUT] [--quiet]
  privheap help`;

/** The text of `privheap --help`. */
export const USAGE = `privheap - look into privheap heaps, snapshots and replay files

${SYNOPSIS}

Commands:
  inspect FILE          Print what the heap in FILE holds: sizes (region,
                        used, touched, metadata), live allocations and bytes
                        per size class, large allocations by size,
                        fragmentation (free pages and runs below the
                        high-water mark, the largest free run, how full the
                        small runs are), named roots (with --layouts, the
                        structs they reach) and the largest allocations.
                        FILE is a snapshot file, a heap file (read, never
                        changed) or, with --tick N, a replay after tick N:
                        a keyframe's tick, or any tick with --step. --json
                        prints it as JSON; --html OUT writes a page with a
                        heap map (a cell per page, coloured by kind and size
                        class; hover for the run and its allocations).
  replay info FILE      Print what the replay FILE holds: format version,
                        ticks, keyframes and their interval, region size,
                        file size, bytes per tick and per keyframe,
                        compression, and a torn tail if the file has one
                        (a torn tail is reported, not an error).
  replay verify FILE    Re-run the recording in FILE with the step function
                        of MODULE, from the state before tick 0, comparing
                        the heap checksum after every tick with the recorded
                        one. At the first tick that differs, print both
                        checksums and where the heaps differ: the changed
                        byte ranges, their allocations and named roots.
  replay timeline FILE  The recording over time: each keyframe's used
                        bytes, live allocations and bytes changed since the
                        keyframe before, and each tick's input size. With
                        --step, every tick is re-run and measured (bytes
                        changed, used bytes, live count and bytes) and
                        verified; the first divergent tick ends the series.
                        With --html, a page of charts; a divergence's diff
                        page is written beside it (OUT.diff-tick-N.html)
                        and linked.
  diff A B              Compare two heap states, each a snapshot file or a
                        heap file (read, never changed): changed bytes and
                        pages, the allocations added, freed and changed
                        (matched by offset), changed roots and, with
                        --layouts, changed fields. --json prints it as JSON;
                        --html OUT writes a page with B's heap map (as
                        inspect draws it) and the changed pages framed.
  diff FILE --ticks N M Compare the states after ticks N and M (-1: before
                        tick 0) of the replay FILE: keyframes are read from
                        the file; other ticks need --step to seek to them.
  help                  Print this text.

Options:
  --step MODULE   The module with the step function: it exports \`step\`
                  (heap, input, tick) => void, or a default function. A path
                  relative to the current directory, or absolute. When it
                  also exports \`layouts\` (a LayoutMap), a divergence names
                  the changed fields (entities[5].hp, ...).
  --layouts MODULE  (inspect, diff) The module exporting \`layouts\` (a
                  LayoutMap): inspect lists the structs each root reaches,
                  diff names changed fields. inspect --tick and diff --ticks
                  also take them from the --step module.
  --html OUT      (inspect, timeline, diff) Write a self-contained HTML page
                  to OUT.
  --json          (inspect, diff) Print the result as JSON.
  --tick N        (inspect) The replay tick whose state to inspect (-1:
                  before tick 0).
  --ticks N M     (diff) Two ticks of a replay instead of two files.
  -q, --quiet     No progress bar. (It is drawn on stderr only when stderr is
                  a terminal and the run takes more than a moment.)
  -h, --help      Print this text.

Exit status:
  0  success; verify and timeline: every tick matched; diff: the same
  1  verify and timeline: a tick diverged; diff: the states differ
  2  a usage error, a file that is not a readable replay, or a step module
     that cannot be loaded, has no step function, or throws

Examples:
  privheap inspect save.phsnap --html heap.html
  privheap inspect run.phreplay --tick 75 --step examples/sim.ts
  privheap replay info run.phreplay
  privheap replay verify run.phreplay --step examples/sim.ts
  privheap replay timeline run.phreplay --step examples/sim.ts --html timeline.html
  privheap diff before.phsnap after.phsnap --html diff.html
  privheap diff save.phsnap world.phheap
  privheap diff run.phreplay --ticks 59 119 --json
`;

interface Command {
  command: "help" | "info" | "verify" | "timeline" | "diff" | "inspect";
  inspect?: InspectArgs;
  file?: string;
  step?: string;
  quiet?: boolean;
  html?: string;
  /** diff: the second snapshot file, or with `ticks` none. */
  second?: string;
  ticks?: [number, number];
  layouts?: string;
  json?: boolean;
}

/** The N and M of `--ticks N M` (-1 allowed: the state before tick 0). */
function tickArgument(text: string | undefined): number {
  const n = text === undefined ? NaN : Number(text);
  if (!/^-?\d+$/.test(text ?? "") || !Number.isSafeInteger(n) || n < -1) throw new UsageError(`diff --ticks: "${text ?? ""}" is not a tick (an integer from -1)`);
  return n;
}

/** `privheap diff ...`'s arguments (after the command name). */
function diffCommandOf(rest: readonly string[]): Command {
  // --ticks takes two values, and -1 would read as an option: take them out first.
  const at = rest.indexOf("--ticks");
  const ticks = at < 0 ? null : rest.slice(at + 1, at + 3);
  const args = parseArgs(at < 0 ? rest : [...rest.slice(0, at), ...rest.slice(at + 3)], {
    values: ["--layouts", "--html", "--step"],
    flags: ["--json", "--quiet"],
    aliases: { "-q": "--quiet" },
  });
  const html = args.values.get("--html");
  const layouts = args.values.get("--layouts");
  const step = args.values.get("--step");
  const json = args.flags.has("--json");
  const quiet = args.flags.has("--quiet");
  const p = args.positionals;
  if (ticks !== null) {
    if (p.length !== 1) throw new UsageError("diff FILE --ticks N M: give one replay FILE and two ticks");
    return { command: "diff", file: p[0], ticks: [tickArgument(ticks[0]), tickArgument(ticks[1])], step, layouts, json, html, quiet };
  }
  if (step !== undefined) throw new UsageError("diff: --step is for two ticks of a replay (--ticks N M)");
  if (p.length !== 2) throw new UsageError(p.length < 2 ? "diff: give two snapshot files or heap files A B (or a replay FILE --ticks N M)" : `diff: unexpected argument "${p[2]}"`);
  return { command: "diff", file: p[0], second: p[1], layouts, json, html, quiet };
}

/** What the arguments ask for; throws UsageError when they do not say. */
function commandOf(argv: readonly string[]): Command {
  if (argv[0] === "diff" && !argv.includes("--help") && !argv.includes("-h")) return diffCommandOf(argv.slice(1));
  if (argv[0] === "inspect" && !argv.includes("--help") && !argv.includes("-h")) return { command: "inspect", inspect: inspectArgsOf(argv.slice(1)) };
  const args = parseArgs(argv, { values: ["--step", "--html"], flags: ["--quiet", "--help"], aliases: { "-q": "--quiet", "-h": "--help" } });
  const [name, sub, file, ...extra] = args.positionals;
  if (args.flags.has("--help") || name === "help") return { command: "help" };
  if (name === undefined) throw new UsageError("no command given");
  if (name !== "replay") throw new UsageError(`unknown command "${name}"`);
  if (sub === undefined) throw new UsageError("replay: missing the subcommand (info, verify or timeline)");
  if (sub !== "info" && sub !== "verify" && sub !== "timeline") throw new UsageError(`replay: unknown subcommand "${sub}" (info, verify or timeline)`);
  if (file === undefined) throw new UsageError(`replay ${sub}: missing FILE`);
  if (extra.length > 0) throw new UsageError(`replay ${sub}: unexpected argument "${extra[0]}"`);
  const step = args.values.get("--step");
  const quiet = args.flags.has("--quiet");
  const html = args.values.get("--html");
  if (sub === "timeline") return { command: "timeline", file, step, quiet, html };
  if (html !== undefined) throw new UsageError(`replay ${sub}: --html is an option of replay timeline and diff`);
  if (sub === "info") {
    if (step !== undefined) throw new UsageError("replay info: --step is an option of replay verify");
    if (quiet) throw new UsageError("replay info: --quiet is an option of replay verify");
    return { command: "info", file };
  }
  if (step === undefined) throw new UsageError("replay verify: missing --step MODULE (the module with the step function)");
  return { command: "verify", file, step, quiet };
}

function errorText(e: unknown): string {
  return e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
}

/**
 * Run the command line `argv` (without the program name) and return the
 * exit status. Every message goes to `io`; nothing is thrown.
 *
 * @example
 * ```ts
 * import { processIo } from "./io.ts";
 * import { main } from "./main.ts";
 * process.exit(await main(["replay", "info", "run.phreplay"], processIo()));
 * ```
 */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  if (argv.length === 0) {
    io.err(`${USAGE}`);
    return 2;
  }
  try {
    const cmd = commandOf(argv);
    switch (cmd.command) {
      case "help":
        io.out(USAGE);
        return 0;
      case "info":
        return await replayInfo(resolve(io.cwd, cmd.file!), io);
      case "verify": {
        // The module first: a usage error (no step function) is found before the file is read.
        const modulePath = resolve(io.cwd, cmd.step!);
        const step = await loadStep(modulePath);
        const layouts = await loadLayouts(modulePath);
        return await replayVerify(resolve(io.cwd, cmd.file!), step, { quiet: cmd.quiet, layouts }, io);
      }
      case "inspect":
        return await inspectCommand(cmd.inspect!, io);
      case "timeline": {
        const modulePath = cmd.step === undefined ? undefined : resolve(io.cwd, cmd.step);
        const step = modulePath === undefined ? undefined : await loadStep(modulePath);
        const layouts = modulePath === undefined ? undefined : await loadLayouts(modulePath);
        const html = cmd.html === undefined ? undefined : resolve(io.cwd, cmd.html);
        return await replayTimelineCommand(resolve(io.cwd, cmd.file!), { step, layouts, html, quiet: cmd.quiet }, io);
      }
      case "diff": {
        const stepPath = cmd.step === undefined ? undefined : resolve(io.cwd, cmd.step);
        const step = stepPath === undefined ? undefined : await loadStep(stepPath);
        const layoutsPath = cmd.layouts === undefined ? stepPath : resolve(io.cwd, cmd.layouts);
        if (cmd.layouts !== undefined && !existsSync(layoutsPath!)) throw new CommandError(`cannot load the layouts module ${layoutsPath}: no such file`);
        const layouts = layoutsPath === undefined ? undefined : await loadLayouts(layoutsPath);
        if (cmd.layouts !== undefined && layouts === undefined) throw new UsageError(`${layoutsPath} exports no \`layouts\` (a LayoutMap)`);
        const file = resolve(io.cwd, cmd.file!);
        const second = cmd.second === undefined ? undefined : resolve(io.cwd, cmd.second);
        const sides = await sidesOf({ file, second, ticks: cmd.ticks, step, quiet: cmd.quiet }, io);
        return diffCommand(sides, { layouts, json: cmd.json, html: cmd.html === undefined ? undefined : resolve(io.cwd, cmd.html) }, io);
      }
    }
  } catch (e) {
    if (e instanceof UsageError) io.err(`privheap: ${e.message}\n\n${SYNOPSIS}\n\nRun "privheap --help" for more.\n`);
    else if (e instanceof HeapError || e instanceof CommandError) io.err(`privheap: ${e.message}\n`);
    else if (e instanceof StepError) io.err(`privheap: ${e.message}:\n${errorText(e.cause)}\n`);
    else io.err(`privheap: unexpected error:\n${errorText(e)}\n`);
    return 2;
  }
}
