/**
 * bench/js/shared.ts - opening an existing heap file: the time should not
 * depend on what the heap holds (no scan), unless a check is asked for.
 *
 * Usage: bun bench/js/shared.ts [runs]
 *   PRIVHEAP_BENCH_DIR=dir puts the files there (default: the OS temp dir)
 *
 * Two 1 GiB heap files, one holding 1 MiB of allocations and one holding
 * 512 MiB (1 KiB, 64 KiB and 1 MiB blocks); each is opened and closed
 * `runs` times (default 9), with and without `check: true`. Target: the
 * plain open takes the same time for both files.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../src/heap.ts";
import { printHeader, table } from "./common.ts";

const RUNS = Number(process.argv[2] ?? 9);
const MiB = 1 << 20;
const GiB = 1 << 30;
const dir = mkdtempSync(join(process.env.PRIVHEAP_BENCH_DIR ?? tmpdir(), "privheap-bench-shared-"));
printHeader(`opening a 1 GiB heap file, ${RUNS} runs, files in ${dir}`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function fill(path: string, bytes: number): number {
  using heap = PrivateHeap.open(path, { size: GiB, create: true });
  const sizes = [1024, 64 * 1024, MiB];
  for (let i = 0; heap.stats().liveBytes < bytes; i++) {
    const n = sizes[i % 3]!;
    const off = heap.malloc(n);
    heap.u8.fill((i % 250) + 1, off, off + Math.min(n, 4096));
  }
  return heap.stats().liveCount;
}

function timeOpen(path: string, check: boolean): number {
  const xs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = Bun.nanoseconds();
    const heap = PrivateHeap.open(path, { check });
    xs.push((Bun.nanoseconds() - t0) / 1e6);
    heap.close();
  }
  return median(xs);
}

const rows: (string | number)[][] = [];
const plain: number[] = [];
for (const [name, bytes] of [["1 MiB", MiB], ["512 MiB", 512 * MiB]] as const) {
  const path = join(dir, `${name.replace(" ", "")}.phheap`);
  const count = fill(path, bytes);
  const t = timeOpen(path, false);
  const tc = timeOpen(path, true);
  plain.push(t);
  rows.push([`1 GiB file holding ${name} (${count} allocations)`, t.toFixed(3), tc.toFixed(3)]);
}
table(["heap file", "open ms", "open with check ms"], rows);
console.log("");
console.log(`open time, 512 MiB held / 1 MiB held: ${(plain[1]! / plain[0]!).toFixed(2)}x (target: independent of the contents, about 1x)`);
rmSync(dir, { recursive: true, force: true });
