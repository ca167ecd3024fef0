/**
 * bench/js/purge.ts - memory given back: the process's resident memory and
 * the heap's usedBytes and dirtyBytes before and after freeing everything,
 * for each `purge` option, and after `heap.purge()`.
 *
 * Usage: bun bench/js/purge.ts [MiB]
 *
 * Each row is one heap of 1 GiB in a fresh state: it allocates about MiB
 * (default 256) of a seeded mix of sizes (24 B to 1 MiB), writes every
 * byte, then frees everything in a seeded order, then mallocs and frees
 * two pages (decay gives back only what stayed free across an allocation
 * of pages). RSS is the process's
 * resident set (/proc/self/statm, Linux), so a row reads as the change
 * from the baseline taken before the heap was made (the JS runtime's own
 * memory moves a little too).
 */
import { readFileSync } from "node:fs";
import { PrivateHeap } from "../../src/heap.ts";
import { printHeader, table } from "./common.ts";

const MiB = 1 << 20;
const TARGET = Number(process.argv[2] ?? 256) * MiB;
const SIZES = [24, 48, 100, 320, 700, 3000, 9000, 20_000, 70_000, 300_000, 1 << 20];

/** Resident bytes of this process, or NaN where /proc is missing. */
function rss(): number {
  try {
    return Number(readFileSync("/proc/self/statm", "utf8").split(" ")[1]) * 4096;
  } catch {
    return Number.NaN;
  }
}

/** xorshift32: the same sizes and order in every row. */
function generator(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const mib = (b: number): string => (b / MiB).toFixed(1);
const kib = (b: number): string => (b / 1024).toFixed(0);

printHeader(`memory given back: ${TARGET / MiB} MiB allocated and written, then all freed`);
const rows: (string | number)[][] = [];
for (const purge of ["off", "decay", "now"] as const) {
  Bun.gc(true);
  const base = rss();
  const heap = PrivateHeap.create({ size: 1024 * MiB, purge });
  const next = generator(12345);
  const live: number[] = [];
  let total = 0;
  while (total < TARGET) {
    const size = SIZES[Math.floor(next() * SIZES.length)]!;
    const off = heap.malloc(size);
    heap.u8.fill(1, off, off + size);
    live.push(off);
    total += size;
  }
  const full = { rss: rss() - base, used: heap.usedBytes };
  for (let i = live.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [live[i], live[j]] = [live[j]!, live[i]!];
  }
  for (const off of live) heap.free(off);
  const freed = heap.stats();
  const freedRss = rss() - base;
  // Decay gives back only pages that stayed free across an allocation of
  // pages: the next one (here a malloc and free of two pages) lets them go.
  heap.free(heap.malloc(2 * 4096));
  const afterNext = { rss: rss() - base, dirty: heap.stats().dirtyBytes };
  const given = heap.purge();
  const after = heap.stats();
  rows.push([purge, mib(full.rss), mib(full.used), mib(freedRss), kib(freed.usedBytes), mib(freed.dirtyBytes), mib(afterNext.rss), mib(afterNext.dirty), mib(given), mib(rss() - base), kib(after.usedBytes)]);
  if (heap.check() !== 0) throw new Error(`${purge}: the heap does not check clean`);
  heap.close();
}
table(
  ["purge", "RSS full", "used full", "RSS freed", "used freed KiB", "dirty freed", "RSS next alloc", "dirty next alloc", "purge() gave", "RSS after purge()", "used after KiB"],
  rows,
);
console.log("(MiB unless marked; RSS is the process's growth since the row began)");

// A frame loop that frees each of its allocations, with more than decay's
// 4 MiB floor in use: decay must not give its pages back between frames
// (they would be faulted in again). Page faults from /proc/self/stat.
function minorFaults(): number {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
  } catch {
    return Number.NaN;
  }
}
const OBJS = 50_000;
const FRAMES = 40;
const frameRows: (string | number)[][] = [];
for (const purge of ["off", "decay", "now"] as const) {
  using heap = PrivateHeap.create({ size: 256 * MiB, purge });
  const sizeOf = generator(777);
  const offs = new Float64Array(OBJS);
  const frame = (): void => {
    for (let i = 0; i < OBJS; i++) {
      const off = heap.malloc(16 + Math.floor(sizeOf() * 241));
      heap.u8[off] = 1;
      offs[i] = off;
    }
    for (let i = 0; i < OBJS; i++) heap.free(offs[i]!);
  };
  for (let f = 0; f < 5; f++) frame(); // warm
  const faults0 = minorFaults();
  const t0 = Bun.nanoseconds();
  for (let f = 0; f < FRAMES; f++) frame();
  const ns = (Bun.nanoseconds() - t0) / (FRAMES * OBJS);
  frameRows.push([purge, ns.toFixed(1), ((minorFaults() - faults0) / FRAMES).toFixed(0), mib(heap.usedBytes), mib(heap.stats().touchedBytes)]);
}
console.log(`\nframe loop: ${FRAMES} frames of ${OBJS} allocations of 16-256 B, each written and freed`);
table(["purge", "ns per malloc+free", "page faults per frame", "used MiB", "touched MiB"], frameRows);
