/**
 * introspect.ts - reading a heap's state through the C core: counters, named
 * roots and the list of live allocations. Every function takes the region
 * as a pointer (a live heap) or as bytes (a snapshot's copy of the used
 * prefix): the C readers look only below the high-water mark, and both hold
 * the same bytes there.
 *
 * A live heap's region is an address in its backend's memory: the caller
 * passes that backend's functions as `S`. Bytes without `S` are read by
 * the default backend (bytesBackend): the counters and roots from the
 * header's pages only (so the WebAssembly core copies those, not the image).
 */
import type { Pointer } from "bun:ffi";
import { bytesBackend } from "./bytes-backend.ts";
import { HeapError } from "./errors.ts";
import { NATIVE_CONSTANTS, type NativeSymbols, STATS_FIELDS } from "./ffi/symbols.ts";

/** A live heap's base, or a snapshot's bytes (validated by the caller). */
export type RegionRef = Pointer | Uint8Array;

/**
 * Counters of `ph_stats_t`, as numbers. O(1) to read: the header keeps them.
 *
 * @example
 * ```ts
 * import { PrivateHeap, type HeapStats } from "privheap";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const s: HeapStats = heap.stats();
 * console.log(`${s.liveCount} live, ${s.usedBytes} bytes to snapshot`);
 * ```
 */
export interface HeapStats {
  /** Pages the heap manages, in bytes. */
  regionBytes: number;
  /** High-water mark: what a snapshot copies. */
  usedBytes: number;
  /** Bytes above it read as zero: the highest high-water mark since init, lowered as pages above `usedBytes` are given back. */
  touchedBytes: number;
  /** Header and page-map leaves. */
  metaBytes: number;
  /** Usable bytes of live allocations. */
  liveBytes: number;
  /** Live allocations. */
  liveCount: number;
  /** Live allocations from small size classes. */
  smallCount: number;
  /** Live allocations that are page runs. */
  largeCount: number;
  /** Pages held by small-class runs, in bytes. */
  smallRunBytes: number;
  /** Free pages below `usedBytes`, in bytes. */
  freeBytes: number;
  /** Free page runs below `usedBytes`. */
  freeRuns: number;
  /** Resets since init, plus one. */
  generation: number;
  /** Allocations since the last reset. */
  mallocCount: number;
  /** Frees since the last reset. */
  freeCount: number;
  /** Free pages that may still hold memory (freed and not given back to the system since), below and above `usedBytes`, in bytes. */
  dirtyBytes: number;
}

// Scratch shared by every call (one thread; none of these calls re-enter).
const statsWords = new Uint32Array(STATS_FIELDS.length * 2);
const nameBytes = new Uint8Array(64);
const decoder = new TextDecoder();
const WALK_BATCH = 4096; // pairs per ph_off_walk call
const walkBatch = new Float64Array(2 * WALK_BATCH);
/** The header's bytes (the lock block ends it, on a page of its own): what the counters and roots are read from. */
const HEADER_BYTES = Math.ceil(NATIVE_CONSTANTS.PH_LOCK_BLOCK_END / NATIVE_CONSTANTS.PH_PAGE_SIZE) * NATIVE_CONSTANTS.PH_PAGE_SIZE;

/** Run `read` on `region` with functions that can read it: `S` as given, else the default backend's over the first `limit` bytes. */
function reading<T>(region: RegionRef, S: NativeSymbols | undefined, limit: number, op: string, read: (at: RegionRef, S: NativeSymbols) => T): T {
  if (S !== undefined) return read(region, S);
  if (!(region instanceof Uint8Array)) throw new HeapError("EINVAL", op, "a region address needs its backend's functions");
  const b = bytesBackend(op);
  return b.withBytes(region.length > limit ? region.subarray(0, limit) : region, (at) => read(at, b.symbols));
}

/**
 * The header's counters. `op` names the caller in errors. A live heap's
 * region is an address in its backend's memory: pass that backend's
 * functions as `S` (the native library's by default).
 */
export function readStats(region: RegionRef, op: string, S?: NativeSymbols): HeapStats {
  const rc = reading(region, S, HEADER_BYTES, op, (at, s) => s.ph_heap_stats(at as Pointer, statsWords));
  if (rc !== 0) throw HeapError.fromNative(rc, op);
  const out = {} as Record<(typeof STATS_FIELDS)[number], number>;
  for (let i = 0; i < STATS_FIELDS.length; i++) out[STATS_FIELDS[i]!] = statsWords[2 * i]! + statsWords[2 * i + 1]! * 4294967296;
  return out;
}

/** One counter of the header (a field of HeapStats), without making an object. */
export function readStat(region: RegionRef, field: keyof HeapStats, op: string, S?: NativeSymbols): number {
  const rc = reading(region, S, HEADER_BYTES, op, (at, s) => s.ph_heap_stats(at as Pointer, statsWords));
  if (rc !== 0) throw HeapError.fromNative(rc, op);
  const i = STATS_FIELDS.indexOf(field);
  return statsWords[2 * i]! + statsWords[2 * i + 1]! * 4294967296;
}

/** Named roots: name -> offset. */
export function readRoots(region: RegionRef, S?: NativeSymbols): Record<string, number> {
  return reading(region, S, HEADER_BYTES, "readRoots", (at, s) => {
    const out: Record<string, number> = {};
    for (let i = 0; i < NATIVE_CONSTANTS.PH_ROOT_COUNT; i++) {
      nameBytes.fill(0, 0, 33);
      const off = Number(s.ph_heap_root_at(at as Pointer, i, nameBytes));
      if (off === 0) continue;
      const end = nameBytes.indexOf(0);
      out[decoder.decode(nameBytes.subarray(0, end < 0 ? 32 : end))] = off;
    }
    return out;
  });
}

/**
 * Index (even) of the pair of `allocs` (as {@link listAllocations} gives
 * them: address order) whose allocation holds byte `off`, or -1.
 */
export function allocationHolding(allocs: Float64Array, off: number): number {
  let lo = 0;
  let hi = (allocs.length >>> 1) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const start = allocs[2 * mid]!;
    if (off < start) hi = mid - 1;
    else if (off >= start + allocs[2 * mid + 1]!) lo = mid + 1;
    else return 2 * mid;
  }
  return -1;
}

/**
 * Every live allocation as (offset, usable size) pairs in address order:
 * element 2i is an offset, 2i + 1 its size. One ph_off_walk call per
 * WALK_BATCH allocations, no callback into JS.
 */
export function listAllocations(region: RegionRef, op: string, S?: NativeSymbols): Float64Array {
  return reading(region, S, Infinity, op, (at, s) => walkAll(at, op, s));
}

function walkAll(region: RegionRef, op: string, S: NativeSymbols): Float64Array {
  let list = new Float64Array(2 * WALK_BATCH);
  let len = 0;
  for (let from = 0; ; ) {
    const n = S.ph_off_walk(region as Pointer, from, walkBatch, WALK_BATCH);
    if (n < 0) throw HeapError.fromNative(n, op);
    if (n === 0) break;
    if (len + 2 * n > list.length) {
      const grown = new Float64Array(list.length * 2);
      grown.set(list);
      list = grown;
    }
    list.set(walkBatch.subarray(0, 2 * n), len);
    len += 2 * n;
    from = walkBatch[2 * (n - 1)]! + 1;
    if (n < WALK_BATCH) break;
  }
  return list.subarray(0, len);
}
