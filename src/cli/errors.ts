/**
 * errors.ts - the failures of the command-line tool that are not HeapErrors.
 * The entry reports each kind differently and exits with status 2:
 * {@link UsageError} with the usage, {@link CommandError} with its message
 * alone, {@link StepError} with the tick and the step's own error.
 */

/**
 * A command line the tool cannot run: an unknown command or option, a
 * missing argument, a step module without a step function.
 *
 * @example
 * ```ts
 * import { UsageError } from "./errors.ts";
 * function fileArgument(args: string[]): string {
 *   if (args[0] === undefined) throw new UsageError("replay info: missing FILE");
 *   return args[0];
 * }
 * console.log(fileArgument(["run.phreplay"]));
 * ```
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * A command that could not do its work for a reason its message says in
 * full (a module that cannot be loaded, say); no stack is shown.
 *
 * @example
 * ```ts
 * import { existsSync } from "node:fs";
 * import { CommandError } from "./errors.ts";
 * const stepModule = "examples/sim.ts";
 * if (!existsSync(stepModule)) throw new CommandError(`cannot load the step module ${stepModule}: not found`);
 * ```
 */
export class CommandError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CommandError";
  }
}

/**
 * The step function threw while `replay verify` ran it; `cause` is what it
 * threw.
 *
 * @example
 * ```ts
 * import { StepError } from "./errors.ts";
 * const e = new StepError(57, new RangeError("offset out of range"));
 * e.message; // "the step function threw at tick 57"
 * ```
 */
export class StepError extends Error {
  /** The tick the step was running. */
  readonly tick: number;
  constructor(tick: number, cause: unknown) {
    super(`the step function threw at tick ${tick}`, { cause });
    this.name = "StepError";
    this.tick = tick;
  }
}
