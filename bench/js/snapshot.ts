/**
 * bench/js/snapshot.ts - in-memory snapshots and the rollback ring against
 * plain copies of the same bytes, measured in the same run.
 *
 * Usage: bun bench/js/snapshot.ts [rounds]
 *
 * Rows (median of `rounds` runs, default 15; times in ms):
 *   a. snapshot() + restore() of a 4, 64 and 256 MiB used prefix, against
 *      two TypedArray.set copies of the same bytes into warm buffers (heap ->
 *      copy, copy -> heap). Twice: with snapshot() in new memory each time
 *      (the previous snapshot dropped, as a game keeping the last state
 *      does) and with snapshot({ into }) (reusing a snapshot's memory, as
 *      the copies do). Target: speed >= 0.8x the copies at 64 MiB, both
 *      ways. The new-memory row also shows its mean: an image that finds no
 *      recycled memory pays the system's page faults.
 *   b. a 1 GiB heap holding 1 MiB: snapshot() against a 1 MiB set copy, and
 *      a copy of the whole region for scale. Target: about a 1 MiB copy.
 *   c. ring save + load of a 16 MiB state with 5% of its pages changed per
 *      frame: delta mode against full mode (a copy per frame) and against
 *      snapshot() + restore(). Target: delta <= 0.3x a full save + load.
 *   d. heap.checksum() throughput.
 *   e. ring save + load on a 256 MiB heap file holding 1 MiB, against a
 *      16 MiB file holding the same. Target: about 1x, independent of the
 *      file's size (the ring compares the used prefix, though a heap file
 *      counts every page as touched); an anonymous heap for scale. Files in
 *      PRIVHEAP_BENCH_DIR (default: the OS temp dir).
 * A speed ratio above 1 means privheap is faster; a time ratio below 1 too.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../src/heap.ts";
import { SnapshotRing } from "../../src/snapshot/ring.ts";
import { median, printHeader, table, verdict } from "./common.ts";

const ROUNDS = Number(process.argv[2] ?? 15);
const MiB = 1 << 20;
const PAGE = 4096;
printHeader("snapshots and the rollback ring vs plain copies");

/** Ms of each of ROUNDS runs of `body`, after one warm-up; `before` runs untimed each round. */
function samples(body: () => void, before: () => void = () => {}): number[] {
  before();
  body();
  const xs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    before();
    const t0 = Bun.nanoseconds();
    body();
    xs.push((Bun.nanoseconds() - t0) / 1e6);
  }
  return xs;
}

/** Median ms of `body` over ROUNDS runs, after one warm-up; `before` runs untimed each round. */
function time(body: () => void, before: () => void = () => {}): number {
  return median(samples(body, before));
}

/** Median ms of one ring.save + ring.load back to the frame before, with `change` (untimed) between rounds. */
function saveLoad(ring: SnapshotRing, next: () => number, change: () => void): number {
  return time(
    () => {
      const frame = next();
      ring.save(frame);
      ring.load(frame - 1);
    },
    () => {
      ring.save(next()); // the state to go back to
      change();
    },
  );
}

/** A heap whose used prefix is about `used` bytes of non-zero data. */
function filled(size: number, used: number): PrivateHeap {
  const heap = PrivateHeap.create({ size });
  const chunk = 64 * 1024;
  for (let n = 0; heap.usedBytes < used - chunk; n++) {
    const off = heap.malloc(chunk - 64);
    heap.u8.fill((n % 251) + 1, off, off + chunk - 64);
  }
  return heap;
}

const ms = (x: number) => x.toFixed(3);
const rows: (string | number)[][] = [];
const verdicts: string[] = [];

// a. snapshot + restore vs two set copies
for (const usedMiB of [4, 64, 256]) {
  const heap = filled(2 * usedMiB * MiB, usedMiB * MiB);
  const used = heap.usedBytes;
  const warm = new Uint8Array(used);
  const copies = time(() => {
    warm.set(heap.u8.subarray(0, used));
    heap.u8.set(warm);
  });
  let snap = heap.snapshot();
  const freshRuns = samples(() => {
    snap = heap.snapshot();
    heap.restore(snap);
  });
  const fresh = median(freshRuns);
  const freshMean = freshRuns.reduce((a, b) => a + b, 0) / freshRuns.length;
  const reused = time(() => {
    heap.snapshot({ into: snap });
    heap.restore(snap);
  });
  const target = usedMiB === 64 ? "target >= 0.8x" : "no target";
  rows.push([`a. snapshot() into new memory + restore(), ${usedMiB} MiB (mean ${ms(freshMean)})`, ms(fresh), ms(copies), `${(copies / fresh).toFixed(2)}x speed`]);
  rows.push([`a. snapshot({ into }) + restore(), ${usedMiB} MiB`, ms(reused), ms(copies), `${(copies / reused).toFixed(2)}x speed`]);
  rows.push([`a. two TypedArray.set copies, ${usedMiB} MiB (baseline)`, ms(copies), ms(copies), "1.00x speed"]);
  for (const [what, t] of [["snapshot() into new memory", fresh], ["snapshot({ into })", reused]] as const) {
    const met = usedMiB !== 64 ? "" : copies / t >= 0.8 ? ": met" : ": MISSED";
    verdicts.push(`a. ${usedMiB} MiB ${what} + restore() speed vs 2 set copies: ${(copies / t).toFixed(2)}x (${target}${met})`);
  }
  heap.close();
}

// b. sparse: 1 GiB heap holding 1 MiB
{
  const heap = filled(1024 * MiB, 1 * MiB);
  const used = heap.usedBytes;
  const warm = new Uint8Array(used);
  const copy = time(() => warm.set(heap.u8.subarray(0, used)));
  const snapTime = time(() => void heap.snapshot());
  const into = heap.snapshot();
  const intoTime = time(() => void heap.snapshot({ into }));
  const whole = new Uint8Array(heap.size);
  const wholeCopy = time(() => whole.set(heap.u8));
  rows.push([`b. snapshot() of 1 GiB heap holding ${(used / MiB).toFixed(2)} MiB`, ms(snapTime), ms(copy), `${(snapTime / copy).toFixed(2)}x time`]);
  rows.push([`b. snapshot({ into }), the same`, ms(intoTime), ms(copy), `${(intoTime / copy).toFixed(2)}x time`]);
  rows.push([`b. (a copy of the whole 1 GiB region)`, ms(wholeCopy), ms(copy), `${(wholeCopy / copy).toFixed(0)}x time`]);
  verdicts.push(`b. 1 GiB heap with 1 MiB used: snapshot({ into }) takes ${(intoTime / copy).toFixed(2)}x a 1 MiB copy, snapshot() in new memory ${(snapTime / copy).toFixed(2)}x; the whole region would be ${(wholeCopy / copy).toFixed(0)}x (target: about 1x)`);
  heap.close();
}

// c. ring with 5% of pages changed per frame
{
  const heap = filled(64 * MiB, 16 * MiB);
  const pages = heap.usedBytes / PAGE;
  const changed = Math.round(pages * 0.05);
  let frame = 0;
  let seed = 12345;
  const touch = () => {
    // Change 5% of the used pages, spread over the heap (one byte each, so
    // the cost measured is the ring's, not the simulation's).
    for (let i = 0; i < changed; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const page = 2 + (seed % (pages - 2)); // not the header: the heap writes that itself
      const at = page * PAGE + 100;
      heap.u8[at] = heap.u8[at]! ^ (1 + (i & 0x7f));
    }
  };
  const ringOf = (mode: "delta" | "full") => SnapshotRing.create(heap, { capacity: 8, mode });
  const measure = (ring: SnapshotRing) => {
    // Steady state, as in a game loop: every slot and page written once.
    for (let i = 0; i < 2 * ring.capacity; i++) {
      touch();
      ring.save(++frame);
    }
    return saveLoad(ring, () => ++frame, touch);
  };
  const delta = measure(ringOf("delta"));
  const full = measure(ringOf("full"));
  let snap = heap.snapshot();
  const snapRestore = time(
    () => {
      const s = heap.snapshot();
      heap.restore(snap);
      snap = s;
    },
    touch,
  );
  rows.push([`c. ring save+load, delta, 16 MiB, ${changed} of ${pages} pages changed`, ms(delta), ms(full), `${(delta / full).toFixed(2)}x time`]);
  rows.push([`c. ring save+load, full mode (baseline)`, ms(full), ms(full), "1.00x time"]);
  rows.push([`c. snapshot()+restore() of the same state`, ms(snapRestore), ms(full), `${(snapRestore / full).toFixed(2)}x time`]);
  verdicts.push(`c. ring delta save+load vs full save+load (full mode): ${verdict(delta / full, 0.3)}`);
  verdicts.push(`c. ring delta save+load vs snapshot()+restore(): ${verdict(delta / snapRestore, 0.3)}`);
  heap.close();
}

// d. checksum
{
  const heap = filled(64 * MiB, 16 * MiB);
  const t = time(() => void heap.checksum());
  rows.push([`d. heap.checksum(), ${(heap.usedBytes / MiB).toFixed(0)} MiB`, ms(t), "", `${(heap.usedBytes / t / 1e6).toFixed(1)} GB/s`]);
  heap.close();
}

// e. the ring on a heap file (whose every page counts as touched)
{
  const dir = mkdtempSync(join(process.env.PRIVHEAP_BENCH_DIR ?? tmpdir(), "privheap-bench-ring-"));
  const ringCost = (heap: PrivateHeap) => {
    const at = heap.malloc(MiB);
    const ring = SnapshotRing.create(heap, { capacity: 8 });
    let frame = 0;
    ring.save(++frame);
    return saveLoad(ring, () => ++frame, () => void (heap.u8[at + (frame % 256) * PAGE] = frame & 0xff));
  };
  const onFile = (size: number) => {
    const heap = PrivateHeap.open(join(dir, `ring-${size}.phheap`), { size, create: true });
    const t = ringCost(heap);
    heap.close();
    return t;
  };
  const small = onFile(16 * MiB);
  const large = onFile(256 * MiB);
  const anon = PrivateHeap.create({ size: 256 * MiB });
  const onAnon = ringCost(anon);
  anon.close();
  rmSync(dir, { recursive: true, force: true });
  rows.push([`e. ring save+load, 256 MiB heap file holding 1 MiB`, ms(large), ms(small), `${(large / small).toFixed(2)}x time (baseline: a 16 MiB file)`]);
  rows.push([`e. the same on an anonymous 256 MiB heap`, ms(onAnon), ms(small), `${(onAnon / small).toFixed(2)}x time`]);
  verdicts.push(`e. ring on a 256 MiB vs a 16 MiB heap file holding the same 1 MiB: ${verdict(large / small, 1.5)}`);
}

table(["operation", "ms", "baseline ms", "ratio"], rows);
console.log("");
for (const v of verdicts) console.log(v);
