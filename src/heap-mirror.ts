/**
 * heap-mirror.ts - HeapMirror: a heap file on disk kept equal to a live
 * heap in memory (anonymous, so the kernel tracks its writes cheaply),
 * each sync writing only the pages that changed since the last one.
 *
 * Why not map the file itself: a MAP_SHARED disk file cannot be tracked
 * for free (another process's writes are invisible to the tracker, and a
 * first write to a tracked page of an ext4 mapping costs 10-170 us against
 * 1-2.5 us for anonymous memory), so heap files compare pages instead.
 *
 * The file is a heap file (the region's bytes, `heap.size` long, sparse
 * past what was written), so `PrivateHeap.open(path)` opens it once the
 * mirror is closed, and `load` reads it back as a snapshot (the format:
 * docs/heap-mirror.md). Invariants:
 * - Between syncs the file's first `usedBytes` bytes equal the live
 *   heap's at the last completed sync (the pages above may hold older
 *   bytes; an opened heap file counts them as dirty anyway).
 * - `fileHash[p]`, when `valid[p]`, is the xxHash3 of page p as the file
 *   holds it. A sync writes the pages whose live hash differs (of those the
 *   tracker reports, or of all when it cannot say): a page is missed only
 *   when a change keeps its 64-bit hash, a chance of 2^-64 per changed
 *   page. That costs 8 bytes a page rather than a shadow copy of the heap
 *   (a "compare" heap hashes its whole prefix at each sync, at about the
 *   speed of comparing it with a copy), and a page the tracker reports
 *   written with the same bytes (or all pages, while its writes are dense)
 *   is not written again.
 * - Crash safety, by a redo journal beside the file (`<path>-journal`):
 *   a sync writes the changed pages and their checksum to the journal
 *   (fsync), then marks the file as being written by overwriting its first
 *   16 bytes (the heap's magic) with MARK and the sync's id (fsync), writes
 *   the pages in place (fsync), and writes page 0 last, which removes the
 *   mark (fsync). A crash before the mark leaves the old file; after it,
 *   a marked file that `PrivateHeap.open` refuses (`ECORRUPT`: no heap
 *   magic) and a complete journal of the same id, which `HeapMirror.open`
 *   (or `HeapMirror.recover`) replays. So the file is always the last
 *   completed sync, or the next one once recovered, never a silent mix.
 *   Why a journal and not only the mark: a mark alone loses the save when
 *   a sync is interrupted, which is when it matters. Cost: the changed
 *   pages are written twice, and four fsyncs (none with `fsync: false`,
 *   which keeps the order, so a killed process is safe, but not power loss).
 *   So a sync that changes at least half the used pages writes a new file
 *   instead, renamed over the path as `create` does (one write of the used
 *   prefix); the pages above the prefix then count as unknown.
 * - A file is created only as a temporary file renamed over the path
 *   (never written through a link, mode 0o600 unless `mode`); an existing
 *   file is replaced only when it is a heap file, a mirror's marked file
 *   or empty. The journal is opened with O_NOFOLLOW and reused only when
 *   empty or a journal.
 */
import {
  closeSync,
  constants as fsConstants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
  writevSync,
} from "node:fs";
import * as fsp from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { xxHash3 } from "#runtime";
import { fromSystemError, HeapError } from "./errors.ts";
import { NATIVE_CONSTANTS } from "./ffi/symbols.ts";
import type { OpenOptions } from "./heap-file.ts";
import { changesOf, PAGE_SIZE, PrivateHeap } from "./heap.ts";
import { readStats } from "./introspect.ts";
import { sameBytes } from "./platform/bytes.ts";
import { requireFiles } from "./platform/files.ts";
import { Snapshot } from "./snapshot/snapshot.ts";
import { type ChangeSet, UNKNOWN } from "./tracking.ts";

/** Options of {@link HeapMirror.create}. */
export interface MirrorOptions {
  /**
   * fsync the journal and the file at each step of a sync (default true),
   * so a completed sync survives a power loss. `false` keeps the order of
   * the writes (a killed process leaves the old or the new state, after
   * recovery) but not across a machine crash.
   */
  fsync?: boolean;
  /** Permission bits of the file and its journal, within 0o777 (default 0o600). */
  mode?: number;
}

/** Options of {@link HeapMirror.load} and {@link HeapMirror.loadSync}. */
export interface MirrorLoadOptions {
  /** Refuse (`ESIZE`) a file whose used prefix is larger, before reading it: the size of the heap it will restore into, say. */
  maxBytes?: number;
}

/** What {@link HeapMirror.recover} found. */
export type Recovery = "clean" | "replayed";

const PAGE = PAGE_SIZE;
/** The first 8 bytes of a file a sync is writing (instead of the heap's magic): "PHMIRSYN". */
const MARK = 0x4e595352494d4850n;
/** The first 8 bytes of a journal: "PHMJRNL1". */
const JOURNAL_MAGIC = 0x314c4e524a4d4850n;
const JOURNAL_VERSION = 1;
/** magic u64, version u32, page size u32, sync id u64, region bytes u64, runs u32, pad u32, checksum u64. */
const JOURNAL_HEADER = 48;
/** Reads and writes of one buffer go in pieces of at most this (Linux caps a call near 2 GiB). */
const IO_CHUNK = 1 << 30;
/** The heap header's pages (its lock block ends the header): what a load reads first. */
const HEAP_HEADER_BYTES = Math.ceil(NATIVE_CONSTANTS.PH_LOCK_BLOCK_END / PAGE) * PAGE;
/** Views per writev (IOV_MAX is 1024 on Linux). */
const IOV_MAX = 1024;

/** The file is read back too: a sync that failed after marking it is finished by the next one, which reads the mark. */
const WRITE_NEW = (fsConstants?.O_RDWR ?? 0) | (fsConstants?.O_CREAT ?? 0) | (fsConstants?.O_EXCL ?? 0) | (fsConstants?.O_NOFOLLOW ?? 0);
const JOURNAL_FLAGS = (fsConstants?.O_RDWR ?? 0) | (fsConstants?.O_CREAT ?? 0) | (fsConstants?.O_NOFOLLOW ?? 0);
const READ_FLAGS = (fsConstants?.O_RDONLY ?? 0) | (fsConstants?.O_NONBLOCK ?? 0);
const RDWR_FLAGS = (fsConstants?.O_RDWR ?? 0) | (fsConstants?.O_NONBLOCK ?? 0);

/** The journal beside a mirror's file. */
export function journalPathOf(path: string): string {
  return `${path}-journal`;
}

/** Runs of adjacent pages: starts[i], counts[i], for i < n. */
interface Runs {
  starts: Uint32Array;
  counts: Uint32Array;
  n: number;
}

/** Write all of `bytes` at `pos`. */
function writeFully(fd: number, bytes: Uint8Array, pos: number): void {
  for (let done = 0; done < bytes.length; ) {
    const n = writeSync(fd, bytes, done, Math.min(bytes.length - done, IO_CHUNK), pos + done);
    if (n <= 0) throw Object.assign(new Error("EIO: the write made no progress"), { code: "EIO" });
    done += n;
  }
}

/** Write all of `views`, back to back, from `pos`, however the system splits the writes. */
function writeAllv(fd: number, views: Uint8Array[], pos: number): void {
  const left = views.slice();
  let i = 0;
  while (i < left.length) {
    let n = writevSync(fd, left.slice(i, i + IOV_MAX), pos);
    if (n <= 0) throw Object.assign(new Error("EIO: the write made no progress"), { code: "EIO" });
    pos += n;
    while (i < left.length && n >= left[i]!.length) n -= left[i++]!.length;
    if (n > 0) left[i] = left[i]!.subarray(n);
  }
}

function readFully(fd: number, into: Uint8Array, pos: number): number {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, Math.min(into.length - done, IO_CHUNK), pos + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function u64At(b: Uint8Array, at: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at, true);
}

/** A fresh name next to `path` (same directory, so the rename is atomic). */
let tempSeq = 0;
function tempPathFor(path: string): string {
  const rand = Math.floor(Math.random() * 2 ** 32).toString(16);
  return join(dirname(path), `.${basename(path).slice(0, 160)}.${process.pid}-${++tempSeq}-${rand}.tmp`);
}

/** fsync a directory so a rename in it is durable; best effort (some systems refuse). */
function syncDir(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // The rename itself happened; a directory that cannot be synced is the system's limit.
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** The first 8 bytes of the regular file at `path` (fewer if it is shorter), or null when nothing is there. */
function headOf(path: string, op: string): { head: Uint8Array; size: number; link: boolean } | null {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st === undefined) return null;
  if (st.isSymbolicLink()) return { head: new Uint8Array(0), size: 0, link: true };
  if (!st.isFile()) throw new HeapError("EINVAL", op, `${path} is not a regular file; a mirror never replaces it`);
  const head = new Uint8Array(8);
  let fd = -1;
  try {
    fd = openSync(path, READ_FLAGS);
    return { head: head.subarray(0, readFully(fd, head, 0)), size: st.size, link: false };
  } catch (e) {
    throw fromSystemError(e, op, path);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/**
 * A new heap file at `path` holding `region`'s first `used` bytes, `size`
 * long: written to a temporary file beside it (fsynced with `fsync`),
 * renamed over the path. Returns the open file; on failure nothing is
 * left behind and what was at the path is unchanged.
 */
function writeNewFile(path: string, region: Uint8Array, used: number, size: number, mode: number, fsync: boolean): number {
  const tmp = tempPathFor(path);
  let fd = -1;
  try {
    fd = openSync(tmp, WRITE_NEW, mode);
    ftruncateSync(fd, size);
    writeFully(fd, region.subarray(0, used), 0);
    if (fsync) fsyncSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // It may not exist (the open failed); the first error is the one to report.
    }
    throw e;
  }
  if (fsync) syncDir(dirname(path));
  return fd;
}

function loadLimit(path: unknown, options: MirrorLoadOptions | undefined, op: string): number {
  if (typeof path !== "string" || path === "" || path.includes("\0")) throw new HeapError("EINVAL", op, "path must be a non-empty string without NUL");
  const maxBytes = options?.maxBytes ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new HeapError("EINVAL", op, `maxBytes must be a non-negative integer, got ${String(maxBytes)}`);
  return maxBytes;
}

/**
 * The used prefix a heap file's header declares (`header` holds its first
 * `got` bytes), once it fits the file's length and `maxBytes`: what a load
 * may allocate. The counters are only compared here; the full check comes
 * with the image.
 */
function usedOfFile(header: Uint8Array, got: number, fileBytes: number, maxBytes: number, op: string, path: string): number {
  if (got < header.length) throw new HeapError("ECORRUPT", op, `${path}: ${fileBytes} bytes is too short for a heap file`);
  const declared = readStats(header, op);
  const used = declared.usedBytes;
  if (used < header.length || used % PAGE !== 0 || used > fileBytes || declared.regionBytes < used || declared.regionBytes > fileBytes)
    throw new HeapError("ECORRUPT", op, `${path}: its heap header declares ${used} used bytes of ${declared.regionBytes}, in a file of ${fileBytes}`);
  if (used > maxBytes) throw new HeapError("ESIZE", op, `${path}: a used prefix of ${used} bytes is above maxBytes (${maxBytes})`);
  return used;
}

function validate(heap: unknown, path: unknown, options: MirrorOptions | undefined, op: string): { fsync: boolean; mode: number } {
  if (!(heap instanceof PrivateHeap)) throw new HeapError("EINVAL", op, "heap must be a PrivateHeap");
  if (heap.closed) throw new HeapError("ECLOSED", op, "the heap is closed");
  if (heap.locked) throw new HeapError("EINVAL", op, "a locked heap is shared by several writers: save it with snapshots, not a mirror");
  if (typeof path !== "string" || path === "" || path.includes("\0")) throw new HeapError("EINVAL", op, "path must be a non-empty string without NUL");
  if (options !== undefined && (typeof options !== "object" || options === null)) throw new HeapError("EINVAL", op, "options must be an object");
  const fsync = options?.fsync ?? true;
  if (typeof fsync !== "boolean") throw new HeapError("EINVAL", op, `fsync must be a boolean, got ${String(fsync)}`);
  const mode = options?.mode ?? 0o600;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777)
    throw new HeapError("EINVAL", op, `mode must be permission bits within 0o777 (no setuid, setgid or sticky bit), got ${String(mode)}`);
  return { fsync, mode };
}

/**
 * A heap file kept equal to a live heap, written with only the pages that
 * changed. The fast way to persist a heap: keep it anonymous
 * (`PrivateHeap.create`, tracked by the kernel) and mirror it, rather than
 * map a disk file (`PrivateHeap.open`), whose writes cannot be tracked
 * cheaply. The file is the mirror's while the mirror is open: open it as a
 * heap (`HeapMirror.open`) after `close()`, or in another run.
 *
 * @example
 * ```ts
 * import { HeapMirror, PrivateHeap } from "privheap";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const path = join(mkdtempSync(join(tmpdir(), "mirror-")), "world.phheap");
 * using heap = PrivateHeap.create({ size: 16 << 20 });
 * const mirror = HeapMirror.create(heap, path); // the whole used prefix, once
 * heap.setRoot("score", heap.calloc(1, 8));
 * mirror.sync(); // only the pages that changed
 * mirror.close();
 * using saved = HeapMirror.open(path);
 * console.log(saved.getRoot("score") === heap.getRoot("score")); // true
 * ```
 */
export class HeapMirror implements Disposable {
  readonly #heap: PrivateHeap;
  readonly #path: string;
  readonly #fsync: boolean;
  readonly #mode: number;
  /** The file (the same inode as created: the rename moved it) and the journal; -1 once closed. */
  #fd: number;
  #journal: number;
  #changes: ChangeSet;
  /** Hash of each page as the file holds it, where valid[p]. */
  readonly #fileHash: BigUint64Array;
  readonly #valid: Uint8Array;
  /** A sync failed after it may have marked the file: the next sync recovers it first. */
  #marked = false;
  #syncId: bigint;
  // Scratch, grown as needed.
  #changed = new Uint32Array(64);
  #newHash = new BigUint64Array(64);

  private constructor(heap: PrivateHeap, path: string, fsync: boolean, mode: number, fd: number, journal: number, changes: ChangeSet) {
    this.#heap = heap;
    this.#path = path;
    this.#fsync = fsync;
    this.#mode = mode;
    this.#fd = fd;
    this.#journal = journal;
    this.#changes = changes;
    const pages = heap.size / PAGE;
    this.#fileHash = new BigUint64Array(pages);
    this.#valid = new Uint8Array(pages);
    this.#syncId = BigInt(Math.floor(Math.random() * 2 ** 32)) << 32n;
  }

  /**
   * Write `heap`'s used prefix to a new heap file at `path` (a temporary
   * file in the same directory, fsynced, renamed over the path: a crash
   * leaves what was there) and return the mirror that keeps it up to date.
   * An existing heap file, a mirror's file, an empty file or a symbolic
   * link at `path` is replaced (a link itself, never its target); any other
   * file is `EINVAL`, unchanged. `EINVAL` for a heap that is not a
   * PrivateHeap or is locked (shared by several writers), `ECLOSED` for a
   * closed one, `EIO` with the system error as `cause` when the file
   * system refuses.
   *
   * @example
   * ```ts
   * import { HeapMirror, PrivateHeap } from "privheap";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * using mirror = HeapMirror.create(heap, join(mkdtempSync(join(tmpdir(), "m-")), "h.phheap"), { fsync: false });
   * ```
   */
  static create(heap: PrivateHeap, path: string, options?: MirrorOptions): HeapMirror {
    requireFiles("HeapMirror.create");
    const op = "HeapMirror.create";
    const { fsync, mode } = validate(heap, path, options, op);
    const magic = heap.u8.subarray(0, 8);
    const there = headOf(path, op);
    if (there !== null && !there.link && there.size > 0 && !sameBytes(there.head, magic) && !isMarked(there.head))
      throw new HeapError("EINVAL", op, `${path} is not a privheap heap file; a mirror never replaces it`);
    const journalPath = journalPathOf(path);
    const jthere = headOf(journalPath, op);
    if (jthere !== null && !jthere.link && jthere.size > 0 && !(jthere.head.length === 8 && u64At(jthere.head, 0) === JOURNAL_MAGIC))
      throw new HeapError("EINVAL", op, `${journalPath} is not a mirror's journal; a mirror never replaces it`);

    const changes = changesOf(heap, op);
    let fd = -1;
    let journal = -1;
    try {
      const used = heap.usedBytes;
      // The tracker's moment first: every write after it is reported to the first sync.
      changes.collect(used / PAGE);
      fd = writeNewFile(path, heap.u8, used, heap.size, mode, fsync);
      // The journal: O_NOFOLLOW, so a link at its path is EIO, never written through.
      journal = openSync(journalPath, JOURNAL_FLAGS, mode);
      if (!fstatSync(journal).isFile()) throw Object.assign(new Error(`EINVAL: ${journalPath} is not a regular file`), { code: "EINVAL" });
      ftruncateSync(journal, 0);
      if (fsync) syncDir(dirname(path));
      const mirror = new HeapMirror(heap, path, fsync, mode, fd, journal, changes);
      mirror.#hashAll(used / PAGE);
      return mirror;
    } catch (e) {
      changes.release();
      if (fd >= 0) closeSync(fd);
      if (journal >= 0) closeSync(journal);
      throw fromSystemError(e, op, path);
    }
  }

  /**
   * Finish or discard a sync that a crash interrupted: when the file at
   * `path` is marked as being written and its journal is complete, write
   * the journal's pages in place ("replayed"); an unmarked file is left as
   * it is ("clean"). A marked file without a complete journal of its sync
   * (damaged from outside) is `ECORRUPT`; `EIO` when the file system
   * refuses. Never writes to a file that does not carry a mirror's mark.
   *
   * @example
   * ```ts
   * import { HeapMirror, PrivateHeap } from "privheap";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * const path = join(mkdtempSync(join(tmpdir(), "m-")), "world.phheap");
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * HeapMirror.create(heap, path).close();
   * // After a crash, before opening the file by other means:
   * console.log(HeapMirror.recover(path)); // "clean" ("replayed" after a sync cut short)
   * ```
   */
  static recover(path: string, options?: { fsync?: boolean }): Recovery {
    requireFiles("HeapMirror.recover");
    const op = "HeapMirror.recover";
    if (typeof path !== "string" || path === "" || path.includes("\0")) throw new HeapError("EINVAL", op, "path must be a non-empty string without NUL");
    const fsync = options?.fsync ?? true;
    let fd = -1;
    let journal = -1;
    try {
      const head = new Uint8Array(16);
      fd = openSync(path, READ_FLAGS);
      if (!fstatSync(fd).isFile()) throw new HeapError("EINVAL", op, `${path} is not a regular file`);
      const got = readFully(fd, head, 0);
      closeSync(fd);
      fd = -1;
      if (got < 16 || !isMarked(head)) return "clean";
      const id = u64At(head, 8);
      fd = openSync(path, RDWR_FLAGS);
      try {
        journal = openSync(journalPathOf(path), READ_FLAGS | (fsConstants.O_NOFOLLOW ?? 0));
      } catch (e) {
        if ((e as { code?: string }).code === "ENOENT") throw new HeapError("ECORRUPT", op, `${path} was being written by a sync that did not finish, and its journal is missing`);
        throw e;
      }
      replayJournal(fd, journal, id, fstatSync(fd).size, fsync, op, path);
      return "replayed";
    } catch (e) {
      throw fromSystemError(e, op, path);
    } finally {
      if (fd >= 0) closeSync(fd);
      if (journal >= 0) closeSync(journal);
    }
  }

  /**
   * Open a mirror's file as a heap file: {@link HeapMirror.recover}, then
   * `PrivateHeap.open(path, options)`. The way back after a restart (use
   * the heap file as it is, or `live.restore(saved.snapshot())`).
   *
   * @example
   * ```ts
   * import { HeapMirror, PrivateHeap } from "privheap";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * const path = join(mkdtempSync(join(tmpdir(), "m-")), "world.phheap");
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * heap.setRoot("level", heap.malloc(64));
   * HeapMirror.create(heap, path).close();
   * // The next run: a fresh live heap, restored from the file.
   * using live = PrivateHeap.create({ size: 1 << 20 });
   * {
   *   using saved = HeapMirror.open(path);
   *   live.restore(saved.snapshot());
   * }
   * console.log(live.getRoot("level") === heap.getRoot("level")); // true
   * ```
   */
  static open(path: string, options?: OpenOptions): PrivateHeap {
    requireFiles("HeapMirror.open");
    HeapMirror.recover(path);
    return PrivateHeap.open(path, options);
  }

  /**
   * The state a mirror's file holds, as a snapshot (the file is not
   * mapped, so its header stays as the live heap wrote it: a heap restored
   * from it has the live heap's checksum). Runs {@link HeapMirror.recover}
   * first. The used prefix its header declares is checked against the
   * file's length and `maxBytes` (`ESIZE`) before it is read, then the
   * whole image gets the full native check (`ECORRUPT`, `EVERSION`); `EIO`
   * when the file cannot be read. The async form reads off the JS thread.
   *
   * @example
   * ```ts
   * import { HeapMirror, PrivateHeap } from "privheap";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * const path = join(mkdtempSync(join(tmpdir(), "m-")), "world.phheap");
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * heap.setRoot("level", heap.malloc(64));
   * HeapMirror.create(heap, path).close();
   * using live = PrivateHeap.create({ size: 1 << 20 }); // the next run
   * live.restore(await HeapMirror.load(path, { maxBytes: live.size }));
   * console.log(live.checksum() === heap.checksum()); // true
   * ```
   */
  static async load(path: string, options?: MirrorLoadOptions): Promise<Snapshot> {
    requireFiles("HeapMirror.load");
    const op = "HeapMirror.load";
    const maxBytes = loadLimit(path, options, op);
    HeapMirror.recover(path);
    let fh: fsp.FileHandle | undefined;
    let image: Uint8Array;
    try {
      fh = await fsp.open(path, READ_FLAGS);
      const fileBytes = (await fh.stat()).size;
      const header = new Uint8Array(HEAP_HEADER_BYTES);
      const got = (await fh.read(header, 0, header.length, 0)).bytesRead;
      image = new Uint8Array(usedOfFile(header, got, fileBytes, maxBytes, op, path));
      for (let done = 0; done < image.length; ) {
        const n = (await fh.read(image, done, Math.min(image.length - done, IO_CHUNK), done)).bytesRead;
        if (n === 0) throw new HeapError("ECORRUPT", op, `${path}: cut short while being read`);
        done += n;
      }
    } catch (e) {
      throw fromSystemError(e, op, path);
    } finally {
      await fh?.close();
    }
    return Snapshot.fromBytes(image);
  }

  /**
   * The sync form of {@link HeapMirror.load}.
   *
   * @example
   * ```ts
   * import { HeapMirror, PrivateHeap } from "privheap";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * const path = join(mkdtempSync(join(tmpdir(), "m-")), "world.phheap");
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * HeapMirror.create(heap, path).close();
   * console.log(HeapMirror.loadSync(path).checksum() === heap.checksum()); // true
   * ```
   */
  static loadSync(path: string, options?: MirrorLoadOptions): Snapshot {
    requireFiles("HeapMirror.loadSync");
    const op = "HeapMirror.loadSync";
    const maxBytes = loadLimit(path, options, op);
    HeapMirror.recover(path);
    let fd = -1;
    let image: Uint8Array;
    try {
      fd = openSync(path, READ_FLAGS);
      const header = new Uint8Array(HEAP_HEADER_BYTES);
      image = new Uint8Array(usedOfFile(header, readFully(fd, header, 0), fstatSync(fd).size, maxBytes, op, path));
      if (readFully(fd, image, 0) !== image.length) throw new HeapError("ECORRUPT", op, `${path}: cut short while being read`);
    } catch (e) {
      throw fromSystemError(e, op, path);
    } finally {
      if (fd >= 0) closeSync(fd);
    }
    return Snapshot.fromBytes(image);
  }

  /** The file this mirror writes. */
  get path(): string {
    return this.#path;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * Write the pages that changed since the last sync (or since `create`)
   * to the file, crash-safely (see the module comment), and return how
   * many pages were written (0: nothing changed, nothing was written).
   * `ECLOSED` when the mirror or its heap is closed; `EIO` with the system
   * error as `cause` when the file system refuses: the file then stays
   * the last completed sync (recovered by the next sync, or by
   * `HeapMirror.open`), and the next sync writes whatever may differ.
   *
   * @example
   * ```ts
   * import { HeapMirror, PrivateHeap } from "privheap";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * using mirror = HeapMirror.create(heap, join(mkdtempSync(join(tmpdir(), "m-")), "h.phheap"));
   * heap.malloc(64);
   * console.log(mirror.sync() > 0, mirror.sync()); // true 0
   * ```
   */
  sync(): number {
    const op = "HeapMirror.sync";
    if (this.#fd < 0) throw new HeapError("ECLOSED", op, "the mirror is closed");
    const heap = this.#heap;
    if (heap.closed) throw new HeapError("ECLOSED", op, "the mirror's heap is closed");
    const used = heap.usedBytes;
    const pages = used / PAGE;
    const set = this.#changes;
    let n: number;
    let runs: Runs;
    try {
      if (this.#marked) this.#recoverOwn(op);
      const listed = set.collect(pages, false, true);
      n = this.#changedPages(listed, pages);
      if (n === 0) return 0;
      runs = runsOf(this.#changed, n);
    } catch (e) {
      set.forget();
      throw fromSystemError(e, op, this.#path);
    }
    if (2 * n >= pages) return this.#rewrite(used, n);
    try {
      this.#syncId++;
      writeJournal(this.#journal, heap, runs, this.#syncId);
      if (this.#fsync) fsyncSync(this.#journal);
      this.#marked = true;
      writeFully(this.#fd, markOf(this.#syncId), 0);
      if (this.#fsync) fsyncSync(this.#fd);
      writeRuns(this.#fd, runs, viewsOf(heap.u8, runs), this.#fsync);
      this.#marked = false;
      ftruncateSync(this.#journal, 0);
    } catch (e) {
      // What the file holds of these pages is unknown now: compare them afresh next time.
      for (let i = 0; i < n; i++) this.#valid[this.#changed[i]!] = 0;
      set.forget();
      throw fromSystemError(e, op, this.#path);
    }
    for (let i = 0; i < n; i++) {
      const p = this.#changed[i]!;
      this.#fileHash[p] = this.#newHash[i]!;
      this.#valid[p] = 1;
    }
    return n;
  }

  /**
   * A sync that changes at least half the used pages writes a new file
   * instead (a temporary file renamed over the path, as `create` does):
   * the journal would write each changed page twice. Returns the pages
   * written (the whole used prefix).
   */
  #rewrite(used: number, n: number): number {
    let fd: number;
    try {
      fd = writeNewFile(this.#path, this.#heap.u8, used, this.#heap.size, this.#mode, this.#fsync);
    } catch (e) {
      this.#changes.forget(); // the old file is as it was: its hashes still hold
      throw fromSystemError(e, "HeapMirror.sync", this.#path);
    }
    closeSync(this.#fd);
    this.#fd = fd;
    for (let i = 0; i < n; i++) {
      this.#fileHash[this.#changed[i]!] = this.#newHash[i]!;
      this.#valid[this.#changed[i]!] = 1;
    }
    const pages = used / PAGE;
    this.#valid.fill(0, pages); // the new file is empty above the used prefix
    return pages;
  }

  /**
   * Stop mirroring: the file keeps the last completed sync. Idempotent.
   *
   * @example
   * ```ts
   * import { HeapMirror, PrivateHeap } from "privheap";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const mirror = HeapMirror.create(heap, join(mkdtempSync(join(tmpdir(), "m-")), "h.phheap"));
   * mirror.close();
   * console.log(mirror.closed); // true
   * ```
   */
  close(): void {
    if (this.#fd < 0) return;
    if (this.#marked) {
      try {
        this.#recoverOwn("HeapMirror.close");
      } catch {
        // The file stays marked with its journal complete: HeapMirror.open recovers it later.
      }
    }
    this.#changes.release();
    closeSync(this.#fd);
    closeSync(this.#journal);
    this.#fd = -1;
    this.#journal = -1;
  }

  /** `using mirror = HeapMirror.create(...)` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Finish the sync that failed after marking the file (its journal is complete once the mark was written). */
  #recoverOwn(op: string): void {
    const head = new Uint8Array(16);
    if (readFully(this.#fd, head, 0) === 16 && isMarked(head)) replayJournal(this.#fd, this.#journal, u64At(head, 8), this.#heap.size, this.#fsync, op, this.#path);
    this.#marked = false;
    ftruncateSync(this.#journal, 0);
  }

  /** The hashes of pages [0, pages) as just written. */
  #hashAll(pages: number): void {
    const u8 = this.#heap.u8;
    for (let p = 0; p < pages; p++) {
      this.#fileHash[p] = xxHash3(u8.subarray(p * PAGE, (p + 1) * PAGE));
      this.#valid[p] = 1;
    }
  }

  /**
   * The pages to write, ascending, into #changed (their live hashes into
   * #newHash): of the `listed` pages the tracker reports (UNKNOWN: all),
   * those whose hash differs from the file's; with page 0 whenever any is,
   * since the mark overwrites it.
   */
  #changedPages(listed: number, pages: number): number {
    const all = listed === UNKNOWN;
    const count = all ? pages : listed;
    if (this.#changed.length < count + 1) {
      this.#changed = new Uint32Array(Math.max(count + 1, 2 * this.#changed.length));
      this.#newHash = new BigUint64Array(this.#changed.length);
    }
    const list = this.#changes.pages;
    const u8 = this.#heap.u8;
    let n = 1; // slot 0 is page 0's, kept when another page changes
    let zeroChanged = false;
    for (let i = 0; i < count; i++) {
      const p = all ? i : list[i]!;
      const h = xxHash3(u8.subarray(p * PAGE, (p + 1) * PAGE));
      if (this.#valid[p] === 1 && this.#fileHash[p] === h) continue;
      if (p === 0) {
        zeroChanged = true;
        this.#newHash[0] = h;
      } else {
        this.#changed[n] = p;
        this.#newHash[n++] = h;
      }
    }
    if (n === 1 && !zeroChanged) return 0;
    if (!zeroChanged) this.#newHash[0] = xxHash3(u8.subarray(0, PAGE));
    this.#changed[0] = 0;
    return n;
  }
}

function isMarked(head: Uint8Array): boolean {
  return head.length >= 8 && u64At(head, 0) === MARK;
}

function markOf(id: bigint): Uint8Array {
  const m = new Uint8Array(16);
  const v = new DataView(m.buffer);
  v.setBigUint64(0, MARK, true);
  v.setBigUint64(8, id, true);
  return m;
}

/** Runs of adjacent pages in the ascending list pages[0, n). */
function runsOf(pages: Uint32Array, n: number): Runs {
  const starts = new Uint32Array(n);
  const counts = new Uint32Array(n);
  let r = -1;
  for (let i = 0; i < n; i++) {
    const p = pages[i]!;
    if (r >= 0 && starts[r]! + counts[r]! === p) counts[r]!++;
    else {
      r++;
      starts[r] = p;
      counts[r] = 1;
    }
  }
  return { starts, counts, n: r + 1 };
}

/** The bytes of the runs in `region`, one view per run. */
function viewsOf(region: Uint8Array, runs: Runs): Uint8Array[] {
  const views: Uint8Array[] = [];
  for (let r = 0; r < runs.n; r++) {
    const at = runs.starts[r]! * PAGE;
    views.push(region.subarray(at, at + runs.counts[r]! * PAGE));
  }
  return views;
}

/** The journal's header and run list, its checksum (bytes 40..48) still 0. */
function journalHead(runs: Runs, id: bigint, regionBytes: number): Uint8Array {
  const head = new Uint8Array(JOURNAL_HEADER + 8 * runs.n);
  const v = new DataView(head.buffer);
  v.setBigUint64(0, JOURNAL_MAGIC, true);
  v.setUint32(8, JOURNAL_VERSION, true);
  v.setUint32(12, PAGE, true);
  v.setBigUint64(16, id, true);
  v.setBigUint64(24, BigInt(regionBytes), true);
  v.setUint32(32, runs.n, true);
  for (let r = 0; r < runs.n; r++) {
    v.setUint32(JOURNAL_HEADER + 8 * r, runs.starts[r]!, true);
    v.setUint32(JOURNAL_HEADER + 8 * r + 4, runs.counts[r]!, true);
  }
  return head;
}

/**
 * The seed each piece of a journal's checksum takes from the hash before
 * it: its low 32 bits. The format was first written by Bun 1.4, whose
 * Bun.hash.xxHash3 keeps only a seed's low 32 bits (oven-sh/bun#32833);
 * saying so here keeps the journals of every runtime and every Bun the same.
 */
const CHAIN_SEED_MASK = 0xffffffffn;

/** The journal's checksum up to its pages: xxHash3 of the header's first 40 bytes, then of the run list. */
function headChecksum(head: Uint8Array): bigint {
  const h = xxHash3(head.subarray(0, 40));
  return xxHash3(head.subarray(JOURNAL_HEADER), h & CHAIN_SEED_MASK);
}

/** The checksum `h` continued over the pages, run by run. */
function pagesChecksum(h: bigint, views: Uint8Array[]): bigint {
  for (const view of views) h = xxHash3(view, h & CHAIN_SEED_MASK);
  return h;
}

/**
 * The journal of `runs` of `heap`'s pages. The views of the pages are
 * taken after the header is hashed: outside Bun the first hash of bytes
 * outside the WebAssembly module maps room in its memory, which may grow
 * it and detach the views of a heap living there.
 */
function writeJournal(fd: number, heap: PrivateHeap, runs: Runs, id: bigint): void {
  const head = journalHead(runs, id, heap.size);
  const upToPages = headChecksum(head);
  const views = viewsOf(heap.u8, runs);
  new DataView(head.buffer).setBigUint64(40, pagesChecksum(upToPages, views), true);
  writeAllv(fd, [head, ...views], 0);
}

/**
 * The runs' pages (`views[r]`: run r's bytes) to the file at their places,
 * page 0 last (it removes the mark), with an fsync before it (every other
 * page is in place before the mark goes) and after it. The first run
 * starts at page 0: every sync writes it.
 */
function writeRuns(fd: number, runs: Runs, views: Uint8Array[], fsync: boolean): void {
  for (let r = 0; r < runs.n; r++) {
    const skip = runs.starts[r] === 0 ? PAGE : 0;
    const bytes = views[r]!.subarray(skip);
    if (bytes.length > 0) writeFully(fd, bytes, runs.starts[r]! * PAGE + skip);
  }
  if (fsync) fsyncSync(fd);
  writeFully(fd, views[0]!.subarray(0, PAGE), 0);
  if (fsync) fsyncSync(fd);
}

/**
 * Check the journal at `journal` against the mark's `id` and the file's
 * size, then write its pages into the file (page 0 last). ECORRUPT when the
 * journal is not that sync's complete journal; nothing is written then.
 */
function replayJournal(fd: number, journal: number, id: bigint, fileBytes: number, fsync: boolean, op: string, path: string): void {
  const bad = (why: string) => new HeapError("ECORRUPT", op, `${path} was being written by a sync that did not finish, and its journal ${why}: neither state can be rebuilt`);
  const length = fstatSync(journal).size;
  if (length < JOURNAL_HEADER) throw bad("is incomplete");
  const head = new Uint8Array(JOURNAL_HEADER);
  readFully(journal, head, 0);
  const v = new DataView(head.buffer);
  if (v.getBigUint64(0, true) !== JOURNAL_MAGIC || v.getUint32(8, true) !== JOURNAL_VERSION || v.getUint32(12, true) !== PAGE) throw bad("is not a journal of this version");
  if (v.getBigUint64(16, true) !== id) throw bad("belongs to another sync");
  const regionBytes = Number(v.getBigUint64(24, true));
  const nRuns = v.getUint32(32, true);
  if (regionBytes > fileBytes || JOURNAL_HEADER + 8 * nRuns > length) throw bad("does not fit the file");
  const list = new Uint8Array(JOURNAL_HEADER + 8 * nRuns);
  list.set(head);
  readFully(journal, list.subarray(JOURNAL_HEADER), JOURNAL_HEADER);
  const lv = new DataView(list.buffer);
  const runs: Runs = { starts: new Uint32Array(nRuns), counts: new Uint32Array(nRuns), n: nRuns };
  let pages = 0;
  let next = 0;
  for (let r = 0; r < nRuns; r++) {
    const start = lv.getUint32(JOURNAL_HEADER + 8 * r, true);
    const count = lv.getUint32(JOURNAL_HEADER + 8 * r + 4, true);
    if (start < next || count === 0 || (start + count) * PAGE > regionBytes) throw bad("lists pages out of order or out of the heap");
    runs.starts[r] = start;
    runs.counts[r] = count;
    next = start + count;
    pages += count;
  }
  if (nRuns === 0 || runs.starts[0] !== 0) throw bad("does not hold the header page");
  const dataAt = list.length;
  if (length < dataAt + pages * PAGE) throw bad("is incomplete");
  // Memory: what the journal holds, no more (its length bounded `pages`).
  const data = new Uint8Array(pages * PAGE);
  if (readFully(journal, data, dataAt) !== data.length) throw bad("is incomplete");
  const views: Uint8Array[] = [];
  for (let r = 0, at = 0; r < nRuns; r++) {
    views.push(data.subarray(at, at + runs.counts[r]! * PAGE));
    at += runs.counts[r]! * PAGE;
  }
  if (pagesChecksum(headChecksum(list), views) !== v.getBigUint64(40, true)) throw bad("does not match its checksum");
  writeRuns(fd, runs, views, fsync);
}
