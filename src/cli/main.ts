/**
 * main.ts - the `privheap` command line: parse the arguments, run a
 * command, and turn what went wrong into a message and an exit status.
 *
 * Exit status: 0 success (and help), 1 `replay verify` found a divergent
 * tick, 2 anything that kept a command from running to its answer (a usage
 * error, a file that is no readable replay, a step module that cannot be
 * loaded or that throws).
 */
import { resolve } from "node:path";
import { HeapError } from "../errors.ts";
import { parseArgs } from "./args.ts";
import { CommandError, StepError, UsageError } from "./errors.ts";
import type { Io } from "./io.ts";
import { replayInfo } from "./replay-info.ts";
import { loadLayouts, loadStep, replayVerify } from "./replay-verify.ts";

const SYNOPSIS = `Usage:
  privheap replay info FILE
  privheap replay verify FILE --step MODULE [--quiet]
  privheap help`;

/** The text of `privheap --help`. */
export const USAGE = `privheap - look into and check privheap replay files

${SYNOPSIS}

Commands:
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
  help                  Print this text.

Options:
  --step MODULE   The module with the step function: it exports \`step\`
                  (heap, input, tick) => void, or a default function. A path
                  relative to the current directory, or absolute. When it
                  also exports \`layouts\` (a LayoutMap), a divergence names
                  the changed fields (entities[5].hp, ...).
  -q, --quiet     No progress bar. (It is drawn on stderr only when stderr is
                  a terminal and the run takes more than a moment.)
  -h, --help      Print this text.

Exit status:
  0  success; verify: every tick matched
  1  verify: a tick diverged
  2  a usage error, a file that is not a readable replay, or a step module
     that cannot be loaded, has no step function, or throws

Examples:
  privheap replay info run.phreplay
  privheap replay verify run.phreplay --step examples/sim.ts
`;

interface Command {
  command: "help" | "info" | "verify";
  file?: string;
  step?: string;
  quiet?: boolean;
}

/** What the arguments ask for; throws UsageError when they do not say. */
function commandOf(argv: readonly string[]): Command {
  const args = parseArgs(argv, { values: ["--step"], flags: ["--quiet", "--help"], aliases: { "-q": "--quiet", "-h": "--help" } });
  const [name, sub, file, ...extra] = args.positionals;
  if (args.flags.has("--help") || name === "help") return { command: "help" };
  if (name === undefined) throw new UsageError("no command given");
  if (name !== "replay") throw new UsageError(`unknown command "${name}"`);
  if (sub === undefined) throw new UsageError("replay: missing the subcommand (info or verify)");
  if (sub !== "info" && sub !== "verify") throw new UsageError(`replay: unknown subcommand "${sub}" (info or verify)`);
  if (file === undefined) throw new UsageError(`replay ${sub}: missing FILE`);
  if (extra.length > 0) throw new UsageError(`replay ${sub}: unexpected argument "${extra[0]}"`);
  const step = args.values.get("--step");
  const quiet = args.flags.has("--quiet");
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
    }
  } catch (e) {
    if (e instanceof UsageError) io.err(`privheap: ${e.message}\n\n${SYNOPSIS}\n\nRun "privheap --help" for more.\n`);
    else if (e instanceof HeapError || e instanceof CommandError) io.err(`privheap: ${e.message}\n`);
    else if (e instanceof StepError) io.err(`privheap: ${e.message}:\n${errorText(e.cause)}\n`);
    else io.err(`privheap: unexpected error:\n${errorText(e)}\n`);
    return 2;
  }
}
