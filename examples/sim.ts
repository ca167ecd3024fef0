/**
 * examples/sim.ts - the demo's simulation as a replayable step function.
 *
 * Entities live in a PrivateHeap as C-layout structs; every tick sorts them
 * into a spatial grid built in FrameArena scratch (gone at the end of the
 * tick, no garbage for the GC), lets nearby enemies hit each other, and
 * respawns the fallen. All state (entities, the random generator, totals)
 * is in the heap and found through named roots, so a snapshot or a replay
 * keyframe is the whole game, and `step` is a function of (heap, input,
 * tick) alone: `privheap replay verify FILE --step examples/sim.ts` works.
 * Its cursors are the heap's StepContext's: the live world's heap and the
 * heaps a seek or verify steps each get their own.
 *
 * Input of a tick: [team, boost]: entities of `team` (0 or 1; 2 = none)
 * move `boost` percent faster this tick.
 */
import { FrameArena, PrivateHeap, StepContext, struct, type StepFn } from "privheap";

export const WORLD = 1000;
const CELL = 25;
const GRID = WORLD / CELL;
const RADIUS2 = 6 * 6;

export const Vec2 = struct({ x: "f32", y: "f32" });
export const Entity = struct({ pos: Vec2, vel: Vec2, hp: "i32", team: "u8", kills: "u16", hits: "u32" });
const FrameStats = struct({ alive: ["u32", 2], hits: "u32", respawns: "u32" });
/** Game state other than the entities. */
export const Game = struct({ rng: "u32", count: "u32", hits: "f64", respawns: "f64" });

/** What the last `step` did (a report for the caller, not state). */
export const report = { hits: 0, respawns: 0, alive: [0, 0], scratchBytes: 0, swing: 0 };

// Scratch for the grid, shared by every heap this module steps (its
// contents never outlive a tick, so it holds no state of any world).
let scratch: FrameArena | undefined;
let prevStatsOff = 0;

/** The cursors a tick uses, the heap's own; `game` positioned at the game's root. */
function cursorsOf(ctx: StepContext) {
  return { game: ctx.cursor(Game).at(ctx.heap.getRoot("game")), e: ctx.cursor(Entity), other: ctx.cursor(Entity, "other") };
}

/** Deterministic randomness: xorshift32, its state in the heap. */
function rand(game: { rng: number }): number {
  let r = game.rng;
  r ^= r << 13;
  r ^= r >>> 17;
  r ^= r << 5;
  game.rng = r >>> 0;
  return (r >>> 0) / 4294967296;
}

function spawn(c: ReturnType<typeof cursorsOf>, base: number, i: number): void {
  const e = c.e.index(base, i);
  e.pos.x = rand(c.game) * WORLD;
  e.pos.y = rand(c.game) * WORLD;
  e.vel.x = (rand(c.game) - 0.5) * 8;
  e.vel.y = (rand(c.game) - 0.5) * 8;
  e.hp = 100;
}

/** Put a new world of `count` entities in `heap` (roots "game" and "entities"). */
export function createWorld(heap: PrivateHeap, count: number, seed = 0x2545f491): void {
  heap.setRoot("game", Game.alloc(heap));
  heap.setRoot("entities", Entity.alloc(heap, count));
  const c = cursorsOf(StepContext.of(heap));
  c.game.rng = seed;
  c.game.count = count;
  const base = heap.getRoot("entities");
  for (let i = 0; i < count; i++) {
    spawn(c, base, i);
    c.e.index(base, i).team = i & 1;
  }
}

/** The driver's input for tick t: a boost for one team now and then. */
export function inputFor(t: number): Uint8Array {
  const x = Math.imul(t + 1, 0x9e3779b1) >>> 0;
  return x % 5 === 0 ? Uint8Array.of((x >>> 8) & 1, 10 + ((x >>> 16) % 40)) : Uint8Array.of(2, 0);
}

/** One tick. */
export const step: StepFn = (heap, input, tick, ctx = StepContext.of(heap)) => {
  scratch ??= FrameArena.create({ size: 8 << 20, buffers: 2 });
  const c = cursorsOf(ctx);
  const { e, other, game } = c;
  const n = game.count;
  const base = heap.getRoot("entities");
  scratch.beginFrame();
  const u32 = scratch.u32;
  const f32 = heap.f32;
  const boostTeam = input[0] ?? 2;
  const boost = 1 + (input[1] ?? 0) / 100;

  // 1. Move, bouncing off the walls (plain view access on the struct's offsets).
  for (let i = 0; i < n; i++) {
    const p = (base + i * Entity.size) >>> 2; // pos.x, pos.y, vel.x, vel.y are the first four f32s
    const k = heap.u8[base + i * Entity.size + Entity.offsets.team] === boostTeam ? boost : 1;
    let x = f32[p]! + f32[p + 2]! * k;
    let y = f32[p + 1]! + f32[p + 3]! * k;
    if (x < 0 || x >= WORLD) { f32[p + 2] = -f32[p + 2]!; x = Math.min(Math.max(x, 0), WORLD - 0.001); }
    if (y < 0 || y >= WORLD) { f32[p + 3] = -f32[p + 3]!; y = Math.min(Math.max(y, 0), WORLD - 0.001); }
    f32[p] = x;
    f32[p + 1] = y;
  }

  // 2. Counting sort into grid cells, in frame scratch.
  const cellOf = scratch.alloc(n * 4) >>> 2;
  const start = scratch.allocZeroed((GRID * GRID + 1) * 4) >>> 2;
  const order = scratch.alloc(n * 4) >>> 2;
  for (let i = 0; i < n; i++) {
    const p = (base + i * Entity.size) >>> 2;
    const cell = Math.floor(f32[p]! / CELL) * GRID + Math.floor(f32[p + 1]! / CELL);
    u32[cellOf + i] = cell;
    u32[start + cell + 1]!++;
  }
  for (let cell = 0; cell < GRID * GRID; cell++) u32[start + cell + 1]! += u32[start + cell]!;
  const fillAt = scratch.alloc(GRID * GRID * 4) >>> 2;
  u32.copyWithin(fillAt, start, start + GRID * GRID);
  for (let i = 0; i < n; i++) u32[order + u32[fillAt + u32[cellOf + i]!]!++] = i;

  // 3. Enemies in the same cell within reach hit each other.
  const stats = FrameStats.cursor(scratch, FrameStats.alloc(scratch));
  for (let cell = 0; cell < GRID * GRID; cell++) {
    const from = u32[start + cell]!;
    const to = u32[start + cell + 1]!;
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
  for (let i = 0; i < n; i++) {
    e.index(base, i);
    if (e.hp <= 0) {
      spawn(c, base, i);
      stats.respawns++;
    }
    stats.alive.set(e.team, stats.alive.get(e.team) + 1);
  }

  // 5. Report, comparing with the previous tick's stats, still readable in
  // the other scratch heap (a report only: nothing in the world reads it).
  const prev = scratch.previous;
  report.swing = tick > 0 && prev !== undefined ? Math.abs(stats.hits - prev.u32[(prevStatsOff + FrameStats.offsets.hits) >>> 2]!) : 0;
  prevStatsOff = stats.offset;
  report.hits = stats.hits;
  report.respawns = stats.respawns;
  report.alive = [stats.alive.get(0), stats.alive.get(1)];
  report.scratchBytes = scratch.heap.usedBytes;
  game.hits += stats.hits;
  game.respawns += stats.respawns;
  scratch.endFrame();
};
