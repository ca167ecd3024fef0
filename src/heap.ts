/**
 * heap.ts - PrivateHeap: one region of memory managed by the C core, used
 * from JavaScript by offset.
 *
 * The heap object caches only the region's address and the views over it;
 * every byte of allocator state is inside the region (DESIGN.md, invariant 1).
 *
 * Lifetime. The views (`u8`, `f32`, `view`, ...) share one ArrayBuffer made by
 * `toArrayBuffer(base, 0, size, size, ph_region_unmap)`: Bun calls the C
 * function `ph_region_unmap(base, size)` when that buffer's memory is
 * released, which happens either when `close()` detaches the buffer
 * (`buffer.transfer(0)`) or when the garbage collector has collected every
 * view of a heap that was never closed. Detaching empties every view first,
 * so a view kept past `close()` reads `undefined` and ignores writes (a
 * DataView throws a TypeError) instead of touching unmapped memory.
 *
 * Locking. On a locked heap (PH_LOCKED) every call that reads or changes
 * allocator state holds the lock in the region's header: the allocation
 * calls through the C *_locked twins (taken inside the one FFI crossing),
 * every other such method between #enter and #leave, and rings and replays
 * through underHeapLock, the same pair. Views, fields and one-word header
 * reads are exempt; test/system/heap-lock-policy.test.ts holds each member's class.
 */
import type { Pointer } from "bun:ffi";
import type { Backend } from "./backend.ts";
import { PageHashes } from "./checksum.ts";
import { HeapError, nativeFromCode } from "./errors.ts";
import { FREE_LOG, FreeLog } from "./free-log.ts";
import { type FileIdentity, mapHeapFile, type OpenOptions, throwIfCut } from "./heap-file.ts";
import { listAllocations, readRoots, readStats, type HeapStats } from "./introspect.ts";
import { inspectRegion, type HeapReport, type InspectOptions } from "./inspect/report.ts";
import { checkHeapHeader, restoreSnapshot, takeSnapshot, type Snapshot } from "./snapshot/snapshot.ts";
import { tookFull, writtenSince } from "./snapshot/delta-base.ts";
import { type ChangeSet, PageTracker, type Tracking, UNKNOWN } from "./tracking.ts";
import { DEFAULT_BACKEND, nativeBackend } from "#native";
import type { WasmBackend } from "./wasm/backend.ts";
import { wasmBackend } from "./wasm/default-backend.ts";
import { NATIVE_CONSTANTS, type NativeSymbols } from "./ffi/symbols.ts";

/**
 * The largest region a heap can have: 4 GiB, the largest ArrayBuffer (and so
 * the largest zero-copy view) of this runtime. Larger regions fail with
 * `ESIZE` until windowed views exist.
 *
 * @example
 * ```ts
 * import { MAX_REGION_SIZE, PrivateHeap } from "privheap";
 * using heap = PrivateHeap.create({ size: MAX_REGION_SIZE }); // 4 GiB, committed lazily
 * ```
 */
export const MAX_REGION_SIZE = 2 ** 32;

/**
 * The allocator's page size (PH_PAGE_SIZE): regions are whole pages.
 *
 * @example
 * ```ts
 * import { PAGE_SIZE, PrivateHeap } from "privheap";
 * using heap = PrivateHeap.create({ size: 256 * PAGE_SIZE });
 * ```
 */
export const PAGE_SIZE: number = NATIVE_CONSTANTS.PH_PAGE_SIZE;

export type { HeapStats } from "./introspect.ts";
export type { OpenOptions } from "./heap-file.ts";

/** Options of {@link PrivateHeap.snapshot}. */
export interface SnapshotOptions {
  /** Copy into this snapshot's memory instead of new memory, and return it. */
  into?: Snapshot;
  /**
   * Store only the pages that differ from this snapshot (a delta); the
   * snapshot keeps `base` alive, and restoring it rebuilds the image over it.
   * Once `base` is reused as `into`, the delta is `ESTALE` everywhere.
   * Cost: once the heap has taken a delta, its latest full snapshot is
   * tracked, so a delta against it compares only the pages written since
   * (with a tracker, `heap.tracking`); against any other snapshot, every
   * page of the used prefix.
   */
  base?: Snapshot;
}

/**
 * Options of {@link PrivateHeap.create}.
 *
 * @example
 * ```ts
 * import { PrivateHeap, type HeapOptions } from "privheap";
 * const opts: HeapOptions = { size: 32 << 20, zeroOnFree: true };
 * using heap = PrivateHeap.create(opts);
 * ```
 */
export interface HeapOptions {
  /** Region size in bytes: an integer from the minimum heap size (a few pages) up to 4 GiB; rounded down to whole pages. */
  size: number;
  /** Zero memory when it is freed (PH_ZERO_ON_FREE), so every byte below `usedBytes` that is not live data is 0. */
  zeroOnFree?: boolean;
  /**
   * Zero pages as they re-enter the used prefix (PH_ZERO_REENTRY; default
   * true): pages left above `usedBytes` by a free at the top or by
   * `reset()` read as zero when allocations take them again, as pages never
   * used do. So a heap restored from a snapshot (or a ring frame, or a
   * replay's keyframe) and the heap it was taken from hold the same bytes
   * when driven the same way, unwritten `malloc` bytes and checksums
   * included. `false` leaves their old bytes, as other allocators do: for
   * scratch heaps whose copies are never compared (a FrameArena's), where
   * writing every page a frame takes again can cost more than the frame's
   * allocations (C frame scratch that writes a tag per object: 2-2.7x).
   */
  zeroReentry?: boolean;
  /**
   * How rings, deltas, checksums and replays learn which pages changed
   * (see `heap.tracking`): "auto" (default) asks the system, and compares
   * pages where it cannot; "compare" never asks it. Results are the same
   * either way; only the cost differs.
   */
  tracking?: "auto" | "compare";
  /**
   * Which build of the C core holds the heap: "native" (the library
   * through bun:ffi; the default in Bun) or "wasm" (privheap.wasm, the
   * region inside its memory: the same offsets, bytes and checksums for
   * the same calls; the default and the only one in Node, Deno and
   * browsers, where "native" is ENOTSUP).
   * A WebAssembly heap has no file, no lock between threads and no
   * written-page tracker ("compare" tracking); its views are remade when
   * the module's memory grows (a region or an image mapped: another heap,
   * a restore, a checksum's page hashes), so read `heap.u8` (or another
   * view) again after such calls rather than keeping one. Struct cursors
   * are bound to the new views then; the views `strided` returns are not,
   * so make those again too.
   */
  backend?: "native" | "wasm";
  /**
   * When free pages go back to the system (they read as zero then):
   * "decay" (default) once free pages not given back exceed the larger of
   * 4 MiB and an eighth of the pages in use, the oldest first, at a free of
   * whole pages (so RSS follows live data, and reset stays O(1)); "now" at
   * every free of whole pages; "off" never (`purge()` gives back nothing).
   * Deterministic: the same operations give back the same pages, so
   * snapshots and checksums agree between runs.
   */
  purge?: "decay" | "now" | "off";
}

/** The native purge mode of each `purge` option. */
const PURGE_MODES: Record<string, number> = { decay: NATIVE_CONSTANTS.PH_PURGE, now: NATIVE_CONSTANTS.PH_PURGE_NOW, off: 0 };

/**
 * Called by {@link PrivateHeap.walk} with each live allocation's offset and
 * usable size, in address order. Return `false` to stop the walk.
 *
 * @example
 * ```ts
 * import type { WalkFn } from "privheap";
 * let total = 0;
 * const sum: WalkFn = (_off, size) => { total += size; };
 * ```
 */
export type WalkFn = (offset: number, size: number) => boolean | void;

// Bound once, by the first heap. Module-level so hot paths call them directly.
let S: NativeSymbols;
let native: Backend;
/**
 * The allocation calls of one heap: the plain ph_off_* functions, or for a
 * locked heap their *_locked twins, which take the lock inside the same FFI
 * crossing (so it is held for the allocator's work only).
 */
interface AllocCalls {
  malloc: NativeSymbols["ph_off_malloc"];
  calloc: NativeSymbols["ph_off_calloc"];
  realloc: NativeSymbols["ph_off_realloc"];
  alignedAlloc: NativeSymbols["ph_off_aligned_alloc"];
  free: NativeSymbols["ph_off_free"];
  usableSize: NativeSymbols["ph_off_usable_size"];
}
let plainCalls: AllocCalls;
let lockedCalls: AllocCalls;
/**
 * An own property of every locked heap object, so locked and unlocked heaps
 * have different object shapes and the engine keeps each kind's allocation
 * calls monomorphic. With one shape for both kinds, a process that used
 * both ran locked malloc+free pairs 20-35% slower.
 */
const LOCKED_SHAPE = Symbol("privheap.lockedShape");

function bind(): void {
  if (S !== undefined) return;
  native = nativeBackend();
  S = native.symbols;
  plainCalls = callsOf(S);
  lockedCalls = {
    malloc: S.ph_off_malloc_locked,
    calloc: S.ph_off_calloc_locked,
    realloc: S.ph_off_realloc_locked,
    alignedAlloc: S.ph_off_aligned_alloc_locked,
    free: S.ph_off_free_locked,
    usableSize: S.ph_off_usable_size_locked,
  };
}

/** The plain allocation calls of a backend's functions. */
function callsOf(C: NativeSymbols): AllocCalls {
  return { malloc: C.ph_off_malloc, calloc: C.ph_off_calloc, realloc: C.ph_off_realloc, alignedAlloc: C.ph_off_aligned_alloc, free: C.ph_off_free, usableSize: C.ph_off_usable_size };
}

/** ph_heap_lock's PH_ECORRUPT: a takeover found the heap inconsistent (now or earlier); the lock is held. */
const LOCK_TAKEN_OVER_BROKEN = nativeFromCode("ECORRUPT");
const BROKEN_HEAP = "a process or thread died holding the heap's lock halfway through a change, and check() found the heap inconsistent; every process is refused until the heap is restored or reset (lockRecoveries)";
/**
 * How a call takes a locked heap's lock: STRICT calls are refused
 * (ECORRUPT) while the lock's verdict says a takeover found the heap
 * broken; REPAIR calls run then, since they replace the state or check it
 * again (reset, restore, check, a ring's load).
 */
const STRICT = false;
const REPAIR = true;

/**
 * Internal (index.ts does not export it): run `fn` as one call on `heap`,
 * holding its lock when it is a locked heap (ECLOSED when it is closed), the
 * way the heap's own methods do. The one way code outside PrivateHeap (a
 * ring, a replay) touches a heap's state under its policy. With `repair`,
 * `fn` also runs on a heap a takeover found broken; it is meant to replace
 * the state, so the lock's verdict is then decided again by a full check,
 * unless `fn` lifted it (ph_heap_restore does).
 */
export let underHeapLock: <T>(heap: PrivateHeap, op: string, fn: () => T, repair?: boolean) => T;

/**
 * Internal: a change set of `heap`'s pages (see tracking.ts), from the
 * heap's one tracker, made on first use. ECLOSED when the heap is closed.
 */
export let changesOf: (heap: PrivateHeap, op: string) => ChangeSet;

/** Internal: the functions of the heap's C core (its address is one of that core's). */
export let symbolsOf: (heap: PrivateHeap) => NativeSymbols;

/** Internal: the heap's backend (its core, its image memory, how it reads bytes). */
export let backendOf: (heap: PrivateHeap) => Backend;

/** Remakes a live heap's views over its backend's current buffer (a WebAssembly memory that grew). */
let remakeViews: (heap: PrivateHeap) => void;

/**
 * Internal: call `remake(owner)` after the heap's memory gets a new buffer
 * (a WebAssembly memory that grew), after the heap's own views are remade,
 * while `owner` lives: for objects that hold the heap's views (struct
 * cursors). Nothing on the native backend, whose buffer never changes.
 */
export let watchViews: <T extends object>(heap: PrivateHeap, owner: T, remake: (owner: T) => void) => void;

/** Internal: the heap's tracker itself (made on first use), for tests and benchmarks of its policy. */
export let pageTrackerOf: (heap: PrivateHeap) => PageTracker;

// Scratch shared by every heap (one thread; none of these calls re-enter).
const nameBytes = new Uint8Array(64);
const encoder = new TextEncoder();

function describe(v: unknown): string {
  return typeof v === "number" ? String(v) : `${typeof v} ${String(v)}`;
}

function invalid(op: string, what: string, v: unknown): HeapError {
  return new HeapError("EINVAL", op, `${what} must be an integer from 0 to 2^32 - 1, got ${describe(v)}`);
}

/**
 * Encode a root name into `nameBytes` (NUL-terminated) or throw EINVAL.
 * Names are 1..31 bytes of UTF-8 without NUL.
 */
function encodeName(op: string, name: string): Uint8Array {
  if (typeof name !== "string" || name.length === 0 || name.includes("\0"))
    throw new HeapError("EINVAL", op, `root name must be a non-empty string without NUL, got ${describe(name)}`);
  const { read, written } = encoder.encodeInto(name, nameBytes.subarray(0, 32));
  if (read !== name.length || written > 31)
    throw new HeapError("EINVAL", op, `root name must be at most 31 bytes of UTF-8: ${JSON.stringify(name)}`);
  nameBytes[written] = 0;
  return nameBytes;
}

/**
 * A private heap: one region managed by the C allocator, used by offset.
 * Offsets are plain numbers (0 means "no allocation"); read and write the
 * bytes through the zero-copy views.
 *
 * @example
 * ```ts
 * import { PrivateHeap } from "privheap";
 * using heap = PrivateHeap.create({ size: 16 << 20 });
 * const off = heap.malloc(3 * 4);
 * heap.f32.set([1, 2, 3], off >>> 2);
 * console.log(heap.f32[(off >>> 2) + 1]); // 2
 * heap.free(off);
 * ```
 */
export class PrivateHeap implements Disposable {
  /** Region base == C handle; 0 once closed. */
  #h: Pointer;
  readonly #size: number;
  /** The core the region belongs to, and its functions (the native ones are also module-level S). */
  readonly #backend: Backend;
  readonly #S: NativeSymbols;
  // The region's buffer and views, made by #makeViews.
  #buffer!: ArrayBuffer;
  #u8!: Uint8Array;
  #i8!: Int8Array;
  #u16!: Uint16Array;
  #i16!: Int16Array;
  #u32!: Uint32Array;
  #i32!: Int32Array;
  #f32!: Float32Array;
  #f64!: Float64Array;
  #u64!: BigUint64Array;
  #i64!: BigInt64Array;
  #view!: DataView;
  /** The file of a heap from open(), else null. */
  #path: string | null = null;
  /** Which file #path named when it was mapped (flush checks that it was not cut). */
  #file: FileIdentity | null = null;
  /**
   * A PH_LOCKED heap: every call that reads or changes allocator state takes
   * the lock in its header, the allocation calls inside C (AllocCalls), the
   * others between #enter and #leave.
   */
  readonly #locked: boolean;
  /** Locks this thread holds on the heap through this object (close() is refused while it is not 0). */
  #lockDepth = 0;
  // The allocation calls (see AllocCalls), one field each: a direct load on the hot path.
  readonly #offMalloc: AllocCalls["malloc"];
  readonly #offCalloc: AllocCalls["calloc"];
  #offRealloc: AllocCalls["realloc"];
  readonly #offAlignedAlloc: AllocCalls["alignedAlloc"];
  #offFree: AllocCalls["free"];
  #freeLog: FreeLog | undefined;
  readonly #offUsableSize: AllocCalls["usableSize"];
  /** Why this heap never asks the system which pages changed ("" when it may). */
  #compareOnly = "";
  /** The written-page tracker, made on first use (changesOf, tracking). */
  #tracker: PageTracker | null = null;
  /** checksum()'s page hashes and the pages written since it last looked, made on first use. */
  #pageHashes: PageHashes | null = null;
  #checksumChanges: ChangeSet | null = null;

  private constructor(backend: Backend, base: Pointer, size: number) {
    this.#h = base;
    this.#size = size;
    this.#backend = backend;
    this.#S = backend.symbols;
    this.#makeViews();
    this.#locked = (this.#S.ph_heap_flags(base) & NATIVE_CONSTANTS.PH_LOCKED) !== 0;
    const calls = this.#locked ? lockedCalls : backend === native ? plainCalls : callsOf(backend.symbols);
    this.#offMalloc = calls.malloc;
    this.#offCalloc = calls.calloc;
    this.#offRealloc = calls.realloc;
    this.#offAlignedAlloc = calls.alignedAlloc;
    this.#offFree = calls.free;
    this.#offUsableSize = calls.usableSize;
    if (this.#locked) Object.defineProperty(this, LOCKED_SHAPE, { value: true });
    if (backend.kind === "wasm") (backend as WasmBackend).watch(this, remakeViews);
  }

  /** Views over the region, from the backend's buffer (again after a WebAssembly memory grew). */
  #makeViews(): void {
    const size = this.#size;
    const { buffer: buf, offset: at } = this.#backend.regionBuffer(this.#h, size);
    this.#buffer = buf;
    this.#u8 = new Uint8Array(buf, at, size);
    this.#i8 = new Int8Array(buf, at, size);
    this.#u16 = new Uint16Array(buf, at, size / 2);
    this.#i16 = new Int16Array(buf, at, size / 2);
    this.#u32 = new Uint32Array(buf, at, size / 4);
    this.#i32 = new Int32Array(buf, at, size / 4);
    this.#f32 = new Float32Array(buf, at, size / 4);
    this.#f64 = new Float64Array(buf, at, size / 8);
    this.#u64 = new BigUint64Array(buf, at, size / 8);
    this.#i64 = new BigInt64Array(buf, at, size / 8);
    this.#view = new DataView(buf, at, size);
  }

  /**
   * Map an anonymous region of `size` bytes (zeroed, committed lazily) and
   * format it as an empty heap. Sizes above 4 GiB fail with `ESIZE`.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * const heap = PrivateHeap.create({ size: 64 << 20 });
   * console.log(heap.size, heap.usedBytes);
   * heap.close();
   * ```
   */
  static create(options: HeapOptions): PrivateHeap {
    const size = options?.size;
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size <= 0)
      throw new HeapError("EINVAL", "PrivateHeap.create", `size must be a positive integer, got ${describe(size)}`);
    if (size > MAX_REGION_SIZE)
      throw new HeapError(
        "ESIZE",
        "PrivateHeap.create",
        `${size} bytes is above the 4 GiB limit of one ArrayBuffer in this runtime (windowed views for larger regions do not exist yet)`,
      );
    const purge = options.purge ?? "decay";
    if (!Object.hasOwn(PURGE_MODES, purge))
      throw new HeapError("EINVAL", "PrivateHeap.create", `purge must be "decay", "now" or "off", got ${describe(purge)}`);
    const kind = options.backend ?? DEFAULT_BACKEND;
    if (kind !== "native" && kind !== "wasm") throw new HeapError("EINVAL", "PrivateHeap.create", `backend must be "native" or "wasm", got ${describe(kind)}`);
    if (kind === "native") bind();
    const backend = kind === "wasm" ? wasmBackend() : native;
    const S = backend.symbols;
    const mapSize = size - (size % PAGE_SIZE);
    const min = Number(S.ph_heap_min_size());
    if (mapSize < min) throw new HeapError("ESIZE", "PrivateHeap.create", `${size} bytes is below the minimum heap size of ${min} bytes`);
    const base = S.ph_region_map_anon(mapSize);
    if (base === null) throw HeapError.fromNative(S.ph_last_error(), "PrivateHeap.create", `mapping ${mapSize} bytes`);
    // A fresh anonymous mapping reads as zero: PH_REGION_ZEROED lets the
    // allocator skip clearing pages it never used. Private anonymous memory
    // can give pages back (the purge mode).
    const reentry = options.zeroReentry === false ? 0 : NATIVE_CONSTANTS.PH_ZERO_REENTRY;
    const flags = (options.zeroOnFree === true ? NATIVE_CONSTANTS.PH_ZERO_ON_FREE : 0) | NATIVE_CONSTANTS.PH_REGION_ZEROED | PURGE_MODES[purge]! | reentry;
    const h = S.ph_heap_init(base, mapSize, flags);
    if (h === null) {
      const rc = S.ph_last_error();
      S.ph_region_unmap(base, mapSize);
      throw HeapError.fromNative(rc, "PrivateHeap.create", `formatting ${mapSize} bytes`);
    }
    const heap = new PrivateHeap(backend, base as Pointer, mapSize);
    const tracking = options.tracking ?? "auto";
    if (tracking !== "auto" && tracking !== "compare") {
      heap.close();
      throw new HeapError("EINVAL", "PrivateHeap.create", `tracking must be "auto" or "compare", got ${describe(tracking)}`);
    }
    if (tracking === "compare") heap.#compareOnly = 'the heap was created with tracking: "compare"';
    else if (backend.lacks !== null) heap.#compareOnly = backend.lacks;
    return heap;
  }

  /**
   * Open a heap file: a region that is `path` mapped shared, so every
   * process (or worker) that opens the same path uses the same heap, and
   * what it holds stays in the file (`/dev/shm/...` for memory speed, any
   * file for persistence). With `create` and `size`, a missing file is
   * created (exclusively, never through a symbolic link; mode 0o600 unless
   * `mode` says otherwise) with all its blocks reserved, so a full disk is
   * `EIO` (naming ENOSPC) here rather than a crash later, and formatted.
   * An existing file (links followed) is validated first, in O(1) (magic,
   * versions, sizes, the header's offsets), or in full with `check: true`;
   * it fails with `ECORRUPT` / `EVERSION` / `ESIZE` rather than trusting bad
   * bytes, and a file that is not a heap is never changed. `EIO` when the
   * file cannot be opened. The heap keeps its size while any process maps
   * it (a file made longer by someone else maps only the heap's pages);
   * a larger `size` with `create` grows it only while no process maps it
   * (`EBUSY`). A file cut shorter while mapped cannot be refused by the
   * system: touching its lost pages ends the process with SIGBUS (`flush`
   * reports the cut). A heap created with `lock: true` takes the lock in
   * its header for every call that reads or changes allocator state, so
   * any number of processes and threads may use it at once; without it,
   * one process may allocate and free at a time while the others only read
   * (see the README's "Shared heaps"). A locked heap is validated under
   * its lock, waited on for at most 2 s
   * (`PH_ATTACH_WAIT_MS`) when a live process or thread holds it (or its
   * lock word names one): then `EBUSY`.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * const path = join(mkdtempSync(join(tmpdir(), "heaps-")), "world.phheap");
   * {
   *   using heap = PrivateHeap.open(path, { size: 8 << 20, create: true });
   *   const hello = heap.malloc(5);
   *   heap.u8.set(new TextEncoder().encode("hello"), hello);
   *   heap.setRoot("greeting", hello);
   * }
   * using again = PrivateHeap.open(path); // later, or in another process
   * const at = again.getRoot("greeting");
   * console.log(new TextDecoder().decode(again.u8.subarray(at, at + 5))); // "hello"
   * ```
   */
  static open(path: string, options: OpenOptions = {}): PrivateHeap {
    bind();
    const { base, size, created, file } = mapHeapFile(path, options, MAX_REGION_SIZE);
    const heap = new PrivateHeap(native, base, size);
    heap.#path = path;
    heap.#file = file;
    // Another process's writes to the file are invisible to a tracker, and
    // tracking a file mapping costs 10-170 us per first write to a page.
    heap.#compareOnly = "a heap file: other processes' writes to it are invisible to the system's tracker";
    if (options?.check && !created) heap.#checkOpened(path);
    return heap;
  }

  /**
   * open()'s `check`: check() (under the lock, if any, waited on no longer
   * than attach waits: its word may name a live thread that never releases
   * it), else close and ECORRUPT.
   */
  #checkOpened(path: string): void {
    let broken: number;
    try {
      this.#enter("PrivateHeap.open", REPAIR, NATIVE_CONSTANTS.PH_ATTACH_WAIT_MS);
      try {
        broken = this.#checkNow("PrivateHeap.open");
      } finally {
        this.#leave();
      }
    } catch (e) {
      this.close();
      throw e instanceof HeapError ? new HeapError(e.code, "PrivateHeap.open", `${path}: ${e.message}`, { cause: e }) : e;
    }
    if (broken !== 0) {
      this.close();
      throw new HeapError("ECORRUPT", "PrivateHeap.open", `${path}: ${broken} broken invariant(s)`);
    }
  }

  /**
   * Write a heap file's changed pages to the file (msync) before returning,
   * so they survive a crash of the machine; a no-op for anonymous heaps.
   * `EIO` when the system refuses, or when another process cut the file
   * shorter than the heap while it was mapped (the pages past the new end
   * are lost, and touching them ends the process with SIGBUS).
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * using heap = PrivateHeap.open(join(mkdtempSync(join(tmpdir(), "heaps-")), "save.phheap"), { size: 1 << 20, create: true });
   * heap.setRoot("level", heap.calloc(64, 8));
   * heap.flush(); // on disk now
   * ```
   */
  flush(): void {
    const h = this.#h;
    if (h === 0) throw this.#closed("PrivateHeap.flush");
    if (this.#path === null) return;
    throwIfCut(this.#path, this.#file, this.#size);
    const rc = this.#S.ph_region_flush(h, this.#size);
    if (rc !== 0) throw HeapError.fromNative(rc, "PrivateHeap.flush", this.#path);
  }

  /** The file of a heap from {@link PrivateHeap.open}, else null (an anonymous heap). */
  get path(): string | null {
    return this.#path;
  }

  // ---- allocation ---------------------------------------------------------

  /**
   * Allocate `size` bytes; returns the offset. `malloc(0)` returns a unique
   * minimal allocation. The offset is aligned to the largest power of two
   * that divides the size class (at least 8, at most a page: 16 for 48 bytes,
   * 64 for 64); page runs are page aligned.
   * Throws `ENOMEM` when the region is full, `EINVAL` for a size that is not
   * an integer in [0, 2^32).
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const off = heap.malloc(16);
   * heap.u32[off >>> 2] = 42;
   * ```
   */
  malloc(size: number): number {
    if (typeof size !== "number" || size >>> 0 !== size) throw invalid("PrivateHeap.malloc", "size", size);
    const h = this.#h;
    if (h === 0) throw this.#closed("PrivateHeap.malloc");
    const off = this.#offMalloc(h, size);
    if (off > 0) return off;
    throw this.#error(off, "PrivateHeap.malloc", `${size} bytes`);
  }

  /**
   * Allocate `n * size` zeroed bytes; returns the offset. `ENOMEM` when the
   * product overflows or the region is full.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const off = heap.calloc(100, 8); // 100 zeroed f64s
   * console.log(heap.f64[(off >>> 3) + 99]); // 0
   * ```
   */
  calloc(n: number, size: number): number {
    if (typeof n !== "number" || n >>> 0 !== n) throw invalid("PrivateHeap.calloc", "n", n);
    if (typeof size !== "number" || size >>> 0 !== size) throw invalid("PrivateHeap.calloc", "size", size);
    const h = this.#h;
    if (h === 0) throw this.#closed("PrivateHeap.calloc");
    const off = this.#offCalloc(h, n, size);
    if (off > 0) return off;
    throw this.#error(off, "PrivateHeap.calloc", `${n} x ${size} bytes`);
  }

  /**
   * Resize the allocation at `off` to `size` bytes, keeping its contents up
   * to the smaller size; returns the (possibly new) offset. `realloc(0, n)`
   * is `malloc(n)`. On failure `off` stays valid and unchanged.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * let off = heap.malloc(8);
   * heap.f64[off >>> 3] = 1.5;
   * off = heap.realloc(off, 8 * 1000);
   * console.log(heap.f64[off >>> 3]); // 1.5
   * ```
   */
  realloc(off: number, size: number): number {
    if (typeof off !== "number" || off >>> 0 !== off || off >= this.#size) throw this.#badOffset("PrivateHeap.realloc", off);
    if (typeof size !== "number" || size >>> 0 !== size) throw invalid("PrivateHeap.realloc", "size", size);
    const h = this.#h;
    if (h === 0) throw this.#closed("PrivateHeap.realloc");
    const r = this.#offRealloc(h, off, size);
    if (r > 0) return r;
    throw this.#error(r, "PrivateHeap.realloc", `offset ${off} to ${size} bytes`);
  }

  /**
   * Allocate `size` bytes at an offset that is a multiple of `align` (a power
   * of two; `EINVAL` otherwise). Alignment is relative to the region base,
   * which is 2 MiB aligned, so it is absolute too.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const off = heap.alignedAlloc(64, 100);
   * console.log(off % 64); // 0
   * ```
   */
  alignedAlloc(align: number, size: number): number {
    if (typeof align !== "number" || align >>> 0 !== align || align === 0 || (align & (align - 1)) !== 0)
      throw new HeapError("EINVAL", "PrivateHeap.alignedAlloc", `align must be a power of two below 2^32, got ${describe(align)}`);
    if (typeof size !== "number" || size >>> 0 !== size) throw invalid("PrivateHeap.alignedAlloc", "size", size);
    const h = this.#h;
    if (h === 0) throw this.#closed("PrivateHeap.alignedAlloc");
    const off = this.#offAlignedAlloc(h, align, size);
    if (off > 0) return off;
    throw this.#error(off, "PrivateHeap.alignedAlloc", `${size} bytes aligned to ${align}`);
  }

  /**
   * Free the allocation at `off`. `free(0)` does nothing. Throws `EBADPTR`
   * when `off` is not the start of a live allocation and `EDOUBLEFREE` when it
   * was already freed; the heap is unchanged then.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * heap.free(heap.malloc(100));
   * ```
   */
  free(off: number): void {
    if (typeof off !== "number" || off >>> 0 !== off || off >= this.#size) throw this.#badOffset("PrivateHeap.free", off);
    const h = this.#h;
    if (h === 0) throw this.#closed("PrivateHeap.free");
    const rc = this.#offFree(h, off);
    if (rc !== 0) throw this.#error(rc, "PrivateHeap.free", `offset ${off}`);
  }

  /**
   * The heap's free log (see free-log.ts), started on the first call: from
   * then on `free` and a `realloc` that moves log the offset they freed.
   * Debug-mode struct cursors call it; a heap no debug cursor touched keeps
   * its frees unwrapped.
   */
  [FREE_LOG](): FreeLog {
    if (this.#freeLog !== undefined) return this.#freeLog;
    const log = (this.#freeLog = new FreeLog());
    const free = this.#offFree;
    const realloc = this.#offRealloc;
    this.#offFree = ((h, off) => {
      const rc = free(h, off);
      if (rc === 0 && off !== 0) log.add(off);
      return rc;
    }) as AllocCalls["free"];
    this.#offRealloc = ((h, off, size) => {
      const r = realloc(h, off, size);
      if (r > 0 && r !== off && off !== 0) log.add(off);
      return r;
    }) as AllocCalls["realloc"];
    return log;
  }

  /**
   * Usable bytes of the live allocation at `off` (at least what was asked).
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * console.log(heap.usableSize(heap.malloc(100))); // 112: the size class
   * ```
   */
  usableSize(off: number): number {
    if (typeof off !== "number" || off >>> 0 !== off || off >= this.#size) throw this.#badOffset("PrivateHeap.usableSize", off);
    const h = this.#h;
    if (h === 0) throw this.#closed("PrivateHeap.usableSize");
    const n = this.#offUsableSize(h, off);
    if (n > 0) return n;
    throw this.#error(n, "PrivateHeap.usableSize", `offset ${off}`);
  }

  /**
   * Discard every allocation and named root in O(1), whatever the heap
   * holds. The views stay valid; `generation` increments.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * for (let i = 0; i < 1000; i++) heap.malloc(32);
   * heap.reset();
   * console.log(heap.stats().liveCount); // 0
   * ```
   */
  reset(): void {
    const h = this.#enter("PrivateHeap.reset", REPAIR);
    try {
      const rc = this.#S.ph_heap_reset(h);
      if (rc !== 0) throw HeapError.fromNative(rc, "PrivateHeap.reset");
    } finally {
      this.#leave();
    }
  }

  /**
   * Give every free page back to the system now; returns the bytes given
   * back. They read as zero afterwards, which a snapshot or checksum taken
   * later shows (the same in every run of the same operations). O(free
   * runs). A heap file, or a heap created with `purge: "off"`, gives
   * nothing back (0): a file's pages would read back the file, and other
   * processes share them. On Windows only pages above `usedBytes` go back
   * (the system's write watch does not see the others change).
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 64 << 20 });
   * const big = heap.malloc(8 << 20);
   * heap.u8.fill(1, big, big + (8 << 20));
   * heap.free(big);
   * console.log(heap.purge() >= 0); // true: what was still held went back
   * ```
   */
  purge(): number {
    const h = this.#enter("PrivateHeap.purge");
    try {
      if ((this.#S.ph_heap_flags(h) & (NATIVE_CONSTANTS.PH_PURGE | NATIVE_CONSTANTS.PH_PURGE_NOW)) === 0) return 0;
      const n = Number(this.#S.ph_heap_purge(h));
      if (n < 0) throw HeapError.fromNative(n, "PrivateHeap.purge");
      return n * PAGE_SIZE;
    } finally {
      this.#leave();
    }
  }

  // ---- named roots --------------------------------------------------------

  /**
   * Store `off` under `name` (1 to 31 bytes of UTF-8) in the region's header,
   * where snapshots, restores and other processes find it. Offset 0 removes
   * the name. `ENOSPC` when all 32 slots are taken.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * heap.setRoot("world", heap.malloc(256));
   * console.log(heap.getRoot("world") > 0); // true
   * ```
   */
  setRoot(name: string, off: number): void {
    const h = this.#enter("PrivateHeap.setRoot");
    try {
      if (typeof off !== "number" || off >>> 0 !== off || off >= this.#size) throw this.#badOffset("PrivateHeap.setRoot", off);
      const rc = this.#S.ph_off_set_root(h, encodeName("PrivateHeap.setRoot", name), off);
      if (rc !== 0) throw HeapError.fromNative(rc, "PrivateHeap.setRoot", JSON.stringify(name));
    } finally {
      this.#leave();
    }
  }

  /**
   * The offset stored under `name`, or 0 when the name is not set.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * console.log(heap.getRoot("missing")); // 0
   * ```
   */
  getRoot(name: string): number {
    const h = this.#enter("PrivateHeap.getRoot");
    try {
      const r = this.#S.ph_off_get_root(h, encodeName("PrivateHeap.getRoot", name));
      if (r < 0) throw HeapError.fromNative(r, "PrivateHeap.getRoot", JSON.stringify(name));
      return r;
    } finally {
      this.#leave();
    }
  }

  /**
   * Every named root, as a name-to-offset object.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * heap.setRoot("a", heap.malloc(8));
   * console.log(Object.keys(heap.roots())); // ["a"]
   * ```
   */
  roots(): Record<string, number> {
    const h = this.#enter("PrivateHeap.roots");
    try {
      return readRoots(h, this.#S);
    } finally {
      this.#leave();
    }
  }

  // ---- introspection ------------------------------------------------------

  /**
   * The header's counters (O(1)).
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * heap.malloc(100);
   * const s = heap.stats();
   * console.log(s.liveCount, s.liveBytes, s.usedBytes);
   * ```
   */
  stats(): HeapStats {
    const h = this.#enter("PrivateHeap.stats");
    try {
      return readStats(h, "PrivateHeap.stats", this.#S);
    } finally {
      this.#leave();
    }
  }

  /**
   * Validate every invariant of the region (`ph_heap_check(base, size)`).
   * Returns the number of broken invariants: 0 means consistent. Throws
   * `ECORRUPT`, `EVERSION` or `ESIZE` when the header itself is unusable.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * heap.malloc(10);
   * if (heap.check() !== 0) throw new Error("heap is inconsistent");
   * ```
   */
  check(): number {
    this.#enter("PrivateHeap.check", REPAIR);
    try {
      return this.#checkNow("PrivateHeap.check");
    } finally {
      this.#leave();
    }
  }

  /** check(), between #enter and #leave: on a locked heap the result becomes the lock's verdict (0 lifts a failed takeover's). */
  #checkNow(op: string): number {
    const h = this.#h;
    const n = this.#locked ? this.#S.ph_heap_lock_recheck(h) : this.#S.ph_heap_check(h, this.#size);
    if (n < 0) throw HeapError.fromNative(n, op);
    return n;
  }

  /**
   * Call `fn(offset, size)` for every live allocation in address order
   * (`size` is the usable size). Return `false` from `fn` to stop. The list
   * is taken before `fn` first runs, so `fn` may allocate and free. Returns
   * how many allocations `fn` saw.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * heap.malloc(8); heap.malloc(5000);
   * heap.walk((off, size) => console.log(off, size));
   * ```
   */
  walk(fn: WalkFn): number {
    const h = this.#enter("PrivateHeap.walk");
    try {
      if (typeof fn !== "function") throw new HeapError("EINVAL", "PrivateHeap.walk", "fn must be a function");
      // Collected first, so fn may allocate or free without disturbing the walk.
      const list = listAllocations(h, "PrivateHeap.walk", this.#S);
      let seen = 0;
      for (let i = 0; i < list.length; i += 2) {
        seen++;
        if (fn(list[i]!, list[i + 1]!) === false) break;
      }
      return seen;
    } finally {
      this.#leave();
    }
  }

  /**
   * One report of what the heap holds: sizes, live allocations per size
   * class, fragmentation, roots (and with `layouts`, the structs they
   * reach), the largest allocations, and the page map (one byte per page).
   * A copy of the facts at this moment: later changes do not show in it.
   * O(pages + live allocations); about 30 ms for a 1 GiB heap holding
   * 512 MiB in 470,000 allocations (bench/js/inspect.ts). `formatReport`
   * makes text of it, `renderInspectPage` a page.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * heap.setRoot("player", heap.malloc(64));
   * const r = heap.inspect();
   * console.log(r.live.count, r.roots[0]?.name, r.largest[0]?.size); // 1 player 64
   * ```
   */
  inspect(options?: InspectOptions): HeapReport {
    const h = this.#enter("PrivateHeap.inspect");
    try {
      // The C readers of the heap's own core, at its address (in the module's memory for a WebAssembly heap: no copy).
      return inspectRegion(h, this.#size, this.#u8, "PrivateHeap.inspect", options, this.#S);
    } finally {
      this.#leave();
    }
  }

  // ---- snapshots ----------------------------------------------------------

  /**
   * Copy the used prefix (`usedBytes`, not the region): the whole heap at
   * this moment, allocations, roots and counters included. With `{ into }`
   * the copy goes into that snapshot's memory (its old contents are
   * replaced) and it is returned: the cheapest way to snapshot every frame.
   * Without it, an image of 2 MiB or more gets native memory (huge pages
   * where the system gives them, recycled from snapshots already
   * collected), and once the images held have grown 256 MiB since the last
   * collection, taking one runs a full garbage collection (`Bun.gc(true)`)
   * so that dropped snapshots give their memory back for reuse.
   * With `{ base }` only the pages that differ from `base` are stored.
   * The heap header is checked first (O(1), as a restore checks it): one
   * damaged by a write through offset 0 (the null offset) is `ECORRUPT`,
   * and the message names what was overwritten.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 16 << 20 });
   * heap.setRoot("player", heap.malloc(64));
   * const snap = heap.snapshot();
   * console.log(snap.byteLength === heap.usedBytes); // true
   * ```
   */
  snapshot(options?: SnapshotOptions): Snapshot {
    const h = this.#enter("PrivateHeap.snapshot");
    try {
      const used = this.#S.ph_off_used_bytes(h);
      const base = options?.base;
      if (base !== undefined) return takeSnapshot(this.#u8, used, options?.into, base, writtenSince(this, base, used));
      return tookFull(this, takeSnapshot(this.#u8, used, options?.into), used);
    } finally {
      this.#leave();
    }
  }

  /**
   * Make the heap exactly what `snap` holds: allocations, roots, counters
   * and bytes below its `usedBytes`. Works for a snapshot of any heap no
   * larger than this one (the extra space becomes free). Throws `ESIZE`
   * for a larger one, and the heap is unchanged then. Offsets and views
   * stay valid; what they point at is the snapshot's.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using a = PrivateHeap.create({ size: 1 << 20 });
   * using b = PrivateHeap.create({ size: 4 << 20 });
   * a.setRoot("x", a.malloc(8));
   * b.restore(a.snapshot());
   * console.log(b.getRoot("x") === a.getRoot("x")); // true
   * ```
   */
  restore(snap: Snapshot): void {
    const h = this.#enter("PrivateHeap.restore", REPAIR);
    try {
      restoreSnapshot(this, h, this.#size, snap, "PrivateHeap.restore", this.#backend);
    } finally {
      this.#leave();
    }
  }

  /**
   * 64-bit checksum of the used prefix (docs/checksum.md): a sum of keyed
   * hashes of its pages, with the header's lock block read as zero. Equal
   * for two heaps (or a heap and a snapshot) holding the same bytes,
   * whoever holds a shared heap's lock, and stable across runs and
   * machines. With `zeroOnFree`, freed memory is zero, so equal live data
   * gives equal sums. It costs what changed since the last call: the
   * pages the heap's tracker reports written are hashed again (see
   * `tracking`); the first call, and every call with "compare" tracking,
   * hashes the whole prefix. The header is checked first, as `snapshot()`
   * checks it: a header a stray write damaged (offset 0 is the header) is
   * `ECORRUPT` here, naming what it found.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * console.log(heap.checksum() === heap.snapshot().checksum()); // true
   * ```
   */
  checksum(): bigint {
    const h = this.#enter("PrivateHeap.checksum");
    try {
      const used = this.#S.ph_off_used_bytes(h);
      checkHeapHeader(this.#u8, used, "PrivateHeap.checksum");
      const sums = (this.#pageHashes ??= new PageHashes());
      // The pages written since the last checksum are hashed again; without a list (the first call, "compare" tracking), all are.
      const changes = (this.#checksumChanges ??= this.#pageTracker("PrivateHeap.checksum").subscribe());
      const n = changes.collect(Math.ceil(used / PAGE_SIZE));
      try {
        return sums.update(h, used, n === UNKNOWN ? null : changes.pages, Math.max(n, 0), "PrivateHeap.checksum", this.#S);
      } catch (e) {
        changes.forget();
        throw e;
      }
    } finally {
      this.#leave();
    }
  }

  // ---- sizes --------------------------------------------------------------

  /**
   * Bytes in the region (the requested size rounded down to whole pages);
   * every view is this long. Readable after `close()`.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * console.log(heap.size === heap.u8.length); // true
   * ```
   */
  get size(): number {
    return this.#size;
  }

  /**
   * The largest single allocation this heap can serve when empty (whole
   * pages less the header and page map).
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const all = heap.malloc(heap.maxAlloc); // the whole region in one allocation
   * ```
   */
  get maxAlloc(): number {
    if (this.#h === 0) throw this.#closed("PrivateHeap.maxAlloc");
    return Number(this.#S.ph_heap_max_alloc(this.#size));
  }

  /**
   * Bytes below the high-water mark: what a snapshot copies.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const before = heap.usedBytes;
   * heap.malloc(100_000);
   * console.log(heap.usedBytes > before); // true
   * ```
   */
  get usedBytes(): number {
    const h = this.#h;
    if (h === 0) throw this.#closed("PrivateHeap.usedBytes");
    return this.#S.ph_off_used_bytes(h);
  }

  /**
   * Incremented by every reset; 1 for a new heap. Read from the region.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * heap.reset();
   * console.log(heap.generation); // 2
   * ```
   */
  get generation(): number {
    const h = this.#h;
    if (h === 0) throw this.#closed("PrivateHeap.generation");
    return Number(this.#S.ph_heap_generation(h));
  }

  /**
   * True when freed memory is zeroed (the `zeroOnFree` option).
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20, zeroOnFree: true });
   * console.log(heap.zeroOnFree); // true
   * ```
   */
  get zeroOnFree(): boolean {
    const h = this.#h;
    if (h === 0) throw this.#closed("PrivateHeap.zeroOnFree");
    return (this.#S.ph_heap_flags(h) & NATIVE_CONSTANTS.PH_ZERO_ON_FREE) !== 0;
  }

  /**
   * The region's address (the C `ph_heap_t *`), for passing the heap to
   * other native code; 0 after `close()`.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * console.log(heap.address % (2 << 20)); // 0: regions are 2 MiB aligned
   * ```
   */
  get address(): number {
    return this.#h;
  }

  // ---- views ----------------------------------------------------------------
  // Each view covers the whole region; index = offset / element size. Use
  // `off >>> 2` (unsigned), not `off >> 2`: offsets of a region above 2 GiB
  // do not fit a signed 32-bit shift.

  /**
   * Bytes of the region: `heap.u8[off]`.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const off = heap.malloc(5);
   * heap.u8.set([104, 105], off);
   * ```
   */
  get u8(): Uint8Array {
    if (this.#h === 0) throw this.#closed("PrivateHeap.u8");
    return this.#u8;
  }
  /** Int8 view: `heap.i8[off]`. @example `heap.i8[off] = -1;` */
  get i8(): Int8Array {
    if (this.#h === 0) throw this.#closed("PrivateHeap.i8");
    return this.#i8;
  }
  /** Uint16 view: `heap.u16[off >>> 1]`. @example `heap.u16[off >>> 1] = 65535;` */
  get u16(): Uint16Array {
    if (this.#h === 0) throw this.#closed("PrivateHeap.u16");
    return this.#u16;
  }
  /** Int16 view: `heap.i16[off >>> 1]`. @example `heap.i16[off >>> 1] = -2;` */
  get i16(): Int16Array {
    if (this.#h === 0) throw this.#closed("PrivateHeap.i16");
    return this.#i16;
  }
  /** Uint32 view: `heap.u32[off >>> 2]`. @example `heap.u32[off >>> 2] = 0xdeadbeef;` */
  get u32(): Uint32Array {
    if (this.#h === 0) throw this.#closed("PrivateHeap.u32");
    return this.#u32;
  }
  /** Int32 view: `heap.i32[off >>> 2]`. @example `heap.i32[off >>> 2] = -7;` */
  get i32(): Int32Array {
    if (this.#h === 0) throw this.#closed("PrivateHeap.i32");
    return this.#i32;
  }
  /** Float32 view: `heap.f32[off >>> 2]`. @example `heap.f32[off >>> 2] = 0.5;` */
  get f32(): Float32Array {
    if (this.#h === 0) throw this.#closed("PrivateHeap.f32");
    return this.#f32;
  }
  /** Float64 view: `heap.f64[off >>> 3]`. @example `heap.f64[off >>> 3] = Math.PI;` */
  get f64(): Float64Array {
    if (this.#h === 0) throw this.#closed("PrivateHeap.f64");
    return this.#f64;
  }
  /** BigUint64 view: `heap.u64[off / 8]` (offsets of 8-aligned data). @example `heap.u64[off / 8] = 1n << 63n;` */
  get u64(): BigUint64Array {
    if (this.#h === 0) throw this.#closed("PrivateHeap.u64");
    return this.#u64;
  }
  /** BigInt64 view: `heap.i64[off / 8]`. @example `heap.i64[off / 8] = -1n;` */
  get i64(): BigInt64Array {
    if (this.#h === 0) throw this.#closed("PrivateHeap.i64");
    return this.#i64;
  }
  /**
   * A DataView over the region, for unaligned or mixed-endian access.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const off = heap.malloc(8);
   * heap.view.setUint32(off + 1, 7, true);
   * ```
   */
  get view(): DataView {
    if (this.#h === 0) throw this.#closed("PrivateHeap.view");
    return this.#view;
  }

  // ---- lifetime -------------------------------------------------------------

  /**
   * True after `close()`.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * const heap = PrivateHeap.create({ size: 1 << 20 });
   * heap.close();
   * console.log(heap.closed); // true
   * ```
   */
  get closed(): boolean {
    return this.#h === 0;
  }

  /**
   * Release the region. Every view handed out is emptied first (reads give
   * `undefined`, writes are ignored, a DataView throws), then the memory is
   * unmapped; any later call on the heap throws `ECLOSED`. Idempotent.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * const heap = PrivateHeap.create({ size: 1 << 20 });
   * const f32 = heap.f32;
   * heap.close();
   * console.log(f32.length, f32[0]); // 0 undefined
   * ```
   */
  close(): void {
    const h = this.#h;
    if (h === 0) return;
    if (this.#lockDepth > 0) throw new HeapError("EINVAL", "PrivateHeap.close", "the heap's lock is held (inside withLock): close it after");
    this.#h = 0 as Pointer;
    this.#tracker?.stop();
    if (this.#backend.kind === "wasm") (this.#backend as WasmBackend).unwatch(this);
    // The native backend detaches the buffer, which empties every view and runs ph_region_unmap.
    const buf = this.#buffer;
    this.#buffer = new ArrayBuffer(0);
    if (!this.#backend.releaseRegion(buf, h, this.#size)) throw new HeapError("EIO", "PrivateHeap.close", "the runtime did not detach the region's ArrayBuffer; the region stays mapped");
  }

  /** `using heap = PrivateHeap.create(...)` closes the heap at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---- locking --------------------------------------------------------------

  /**
   * Run `fn` holding the heap's lock, so a group of calls (or reads through
   * the views) sees no other writer in between; the lock is recursive, so
   * `fn` may call the heap's methods. On a heap without lock it just runs
   * `fn`. Returns what `fn` returns. When a holder died halfway through a
   * change (the takeover's check failed, see `lockRecoveries`), it throws
   * `ECORRUPT` in every process, as every call but `restore`, `reset`,
   * `check` and a ring's `load` does, until one of those mends the heap.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const total = heap.withLock((h) => h.stats().liveCount);
   * console.log(total); // 0
   * ```
   */
  withLock<T>(fn: (heap: PrivateHeap) => T): T {
    if (typeof fn !== "function") throw new HeapError("EINVAL", "PrivateHeap.withLock", "fn must be a function");
    this.#enter("PrivateHeap.withLock");
    try {
      return fn(this);
    } finally {
      this.#leave();
    }
  }

  /** True for a heap created with `lock: true` (every call that reads or changes allocator state takes the lock in its header). */
  get locked(): boolean {
    return this.#locked;
  }

  /**
   * How often the lock was taken over from a process or thread that died
   * holding it, and the lock's verdict: what `check()` found after the last
   * takeover (0: consistent, and 0 again after a restore, a reset or a
   * `check()` that passes). While it is not 0, calls are `ECORRUPT`.
   */
  get lockRecoveries(): { count: number; lastCheck: number } {
    const h = this.#h;
    if (h === 0) throw this.#closed("PrivateHeap.lockRecoveries");
    const last = new Int32Array(1);
    const count = this.#S.ph_heap_lock_recoveries(h, last);
    return { count, lastCheck: last[0]! };
  }

  /**
   * How rings, deltas, `checksum()` and replay recording learn which pages
   * changed since they last looked: "userfaultfd" (Linux 6.7+: the kernel
   * write-protects the used pages and notes each first write, for about
   * 1 us per page written per look), "write-watch" (Windows), or "compare"
   * (a comparison with the last copy, or a full pass: heap files, heaps
   * created with `tracking: "compare"`, other systems, or where the kernel
   * refuses). Results are identical whichever is used. Reading it starts
   * the tracker if nothing has yet. ECLOSED on a closed heap.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * console.log(["userfaultfd", "write-watch", "compare"].includes(heap.tracking)); // true
   * ```
   */
  get tracking(): Tracking {
    return this.#pageTracker("PrivateHeap.tracking").kind;
  }

  /** Why `tracking` is "compare" ("" when it is not). ECLOSED on a closed heap. */
  get trackingReason(): string {
    return this.#pageTracker("PrivateHeap.trackingReason").reason;
  }

  #pageTracker(op: string): PageTracker {
    if (this.#h === 0) throw this.#closed(op);
    let t = this.#tracker;
    if (t === null) {
      t = this.#tracker = new PageTracker(this, this.#h, this.#size, this.#compareOnly === "", this.#compareOnly);
    }
    return t;
  }

  static {
    changesOf = (heap, op) => heap.#pageTracker(op).subscribe();
    symbolsOf = (heap) => heap.#S;
    backendOf = (heap) => heap.#backend;
    remakeViews = (heap) => {
      if (heap.#h !== 0) heap.#makeViews();
    };
    watchViews = (heap, owner, remake) => {
      if (heap.#backend.kind === "wasm") (heap.#backend as WasmBackend).watch(owner, remake);
    };
    pageTrackerOf = (heap) => heap.#pageTracker("pageTrackerOf");
    underHeapLock = <T>(heap: PrivateHeap, op: string, fn: () => T, repair = STRICT): T => {
      const h = heap.#enter(op, repair);
      try {
        const r = fn();
        if (repair && heap.#locked) {
          const last = new Int32Array(1);
          heap.#S.ph_heap_lock_recoveries(h, last);
          if (last[0] !== 0) heap.#S.ph_heap_lock_recheck(h); // still marked: fn replaced the state without lifting it
        }
        return r;
      } finally {
        heap.#leave();
      }
    };
  }

  /**
   * The start of every call that reads or changes the heap's state outside
   * the allocation calls: ECLOSED on a closed heap, then on a locked heap
   * take its lock, refused (ECORRUPT, released) on a heap a takeover found
   * broken unless `repair`, waiting at most `waitMs` when >= 0 (then
   * EBUSY). Returns the region's base; every #enter that returns is
   * followed by one #leave (try/finally).
   */
  #enter(op: string, repair = STRICT, waitMs = -1): Pointer {
    const h = this.#h;
    if (h === 0) throw this.#closed(op);
    if (!this.#locked) return h;
    const rc = waitMs >= 0 ? this.#S.ph_heap_lock_timeout(h, waitMs) : this.#S.ph_heap_lock(h);
    if (rc >= 0 || (repair && rc === LOCK_TAKEN_OVER_BROKEN)) {
      this.#lockDepth++;
      return h;
    }
    if (rc === nativeFromCode("EBUSY"))
      throw new HeapError("EBUSY", op, `the heap's lock stayed held by a live process or thread for ${waitMs} ms (or its lock word names one)`);
    if (rc !== LOCK_TAKEN_OVER_BROKEN) throw HeapError.fromNative(rc, op);
    this.#S.ph_heap_unlock(h);
    throw new HeapError("ECORRUPT", op, BROKEN_HEAP);
  }

  /** The end of a call #enter started: release the lock it took. (close() is refused while it is held, so #h is still the base.) */
  #leave(): void {
    if (!this.#locked) return;
    this.#lockDepth--;
    this.#S.ph_heap_unlock(this.#h);
  }

  // ---- errors ---------------------------------------------------------------

  #closed(op: string): HeapError {
    return new HeapError("ECLOSED", op);
  }

  #badOffset(op: string, off: unknown): HeapError {
    if (this.#h === 0) return this.#closed(op);
    return new HeapError("EINVAL", op, `offset must be an integer from 0 to ${this.#size - 1}, got ${describe(off)}`);
  }

  /** The error of a failed offset call: a negative code, or 0 with the code in ph_last_error(). */
  #error(r: number, op: string, detail: string): HeapError {
    const rc = r < 0 ? r : this.#S.ph_last_error();
    // A locked allocation call also fails this way when it took the lock over
    // from a dead holder and check() then failed (nothing was done).
    const why = this.#locked && rc === LOCK_TAKEN_OVER_BROKEN ? `${detail}; the heap is inconsistent (when lockRecoveries says a holder died mid-change, every process is refused until the heap is restored or reset)` : detail;
    return HeapError.fromNative(rc < 0 ? rc : -1, op, why);
  }
}
