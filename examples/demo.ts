/**
 * examples/demo.ts - a small deterministic simulation on privheap.
 *
 * Usage: bun run examples/demo.ts [entities] [frames]     (or: npm run demo)
 *
 * The simulation is examples/sim.ts: entities as C-layout structs in a
 * PrivateHeap, a spatial grid in FrameArena scratch each frame, all state in
 * the heap. The demo plays `frames` frames (default 600) and along the way:
 *   - saves every frame in a SnapshotRing, and halfway rewinds 8 frames and
 *     plays them again (the checksums come out the same);
 *   - records a replay (inputs, checksums, a keyframe every 60 frames);
 *   - at the end saves a snapshot, plays on, and restores it;
 *   - opens the replay, seeks back to an earlier frame and verifies every
 *     frame; then verifies again with one Math.random() slipped into frame
 *     500, and shows where that run diverged.
 * The same arguments give the same checksums on every run.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap, Replay, SnapshotRing, type StepFn } from "privheap";
import { createWorld, Entity, Game, inputFor, report, step } from "./sim.ts";

const N = Number(process.argv[2] ?? 4000);
const FRAMES = Number(process.argv[3] ?? 600);
const dir = mkdtempSync(join(tmpdir(), "privheap-demo-"));
const replayPath = join(dir, "demo.phreplay");

using world = PrivateHeap.create({ size: 16 << 20 });
createWorld(world, N);

const ring = SnapshotRing.create(world, { capacity: 16 });
const recorder = Replay.record(replayPath, world, { keyframeEvery: 60 });
const checksums: bigint[] = [];
const frameMs: number[] = [];
const saveMs: number[] = [];
const recordMs: number[] = [];
let maxSwing = 0;
let scratchBytes = 0;
let rewound = "";
for (let frame = 0; frame < FRAMES; frame++) {
  const input = inputFor(frame);
  const t0 = Bun.nanoseconds();
  step(world, input, frame);
  const t1 = Bun.nanoseconds();
  ring.save(frame);
  const t2 = Bun.nanoseconds();
  recorder.tick(input);
  recordMs.push((Bun.nanoseconds() - t2) / 1e6);
  saveMs.push((t2 - t1) / 1e6);
  frameMs.push((t1 - t0) / 1e6);
  maxSwing = Math.max(maxSwing, report.swing);
  scratchBytes = report.scratchBytes;
  checksums[frame] = world.checksum();
  if (frame === Math.floor(FRAMES / 2) && frame >= 8) {
    // A late input arrived for frame - 7: rewind and play the frames again.
    const t3 = Bun.nanoseconds();
    ring.load(frame - 8);
    const loadMs = (Bun.nanoseconds() - t3) / 1e6;
    let same = world.checksum() === checksums[frame - 8];
    for (let f = frame - 7; f <= frame; f++) {
      step(world, inputFor(f), f);
      ring.save(f);
      same &&= world.checksum() === checksums[f];
    }
    rewound = `rewound from frame ${frame} to ${frame - 8} (load ${loadMs.toFixed(3)} ms) and played 8 frames again: checksums ${same ? "match" : "DIFFER"}`;
  }
}
recorder.close();

// A save game: snapshot, play on, load it back.
const saved = world.snapshot();
const savedSum = world.checksum();
for (let frame = FRAMES; frame < FRAMES + 60; frame++) step(world, inputFor(frame), frame);
const playedOn = world.checksum();
world.restore(saved);
const restored = `snapshot of ${saved.byteLength} bytes; played 60 more frames (checksum changed: ${playedOn !== savedSum}); restored: checksum back: ${world.checksum() === savedSum}`;

// The replay: seek, verify, and catch a nondeterministic frame.
const replay = await Replay.open(replayPath);
using other = PrivateHeap.create({ size: world.size });
const back = Math.floor(FRAMES / 3);
const t4 = Bun.nanoseconds();
replay.seek(back, other, step);
const seekMs = (Bun.nanoseconds() - t4) / 1e6;
const seekLine = `seek to frame ${back} in another heap: ${seekMs.toFixed(2)} ms, checksum as recorded: ${other.checksum() === checksums[back]}`;
const t5 = Bun.nanoseconds();
const good = replay.verify(other, step);
const verifyLine = `verify ${replay.ticks} frames: ${good.ok ? "every checksum matches" : `DIVERGED at frame ${good.firstDivergentTick}`} (${((Bun.nanoseconds() - t5) / 1e6).toFixed(0)} ms)`;
const FLAKY = 500;
let flakyLine = `(fewer than ${FLAKY + 1} frames: no nondeterminism to catch)`;
if (replay.ticks > FLAKY) {
  const flaky: StepFn = (heap, input, t) => {
    step(heap, input, t);
    if (t === FLAKY) {
      // The bug: one entity's velocity from Math.random().
      const v = Entity.cursor(heap).index(heap.getRoot("entities"), 1234 % N);
      v.vel.x = Math.random() * 8 - 4;
    }
  };
  const bad = replay.verify(other, flaky);
  const where = bad.diff?.ranges[0];
  const alloc = where?.allocation;
  const entity = where && alloc ? Math.floor((where.offset - alloc.offset) / Entity.size) : -1;
  flakyLine = bad.ok
    ? "a Math.random() at frame 500 went UNNOTICED"
    : `with a Math.random() at frame ${FLAKY}: diverged at frame ${bad.firstDivergentTick} (compared with ${bad.diffAgainst}); ${bad.diff!.changedBytes} bytes differ, in allocation ${alloc?.offset} (roots: ${alloc?.roots.join(", ") || "none"}), entity ${entity}`;
}

// Checksum of the entities' bytes (FNV-1a), and the report.
const base = world.getRoot("entities");
let hash = 0x811c9dc5;
const bytes = world.u8.subarray(base, base + N * Entity.size);
for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193) >>> 0;
let hitCounters = 0;
const e = Entity.cursor(world);
for (let i = 0; i < N; i++) hitCounters += e.index(base, i).hits;
const game = Game.cursor(world, world.getRoot("game"));
const totalHits = game.hits;
const totalRespawns = game.respawns;
const WARM = Math.min(10, FRAMES - 1);
const median = (xs: number[]) => [...xs.slice(WARM)].sort((a, b) => a - b)[Math.floor((xs.length - WARM) / 2)]!;
const sorted = frameMs.slice(WARM).sort((a, b) => a - b);
const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
const s = world.stats();
console.log(`privheap demo: ${N} entities (${Entity.size}-byte structs), ${FRAMES} frames`);
console.log(`  hits ${totalHits} (entity counters agree: ${hitCounters === totalHits}), respawns ${totalRespawns}`);
console.log(`  largest frame-to-frame change in hits: ${maxSwing} (read from the previous frame's scratch)`);
console.log(`  world heap: ${s.liveCount} allocation(s), ${s.usedBytes} bytes used of ${world.size}; check() = ${world.check()}`);
console.log(`  scratch per frame: ${scratchBytes} bytes used, reset in O(1) at each frame end`);
console.log(`  frame time after ${WARM} warm-up frames: median ${q(0.5).toFixed(3)} ms, p99 ${q(0.99).toFixed(3)} ms, max ${q(1).toFixed(3)} ms (first frame ${frameMs[0]!.toFixed(3)} ms)`);
console.log(`  rollback ring: ${ring.size} frames held in ${ring.storedBytes} bytes; save median ${median(saveMs).toFixed(3)} ms`);
console.log(`  ${rewound}`);
console.log(`  ${restored}`);
console.log(`  replay: ${replay.ticks} frames, ${replay.keyframes.length} keyframes, ${replay.fileBytes} bytes; recording median ${median(recordMs).toFixed(3)} ms per frame`);
console.log(`  ${seekLine}`);
console.log(`  ${verifyLine}`);
console.log(`  ${flakyLine}`);
console.log(`  checksum ${hash.toString(16).padStart(8, "0")}, heap checksum ${world.checksum().toString(16)} (same arguments, same checksums)`);
rmSync(dir, { recursive: true, force: true });
