/**
 * bench/js/struct.ts - struct access against raw typed-array access: one
 * "move" step (pos += vel) over 10 000 entities
 * `Entity { pos: Vec3, vel: Vec3, hp: u32 }` with `Vec3 { x, y, z: f64 }`.
 *
 * Usage: bun bench/js/struct.ts [steps] [entities]
 *
 * Variants, each timed per step (median and p99 over `steps` steps after a
 * warm-up), all in the same run:
 *   raw f64 view      heap.f64 with hand-computed indices (the baseline)
 *   flat cursor       a layout with fields px py pz vx vy vz hp, c.index(base, i)
 *   nested cursor     the README's pattern: e.index(base, i); e.pos.x += e.vel.x
 *   nested each       Entity.each(heap, base, n, (e) => { e.pos.x += e.vel.x ... })
 *   strided columns   Entity.strided(heap, base, "pos.x") etc.: view[start + i * stride]
 * Every variant runs twice: first in a fresh process (only the two benchmark
 * layouts exist), then after LAYOUTS other layouts have been made and driven
 * through the same cursor paths (cursor, at, index, scalar, nested and array
 * fields, each), so code the layouts share sees many shapes (megamorphism).
 * The second phase compiles its step functions anew (see compiledAnew) and
 * adds a row for the first phase's nested step function given a new cursor.
 * Ratios: each variant timed alternately with the raw view, step for step
 * (medians of both), so load on the machine hits both alike.
 * Target: flat and nested cursors at most 1.5x raw, after the other layouts
 * (the strided columns are printed against the same target).
 *
 * Then debug mode against release: the flat cursor, the nested cursor and
 * nested each, with layouts made with `{ debug: true }` (made only after the
 * two phases above, so those phases do not see them) and their release
 * twins, timed step for step alternately. Target: debug at most 3x release.
 */
import { PrivateHeap } from "../../src/heap.ts";
import { struct, type StructCursor, type StructLayout } from "../../src/struct.ts";
import { printHeader, summarize, table, verdict } from "./common.ts";

const STEPS = Number(process.argv[2] ?? 2000);
const N = Number(process.argv[3] ?? 10_000);
const WARMUP = 300;
const LAYOUTS = 12;
printHeader(`struct access: move step (pos += vel) over ${N} entities, ${STEPS} steps per variant`);

const heap = PrivateHeap.create({ size: 64 << 20 });
const Vec3 = struct({ x: "f64", y: "f64", z: "f64" });
const Entity = struct({ pos: Vec3, vel: Vec3, hp: "u32" });
const FLAT_SPEC = { px: "f64", py: "f64", pz: "f64", vx: "f64", vy: "f64", vz: "f64", hp: "u32" } as const;
const Flat = struct(FLAT_SPEC);
if (Flat.size !== Entity.size || Flat.offsets.vx !== Entity.offsets.vel) throw new Error("Flat and Entity must share the layout");

const base = Entity.alloc(heap, N);
function seed(): void {
  const e = Entity.cursor(heap);
  for (let i = 0; i < N; i++) {
    e.index(base, i);
    e.pos.x = i;
    e.pos.y = -i;
    e.pos.z = 0;
    e.vel.x = 1;
    e.vel.y = 0.5;
    e.vel.z = 0.25;
    e.hp = 100;
  }
}

/** Sum of all positions: the same for every variant after the same number of steps. */
function positionSum(): number {
  const f64 = heap.f64;
  let s = 0;
  for (let i = 0; i < N; i++) {
    const at = (base + i * Entity.size) >>> 3;
    s += f64[at]! + f64[at + 1]! + f64[at + 2]!;
  }
  return s;
}

type Step = () => void;

function rawStep(): Step {
  const f64 = heap.f64;
  const stride = Entity.size >>> 3;
  const first = base >>> 3;
  return () => {
    for (let i = 0, at = first; i < N; i++, at += stride) {
      f64[at] = f64[at]! + f64[at + 3]!;
      f64[at + 1] = f64[at + 1]! + f64[at + 4]!;
      f64[at + 2] = f64[at + 2]! + f64[at + 5]!;
    }
  };
}

function flatStep(): Step {
  const c = Flat.cursor(heap);
  return () => {
    for (let i = 0; i < N; i++) {
      c.index(base, i);
      c.px += c.vx;
      c.py += c.vy;
      c.pz += c.vz;
    }
  };
}

function nestedStep(): Step {
  const e = Entity.cursor(heap);
  return () => {
    for (let i = 0; i < N; i++) {
      e.index(base, i);
      e.pos.x += e.vel.x;
      e.pos.y += e.vel.y;
      e.pos.z += e.vel.z;
    }
  };
}

function eachStep(): Step {
  const move = (e: StructCursor<typeof Entity extends StructLayout<infer F> ? F : never>) => {
    e.pos.x += e.vel.x;
    e.pos.y += e.vel.y;
    e.pos.z += e.vel.z;
  };
  return () => Entity.each(heap, base, N, move);
}

function stridedStep(): Step {
  const px = Entity.strided(heap, base, "pos.x");
  const vx = Entity.strided(heap, base, "vel.x");
  const f64 = px.view;
  const stride = px.stride;
  const d = vx.start - px.start;
  return () => {
    for (let i = 0, at = px.start; i < N; i++, at += stride) {
      f64[at] = f64[at]! + f64[at + d]!;
      f64[at + 1] = f64[at + 1]! + f64[at + d + 1]!;
      f64[at + 2] = f64[at + 2]! + f64[at + d + 2]!;
    }
  };
}

/** Make `LAYOUTS` other layouts and drive each through the cursor paths the benchmark uses. */
function exerciseOtherLayouts(): number {
  let sink = 0;
  const kinds = ["f64", "f32", "u32", "i32", "u16", "i16", "u8", "i8"] as const;
  for (let k = 0; k < LAYOUTS; k++) {
    const t = kinds[k % kinds.length]!;
    const Inner = struct({ [`a${k}`]: t, b: "f64", c: t });
    const Other = struct({ [`f${k}`]: t, inner: Inner, arr: [t, 3], tail: "u32", more: Inner });
    const count = 256;
    const at = Other.alloc(heap, count);
    const c = Other.cursor(heap) as any;
    for (let r = 0; r < 50; r++) {
      for (let i = 0; i < count; i++) {
        c.index(at, i);
        c[`f${k}`] = i;
        c.inner.b += c.more.b + 1;
        c.arr.set(1, c.arr.get(0) + 1);
        c.tail = c.tail + 1;
        sink += c.inner.b + c.offset;
      }
      Other.each(heap, at, count, (x: any) => {
        x.more.b += 1;
        x.tail += 1;
      });
    }
    heap.free(at);
    (Other as StructLayout<any>).read(heap, base);
  }
  return sink;
}

interface Row {
  name: string;
  median: number;
  p99: number;
}

function measure(name: string, step: Step): Row {
  for (let s = 0; s < WARMUP; s++) step();
  const times: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const t0 = Bun.nanoseconds();
    step();
    times.push((Bun.nanoseconds() - t0) / 1e3);
  }
  const { median, p99 } = summarize(times);
  return { name, median, p99 };
}

/** Medians of two steps timed alternately, step for step, so load on the machine hits both alike. */
function measurePair(a: Step, b: Step): [number, number] {
  for (let s = 0; s < WARMUP; s++) {
    a();
    b();
  }
  const ta: number[] = [];
  const tb: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    let t0 = Bun.nanoseconds();
    a();
    ta.push((Bun.nanoseconds() - t0) / 1e3);
    t0 = Bun.nanoseconds();
    b();
    tb.push((Bun.nanoseconds() - t0) / 1e3);
  }
  return [summarize(ta).median, summarize(tb).median];
}

function ratioOf([a, b]: [number, number]): number {
  return b / a;
}

/**
 * A new copy of the step maker `make`, compiled from its source. A step
 * function that was optimized while it used one cursor and is then given
 * another (a second call of its maker) is re-optimized by the JIT with less
 * inlining: the second phase would measure that instead of the other
 * layouts. Each phase compiles its own; the reused case has its own row.
 */
let copies = 0;
function compiledAnew(make: () => Step, more: Record<string, unknown> = {}): () => Step {
  const values = { heap, Entity, Flat, N, base, ...more };
  // A serial in the source: the engine caches compiled code by source text, and copies must not share it.
  return new Function(...Object.keys(values), `"use strict"; // copy ${++copies}\nreturn ${make.toString()};`)(...Object.values(values));
}

function phase(title: string, anew: boolean): Map<string, number> {
  const made = (make: () => Step) => (anew ? compiledAnew(make) : make)();
  const variants: [string, Step][] = [
    ["raw f64 view", made(rawStep)],
    ["flat cursor", made(flatStep)],
    ["nested cursor", made(nestedStep)],
    ["nested each", made(eachStep)],
    ["strided columns", made(stridedStep)],
    ...(anew ? ([["nested cursor, step code reused", nestedStep()]] as [string, Step][]) : []),
  ];
  const rows: Row[] = [];
  let expected: number | undefined;
  for (const [name, step] of variants) {
    seed();
    rows.push(measure(name, step));
    // Every variant does the same work: same positions after the same number of steps.
    const sum = positionSum();
    if (expected === undefined) expected = sum;
    else if (sum !== expected) throw new Error(`${name}: position sum ${sum}, raw view gave ${expected}`);
  }
  // The ratios come from each variant timed alternately with the raw view,
  // step for step, so a change of load on the machine hits both alike.
  const raw = variants[0]![1];
  const ratios = new Map(variants.map(([name, step]) => [name, name === variants[0]![0] ? 1 : ratioOf(measurePair(raw, step))]));
  console.log(`## ${title}`);
  table(
    ["variant", "median us/step", "p99 us/step", "ns/entity", "vs raw (alternated)"],
    rows.map((r) => [r.name, r.median.toFixed(1), r.p99.toFixed(1), ((r.median * 1e3) / N).toFixed(2), `${ratios.get(r.name)!.toFixed(2)}x`]),
  );
  console.log("");
  return ratios;
}

phase("fresh process (2 layouts)", false);
const sink = exerciseOtherLayouts();
const after = phase(`after ${LAYOUTS} other layouts were made and used (sink ${sink.toFixed(0)}); step code compiled anew`, true);
console.log(`flat cursor vs raw (after other layouts):   ${verdict(after.get("flat cursor")!, 1.5)}`);
console.log(`nested cursor vs raw (after other layouts): ${verdict(after.get("nested cursor")!, 1.5)}`);
console.log(`strided columns vs raw (after other layouts): ${verdict(after.get("strided columns")!, 1.5)}`);

// Debug layouts, made only now so the phases above do not see them. Each
// debug step is the release step's code compiled anew with the debug layout
// in its place: a program runs one mode, so each loop's property accesses
// see one cursor class (one function shared by both modes would make its
// call sites polymorphic and slow both down: measured about 30x for the
// release flat cursor).
const DebugFlat = struct(FLAT_SPEC, { debug: true });
const DebugEntity = struct({ pos: Vec3, vel: Vec3, hp: "u32" }, { debug: true });

/** Debug cursors against release ones, after the other layouts; returns debug / release per access path. */
function debugPhase(): Map<string, number> {
  const pairs: [string, Step, Step][] = [
    ["flat cursor", compiledAnew(flatStep)(), compiledAnew(flatStep, { Flat: DebugFlat })()],
    ["nested cursor", compiledAnew(nestedStep)(), compiledAnew(nestedStep, { Entity: DebugEntity })()],
    ["nested each", compiledAnew(eachStep)(), compiledAnew(eachStep, { Entity: DebugEntity })()],
  ];
  const rows: string[][] = [];
  const ratios = new Map<string, number>();
  for (const [name, release, debug] of pairs) {
    // Both do the same work: the same positions after one step from the same seed.
    const sums = [release, debug].map((step) => {
      seed();
      step();
      return positionSum();
    });
    if (sums[0] !== sums[1]) throw new Error(`${name}: debug position sum ${sums[1]}, release gave ${sums[0]}`);
    const medians = measurePair(release, debug);
    const [r, d] = medians as [number, number];
    ratios.set(name, d / r);
    rows.push([name, r.toFixed(1), d.toFixed(1), `${(d / r).toFixed(2)}x`]);
  }
  console.log("## debug mode vs release (after the other layouts)");
  table(["access path", "release us/step", "debug us/step", "debug / release"], rows);
  console.log("");
  return ratios;
}
const debugRatios = debugPhase();
console.log(`flat cursor debug vs release:   ${verdict(debugRatios.get("flat cursor")!, 3)}`);
console.log(`nested cursor debug vs release: ${verdict(debugRatios.get("nested cursor")!, 3)}`);
heap.close();
