/**
 * ring.ts - SnapshotRing: the last N frames of a heap, for rollback netcode
 * (save every tick; when a late input arrives, load an earlier frame and
 * simulate forward again).
 *
 * The ring keeps the `capacity` frames it promises: its buffers grow as
 * frames need them (doubling, so a save allocates only when the ring has
 * never held that much), up to a stated limit, and a save that would need
 * more fails with ENOMEM before anything changes. It never drops a frame
 * inside `capacity` to make room. `reservedBytes` is its memory.
 *
 * Two storage modes, with no allocation and no garbage per save or load
 * once the buffers have grown to what the frames need:
 *
 * - "delta" (default): a shadow copy of the newest saved frame plus, for
 *   every older frame, the pages that differ from the frame after it, with
 *   their old contents (an undo log). Memory follows what changes per frame.
 *   save = find the pages that differ from the shadow, move their old
 *   contents into the undo log, update the shadow; load = put the shadow's
 *   contents back where the heap differs, then apply undo logs newest
 *   first. The pages that differ are the ones the heap's tracker reports
 *   written since the ring last looked, kept where their bytes differ
 *   (ph_pages_diff_list), so both cost what changed; with "compare"
 *   tracking (heap.tracking) they come from one memcmp pass over the
 *   shadow's pages (ph_pages_diff). The result is the same.
 * - "full": every frame is a full copy of the used prefix, restored with
 *   ph_heap_restore. Memory is capacity x the largest used prefix.
 *
 * Why not hashes: a hashing pass would read half the bytes a memcmp pass
 * reads, but a collision would silently roll back to a wrong state.
 *
 * Invariant (delta mode): the shadow holds the bytes of the region's pages
 * [0, extent) as they were at the newest saved frame. A page at or above
 * `extent` need not be restored: at every saved frame it was either zero
 * (above the heap's touched mark, which extent follows), or, while no
 * frame had its touched mark below the top of the region ("whole-region
 * mode", the case of heap files), above that frame's used prefix: free
 * memory the header calls dirty, which nothing reads (calloc clears it,
 * snapshots and checksums stop at the used prefix). So for a heap file the
 * ring compares the used prefix, not the whole file. Once a frame's
 * touched mark is below the top (after a restore, say), extent follows the
 * touched mark for good, so that the pages above it are zeroed on a load.
 */
import type { Pointer } from "bun:ffi";
import { HeapError } from "../errors.ts";
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";
import { readStat } from "../introspect.ts";
import { changesOf, type PrivateHeap, underHeapLock } from "../heap.ts";
import { type ChangeSet, UNKNOWN } from "../tracking.ts";
import { copyPages, diffListed, diffPages, putPages, sequence } from "./pages.ts";
import { restoreImage } from "./snapshot.ts";

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;
const TRUSTED = NATIVE_CONSTANTS.PH_SNAPSHOT_TRUSTED;
// ph_heap_stats output, read for the touched mark without making an object.

/** Options of {@link SnapshotRing.create}. */
export interface SnapshotRingOptions {
  /**
   * Frames kept (at least 1): the ring always holds the last `capacity`
   * frames saved; only a save past `capacity` drops the oldest.
   */
  capacity: number;
  /** "delta" (default): undo logs of changed pages; "full": a full copy per frame. */
  mode?: "delta" | "full";
  /**
   * Delta mode: the most memory the undo logs may grow to, in bytes.
   * Default `(capacity - 1) * heap.size`, the most `capacity` frames can
   * ever need, so a default ring never refuses a save; the log starts small
   * and grows with what actually changes. With a smaller limit, a save
   * whose frames would not fit is `ENOMEM` and changes nothing: the ring
   * never drops a frame inside `capacity` to make room.
   */
  logBytes?: number;
}

/**
 * The last `capacity` saved frames of one heap.
 *
 * @example
 * ```ts
 * import { PrivateHeap, SnapshotRing } from "privheap";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * using ring = SnapshotRing.create(heap, { capacity: 8 });
 * const hp = heap.malloc(4);
 * for (let frame = 1; frame <= 10; frame++) {
 *   heap.u32[hp >>> 2] = frame * 10; // simulate
 *   ring.save(frame);
 * }
 * ring.load(5); // rewind: frames 6..10 are dropped
 * console.log(heap.u32[hp >>> 2], ring.oldest, ring.newest); // 50 3 5
 * console.log(ring.reservedBytes >= ring.storedBytes); // true: its memory
 * ```
 */
export class SnapshotRing implements Disposable {
  readonly #heap: PrivateHeap;
  #closed = false;
  readonly #mode: "delta" | "full";
  readonly #capacity: number;
  // Frames, oldest first, in a circular array of capacity slots.
  readonly #frames: Float64Array;
  readonly #used: Float64Array; // full mode: used bytes of each slot's copy
  #first = 0; // slot of the oldest frame
  #count = 0;
  // Buffers grow (see #grown); each is at least as long as what it holds.
  // Full mode: one copy per slot.
  #copies: Uint8Array[] = [];
  // Delta mode.
  #shadow: Uint8Array = new Uint8Array(0); // at least #extent pages
  #extent = 0; // pages the shadow covers
  #wholeRegion = true; // every frame so far had its touched mark at the top (see the invariant)
  #diff: Uint32Array = new Uint32Array(0); // scratch for ph_pages_diff: at least #extent entries
  #slots: Uint32Array = new Uint32Array(0); // scratch: undo-log slots of one frame (logPages entries)
  #pages: Uint32Array = new Uint32Array(0); // scratch: their page indices (logPages entries)
  #identity: Uint32Array = new Uint32Array(0); // page i is i: the list for copying a whole prefix
  #log: Uint8Array = new Uint8Array(0); // undo pages, a circular buffer of logPages pages
  #logIndex: Uint32Array = new Uint32Array(0); // page index of each undo page
  #logPages = 0;
  readonly #logLimit: number; // the most pages the log may grow to
  #logHead = 0; // next free undo page (mod logPages)
  #logUsed = 0; // undo pages held, ending at logHead
  readonly #undoCount: Uint32Array; // per slot: undo pages (from this frame to the next)
  #changes: ChangeSet | null = null; // delta mode: pages written since the ring last looked

  private constructor(heap: PrivateHeap, mode: "delta" | "full", capacity: number, logBytes: number) {
    this.#heap = heap;
    this.#mode = mode;
    this.#capacity = capacity;
    this.#frames = new Float64Array(capacity);
    this.#used = new Float64Array(capacity);
    this.#undoCount = new Uint32Array(capacity);
    this.#logLimit = Math.max(1, Math.floor(logBytes / PAGE));
    for (let i = 0; mode === "full" && i < capacity; i++) this.#copies.push(new Uint8Array(0));
    if (mode === "delta") this.#changes = changesOf(heap, "SnapshotRing.create");
  }

  /**
   * A ring for `heap`, empty: it takes memory as frames are saved
   * (`reservedBytes`) and gives it back on `close()`. `EINVAL` for bad
   * options, `ECLOSED` for a closed heap.
   *
   * @example
   * ```ts
   * import { PrivateHeap, SnapshotRing } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * using ring = SnapshotRing.create(heap, { capacity: 4, mode: "full" });
   * ring.save(1);
   * console.log(ring.has(1)); // true
   * ```
   */
  static create(heap: PrivateHeap, options: SnapshotRingOptions): SnapshotRing {
    const op = "SnapshotRing.create";
    const capacity = options?.capacity;
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new HeapError("EINVAL", op, `capacity must be a positive integer, got ${String(capacity)}`);
    const mode = options.mode ?? "delta";
    if (mode !== "delta" && mode !== "full") throw new HeapError("EINVAL", op, `mode must be "delta" or "full", got ${String(mode)}`);
    if (heap.closed) throw new HeapError("ECLOSED", op);
    const logBytes = options.logBytes ?? Math.min(Number.MAX_SAFE_INTEGER, Math.max(PAGE, (capacity - 1) * heap.size));
    if (mode === "delta" && (!Number.isSafeInteger(logBytes) || logBytes < PAGE))
      throw new HeapError("EINVAL", op, `logBytes must be an integer of at least ${PAGE}, got ${String(logBytes)}`);
    return new SnapshotRing(heap, mode, capacity, logBytes);
  }

  /** Frames held. */
  get size(): number {
    return this.#count;
  }

  /** Frames the ring can hold. */
  get capacity(): number {
    return this.#capacity;
  }

  /** The oldest frame held, or undefined when empty. */
  get oldest(): number | undefined {
    return this.#count === 0 ? undefined : this.#frames[this.#first]!;
  }

  /** The newest frame held, or undefined when empty. */
  get newest(): number | undefined {
    return this.#count === 0 ? undefined : this.#frames[this.#slot(this.#count - 1)]!;
  }

  /** Whether `frame` is held. */
  has(frame: number): boolean {
    if (this.#closed) throw new HeapError("ECLOSED", "SnapshotRing.has", "the ring was closed");
    return this.#find(frame) >= 0;
  }

  /** Bytes of frame data held now: undo pages and the shadow (delta), or the copies in use (full). */
  get storedBytes(): number {
    if (this.#mode === "delta") return (this.#logUsed + (this.#count > 0 ? this.#extent : 0)) * PAGE;
    let n = 0;
    for (let i = 0; i < this.#count; i++) n += this.#used[this.#slot(i)]!;
    return n;
  }

  /**
   * Bytes of memory the ring holds: every buffer it has grown (the shadow,
   * the undo log and their page lists in delta mode; the copies in full
   * mode). At least `storedBytes`; it grows with what frames change and
   * never shrinks (`clear()` keeps it for the next frames).
   */
  get reservedBytes(): number {
    let n = this.#shadow.byteLength + this.#diff.byteLength + this.#identity.byteLength;
    n += this.#log.byteLength + this.#logIndex.byteLength + this.#slots.byteLength + this.#pages.byteLength;
    for (const c of this.#copies) n += c.byteLength;
    return n;
  }

  /**
   * Save the heap's state as `frame` (a safe integer). Frames must grow; a
   * frame at or below the newest first drops the frames from it on (they
   * belong to a timeline being replaced, as after a rollback, and stay
   * dropped if the save then fails). When the ring holds `capacity` frames
   * the oldest is dropped. Throws `ENOMEM` when the frames would need more
   * than `logBytes` (or the memory to grow a buffer is refused); the ring
   * is unchanged then.
   */
  save(frame: number): void {
    const base = this.#base("SnapshotRing.save"); // ECLOSED before any lock
    if (!Number.isSafeInteger(frame)) throw new HeapError("EINVAL", "SnapshotRing.save", `frame must be a safe integer, got ${String(frame)}`);
    underHeapLock(this.#heap, "SnapshotRing.save", () => this.#save(base, frame));
  }

  /**
   * Put the heap back in the state saved as `frame`, and drop the newer
   * frames (a rollback then simulates forward and saves them again). Throws
   * `EINVAL` when the frame is not held; the heap is unchanged then.
   */
  load(frame: number): void {
    const base = this.#base("SnapshotRing.load");
    // Also on a heap a holder's death left broken: a load replaces it.
    underHeapLock(this.#heap, "SnapshotRing.load", () => this.#load(base, frame), true);
  }

  /** Drop every frame (the ring keeps its memory, `reservedBytes`, for the next ones). */
  clear(): void {
    if (this.#closed) throw new HeapError("ECLOSED", "SnapshotRing.clear", "the ring was closed");
    this.#count = 0;
    this.#first = 0;
    this.#logHead = this.#logUsed = 0;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Drop every frame and give back the ring's memory (`reservedBytes` is 0
   * after); the heap is untouched. Then every method throws `ECLOSED`; the
   * getters describe an empty ring. Idempotent.
   *
   * @example
   * ```ts
   * import { PrivateHeap, SnapshotRing } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const ring = SnapshotRing.create(heap, { capacity: 4 });
   * ring.save(1);
   * ring.close();
   * console.log(ring.reservedBytes, ring.size); // 0 0
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#count = this.#first = 0;
    this.#logHead = this.#logUsed = this.#logPages = 0;
    this.#extent = 0;
    const none = new Uint32Array(0);
    this.#shadow = this.#log = new Uint8Array(0);
    this.#diff = this.#slots = this.#pages = this.#identity = this.#logIndex = none;
    this.#copies = [];
    this.#changes?.release();
    this.#changes = null;
  }

  /** `using ring = SnapshotRing.create(...)` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---- internals ----------------------------------------------------------

  // save and load run under a locked heap's lock: the heap then changes
  // only here, and pages written back leave its lock block alone.

  #save(base: Pointer, frame: number): void {
    while (this.#count > 0 && this.newest! >= frame) this.#dropNewest("SnapshotRing.save");
    if (this.#mode === "full") this.#saveFull(base, frame);
    else this.#saveDelta(base, frame);
  }

  #load(base: Pointer, frame: number): void {
    const at = this.#find(frame);
    if (at < 0) throw new HeapError("EINVAL", "SnapshotRing.load", `frame ${String(frame)} is not in the ring (${this.#describe()})`);
    if (this.#mode === "full") {
      const slot = this.#slot(at);
      restoreImage(base, this.#heap.size, this.#copies[slot]!, this.#used[slot]!, TRUSTED, "SnapshotRing.load", `frame ${frame}`);
      while (this.#count > at + 1) this.#count--;
      return;
    }
    this.#revertToShadow(base);
    while (this.#count > at + 1) this.#dropNewest("SnapshotRing.load", base);
    // The region equals the shadow now: what the undo logs wrote is no change.
    this.#changes!.collect(this.#extent);
  }

  #slot(i: number): number {
    return (this.#first + i) % this.#capacity;
  }

  /** Position (0 = oldest) of frame, or -1. Frames ascend, so binary search. */
  #find(frame: number): number {
    let lo = 0;
    let hi = this.#count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const f = this.#frames[this.#slot(mid)]!;
      if (f === frame) return mid;
      if (f < frame) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  #describe(): string {
    return this.#count === 0 ? "empty" : `frames ${this.oldest}..${this.newest}`;
  }

  #base(op: string): Pointer {
    if (this.#closed) throw new HeapError("ECLOSED", op, "the ring was closed");
    if (this.#heap.closed) throw new HeapError("ECLOSED", op, "the ring's heap was closed");
    return this.#heap.address as Pointer;
  }

  /**
   * A buffer of at least `need` units holding `old`'s contents: `old`
   * itself, or a new one of twice its length (at most `most`). A refused
   * allocation is ENOMEM, and nothing has changed then.
   */
  #grown<T extends Uint8Array | Uint32Array>(old: T, need: number, most: number, make: (n: number) => T, op: string): T {
    if (old.length >= need) return old;
    let next: T;
    try {
      next = make(Math.min(most, Math.max(need, 2 * old.length)));
    } catch (e) {
      throw new HeapError("ENOMEM", op, `the ring could not grow a buffer to ${need} units: ${String(e)}`, { cause: e });
    }
    next.set(old);
    return next;
  }

  /** The page lists cover `pages` pages. */
  #growIdentity(pages: number): void {
    const all = this.#heap.size / PAGE;
    if (this.#identity.length >= pages) return;
    this.#identity = sequence(Math.min(all, Math.max(pages, 2 * this.#identity.length)));
  }

  #saveFull(base: Pointer, frame: number): void {
    const at = this.#count === this.#capacity ? 0 : this.#count; // the oldest's slot is reused when full
    const slot = this.#slot(at);
    const used = this.#heap.usedBytes;
    this.#copies[slot] = this.#grown(this.#copies[slot]!, used, this.#heap.size, (n) => new Uint8Array(n), "SnapshotRing.save");
    this.#growIdentity(used / PAGE);
    if (this.#count === this.#capacity) this.#dropOldest();
    copyPages(this.#copies[slot]!, base, this.#identity, this.#identity, used / PAGE, "SnapshotRing.save");
    this.#used[slot] = used;
    this.#frames[slot] = frame;
    this.#count++;
  }

  /**
   * Pages to compare: the shadow's, grown to the heap's touched mark (or
   * used prefix, see the invariant), with the shadow and page lists grown
   * to match. The shadow is all zero past the extent (every write to it
   * is below), so a failed save can take a grown extent back.
   */
  #growExtent(base: Pointer, op: string): void {
    const pages = this.#heap.size / PAGE;
    const touched = Math.ceil(readStat(base, "touchedBytes", op) / PAGE);
    const whole = this.#wholeRegion && touched >= pages;
    const need = Math.min(whole ? Math.ceil(readStat(base, "usedBytes", op) / PAGE) : touched, pages);
    if (need > this.#extent) {
      const shadow = this.#grown(this.#shadow, need * PAGE, pages * PAGE, (n) => new Uint8Array(n), op);
      const diff = this.#grown(this.#diff, need, pages, (n) => new Uint32Array(n), op);
      this.#growIdentity(need);
      this.#shadow = shadow;
      this.#diff = diff;
      this.#extent = need;
    }
    this.#wholeRegion = whole;
  }

  /** The undo log holds `need` pages (in order, from slot 0 when it moves), or ENOMEM. */
  #growLog(need: number): void {
    if (need <= this.#logPages) return;
    const pages = Math.min(this.#logLimit, Math.max(need, 2 * this.#logPages, 16));
    let log: Uint8Array, index: Uint32Array, slots: Uint32Array, list: Uint32Array;
    try {
      log = new Uint8Array(pages * PAGE);
      index = new Uint32Array(pages);
      slots = new Uint32Array(pages);
      list = new Uint32Array(pages);
    } catch (e) {
      throw new HeapError("ENOMEM", "SnapshotRing.save", `the ring could not grow its undo log to ${pages * PAGE} bytes: ${String(e)}`, { cause: e });
    }
    if (this.#logUsed > 0) {
      // The held pages, oldest first, end at logHead: lay them out from 0.
      const first = (this.#logHead - this.#logUsed + this.#logPages) % this.#logPages;
      const wrap = Math.min(this.#logUsed, this.#logPages - first);
      log.set(this.#log.subarray(first * PAGE, (first + wrap) * PAGE), 0);
      log.set(this.#log.subarray(0, (this.#logUsed - wrap) * PAGE), wrap * PAGE);
      index.set(this.#logIndex.subarray(first, first + wrap), 0);
      index.set(this.#logIndex.subarray(0, this.#logUsed - wrap), wrap);
    }
    this.#slots = slots;
    this.#pages = list;
    this.#log = log;
    this.#logIndex = index;
    this.#logPages = pages;
    this.#logHead = this.#logUsed % pages;
  }

  /**
   * Pages where the region differs from the shadow, into #diff; returns
   * the count. Exact either way: the tracker's written pages are compared.
   */
  #changedPages(base: Pointer, op: string): number {
    const changes = this.#changes!;
    const n = changes.collect(this.#extent);
    try {
      if (n === UNKNOWN) return diffPages(base, this.#shadow, this.#extent, this.#diff, this.#diff.length, op);
      return diffListed(base, this.#shadow, changes.pages, n, this.#diff, op);
    } catch (e) {
      changes.forget(); // what it reported was not used: compare everything next time
      throw e;
    }
  }

  #saveDelta(base: Pointer, frame: number): void {
    const extent = this.#extent;
    const wholeRegion = this.#wholeRegion;
    this.#growExtent(base, "SnapshotRing.save");
    const full = this.#count === this.#capacity;
    if (this.#count - (full ? 1 : 0) === 0) {
      if (full) this.#dropOldest();
      this.#changes!.collect(this.#extent); // the shadow is the moment to compare with from now on
      copyPages(this.#shadow, base, this.#identity, this.#identity, this.#extent, "SnapshotRing.save");
    } else {
      const n = this.#changedPages(base, "SnapshotRing.save");
      // Room for n undo pages, with the oldest frame dropped only when the ring is full.
      const need = this.#logUsed - (full ? this.#undoCount[this.#first]! : 0) + n;
      try {
        if (need > this.#logLimit)
          throw new HeapError(
            "ENOMEM",
            "SnapshotRing.save",
            `frame ${frame} changes ${n} pages; the ${this.#count} frames held (${this.#describe()}) and it need ` +
              `${need * PAGE} bytes of undo log, more than logBytes (${this.#logLimit * PAGE}); the ring keeps its capacity of ` +
              `${this.#capacity} frames rather than drop one: raise logBytes, or clear() the ring`,
          );
        this.#growLog(Math.max(need, 1));
      } catch (e) {
        // Nothing changed but the extent, whose new shadow pages are still zero: take it back.
        this.#extent = extent;
        this.#wholeRegion = wholeRegion;
        this.#changes!.forget(); // the pages found stay changed: compare everything next time
        throw e;
      }
      if (full) this.#dropOldest();
      // Old contents of the changed pages go to the log, new ones to the shadow.
      const slots = this.#slots;
      for (let i = 0; i < n; i++) {
        slots[i] = (this.#logHead + i) % this.#logPages;
        this.#logIndex[slots[i]!] = this.#diff[i]!;
      }
      copyPages(this.#log, this.#shadow, slots, this.#diff, n, "SnapshotRing.save");
      copyPages(this.#shadow, base, this.#diff, this.#diff, n, "SnapshotRing.save");
      this.#logHead = (this.#logHead + n) % this.#logPages;
      this.#logUsed += n;
      this.#undoCount[this.#slot(this.#count - 1)] = n;
    }
    const slot = this.#slot(this.#count);
    this.#frames[slot] = frame;
    this.#undoCount[slot] = 0;
    this.#count++;
  }

  /** Region pages that differ from the shadow get the shadow's bytes back. */
  #revertToShadow(base: Pointer): void {
    this.#growExtent(base, "SnapshotRing.load");
    const n = this.#changedPages(base, "SnapshotRing.load");
    putPages(base, this.#shadow, this.#diff, this.#diff, n, "SnapshotRing.load");
  }

  /**
   * Drop the newest frame: the shadow (and the region at `region`, if
   * given) goes back to the frame before it by applying that frame's undo log.
   */
  #dropNewest(op: string, region?: Pointer): void {
    if (this.#mode === "full" || this.#count === 1) {
      this.#count--;
      if (this.#count === 0) this.#logHead = this.#logUsed = 0;
      return;
    }
    const prev = this.#slot(this.#count - 2);
    const n = this.#undoCount[prev]!;
    // Its pages are the newest n of the log, ending at logHead.
    const first = (this.#logHead - n + this.#logPages) % this.#logPages;
    for (let k = 0; k < n; k++) {
      const slot = (first + k) % this.#logPages;
      this.#slots[k] = slot;
      this.#pages[k] = this.#logIndex[slot]!;
    }
    copyPages(this.#shadow, this.#log, this.#pages, this.#slots, n, op);
    if (region !== undefined) putPages(region, this.#log, this.#pages, this.#slots, n, op);
    this.#logHead = first;
    this.#logUsed -= n;
    this.#undoCount[prev] = 0;
    this.#count--;
  }

  /** Drop the oldest frame; its undo log is the oldest in the log. */
  #dropOldest(): void {
    if (this.#count === 0) return;
    if (this.#mode === "delta") this.#logUsed -= this.#undoCount[this.#first]!;
    this.#first = (this.#first + 1) % this.#capacity;
    this.#count--;
  }
}
