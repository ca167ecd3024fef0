/**
 * bench/js/mirror.ts - HeapMirror.sync against saving a snapshot file of
 * the same heap, measured in the same run, on a tmpfs and on a disk.
 *
 * Usage: bun bench/js/mirror.ts [runs] [usedMiB] [dirs]
 *   runs     medians of this many runs per row (default 7; 100% rows: 3)
 *   usedMiB  the used prefix (default 64)
 *   dirs     comma-separated directories (default /dev/shm,<OS temp dir>)
 *
 * A heap (kernel tracking where the system gives it) whose used prefix is
 * `usedMiB`, every page non-zero, is mirrored; each row changes a share
 * of its pages (1%: every 100th page, so each is a run of its own; 100%:
 * all) and times:
 *   sync         mirror.sync(): hashes the reported pages, then (under half
 *                the pages changed) journal, mark, pages in place, page 0
 *                (fsync rows: four fsyncs), or (at least half) a new file
 *                renamed over the path
 *   sync compare the same on a heap with tracking: "compare" (every page hashed)
 *   saveSync     heap.snapshot().saveSync(path): the whole heap, atomically
 * and, to choose how a sync writes, the changed pages written in place
 * without journal (no fsync):
 *   pwrite/run   fs.writeSync with a position, one call per run of adjacent pages (what sync does)
 *   pwrite/page  one call per page
 *   mapped copy  ph_pages_copy into a MAP_SHARED mapping of the file, then msync
 * and, for why a live heap should be anonymous rather than a mapped disk
 * file, the cost of the first write to a page (every 10th of 16 MiB)
 * after the kernel's tracker looked (ph_tracker_take), and after an msync
 * without a tracker, for anonymous memory and a MAP_SHARED file on each
 * directory.
 */
import { type Pointer, toArrayBuffer } from "bun:ffi";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeapMirror } from "../../src/heap-mirror.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { loadNative } from "../../src/ffi/loader.ts";
import { median, printHeader, table } from "./common.ts";

const RUNS = Number(process.argv[2] ?? 7);
const USED = Number(process.argv[3] ?? 64) * 2 ** 20;
const DIRS = (process.argv[4] ?? `/dev/shm,${tmpdir()}`).split(",");
const PAGE = 4096;
const S = loadNative().symbols;

printHeader(`HeapMirror.sync vs snapshot().saveSync, ${USED / 2 ** 20} MiB used prefix, medians of ${RUNS} runs (100% rows: 3)`);

/** A heap whose used prefix is about USED bytes, every page non-zero. */
function filledHeap(tracking: "auto" | "compare"): { heap: PrivateHeap; block: number } {
  const heap = PrivateHeap.create({ size: USED + (16 << 20), tracking });
  const block = heap.malloc(USED - 64 * PAGE);
  heap.u8.fill(1, block, block + USED - 64 * PAGE);
  return { heap, block };
}

/** Change `share` of the block's pages (every k-th page), with a value new each round. */
function change(heap: PrivateHeap, block: number, share: number, round: number): Uint32Array {
  const first = Math.ceil(block / PAGE);
  const last = Math.floor((heap.usedBytes - PAGE) / PAGE);
  const step = Math.round(1 / share);
  const pages: number[] = [];
  for (let p = first; p <= last; p += step) pages.push(p);
  const list = Uint32Array.from(pages);
  const v = (round % 250) + 2;
  if (step === 1) heap.u8.fill(v, first * PAGE, (last + 1) * PAGE);
  else for (const p of list) heap.u8[p * PAGE + 17] = v;
  return list;
}

function time(fn: () => void): number {
  const t0 = Bun.nanoseconds();
  fn();
  return (Bun.nanoseconds() - t0) / 1e6;
}

const rows: (string | number)[][] = [];
const ms = (x: number) => x.toFixed(2);

for (const base of DIRS) {
  const dir = mkdtempSync(join(base, "privheap-mirror-bench-"));
  try {
    for (const fsync of [false, true]) {
      for (const share of [0.01, 1]) {
        const runs = share === 1 ? 3 : RUNS;
        const label = `${base} ${share * 100}%${fsync ? " fsync" : ""}`;
        const results: Record<string, number[]> = { sync: [], compare: [], save: [] };
        for (const tracking of ["auto", "compare"] as const) {
          const { heap, block } = filledHeap(tracking);
          const mirror = HeapMirror.create(heap, join(dir, `m-${tracking}.phheap`), { fsync });
          const times = results[tracking === "auto" ? "sync" : "compare"]!;
          for (let r = 0; r < runs + 1; r++) {
            change(heap, block, share, r);
            const t = time(() => mirror.sync());
            if (r > 0) times.push(t); // the first round warms up
          }
          mirror.close();
          if (tracking === "auto") {
            for (let r = 0; r < runs; r++) {
              change(heap, block, share, r + 100);
              results.save!.push(time(() => heap.snapshot().saveSync(join(dir, "s.phsnap"), { fsync })));
            }
          }
          const kind = tracking === "auto" ? heap.tracking : "compare";
          const t = median(times);
          rows.push([label, kind, tracking === "auto" ? ms(t) : "", tracking === "auto" ? "" : ms(t), ms(median(results.save!)), (t / median(results.save!)).toFixed(3)]);
          heap.close();
        }
      }
    }

    // How to write the changed pages: no journal, no fsync, the same pages each way.
    const { heap, block } = filledHeap("compare");
    const path = join(dir, "w.phheap");
    HeapMirror.create(heap, path, { fsync: false }).close();
    for (const share of [0.01, 1]) {
      const list = change(heap, block, share, 1);
      const runs: [number, number][] = [];
      for (const p of list) {
        const last = runs[runs.length - 1];
        if (last && last[0] + last[1] === p) last[1]++;
        else runs.push([p, 1]);
      }
      const fd = openSync(path, "r+");
      const perRun: number[] = [];
      const perPage: number[] = [];
      const mapped: number[] = [];
      const sizeOut = new BigUint64Array([0n]);
      const cpath = new TextEncoder().encode(`${path}\0`);
      const map = S.ph_region_map_file(cpath, sizeOut, 0, 0) as Pointer;
      const bytes = Number(sizeOut[0]);
      for (let r = 0; r < (share === 1 ? 3 : RUNS); r++) {
        change(heap, block, share, r + 10);
        perRun.push(time(() => {
          for (const [p, n] of runs) writeSync(fd, heap.u8, p * PAGE, n * PAGE, p * PAGE);
        }));
        change(heap, block, share, r + 20);
        perPage.push(time(() => {
          for (const p of list) writeSync(fd, heap.u8, p * PAGE, PAGE, p * PAGE);
        }));
        change(heap, block, share, r + 30);
        mapped.push(time(() => {
          S.ph_pages_copy(map, heap.address as Pointer, list, list, list.length);
          S.ph_region_flush(map, bytes);
        }));
      }
      S.ph_region_unmap(map, bytes);
      closeSync(fd);
      const label = `${base} ${share * 100}% write only`;
      rows.push([`${label}: pwrite/run`, "", ms(median(perRun)), "", "", "1.000"]);
      rows.push([`${label}: pwrite/page`, "", ms(median(perPage)), "", "", (median(perPage) / median(perRun)).toFixed(3)]);
      rows.push([`${label}: mapped copy+msync`, "", ms(median(mapped)), "", "", (median(mapped) / median(perRun)).toFixed(3)]);
    }
    heap.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

table(["row", "tracking", "sync ms", "compare ms", "saveSync ms", "ratio"], rows);
console.log("\nratio: sync / saveSync (write-only rows: / pwrite per run).");

// ---- the first write to a page: anonymous memory against a mapped file ----

const FW_PAGES = 4096;
const takeOut = new Uint32Array(FW_PAGES);

/** Median microseconds of a first write to every 10th page of the region at `base`, after a take (`track`) or an msync. */
function firstWrite(base: Pointer, track: boolean): number | string {
  const size = FW_PAGES * PAGE;
  const t = track ? S.ph_tracker_start(base, size) : null;
  if (track && t === null) return "no tracker";
  const u8 = new Uint8Array(toArrayBuffer(base, 0, size));
  for (let p = 0; p < FW_PAGES; p++) u8[p * PAGE] = 1; // every page present and dirty
  const us: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    if (t !== null) {
      if (S.ph_tracker_take(t, 0, FW_PAGES, takeOut, FW_PAGES, 0) < 0) throw new Error("take failed");
    } else S.ph_region_flush(base, size);
    const t0 = Bun.nanoseconds();
    for (let p = 0; p < FW_PAGES; p += 10) u8[p * PAGE + 8] = r + 2;
    us.push((Bun.nanoseconds() - t0) / 1000 / Math.ceil(FW_PAGES / 10));
  }
  if (t !== null) S.ph_tracker_stop(t);
  return median(us).toFixed(2);
}

const fwRows: (string | number)[][] = [];
const anon = S.ph_region_map_anon(FW_PAGES * PAGE) as Pointer;
fwRows.push(["anonymous", firstWrite(anon, true), firstWrite(anon, false)]);
S.ph_region_unmap(anon, FW_PAGES * PAGE);
for (const base of DIRS) {
  const dir = mkdtempSync(join(base, "privheap-mirror-bench-"));
  try {
    for (const track of [true, false]) {
      const sizeOut = new BigUint64Array([BigInt(FW_PAGES * PAGE)]);
      const map = S.ph_region_map_file(new TextEncoder().encode(`${join(dir, `f${track}`)}\0`), sizeOut, 3, 0o600) as Pointer; // PH_MAP_CREATE | PH_MAP_EXCL
      const us = firstWrite(map, track);
      S.ph_region_unmap(map, FW_PAGES * PAGE);
      if (track) fwRows.push([`MAP_SHARED file in ${base}`, us, ""]);
      else fwRows[fwRows.length - 1]![2] = us;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log("");
table(["first write to a page", "after a take (us)", "after msync, untracked (us)"], fwRows);
