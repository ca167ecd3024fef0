/**
 * io.ts - where the command-line tool writes, and what it knows about the
 * terminal. Commands take an {@link Io} instead of touching `process`, so the
 * output is in one place.
 *
 * Writes are synchronous (`fs.writeSync`): the entry calls `process.exit`
 * when a command returns (a step module may keep the event loop alive with a
 * timer), and Bun drops piped `process.stdout.write` output still queued at
 * exit.
 */
import { writeSync } from "node:fs";

/**
 * The tool's outputs: results on stdout, messages and the progress bar on
 * stderr.
 *
 * @example
 * ```ts
 * import { processIo } from "./io.ts";
 * const io = processIo();
 * io.out("ok\n");
 * if (io.errIsTTY) io.err(`a terminal of ${io.errColumns} columns\n`);
 * ```
 */
export interface Io {
  /** Write to stdout. */
  out(text: string): void;
  /** Write to stderr. */
  err(text: string): void;
  /** stderr is a terminal (a progress bar may be drawn there). */
  readonly errIsTTY: boolean;
  /** Width of the stderr terminal in columns (80 when unknown). */
  readonly errColumns: number;
  /** The directory relative paths are resolved against. */
  readonly cwd: string;
}

/**
 * Write all of `text` to file descriptor `fd`. Returns false when the reader
 * has gone away (EPIPE, as in `privheap ... | head -1`): there is no one left
 * to tell, so the caller stops writing there.
 */
function writeAll(fd: number, text: string): boolean {
  const bytes = Buffer.from(text);
  let at = 0;
  while (at < bytes.length) {
    try {
      at += writeSync(fd, bytes, at, bytes.length - at);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === "EAGAIN") {
        Bun.sleepSync(1); // a non-blocking pipe that is full: wait for the reader
        continue;
      }
      if (code === "EPIPE") return false;
      throw e;
    }
  }
  return true;
}

/**
 * The {@link Io} of this process: fds 1 and 2, `process.stderr.isTTY`, and
 * `process.cwd()`.
 *
 * @example
 * ```ts
 * import { processIo } from "./io.ts";
 * processIo().err("privheap: something went wrong\n");
 * ```
 */
export function processIo(): Io {
  let outOpen = true;
  let errOpen = true;
  return {
    out(text) {
      if (outOpen) outOpen = writeAll(1, text);
    },
    err(text) {
      if (errOpen) errOpen = writeAll(2, text);
    },
    errIsTTY: process.stderr.isTTY === true,
    errColumns: process.stderr.columns || 80,
    cwd: process.cwd(),
  };
}
