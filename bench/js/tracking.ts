/**
 * bench/js/tracking.ts - what the written-page tracker buys: a rollback
 * ring and the heap checksum on a 64 MiB used prefix with 1%, 5% and 100%
 * of its pages changed per frame, each with the system's tracker (the
 * heap's default) and with tracking: "compare" (a comparison with the last
 * copy, or a full pass), against the full-copy baselines measured in the
 * same run.
 *
 * Usage: bun bench/js/tracking.ts [runs]   (medians of `runs` frames, default 15)
 *
 * A frame: change the pages (one byte each, spread over the prefix; timed
 * on its own, since with a tracker the first write to a page after a look
 * takes a fault: "step"), then the consumer's work ("ring": save the frame
 * and load the one before; "checksum": heap.checksum()). The baselines: a
 * ring in "full" mode (a copy of the used prefix per save, a restore per
 * load), and Bun.hash.xxHash3 of the used prefix.
 *
 * Targets (the issue's): ring save+load at most 0.05x the full ring at 1%,
 * 0.2x at 5%, 1.2x at 100%; checksum at most 0.1x a full xxHash3 at 1%; and
 * with every page changed, step + work at most 1.1x the "compare" heap's.
 */
import { PrivateHeap } from "../../src/heap.ts";
import { SnapshotRing } from "../../src/snapshot/ring.ts";
import { median, printHeader, table, verdict } from "./common.ts";

const RUNS = Number(process.argv[2] ?? 15);
const MiB = 1 << 20;
const PAGE = 4096;
const USED = 64 * MiB;
printHeader(`written-page tracking: ring and checksum on a ${USED / MiB} MiB used prefix, medians of ${RUNS} frames`);

/** A heap whose used prefix is about USED bytes of non-zero data. */
function filled(tracking: "auto" | "compare"): PrivateHeap {
  const heap = PrivateHeap.create({ size: USED + 16 * MiB, tracking });
  const chunk = 64 * 1024;
  for (let n = 0; heap.usedBytes < USED - chunk; n++) {
    const off = heap.malloc(chunk - 64);
    heap.u8.fill((n % 251) + 1, off, off + chunk - 64);
  }
  return heap;
}

/** Changes `share` of the used pages per call, one byte each, spread by a fixed sequence. */
function toucher(heap: PrivateHeap, share: number): () => void {
  const pages = heap.usedBytes / PAGE;
  const count = Math.max(1, Math.round(pages * share));
  const u8 = heap.u8;
  let seed = 12345;
  let round = 0;
  return () => {
    round++;
    if (share >= 1) {
      for (let p = 2; p < pages; p++) u8[p * PAGE + (round & 0xfff)]! ^= 1;
      return;
    }
    for (let i = 0; i < count; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const at = (2 + (seed % (pages - 2))) * PAGE + 100; // not the header pages: the heap writes those itself
      u8[at]! ^= 1 + (i & 0x7f);
    }
  };
}

interface Cost {
  step: number;
  work: number;
}

/**
 * Median ms of the step and of the work over RUNS frames, after warm-up
 * frames: a game loop's steady state (a ring's page pool and undo log grow
 * in its first frames; the tracker settles on watching or not).
 */
function frames(step: () => void, work: () => void, warm = 12): Cost {
  for (let i = 0; i < warm; i++) {
    step();
    work();
  }
  const s: number[] = [];
  const w: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = Bun.nanoseconds();
    step();
    const t1 = Bun.nanoseconds();
    work();
    s.push((t1 - t0) / 1e6);
    w.push((Bun.nanoseconds() - t1) / 1e6);
  }
  return { step: median(s), work: median(w) };
}

/** Ring save of a new frame and load of the one before, in steady state. */
function ringWork(heap: PrivateHeap, mode: "delta" | "full"): { work: () => void; ring: SnapshotRing } {
  const ring = SnapshotRing.create(heap, { capacity: 8, mode });
  let frame = 0;
  ring.save(++frame);
  return {
    ring,
    work: () => {
      ring.save(++frame);
      ring.load(frame - 1);
      frame--; // the loaded frame is the newest again: the next save replaces the one dropped
    },
  };
}

const ms = (x: number) => x.toFixed(3);
const rows: (string | number)[][] = [];
const verdicts: string[] = [];
const targets: Record<string, number> = { "1%": 0.05, "5%": 0.2, "100%": 1.2 };
// Each tracked row gets a heap of its own: the tracker adapts to the writes it sees (see tracking.ts), and a row measures its own steady state.
const compared = filled("compare");
const probe = filled("auto");
console.log(`tracking: ${probe.tracking}${probe.tracking === "compare" ? ` (${probe.trackingReason})` : ""}; baseline heap: ${compared.tracking}\n`);
probe.close();

for (const [label, share] of [["1%", 0.01], ["5%", 0.05], ["100%", 1]] as const) {
  const costs: Record<string, Cost> = {};
  for (const [name, mode] of [["tracker", "delta"], ["compare", "delta"], ["full ring", "full"]] as const) {
    const heap = name === "tracker" ? filled("auto") : compared;
    const { ring, work } = ringWork(heap, mode);
    costs[name] = frames(toucher(heap, share), work);
    ring.close();
    if (heap !== compared) heap.close();
  }
  const full = costs["full ring"]!.work;
  for (const name of ["tracker", "compare", "full ring"]) {
    const c = costs[name]!;
    rows.push([`ring ${label}, ${name}`, ms(c.step), ms(c.work), `${(c.work / full).toFixed(3)}x`, `${((c.step + c.work) / (costs["compare"]!.step + costs["compare"]!.work)).toFixed(2)}x`]);
  }
  verdicts.push(`ring save+load at ${label} changed, tracker vs full ring: ${verdict(costs["tracker"]!.work / full, targets[label]!)}`);
  if (share >= 1)
    verdicts.push(
      `ring frame (step + save + load) at 100% changed, tracker vs compare: ${verdict((costs["tracker"]!.step + costs["tracker"]!.work) / (costs["compare"]!.step + costs["compare"]!.work), 1.1)}`,
    );
}

for (const [label, share] of [["1%", 0.01], ["5%", 0.05], ["100%", 1]] as const) {
  const costs: Record<string, Cost> = {};
  for (const name of ["tracker", "compare"] as const) {
    const heap = name === "tracker" ? filled("auto") : compared;
    costs[name] = frames(toucher(heap, share), () => heap.checksum());
    if (heap !== compared) heap.close();
  }
  const prefix = compared.u8.subarray(0, compared.usedBytes);
  const xx = frames(toucher(compared, share), () => Bun.hash.xxHash3(prefix));
  for (const [name, c] of [...Object.entries(costs), ["xxHash3 of the prefix", xx] as const])
    rows.push([`checksum ${label}, ${name}`, ms(c.step), ms(c.work), `${(c.work / xx.work).toFixed(3)}x`, `${((c.step + c.work) / (costs["compare"]!.step + costs["compare"]!.work)).toFixed(2)}x`]);
  if (label === "1%") verdicts.push(`checksum at 1% changed, tracker vs full xxHash3: ${verdict(costs["tracker"]!.work / xx.work, 0.1)}`);
  if (share >= 1)
    verdicts.push(
      `checksum frame (step + checksum) at 100% changed, tracker vs compare: ${verdict((costs["tracker"]!.step + costs["tracker"]!.work) / (costs["compare"]!.step + costs["compare"]!.work), 1.1)}`,
    );
}

table(["frame", "step ms", "work ms", "work vs baseline", "step+work vs compare"], rows);
console.log("");
for (const v of verdicts) console.log(v);
compared.close();

// ---- delta snapshots ----------------------------------------------------------
// heap.snapshot({ base }) against the heap's latest full snapshot, 1% of the
// pages changed since it: the tracker compares the pages written since the
// base; "compare" compares every page. A frame: a full snapshot into a kept
// one (the base, not timed), the step, the delta.
{
  const deltaRows: (string | number)[][] = [];
  const costs: Record<string, Cost> = {};
  for (const tracking of ["auto", "compare"] as const) {
    const heap = filled(tracking);
    const base = heap.snapshot();
    heap.snapshot({ base }); // a heap tracks its latest full snapshot once it has taken a delta
    const step = toucher(heap, 0.01);
    const s: number[] = [];
    const w: number[] = [];
    for (let r = 0; r < RUNS + 2; r++) {
      heap.snapshot({ into: base });
      const t0 = Bun.nanoseconds();
      step();
      const t1 = Bun.nanoseconds();
      const delta = heap.snapshot({ base });
      const t2 = Bun.nanoseconds();
      if (delta.storedBytes > 0.02 * heap.usedBytes) throw new Error(`a 1% delta stored ${delta.storedBytes} bytes`);
      if (r >= 2) {
        s.push((t1 - t0) / 1e6);
        w.push((t2 - t1) / 1e6);
      }
    }
    costs[tracking === "auto" ? `tracker (${heap.tracking})` : "compare"] = { step: median(s), work: median(w) };
    heap.close();
  }
  const compare = costs["compare"]!;
  for (const [name, c] of Object.entries(costs)) deltaRows.push([`delta snapshot 1%, ${name}`, ms(c.step), ms(c.work), `${(c.work / compare.work).toFixed(3)}x`, `${((c.step + c.work) / (compare.step + compare.work)).toFixed(2)}x`]);
  console.log("");
  table(["frame", "step ms", "delta ms", "delta vs compare", "step+delta vs compare"], deltaRows);
}
