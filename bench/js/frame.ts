/**
 * bench/js/frame.ts - a game-style frame loop: 10 000 scratch allocations
 * of 64 bytes (16 floats) per frame, 600 frames, written and read back.
 *
 * Usage: bun bench/js/frame.ts [frames] [allocationsPerFrame]
 *
 * Variants, measured in the same run, each after 60 warm-up frames:
 *   FrameArena           arena.alloc(64) per allocation, endFrame() per frame
 *   new Float32Array(16) what JS game code does today (garbage per allocation)
 *   JS bump              a pure-JS bump pointer over one ArrayBuffer (the floor)
 *   heap.malloc          PrivateHeap.malloc per allocation + reset() per frame
 * Each allocation writes 4 floats and reads one back into a checksum, so no
 * variant can skip its work. Reports median, p99 and max frame time.
 * Targets: FrameArena p99 <= 0.5x new Float32Array; median <= 2x JS bump.
 *
 * Then the small-allocation fast path alone: frames of 4000 alloc(16), which
 * fit the first chunk (one refill per frame), summing the offsets; the same
 * with the JS bump pointer. Reports ns per alloc (median frame / 4000).
 *
 * Last, what zeroing pages as they re-enter the used prefix costs (the
 * default, zeroReentry; FrameArena's heaps go without): heap.malloc + reset
 * as above, and a frame that takes a 256 KiB block at the top, writes 64
 * bytes of it and frees it (the high-water mark rises and falls every
 * frame), each with and without, as ratios.
 */
import { FrameArena } from "../../src/frame-arena.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { printHeader, summarize, table, verdict, type Summary } from "./common.ts";

const FRAMES = Number(process.argv[2] ?? 600);
const PER_FRAME = Number(process.argv[3] ?? 10_000);
const WARMUP = 60;
printHeader(`frame loop: ${PER_FRAME} scratch allocations of 64 B per frame, ${FRAMES} frames`);

type Frame = (frame: number) => number;

function run(name: string, frame: Frame): Summary & { name: string; checksum: number } {
  let checksum = 0;
  for (let f = 0; f < WARMUP; f++) checksum += frame(f);
  const times: number[] = [];
  for (let f = 0; f < FRAMES; f++) {
    const t0 = Bun.nanoseconds();
    checksum += frame(f);
    times.push((Bun.nanoseconds() - t0) / 1e6);
  }
  return { name, checksum, ...summarize(times) };
}

// FrameArena.
const arena = FrameArena.create({ size: 64 << 20 });
const arenaFrame: Frame = (f) => {
  arena.beginFrame();
  const f32 = arena.f32;
  let sum = 0;
  for (let i = 0; i < PER_FRAME; i++) {
    const at = arena.alloc(64) >>> 2;
    f32[at] = i;
    f32[at + 1] = f;
    f32[at + 2] = 1;
    f32[at + 3] = 2;
    sum += f32[at]!;
  }
  arena.endFrame();
  return sum;
};

// new Float32Array(16) per allocation.
const typedFrame: Frame = (f) => {
  let sum = 0;
  for (let i = 0; i < PER_FRAME; i++) {
    const a = new Float32Array(16);
    a[0] = i;
    a[1] = f;
    a[2] = 1;
    a[3] = 2;
    sum += a[0]!;
  }
  return sum;
};

// Pure-JS bump allocator over one buffer (state in object fields, like the
// arena's; a module-level `let` cursor would be slower and flatter the arena).
class Bump {
  top = 0;
  readonly cap: number;
  readonly f32: Float32Array;
  constructor(bytes: number) {
    this.cap = bytes;
    this.f32 = new Float32Array(new ArrayBuffer(bytes));
  }
  alloc(size: number): number {
    const off = this.top;
    const next = off + ((size + 15) & ~15);
    if (next > this.cap) throw new Error("bump buffer full");
    this.top = next;
    return off;
  }
}
const bump = new Bump(64 << 20);
const bumpFrame: Frame = (f) => {
  bump.top = 0;
  const f32 = bump.f32;
  let sum = 0;
  for (let i = 0; i < PER_FRAME; i++) {
    const at = bump.alloc(64) >>> 2;
    f32[at] = i;
    f32[at + 1] = f;
    f32[at + 2] = 1;
    f32[at + 3] = 2;
    sum += f32[at]!;
  }
  return sum;
};

// PrivateHeap.malloc per allocation, reset per frame.
const heap = PrivateHeap.create({ size: 64 << 20 });
const heapFrame: Frame = (f) => {
  const f32 = heap.f32;
  let sum = 0;
  for (let i = 0; i < PER_FRAME; i++) {
    const at = heap.malloc(64) >>> 2;
    f32[at] = i;
    f32[at + 1] = f;
    f32[at + 2] = 1;
    f32[at + 3] = 2;
    sum += f32[at]!;
  }
  heap.reset();
  return sum;
};

const results = [run("FrameArena", arenaFrame), run("new Float32Array(16)", typedFrame), run("JS bump", bumpFrame), run("heap.malloc + reset", heapFrame)];
const sums = new Set(results.map((r) => r.checksum));
if (sums.size !== 1) throw new Error(`variants disagree on the checksum: ${[...sums].join(", ")}`);

const [fa, typed, jsBump] = results as [(typeof results)[0], (typeof results)[0], (typeof results)[0]];
const ms = (x: number) => x.toFixed(3);
table(
  ["variant", "median ms", "p99 ms", "max ms", "mean ms", "ns/alloc (median)", "median vs bump", "p99 vs Float32Array"],
  results.map((r) => [r.name, ms(r.median), ms(r.p99), ms(r.max), ms(r.mean), ((r.median * 1e6) / PER_FRAME).toFixed(2), `${(r.median / jsBump.median).toFixed(2)}x`, `${(r.p99 / typed.p99).toFixed(2)}x`]),
);
console.log("");
console.log(`FrameArena p99 vs new Float32Array p99: ${verdict(fa.p99 / typed.p99, 0.5)}`);
console.log(`FrameArena median vs JS bump median:    ${verdict(fa.median / jsBump.median, 2)}`);

// The fast path alone: no writes, one chunk per frame.
const FAST = 4000;
const arenaFast: Frame = () => {
  arena.beginFrame();
  const first = arena.alloc(16);
  let sum = 0;
  for (let i = 1; i < FAST; i++) sum += arena.alloc(16) - first;
  arena.endFrame();
  return sum;
};
const bumpFast: Frame = () => {
  bump.top = 0;
  const first = bump.alloc(16);
  let sum = 0;
  for (let i = 1; i < FAST; i++) sum += bump.alloc(16) - first;
  return sum;
};
const fast = [run("FrameArena alloc(16)", arenaFast), run("JS bump alloc(16)", bumpFast)];
if (fast[0]!.checksum !== fast[1]!.checksum) throw new Error(`fast-path variants disagree: ${fast[0]!.checksum} vs ${fast[1]!.checksum}`);
console.log("");
table(
  ["fast path", "median ms", "p99 ms", "ns/alloc (median)", "median vs bump"],
  fast.map((r) => [r.name, ms(r.median), ms(r.p99), ((r.median * 1e6) / FAST).toFixed(2), `${(r.median / fast[1]!.median).toFixed(2)}x`]),
);

// Pages re-entering the used prefix: zeroed (the default) or not.
const BLOCK = 256 * 1024;
const keep = PrivateHeap.create({ size: 64 << 20, zeroReentry: false });
const resetFrame = (h: PrivateHeap): Frame => () => {
  const f32 = h.f32;
  let sum = 0;
  for (let i = 0; i < PER_FRAME; i++) {
    const at = h.malloc(64) >>> 2;
    f32[at] = i;
    sum += f32[at]!;
  }
  h.reset();
  return sum;
};
const topFrame = (h: PrivateHeap): Frame => (f) => {
  const off = h.malloc(BLOCK);
  h.f64.fill(f, off >>> 3, (off >>> 3) + 8);
  const sum = h.f64[off >>> 3]!;
  h.free(off);
  return sum;
};
const reentry = [
  run("malloc + reset, zeroed", resetFrame(heap)),
  run("malloc + reset, kept", resetFrame(keep)),
  run("256 KiB at the top, zeroed", topFrame(heap)),
  run("256 KiB at the top, kept", topFrame(keep)),
];
console.log("");
table(
  ["re-entering pages", "median ms", "p99 ms", "zeroed vs kept (median)"],
  reentry.map((r, i) => [r.name, ms(r.median), ms(r.p99), i % 2 === 0 ? `${(r.median / reentry[i + 1]!.median).toFixed(2)}x` : ""]),
);
arena.close();
heap.close();
keep.close();
