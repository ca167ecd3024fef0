/**
 * ring.ts - SnapshotRing: the last N frames of a heap, for rollback netcode
 * (save every tick; when a late input arrives, load an earlier frame and
 * simulate forward again).
 *
 * Two storage modes, both preallocated when the ring is made (buffers are
 * lazily backed by the OS, so untouched capacity costs address space only),
 * with no allocation and no garbage per save or load:
 *
 * - "delta" (default): a shadow copy of the newest saved frame plus, for
 *   every older frame, the pages that differ from the frame after it, with
 *   their old contents (an undo log). Memory follows what changes per frame.
 *   save = find the pages that differ from the shadow (one memcmp pass,
 *   ph_pages_diff), move their old contents into the undo log, update the
 *   shadow; load = put the shadow's contents back where the heap differs
 *   (the same pass), then apply undo logs newest first.
 * - "full": every frame is a full copy of the used prefix, restored with
 *   ph_heap_restore. Memory is capacity x the heap.
 *
 * Why a memcmp pass, not dirty-page tracking: measured on this project's
 * Linux machines (kernel without CONFIG_MEM_SOFT_DIRTY), soft-dirty bits are
 * never set; write-protecting pages and catching the faults costs about 4 us
 * per first write to a page and crashes Bun when the fault comes from inside
 * an FFI call. A hashing pass would read half the bytes, but a collision
 * would silently roll back to a wrong state. The memcmp pass is exact and
 * runs at memory speed. See README ("Rollback ring") for the figures.
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
import type { PrivateHeap } from "../heap.ts";
import { copyPages, diffPages, putPages, sequence } from "./pages.ts";
import { restoreImage } from "./snapshot.ts";

const PAGE = 4096;
const TRUSTED = NATIVE_CONSTANTS.PH_SNAPSHOT_TRUSTED;
// ph_heap_stats output, read for the touched mark without making an object.

/** Options of {@link SnapshotRing}. */
export interface SnapshotRingOptions {
  /** Frames kept (at least 1); the oldest is dropped when a save needs room. */
  capacity: number;
  /** "delta" (default): undo logs of changed pages; "full": a full copy per frame. */
  mode?: "delta" | "full";
  /**
   * Delta mode: bytes for undo logs (default: the heap's size). When a save
   * needs more, the oldest frames are dropped; a save whose own changes
   * exceed it keeps only the new frame.
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
 * const ring = new SnapshotRing(heap, { capacity: 8 });
 * const hp = heap.malloc(4);
 * for (let frame = 1; frame <= 10; frame++) {
 *   heap.u32[hp >>> 2] = frame * 10; // simulate
 *   ring.save(frame);
 * }
 * ring.load(5); // rewind: frames 6..10 are dropped
 * console.log(heap.u32[hp >>> 2], ring.oldest, ring.newest); // 50 3 5
 * ```
 */
export class SnapshotRing {
  readonly #heap: PrivateHeap;
  readonly #mode: "delta" | "full";
  readonly #capacity: number;
  // Frames, oldest first, in a circular array of capacity slots.
  readonly #frames: Float64Array;
  readonly #used: Float64Array; // full mode: used bytes of each slot's copy
  #first = 0; // slot of the oldest frame
  #count = 0;
  // Full mode: one copy per slot.
  readonly #copies: Uint8Array[] = [];
  // Delta mode.
  #shadow: Uint8Array = new Uint8Array(0);
  #extent = 0; // pages the shadow covers
  #wholeRegion = true; // every frame so far had its touched mark at the top (see the invariant)
  #diff: Uint32Array = new Uint32Array(0); // scratch for ph_pages_diff
  #slots: Uint32Array = new Uint32Array(0); // scratch: undo-log slots of one frame
  #pages: Uint32Array = new Uint32Array(0); // scratch: their page indices
  readonly #identity: Uint32Array; // page i is i: the list for copying a whole prefix
  #log: Uint8Array = new Uint8Array(0); // undo pages, a circular buffer of logPages pages
  #logIndex: Uint32Array = new Uint32Array(0); // page index of each undo page
  #logPages = 0;
  #logHead = 0; // next free undo page (mod logPages)
  #logUsed = 0; // undo pages held, ending at logHead
  readonly #undoCount: Uint32Array; // per slot: undo pages (from this frame to the next)

  constructor(heap: PrivateHeap, options: SnapshotRingOptions) {
    const capacity = options?.capacity;
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new HeapError("EINVAL", "SnapshotRing", `capacity must be a positive integer, got ${String(capacity)}`);
    const mode = options.mode ?? "delta";
    if (mode !== "delta" && mode !== "full") throw new HeapError("EINVAL", "SnapshotRing", `mode must be "delta" or "full", got ${String(mode)}`);
    if (heap.closed) throw new HeapError("ECLOSED", "SnapshotRing");
    this.#heap = heap;
    this.#mode = mode;
    this.#capacity = capacity;
    this.#frames = new Float64Array(capacity);
    this.#used = new Float64Array(capacity);
    this.#undoCount = new Uint32Array(capacity);
    const pages = heap.size / PAGE;
    this.#identity = sequence(pages);
    if (mode === "full") {
      for (let i = 0; i < capacity; i++) this.#copies.push(new Uint8Array(heap.size));
    } else {
      const logBytes = options.logBytes ?? heap.size;
      if (!Number.isSafeInteger(logBytes) || logBytes < PAGE)
        throw new HeapError("EINVAL", "SnapshotRing", `logBytes must be an integer of at least ${PAGE}, got ${String(logBytes)}`);
      this.#logPages = Math.floor(logBytes / PAGE);
      this.#shadow = new Uint8Array(heap.size);
      this.#diff = new Uint32Array(pages);
      this.#log = new Uint8Array(this.#logPages * PAGE);
      this.#logIndex = new Uint32Array(this.#logPages);
      this.#slots = new Uint32Array(this.#logPages);
      this.#pages = new Uint32Array(this.#logPages);
    }
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
    return this.#find(frame) >= 0;
  }

  /** Bytes of frame data held: undo pages (delta) or copies in use (full), plus the shadow. */
  get storedBytes(): number {
    if (this.#mode === "delta") return (this.#logUsed + (this.#count > 0 ? this.#extent : 0)) * PAGE;
    let n = 0;
    for (let i = 0; i < this.#count; i++) n += this.#used[this.#slot(i)]!;
    return n;
  }

  /**
   * Save the heap's state as `frame` (a safe integer). Frames must grow; a
   * frame at or below the newest first drops the frames from it on (they
   * belong to a timeline being replaced, as after a rollback). When the ring
   * is full the oldest frame is dropped.
   */
  save(frame: number): void {
    if (!Number.isSafeInteger(frame)) throw new HeapError("EINVAL", "save", `frame must be a safe integer, got ${String(frame)}`);
    const base = this.#base("save"); // ECLOSED before any lock
    if (this.#heap.locked) this.#heap.withLock(() => this.#save(base, frame));
    else this.#save(base, frame);
  }

  /**
   * Put the heap back in the state saved as `frame`, and drop the newer
   * frames (a rollback then simulates forward and saves them again). Throws
   * `EINVAL` when the frame is not held; the heap is unchanged then.
   */
  load(frame: number): void {
    const base = this.#base("load");
    if (this.#heap.locked) this.#heap.withLock(() => this.#load(base, frame));
    else this.#load(base, frame);
  }

  /** Drop every frame. */
  clear(): void {
    this.#count = 0;
    this.#first = 0;
    this.#logHead = this.#logUsed = 0;
  }

  // ---- internals ----------------------------------------------------------

  // save and load run under a locked heap's lock: the heap then changes
  // only here, and pages written back leave its lock block alone.

  #save(base: Pointer, frame: number): void {
    while (this.#count > 0 && this.newest! >= frame) this.#dropNewest();
    if (this.#count === this.#capacity) this.#dropOldest();
    if (this.#mode === "full") this.#saveFull(base, frame);
    else this.#saveDelta(base, frame);
  }

  #load(base: Pointer, frame: number): void {
    const at = this.#find(frame);
    if (at < 0) throw new HeapError("EINVAL", "load", `frame ${String(frame)} is not in the ring (${this.#describe()})`);
    if (this.#mode === "full") {
      const slot = this.#slot(at);
      restoreImage(base, this.#heap.size, this.#copies[slot]!, this.#used[slot]!, TRUSTED, "load", `frame ${frame}`);
      while (this.#count > at + 1) this.#count--;
      return;
    }
    this.#revertToShadow(base);
    while (this.#count > at + 1) this.#dropNewest(base);
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
    if (this.#heap.closed) throw new HeapError("ECLOSED", op);
    return this.#heap.address as Pointer;
  }

  #saveFull(base: Pointer, frame: number): void {
    const slot = this.#slot(this.#count);
    const used = this.#heap.usedBytes;
    copyPages(this.#copies[slot]!, base, this.#identity, this.#identity, used / PAGE, "ring");
    this.#used[slot] = used;
    this.#frames[slot] = frame;
    this.#count++;
  }

  /** Pages to compare: the shadow's, grown to the heap's touched mark (or used prefix, see the invariant). */
  #growExtent(base: Pointer): void {
    const pages = this.#heap.size / PAGE;
    const touched = Math.ceil(readStat(base, "touchedBytes", "ring") / PAGE);
    if (touched < pages) this.#wholeRegion = false;
    const need = this.#wholeRegion ? Math.ceil(readStat(base, "usedBytes", "ring") / PAGE) : touched;
    if (need > this.#extent) this.#extent = Math.min(need, pages);
  }

  /** Pages where the region differs from the shadow, into #diff; returns the count. */
  #changedPages(base: Pointer): number {
    return diffPages(base, this.#shadow, this.#extent, this.#diff, this.#diff.length, "ring");
  }

  #saveDelta(base: Pointer, frame: number): void {
    this.#growExtent(base);
    if (this.#count === 0) {
      copyPages(this.#shadow, base, this.#identity, this.#identity, this.#extent, "ring");
    } else {
      const n = this.#changedPages(base);
      // Room for n undo pages: drop the oldest frames' logs first.
      while (this.#logUsed + n > this.#logPages && this.#count > 1) this.#dropOldest();
      if (n > this.#logPages) {
        // The change is larger than the whole log: keep only the new frame.
        this.#count = 0;
        this.#logHead = this.#logUsed = 0;
        copyPages(this.#shadow, base, this.#identity, this.#identity, this.#extent, "ring");
      } else {
        // Old contents of the changed pages go to the log, new ones to the shadow.
        const slots = this.#slots;
        for (let i = 0; i < n; i++) {
          slots[i] = (this.#logHead + i) % this.#logPages;
          this.#logIndex[slots[i]!] = this.#diff[i]!;
        }
        copyPages(this.#log, this.#shadow, slots, this.#diff, n, "ring");
        copyPages(this.#shadow, base, this.#diff, this.#diff, n, "ring");
        this.#logHead = (this.#logHead + n) % this.#logPages;
        this.#logUsed += n;
        this.#undoCount[this.#slot(this.#count - 1)] = n;
      }
    }
    const slot = this.#slot(this.#count);
    this.#frames[slot] = frame;
    this.#undoCount[slot] = 0;
    this.#count++;
  }

  /** Region pages that differ from the shadow get the shadow's bytes back. */
  #revertToShadow(base: Pointer): void {
    this.#growExtent(base);
    const n = this.#changedPages(base);
    putPages(base, this.#shadow, this.#diff, this.#diff, n, "ring");
  }

  /**
   * Drop the newest frame: the shadow (and the region at `region`, if
   * given) goes back to the frame before it by applying that frame's undo log.
   */
  #dropNewest(region?: Pointer): void {
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
    copyPages(this.#shadow, this.#log, this.#pages, this.#slots, n, "ring");
    if (region !== undefined) putPages(region, this.#log, this.#pages, this.#slots, n, "ring");
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
