#!/usr/bin/env bun
/**
 * cli.ts - the `privheap` command (package.json "bin"): look into heaps,
 * snapshots and replay files.
 *
 *   privheap inspect FILE [--tick N [--step MODULE]] [--json] [--html OUT]
 *   privheap replay info FILE
 *   privheap replay verify FILE --step MODULE [--quiet]
 *   privheap replay timeline FILE [--step MODULE] [--html OUT]
 *   privheap diff A B [--json] [--html OUT]
 *   privheap diff FILE --ticks N M [--step MODULE] [--json] [--html OUT]
 *   privheap help
 *
 * Run it as `bunx privheap ...` or `npm exec privheap ...` where the package
 * is installed, or as `bun src/cli.ts ...` in this repository. The commands
 * live in src/cli/; `privheap --help` says what they do and how they exit.
 *
 * The process exits as soon as the command returns, even if a step module
 * left a timer running; output is written synchronously, so none is lost.
 */
import { processIo } from "./cli/io.ts";
import { main } from "./cli/main.ts";

process.exit(await main(process.argv.slice(2), processIo()));
