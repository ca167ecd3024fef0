/**
 * bench/js/shared.ts - opening an existing heap file: the time should not
 * depend on what the heap holds (no scan), unless a check is asked for.
 *
 * Usage: bun bench/js/shared.ts [runs]
 *   PRIVHEAP_BENCH_DIR=dir puts the files there (default: the OS temp dir)
 *
 * a. Two 1 GiB heap files, one holding 1 MiB of allocations and one holding
 *    512 MiB (1 KiB, 64 KiB and 1 MiB blocks); each is opened and closed
 *    `runs` times (default 9), with and without `check: true`. Target: the
 *    plain open takes the same time for both files.
 * b. malloc(64) + free pairs: unlocked in one process (an anonymous heap),
 *    locked in one process, and locked from two processes at once on one
 *    heap file (the total over the wall time). Reported against the
 *    unlocked single-process figure; bare (the two processes do nothing
 *    but contend) and with some arithmetic after each pair (as a caller
 *    does between heap calls).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../src/heap.ts";
import { median, printHeader, table } from "./common.ts";

const RUNS = Number(process.argv[2] ?? 9);
const MiB = 1 << 20;
const GiB = 1 << 30;
const dir = mkdtempSync(join(process.env.PRIVHEAP_BENCH_DIR ?? tmpdir(), "privheap-bench-shared-"));
printHeader(`opening a 1 GiB heap file, ${RUNS} runs, files in ${dir}`);

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
console.log("");

// b. locked throughput. Each pair is malloc(64) + free, bare or followed by
// WORK: arithmetic, as a caller does between heap calls (its time is printed).
const PAIRS = 2_000_000;
const WORK = `let acc = 0; for (let j = 0; j < 256; j++) acc += Math.sqrt(i + j); sink += acc;`;
const loop = (work: boolean) => `for (let i = 0; i < PAIRS; i++) { heap.free(heap.malloc(64)); ${work ? WORK : ""} }`;
// One function per variant, compiled from the same text the children run.
const timed = (work: boolean) =>
  new Function("heap", "PAIRS", `let sink = 0; for (let i = 0; i < 100000; i++) heap.free(heap.malloc(64));
     const t0 = Bun.nanoseconds(); ${loop(work)} return [PAIRS / ((Bun.nanoseconds() - t0) / 1e9), sink];`) as (h: PrivateHeap, n: number) => [number, number];

async function twoProcesses(path: string, work: boolean): Promise<number> {
  const child = join(dir, `pairs-${work ? "work" : "bare"}.ts`);
  writeFileSync(
    child,
    `import { PrivateHeap } from ${JSON.stringify(join(import.meta.dir, "../../src/heap.ts"))};
     using heap = PrivateHeap.open(${JSON.stringify(path)}, { lock: true });
     const PAIRS = ${PAIRS}; let sink = 0;
     for (let i = 0; i < 100000; i++) heap.free(heap.malloc(64));
     await Bun.sleep(200); // both warm before either starts
     ${loop(work)}
     if (sink === -1) console.log(sink);`,
  );
  const idleChild = join(dir, "idle.ts");
  writeFileSync(idleChild, `await Bun.sleep(200);`);
  const wall = async (file: string): Promise<number> => {
    const t0 = Bun.nanoseconds();
    await Promise.all([0, 1].map(() => Bun.spawn([process.execPath, file]).exited));
    return (Bun.nanoseconds() - t0) / 1e9;
  };
  const runs: number[] = [];
  const idle: number[] = [];
  for (let r = 0; r < 3; r++) runs.push(await wall(child));
  // Each process also starts Bun, warms up and sleeps 0.2 s: subtract a measured empty run.
  for (let r = 0; r < 3; r++) idle.push(await wall(idleChild));
  return (2 * PAIRS) / Math.max(1e-3, median(runs) - median(idle));
}

{
  const lockedPath = join(dir, "locked.phheap");
  PrivateHeap.open(lockedPath, { size: 64 * MiB, create: true, lock: true }).close();
  const rows: string[][] = [];
  const bare: number[] = [];
  for (const work of [false, true]) {
    const run = timed(work);
    const unlocked = median([0, 1, 2].map(() => {
      using heap = PrivateHeap.create({ size: 64 * MiB });
      return run(heap, PAIRS)[0];
    }));
    const lockedOne = median([0, 1, 2].map(() => {
      using heap = PrivateHeap.open(lockedPath, { lock: true });
      return run(heap, PAIRS)[0];
    }));
    const two = await twoProcesses(lockedPath, work);
    bare.push(unlocked);
    const workNs = work ? 1e9 / unlocked - 1e9 / bare[0]! : 0;
    const what = work ? `malloc(64) + free + ${workNs.toFixed(0)} ns of work` : "malloc(64) + free";
    rows.push([`${what}: unlocked, one process`, unlocked.toFixed(0), "1.00x"]);
    rows.push([`${what}: locked, one process`, lockedOne.toFixed(0), `${(lockedOne / unlocked).toFixed(2)}x`]);
    rows.push([`${what}: locked, two processes (total)`, two.toFixed(0), `${(two / unlocked).toFixed(2)}x`]);
  }
  table(["pairs", "pairs/s", "vs unlocked, one process"], rows);
  console.log("\n(two processes on two cores would reach 2.00x with no contention at all)");
}
rmSync(dir, { recursive: true, force: true });
