/**
 * args.ts - a small parser for the command line: positional arguments,
 * options that take a value (`--step MODULE` or `--step=MODULE`), flags
 * (`--quiet`), short aliases (`-q`), and `--` to end the options. Anything
 * it does not know is a {@link UsageError}, never silently ignored.
 */
import { UsageError } from "./errors.ts";

/** What a command accepts. */
export interface ArgSpec {
  /** Options that take a value, e.g. `["--step"]`. */
  values?: readonly string[];
  /** Options that take none, e.g. `["--quiet", "--help"]`. */
  flags?: readonly string[];
  /** Short names of options, e.g. `{ "-q": "--quiet" }`. */
  aliases?: Readonly<Record<string, string>>;
}

/** A parsed command line. */
export interface ParsedArgs {
  positionals: string[];
  /** Values of value options, by long name. */
  values: Map<string, string>;
  /** Flags given, by long name. */
  flags: Set<string>;
}

/**
 * Parse `argv` (without the program name) by `spec`. Throws
 * {@link UsageError} for an unknown option, a value option without its value
 * or given twice, or a value on a flag.
 *
 * @example
 * ```ts
 * import { parseArgs } from "./args.ts";
 * const a = parseArgs(["verify", "run.phreplay", "--step=sim.ts", "-q"], {
 *   values: ["--step"],
 *   flags: ["--quiet"],
 *   aliases: { "-q": "--quiet" },
 * });
 * a.positionals; // ["verify", "run.phreplay"]
 * a.values.get("--step"); // "sim.ts"
 * a.flags.has("--quiet"); // true
 * ```
 */
export function parseArgs(argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const values = new Set(spec.values ?? []);
  const flags = new Set(spec.flags ?? []);
  const out: ParsedArgs = { positionals: [], values: new Map(), flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const written = eq < 0 ? arg : arg.slice(0, eq);
    const name = spec.aliases?.[written] ?? written;
    if (values.has(name)) {
      let value: string | undefined;
      if (eq >= 0) value = arg.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i]!;
      if (value === undefined || value === "") throw new UsageError(`${written} needs a value`);
      if (out.values.has(name)) throw new UsageError(`${name} given twice`);
      out.values.set(name, value);
    } else if (flags.has(name)) {
      if (eq >= 0) throw new UsageError(`${written} takes no value`);
      out.flags.add(name);
    } else {
      throw new UsageError(`unknown option ${written}`);
    }
  }
  return out;
}
