/**
 * snapshot.ts - Snapshot: a byte copy of a heap's used prefix (every byte
 * below the high-water mark), which is the whole heap: all allocator state
 * lives there and every link is an offset.
 *
 * Invariant: a Snapshot's bytes passed the native checks when they entered
 * the object (taken from a live heap, or `fromBytes` with the full
 * ph_heap_check), and no one outside this module can reach them (`bytes`
 * returns a copy). So restoring one needs only the O(1) size checks.
 * The one way a snapshot's bytes change is `heap.snapshot({ into })`, which
 * bumps its generation; a delta records its base's generation and refuses
 * (`ESTALE`) to rebuild over a base that has changed since, so a rebuilt
 * image is always the one that was taken. What is read from an image once
 * (its stats and roots) is kept until `into` replaces the bytes, and is
 * handed out only after the same staleness check.
 */
import type { Pointer } from "bun:ffi";
import type { Backend } from "../backend.ts";
import { bytesBackend } from "../bytes-backend.ts";
import { heapChecksum } from "../checksum.ts";
import { codeFromNative, HeapError, nativeFromCode } from "../errors.ts";
import { NATIVE_CONSTANTS, type NativeSymbols } from "../ffi/symbols.ts";
import { hexOf } from "../platform/bytes.ts";
import { listAllocations, readRoots, readStats, type HeapStats } from "../introspect.ts";
import { loadFile, loadFileSync, type LoadProgress, saveFile, saveFileSync } from "./file.ts";
import type { LoadOptions, SaveOptions } from "./file-format.ts";
import { applyDelta, makeDelta, type Delta, type Written } from "./delta.ts";
import { diffImages, type DiffOptions, type SnapshotDiff } from "./diff.ts";
import { copyOfImage, newImage, releaseImage } from "./image-memory.ts";
import { restoreDeltaInPlace } from "./delta-restore.ts";
import { inspectRegion, type HeapReport, type InspectOptions } from "../inspect/report.ts";
import type { PrivateHeap } from "../heap.ts";

const TRUSTED = NATIVE_CONSTANTS.PH_SNAPSHOT_TRUSTED;
/** Passed as a target size when only the snapshot itself is checked. */
const ANY_SIZE = Number.MAX_SAFE_INTEGER;
/** Only this module's functions construct snapshots. */
const INTERNAL: unique symbol = Symbol("privheap.Snapshot");

/** Copy a used prefix into an existing snapshot's memory (set by the class). */
let copyInto: (region: Uint8Array, used: number, into: Snapshot) => Snapshot;

/** The bytes behind a snapshot, for this module's functions (set by the class). */
let snapshotBytes: (s: Snapshot, op: string) => Uint8Array;

/** A fresh delta over a full snapshot: its pages, that snapshot and its image; else null (set by the class). */
let deltaParts: (s: Snapshot, op: string) => { delta: Delta; base: Snapshot; baseImage: Uint8Array } | null;

/**
 * A heap's state at one moment: the bytes `heap.snapshot()` copied. Restore
 * it with `heap.restore(snap)` into the same heap or any heap at least
 * `regionSize` bytes large.
 *
 * @example
 * ```ts
 * import { PrivateHeap } from "privheap";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const hp = heap.malloc(4);
 * heap.u32[hp >>> 2] = 100;
 * const snap = heap.snapshot();
 * heap.u32[hp >>> 2] = 0;
 * heap.restore(snap);
 * console.log(heap.u32[hp >>> 2]); // 100
 * ```
 */
export class Snapshot {
  /** A full image: the first byteLength bytes of #storage (reused by `snapshot({ into })`). */
  #bytes: Uint8Array | null;
  #storage: Uint8Array;
  /** Or a delta: the pages that differ from #base. */
  #delta: Delta | null = null;
  #base: Snapshot | null = null;
  /** Times `snapshot({ into: this })` replaced the bytes. */
  #generation = 0;
  /** A delta's base's #generation when the delta was taken. */
  #baseGeneration = 0;
  /** The image passed the full native check (the one a load runs); cleared when the bytes change. */
  #checked = false;
  /** Async saves in flight: while any is, `snapshot({ into: this })` takes new memory. */
  #saving = 0;
  /** After close(): the bytes are given back and every use is ECLOSED. */
  #closed = false;
  /** The image's stats and roots, read once per content (a delta would rebuild its whole image for each). */
  #facts: { stats: HeapStats; roots: Record<string, number> } | null = null;

  /**
   * @internal Use `heap.snapshot()`, `Snapshot.fromBytes()` or `Snapshot.load()`:
   * a snapshot's bytes are trusted, so only this module makes one.
   */
  constructor(token: typeof INTERNAL, bytes: Uint8Array | null, delta?: { base: Snapshot; delta: Delta }, checked = false) {
    if (token !== INTERNAL) throw new HeapError("EINVAL", "Snapshot.constructor", "use heap.snapshot(), Snapshot.fromBytes() or Snapshot.load()");
    this.#bytes = bytes;
    this.#storage = bytes ?? new Uint8Array(0);
    this.#checked = checked;
    if (delta !== undefined) {
      this.#base = delta.base;
      this.#baseGeneration = delta.base.#generation;
      this.#delta = delta.delta;
    }
  }

  static {
    snapshotBytes = (s, op) => s.#image(op);
    deltaParts = (s, op) => {
      s.#checkFresh(op);
      const base = s.#base;
      if (s.#bytes !== null || base === null || base.#bytes === null) return null;
      return { delta: s.#delta!, base, baseImage: base.#bytes };
    };
    copyInto = (region, used, into) => {
      if (into.#closed) throw new HeapError("ECLOSED", "PrivateHeap.snapshot", "into was closed");
      if (into.#saving > 0 || into.#storage.length < used) into.#storage = newImage(used, false, "PrivateHeap.snapshot");
      into.#storage.set(region.subarray(0, used));
      into.#bytes = into.#storage.subarray(0, used);
      into.#delta = into.#base = null;
      into.#generation++;
      into.#checked = false;
      into.#facts = null;
      return into;
    };
  }

  /**
   * Throws ECLOSED when this snapshot or a base down its delta chain was
   * closed, ESTALE when a base was overwritten since the delta was taken.
   */
  #checkFresh(op: string): void {
    for (let s: Snapshot = this; ; s = s.#base!) {
      if (s.#closed) throw new HeapError("ECLOSED", op, s === this ? "the snapshot was closed" : "the base of this delta was closed");
      if (s.#bytes !== null) return;
      if (s.#base!.#generation !== s.#baseGeneration)
        throw new HeapError("ESTALE", op, "the base of this delta was overwritten by heap.snapshot({ into }) after the delta was taken");
    }
  }

  /** The whole image: the bytes, or a delta rebuilt over its base (new memory each time). */
  #image(op: string): Uint8Array {
    if (this.#bytes !== null) return this.#bytes;
    this.#checkFresh(op); // ECLOSED after close(), whose #bytes is null
    return applyDelta(this.#delta!, this.#base!.#image(op), op);
  }

  /** The stats and roots of the image, read on first use. */
  #factsOf(op: string): { stats: HeapStats; roots: Record<string, number> } {
    this.#checkFresh(op);
    if (this.#facts === null) {
      const image = this.#image(op);
      this.#facts = { stats: readStats(image, op), roots: readRoots(image) };
    }
    return this.#facts;
  }

  /**
   * The image, after the full native check that a load of its file runs
   * (once per content: a snapshot taken from a heap got only the O(1)
   * header check). So a save never writes a file its load would refuse.
   * The check costs about 3 ms for 256 MiB holding 4 million allocations,
   * against 20-50 ms for the save itself.
   */
  #loadable(op: string): Uint8Array {
    const image = this.#image(op);
    if (!this.#checked) {
      const rc = checkedBy(image, op, (at, S) => S.ph_heap_check(at, image.length));
      if (rc !== 0)
        throw HeapError.fromNative(rc < 0 ? rc : nativeFromCode("ECORRUPT"), op,
          `the heap in this snapshot fails the full check (${rc > 0 ? `${rc} broken invariants` : "its header"}), so its load would refuse it: ` +
            "the heap was damaged before the snapshot was taken (a write through offset 0, the null offset, or out of an allocation's bounds?)");
      this.#checked = true;
    }
    return image;
  }

  /**
   * Where `a` and `b` differ: changed byte ranges in address order, each
   * mapped to the allocation that holds it (in `b`, or in `a` when `b` freed
   * it), the distinct allocations touched, and the named roots that moved or
   * whose allocation changed. The tool for finding what diverged between
   * two runs.
   *
   * @example
   * ```ts
   * import { PrivateHeap, Snapshot } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const hp = heap.malloc(16);
   * heap.setRoot("player", hp);
   * const before = heap.snapshot();
   * heap.u8[hp + 3] = 7;
   * const d = Snapshot.diff(before, heap.snapshot());
   * console.log(d.changedBytes, d.ranges[0]?.offset === hp + 3, d.roots); // 1 true ["player"]
   * ```
   */
  static diff(a: Snapshot, b: Snapshot, options?: DiffOptions): SnapshotDiff {
    if (!(a instanceof Snapshot) || !(b instanceof Snapshot)) throw new HeapError("EINVAL", "Snapshot.diff", "expected two Snapshots");
    return diffImages(a.#image("Snapshot.diff"), b.#image("Snapshot.diff"), options);
  }

  /**
   * A snapshot from bytes that came from elsewhere (a file, the network):
   * copied, then validated in full by the native checker. Throws `ECORRUPT`
   * (not a complete, consistent heap image) or `EVERSION`.
   *
   * @example
   * ```ts
   * import { PrivateHeap, Snapshot } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const copy = Snapshot.fromBytes(heap.snapshot().bytes);
   * heap.restore(copy);
   * ```
   */
  static fromBytes(bytes: Uint8Array): Snapshot {
    if (!(bytes instanceof Uint8Array)) throw new HeapError("EINVAL", "Snapshot.fromBytes", "bytes must be a Uint8Array");
    const own = copyOfImage(bytes, "Snapshot.fromBytes");
    checkBytes(own, ANY_SIZE, 0, "Snapshot.fromBytes");
    return new Snapshot(INTERNAL, own, undefined, true);
  }

  /** Bytes of the image: the heap's `usedBytes` when it was taken (0 once closed). */
  get byteLength(): number {
    if (this.#closed) return 0;
    return this.#bytes?.length ?? this.#delta!.length;
  }

  /** Bytes this snapshot holds itself: byteLength, or for a delta its changed pages (0 once closed). */
  get storedBytes(): number {
    if (this.#closed) return 0;
    return this.#bytes?.length ?? this.#delta!.data.length;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Give the snapshot's memory back now, for the next snapshot to reuse,
   * rather than when the collector finds it unreachable: a program that
   * takes large snapshots often (autosaves, bug reports) closes each once
   * it is done. Then every use of it, and of a delta taken against it, is
   * `ECLOSED`; `byteLength` and `storedBytes` read 0. During an async
   * `save` the memory is left to the collector (the save still reads it).
   * Idempotent.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 16 << 20 });
   * heap.malloc(8 << 20);
   * {
   *   using autosave = heap.snapshot(); // given back at the end of the block
   *   console.log(autosave.byteLength > 0); // true
   * }
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const storage = this.#storage;
    this.#bytes = null;
    this.#storage = new Uint8Array(0);
    this.#delta = null;
    this.#base = null;
    this.#facts = null;
    if (this.#saving === 0) releaseImage(storage);
  }

  /** `using snap = heap.snapshot()` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** The snapshot a delta was taken against (`heap.snapshot({ base })`), else undefined. */
  get base(): Snapshot | undefined {
    return this.#base ?? undefined;
  }

  /**
   * A copy of the image's bytes (a delta's are rebuilt over its base, in
   * new memory at every call; the snapshot cannot be changed).
   */
  get bytes(): Uint8Array {
    return this.#bytes !== null ? copyOfImage(this.#bytes, "Snapshot.bytes") : this.#image("Snapshot.bytes");
  }

  /** Size of the heap it was taken from: the smallest heap it restores into. */
  get regionSize(): number {
    return this.#factsOf("Snapshot.regionSize").stats.regionBytes;
  }

  /**
   * The heap's counters at the moment it was taken. Read once: a delta
   * rebuilds its image for the first call only (`ESTALE` once its base was
   * overwritten, as for every use of the delta).
   */
  stats(): HeapStats {
    return { ...this.#factsOf("Snapshot.stats").stats };
  }

  /** The heap's named roots at the moment it was taken. Read once, as `stats()`. */
  roots(): Record<string, number> {
    return { ...this.#factsOf("Snapshot.roots").roots };
  }

  /**
   * The heap checksum of the image (docs/checksum.md); equal to
   * `heap.checksum()` of the heap it was taken from at that moment, and
   * stable across runs and machines.
   * A delta rebuilds its image for each call (a copy of its base and its
   * pages): keep the result rather than asking twice.
   */
  checksum(): bigint {
    return heapChecksum(this.#image("Snapshot.checksum"));
  }

  /**
   * The report of the heap in this snapshot, as `heap.inspect()` makes it
   * of a live heap. A delta rebuilds its image for each call.
   *
   * @example
   * ```ts
   * import { PrivateHeap } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * heap.malloc(20000);
   * const snap = heap.snapshot();
   * console.log(snap.inspect().live.largeCount); // 1
   * ```
   */
  inspect(options?: InspectOptions): HeapReport {
    const image = this.#image("Snapshot.inspect");
    return inspectRegion(image, image.length, image, "Snapshot.inspect", options);
  }

  /** Live allocations as (offset, size) pairs in address order. A delta rebuilds its image for each call. */
  allocations(): Float64Array {
    return listAllocations(this.#image("Snapshot.allocations"), "Snapshot.allocations");
  }

  /**
   * Write the snapshot to `path` in the snapshot file format
   * (docs/snapshot-format.md): zero pages left out, zstd with `compress`,
   * and the file replaced atomically (a temporary file in the same
   * directory, fsync, rename), so a crash leaves the old file or the new
   * one. Rejects with `EIO` (the OS error as `cause`) or `EINVAL`, and
   * with `ECORRUPT` when the heap inside fails the full native check that
   * `load` runs (a save never writes a file its load would refuse; the
   * check runs once per snapshot content and costs a few ms per 256 MiB). While
   * the save runs, `heap.snapshot({ into: this })` copies into new memory,
   * so the file gets the bytes the snapshot had when the save began.
   *
   * @example
   * ```ts
   * import { PrivateHeap, Snapshot } from "privheap";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const path = join(tmpdir(), "level-1.phsnap");
   * await heap.snapshot().save(path, { compress: true });
   * heap.restore(await Snapshot.load(path));
   * ```
   */
  async save(path: string, options?: SaveOptions): Promise<void> {
    const image = this.#loadable("Snapshot.save");
    this.#saving++;
    try {
      await saveFile(path, image, options, "Snapshot.save");
    } finally {
      this.#saving--;
    }
  }

  /**
   * The synchronous form of {@link Snapshot.save}.
   *
   * @example
   * ```ts
   * import { PrivateHeap, Snapshot } from "privheap";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const path = join(tmpdir(), "quick.phsnap");
   * heap.snapshot().saveSync(path, { fsync: false });
   * console.log(Snapshot.loadSync(path).checksum() === heap.checksum()); // true
   * ```
   */
  saveSync(path: string, options?: SaveOptions): void {
    saveFileSync(path, this.#loadable("Snapshot.saveSync"), options, "Snapshot.saveSync");
  }

  /**
   * Read a snapshot file written by `save`. Every byte is checked (header,
   * page map and data checksums, then the full native heap check, as in
   * `fromBytes`) before the snapshot exists. Memory: the heap header in
   * the data's first pages is checked against the file's sizes before the
   * used prefix is allocated or decoded, so a damaged or hostile file costs
   * what it holds; one with a sound header costs its used prefix, which
   * `{ maxBytes }` bounds (`ESIZE` before reading past the file header).
   * Rejects with `ECORRUPT` (damaged or truncated), `EVERSION` (a newer
   * format, another native ABI or page size), `ESIZE` (over `maxBytes`) or
   * `EIO` (the OS error as `cause`). A heap too small for it is `ESIZE`,
   * from `heap.restore`.
   *
   * @example
   * ```ts
   * import { PrivateHeap, Snapshot } from "privheap";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const path = join(tmpdir(), "save-slot.phsnap");
   * await heap.snapshot().save(path);
   * const snap = await Snapshot.load(path);
   * console.log(snap.byteLength === heap.usedBytes); // true
   * ```
   */
  static async load(path: string, options?: LoadOptions): Promise<Snapshot> {
    return loadFile(
      path,
      "Snapshot.load",
      (image) => {
        checkBytes(image, ANY_SIZE, 0, "Snapshot.load");
        return new Snapshot(INTERNAL, image, undefined, true);
      },
      options,
    );
  }

  /**
   * The synchronous form of {@link Snapshot.load}.
   *
   * @example
   * ```ts
   * import { PrivateHeap, Snapshot } from "privheap";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const path = join(tmpdir(), "save-slot.phsnap");
   * heap.snapshot().saveSync(path);
   * heap.restore(Snapshot.loadSync(path));
   * ```
   */
  static loadSync(path: string, options?: LoadOptions): Snapshot {
    return loadSnapshotSync(path, options);
  }
}

/**
 * Snapshot.loadSync, telling `progress` of the file's data bytes read and
 * checked so far: for the command line's progress bar.
 */
export function loadSnapshotSync(path: string, options?: LoadOptions, progress?: LoadProgress): Snapshot {
  return loadFileSync(
    path,
    "Snapshot.loadSync",
    (image) => {
      checkBytes(image, ANY_SIZE, 0, "Snapshot.loadSync");
      return new Snapshot(INTERNAL, image, undefined, true);
    },
    options,
    progress,
  );
}

/**
 * The checked image behind `s`, without the copy `s.bytes` makes: for the
 * library's own readers (inspect, diff, timeline), which never write it. A
 * delta's image is rebuilt in new memory at each call.
 */
export function imageOfSnapshot(s: Snapshot, op: string): Uint8Array {
  return snapshotBytes(s, op);
}

/**
 * A snapshot of `length` bytes that `fill` writes into new image memory,
 * then checked in full as `Snapshot.fromBytes` checks bytes from elsewhere:
 * for the library's readers of heap files, which read straight into the
 * image instead of copying it once more. `what` names the bytes in the
 * message of a failed check. The memory is given back when `fill` or the
 * check throws.
 */
export function snapshotOfFilled(length: number, fill: (image: Uint8Array) => void, op: string, what: string): Snapshot {
  const image = newImage(length, false, op);
  try {
    fill(image);
    const rc = checkedBy(image, op, (at, S) => S.ph_snapshot_check(at, image.length, ANY_SIZE, 0));
    if (rc !== 0) throw HeapError.fromNative(rc, op, `${what}: ${describeFailure(rc, length, ANY_SIZE)}`);
  } catch (e) {
    releaseImage(image);
    throw e;
  }
  return new Snapshot(INTERNAL, image, undefined, true);
}

/**
 * A snapshot holding a copy of `image`, which the caller has just checked
 * in full (ph_snapshot_check) and has not changed since: for readers that
 * check an image where they built it (a replay's keyframes), so the copy is
 * not checked a second time.
 */
export function snapshotOfChecked(image: Uint8Array, op: string): Snapshot {
  return new Snapshot(INTERNAL, copyOfImage(image, op), undefined, true);
}

/** Validate bytes as a snapshot for a target of `targetSize` bytes; throws the code. */
export function checkBytes(bytes: Uint8Array, targetSize: number, flags: number, op: string): void {
  const rc = checkedBy(bytes, op, (at, S) => S.ph_snapshot_check(at, bytes.length, targetSize, flags));
  if (rc !== 0) throw HeapError.fromNative(rc, op, describeFailure(rc, bytes.length, targetSize));
}

/**
 * `check` run by the default backend on `bytes` (bytes given without a heap:
 * its C checks, which treat them as untrusted). The native core reads them
 * in place; the WebAssembly one reads a copy, or a heap's view over its own
 * memory in place.
 */
function checkedBy(bytes: Uint8Array, op: string, check: (at: Pointer, S: NativeSymbols) => number): number {
  const b = bytesBackend(op);
  return b.withBytes(bytes, (at) => check(at as Pointer, b.symbols));
}

function describeFailure(rc: number, len: number, targetSize: number): string {
  if (rc === nativeFromCode("ESIZE")) return `the snapshot needs a larger heap than ${targetSize} bytes`;
  return `${len} bytes are not a usable heap snapshot`;
}

/**
 * What is wrong with a heap header that failed ph_snapshot_check with `rc`
 * (the O(1) checks): the magic at offset 0 is named, because the usual
 * cause is a write through offset 0, the null offset.
 */
function headerDamage(bytes: Uint8Array, rc: number): string {
  const found = bytes.subarray(0, Math.min(8, bytes.length));
  if (found.length < 8 || !HEAP_MAGIC.every((b, i) => found[i] === b))
    return `the heap header's magic at offset 0 reads ${hexOf(found)}, not "PRIVHEAP": something wrote through offset 0 (the null offset)`;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const abi = v.getUint32(8, true);
  if (abi !== NATIVE_CONSTANTS.PH_ABI_VERSION) return `the heap header's ABI field at offset 8 reads ${abi}: it was overwritten (a write through offset 0, the null offset?)`;
  return `a field of the heap header (offsets 12 to ${NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET}: sizes, marks, leaf directory) is out of range (${codeFromNative(rc)}): it was overwritten (a write through offset 0, the null offset?)`;
}

/** The first 8 bytes of every heap: "PRIVHEAP". */
const HEAP_MAGIC = new TextEncoder().encode("PRIVHEAP");

/**
 * Throw `ECORRUPT` (or `EVERSION`) naming the damage when the header of the
 * heap in `region` (a heap's whole-region view, `usedBytes` of it in use)
 * fails the O(1) checks a restore of its snapshot would make. Saves and
 * checksums call it first, so a stray write into the header is reported
 * where it would be copied, not frames later where it is loaded.
 */
export function checkHeapHeader(region: Uint8Array, usedBytes: number, op: string): void {
  const prefix = region.subarray(0, usedBytes);
  const rc = checkedBy(prefix, op, (at, S) => S.ph_snapshot_check(at, prefix.length, ANY_SIZE, TRUSTED));
  if (rc !== 0) throw HeapError.fromNative(rc, op, headerDamage(prefix, rc));
}

/**
 * A snapshot of the used prefix of `region` (a heap's whole-region view):
 * copied into `into`'s memory when given (grown if too small), else into
 * fresh memory. The header is checked first (O(1), what a restore of the
 * snapshot checks), so a damaged header is `ECORRUPT` here rather than
 * when the snapshot is restored or loaded. A delta against `base`
 * compares the pages `written` lists since base was taken, or every page.
 */
export function takeSnapshot(region: Uint8Array, usedBytes: number, into?: Snapshot, base?: Snapshot, written?: Written): Snapshot {
  checkHeapHeader(region, usedBytes, "PrivateHeap.snapshot");
  const prefix = region.subarray(0, usedBytes);
  if (base !== undefined) {
    if (!(base instanceof Snapshot)) throw new HeapError("EINVAL", "PrivateHeap.snapshot", "base must be a Snapshot");
    if (into !== undefined) throw new HeapError("EINVAL", "PrivateHeap.snapshot", "into and base cannot be combined");
    return new Snapshot(INTERNAL, null, { base, delta: makeDelta(region, usedBytes, snapshotBytes(base, "PrivateHeap.snapshot"), "PrivateHeap.snapshot", written) });
  }
  if (into === undefined) return new Snapshot(INTERNAL, copyOfImage(prefix, "PrivateHeap.snapshot"));
  if (!(into instanceof Snapshot)) throw new HeapError("EINVAL", "PrivateHeap.snapshot", "into must be a Snapshot");
  return copyInto(region, usedBytes, into);
}

/**
 * Replace the heap at `base` (a region of `size` bytes, `heap`'s) by
 * `snap`. Throws `ESIZE` when the snapshot's heap was larger, and changes
 * nothing then. A delta over the heap's latest full snapshot is restored
 * by writing the pages that differ (delta-restore.ts); anything else by
 * restoring its whole image.
 */
export function restoreSnapshot(heap: PrivateHeap, base: Pointer, size: number, snap: Snapshot, op: string, backend: Backend): void {
  if (!(snap instanceof Snapshot)) throw new HeapError("EINVAL", op, "expected a Snapshot");
  const parts = deltaParts(snap, op);
  // Writing a delta's pages in place needs the written-page list, which only the native backend's tracker gives.
  if (parts !== null && backend.kind === "native" && restoreDeltaInPlace(heap, base, size, parts.delta, parts.baseImage, parts.base, op, backend.symbols)) return;
  const bytes = snapshotBytes(snap, op);
  restoreImage(base, size, bytes, bytes.length, TRUSTED, op, "snapshot", backend);
}

/**
 * ph_heap_restore of the image bytes[0, len) into the region at `base` (of
 * `size` bytes), with `flags` (PH_SNAPSHOT_TRUSTED for images this process
 * took or already checked), by `core`, the region's backend: the native
 * core reads the image in place, the WebAssembly one a copy in its memory
 * (one copy in, none back: the image is only read). Throws the code,
 * naming the image as `what`; the region is unchanged then.
 */
export function restoreImage(base: Pointer, size: number, bytes: Uint8Array, len: number, flags: number, op: string, what: string, core: Backend): void {
  const S = core.symbols;
  const image = bytes.length > len ? bytes.subarray(0, len) : bytes;
  if (core.withBytes(image, (at) => S.ph_heap_restore(base, size, at as Pointer, len, flags)) !== null) return;
  const rc = S.ph_last_error();
  throw HeapError.fromNative(rc, op, `${what}: ${describeFailure(rc, len, size)}`);
}
