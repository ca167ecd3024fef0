/**
 * bench/js/snapshot-file.ts - saving and loading snapshot files against
 * plain file I/O of the same bytes, measured in the same run.
 *
 * Usage: bun bench/js/snapshot-file.ts [runs] [sizesMiB]
 *   runs      medians of this many runs per row (default 9; fsync rows: 3)
 *   sizesMiB  comma-separated used-prefix sizes (default 16,256)
 *   PRIVHEAP_BENCH_DIR=dir writes the files there (default: the OS temp dir)
 *
 * For each size a heap's used prefix is filled with non-zero data (every
 * page stored; half the words are counters, so zstd has work to do), then:
 *   save          snap.saveSync(path, { fsync: false }): scan, hash, write, rename
 *   save async    await snap.save(path, { fsync: false })
 *   baseline      open + ftruncate + fs.writeSync of the used prefix + close
 *                 (the fastest preallocated write Node's fs API offers)
 *   writeFileSync fs.writeFileSync of the same bytes (Bun fallocates first; for reference)
 *   save fsync    snap.saveSync(path): the atomic save flushed to the device
 *   load          Snapshot.loadSync(path): read, checksums, full native check
 *   load async    await Snapshot.load(path)
 *   readFileSync  fs.readFileSync of a file of the same size (the load baseline)
 *   zstd          save and load with compress: true (level 3), and file sizes
 *   xxHash3       one hash of the used prefix: the part of a save a plain write does not do
 * Target: save >= 0.8x the baseline's speed.
 */
import { closeSync, fsyncSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../src/heap.ts";
import { Snapshot } from "../../src/snapshot/snapshot.ts";
import { median, printHeader, table } from "./common.ts";

const RUNS = Number(process.argv[2] ?? 9);
const SIZES = (process.argv[3] ?? "16,256").split(",").map((s) => Number(s) * 2 ** 20);
const MiB = 2 ** 20;
const dir = mkdtempSync(join(process.env.PRIVHEAP_BENCH_DIR ?? tmpdir(), "privheap-bench-"));
printHeader(`snapshot files: save/load vs plain file I/O, medians of ${RUNS} runs, files in ${dir}`);

/** A heap whose used prefix is about `bytes`, every page non-zero. */
function filledHeap(bytes: number): PrivateHeap {
  const heap = PrivateHeap.create({ size: bytes + 16 * MiB });
  const u32 = heap.u32;
  let x = 0x2545f491;
  while (heap.usedBytes < bytes) {
    const off = heap.malloc(Math.min(256 * 1024, bytes - heap.usedBytes + 4096));
    const n = heap.usableSize(off);
    for (let w = off >>> 2, end = (off + n) >>> 2, i = 0; w < end; w++, i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      u32[w] = i & 1 ? x >>> 0 : (i & 0xffff) | 0x10000;
    }
  }
  if (heap.check() !== 0) throw new Error("heap inconsistent after filling");
  return heap;
}

let seq = 0;
const fresh = () => join(dir, `f${seq++}`);

/** Median milliseconds of `f(path)` on a fresh path each run (the file is removed after each run, untimed). */
async function timeWrite(runs: number, f: (path: string) => unknown): Promise<number> {
  const ts: number[] = [];
  for (let r = 0; r < runs; r++) {
    const path = fresh();
    const t0 = Bun.nanoseconds();
    await f(path);
    ts.push((Bun.nanoseconds() - t0) / 1e6);
    unlinkSync(path);
  }
  return median(ts);
}

async function timeRead(runs: number, f: () => unknown): Promise<number> {
  const ts: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = Bun.nanoseconds();
    await f();
    ts.push((Bun.nanoseconds() - t0) / 1e6);
    Bun.gc(true); // release the previous run's buffer before the next
  }
  return median(ts);
}

function preallocatedWrite(path: string, bytes: Uint8Array, fsync = false): void {
  const fd = openSync(path, "w");
  ftruncateSync(fd, bytes.length);
  for (let o = 0; o < bytes.length; ) o += writeSync(fd, bytes, o, bytes.length - o, o);
  if (fsync) fsyncSync(fd);
  closeSync(fd);
}

const rows: (string | number)[][] = [];
const sizes: (string | number)[][] = [];
const verdicts: string[] = [];
for (const target of SIZES) {
  const heap = filledHeap(target);
  const snap = heap.snapshot();
  const bytes = snap.bytes;
  const used = bytes.length;
  heap.close();
  const label = `${(used / MiB).toFixed(1)} MiB`;
  const gbps = (ms: number) => (used / (ms / 1e3) / 1e9).toFixed(2);
  const row = (name: string, ms: number, base: number | null, baseName: string) =>
    rows.push([label, name, ms.toFixed(2), gbps(ms), base === null ? "" : `${(base / ms).toFixed(2)}x ${baseName}`]);

  // Warm up every path once.
  await timeWrite(1, (p) => snap.saveSync(p, { fsync: false }));
  await timeWrite(1, (p) => preallocatedWrite(p, bytes));

  // Alternate the save and its baseline, run by run, so both see the same disk state.
  const save: number[] = [];
  const base: number[] = [];
  const wfs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    save.push(await timeWrite(1, (p) => snap.saveSync(p, { fsync: false })));
    base.push(await timeWrite(1, (p) => preallocatedWrite(p, bytes)));
    wfs.push(await timeWrite(1, (p) => writeFileSync(p, bytes)));
  }
  const tSave = median(save);
  const tBase = median(base);
  const tWfs = median(wfs);
  const tSaveAsync = await timeWrite(RUNS, (p) => snap.save(p, { fsync: false }));
  const tFsync = await timeWrite(3, (p) => snap.saveSync(p));
  const tBaseFsync = await timeWrite(3, (p) => preallocatedWrite(p, bytes, true));
  row("baseline: ftruncate + writeSync", tBase, tBase, "");
  row("fs.writeFileSync (fallocate)", tWfs, tBase, "baseline");
  row("saveSync, fsync: false", tSave, tBase, "baseline");
  row("save (async), fsync: false", tSaveAsync, tBase, "baseline");
  const tHash = await timeRead(RUNS, () => Bun.hash.xxHash3(bytes));
  row("(xxHash3 of the used prefix alone)", tHash, tBase, "baseline");
  row("baseline + fsync", tBaseFsync, tBaseFsync, "");
  row("saveSync (fsync, atomic)", tFsync, tBaseFsync, "baseline + fsync");
  const best = Math.max(tBase / tSave, tBase / tSaveAsync);
  verdicts.push(
    `${label}: save ${(tBase / tSave).toFixed(2)}x (sync) / ${(tBase / tSaveAsync).toFixed(2)}x (async) the speed of the preallocated writeSync ` +
      `(target >= 0.8x: ${best >= 0.8 ? "met" : "MISSED"}); ${(tWfs / tSave).toFixed(2)}x / ${(tWfs / tSaveAsync).toFixed(2)}x fs.writeFileSync's`,
  );

  // Loads: a raw file, and a plain file of the same size for readFileSync.
  const raw = join(dir, "raw.phsnap");
  const zst = join(dir, "zstd.phsnap");
  snap.saveSync(raw); // flushed, so no write-back competes with the timed reads
  const plain = join(dir, "plain.bin");
  preallocatedWrite(plain, readFileSync(raw), true);
  const tRead = await timeRead(RUNS, () => readFileSync(plain));
  const tLoad = await timeRead(RUNS, () => {
    if (Snapshot.loadSync(raw).byteLength !== used) throw new Error("short load");
  });
  const tLoadAsync = await timeRead(RUNS, async () => {
    if ((await Snapshot.load(raw)).byteLength !== used) throw new Error("short load");
  });
  const tFromBytes = await timeRead(RUNS, () => Snapshot.fromBytes(bytes));
  row("baseline: fs.readFileSync", tRead, tRead, "");
  row("loadSync", tLoad, tRead, "readFileSync");
  row("load (async)", tLoadAsync, tRead, "readFileSync");
  row("(Snapshot.fromBytes: copy + check)", tFromBytes, tRead, "readFileSync");

  // zstd
  const zRuns = Math.max(3, Math.min(RUNS, 5));
  const tZSave = await timeWrite(zRuns, (p) => snap.saveSync(p, { compress: true, fsync: false }));
  snap.saveSync(zst, { compress: true });
  const tZLoad = await timeRead(zRuns, () => Snapshot.loadSync(zst));
  row("saveSync zstd 3, fsync: false", tZSave, tBase, "baseline");
  row("loadSync zstd 3", tZLoad, tRead, "readFileSync");
  sizes.push([label, used, statSync(raw).size, statSync(zst).size, `${(statSync(zst).size / used).toFixed(3)}`]);
  for (const p of [raw, zst, plain]) rmSync(p);
}
rmSync(dir, { recursive: true, force: true });

table(["used prefix", "operation", "median ms", "GB/s", "speed vs baseline"], rows);
console.log("");
table(["used prefix", "bytes", "raw file", "zstd 3 file", "zstd / used"], sizes);
console.log("");
for (const v of verdicts) console.log(v);
