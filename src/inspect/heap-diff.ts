/**
 * heap-diff.ts - two heap states compared for a person: which pages
 * changed and by how many bytes, which allocations were added, freed or
 * changed, and (with layouts) which fields, on top of Snapshot.diff's
 * changed ranges. The command line's `privheap diff` prints it as text or
 * JSON, and heap-diff-page.ts draws it.
 *
 * Allocations are matched by offset: one at the same offset in both states
 * is the same allocation (changed when a changed byte lies in it or its
 * size differs); one only in the second state was added, one only in the
 * first was freed.
 */
import type { HeapStats } from "../introspect.ts";
import type { DiffOptions, SnapshotDiff } from "../snapshot/diff.ts";
import { imageOfSnapshot, Snapshot } from "../snapshot/snapshot.ts";
import { changedBytesPerPage } from "./changed-bytes.ts";

/** An allocation: offset and usable size. */
export interface AllocationSpan {
  offset: number;
  size: number;
}

/** What {@link heapDiff} returns. */
export interface HeapDiff {
  /** Snapshot.diff of the two states: ranges, their allocations, roots, fields. */
  diff: SnapshotDiff;
  /** Pages of the longer image. */
  pages: number;
  /** Per page: bytes that differ (0 for an equal page). */
  changedPerPage: Uint32Array;
  /** Pages with a changed byte, ascending. */
  changedPages: Uint32Array;
  /** Allocations of the second state at offsets the first has none at. */
  added: AllocationSpan[];
  /** Allocations of the first state at offsets the second has none at. */
  freed: AllocationSpan[];
  /** Allocations at the same offset in both that hold a changed byte or changed size (the second state's size). */
  changed: AllocationSpan[];
  /** Both states' counters. */
  stats: { before: HeapStats; after: HeapStats };
}

/**
 * Compare heap states `a` (before) and `b` (after). `options` are
 * Snapshot.diff's (layouts name the changed fields).
 *
 * @example
 * ```ts
 * import { heapDiff, PrivateHeap } from "privheap";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const kept = heap.malloc(32);
 * const gone = heap.malloc(32);
 * const before = heap.snapshot();
 * heap.free(gone);
 * heap.u8[kept] = 1;
 * const added = heap.malloc(5000);
 * const d = heapDiff(before, heap.snapshot());
 * console.log(d.added[0]!.offset === added, d.freed[0]!.offset === gone, d.changed[0]!.offset === kept); // true true true
 * ```
 */
export function heapDiff(a: Snapshot, b: Snapshot, options: DiffOptions = {}): HeapDiff {
  const diff = Snapshot.diff(a, b, options);
  // The images themselves, not copies: a 1 GiB heap's would double the memory.
  const ia = imageOfSnapshot(a, "heapDiff");
  const ib = imageOfSnapshot(b, "heapDiff");
  const changedPerPage = changedBytesPerPage(ia, ib);
  let n = 0;
  for (let p = 0; p < changedPerPage.length; p++) if (changedPerPage[p]! > 0) n++;
  const changedPages = new Uint32Array(n);
  n = 0;
  for (let p = 0; p < changedPerPage.length; p++) if (changedPerPage[p]! > 0) changedPages[n++] = p;

  const la = a.allocations();
  const lb = b.allocations();
  const holdsChange = new Set(diff.allocations.map((x) => x.offset));
  const added: AllocationSpan[] = [];
  const freed: AllocationSpan[] = [];
  const changed: AllocationSpan[] = [];
  // Both lists are in address order: merge them.
  let i = 0;
  let j = 0;
  while (i < la.length || j < lb.length) {
    const oa = i < la.length ? la[i]! : Infinity;
    const ob = j < lb.length ? lb[j]! : Infinity;
    if (oa < ob) {
      freed.push({ offset: oa, size: la[i + 1]! });
      i += 2;
    } else if (ob < oa) {
      added.push({ offset: ob, size: lb[j + 1]! });
      j += 2;
    } else {
      if (la[i + 1] !== lb[j + 1] || holdsChange.has(ob)) changed.push({ offset: ob, size: lb[j + 1]! });
      i += 2;
      j += 2;
    }
  }
  return { diff, pages: changedPerPage.length, changedPerPage, changedPages, added, freed, changed, stats: { before: a.stats(), after: b.stats() } };
}
