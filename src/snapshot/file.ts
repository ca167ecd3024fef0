/**
 * file.ts - snapshot files (docs/snapshot-format.md) on the file system:
 * write a snapshot's bytes to a file atomically, and read a file back into
 * bytes that the caller then hands to the native checker. The bytes of the
 * format itself are file-format.ts.
 *
 * A file is an 80-byte header, a map with one bit per page of the used
 * prefix, and the data: the pages whose map bit is set (every page that is
 * not all zero), in page order, stored as is or as one zstd frame.
 *
 * Invariants:
 * - A save never changes the file at `path` until the new file is complete:
 *   it writes `.<name>.<pid>-<n>-<rand>.tmp` in the same directory, fsyncs
 *   it, and renames it over `path` (a rename within one directory replaces
 *   the name atomically). A failed save removes its temporary file.
 * - A load trusts nothing it read until a check covers it: the header's own
 *   checksum, then the map's, then the data's, then (by the caller) the full
 *   native heap check. Every size is checked against the file's length
 *   before anything is allocated or read, so damage is `ECORRUPT` or
 *   `EVERSION`, never a crash, a hang or a huge allocation.
 *
 * Checksums are 64-bit xxHash3 (`Bun.hash.xxHash3`, seed 0), and together
 * they cover every byte of the file as stored. The raw data's checksum is a
 * hash of per-unit hashes (a unit is a run of stored pages inside one
 * aligned group of 64 pages), so saving and loading hash each piece right
 * next to its write or read, while it is in cache, instead of in a second
 * pass over the whole snapshot. zstd data is hashed as stored, and checked
 * before the decoder sees it.
 */
import { closeSync, constants as fsConstants, lstatSync, openSync, readSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { xxHash3 } from "#runtime";
import { fromSystemError, HeapError } from "../errors.ts";
import { requireFiles } from "../platform/files.ts";
import { requireZstd } from "../platform/zstd.ts";
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";
import { readStats } from "../introspect.ts";
import { runAsync, runSync, type Handle, type Req, type Steps } from "./file-io.ts";
import { newImage } from "./image-memory.ts";
import type { Snapshot } from "./snapshot.ts";
import {
  ABI,
  ASYNC_BATCH_BYTES,
  BATCH_BYTES,
  CODEC_RAW,
  CODEC_ZSTD,
  HEADER_BYTES,
  MAGIC,
  PAGE,
  UnitHashes,
  batchesOf,
  corrupt,
  encodeHeader,
  hashInPlace,
  hex,
  mapBytesFor,
  mapNonZeroPages,
  packPages,
  parseHeader,
  segmentsOf,
  unitsOf,
  unpackPages,
  zstdFrameProblem,
  zstdLevel,
  zstdPrefix,
  type Batch,
  type FileHeader,
  type LoadOptions,
  type SaveOptions,
} from "./file-format.ts";

// ---- file system -------------------------------------------------------------

interface Settings {
  level: number;
  fsync: boolean;
  mode: number;
}

/** Mode of a new snapshot file unless the caller gives one. */
const DEFAULT_MODE = 0o600;

function settingsOf(path: unknown, options: SaveOptions | undefined, op: string): Settings {
  if (typeof path !== "string" || path === "") throw new HeapError("EINVAL", op, "path must be a non-empty string");
  if (options !== undefined && (typeof options !== "object" || options === null)) throw new HeapError("EINVAL", op, "options must be an object");
  const fsync = options?.fsync ?? true;
  if (typeof fsync !== "boolean") throw new HeapError("EINVAL", op, `fsync must be a boolean, got ${String(fsync)}`);
  const mode = options?.mode ?? DEFAULT_MODE;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777)
    throw new HeapError("EINVAL", op, `mode must be permission bits within 0o777 (no setuid, setgid or sticky bit), got ${String(mode)}`);
  return { level: zstdLevel(options?.compress, op), fsync, mode };
}

/**
 * Refuse to replace what is at `path` unless it is absent, a snapshot file
 * (its first bytes are the magic, damaged or not), an empty file, a
 * symbolic link (the rename replaces the link, never its target) or a
 * directory (the rename then fails, changing nothing). A file of another
 * kind is never changed: EINVAL before anything is written.
 */
function checkReplaceable(path: string, op: string): void {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return;
    throw fromSystemError(e, op, path);
  }
  if (st.isSymbolicLink() || st.isDirectory()) return;
  const refuse = (what: string) => new HeapError("EINVAL", op, `${path} is ${what}, not a privheap snapshot file; a save never replaces it`);
  if (!st.isFile()) throw refuse("not a regular file");
  if (st.size === 0) return;
  const head = new Uint8Array(MAGIC.length);
  let fd = -1;
  let n: number;
  try {
    fd = openSync(path, READ_FLAGS);
    n = readSync(fd, head, 0, head.length, 0);
  } catch (e) {
    throw fromSystemError(e, op, path);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  if (n === 0 || !head.subarray(0, n).every((b, i) => b === MAGIC[i])) throw refuse("a file of another kind");
}


/** Appended to temporary file names, so two saves of one process never share one. */
let tempSeq = 0;

/** A fresh name next to `path` (same directory, so the rename is atomic). */
function tempPathFor(path: string): string {
  const rand = Math.floor(Math.random() * 2 ** 32).toString(16);
  return join(dirname(path), `.${basename(path).slice(0, 160)}.${process.pid}-${++tempSeq}-${rand}.tmp`);
}

/** Opening a FIFO or a device without O_NONBLOCK could wait forever. */
const READ_FLAGS = (fsConstants?.O_RDONLY ?? 0) | (fsConstants?.O_NONBLOCK ?? 0); // ?.: a browser bundle has no node:fs (its file calls are refused before they run)

function notAFile(op: string, path: string): HeapError {
  return new HeapError("EIO", op, `${path} is not a regular file`);
}

/** Views minus their first `n` bytes. */
function advance(views: Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  while (i < views.length && n >= views[i]!.length) n -= views[i++]!.length;
  const rest = views.slice(i);
  if (n > 0) rest[0] = rest[0]!.subarray(n);
  return rest;
}

/** A write that reports 0 bytes would otherwise loop forever. */
function noProgress(): Error {
  return Object.assign(new Error("EIO: the write made no progress"), { code: "EIO" });
}

/** Write all of `views` at `pos`, however the OS splits the writes. */
function* writeAll(fd: Handle, views: Uint8Array[], pos: number): Steps<void> {
  while (views.length > 0) {
    const n: number = yield { io: "write", fd, views, pos };
    if (n <= 0) throw noProgress();
    pos += n;
    views = advance(views, n);
  }
}

/** Fill `views` from the file at `pos`; running out of file means it shrank while being read. */
function* readFully(fd: Handle, views: Uint8Array[], pos: number, op: string, path: string): Steps<void> {
  while (views.length > 0) {
    const n: number = yield { io: "read", fd, views, pos };
    if (n === 0) throw corrupt(op, path, "truncated while being read");
    pos += n;
    views = advance(views, n);
  }
}

/** Run a request whose failure changes nothing for the caller (cleanup after a first error). */
function* quietly(req: Req): Steps<void> {
  try {
    yield req;
  } catch {
    // The first error is the one to report.
  }
}

// ---- saving ----------------------------------------------------------------

/** What a save knows after looking at the snapshot, before writing. */
interface SavePlan {
  head: Uint8Array; // header + map, written last
  header: FileHeader;
  units: Uint32Array;
}

function planSave(image: Uint8Array, level: number, op: string): SavePlan {
  const pages = image.length / PAGE;
  const head = new Uint8Array(HEADER_BYTES + mapBytesFor(pages));
  const map = head.subarray(HEADER_BYTES);
  const stored = mapNonZeroPages(image, map, op);
  const units = unitsOf(map, pages)!;
  const header: FileHeader = {
    codec: level > 0 ? CODEC_ZSTD : CODEC_RAW,
    regionBytes: readStats(image, op).regionBytes,
    usedBytes: image.length,
    storedPages: stored,
    dataBytes: stored * PAGE,
    mapChecksum: xxHash3(map),
    dataChecksum: 0n,
  };
  return { head, header, units };
}

function finishHead(plan: SavePlan, dataChecksum: bigint, dataBytes: number): Uint8Array {
  plan.header.dataChecksum = dataChecksum;
  plan.header.dataBytes = dataBytes;
  encodeHeader(plan.header, plan.head);
  return plan.head;
}


/** The directory entry of a rename reaches the device only when the directory is synced. */
function* syncDir(dir: string): Steps<void> {
  let fd: Handle | undefined;
  try {
    fd = yield { io: "open", path: dir, flags: "r" };
    yield { io: "sync", fd: fd! };
  } catch {
    // Best effort, by design: Windows cannot open a directory, and some file
    // systems refuse fsync on one. The rename itself already happened.
  } finally {
    if (fd !== undefined) yield { io: "close", fd };
  }
}

/**
 * The save: write the stored pages (each batch hashed just before its
 * write, which may run while the next batch is hashed), then the header
 * and map, to a new temporary file; fsync it, rename it over `path`, fsync
 * the directory. On failure the temporary file is removed.
 */
function* saveSteps(path: string, image: Uint8Array, options: SaveOptions | undefined, op: string, batchBytes: number): Steps<void> {
  requireFiles(op);
  const { level, fsync, mode } = settingsOf(path, options, op);
  checkReplaceable(path, op);
  const plan = planSave(image, level, op);
  const dataAt = plan.head.length;
  const tmp = tempPathFor(path);
  let fd: Handle | undefined;
  try {
    fd = (yield { io: "open", path: tmp, flags: "wx", mode }) as Handle;
    let head: Uint8Array;
    if (level === 0) {
      const hashes = new UnitHashes(plan.units.length / 2);
      for (const b of batchesOf(plan.units, batchBytes)) {
        hashInPlace(plan.units, b, image, hashes);
        yield { io: "overlap", steps: writeAll(fd, segmentsOf(plan.units, b, image), dataAt + b.at) };
      }
      head = finishHead(plan, hashes.digest(), plan.header.storedPages * PAGE);
    } else {
      const z: Uint8Array = yield { io: "compress", data: packPages(plan.units, image, plan.header.storedPages), level };
      yield* writeAll(fd, [z], dataAt);
      head = finishHead(plan, xxHash3(z), z.length);
    }
    yield* writeAll(fd, [head], 0);
    if (fsync) yield { io: "sync", fd };
    const open = fd;
    fd = undefined;
    yield { io: "close", fd: open };
    yield { io: "rename", from: tmp, to: path };
  } catch (e) {
    if (fd !== undefined) yield* quietly({ io: "close", fd });
    yield* quietly({ io: "unlink", path: tmp }); // it may not exist (open failed)
    throw fromSystemError(e, op, path);
  }
  if (fsync) yield* syncDir(dirname(path));
}

/**
 * Write `image`, a snapshot's used prefix, to `path` atomically. Errors:
 * EINVAL (arguments), EIO (file system, with `cause`).
 */
export function saveFileSync(path: string, image: Uint8Array, options: SaveOptions | undefined, op: string): void {
  runSync(saveSteps(path, image, options, op, BATCH_BYTES));
}

/** The async form of {@link saveFileSync}: I/O and zstd run off the JS thread, and hashing overlaps the writes. */
export function saveFile(path: string, image: Uint8Array, options: SaveOptions | undefined, op: string): Promise<void> {
  return runAsync(saveSteps(path, image, options, op, ASYNC_BATCH_BYTES));
}

// ---- loading ---------------------------------------------------------------

/** Turns a decoded used prefix into a Snapshot, after the full native check (snapshot.ts). */
export type Adopt = (image: Uint8Array) => Snapshot;

/** Told of a load's data bytes read and checked so far, of `total` (a compressed file's all at once). */
export type LoadProgress = (done: number, total: number) => void;

/** What a load knows once the header and the map passed their checks. */
interface LoadPlan {
  header: FileHeader;
  units: Uint32Array;
  dataAt: number;
}

function planLoad(header: FileHeader, map: Uint8Array, op: string, path: string): LoadPlan {
  const actual = xxHash3(map);
  if (actual !== header.mapChecksum) throw corrupt(op, path, `page map checksum mismatch (stored ${hex(header.mapChecksum)}, computed ${hex(actual)})`);
  const units = unitsOf(map, header.usedBytes / PAGE);
  if (units === null) throw corrupt(op, path, "the page map marks pages past the used prefix");
  let stored = 0;
  for (let u = 0; u < units.length; u += 2) stored += units[u + 1]! - units[u]!;
  if (stored !== header.storedPages) throw corrupt(op, path, `the page map marks ${stored} pages; the header says ${header.storedPages}`);
  return { header, units, dataAt: HEADER_BYTES + map.length };
}

/** Pages at the start of every used prefix that hold the heap header (struct ph_heap, lock block last). */
const HEAP_HEADER_PAGES = Math.ceil(NATIVE_CONSTANTS.PH_LOCK_BLOCK_END / PAGE);
/** The most a zstd frame's first blocks may decode to in the search for the heap header. */
const ZSTD_PREFIX_MAX = 8 << 20;

/** How many of the heap header pages the map stores: they are the first pages of the data. */
function storedHeaderPages(plan: LoadPlan): number {
  const u = plan.units;
  let n = 0;
  for (let i = 0; i < u.length && u[i]! < HEAP_HEADER_PAGES; i += 2) n += Math.min(u[i + 1]!, HEAP_HEADER_PAGES) - u[i]!;
  return n;
}

/** The first 8 bytes of every heap header: "PRIVHEAP"; the header's ABI version follows them (offset 8, u32). */
const HEAP_MAGIC = new TextEncoder().encode("PRIVHEAP");

/**
 * Check the heap header, rebuilt from the first `storedHeaderPages` pages
 * of the data (`packed`; the others are zero), against the file's header,
 * before anything the size of the used prefix is allocated or decoded: its
 * magic and ABI, and the used prefix and region it describes
 * (ph_heap_stats, which takes no length and reads the header struct only:
 * the pages given hold all of it). The full native check of the whole
 * image comes later; this one only keeps a file from making the loader
 * allocate or decode what its own heap header does not describe.
 */
function checkHeapHeader(plan: LoadPlan, packed: Uint8Array, op: string, path: string): void {
  const head = new Uint8Array(HEAP_HEADER_PAGES * PAGE);
  let at = 0;
  for (let u = 0; u < plan.units.length && plan.units[u]! < HEAP_HEADER_PAGES; u += 2)
    for (let p = plan.units[u]!; p < Math.min(plan.units[u + 1]!, HEAP_HEADER_PAGES); p++, at += PAGE) head.set(packed.subarray(at, at + PAGE), p * PAGE);
  if (!HEAP_MAGIC.every((b, i) => head[i] === b)) throw corrupt(op, path, "the data does not start with a heap header (no PRIVHEAP magic)");
  const abi = new DataView(head.buffer).getUint32(HEAP_MAGIC.length, true);
  // ECORRUPT, not EVERSION: the file's header named this ABI, so the file contradicts itself.
  if (abi !== ABI) throw corrupt(op, path, `the heap header inside is of native ABI ${abi}; the file's header says ${ABI}`);
  const st = readStats(head, op);
  if (st.usedBytes !== plan.header.usedBytes || st.regionBytes !== plan.header.regionBytes)
    throw corrupt(op, path, `the heap header inside describes a ${st.usedBytes}-byte used prefix of a ${st.regionBytes}-byte region; the file's header says ${plan.header.usedBytes} of ${plan.header.regionBytes}`);
}

/** The heap header pages of zstd data (checked as stored), decoding only the frame's first blocks. */
function zstdHeaderPages(plan: LoadPlan, data: Uint8Array, op: string, path: string): Uint8Array {
  const need = storedHeaderPages(plan) * PAGE;
  const out = zstdPrefix(data, need, ZSTD_PREFIX_MAX);
  if (out === null) throw corrupt(op, path, "the zstd data's first blocks do not decode");
  if (out.length < need) throw corrupt(op, path, `the zstd data's first blocks hold ${out.length} bytes, fewer than the heap header's ${need}`);
  return out;
}

function checkData(plan: LoadPlan, actual: bigint, op: string, path: string): void {
  if (actual !== plan.header.dataChecksum)
    throw corrupt(op, path, `data checksum mismatch (stored ${hex(plan.header.dataChecksum)}, computed ${hex(actual)})`);
}

/** Check zstd data as stored (checksum, then frame) before any decoding. */
function checkZstd(plan: LoadPlan, data: Uint8Array, op: string, path: string): void {
  checkData(plan, xxHash3(data), op, path);
  const problem = zstdFrameProblem(data, plan.header.storedPages * PAGE);
  if (problem !== "") throw corrupt(op, path, problem);
}

function decodedZstd(plan: LoadPlan, body: Uint8Array, op: string, path: string): Uint8Array {
  if (body.length !== plan.header.storedPages * PAGE)
    throw corrupt(op, path, `zstd data decoded to ${body.length} bytes; the header needs ${plan.header.storedPages * PAGE}`);
  return unpackPages(plan.units, body, plan.header.usedBytes);
}

function zstdFailure(e: unknown, op: string, path: string): HeapError {
  return new HeapError("ECORRUPT", op, `${path}: the zstd data does not decode (${e instanceof Error ? e.message : String(e)})`, { cause: e });
}

function finishLoad(image: Uint8Array, plan: LoadPlan, adopt: Adopt, op: string, path: string): Snapshot {
  const snap = adopt(image);
  if (snap.regionSize !== plan.header.regionBytes)
    throw corrupt(op, path, `the heap inside has a ${snap.regionSize}-byte region; the header says ${plan.header.regionBytes}`);
  return snap;
}

/** The largest used prefix `options` accept (EINVAL for a bad option). */
function maxBytesOf(options: LoadOptions | undefined, op: string): number {
  if (options !== undefined && (typeof options !== "object" || options === null)) throw new HeapError("EINVAL", op, "options must be an object");
  const max = options?.maxBytes ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(max) || max < 0) throw new HeapError("EINVAL", op, `maxBytes must be a non-negative integer, got ${String(max)}`);
  return max;
}

function checkMaxBytes(header: FileHeader, max: number, op: string, path: string): void {
  if (header.usedBytes > max) throw new HeapError("ESIZE", op, `${path}: the snapshot's used prefix is ${header.usedBytes} bytes, more than maxBytes (${max})`);
}

/**
 * The load, checks in this order: the header, the page map, the heap
 * header in the data's first pages, the data's checksum (raw data: each
 * batch hashed right after its read, which may run while the next batch
 * is read; zstd data: as stored, before decoding), then `adopt`.
 */
function* loadSteps(path: string, op: string, adopt: Adopt, options: LoadOptions | undefined, batchBytes: number, progress?: LoadProgress): Steps<Snapshot> {
  requireFiles(op);
  if (typeof path !== "string" || path === "") throw new HeapError("EINVAL", op, "path must be a non-empty string");
  const maxBytes = maxBytesOf(options, op);
  let fd: Handle | undefined;
  let image: Uint8Array;
  let plan: LoadPlan;
  try {
    fd = (yield { io: "open", path, flags: READ_FLAGS }) as Handle;
    const st: Stats = yield { io: "stat", fd };
    if (!st.isFile()) throw notAFile(op, path);
    const head = new Uint8Array(Math.min(st.size, HEADER_BYTES));
    yield* readFully(fd, [head], 0, op, path);
    const header = parseHeader(head, st.size, op, path);
    checkMaxBytes(header, maxBytes, op, path);
    const map = new Uint8Array(mapBytesFor(header.usedBytes / PAGE));
    yield* readFully(fd, [map], HEADER_BYTES, op, path);
    plan = planLoad(header, map, op, path);
    if (header.codec === CODEC_RAW) {
      const packed = new Uint8Array(storedHeaderPages(plan) * PAGE);
      yield* readFully(fd, [packed], plan.dataAt, op, path);
      checkHeapHeader(plan, packed, op, path);
      image = newImage(header.usedBytes, true, op); // pages of zeros are not in the file
      const hashes = new UnitHashes(plan.units.length / 2);
      let done: Batch | undefined; // read, not yet hashed
      const batches = batchesOf(plan.units, batchBytes);
      const total = batches.length === 0 ? 0 : batches[batches.length - 1]!.at + batches[batches.length - 1]!.bytes;
      for (const b of batches) {
        yield { io: "overlap", steps: readFully(fd, segmentsOf(plan.units, b, image), plan.dataAt + b.at, op, path) };
        if (done !== undefined) {
          hashInPlace(plan.units, done, image, hashes);
          progress?.(done.at + done.bytes, total);
        }
        done = b;
      }
      yield { io: "wait" };
      if (done !== undefined) {
        hashInPlace(plan.units, done, image, hashes);
        progress?.(total, total);
      }
      checkData(plan, hashes.digest(), op, path);
    } else {
      const data = new Uint8Array(header.dataBytes);
      yield* readFully(fd, [data], plan.dataAt, op, path);
      progress?.(data.length, data.length);
      checkZstd(plan, data, op, path);
      checkHeapHeader(plan, zstdHeaderPages(plan, data, op, path), op, path);
      let body: Uint8Array;
      requireZstd(op);
      try {
        body = yield { io: "decompress", data, size: plan.header.storedPages * PAGE };
      } catch (e) {
        throw zstdFailure(e, op, path);
      }
      image = decodedZstd(plan, body, op, path);
    }
  } catch (e) {
    throw fromSystemError(e, op, path);
  } finally {
    if (fd !== undefined) yield { io: "close", fd };
  }
  return finishLoad(image, plan, adopt, op, path);
}

/**
 * Read the snapshot file at `path`, check it against the format, decode
 * it, and hand the used prefix to `adopt` (the native check). Errors:
 * ECORRUPT (damage, truncation), EVERSION (newer format, other ABI or page
 * size), ESIZE (larger than `maxBytes`), EIO (file system, with `cause`),
 * EINVAL (arguments).
 */
export function loadFileSync(path: string, op: string, adopt: Adopt, options?: LoadOptions, progress?: LoadProgress): Snapshot {
  return runSync(loadSteps(path, op, adopt, options, BATCH_BYTES, progress));
}

/** The async form of {@link loadFileSync}: I/O and zstd run off the JS thread, and hashing overlaps the reads. */
export function loadFile(path: string, op: string, adopt: Adopt, options?: LoadOptions): Promise<Snapshot> {
  return runAsync(loadSteps(path, op, adopt, options, ASYNC_BATCH_BYTES));
}
