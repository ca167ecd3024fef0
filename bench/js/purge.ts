/**
 * bench/js/purge.ts - memory given back: the process's resident memory and
 * the heap's usedBytes and dirtyBytes before and after freeing everything,
 * for each `purge` option, and after `heap.purge()`.
 *
 * Usage: bun bench/js/purge.ts [MiB]
 *
 * Each row is one heap of 1 GiB in a fresh state: it allocates about MiB
 * (default 256) of a seeded mix of sizes (24 B to 1 MiB), writes every
 * byte, then frees everything in a seeded order. RSS is the process's
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
  const given = heap.purge();
  const after = heap.stats();
  rows.push([purge, mib(full.rss), mib(full.used), mib(freedRss), kib(freed.usedBytes), mib(freed.dirtyBytes), mib(given), mib(rss() - base), kib(after.usedBytes)]);
  if (heap.check() !== 0) throw new Error(`${purge}: the heap does not check clean`);
  heap.close();
}
table(
  ["purge", "RSS full", "used full", "RSS freed", "used freed KiB", "dirty freed", "purge() gave", "RSS after purge()", "used after KiB"],
  rows,
);
console.log("(MiB unless marked; RSS is the process's growth since the row began)");
