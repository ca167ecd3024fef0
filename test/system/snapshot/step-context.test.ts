// StepContext: a step's per-heap cursors and scratch, one context per heap,
// handed to the step by record loops, seek, verify and a failed verify's
// re-run alike.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FrameArena } from "../../../src/frame-arena.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import { Replay, type StepFn } from "../../../src/snapshot/replay.ts";
import { StepContext } from "../../../src/snapshot/step-context.ts";
import { struct } from "../../../src/struct.ts";
import { expectCode } from "../../support/expect.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";

const MiB = 1 << 20;
const heapOf = heapsClosedAfterEach(MiB);
const dir = mkdtempSync(join(tmpdir(), "privheap-step-context-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const pathFor = () => join(dir, `r${seq++}.phreplay`);

// Debug mode: a cursor used after its heap's contents were replaced under
// it, without being positioned again, would throw instead of reading.
const Body = struct({ x: "f32", v: "f32", hits: "u32" }, { debug: true });
const COUNT = 32;
const TICKS = 40;
const EVERY = 8;

function setup(heap: PrivateHeap): void {
  heap.setRoot("bodies", Body.alloc(heap, COUNT));
}

const inputOf = (t: number) => Uint8Array.of((t * 7) % 5, t % 3);

/** What one call of a step saw. */
interface Call {
  heap: PrivateHeap;
  ctx: StepContext | undefined;
  tick: number;
}

/**
 * A step through two cursors of the context (a body and its neighbour) and
 * a FrameArena made once per heap; `calls` gets what each call saw. With
 * `flaky`, tick `flaky` adds how often it has run: a step that is not
 * deterministic there.
 */
function makeStep(calls: Call[], flaky = -1): StepFn {
  let flakyRuns = 0;
  return (heap, input, tick, ctx?: StepContext) => {
    calls.push({ heap, ctx, tick });
    const c = ctx ?? StepContext.of(heap);
    const base = heap.getRoot("bodies");
    const a = c.cursor(Body);
    const b = c.cursor(Body, "next");
    const scratch = c.get("scratch", () => FrameArena.create({ size: 1 << 16 }));
    scratch.beginFrame();
    const order = scratch.alloc(COUNT * 4) >>> 2;
    for (let i = 0; i < COUNT; i++) scratch.u32[order + i] = (i * 5 + tick) % COUNT;
    for (let k = 0; k < COUNT; k++) {
      const i = scratch.u32[order + k]!;
      a.index(base, i);
      b.index(base, (i + 1) % COUNT);
      a.v += (input[0]! - 2) * 0.25 + b.x * 0.001;
      a.x += a.v;
      if (Math.abs(a.x - b.x) < 3) b.hits += input[1]! + 1;
    }
    if (tick === flaky) a.index(base, 3).hits += ++flakyRuns;
    scratch.endFrame();
  };
}

/** Record TICKS ticks of `step` called as a live loop calls it: three arguments. */
function record(step: StepFn): { path: string; heap: PrivateHeap } {
  const path = pathFor();
  const heap = heapOf();
  setup(heap);
  using rec = Replay.record(path, heap, { keyframeEvery: EVERY });
  for (let t = 0; t < TICKS; t++) {
    step(heap, inputOf(t), t);
    rec.tick(inputOf(t));
  }
  return { path, heap };
}

/** Every call got the context of the heap it stepped, and its cursors read that heap. */
function expectOwnContexts(calls: Call[]): void {
  for (const { heap, ctx, tick } of calls) {
    expect({ tick, passed: ctx !== undefined }).toEqual({ tick, passed: true });
    expect(ctx!.heap).toBe(heap);
    expect(ctx!.cursor(Body).heap).toBe(heap);
    expect(ctx!.cursor(Body, "next").heap).toBe(heap);
  }
}

describe("one step on every heap", () => {
  test("a step through ctx.cursor gives the recorded checksums in seek and verify, each heap with its own context", () => {
    const live: Call[] = [];
    const { path, heap } = record(makeStep(live));
    expect(live.every((c) => c.ctx === undefined && c.heap === heap)).toBe(true);
    const liveContext = StepContext.of(heap);
    using replay = Replay.openSync(path);

    const seen: Call[] = [];
    const step = makeStep(seen);
    const sought = heapOf();
    for (let t = -1; t < TICKS; t++) {
      replay.seek(t, sought, step);
      if (t >= 0) expect({ t, sum: sought.checksum() }).toEqual({ t, sum: replay.checksum(t) });
    }
    const verified = heapOf();
    expect(replay.verify(verified, step).ok).toBe(true);
    expect(seen.length).toBeGreaterThan(TICKS);
    expectOwnContexts(seen);
    expect(new Set(seen.map((c) => c.ctx))).toEqual(new Set([StepContext.of(sought), StepContext.of(verified)]));
    expect(StepContext.of(sought).cursor(Body)).not.toBe(liveContext.cursor(Body));
    // Seeking the recording heap itself steps it with the live loop's context.
    const onLive: Call[] = [];
    replay.seek(38, heap, makeStep(onLive));
    expect(onLive.map((c) => c.tick)).toEqual([32, 33, 34, 35, 36, 37, 38]); // keyframe after 31, then up to 38
    expect(onLive.every((c) => c.ctx === liveContext)).toBe(true);
    expect(heap.checksum()).toBe(replay.checksum(38));
  });

  test("a failed verify re-runs the tick in a heap of its own, with a context of its own, closed after", () => {
    const flaky = 13; // no keyframe after it: the diff comes from a re-run
    const { path } = record(makeStep([]));
    using replay = Replay.openSync(path);
    expect(replay.keyframes).not.toContain(flaky);
    const seen: Call[] = [];
    const heap = heapOf();
    const v = replay.verify(heap, makeStep(seen, flaky));
    expect({ ok: v.ok, tick: v.firstDivergentTick, against: v.diffAgainst }).toEqual({ ok: false, tick: flaky, against: "rerun" });
    expect(v.diff!.equal).toBe(false);
    const heaps = [...new Set(seen.map((c) => c.heap))];
    expect(heaps.length).toBe(2);
    const rerun = seen.filter((c) => c.heap !== heap);
    expect(rerun.map((c) => c.tick)).toEqual([8, 9, 10, 11, 12, 13]); // keyframe after 7, then up to the tick
    for (const { ctx } of rerun) expect(ctx!.heap).toBe(rerun[0]!.heap);
    const again = rerun[0]!.ctx!;
    expect(again.closed).toBe(true);
    expect(rerun[0]!.heap.closed).toBe(true);
    expectOwnContexts(seen.filter((c) => c.heap === heap));
    // What the re-run's context made is disposed with it; the verified heap's stays.
    expect(StepContext.of(heap).get<FrameArena | null>("scratch", () => null)?.closed).toBe(false);
    expectCode(() => again.get("scratch", () => null), "ECLOSED");
  });

  test("the re-run heap's scratch arena is closed with its context", () => {
    const arenas: FrameArena[] = [];
    const base = makeStep([], 13);
    const step: StepFn = (heap, input, tick, ctx) => {
      base(heap, input, tick, ctx);
      const arena = ctx!.get<FrameArena | null>("scratch", () => null)!;
      if (!arenas.includes(arena)) arenas.push(arena);
    };
    const { path } = record(makeStep([]));
    using replay = Replay.openSync(path);
    expect(replay.verify(heapOf(), step).diffAgainst).toBe("rerun");
    expect(arenas.map((a) => a.closed)).toEqual([false, true]);
  });

  test("a three-argument step still works in seek and verify", () => {
    const plain: StepFn = (heap, input, tick) => {
      const at = heap.getRoot("bodies");
      heap.f32[at >>> 2] = heap.f32[at >>> 2]! * 0.5 + input[0]! + tick;
    };
    expect(plain.length).toBe(3);
    const { path } = record(plain);
    using replay = Replay.openSync(path);
    const heap = heapOf();
    replay.seek(TICKS - 1, heap, plain);
    expect(heap.checksum()).toBe(replay.checksum(TICKS - 1));
    expect(replay.verify(heapOf(), plain).ok).toBe(true);
  });
});

describe("StepContext", () => {
  test("one context per heap: the same objects on the same heap, others on another", () => {
    const a = heapOf();
    const b = heapOf();
    const ca = StepContext.of(a);
    expect(StepContext.of(a)).toBe(ca);
    expect(StepContext.of(b)).not.toBe(ca);
    expect(ca.heap).toBe(a);
    expect(ca.cursor(Body)).toBe(ca.cursor(Body));
    expect(ca.cursor(Body, "next")).not.toBe(ca.cursor(Body));
    expect(ca.cursor(Body, "next")).toBe(ca.cursor(Body, "next"));
    expect(StepContext.of(b).cursor(Body)).not.toBe(ca.cursor(Body));
    expect(StepContext.of(b).cursor(Body).heap).toBe(b);
    const made: PrivateHeap[] = [];
    const make = (h: PrivateHeap) => {
      made.push(h);
      return { n: made.length };
    };
    const first = ca.get("thing", make);
    expect(ca.get("thing", make)).toBe(first);
    expect(StepContext.of(b).get("thing", make)).not.toBe(first);
    expect(made).toEqual([a, b]);
    // A key stored with an undefined value is still made once.
    let undefinedMade = 0;
    ca.get("nothing", () => void undefinedMade++);
    ca.get("nothing", () => void undefinedMade++);
    expect(undefinedMade).toBe(1);
  });

  test("a cached cursor reads a restored heap once positioned again", () => {
    const heap = heapOf();
    setup(heap);
    const base = heap.getRoot("bodies");
    const ctx = StepContext.of(heap);
    ctx.cursor(Body).index(base, 5).hits = 11;
    const snap = heap.snapshot();
    heap.reset(); // a new generation: the debug cursor's allocation is gone
    expectCode(() => ctx.cursor(Body).hits, "ESTALE");
    heap.restore(snap);
    expect(ctx.cursor(Body).index(heap.getRoot("bodies"), 5).hits).toBe(11);
  });

  test("close disposes what get made, newest first, and the next of() is a new context", () => {
    const heap = heapOf();
    const ctx = StepContext.of(heap);
    const order: string[] = [];
    const disposable = (name: string) => ({ [Symbol.dispose]: () => void order.push(name) });
    ctx.get("a", () => disposable("a"));
    ctx.get("plain", () => 42);
    ctx.get("b", () => disposable("b"));
    ctx.cursor(Body);
    ctx.close();
    expect(order).toEqual(["b", "a"]);
    expect(ctx.closed).toBe(true);
    ctx.close(); // idempotent
    expect(order).toEqual(["b", "a"]);
    expectCode(() => ctx.get("a", () => 1), "ECLOSED");
    expectCode(() => ctx.cursor(Body), "ECLOSED");
    const next = StepContext.of(heap);
    expect(next).not.toBe(ctx);
    expect(next.get("a", () => 7)).toBe(7);
  });

  test("a dispose that throws does not stop the others; the first error is thrown", () => {
    const ctx = StepContext.of(heapOf());
    const order: string[] = [];
    ctx.get("a", () => ({ [Symbol.dispose]: () => void order.push("a") }));
    ctx.get("bad1", () => ({ [Symbol.dispose]: () => { order.push("bad1"); throw new Error("first made"); } }));
    ctx.get("bad2", () => ({ [Symbol.dispose]: () => { order.push("bad2"); throw new Error("last made"); } }));
    expect(() => ctx.close()).toThrow("last made");
    expect(order).toEqual(["bad2", "bad1", "a"]);
    expect(ctx.closed).toBe(true);
  });

  test("bad arguments and closed heaps", () => {
    expectCode(() => StepContext.of({} as PrivateHeap), "EINVAL");
    const heap = heapOf();
    const ctx = StepContext.of(heap);
    expectCode(() => ctx.get("x", 5 as unknown as () => number), "EINVAL");
    expect(ctx.get("x", () => 1)).toBe(1); // nothing kept by the failed call
    expectCode(() => ctx.cursor({} as typeof Body), "EINVAL");
    expect(ctx.cursor(Body).heap).toBe(heap); // nor by that one
    heap.close();
    expectCode(() => StepContext.of(heap), "ECLOSED");
    expectCode(() => ctx.cursor(Body), "ECLOSED");
    expectCode(() => ctx.get("x", () => 1), "ECLOSED");
  });

  test("a context does not keep its heap alive", () => {
    /** A closed heap with a context full of cursors and objects, referenced only weakly. */
    function contextOfDroppedHeap(): WeakRef<PrivateHeap> {
      const heap = PrivateHeap.create({ size: MiB });
      const ctx = StepContext.of(heap);
      ctx.cursor(Body);
      ctx.cursor(Body, "next");
      ctx.get("holds the heap", (h) => ({ h }));
      heap.close();
      return new WeakRef(heap);
    }
    const refs = Array.from({ length: 16 }, contextOfDroppedHeap);
    for (let i = 0; i < 4; i++) Bun.gc(true);
    // A conservative stack scan may keep one; a context keeping heaps keeps them all.
    expect(refs.filter((r) => r.deref() !== undefined).length).toBeLessThanOrEqual(1);
  });
});
