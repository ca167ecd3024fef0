/**
 * replay-file.ts - the file a replay recorder appends to, under privheap's
 * file policy, and the read of a whole replay file for `Replay.open`.
 *
 * Invariants:
 * - `path` only ever names a complete start of a recording. The first
 *   append (header and first keyframe) goes to a temporary file created
 *   exclusively, mode 0600, in the same directory (`.<name>.<pid>-<n>-<random>.tmp`),
 *   which `publish` renames over `path`. O_EXCL never opens through a
 *   symbolic link, and a rename replaces a link itself, never its target.
 * - `path` is replaced only when it is absent or a privheap replay file
 *   (a regular file that starts with the replay magic): anything else there
 *   is refused before a byte is written.
 * - The file's length is the end of its last complete append. An append
 *   that fails is cut back to that length (ftruncate) before the error is
 *   reported, and then the file takes no more appends: a recording with a
 *   hole in its ticks would not replay.
 * - `truncate` cuts the file back to the end of an earlier append in one
 *   ftruncate, so a process killed around it leaves the file either as it
 *   was or cut there, each a whole recording.
 */
import { closeSync, constants as fsConstants, fsyncSync, ftruncateSync, lstatSync, openSync, readSync, renameSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fromSystemError, HeapError } from "../errors.ts";
import { requireFiles } from "../platform/files.ts";
import type { Handle, Steps } from "./file-io.ts";
import { REPLAY_MAGIC } from "./replay-format.ts";
import type { ReplaySink } from "./replay-sink.ts";

/** Opening a FIFO or a device without O_NONBLOCK could wait forever. */
const READ_FLAGS = (fsConstants?.O_RDONLY ?? 0) | (fsConstants?.O_NONBLOCK ?? 0);

/**
 * Read the whole replay file at `path`, as steps for file-io.ts's runSync
 * or runAsync (`Replay.openSync` and `Replay.open`). Only a regular file is
 * read (`EIO` otherwise, as for every file system error). It is read up to
 * the length it had when opened: bytes a recorder appends meanwhile are
 * left for a later open, and a file cut shorter meanwhile gives what it
 * still holds (its records say whether the tail is torn).
 */
export function* readReplayFile(path: string, op: string): Steps<Uint8Array> {
  requireFiles(op);
  let fd: Handle | undefined;
  try {
    fd = (yield { io: "open", path, flags: READ_FLAGS }) as Handle;
    const st: Stats = yield { io: "stat", fd };
    if (!st.isFile()) throw new HeapError("EIO", op, `${path}: not a regular file`);
    const file = new Uint8Array(st.size);
    let got = 0;
    while (got < file.length) {
      const n: number = yield { io: "read", fd, views: [file.subarray(got)], pos: got };
      if (n === 0) break;
      got += n;
    }
    return got === file.length ? file : file.slice(0, got);
  } catch (e) {
    throw fromSystemError(e, op, path);
  } finally {
    if (fd !== undefined) yield { io: "close", fd };
  }
}

let tempCount = 0;

/** Whether `path` may be replaced by a new recording; throws when it may not. */
function checkReplaceable(path: string, op: string): void {
  let st;
  try {
    st = lstatSync(path, { throwIfNoEntry: false });
  } catch (e) {
    throw fromSystemError(e, op, path);
  }
  if (st === undefined) return;
  const refuse = (what: string) => new HeapError("EINVAL", op, `${path} ${what}; privheap replaces only its own replay files`);
  if (st.isSymbolicLink()) throw refuse("is a symbolic link");
  if (!st.isFile()) throw refuse("exists and is not a regular file");
  const head = new Uint8Array(REPLAY_MAGIC.length);
  let got = 0;
  let fd = -1;
  try {
    fd = openSync(path, "r");
    for (let n = 1; n > 0 && got < head.length; got += n) n = readSync(fd, head, got, head.length - got, got);
  } catch (e) {
    throw fromSystemError(e, op, path);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  if (got < head.length || head.some((b, i) => b !== REPLAY_MAGIC[i])) throw refuse("exists and is not a privheap replay file");
}

/** An append-only file, cut back only to the end of an append: the last complete one when an append fails, or an earlier one on `truncate`. */
export class ReplayFile implements ReplaySink {
  readonly #path: string;
  #tmp: string | null; // the temporary name until publish
  #fd: number;
  #length = 0;
  #broken: string | null = null; // why appends are refused

  private constructor(path: string, tmp: string, fd: number) {
    this.#path = path;
    this.#tmp = tmp;
    this.#fd = fd;
  }

  /** A new, empty file that `publish` will put at `path`. EINVAL when `path` holds something else than a replay; EIO from the file system. */
  static create(path: string, op: string): ReplayFile {
    requireFiles(op);
    checkReplaceable(path, op);
    // The random part keeps a stale file of a killed process whose pid was reused from blocking the name.
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}-${tempCount++}-${Math.random().toString(36).slice(2, 8)}.tmp`);
    try {
      // Read as well as written: a rewind reads back the keyframes it keeps.
      return new ReplayFile(path, tmp, openSync(tmp, "wx+", 0o600));
    } catch (e) {
      throw fromSystemError(e, op, path);
    }
  }

  /** Bytes kept: the end of the last complete append. */
  get length(): number {
    return this.#length;
  }

  /**
   * Append `parts` as one unit: all of them are kept, or the file is cut
   * back to where it was and every later append is refused (EIO, naming
   * the system error).
   */
  append(parts: readonly Uint8Array[], op: string): void {
    if (this.#broken !== null) throw new HeapError("EIO", op, `${this.#path}: ${this.#broken}`);
    let at = this.#length;
    try {
      for (const p of parts) for (let i = 0; i < p.length; ) {
        const n = writeSync(this.#fd, p, i, p.length - i, at);
        if (n <= 0) throw new Error("the file system accepted no bytes");
        i += n;
        at += n;
      }
    } catch (e) {
      const kept = this.#cutBack();
      this.#broken = `an earlier write failed (${e instanceof Error ? e.message : String(e)}); ${kept}; start a new recording`;
      throw new HeapError("EIO", op, `${this.#path}: ${e instanceof Error ? e.message : String(e)}; ${kept}`, { cause: e });
    }
    this.#length = at;
  }

  /**
   * Bytes [at, at + into.length) of what the file keeps, into `into`. EIO
   * from the file system; ECORRUPT when the file is shorter than what was
   * appended (something else cut it).
   */
  readAt(at: number, into: Uint8Array, op: string): void {
    if (at < 0 || at + into.length > this.#length) throw new HeapError("EINVAL", op, `${this.#path}: bytes ${at}..${at + into.length} are not all in the file's ${this.#length}`);
    let got = 0;
    try {
      for (let n = 1; n > 0 && got < into.length; got += n) n = readSync(this.#fd, into, got, into.length - got, at + got);
    } catch (e) {
      throw fromSystemError(e, op, this.#path);
    }
    if (got < into.length) throw new HeapError("ECORRUPT", op, `${this.#path}: the file ends at byte ${at + got}, before the ${this.#length} bytes written to it`);
  }

  /**
   * Cut the file back to `length` bytes, the end of an earlier append, in
   * one ftruncate; appends go on from there. EIO when the file takes no
   * more appends or the system refuses (the file is unchanged then).
   */
  truncate(length: number, op: string): void {
    if (this.#broken !== null) throw new HeapError("EIO", op, `${this.#path}: ${this.#broken}`);
    if (!Number.isSafeInteger(length) || length < 0 || length > this.#length) throw new HeapError("EINVAL", op, `${this.#path}: cannot cut ${this.#length} bytes back to ${length}`);
    try {
      ftruncateSync(this.#fd, length);
    } catch (e) {
      throw fromSystemError(e, op, this.#path);
    }
    this.#length = length;
  }

  /** Cut the file back to the last complete append; says what the file holds now. */
  #cutBack(): string {
    try {
      ftruncateSync(this.#fd, this.#length);
      return `the file was cut back to its last complete record (${this.#length} bytes)`;
    } catch (e) {
      return `cutting the file back to its last complete record (${this.#length} bytes) failed too (${e instanceof Error ? e.message : String(e)}): readers see a torn tail after it`;
    }
  }

  /** Rename the temporary file over `path` (once, after the first append). */
  publish(op: string): void {
    if (this.#tmp === null) return;
    try {
      renameSync(this.#tmp, this.#path);
    } catch (e) {
      throw fromSystemError(e, op, this.#path);
    }
    this.#tmp = null;
  }

  /**
   * Flush the file and its directory entry to the device and close it
   * (idempotent). Reports the first failure as EIO; the file is closed and
   * a temporary file never published is removed either way.
   */
  close(op: string): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    let failure: unknown = null;
    const attempt = (f: () => void) => {
      try {
        f();
      } catch (e) {
        failure ??= e;
      }
    };
    if (this.#tmp === null) {
      attempt(() => fsyncSync(fd));
      attempt(() => syncDir(dirname(this.#path)));
    }
    attempt(() => closeSync(fd));
    if (this.#tmp !== null) {
      const tmp = this.#tmp;
      this.#tmp = null;
      try {
        unlinkSync(tmp);
      } catch {
        // Nothing to report: an unpublished file is removed on a best-effort basis; the caller reports the failure that got here.
      }
    }
    if (failure !== null) throw fromSystemError(failure, op, this.#path);
  }

  /** A file's bytes are in the file. */
  bytes(): null {
    return null;
  }
}

/** Make a rename in `dir` durable. Directories that cannot be opened or synced (some file systems refuse) are left as they are. */
function syncDir(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, "r");
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // Not every file system syncs directories; the file's own fsync has run.
  } finally {
    closeSync(fd);
  }
}
