/**
 * file.ts - the report of a heap kept in a file: a snapshot file, a heap
 * file, or a replay at a tick; and the state such a file holds, as a
 * Snapshot, for comparing. The type is told by the file's first bytes
 * (each format's magic); anything else is ECORRUPT, saying what was
 * expected.
 *
 * A heap file is not attached: its used prefix (as its header says, at
 * most the file's length) is mapped privately for reading, and the readers
 * treat it as untrusted, so inspecting never changes the file, never waits
 * on its lock, and a file short or damaged is a HeapError. Only the pages
 * the readers touch are read: a 1 GiB file holding 512 MiB takes 0.1 s for
 * the whole command, where a new process takes 0.4-0.6 s to read its used
 * prefix alone (bench/js/inspect.ts). Hazard, as
 * for PrivateHeap.open: a file that another process cuts shorter during the
 * inspection cannot be refused by the system, and touching its lost pages
 * ends the process with SIGBUS. A heap another process is changing
 * meanwhile may read as inconsistent (ECORRUPT): inspect it again, or
 * snapshot it under its lock. For comparing, a heap file's used prefix is
 * read whole (a comparison reads every byte anyway) into a snapshot's own
 * memory and checked in full there.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { fromSystemError, HeapError } from "../errors.ts";
import { requireFiles } from "../platform/files.ts";
import { PrivateHeap } from "../heap.ts";
import { readStats } from "../introspect.ts";
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";
import { MAGIC as SNAPSHOT_MAGIC } from "../snapshot/file-format.ts";
import { REPLAY_MAGIC } from "../snapshot/replay-format.ts";
import { Replay, type StepFn } from "../snapshot/replay.ts";
import { loadSnapshotSync, Snapshot, snapshotOfFilled } from "../snapshot/snapshot.ts";
import { inspectRegion, type HeapReport, type InspectOptions } from "./report.ts";

/** What a file holds, by its magic bytes. */
export type HeapFileKind = "snapshot" | "heap" | "replay";

/** "PRIVHEAP" as the heap header's first 8 bytes (PH_MAGIC, little-endian). */
const HEAP_MAGIC = new TextEncoder().encode("PRIVHEAP");

/** Options of {@link inspectFile}. */
export interface InspectFileOptions extends InspectOptions {
  /** For a replay: the tick whose state to inspect (-1: before tick 0). Required for a replay. */
  tick?: number;
  /** For a replay: the step function, to run from the keyframe before `tick`; without it `tick` must have a keyframe. */
  step?: StepFn;
  /** Called as the work goes on, with what is done and what there is (for a replay: ticks run from the keyframe). */
  progress?: (done: number, total: number, unit: string) => void;
}

/** The report and what was inspected. */
export interface FileReport {
  kind: HeapFileKind;
  report: HeapReport;
  /** For a replay: the tick inspected, and the keyframe it was rebuilt from. */
  tick?: number;
  keyframe?: number;
}

function startsWith(head: Uint8Array, magic: Readonly<Uint8Array>): boolean {
  if (head.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (head[i] !== magic[i]) return false;
  return true;
}

/** The kind of the file whose first bytes are `head`, or null. */
export function kindOfHead(head: Uint8Array): HeapFileKind | null {
  if (startsWith(head, SNAPSHOT_MAGIC)) return "snapshot";
  if (startsWith(head, REPLAY_MAGIC)) return "replay";
  if (startsWith(head, HEAP_MAGIC)) return "heap";
  return null;
}

/** Read up to out.length bytes at `at` of fd into out; returns how many came. */
function readFully(fd: number, out: Uint8Array, at: number): number {
  let got = 0;
  while (got < out.length) {
    const n = readSync(fd, out, got, out.length - got, at + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/**
 * Bytes of the used prefix of the heap file at `path` (open as fd,
 * `fileSize` bytes), as its header says and at most the file. The header's
 * counters are untrusted: they only bound what is read.
 */
function heapFilePrefixLength(fd: number, fileSize: number, path: string, op: string): number {
  const headerBytes = NATIVE_CONSTANTS.PH_HEADER_BYTES;
  if (fileSize < headerBytes) throw new HeapError("ECORRUPT", op, `${path}: ${fileSize} bytes, shorter than a heap header (${headerBytes})`);
  const header = new Uint8Array(headerBytes);
  if (readFully(fd, header, 0) < headerBytes) throw new HeapError("ECORRUPT", op, `${path}: the file ended inside the heap header`);
  const { usedBytes: used, regionBytes } = readStats(header, op);
  // A heap file holds its whole region: one that claims more is not whole (or lies about its size).
  if (regionBytes > fileSize) throw new HeapError("ESIZE", op, `${path}: ${fileSize} bytes, shorter than the ${regionBytes}-byte heap its header describes`);
  return Math.max(headerBytes, Math.min(used, fileSize));
}

/**
 * The used prefix of the heap file at `path` (open as fd, `fileSize`
 * bytes): mapped privately and read-only in use, so only the pages the
 * readers touch (header, map leaves, small runs' bitmaps) are read, not
 * the allocations' bytes (on Windows, read whole). The page map reader
 * checks the header in full.
 */
function mapHeapFilePrefix(fd: number, fileSize: number, path: string, op: string): Uint8Array {
  const len = heapFilePrefixLength(fd, fileSize, path, op);
  if (process.platform === "win32" || typeof Bun === "undefined") {
    // Bun maps files on POSIX systems only, and other runtimes map none: read the prefix whole.
    const image = new Uint8Array(len);
    return image.subarray(0, readFully(fd, image, 0));
  }
  try {
    return Bun.mmap(path, { shared: false, size: len } as Parameters<typeof Bun.mmap>[1]);
  } catch (e) {
    throw fromSystemError(e, op, path);
  }
}

/** Bytes read at a time from a heap file, between progress reports. */
const READ_CHUNK = 4 << 20;

/**
 * The used prefix of the heap file at `path` (open as fd, `fileSize`
 * bytes) read into a snapshot's own memory and checked there in full.
 * `progress` hears the bytes read so far of the prefix.
 */
function readHeapFileState(fd: number, fileSize: number, path: string, op: string, progress?: (done: number, total: number) => void): Snapshot {
  const len = heapFilePrefixLength(fd, fileSize, path, op);
  const fill = (image: Uint8Array) => {
    for (let at = 0; at < len; ) {
      const n = readFully(fd, image.subarray(at, Math.min(len, at + READ_CHUNK)), at);
      if (n === 0) throw new HeapError("ECORRUPT", op, `${path}: the file ended after ${at} bytes, inside its ${len}-byte used prefix`);
      at += n;
      progress?.(at, len);
    }
  };
  return snapshotOfFilled(len, fill, op, `${path}: the heap in this heap file (its ${len}-byte used prefix)`);
}

/**
 * `use` of the file at `path` (open as fd, `size` bytes) and its kind, told
 * by its magic; the file is closed after.
 */
function withFileKind<T>(path: string, op: string, use: (kind: HeapFileKind, fd: number, size: number) => T): T {
  requireFiles(op);
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw fromSystemError(e, op, path);
  }
  try {
    const size = fstatSync(fd).size;
    const head = new Uint8Array(8);
    const n = readFully(fd, head, 0);
    const kind = kindOfHead(head.subarray(0, n));
    if (kind === null) throw new HeapError("ECORRUPT", op, `${path}: not a privheap snapshot file, heap file or replay (its first bytes match none of their magics)`);
    return use(kind, fd, size);
  } finally {
    closeSync(fd);
  }
}

/**
 * The heap state in the snapshot file or heap file at `path` (told by its
 * magic), as a Snapshot. A snapshot file is loaded as `Snapshot.loadSync`
 * loads it. A heap file is not attached (its lock is never taken and the
 * file never changed): its used prefix (as its header says, at most the
 * file) is read into the snapshot's memory and checked there in full, as
 * `Snapshot.fromBytes` checks bytes from elsewhere; what is checked is the
 * snapshot's own copy, so a file changed meanwhile cannot make a passed
 * check stale, and a file cut shorter meanwhile is ECORRUPT. `progress`
 * hears the bytes read so far (of a heap file's used prefix, of a snapshot
 * file's data). `ECORRUPT` for a file of
 * neither kind and for damaged ones, `EINVAL` for a replay (it holds a
 * state per tick), `EVERSION`, `ESIZE`, `EIO`.
 *
 * @example
 * ```ts
 * import { PrivateHeap, heapDiff } from "privheap";
 * import { stateOfFile } from "./file.ts";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const path = join(mkdtempSync(join(tmpdir(), "state-")), "world.phheap");
 * using heap = PrivateHeap.open(path, { size: 1 << 20, create: true });
 * heap.malloc(300);
 * console.log(heapDiff(heap.snapshot(), stateOfFile(path)).diff.equal); // true
 * ```
 */
export function stateOfFile(path: string, progress?: (done: number, total: number) => void): Snapshot {
  const op = "stateOfFile";
  const state = withFileKind(path, op, (kind, fd, size) => {
    if (kind === "replay") throw new HeapError("EINVAL", op, `${path}: a replay holds a state per tick, not one state: compare two of its ticks`);
    return kind === "heap" ? readHeapFileState(fd, size, path, op, progress) : null;
  });
  return state ?? loadSnapshotSync(path, undefined, progress);
}

/**
 * The report of the heap in the file at `path`: a snapshot file (loaded
 * and checked as `Snapshot.load` does), a heap file (its used prefix read
 * as untrusted bytes), or a replay at `options.tick` (its keyframe, or with
 * `options.step` the keyframe before it and the ticks between, run on a
 * heap of the recorded size). `ECORRUPT` for a file of no such kind and
 * for damaged ones, `EVERSION`, `ESIZE`, `EINVAL` (a replay without a
 * tick, a tick without a keyframe and no step), `EIO`.
 *
 * @example
 * ```ts
 * import { PrivateHeap, inspectFile, formatReport } from "privheap";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const path = join(mkdtempSync(join(tmpdir(), "inspect-")), "save.phsnap");
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * heap.setRoot("world", heap.malloc(300));
 * heap.snapshot().saveSync(path);
 * const { kind, report } = inspectFile(path);
 * console.log(kind, report.live.count); // snapshot 1
 * ```
 */
export function inspectFile(path: string, options: InspectFileOptions = {}): FileReport {
  const op = "inspectFile";
  const { kind, image } = withFileKind(path, op, (kind, fd, size) => {
    if (kind !== "replay" && options.tick !== undefined) throw new HeapError("EINVAL", op, `${path}: a tick is for a replay; this is a ${kind} file`);
    return { kind, image: kind === "heap" ? mapHeapFilePrefix(fd, size, path, op) : null };
  });
  if (kind === "heap") return { kind, report: inspectRegion(image!, image!.length, image!, op, options) };
  if (kind === "snapshot") {
    const snap = Snapshot.loadSync(path);
    try {
      return { kind, report: snap.inspect(options) };
    } finally {
      snap.close();
    }
  }
  return inspectReplay(path, options, op);
}

function inspectReplay(path: string, options: InspectFileOptions, op: string): FileReport {
  const tick = options.tick;
  if (tick === undefined) throw new HeapError("EINVAL", op, `${path}: a replay holds many states: say which tick to inspect`);
  using replay = Replay.openSync(path);
  if (!Number.isSafeInteger(tick) || tick < -1 || tick >= replay.ticks)
    throw new HeapError("EINVAL", op, `${path}: tick must be an integer from -1 to ${replay.ticks - 1}, got ${String(tick)}`);
  const keyframes = replay.keyframes;
  let keyframe = keyframes[0]!;
  for (const k of keyframes) if (k <= tick) keyframe = k;
  if (options.step === undefined) {
    if (keyframe !== tick)
      throw new HeapError("EINVAL", op, `${path}: tick ${tick} has no keyframe (the nearest before it is after tick ${keyframe}); give the step function to run the ticks in between`);
    const snap = replay.keyframe(tick);
    try {
      return { kind: "replay", report: snap.inspect(options), tick, keyframe };
    } finally {
      snap.close();
    }
  }
  using heap = PrivateHeap.create({ size: replay.regionSize });
  const step = options.step;
  const total = tick - keyframe;
  let ran = 0;
  // seek restores the keyframe and runs the ticks between; counting them gives the progress.
  replay.seek(tick, heap, (h, input, t, ctx) => {
    step(h, input, t, ctx);
    options.progress?.(++ran, total, "ticks");
  });
  return { kind: "replay", report: heap.inspect(options), tick, keyframe };
}
