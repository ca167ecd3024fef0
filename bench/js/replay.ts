/**
 * bench/js/replay.ts - what recording a replay costs per tick, what a seek
 * costs, and how large a recording is, against baselines measured in the
 * same run.
 *
 * Usage: bun bench/js/replay.ts [runs] [demoTicks]
 *   runs       medians of this many runs per row (default 7)
 *   demoTicks  ticks of the demo recording in part c (default 10000; about
 *              0.5 ms each, so the default takes several seconds)
 *   PRIVHEAP_BENCH_DIR=dir writes the files there (default: the OS temp
 *   dir); they are deleted at the end.
 *
 * The simulations, all deterministic step functions:
 *   4 MiB state  a 16 MiB heap holding ~4 MiB of allocations (every page
 *                non-zero: damped springs, as (position, velocity) f32
 *                pairs); each tick picks 5% of the used pages (by a hash of
 *                the tick and the input, spread over the state) and
 *                integrates every spring on them, so 5% of the pages change
 *                per tick, and nearly all of them between two keyframes.
 *                Run on a heap with the system's tracker (heap.tracking,
 *                the default) and on one with tracking: "compare", whose
 *                keyframes compare every page but whose writes take no
 *                fault. Part a adds "hot 10%": the same, with the picks
 *                from a tenth of the pages, so a keyframe stores a tenth.
 *   demo         examples/sim.ts with 4000 entities in a 16 MiB heap,
 *                inputs inputFor(t): the demo's own step.
 *
 * Parts:
 *   a. Recording overhead per tick, 600 ticks per run, keyframeEvery 60:
 *      the step alone against step + recorder.tick(input). Target: at most
 *      1.3x the step alone (for the 4 MiB state). The split: the step
 *      itself timed while recording (on a tracked heap, the first write to
 *      each page after the tracker's last look takes a fault: the
 *      difference from the step alone), heap.checksum() (timed in a run of
 *      step + checksum), the tick record's framing and write (the rest of
 *      a tick() without a keyframe), and the keyframe (the extra time of a
 *      tick() that writes one, divided by 60).
 *   b. Seek, from a recording of 960 ticks (keyframes after ticks -1, 59,
 *      ..., 959): seek(t) at a keyframe (t = 899, the 16th keyframe, 15
 *      deltas after a full one) and at keyframe + K - 1 (t = 958), against
 *      one heap.restore() of that keyframe and the K - 1 = 59 steps a seek
 *      runs, each timed on its own. "cached": the keyframe's image is the
 *      one the Replay decoded last; "cold": another keyframe was decoded
 *      in between, so the seek rebuilds the image (16 records) and checks
 *      it natively. Also Replay.openSync of the file and a whole verify().
 *   c. File size of a demoTicks-tick recording of the demo: bytes per tick
 *      record and per keyframe, against a full copy of the used prefix for
 *      every keyframe (keyframes x used bytes + the same tick records), and
 *      against a plain-JS serializer of the same game: every K ticks (and
 *      before tick 0) the game struct and every entity's fields packed
 *      with a DataView (27 bytes an entity), and each tick's 2 input bytes,
 *      uncompressed, with no checksums. Target for the compressed
 *      recording: at most 0.8x the plain serializer's bytes.
 *
 * Parts a and b run the demo, and part a the 4 MiB state, recorded both
 * ways: with { compress: false } and compressed (the default: keyframes
 * zstd-compressed, "zstd" in the rows); part b also times Replay.openSync
 * of the recording, which decompresses every compressed keyframe, and
 * prints each compressed time over the uncompressed one (target for seek
 * and verify: no slower, at most 1.0x, within noise).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWorld, Entity, Game, inputFor, step as demoStep } from "../../examples/sim.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { parseHeader, parseRecords, RECORD_HEAD_BYTES, RECORD_TAIL_BYTES } from "../../src/snapshot/replay-format.ts";
import { Replay, type StepFn } from "../../src/snapshot/replay.ts";
import { median, printHeader, table, verdict } from "./common.ts";

const RUNS = Number(process.argv[2] ?? 7);
const DEMO_TICKS = Number(process.argv[3] ?? 10_000);
const MiB = 1 << 20;
const PAGE = 4096;
const K = 60;
const TICKS = 600;
const dir = mkdtempSync(join(process.env.PRIVHEAP_BENCH_DIR ?? tmpdir(), "privheap-bench-replay-"));
let fileSeq = 0;
const pathFor = () => join(dir, `r${fileSeq++}.phreplay`);
printHeader(`replay: recording, seeking and file size vs the step alone, medians of ${RUNS} runs, files in ${dir}`);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

// ---- the simulations -------------------------------------------------------

/** A simulation: a heap with its world made, its step, and its inputs. */
interface Sim {
  name: string;
  /** Record with compressed keyframes (zstd(sim)); else with compress: false. */
  compress?: boolean;
  heap: PrivateHeap;
  step: StepFn;
  input: (t: number) => Uint8Array;
}

// The 4 MiB state. Root "state" -> u32[]: [pieces, changedPerTick, piece offsets...],
// a piece being a page-aligned 4 KiB inside an allocation.
const DT = 1 / 60;
const SPRING = 4;
const DAMPING = 0.05;

function fourMiB(tracking: "auto" | "compare" = "auto", hot = 1): Sim {
  const heap = PrivateHeap.create({ size: 16 * MiB, tracking });
  const state = heap.calloc(2 + 1200, 4);
  heap.setRoot("state", state);
  const offsets: number[] = [];
  const chunk = 64 * 1024 - 64;
  let x = 0x2545f491;
  while (heap.usedBytes < 4 * MiB - 64 * 1024) {
    const off = heap.malloc(chunk);
    const end = off + heap.usableSize(off);
    for (let w = off >>> 2; w < end >>> 2; w++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      heap.f32[w] = ((x >>> 0) / 2 ** 32) * 2 - 1 || 0.5; // never 0: every page is non-zero
    }
    for (let p = Math.ceil(off / PAGE) * PAGE; p + PAGE <= end; p += PAGE) offsets.push(p);
  }
  const u32 = heap.u32;
  u32[state >>> 2] = Math.round(offsets.length * hot); // the pieces picked from: the first ones
  u32[(state >>> 2) + 1] = Math.round((heap.usedBytes / PAGE) * 0.05);
  offsets.forEach((o, i) => (u32[(state >>> 2) + 2 + i] = o));
  if (heap.check() !== 0) throw new Error("heap inconsistent after filling");
  const step: StepFn = (h, input, tick) => {
    const s = h.getRoot("state") >>> 2;
    const words = h.u32;
    const f32 = h.f32;
    const pieces = words[s]!;
    const changed = words[s + 1]!;
    let r = (Math.imul(tick + 1, 0x9e3779b1) ^ (input[0]! << 8) ^ input[1]!) >>> 0 || 1;
    for (let i = 0; i < changed; i++) {
      r ^= r << 13;
      r ^= r >>> 17;
      r ^= r << 5;
      r >>>= 0;
      const at = words[s + 2 + (r % pieces)]! >>> 2;
      for (let j = at; j < at + PAGE / 4; j += 2) {
        const v = f32[j + 1]! + (-SPRING * f32[j]! - DAMPING * f32[j + 1]!) * DT;
        f32[j + 1] = v;
        f32[j] = f32[j]! + v * DT;
      }
    }
  };
  const from = hot < 1 ? `, from a hot ${Math.round(hot * 100)}%` : "";
  return { name: `4 MiB state (${(heap.usedBytes / MiB).toFixed(2)} MiB used, 5% of pages change${from}), ${heap.tracking}`, heap, step, input: (t) => Uint8Array.of(t & 0xff, (t >>> 8) & 0xff) };
}

function demo(): Sim {
  const heap = PrivateHeap.create({ size: 16 * MiB });
  createWorld(heap, 4000);
  return { name: `demo, 4000 entities (${(heap.usedBytes / 1024).toFixed(0)} KiB used)`, heap, step: demoStep, input: inputFor };
}

/** The same simulation, on the same heap, recorded with compressed keyframes. */
const zstd = (sim: Sim): Sim => ({ ...sim, name: sim.name.replace(/^([^(]*?)( \(|$)/, "$1, zstd$2"), compress: true });

/** Part a's demo (its target is the demo's own overhead). */
let demoSim: Sim | null = null;

// ---- a. recording overhead per tick ----------------------------------------

const rowsA: (string | number)[][] = [];
const verdicts: string[] = [];
const us = (ns: number) => (ns / 1e3).toFixed(1);

function overhead(sim: Sim): void {
  const { heap, step, input } = sim;
  const start = heap.snapshot();
  const inputs = Array.from({ length: TICKS }, (_, t) => input(t));
  /** ns per tick of the step alone. */
  const alone = () => {
    heap.restore(start);
    const t0 = Bun.nanoseconds();
    for (let t = 0; t < TICKS; t++) step(heap, inputs[t]!, t);
    return (Bun.nanoseconds() - t0) / TICKS;
  };
  /** ns per tick of step + checksum, and ns per checksum call. */
  const withChecksum = () => {
    heap.restore(start);
    let inSum = 0;
    const t0 = Bun.nanoseconds();
    for (let t = 0; t < TICKS; t++) {
      step(heap, inputs[t]!, t);
      const c0 = Bun.nanoseconds();
      heap.checksum();
      inSum += Bun.nanoseconds() - c0;
    }
    const total = (Bun.nanoseconds() - t0) / TICKS;
    return { total, checksum: inSum / TICKS };
  };
  /** ns per tick of step + recorder.tick, and tick() times with and without a keyframe. */
  const recorded = () => {
    heap.restore(start);
    const path = pathFor();
    const plain: number[] = [];
    const keyed: number[] = [];
    let total: number;
    let stepping = 0;
    {
      using rec = Replay.record(path, heap, { keyframeEvery: K, compress: sim.compress === true });
      const t0 = Bun.nanoseconds();
      for (let t = 0; t < TICKS; t++) {
        const s0 = Bun.nanoseconds();
        step(heap, inputs[t]!, t);
        const c0 = Bun.nanoseconds();
        stepping += c0 - s0;
        rec.tick(inputs[t]!);
        ((t + 1) % K === 0 ? keyed : plain).push(Bun.nanoseconds() - c0);
      }
      total = (Bun.nanoseconds() - t0) / TICKS;
    }
    rmSync(path);
    return { total, plain: mean(plain), keyed: mean(keyed), step: stepping / TICKS };
  };
  alone();
  withChecksum();
  recorded();
  const a: number[] = [];
  const c: { total: number; checksum: number }[] = [];
  const r: { total: number; plain: number; keyed: number; step: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    a.push(alone());
    c.push(withChecksum());
    r.push(recorded());
  }
  const stepNs = median(a);
  const recNs = median(r.map((x) => x.total));
  const sumNs = median(c.map((x) => x.checksum));
  const plainNs = median(r.map((x) => x.plain));
  const keyNs = median(r.map((x) => x.keyed));
  const stepInNs = median(r.map((x) => x.step));
  const ratio = recNs / stepNs;
  rowsA.push([
    sim.name,
    us(stepNs),
    us(recNs),
    `${ratio.toFixed(2)}x`,
    `${us(stepInNs)} (${stepInNs >= stepNs ? "+" : ""}${us(stepInNs - stepNs)})`,
    us(sumNs),
    us(plainNs - sumNs),
    `${us((keyNs - plainNs) / K)} (${us(keyNs - plainNs)} each)`,
    us(recNs - stepNs),
  ]);
  const target = sim.heap === demoSim?.heap ? 1.05 : 1.3; // the demo's own overhead, and the 4 MiB state's
  verdicts.push(`a. ${sim.name}: step + recorder.tick vs step alone: ${verdict(ratio, target)}; break-even: a step of ${us((recNs - stepNs) / (target - 1))} us would meet ${target}x`);
}

// ---- b. seek ------------------------------------------------------------------

const rowsB: (string | number)[][] = [];
const ms = (ns: number) => (ns / 1e6).toFixed(3);

/** Part b's times (ns) of one recording, for the compressed-over-plain ratios. */
interface SeekTimes {
  open: number;
  verify: number;
  seekKey: number;
  seekKeyCold: number;
  seekFullCold: number;
  seekLast: number;
  seekLastCold: number;
}

function seek(sim: Sim): SeekTimes {
  const { heap, step, input } = sim;
  const ticks = 16 * K;
  const path = pathFor();
  {
    using rec = Replay.record(path, heap, { keyframeEvery: K, compress: sim.compress === true });
    for (let t = 0; t < ticks; t++) {
      const i = input(t);
      step(heap, i, t);
      rec.tick(i);
    }
  }
  const opens: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = Bun.nanoseconds();
    Replay.openSync(path).close();
    opens.push(Bun.nanoseconds() - t0);
  }
  const replay = Replay.openSync(path);
  rmSync(path);
  const at = 15 * K - 1; // the 16th keyframe: 15 deltas after the full one before tick 0
  const last = at + K - 1;
  const other = 16 * K - 1; // a full keyframe: decoding it evicts the cached image
  const time = (body: () => void, before: () => void = () => {}) => {
    before();
    body();
    const xs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      before();
      const t0 = Bun.nanoseconds();
      body();
      xs.push(Bun.nanoseconds() - t0);
    }
    return median(xs);
  };
  const snap = replay.keyframe(at);
  const restore = time(() => heap.restore(snap));
  const inputs = Array.from({ length: K - 1 }, (_, i) => replay.input(at + 1 + i));
  const steps = time(
    () => {
      for (let i = 0; i < K - 1; i++) step(heap, inputs[i]!, at + 1 + i);
    },
    () => heap.restore(snap),
  );
  const evict = () => void replay.keyframe(other);
  const seekKey = time(() => replay.seek(at, heap, step));
  const seekKeyCold = time(() => replay.seek(at, heap, step), evict);
  const seekLast = time(() => replay.seek(last, heap, step));
  const seekLastCold = time(() => replay.seek(last, heap, step), evict);
  const seekFullCold = time(() => replay.seek(other, heap, step), () => void replay.keyframe(at));
  if (heap.checksum() !== replay.checksum(other)) throw new Error(`${sim.name}: seek(${other}) does not reproduce the recording`);
  const verify = time(() => {
    if (!replay.verify(heap, step).ok) throw new Error(`${sim.name}: the recording does not verify`);
  });
  replay.seek(last, heap, step);
  if (heap.checksum() !== replay.checksum(last)) throw new Error(`${sim.name}: seek(${last}) does not reproduce the recording`);
  const name = sim.name.replace(/ \(.*/, "");
  rowsB.push([`${name}: Replay.openSync (${(replay.fileBytes / MiB).toFixed(2)} MiB file)`, ms(median(opens)), "", ""]);
  rowsB.push([`${name}: restore() of keyframe ${at}`, ms(restore), "", ""]);
  rowsB.push([`${name}: verify() of ${ticks} ticks`, ms(verify), "", ""]);
  rowsB.push([`${name}: ${K - 1} steps (${at + 1}..${last})`, ms(steps), "", ""]);
  rowsB.push([`${name}: seek(${at}), keyframe, cached`, ms(seekKey), `restore ${ms(restore)}`, `${(seekKey / restore).toFixed(2)}x`]);
  rowsB.push([`${name}: seek(${at}), keyframe, cold (16 records)`, ms(seekKeyCold), `restore ${ms(restore)}`, `${(seekKeyCold / restore).toFixed(2)}x`]);
  rowsB.push([`${name}: seek(${other}), full keyframe, cold`, ms(seekFullCold), `restore ${ms(restore)}`, `${(seekFullCold / restore).toFixed(2)}x`]);
  rowsB.push([`${name}: seek(${last}), keyframe + K - 1, cached`, ms(seekLast), `restore + ${K - 1} steps ${ms(restore + steps)}`, `${(seekLast / (restore + steps)).toFixed(2)}x`]);
  rowsB.push([`${name}: seek(${last}), keyframe + K - 1, cold`, ms(seekLastCold), `restore + ${K - 1} steps ${ms(restore + steps)}`, `${(seekLastCold / (restore + steps)).toFixed(2)}x`]);
  verdicts.push(
    `b. ${name}: seek to keyframe + K - 1 takes ${(seekLast / (restore + steps)).toFixed(2)}x (cached) / ${(seekLastCold / (restore + steps)).toFixed(2)}x (cold) one restore + ${K - 1} steps; rebuilding a cold keyframe image adds ${ms(seekKeyCold - seekKey)} ms`,
  );
  return { open: median(opens), verify, seekKey, seekKeyCold, seekFullCold, seekLast, seekLastCold };
}

/** Compressed over uncompressed, per part b time, as one verdict line. */
function compressedVsPlain(name: string, plain: SeekTimes, zstdTimes: SeekTimes): void {
  const r = (k: keyof SeekTimes) => zstdTimes[k] / plain[k];
  const worst = Math.max(r("verify"), r("seekKeyCold"), r("seekFullCold"), r("seekLastCold"));
  verdicts.push(
    `b. ${name}, compressed / uncompressed: openSync ${r("open").toFixed(2)}x, verify ${r("verify").toFixed(2)}x, seek to a keyframe ${r("seekKey").toFixed(2)}x cached / ${r("seekKeyCold").toFixed(2)}x cold, to a full keyframe cold ${r("seekFullCold").toFixed(2)}x, to keyframe + K - 1 ${r("seekLast").toFixed(2)}x cached / ${r("seekLastCold").toFixed(2)}x cold; verify and cold seeks: ${verdict(worst, 1)}`,
  );
}

// ---- c. file size ----------------------------------------------------------

/**
 * Bytes a plain-JS serializer of the demo writes for `ticks` ticks: the
 * game and every entity's fields packed every K ticks (and before tick 0),
 * each tick's input; `sim` is stepped through them.
 */
function plainSerializer(sim: Sim, ticks: number): number {
  const { heap } = sim;
  const game = Game.cursor(heap, heap.getRoot("game"));
  const e = Entity.cursor(heap, heap.getRoot("entities"));
  const base = heap.getRoot("entities");
  const count = game.count;
  const parts: Uint8Array[] = [];
  const keyframe = () => {
    const out = new DataView(new ArrayBuffer(24 + count * 27));
    out.setUint32(0, game.rng, true);
    out.setUint32(4, game.count, true);
    out.setFloat64(8, game.hits, true);
    out.setFloat64(16, game.respawns, true);
    for (let i = 0, at = 24; i < count; i++, at += 27) {
      e.index(base, i);
      out.setFloat32(at, e.pos.x, true);
      out.setFloat32(at + 4, e.pos.y, true);
      out.setFloat32(at + 8, e.vel.x, true);
      out.setFloat32(at + 12, e.vel.y, true);
      out.setInt32(at + 16, e.hp, true);
      out.setUint8(at + 20, e.team);
      out.setUint16(at + 21, e.kills, true);
      out.setUint32(at + 23, e.hits, true);
    }
    parts.push(new Uint8Array(out.buffer));
  };
  keyframe();
  for (let t = 0; t < ticks; t++) {
    const i = sim.input(t);
    sim.step(heap, i, t);
    parts.push(i);
    if ((t + 1) % K === 0) keyframe();
  }
  return parts.reduce((n, p) => n + p.length, 0);
}

function size(compress: boolean, plainBytes: number): (string | number)[][] {
  const sim = demo();
  const path = pathFor();
  const t0 = Bun.nanoseconds();
  {
    using rec = Replay.record(path, sim.heap, { keyframeEvery: K, compress });
    for (let t = 0; t < DEMO_TICKS; t++) {
      const i = sim.input(t);
      sim.step(sim.heap, i, t);
      rec.tick(i);
    }
  }
  const recordMs = (Bun.nanoseconds() - t0) / 1e6;
  const file = new Uint8Array(readFileSync(path));
  rmSync(path);
  sim.heap.close();
  const parsed = parseRecords(file, parseHeader(file, "bench", path), "bench");
  if (parsed.torn !== null || parsed.ticks.length !== DEMO_TICKS) throw new Error("the recording did not read back whole");
  const frame = RECORD_HEAD_BYTES + RECORD_TAIL_BYTES;
  const tickBytes = parsed.ticks.reduce((n, t) => n + frame + 16 + t.inputBytes, 0);
  const kfBytes = file.length - 48 - tickBytes;
  const full = parsed.keyframes.filter((k) => k.kind === 0).length;
  const how = compress ? "compressed" : "uncompressed";
  const usedSum = parsed.keyframes.reduce((n, k) => n + k.delta.length, 0);
  const storedPages = parsed.keyframes.reduce((n, k) => n + k.delta.pages.length, 0);
  const baseline = 48 + usedSum + tickBytes;
  const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const nk = parsed.keyframes.length;
  verdicts.push(
    `c. demo, ${DEMO_TICKS} ticks, ${how}: the file is ${(file.length / MiB).toFixed(2)} MiB, ${(file.length / baseline).toFixed(2)}x a full used prefix per keyframe (${(baseline / MiB).toFixed(2)} MiB), ${(file.length / plainBytes).toFixed(2)}x the plain-JS serializer (${(plainBytes / MiB).toFixed(2)} MiB)${compress ? `: ${verdict(file.length / plainBytes, 0.8)}` : ""}`,
  );
  return [
    [`${how}: ticks recorded (ms per tick while recording, step included)`, `${DEMO_TICKS} (${(recordMs / DEMO_TICKS).toFixed(3)} ms)`],
    ["file size", `${file.length} B (${(file.length / MiB).toFixed(2)} MiB)`],
    ["tick records: total, per tick", `${kb(tickBytes)}, ${(tickBytes / DEMO_TICKS).toFixed(1)} B`],
    [`keyframes: total, per keyframe (${nk}: ${full} full, ${nk - full} delta)`, `${kb(kfBytes)}, ${kb(kfBytes / nk)}`],
    ["pages stored per keyframe / used pages per keyframe", `${(storedPages / nk).toFixed(1)} / ${(usedSum / nk / PAGE).toFixed(1)}`],
    ["baseline: keyframes x used bytes + tick records", `${baseline} B (${(baseline / MiB).toFixed(2)} MiB)`],
    ["file / baseline", `${(file.length / baseline).toFixed(3)}x`],
    ["plain-JS serializer (packed entities every K ticks + inputs)", `${plainBytes} B (${(plainBytes / MiB).toFixed(2)} MiB)`],
    ["file / plain-JS serializer", `${(file.length / plainBytes).toFixed(3)}x`],
  ];
}

try {
  const sims = [fourMiB(), (demoSim = demo())];
  const more = [fourMiB("compare"), fourMiB("auto", 0.1)];
  for (const sim of [sims[0]!, zstd(sims[0]!), ...more, sims[1]!, zstd(sims[1]!)]) overhead(sim);
  for (const sim of more) sim.heap.close();
  console.log(`a. recording overhead per tick (us), ${TICKS} ticks per run, keyframeEvery ${K}`);
  table(["simulation", "step", "step+tick", "ratio", "step in the run", "checksum", "tick record", "keyframe /tick", "overhead"], rowsA);
  console.log("");
  for (const sim of sims) compressedVsPlain(sim.name.replace(/ \(.*/, ""), seek(sim), seek(zstd(sim)));
  console.log(`b. seek (ms), a recording of ${16 * K} ticks, keyframeEvery ${K}`);
  table(["operation", "ms", "baseline (ms)", "ratio"], rowsB);
  console.log("");
  for (const sim of sims) sim.heap.close();
  console.log(`c. file size, demo (examples/sim.ts, 4000 entities, inputFor(t)), ${DEMO_TICKS} ticks, keyframeEvery ${K}`);
  const plain = demo();
  const plainBytes = plainSerializer(plain, DEMO_TICKS);
  plain.heap.close();
  table(["quantity", "value"], [...size(false, plainBytes), ...size(true, plainBytes)]);
  console.log("");
  for (const v of verdicts) console.log(v);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
