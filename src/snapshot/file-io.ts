/**
 * file-io.ts - one file pipeline, two ways to run it. file.ts writes each
 * save and load once, as a generator of `Steps` that yields I/O requests
 * (`Req`) and receives their results; `runSync` performs the requests with
 * `fs.*Sync` and the runtime's zstd (#runtime) on the calling thread,
 * `runAsync` with `fs.promises` and its asynchronous zstd, off the JS thread.
 *
 * Invariants:
 * - A failed request is thrown into the generator at its `yield`, so the
 *   pipeline's own try/catch/finally does every cleanup, the same both ways.
 * - At most one request is in flight: `overlap` starts its sub-steps and
 *   returns at once (the sync driver runs them to the end first), and the
 *   next request (`wait` does nothing else; the end of the pipeline too)
 *   waits for them and receives their failure, if any. The generator works on the JS thread meanwhile,
 *   e.g. hashes the next batch while the previous one is being written.
 * - Buffers are handed to the OS as given (no copy): a write goes straight
 *   from the snapshot's memory, a read straight into the final image.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, readvSync, renameSync, unlinkSync, writeSync, writevSync, type Stats } from "node:fs";
import * as fsp from "node:fs/promises";
import { zstdCompress, zstdCompressAsync, zstdDecompress, zstdDecompressAsync } from "#runtime";

/** An open file: a descriptor (sync) or a FileHandle (async); the pipeline only passes it back. */
export type Handle = number | fsp.FileHandle;

/** One I/O request and, in the comment, what the `yield` gives back. */
export type Req =
  | { io: "open"; path: string; flags: string | number; mode?: number } // Handle
  | { io: "stat"; fd: Handle } // Stats
  | { io: "write"; fd: Handle; views: Uint8Array[]; pos: number } // bytes written (maybe fewer than given)
  | { io: "read"; fd: Handle; views: Uint8Array[]; pos: number } // bytes read (0 at the end of the file)
  | { io: "sync"; fd: Handle }
  | { io: "close"; fd: Handle }
  | { io: "rename"; from: string; to: string }
  | { io: "unlink"; path: string }
  | { io: "compress"; data: Uint8Array; level: number } // the zstd frame
  | { io: "decompress"; data: Uint8Array; size: number } // the decoded bytes (at most size)
  | { io: "overlap"; steps: Steps<void> }
  | { io: "wait" }; // for the overlap in flight

/** A pipeline: yields requests and receives each result; `any`, since the result's type depends on the request (each use names it). */
export type Steps<T> = Generator<Req, T, any>;

/** Reads and writes of one buffer go in pieces of at most this (below Linux's 2 GiB cap per call). */
const IO_CHUNK = 1 << 30;

function one(views: Uint8Array[]): [Uint8Array, number, number] {
  return [views[0]!, 0, Math.min(views[0]!.length, IO_CHUNK)];
}

function doSync(r: Req): unknown {
  switch (r.io) {
    case "open":
      return openSync(r.path, r.flags, r.mode);
    case "stat":
      return fstatSync(r.fd as number);
    case "write":
      return r.views.length === 1 ? writeSync(r.fd as number, ...one(r.views), r.pos) : writevSync(r.fd as number, r.views, r.pos);
    case "read":
      return r.views.length === 1 ? readSync(r.fd as number, ...one(r.views), r.pos) : readvSync(r.fd as number, r.views, r.pos);
    case "sync":
      return fsyncSync(r.fd as number);
    case "close":
      return closeSync(r.fd as number);
    case "rename":
      return renameSync(r.from, r.to);
    case "unlink":
      return unlinkSync(r.path);
    case "compress":
      return zstdCompress(r.data, r.level);
    case "decompress":
      return zstdDecompress(r.data, r.size);
    case "overlap":
      return runSync(r.steps);
    case "wait":
      return undefined;
  }
}

async function doAsync(r: Req): Promise<unknown> {
  const fh = (r as { fd?: Handle }).fd as fsp.FileHandle;
  switch (r.io) {
    case "open":
      return fsp.open(r.path, r.flags, r.mode);
    case "stat":
      return fh.stat() as Promise<Stats>;
    case "write":
      return (r.views.length === 1 ? await fh.write(...one(r.views), r.pos) : await fh.writev(r.views, r.pos)).bytesWritten;
    case "read":
      return (r.views.length === 1 ? await fh.read(...one(r.views), r.pos) : await fh.readv(r.views, r.pos)).bytesRead;
    case "sync":
      return fh.sync();
    case "close":
      return fh.close();
    case "rename":
      return fsp.rename(r.from, r.to);
    case "unlink":
      return fsp.unlink(r.path);
    case "compress":
      return zstdCompressAsync(r.data, r.level);
    case "decompress":
      return zstdDecompressAsync(r.data, r.size);
    case "overlap":
      return runAsync(r.steps);
    case "wait":
      return undefined;
  }
}

/** Run `steps` to the end on this thread. */
export function runSync<T>(steps: Steps<T>): T {
  let r = steps.next();
  while (!r.done) {
    let out: unknown;
    try {
      out = doSync(r.value);
    } catch (e) {
      r = steps.throw(e);
      continue;
    }
    r = steps.next(out);
  }
  return r.value;
}

/** Run `steps` with asynchronous I/O, keeping at most one `overlap` in flight. */
export async function runAsync<T>(steps: Steps<T>): Promise<T> {
  let inFlight: Promise<unknown> | undefined;
  let r = steps.next();
  for (;;) {
    let out: unknown;
    let failed = false;
    try {
      if (inFlight !== undefined) {
        const waiting = inFlight;
        inFlight = undefined;
        await waiting;
      }
      if (r.done) return r.value;
      if (r.value.io === "overlap") {
        inFlight = doAsync(r.value);
        inFlight.catch(() => undefined); // its failure is thrown at the next request
      } else {
        out = await doAsync(r.value);
      }
    } catch (e) {
      failed = true;
      out = e;
    }
    if (failed && r.done) throw out;
    r = failed ? steps.throw(out) : steps.next(out);
  }
}
