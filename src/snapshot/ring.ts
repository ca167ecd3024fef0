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
 *   Pages live in slots of one pool: the shadow maps each page to a slot
 *   (zero pages share slot 0, which stays zero), an undo entry is a page
 *   and the slot of its old contents. So save = find the pages that differ
 *   from the shadow, copy each into a new slot and hand its old slot to the
 *   undo log (one copy per changed page); load = put the shadow's slots
 *   back where the heap differs, then apply undo logs newest first (one
 *   copy per page, the slots move back to the shadow). The pages that
 *   differ are the ones the heap's tracker reports
 *   written since the ring last looked, kept where their bytes differ
 *   (ph_pages_diff_list), so both cost what changed; with "compare"
 *   tracking (heap.tracking) they come from one memcmp pass over the
 *   shadow's pages (ph_pages_diff). The result is the same.
 * - "full": every frame is a full copy of the used prefix, restored with
 *   ph_heap_restore. Memory is capacity x the largest used prefix.
 *
 * On a WebAssembly heap the same steps run over the heap's view of the
 * module's memory with JavaScript's page engine (pages.ts): a page copy
 * is a TypedArray.set, a compare a word loop, and no frame or pool
 * enters the module's memory. Its heaps track by "compare", so a delta
 * save compares the shadow's pages (stopping at each page's first
 * differing word) and copies only the changed ones.
 *
 * Why not hashes: a hashing pass would read half the bytes a memcmp pass
 * reads, but a collision would silently roll back to a wrong state.
 *
 * Invariant (delta mode): the shadow's slots hold the bytes of the region's
 * pages [0, extent) as they were at the newest saved frame; every slot but
 * 0 belongs to the shadow, to one undo entry, or to the free list. A page at or above
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
import type { NativeSymbols } from "../ffi/symbols.ts";
import { readStat } from "../introspect.ts";
import { backendOf, changesOf, PrivateHeap, symbolsOf, underHeapLock } from "../heap.ts";
import { type ChangeSet, UNKNOWN } from "../tracking.ts";
import { JS_PAGES, nativePages, type PageOps, type PageSource, sequence } from "./pages.ts";
import { checkHeapHeader, restoreImage } from "./snapshot.ts";

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;
/** The pages the heap header spans (the lock block ends it): a load writes them last. */
const HEADER_PAGES = Math.ceil(NATIVE_CONSTANTS.PH_LOCK_BLOCK_END / PAGE);
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
  /** The functions of the heap's core (its address is one of that core's). */
  readonly #S: NativeSymbols;
  /** The page engine for the heap's region: the native library's, or JavaScript's for a WebAssembly heap (#region gives its view). */
  readonly #ops: PageOps;
  readonly #native: boolean;
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
  #pool: Uint8Array = new Uint8Array(0); // page slots; slot 0 is a zero page, never written
  #free: Uint32Array = new Uint32Array(0); // free slots, a stack of #freeCount
  #freeCount = 0;
  #shadow: Uint32Array = new Uint32Array(0); // page -> slot of the newest frame's bytes, for pages < #extent
  #extent = 0; // pages the shadow covers
  #wholeRegion = true; // every frame so far had its touched mark at the top (see the invariant)
  #diff: Uint32Array = new Uint32Array(0); // scratch: changed pages (at least #extent entries)
  #pairs: Uint32Array = new Uint32Array(0); // scratch: slots paired with pages (at least #extent entries)
  #identity: Uint32Array = new Uint32Array(0); // page i is i: the list for copying a whole prefix
  #skip: Uint8Array = new Uint8Array(0); // scratch of a load: 1 for the pages its undo entries write (all 0 between loads)
  readonly #headerSlots = new Int32Array(HEADER_PAGES); // scratch of a load: the slot each header page gets last, or -1
  readonly #headerList = new Uint32Array(HEADER_PAGES); // and the header pages to write, descending,
  readonly #headerFrom = new Uint32Array(HEADER_PAGES); // with their slots
  #logPage: Uint32Array = new Uint32Array(0); // undo entries, a circular buffer of logPages: the page
  #logSlot: Uint32Array = new Uint32Array(0); // and the slot of its old contents
  #logPages = 0;
  readonly #logLimit: number; // the most pages the log may grow to
  #logHead = 0; // next free undo entry (mod logPages)
  #logUsed = 0; // undo entries held, ending at logHead
  readonly #undoCount: Uint32Array; // per slot: undo pages (from this frame to the next)
  #changes: ChangeSet | null = null; // delta mode: pages written since the ring last looked
  #frameSlots: Uint32Array = new Uint32Array(0); // scratch of a get: page -> slot of the frame read (at least #extent entries)
  #image: Uint8Array = new Uint8Array(0); // scratch of a get: the frame's used prefix, laid out whole

  private constructor(heap: PrivateHeap, mode: "delta" | "full", capacity: number, logBytes: number) {
    this.#heap = heap;
    this.#S = symbolsOf(heap);
    this.#native = backendOf(heap).kind === "native";
    this.#ops = this.#native ? nativePages(this.#S) : JS_PAGES;
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

  /**
   * Bytes of frame data held now: the pages the shadow and the undo log
   * hold (delta: zero pages share one page and cost nothing), or the
   * copies in use (full).
   */
  get storedBytes(): number {
    if (this.#mode === "delta") return this.#count === 0 || this.#pool.length === 0 ? 0 : (this.#pool.length / PAGE - 1 - this.#freeCount) * PAGE;
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
    let n = this.#pool.byteLength + this.#free.byteLength + this.#shadow.byteLength + this.#diff.byteLength + this.#pairs.byteLength;
    n += this.#identity.byteLength + this.#skip.byteLength + this.#logPage.byteLength + this.#logSlot.byteLength;
    n += this.#frameSlots.byteLength + this.#image.byteLength;
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
    underHeapLock(this.#heap, "SnapshotRing.save", () => {
      // A header a stray write damaged is reported here, not when the frame is loaded.
      checkHeapHeader(this.#heap.u8, this.#heap.usedBytes, "SnapshotRing.save");
      this.#save(base, frame);
    });
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

  /**
   * Put heap `into` in the state saved as `frame`, leaving the ring and
   * its own heap as they are: every frame stays held, and no byte of the
   * ring's heap is read or written. `into` must be another heap of the
   * same region size; what it held is replaced, as by `into.restore()`.
   * For reading a confirmed frame (to record or compare it) while newer,
   * predicted frames stay in the ring.
   *
   * Errors (the ring and both heaps unchanged): `EINVAL` when the frame is
   * not held or `into` is not another PrivateHeap, `ESIZE` when `into`'s
   * size differs, `ECLOSED` when the ring or `into` is closed. Costs one
   * copy of the frame's used prefix into scratch memory that the ring
   * keeps (`reservedBytes`) and one into `into`.
   *
   * @example
   * ```ts
   * import { PrivateHeap, SnapshotRing } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * using other = PrivateHeap.create({ size: 1 << 20 });
   * using ring = SnapshotRing.create(heap, { capacity: 8 });
   * const hp = heap.malloc(4);
   * for (let frame = 1; frame <= 5; frame++) {
   *   heap.u32[hp >>> 2] = frame * 10;
   *   ring.save(frame);
   * }
   * ring.get(2, other);
   * console.log(other.u32[hp >>> 2], heap.u32[hp >>> 2], ring.newest); // 20 50 5
   * ```
   */
  get(frame: number, into: PrivateHeap): void {
    const op = "SnapshotRing.get";
    if (this.#closed) throw new HeapError("ECLOSED", op, "the ring was closed");
    if (!(into instanceof PrivateHeap)) throw new HeapError("EINVAL", op, "into must be a PrivateHeap");
    if (into === this.#heap) throw new HeapError("EINVAL", op, "into is the ring's own heap: load() puts a frame back there");
    if (into.closed) throw new HeapError("ECLOSED", op, "the heap to read into was closed");
    if (into.size !== this.#heap.size) throw new HeapError("ESIZE", op, `the heap to read into has ${into.size} bytes; the ring's frames are of a ${this.#heap.size}-byte heap`);
    const at = this.#find(frame);
    if (at < 0) throw new HeapError("EINVAL", op, `frame ${String(frame)} is not in the ring (${this.#describe()})`);
    // Also into a heap a holder's death left broken: this replaces it.
    underHeapLock(into, op, () => this.#get(at, into, frame), true);
  }

  /** Drop every frame (the ring keeps its memory, `reservedBytes`, for the next ones). */
  clear(): void {
    if (this.#closed) throw new HeapError("ECLOSED", "SnapshotRing.clear", "the ring was closed");
    if (this.#mode === "delta") this.#freeUndo(this.#logUsed);
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
    this.#pool = this.#skip = this.#image = new Uint8Array(0);
    this.#freeCount = 0;
    this.#free = this.#shadow = this.#diff = this.#pairs = this.#identity = this.#logPage = this.#logSlot = this.#frameSlots = none;
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
      restoreImage(base, this.#heap.size, this.#copies[slot]!, this.#used[slot]!, TRUSTED, "SnapshotRing.load", `frame ${frame}`, backendOf(this.#heap));
      while (this.#count > at + 1) this.#count--;
      return;
    }
    let undone = 0; // undo entries the load applies: those of the frames after `at`
    for (let i = at; i < this.#count - 1; i++) undone += this.#undoCount[this.#slot(i)]!;
    // The header's pages are written last, page 0 last of all: a writer
    // killed in the middle of a load (a shared heap file) leaves the old
    // header, which attaches, over a body that the lock's check refuses
    // until a restore, rather than a header torn between two frames.
    this.#headerSlots.fill(-1);
    this.#revertToShadow(base, undone);
    while (this.#count > at + 1) this.#dropNewest("SnapshotRing.load", true);
    let k = 0;
    for (let p = HEADER_PAGES - 1; p >= 0; p--) {
      if (this.#headerSlots[p]! < 0) continue;
      this.#headerList[k] = p;
      this.#headerFrom[k++] = this.#headerSlots[p]!;
    }
    this.#ops.put(this.#region(), this.#pool, this.#headerList, this.#headerFrom, k, "SnapshotRing.load"); // in list order: page 0 last
    // The region equals the shadow now: what the undo logs wrote is no change.
    this.#changes!.collect(this.#extent);
  }

  #get(at: number, into: PrivateHeap, frame: number): void {
    const op = "SnapshotRing.get";
    const what = `frame ${frame}`;
    const target = into.address as Pointer;
    const core = backendOf(into);
    if (this.#mode === "full") {
      const slot = this.#slot(at);
      restoreImage(target, into.size, this.#copies[slot]!, this.#used[slot]!, TRUSTED, op, what, core);
      return;
    }
    // The frame's page -> slot map: the shadow's (the newest frame), with
    // the undo entries of the frames from `at` on laid over it newest
    // first, so that each page ends with its bytes at frame `at`.
    const extent = this.#extent;
    const slots = (this.#frameSlots = this.#grown(this.#frameSlots, extent, this.#heap.size / PAGE, (n) => new Uint32Array(n), op));
    slots.set(this.#shadow.subarray(0, extent));
    let undone = 0;
    for (let i = at; i < this.#count - 1; i++) undone += this.#undoCount[this.#slot(i)]!;
    const first = (this.#logHead - undone + this.#logPages) % Math.max(1, this.#logPages);
    for (let k = undone - 1; k >= 0; k--) {
      const e = (first + k) % this.#logPages;
      slots[this.#logPage[e]!] = this.#logSlot[e]!;
    }
    // The header's pages first: they say how long the used prefix is.
    const image = (this.#image = this.#grown(this.#image, extent * PAGE, this.#heap.size, (n) => new Uint8Array(n), op));
    const header = Math.min(HEADER_PAGES, extent);
    this.#ops.copy(image, this.#pool, this.#identity, slots, header, op);
    const used = readStat(image, "usedBytes", op);
    // Every frame's used prefix lies within the extent (it covers every frame's touched mark).
    if (used % PAGE !== 0 || used / PAGE > extent) throw new HeapError("ECORRUPT", op, `${what}: its header declares ${used} used bytes; the ring holds ${extent * PAGE}`);
    this.#ops.copy(image, this.#pool, this.#identity.subarray(header), slots.subarray(header), Math.max(0, used / PAGE - header), op);
    restoreImage(target, into.size, image, used, TRUSTED, op, what, core);
  }

  /**
   * The region as the page engine takes it: the native heap's address, or
   * the WebAssembly heap's view, read at each use (a view is detached when
   * the module's memory grows, and the heap then has a new one).
   */
  #region(): PageSource {
    return this.#native ? (this.#heap.address as Pointer) : this.#heap.u8;
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
    this.#ops.copy(this.#copies[slot]!, this.#region(), this.#identity, this.#identity, used / PAGE, "SnapshotRing.save");
    this.#used[slot] = used;
    this.#frames[slot] = frame;
    this.#count++;
  }

  /**
   * Pages to compare: the shadow's, grown to the heap's touched mark (or
   * used prefix, see the invariant), with the page lists grown to match.
   * New shadow pages map to slot 0 (zero), so a failed save can take a
   * grown extent back.
   */
  #growExtent(base: Pointer, op: string): void {
    const pages = this.#heap.size / PAGE;
    const touched = Math.ceil(readStat(base, "touchedBytes", op, this.#S) / PAGE);
    const whole = this.#wholeRegion && touched >= pages;
    const need = Math.min(whole ? Math.ceil(readStat(base, "usedBytes", op, this.#S) / PAGE) : touched, pages);
    if (need > this.#extent) {
      const shadow = this.#grown(this.#shadow, need, pages, (n) => new Uint32Array(n), op);
      const diff = this.#grown(this.#diff, need, pages, (n) => new Uint32Array(n), op);
      const pairs = this.#grown(this.#pairs, need, pages, (n) => new Uint32Array(n), op);
      this.#growIdentity(need);
      shadow.fill(0, this.#extent, need);
      if (this.#pool.length === 0) this.#growPool(1, op); // slot 0, the zero page the new pages map to, exists before any compare
      this.#shadow = shadow;
      this.#diff = diff;
      this.#pairs = pairs;
      this.#extent = need;
    }
    this.#wholeRegion = whole;
  }

  /**
   * At least `need` free slots, the pool grown (by half, moved whole)
   * when short; ENOMEM, with nothing changed, when the memory is refused.
   */
  #growPool(need: number, op: string): void {
    if (this.#freeCount >= need) return;
    const old = this.#pool.length / PAGE;
    const most = 1 + this.#heap.size / PAGE + this.#logLimit; // the zero page, a shadow of every page, a full log
    const least = Math.max(old, 1) + need - this.#freeCount; // slot 0 is never free
    const slots = Math.max(least, Math.min(most, Math.max(Math.ceil(1.5 * old), 16)));
    let pool: Uint8Array, free: Uint32Array;
    try {
      pool = new Uint8Array(slots * PAGE);
      free = new Uint32Array(slots);
    } catch (e) {
      throw new HeapError("ENOMEM", op, `the ring could not grow its page pool to ${slots * PAGE} bytes: ${String(e)}`, { cause: e });
    }
    pool.set(this.#pool);
    free.set(this.#free.subarray(0, this.#freeCount));
    let n = this.#freeCount;
    for (let s = slots - 1; s >= Math.max(old, 1); s--) free[n++] = s; // slot 0 is the zero page
    this.#pool = pool;
    this.#free = free;
    this.#freeCount = n;
  }

  /** Give the slots of the oldest `n` undo entries back to the free list. */
  #freeUndo(n: number): void {
    const first = (this.#logHead - this.#logUsed + this.#logPages) % Math.max(1, this.#logPages);
    for (let k = 0; k < n; k++) this.#release(this.#logSlot[(first + k) % this.#logPages]!);
  }

  #release(slot: number): void {
    if (slot !== 0) this.#free[this.#freeCount++] = slot;
  }

  /** The undo log holds `need` entries (in order, from 0 when it moves), or ENOMEM. */
  #growLog(need: number): void {
    if (need <= this.#logPages) return;
    const entries = Math.min(this.#logLimit, Math.max(need, 2 * this.#logPages, 16));
    let page: Uint32Array, slot: Uint32Array;
    try {
      page = new Uint32Array(entries);
      slot = new Uint32Array(entries);
    } catch (e) {
      throw new HeapError("ENOMEM", "SnapshotRing.save", `the ring could not grow its undo log to ${entries} entries: ${String(e)}`, { cause: e });
    }
    if (this.#logUsed > 0) {
      // The held entries, oldest first, end at logHead: lay them out from 0.
      const first = (this.#logHead - this.#logUsed + this.#logPages) % this.#logPages;
      const wrap = Math.min(this.#logUsed, this.#logPages - first);
      page.set(this.#logPage.subarray(first, first + wrap), 0);
      page.set(this.#logPage.subarray(0, this.#logUsed - wrap), wrap);
      slot.set(this.#logSlot.subarray(first, first + wrap), 0);
      slot.set(this.#logSlot.subarray(0, this.#logUsed - wrap), wrap);
    }
    this.#logPage = page;
    this.#logSlot = slot;
    this.#logPages = entries;
    this.#logHead = this.#logUsed % entries;
  }

  /**
   * Pages where the region differs from the shadow, into #diff; returns
   * the count. Exact either way: the tracker's written pages are compared.
   * Pages marked in `skip` are left out (a load overwrites them anyway).
   */
  #changedPages(base: Pointer, op: string, skip: Uint8Array | null = null): number {
    const changes = this.#changes!;
    const n = changes.collect(this.#extent);
    try {
      const all = n === UNKNOWN;
      if (all && skip === null) return this.#ops.diffPairs(this.#region(), this.#pool, this.#identity, this.#shadow, this.#extent, this.#diff, op);
      const listed = all ? this.#identity : changes.pages;
      const pages = this.#diff;
      const pairs = this.#pairs;
      let k = 0;
      for (let i = 0, end = all ? this.#extent : n; i < end; i++) {
        const p = listed[i]!;
        if (skip !== null && skip[p] !== 0) continue;
        pages[k] = p;
        pairs[k++] = this.#shadow[p]!;
      }
      return this.#ops.diffPairs(this.#region(), this.#pool, pages, pairs, k, pages, op);
    } catch (e) {
      changes.forget(); // what it reported was not used: compare everything next time
      throw e;
    }
  }

  #saveDelta(base: Pointer, frame: number): void {
    const op = "SnapshotRing.save";
    const extent = this.#extent;
    const wholeRegion = this.#wholeRegion;
    this.#growExtent(base, op);
    const full = this.#count === this.#capacity;
    // The first frame kept (nothing older to undo to) logs nothing.
    const logging = this.#count - (full ? 1 : 0) > 0;
    const n = this.#changedPages(base, op);
    const diff = this.#diff;
    // Room for n undo entries, with the oldest frame dropped only when the ring is full.
    const dropped = full ? this.#undoCount[this.#first]! : 0;
    const need = logging ? this.#logUsed - dropped + n : 0;
    try {
      if (need > this.#logLimit)
        throw new HeapError(
          "ENOMEM",
          op,
          `frame ${frame} changes ${n} pages; the ${this.#count} frames held (${this.#describe()}) and it need ` +
            `${need * PAGE} bytes of undo log, more than logBytes (${this.#logLimit * PAGE}); the ring keeps its capacity of ` +
            `${this.#capacity} frames rather than drop one: raise logBytes, or clear() the ring`,
        );
      if (logging) this.#growLog(Math.max(need, 1));
      this.#growPool(n, op); // before any slot is freed: a failure changes nothing
    } catch (e) {
      // Nothing changed but the extent, whose new shadow pages still map to the zero slot: take it back.
      this.#extent = extent;
      this.#wholeRegion = wholeRegion;
      this.#changes!.forget(); // the pages found stay changed: compare everything next time
      throw e;
    }
    if (full) this.#dropOldest();
    // Each changed page gets a new slot with its bytes; the old slot goes to the undo log (or back to the free list).
    const slots = this.#pairs;
    for (let i = 0; i < n; i++) slots[i] = this.#free[--this.#freeCount]!;
    this.#ops.copy(this.#pool, this.#region(), slots, diff, n, op);
    for (let i = 0; i < n; i++) {
      const p = diff[i]!;
      const old = this.#shadow[p]!;
      this.#shadow[p] = slots[i]!;
      if (!logging) {
        this.#release(old);
        continue;
      }
      const at = (this.#logHead + i) % this.#logPages;
      this.#logPage[at] = p;
      this.#logSlot[at] = old;
    }
    if (logging) {
      this.#logHead = (this.#logHead + n) % this.#logPages;
      this.#logUsed += n;
      this.#undoCount[this.#slot(this.#count - 1)] = n;
    }
    const slot = this.#slot(this.#count);
    this.#frames[slot] = frame;
    this.#undoCount[slot] = 0;
    this.#count++;
  }

  /**
   * Region pages that differ from the shadow get the shadow's bytes back,
   * except the pages of the newest `undone` undo entries, which the load
   * writes anyway (so a load after a frame that changed every page costs
   * one copy per page, not a comparison too).
   */
  #revertToShadow(base: Pointer, undone: number): void {
    const op = "SnapshotRing.load";
    this.#growExtent(base, op);
    let skip: Uint8Array | null = null;
    if (undone > 0) {
      if (this.#skip.length < this.#extent) this.#skip = this.#grown(this.#skip, this.#extent, this.#heap.size / PAGE, (k) => new Uint8Array(k), op);
      skip = this.#skip;
      const first = (this.#logHead - undone + this.#logPages) % this.#logPages;
      for (let k = 0; k < undone; k++) skip[this.#logPage[(first + k) % this.#logPages]!] = 1;
    }
    try {
      const n = this.#changedPages(base, op, skip);
      const pairs = this.#pairs;
      for (let i = 0; i < n; i++) pairs[i] = this.#shadow[this.#diff[i]!]!;
      this.#putBody(this.#diff, pairs, n, op);
    } finally {
      if (skip !== null) skip.fill(0, 0, this.#extent);
    }
  }

  /**
   * Drop the newest frame: the shadow (and the heap's region, with
   * `toRegion`) goes back to the frame before it by applying that frame's undo
   * log; the slots it replaces are free again.
   */
  #dropNewest(op: string, toRegion = false): void {
    if (this.#mode === "full" || this.#count === 1) {
      this.#count--;
      if (this.#count === 0) {
        if (this.#mode === "delta") this.#freeUndo(this.#logUsed);
        this.#logHead = this.#logUsed = 0;
      }
      return;
    }
    const prev = this.#slot(this.#count - 2);
    const n = this.#undoCount[prev]!;
    // Its entries are the newest n of the log, ending at logHead.
    const first = (this.#logHead - n + this.#logPages) % this.#logPages;
    const pages = this.#diff;
    const slots = this.#pairs;
    for (let k = 0; k < n; k++) {
      const at = (first + k) % this.#logPages;
      const p = this.#logPage[at]!;
      pages[k] = p;
      slots[k] = this.#logSlot[at]!;
      this.#release(this.#shadow[p]!);
      this.#shadow[p] = slots[k]!;
    }
    if (toRegion) this.#putBody(pages, slots, n, op);
    this.#logHead = first;
    this.#logUsed -= n;
    this.#undoCount[prev] = 0;
    this.#count--;
  }

  /**
   * Pool slots[k] to region page pages[k], for k < n, except header pages,
   * whose slots are noted for the end of the load (the last noted wins).
   * Compacts the two lists in place.
   */
  #putBody(pages: Uint32Array, slots: Uint32Array, n: number, op: string): void {
    let kept = 0;
    for (let k = 0; k < n; k++) {
      const p = pages[k]!;
      if (p < HEADER_PAGES) this.#headerSlots[p] = slots[k]!;
      else {
        pages[kept] = p;
        slots[kept++] = slots[k]!;
      }
    }
    this.#ops.put(this.#region(), this.#pool, pages, slots, kept, op);
  }

  /** Drop the oldest frame; its undo log is the oldest in the log. */
  #dropOldest(): void {
    if (this.#count === 0) return;
    if (this.#mode === "delta") {
      const n = this.#undoCount[this.#first]!;
      this.#freeUndo(n);
      this.#logUsed -= n;
    }
    this.#first = (this.#first + 1) % this.#capacity;
    this.#count--;
  }
}
