/**
 * heap-file.ts - mapping a heap file: a region that is a file mapped shared,
 * so unrelated processes (and workers) that open the same path use the same
 * heap, and the heap outlives them all.
 *
 * Invariants: the region handed back holds a heap that passed
 * ph_heap_attach, or one this call formatted in a file it created; anything
 * else is unmapped and reported, and a file that is not a heap is never
 * changed (validated before anything is written). A heap's size never
 * changes while another process maps it: every mapping holds a shared lock
 * on the file, and growing takes it exclusively (ph_heap_file_grow). A new
 * file is created exclusively, never through a link, with its blocks
 * reserved. (The full check that `check` asks for is PrivateHeap.open's:
 * check() under the heap's lock.)
 */
import type { Pointer } from "bun:ffi";
import { nativeBackend, peekU64 } from "#native";
import { existsSync, lstatSync, rmSync, statSync } from "node:fs";
import * as os from "node:os";
import { HeapError, nativeFromCode } from "./errors.ts";
import { NATIVE_CONSTANTS, STATS_FIELDS } from "./ffi/symbols.ts";

/** Options of {@link PrivateHeap.open}. */
export interface OpenOptions {
  /**
   * Bytes of the region. Required when the file may be created. For an
   * existing file it must be the heap's size, or larger with `create`: the
   * file and the heap grow, which succeeds only while no process (this one
   * included) has the file open as a heap (`EBUSY` otherwise); a locked heap
   * never grows (`EINVAL`).
   */
  size?: number;
  /**
   * Create the file (`mode`, its blocks reserved: `EIO` naming ENOSPC when
   * the file system is full) and format a heap in it when nothing is at the
   * path. Never creates through a symbolic link; an existing file is
   * validated, never reformatted.
   */
  create?: boolean;
  /** With `create`: fail with `EIO` when the path exists. */
  exclusive?: boolean;
  /**
   * With `create` (default true): reserve the new file's blocks, so a full
   * file system is `EIO` at open instead of a SIGBUS that kills the process
   * on a later write. `false` leaves the file sparse: a large heap file in
   * tmpfs (`/dev/shm`) then costs only the pages it uses, and is created
   * at once, but a write that finds the file system full ends the process.
   */
  reserve?: boolean;
  /** Permission bits of a new file, within 0o777 (default 0o600: the owner only); setuid, setgid and sticky bits are `EINVAL`. */
  mode?: number;
  /** Validate every invariant before use (ph_heap_check: reads all the heap's metadata). */
  check?: boolean;
  /** For a new heap: zero memory when it is freed (PH_ZERO_ON_FREE). */
  zeroOnFree?: boolean;
  /**
   * For a new heap: several processes and threads may allocate and free at
   * once (PH_LOCKED). Every call then takes the lock in the file's
   * header. A heap created with it is always opened with it; asking for it
   * on a heap created without it is `EINVAL`.
   */
  lock?: boolean;
}

/** A mapped, validated heap file. */
export interface MappedHeapFile {
  base: Pointer;
  /** Bytes mapped: the heap's size (the file may be longer). */
  size: number;
  created: boolean;
  /** The file the path named once mapped (null if it could not be read back). */
  file: FileIdentity | null;
}

/** A file's device and inode: which file a path named. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
}

/** Which file `path` names now; with `follow` false, a link there is itself (a file this call created is never a link). */
function identity(path: string, follow = true): FileIdentity | null {
  const st = (follow ? statSync : lstatSync)(path, { bigint: true, throwIfNoEntry: false });
  return st ? { dev: st.dev, ino: st.ino } : null;
}

function sameFile(a: FileIdentity | null, b: FileIdentity): boolean {
  return a !== null && a.dev === b.dev && a.ino === b.ino;
}

/**
 * EIO when the file mapped as `file` is still at `path` and is now shorter
 * than the `size` bytes mapped: another process cut it, and the pages past
 * its end are gone (a touch of one is a SIGBUS). The operating system lets
 * any writer do that; this is how privheap finds out, at flush.
 */
export function throwIfCut(path: string, file: FileIdentity | null, size: number): void {
  const st = file ? statSync(path, { bigint: true, throwIfNoEntry: false }) : undefined;
  if (!st || st.dev !== file!.dev || st.ino !== file!.ino || st.size >= BigInt(size)) return;
  throw new HeapError(
    "EIO",
    "PrivateHeap.flush",
    `${path}: the file was cut to ${st.size} bytes while mapped (the heap has ${size}); the pages past its end are lost, and touching them ends the process with SIGBUS`,
  );
}

function pathBytes(path: string): Uint8Array {
  const bytes = new TextEncoder().encode(`${path}\0`);
  if (bytes.indexOf(0) !== bytes.length - 1) throw new HeapError("EINVAL", "PrivateHeap.open", "path contains a NUL character");
  return bytes;
}

/** The name of an operating system error number ("ENOSPC"), for messages. */
function osErrorName(n: number): string {
  if (process.platform === "win32") return `Windows error ${n}`;
  const name = Object.entries(os.constants?.errno ?? {}).find(([, v]) => v === n)?.[0];
  return name ?? `errno ${n}`;
}

/** The native failure just recorded, as a HeapError naming the system error behind it, if any. */
function nativeFailure(path: string, what: string): HeapError {
  const S = nativeBackend().symbols;
  const rc = S.ph_last_error();
  const os = S.ph_last_os_error();
  return HeapError.fromNative(rc, "PrivateHeap.open", `${path}: ${what}${os ? ` (${osErrorName(os)})` : ""}`);
}

/** Why an existing file is not a heap, in words, for a failed attach or grow. */
function refusal(rc: number, blank: boolean): string {
  if (rc === nativeFromCode("EBUSY")) return "a heap file grows only while no process maps it, and one (maybe this one) has it open";
  if (rc === nativeFromCode("ESIZE"))
    return "the file is empty or smaller than its heap (cut by another process, or left by an interrupted creation: privheap formats only a file it has just created itself; remove it to create the heap again)";
  if (rc === nativeFromCode("EINVAL")) return "a locked heap file keeps the size it was created with";
  if (blank)
    return "not a privheap heap file: it has no heap header (an interrupted creation leaves such a file; privheap formats only a file it has just created itself: remove it to create the heap again)";
  return "not a usable privheap heap file";
}

/**
 * Grow the existing heap file at `path` to `want` bytes when it is smaller:
 * ph_heap_file_grow validates it first and refuses (EBUSY) while any
 * process maps it. A file as large already is left to the open to validate.
 */
function growExisting(path: string, cpath: Uint8Array, want: number): void {
  const S = nativeBackend().symbols;
  const rc = S.ph_heap_file_grow(cpath, want);
  if (rc === 0) return;
  // Say "no heap header" only when the header is what failed: the grow validated it.
  throw nativeFailure(path, refusal(rc, rc === nativeFromCode("ECORRUPT")));
}

/** Map `path` (creating it if asked and missing); see {@link OpenOptions}. */
export function mapHeapFile(path: string, options: OpenOptions, maxSize: number): MappedHeapFile {
  if (typeof path !== "string" || path === "") throw new HeapError("EINVAL", "PrivateHeap.open", "path must be a non-empty string");
  const { size, create = false, exclusive = false, reserve = true, mode = 0o600, zeroOnFree = false, lock = false } = options ?? {};
  if (size !== undefined && (!Number.isSafeInteger(size) || size <= 0))
    throw new HeapError("EINVAL", "PrivateHeap.open", `size must be a positive integer, got ${String(size)}`);
  if (size !== undefined && size > maxSize) throw new HeapError("ESIZE", "PrivateHeap.open", `${size} bytes is above the ${maxSize}-byte limit of one ArrayBuffer in this runtime`);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777)
    throw new HeapError("EINVAL", "PrivateHeap.open", `mode must be permission bits within 0o777 (no setuid, setgid or sticky bit), got ${String(mode)}`);
  if (create && size === undefined) throw new HeapError("EINVAL", "PrivateHeap.open", "create needs a size");
  const S = nativeBackend().symbols;
  const cpath = pathBytes(path);
  const pageSize = NATIVE_CONSTANTS.PH_PAGE_SIZE;
  const want = size === undefined ? 0 : size - (size % pageSize);
  const sizeOut = new BigUint64Array(1);

  // First try to create it ourselves (exclusively, never through a link): only then is it ours to format.
  let created = false;
  let base: Pointer | null = null;
  if (create) {
    sizeOut[0] = BigInt(want);
    const sparse = reserve ? 0 : NATIVE_CONSTANTS.PH_MAP_SPARSE;
    base = S.ph_region_map_file(cpath, sizeOut, NATIVE_CONSTANTS.PH_MAP_CREATE | NATIVE_CONSTANTS.PH_MAP_EXCL | sparse, mode) as Pointer | null;
    if (base !== null) created = true;
    else if (exclusive || !existsSync(path)) {
      const link = lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() === true;
      throw nativeFailure(path, link ? "cannot create the file: a symbolic link is at the path, and privheap never creates a file through one" : "cannot create the file");
    }
    else growExisting(path, cpath, want);
  }
  if (base === null) {
    sizeOut[0] = 0n; // the file's size
    base = S.ph_region_map_file(cpath, sizeOut, 0, 0) as Pointer | null;
    if (base === null) {
      const rc = S.ph_last_error();
      const why =
        rc === nativeFromCode("ESIZE")
          ? refusal(rc, false)
          : rc === nativeFromCode("EBUSY")
            ? "another process has held the file's exclusive lock (as growing it does) for over 2 s"
            : "cannot open or map the file";
      throw nativeFailure(path, why);
    }
  }
  let mapped = Number(sizeOut[0]);
  // The file this call created, so that a failure removes it (and nothing that replaced it since).
  const mine = created ? identity(path, false) : null;
  const fail = (e: HeapError): never => {
    S.ph_region_unmap(base, mapped);
    if (mine !== null && sameFile(identity(path, false), mine)) rmSync(path, { force: true });
    throw e;
  };
  if (created) {
    // Not PH_REGION_ZEROED: every page counts as touched, so a process that
    // attaches later never has to write the header to say so. PH_ZERO_REENTRY,
    // as PrivateHeap.create's default: pages taken again read as zero (a page
    // of the file that is still zero is only read, so the file stays unwritten).
    const flags = (zeroOnFree ? NATIVE_CONSTANTS.PH_ZERO_ON_FREE : 0) | (lock ? NATIVE_CONSTANTS.PH_LOCKED : 0) | NATIVE_CONSTANTS.PH_ZERO_REENTRY;
    const h = S.ph_heap_init(base, mapped, flags);
    if (h === null) {
      fail(HeapError.fromNative(S.ph_last_error(), "PrivateHeap.open", `${path}: formatting ${mapped} bytes`));
    }
  } else {
    if (S.ph_heap_attach(base, mapped) === null) {
      const rc = S.ph_last_error();
      // Attach's EBUSY: the lock word names a live owner (maybe forged) that kept it for the whole wait.
      const why = rc === nativeFromCode("EBUSY") ? `its lock stayed held for ${NATIVE_CONSTANTS.PH_ATTACH_WAIT_MS} ms by a live process or thread (or its lock word names one that never releases it)` : refusal(rc, mapped >= 8 && peekU64(base) === 0n);
      fail(HeapError.fromNative(rc, "PrivateHeap.open", `${path}: ${why}`));
    }
    if (lock && (S.ph_heap_flags(base) & NATIVE_CONSTANTS.PH_LOCKED) === 0)
      fail(new HeapError("EINVAL", "PrivateHeap.open", `${path}: the heap was created without lock; others may be using it unlocked`));
    // Map only the heap: a longer file (extended by someone else) does not make it larger.
    const heapBytes = regionBytes(base);
    if (heapBytes < mapped) {
      // Cannot fail for a page-aligned tail of our own mapping (Windows unmaps whole views at close anyway).
      S.ph_region_unmap((base + heapBytes) as Pointer, mapped - heapBytes);
      mapped = heapBytes;
    }
  }
  if (mapped > maxSize) fail(new HeapError("ESIZE", "PrivateHeap.open", `${path}: ${mapped} bytes is above the ${maxSize}-byte limit of one ArrayBuffer in this runtime`));
  if (size !== undefined && !create && mapped !== want)
    fail(new HeapError("ESIZE", "PrivateHeap.open", `${path}: the heap has ${mapped} bytes, ${want} were asked (pass create to grow it)`));
  return { base, size: mapped, created, file: identity(path) };
}

const statsBuf = new BigUint64Array(STATS_FIELDS.length);

/** The heap's own size (its header's page count), from ph_heap_stats. */
function regionBytes(base: Pointer): number {
  nativeBackend().symbols.ph_heap_stats(base, statsBuf);
  return Number(statsBuf[0]);
}
