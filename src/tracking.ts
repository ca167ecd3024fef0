/**
 * tracking.ts - which pages of a heap changed since a consumer last
 * looked, from the system (ph_tracker_*) rather than a comparison of bytes,
 * so a ring save, a delta, a checksum or a replay tick costs what changed.
 *
 * One PageTracker per heap owns the system's tracker (only one may watch a
 * region). Each consumer (a ring, a recorder, the checksum, a snapshot used
 * as a base) holds a ChangeSet: every take the tracker makes, for whichever
 * consumer asks, is delivered to every live set, and a set hands its pages
 * to its consumer at `collect`. So consumers look at their own moments and
 * never lose each other's reports.
 *
 * Watching costs a fault (1-3 us) at the first write to each page after a
 * look; a full pass costs a fraction of that per page. So when a take
 * finds many pages written (a simulation that touches the
 * whole state every tick), the tracker stops watching for a while: its
 * takes keep the pages written (PH_TAKE_KEEP), writes cost nothing, and
 * consumers compare what is reported, as "compare" tracking would. It
 * watches again after a number of takes that doubles each time it finds
 * the writes still dense (up to MAX_KEEP), and stays once a few takes in a
 * row find them sparse.
 *
 * Invariant: an exact set holds every page below its last collect's limit
 * written since that collect (and maybe more: a page written with the same
 * bytes, or reported before a take first covered it). A set is exact from
 * its second collect while the system's tracker lives; otherwise `collect`
 * returns UNKNOWN and the consumer compares bytes (the "compare" tracking,
 * which is what a heap without a system tracker always uses).
 */
import type { Pointer } from "bun:ffi";
import { NATIVE_CONSTANTS, type NativeSymbols } from "./ffi/symbols.ts";
import { type PrivateHeap, symbolsOf } from "./heap.ts";

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;
const KEEP = NATIVE_CONSTANTS.PH_TAKE_KEEP;

/**
 * How a heap learns which pages changed: "userfaultfd" (Linux 6.7+: the
 * kernel's write protection, read by PAGEMAP_SCAN), "write-watch"
 * (Windows), or "compare" (pages are compared with the last copy: heap
 * files, other systems, or where the kernel refuses).
 */
export type Tracking = "userfaultfd" | "write-watch" | "compare";

/** What `collect` returns when the set cannot say: every page may have changed. */
export const UNKNOWN = -1;

/** Pages asked of the system per take call (a take past it goes on from there). */
const TAKE_BATCH = 4096;
/**
 * A take that finds at least this share of its range written finds the
 * writes dense: watching costs a fault of 1-3 us per page written, a full
 * pass (a compare or a hash) 0.15-0.4 us per page of the range, so past
 * about a fifth of the pages a pass is cheaper.
 */
const DENSE = 0.2;
/**
 * Ranges of at most this many pages (256 KiB) are never looked at: hashing
 * them takes about 13 us, comparing them twice that, less than one look
 * (5-30 us) and the faults of a few pages (the demo's 33-page state ran
 * 1.06-1.10x its step when watched, against 1.02x compared).
 */
export const SMALL_PAGES = 64;
/** Takes without watching after dense writes: the first time, and the most. */
const MIN_KEEP = 8;
const MAX_KEEP = 64;
/** Watching takes that must all find sparse writes before the tracker keeps watching. */
const PROBE_TAKES = 4;

/**
 * Native trackers of owners collected without stopping them: stopped then
 * (a heap's region is unmapped by its buffer's own deallocator). A tracker
 * that stops leaves this registry first, so nothing is stopped twice.
 */
const cleanup = new FinalizationRegistry<{ S: NativeSymbols; t: Pointer }>(({ S, t }) => S.ph_tracker_stop(t));

/** The system tracker of one heap and the change sets it feeds. */
export class PageTracker {
  #native: Pointer | null = null;
  /** The functions of the core the region belongs to (a system tracker's calls). */
  #S: NativeSymbols | null = null;
  #kind: Tracking = "compare";
  readonly #pages: number;
  /** Pages [0, covered) have been covered by a take: past it, the system's reports mean nothing yet. */
  #covered = 0;
  readonly #out = new Uint32Array(TAKE_BATCH);
  readonly #sets: WeakRef<ChangeSet>[] = [];
  /** Why the system refused, for `trackingReason`. */
  #reason = "";
  /** Takes left that keep pages written (dense writes); then one take protects every page again. */
  #keeping = 0;
  #keepNext = MIN_KEEP;
  /** Watching takes left before sparse writes are believed (a dense one then keeps twice as long). */
  #probing = 0;
  /** The next take protects the pages kept written. */
  #rearming = false;

  /**
   * A tracker over the region of `size` bytes at `base` (`owner`'s: the
   * system's tracker is stopped when the owner is collected, and its
   * core's functions are the ones called); `system` false: compare only.
   */
  constructor(owner: object, base: Pointer, size: number, system: boolean, why: string) {
    this.#pages = Math.floor(size / PAGE);
    if (!system) {
      this.#reason = why;
      return;
    }
    const S = symbolsOf(owner as PrivateHeap);
    const t = S.ph_tracker_start(base, size);
    if (t === null) {
      this.#reason = `the system refused a tracker (${S.ph_strerror(S.ph_last_error())}, system error ${S.ph_last_os_error()})`;
      return;
    }
    this.#native = t as Pointer;
    this.#S = S;
    cleanup.register(owner, { S, t: this.#native }, this);
    this.#kind = S.ph_tracker_kind(t) === NATIVE_CONSTANTS.PH_TRACK_WRITE_WATCH ? "write-watch" : "userfaultfd";
  }

  get kind(): Tracking {
    return this.#kind;
  }

  /** Why the tracking is "compare" ("" otherwise). */
  get reason(): string {
    return this.#reason;
  }

  /** A new change set; its first collect is UNKNOWN (it has no moment to compare with yet). */
  subscribe(): ChangeSet {
    const set = new ChangeSet(this, this.#pages);
    this.#sets.push(new WeakRef(set));
    return set;
  }

  /** Stop watching: every set is UNKNOWN from now on. Idempotent. */
  stop(why = "the heap was closed"): void {
    if (this.#native === null) return;
    cleanup.unregister(this);
    this.#S!.ph_tracker_stop(this.#native);
    this.#native = null;
    this.#kind = "compare";
    this.#reason = why;
  }

  /** Whether sets can be exact. */
  get live(): boolean {
    return this.#native !== null;
  }

  /** Drop a set: it gets no more reports. */
  unsubscribe(set: ChangeSet): void {
    const i = this.#sets.findIndex((r) => r.deref() === set);
    if (i >= 0) this.#sets.splice(i, 1);
  }

  /**
   * Ask the system for the pages of [0, limit) written since its last
   * report and give them to every set; pages above what a take covered
   * before are given whole (the system has said nothing about them yet).
   */
  take(limit: number): void {
    const t = this.#native;
    if (t === null) return;
    const to = Math.min(limit, this.#pages);
    if (to <= SMALL_PAGES) {
      // A full pass over so few pages costs less than a look and the faults: every set compares.
      for (const s of this.#liveSets()) s.forget();
      return;
    }
    const S = this.#S!;
    const out = this.#out;
    const covered = this.#covered;
    const sets = this.#liveSets();
    const keep = this.#keeping > 0;
    let written = 0;
    for (let from = 0; from < to; ) {
      const n = S.ph_tracker_take(t, from, to, out, out.length, keep ? KEEP : 0);
      if (n < 0) {
        this.stop(`the system stopped tracking (${S.ph_strerror(n)})`);
        return;
      }
      let below = 0; // reports of covered pages (ascending: a prefix of out)
      while (below < n && out[below]! < covered) below++;
      for (const s of sets) s.addList(out, below);
      written += below;
      if (n < out.length) break;
      from = out[n - 1]! + 1;
    }
    this.#adapt(keep, written, Math.min(covered, to));
    if (to > covered) {
      for (const s of sets) s.addRange(covered, to);
      this.#covered = to;
    }
  }

  /** The watching policy (see the module comment), after a take that found `written` of `range` pages written. */
  #adapt(kept: boolean, written: number, range: number): void {
    if (kept) {
      this.#keeping--;
      if (this.#keeping === 0) this.#rearming = true;
      return;
    }
    if (this.#rearming) {
      // This take protected every page kept written: its count says nothing.
      this.#rearming = false;
      this.#probing = PROBE_TAKES;
      return;
    }
    if (range > 0 && written >= DENSE * range) {
      this.#keepNext = this.#probing > 0 ? Math.min(MAX_KEEP, 2 * this.#keepNext) : MIN_KEEP;
      this.#keeping = this.#keepNext;
      this.#probing = 0;
    } else if (this.#probing > 0) {
      this.#probing--;
    }
  }

  /** Whether takes now keep pages written (the writes were dense): for tests and benchmarks. */
  get keeping(): boolean {
    return this.#keeping > 0;
  }

  #liveSets(): ChangeSet[] {
    const live: ChangeSet[] = [];
    for (let i = 0; i < this.#sets.length; ) {
      const s = this.#sets[i]!.deref();
      if (s === undefined) {
        this.#sets[i] = this.#sets[this.#sets.length - 1]!;
        this.#sets.pop();
      } else {
        live.push(s);
        i++;
      }
    }
    return live;
  }
}

/**
 * The pages of a heap that changed since its consumer last collected. Made
 * by {@link PageTracker.subscribe}.
 */
export class ChangeSet {
  readonly #tracker: PageTracker;
  /** Pages reported since the last collect, each once (#marked). */
  #acc: Uint32Array = new Uint32Array(64);
  #accCount = 0;
  readonly #marked: Uint8Array;
  /** What the last collect returned. */
  #out: Uint32Array = new Uint32Array(64);
  #exact = false;
  #limit = 0;

  constructor(tracker: PageTracker, pages: number) {
    this.#tracker = tracker;
    this.#marked = new Uint8Array(pages);
  }

  /** Pages reported: list[0, n) (below covered), ascending. */
  addList(list: Uint32Array, n: number): void {
    const marked = this.#marked;
    for (let i = 0; i < n; i++) {
      const p = list[i]!;
      if (marked[p] === 0) this.#push(p);
    }
  }

  /** Pages [from, to), all reported. */
  addRange(from: number, to: number): void {
    const marked = this.#marked;
    for (let p = from; p < to; p++) if (marked[p] === 0) this.#push(p);
  }

  #push(p: number): void {
    if (this.#accCount === this.#acc.length) {
      const grown = new Uint32Array(Math.min(this.#marked.length, 2 * this.#acc.length));
      grown.set(this.#acc);
      this.#acc = grown;
    }
    this.#marked[p] = 1;
    this.#acc[this.#accCount++] = p;
  }

  /**
   * The pages below `limit` that changed since the last collect, in
   * `pages` (valid until the next collect), and their count; or UNKNOWN
   * (every page may have changed: compare bytes). Pages at or above the
   * previous collect's limit count as changed. With `keep`, the set is
   * not emptied: the next collect still reports since the one before.
   * Ascending with `sorted`.
   */
  collect(limit: number, keep = false, sorted = false): number {
    const tracker = this.#tracker;
    tracker.take(limit);
    if (!this.#exact || !tracker.live) {
      this.#clear();
      this.#exact = tracker.live;
      this.#limit = limit;
      return UNKNOWN;
    }
    if (limit > this.#limit) this.addRange(this.#limit, Math.min(limit, this.#marked.length));
    if (this.#out.length < this.#accCount) this.#out = new Uint32Array(this.#acc.length);
    const out = this.#out;
    const acc = this.#acc;
    let n = 0;
    for (let i = 0; i < this.#accCount; i++) {
      const p = acc[i]!;
      if (p < limit) out[n++] = p;
    }
    if (!keep) {
      this.#clear();
      this.#limit = limit;
    }
    if (sorted) out.subarray(0, n).sort();
    return n;
  }

  /**
   * The next collect is UNKNOWN: for a consumer that collected but could
   * not use the pages (a failed save), so none of them is lost.
   */
  forget(): void {
    this.#exact = false;
  }

  /** The pages of the last collect (the first `count` entries). */
  get pages(): Uint32Array {
    return this.#out;
  }

  /** Report nothing more and let go of the tracker. */
  release(): void {
    this.#tracker.unsubscribe(this);
    this.#clear();
    this.#exact = false;
  }

  #clear(): void {
    const marked = this.#marked;
    const acc = this.#acc;
    for (let i = 0; i < this.#accCount; i++) marked[acc[i]!] = 0;
    this.#accCount = 0;
  }
}
