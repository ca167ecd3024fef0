/**
 * delta-base.ts - the pages of a heap written since its latest full
 * snapshot, so that `heap.snapshot({ base })` against that snapshot
 * compares only them with the base's image instead of every page.
 *
 * A heap starts keeping track once it has taken a delta (heaps that never
 * take one pay nothing: no change set, no look at the tracker per
 * snapshot). From then on its latest full snapshot (`heap.snapshot()`,
 * with or without `into`) is its base: the heap's one change set looks at
 * the heap at that moment, and each delta against that snapshot collects
 * with `keep`, so every delta sees every page written since the base.
 * So a heap holds one change set and one weak reference to a snapshot,
 * however many snapshots it takes.
 *
 * Invariant: `owner.get(s) === entry` and `entry.base.deref() === s`
 * only while s holds the image the heap had at entry's last look: a full
 * snapshot into s by any heap re-registers s (or removes it), so a
 * snapshot refilled by another heap is never taken for this one's.
 */
import { changesOf, type PrivateHeap } from "../heap.ts";
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";
import { type ChangeSet, UNKNOWN } from "../tracking.ts";
import type { Written } from "./delta.ts";
import type { Snapshot } from "./snapshot.ts";

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;

/** A heap that takes deltas: its change set and the snapshot it last looked at the heap for. */
interface Entry {
  changes: ChangeSet;
  base: WeakRef<Snapshot> | null;
}

const entries = new WeakMap<PrivateHeap, Entry>();
/** The entry whose base each registered snapshot is. */
const owner = new WeakMap<Snapshot, Entry>();

/**
 * The pages of `heap` written since `base` was taken, for a delta of its
 * used prefix (`used` bytes) against `base`: a count and the pages,
 * ascending, or UNKNOWN when the heap cannot say (compare every page).
 * The first call for a heap starts its tracking.
 */
export function writtenSince(heap: PrivateHeap, base: Snapshot, used: number): Written {
  let entry = entries.get(heap);
  if (entry === undefined) {
    entry = { changes: changesOf(heap, "PrivateHeap.snapshot"), base: null };
    entries.set(heap, entry);
  }
  if (owner.get(base) !== entry || entry.base?.deref() !== base) return { count: UNKNOWN, pages: EMPTY };
  const count = entry.changes.collect(used / PAGE, true, true);
  if (count === UNKNOWN) entry.base = null; // the set looks from now on: the base's moment is lost
  return { count, pages: entry.changes.pages };
}

/**
 * Note that `snap` now holds the image of `heap`'s used prefix (a full
 * snapshot just taken, `used` bytes): it becomes the heap's base when the
 * heap takes deltas, and stops being any other heap's. Returns `snap`.
 */
export function tookFull(heap: PrivateHeap, snap: Snapshot, used: number): Snapshot {
  const entry = entries.get(heap);
  if (entry === undefined) {
    owner.delete(snap);
    return snap;
  }
  entry.changes.collect(used / PAGE); // the moment deltas against snap compare with
  entry.base = new WeakRef(snap);
  owner.set(snap, entry);
  return snap;
}

const EMPTY = new Uint32Array(0);
