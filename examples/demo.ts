/**
 * examples/demo.ts - a small deterministic simulation on privheap.
 *
 * Usage: bun run examples/demo.ts [entities] [frames]     (or: npm run demo)
 *
 * Entities live in a PrivateHeap as C-layout structs; every frame sorts them
 * into a spatial grid built in FrameArena scratch (gone at the end of the
 * frame, no garbage for the GC), lets nearby enemies hit each other, and
 * respawns the fallen. The arena is double-buffered, so each frame reads the
 * previous frame's per-team stats straight from the previous scratch heap.
 * All simulation state (entities, the random generator, the totals) lives in
 * the world heap, so a snapshot is the whole game: the demo saves every
 * frame in a SnapshotRing, rewinds 8 frames halfway and simulates them again
 * (same checksums), and at the end saves a snapshot, plays on, and restores.
 * The same arguments give the same final checksum on every run.
 */
import { FrameArena, PrivateHeap, SnapshotRing, struct } from "../src/index.ts";

const N = Number(process.argv[2] ?? 4000);
const FRAMES = Number(process.argv[3] ?? 300);
const WORLD = 1000;
const CELL = 25;
const GRID = WORLD / CELL;
const RADIUS2 = 6 * 6;

const Vec2 = struct({ x: "f32", y: "f32" });
const Entity = struct({ pos: Vec2, vel: Vec2, hp: "i32", team: "u8", kills: "u16", hits: "u32" });
const FrameStats = struct({ alive: ["u32", 2], hits: "u32", respawns: "u32" });
// Game state other than the entities, in the heap too, so snapshots hold it.
const Game = struct({ rng: "u32", hits: "f64", respawns: "f64" });

using world = PrivateHeap.create({ size: 16 << 20 });
using scratch = FrameArena.create({ size: 8 << 20, buffers: 2 });
const game = Game.cursor(world, Game.alloc(world));
world.setRoot("game", game.offset);
game.rng = 0x2545f491;

// Deterministic randomness: xorshift32, its state in the heap.
function rand(): number {
  let r = game.rng;
  r ^= r << 13;
  r ^= r >>> 17;
  r ^= r << 5;
  game.rng = r >>> 0;
  return (r >>> 0) / 4294967296;
}

const base = Entity.alloc(world, N);
world.setRoot("entities", base);
const e = Entity.cursor(world);
function spawn(i: number): void {
  e.index(base, i);
  e.pos.x = rand() * WORLD;
  e.pos.y = rand() * WORLD;
  e.vel.x = (rand() - 0.5) * 8;
  e.vel.y = (rand() - 0.5) * 8;
  e.hp = 100;
}
for (let i = 0; i < N; i++) {
  spawn(i);
  e.team = i & 1;
}

let prevStatsOff = 0;
let scratchBytes = 0;
let maxSwing = 0;
const other = Entity.cursor(world);
const stats = FrameStats.cursor(scratch);

function step(frame: number): void {
  scratch.beginFrame();
  const u32 = scratch.u32;
  const f32 = world.f32;

  // 1. Move, bouncing off the walls (plain view access on the struct's offsets).
  for (let i = 0; i < N; i++) {
    const p = (base + i * Entity.size) >>> 2; // pos.x, pos.y, vel.x, vel.y are the first four f32s
    let x = f32[p]! + f32[p + 2]!;
    let y = f32[p + 1]! + f32[p + 3]!;
    if (x < 0 || x >= WORLD) { f32[p + 2] = -f32[p + 2]!; x = Math.min(Math.max(x, 0), WORLD - 0.001); }
    if (y < 0 || y >= WORLD) { f32[p + 3] = -f32[p + 3]!; y = Math.min(Math.max(y, 0), WORLD - 0.001); }
    f32[p] = x;
    f32[p + 1] = y;
  }

  // 2. Counting sort into grid cells, in frame scratch.
  const cellOf = scratch.alloc(N * 4) >>> 2;
  const start = scratch.allocZeroed((GRID * GRID + 1) * 4) >>> 2;
  const order = scratch.alloc(N * 4) >>> 2;
  for (let i = 0; i < N; i++) {
    const p = (base + i * Entity.size) >>> 2;
    const c = Math.floor(f32[p]! / CELL) * GRID + Math.floor(f32[p + 1]! / CELL);
    u32[cellOf + i] = c;
    u32[start + c + 1]!++;
  }
  for (let c = 0; c < GRID * GRID; c++) u32[start + c + 1]! += u32[start + c]!;
  const fillAt = scratch.alloc(GRID * GRID * 4) >>> 2;
  u32.copyWithin(fillAt, start, start + GRID * GRID);
  for (let i = 0; i < N; i++) u32[order + u32[fillAt + u32[cellOf + i]!]!++] = i;

  // 3. Enemies in the same cell within reach hit each other.
  stats.at(FrameStats.alloc(scratch));
  for (let c = 0; c < GRID * GRID; c++) {
    const from = u32[start + c]!;
    const to = u32[start + c + 1]!;
    for (let a = from; a < to; a++) {
      e.index(base, u32[order + a]!);
      for (let b = a + 1; b < to; b++) {
        other.index(base, u32[order + b]!);
        if (e.team === other.team) continue;
        const dx = e.pos.x - other.pos.x;
        const dy = e.pos.y - other.pos.y;
        if (dx * dx + dy * dy > RADIUS2) continue;
        e.hp -= 7;
        other.hp -= 7;
        e.hits++;
        other.hits++;
        stats.hits += 2;
      }
    }
  }

  // 4. Respawn the fallen; count the living per team.
  for (let i = 0; i < N; i++) {
    e.index(base, i);
    if (e.hp <= 0) {
      spawn(i);
      stats.respawns++;
    }
    stats.alive.set(e.team, stats.alive.get(e.team) + 1);
  }

  // 5. Compare with the previous frame's stats, still readable in the other scratch heap.
  if (frame > 0) {
    const prev = scratch.previous!.u32;
    const prevHits = prev[(prevStatsOff + FrameStats.offsets.hits) >>> 2]!;
    maxSwing = Math.max(maxSwing, Math.abs(stats.hits - prevHits)); // a report, not state: kept outside the world
  }
  prevStatsOff = stats.offset;
  game.hits += stats.hits;
  game.respawns += stats.respawns;
  scratchBytes = scratch.heap.usedBytes;
  scratch.endFrame();
}

// Play, saving every frame for rollback; halfway, rewind 8 frames and play
// them again: the state must come out the same, frame by frame.
const ring = new SnapshotRing(world, { capacity: 16 });
const checksums: bigint[] = [];
const frameMs: number[] = [];
const saveMs: number[] = [];
let rewound = "";
for (let frame = 0; frame < FRAMES; frame++) {
  const t0 = Bun.nanoseconds();
  step(frame);
  const t1 = Bun.nanoseconds();
  ring.save(frame);
  saveMs.push((Bun.nanoseconds() - t1) / 1e6);
  frameMs.push((t1 - t0) / 1e6);
  checksums[frame] = world.checksum();
  if (frame === Math.floor(FRAMES / 2) && frame >= 8) {
    const t2 = Bun.nanoseconds();
    ring.load(frame - 8);
    const loadMs = (Bun.nanoseconds() - t2) / 1e6;
    let same = world.checksum() === checksums[frame - 8];
    for (let f = frame - 7; f <= frame; f++) {
      step(f); // the previous frame's scratch differs now, but nothing in the world depends on it
      ring.save(f);
      same &&= world.checksum() === checksums[f];
    }
    rewound = `rewound from frame ${frame} to ${frame - 8} (load ${loadMs.toFixed(3)} ms) and played 8 frames again: checksums ${same ? "match" : "DIFFER"}`;
  }
}

// A save game: snapshot, play on, load it back.
const saved = world.snapshot();
const savedSum = world.checksum();
for (let frame = FRAMES; frame < FRAMES + 60; frame++) step(frame);
const playedOn = world.checksum();
world.restore(saved);
const restored = `snapshot of ${saved.byteLength} bytes; played 60 more frames (checksum changed: ${playedOn !== savedSum}); restored: checksum back: ${world.checksum() === savedSum}`;

// Checksum of the world's bytes (FNV-1a over the entity array).
let hash = 0x811c9dc5;
const bytes = world.u8.subarray(base, base + N * Entity.size);
for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193) >>> 0;

let hitCounters = 0;
for (let i = 0; i < N; i++) hitCounters += e.index(base, i).hits;
const totalHits = game.hits;
// The first frames include JIT compilation: report them apart.
const WARM = Math.min(10, FRAMES - 1);
const sorted = frameMs.slice(WARM).sort((a, b) => a - b);
const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
const s = world.stats();
console.log(`privheap demo: ${N} entities (${Entity.size}-byte structs), ${FRAMES} frames, ${GRID}x${GRID} grid`);
console.log(`  hits ${totalHits} (entity counters agree: ${hitCounters === totalHits}), respawns ${game.respawns}`);
console.log(`  largest frame-to-frame change in hits: ${maxSwing} (read from the previous frame's scratch)`);
console.log(`  world heap: ${s.liveCount} allocation(s), ${s.usedBytes} bytes used of ${world.size}; check() = ${world.check()}`);
console.log(`  scratch per frame: ${scratchBytes} bytes used, reset in O(1) at each frame end (generation ${scratch.generation})`);
console.log(`  frame time after ${WARM} warm-up frames: median ${q(0.5).toFixed(3)} ms, p99 ${q(0.99).toFixed(3)} ms, max ${q(1).toFixed(3)} ms (first frame ${frameMs[0]!.toFixed(3)} ms)`);
const saves = saveMs.slice(WARM).sort((a, b) => a - b);
console.log(`  rollback ring: ${ring.size} frames held in ${ring.storedBytes} bytes; save median ${saves[saves.length >> 1]!.toFixed(3)} ms`);
console.log(`  ${rewound}`);
console.log(`  ${restored}`);
console.log(`  checksum ${hash.toString(16).padStart(8, "0")}, heap checksum ${world.checksum().toString(16)} (same arguments, same checksums)`);
