// ReplayRecorder.rewind: a recording that follows a rollback session holds
// the confirmed timeline only, byte for byte the file of a recording that
// never had the dropped ticks; a heap not put back is refused; a process
// killed right after a rewind leaves the cut recording, whole.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../../src/heap.ts";
import { Replay, type StepFn } from "../../../src/snapshot/replay.ts";
import { SnapshotRing } from "../../../src/snapshot/ring.ts";
import { SRC } from "../../support/bun.ts";
import { expectCode } from "../../support/expect.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";
import { rng } from "../../support/random.ts";
import { inputOf, setUp, step } from "../../support/replay-sim.ts";

const MiB = 1 << 20;
const heapOf = heapsClosedAfterEach(4 * MiB);
const dir = mkdtempSync(join(tmpdir(), "privheap-replay-rewind-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const pathFor = () => join(dir, `r${seq++}.phreplay`);

/**
 * The simulation with a block of more pages than a tracker compares
 * whole: each tick also stamps one page of it, so a keyframe's pages
 * come from the tracker's written pages.
 */
const BIG_PAGES = 160;
function setUpBig(heap: PrivateHeap): void {
  setUp(heap);
  heap.setRoot("big", heap.calloc(BIG_PAGES, 4096));
}
const bigStep: StepFn = (heap, input, t) => {
  step(heap, input, t);
  const page = (input[0]! * 7 + t) % BIG_PAGES;
  heap.u32[(heap.getRoot("big") >>> 2) + page * 1024 + (t % 1024)] = t + 1;
};

/** A recording of `inputs` on a fresh heap, never rewound: the file a rewound one must equal. */
function straight(inputs: readonly Uint8Array[], keyframeEvery: number, tracking: "auto" | "compare", big = false): Uint8Array {
  const path = pathFor();
  using heap = PrivateHeap.create({ size: 4 * MiB, tracking });
  const stepOf = big ? bigStep : step;
  (big ? setUpBig : setUp)(heap);
  using rec = Replay.record(path, heap, { keyframeEvery });
  for (let t = 0; t < inputs.length; t++) {
    stepOf(heap, inputs[t]!, t);
    rec.tick(inputs[t]!);
  }
  rec.close();
  return readFileSync(path);
}

/**
 * A rollback session: every tick is first simulated with a predicted
 * input; now and then a late input replaces the timeline from a tick the
 * ring still holds (ring frame f: the state before tick f), and the
 * recorder is rewound to it. Returns the file and the confirmed inputs.
 */
function session(seed: number, keyframeEvery: number, tracking: "auto" | "compare"): { file: Uint8Array; inputs: Uint8Array[]; rewinds: number; dropped: number } {
  const r = rng(seed);
  const path = pathFor();
  using heap = PrivateHeap.create({ size: 4 * MiB, tracking });
  setUpBig(heap);
  using ring = SnapshotRing.create(heap, { capacity: 48 });
  const rec = Replay.record(path, heap, { keyframeEvery });
  const inputs: Uint8Array[] = [];
  ring.save(0);
  let rewinds = 0;
  let dropped = 0;
  while (inputs.length < 90) {
    const t = rec.ticks;
    const input = inputOf(r.int(0, 1 << 30), t);
    bigStep(heap, input, t);
    rec.tick(input);
    inputs.push(input);
    ring.save(rec.ticks);
    // A late input now and then: a few ticks back, more rarely up to 40
    // (across keyframes and whole keyframes), to 0 early on, or to the
    // newest frame (dropping nothing).
    const roll = r.int(0, 59);
    const toStart = t === 6 && rewinds === 0 && seed % 2 === 0;
    if (roll <= 7 || toStart) {
      const reach = roll === 0 ? 0 : roll === 1 ? 40 : 6;
      const back = toStart ? 0 : r.int(Math.max(ring.oldest!, rec.ticks - reach), rec.ticks);
      ring.load(back);
      rec.rewind(back);
      expect(rec.ticks, `seed ${seed}`).toBe(back);
      dropped += inputs.length - back;
      inputs.length = back;
      rewinds++;
    }
  }
  rec.close();
  return { file: readFileSync(path), inputs, rewinds, dropped };
}

describe("ReplayRecorder.rewind", () => {
  for (const tracking of ["auto", "compare"] as const) {
    test(`a rewound recording is byte for byte the recording of the confirmed timeline (tracking ${tracking})`, () => {
      for (const [seed, every] of [
        [1, 1],
        [2, 2],
        [3, 3],
        [4, 5],
        [5, 16],
      ] as const) {
        const { file, inputs, rewinds, dropped } = session(seed, every, tracking);
        const what = `seed ${seed}, keyframeEvery ${every}: ${rewinds} rewinds dropped ${dropped} ticks`;
        expect(dropped, what).toBeGreaterThan(every); // keyframes were dropped, not only ticks
        const expected = straight(inputs, every, tracking, true);
        expect(file.length, what).toBe(expected.length);
        expect(Buffer.compare(Buffer.from(file), Buffer.from(expected)), what).toBe(0);
        using replay = Replay.fromBytes(file);
        expect([replay.ticks, replay.torn], what).toEqual([inputs.length, null]);
        using heap = PrivateHeap.create({ size: replay.regionSize });
        expect(replay.verify(heap, bigStep).ok, what).toBe(true);
      }
    });
  }

  test("a heap not put back in the state after tick - 1 is EINVAL, and nothing is dropped", () => {
    const path = pathFor();
    const heap = heapOf();
    setUp(heap);
    const ring = SnapshotRing.create(heap, { capacity: 16 });
    using rec = Replay.record(path, heap, { keyframeEvery: 3 });
    ring.save(0);
    for (let t = 0; t < 10; t++) {
      step(heap, inputOf(7, t), t);
      rec.tick(inputOf(7, t));
      ring.save(rec.ticks);
    }
    const before = readFileSync(path);
    // The heap is in the state after tick 9 (10 ticks recorded): not after tick 4, nor (changed since) after tick 9.
    expectCode(() => rec.rewind(5), "EINVAL");
    step(heap, inputOf(8, 10), 10);
    expectCode(() => rec.rewind(10), "EINVAL");
    expectCode(() => rec.rewind(0), "EINVAL");
    expect(rec.ticks).toBe(10);
    expect(Buffer.compare(readFileSync(path), before)).toBe(0);
    // Put back, the same calls work, and the recording goes on.
    ring.load(10);
    rec.rewind(10);
    ring.load(5);
    rec.rewind(5);
    for (let t = 5; t < 12; t++) {
      step(heap, inputOf(9, t), t);
      rec.tick(inputOf(9, t));
    }
    rec.close();
    const inputs = [...Array.from({ length: 5 }, (_, t) => inputOf(7, t)), ...Array.from({ length: 7 }, (_, k) => inputOf(9, k + 5))];
    expect(Buffer.compare(readFileSync(path), Buffer.from(straight(inputs, 3, "auto")))).toBe(0);
  });

  test("ticks outside 0..ticks are EINVAL, and a closed recorder is ECLOSED", () => {
    const heap = heapOf();
    setUp(heap);
    const rec = Replay.record(pathFor(), heap, { keyframeEvery: 2 });
    step(heap, inputOf(1, 0), 0);
    rec.tick(inputOf(1, 0));
    for (const bad of [-1, 2, 0.5, Number.NaN, Infinity]) expectCode(() => rec.rewind(bad), "EINVAL");
    expect(rec.ticks).toBe(1);
    rec.close();
    expectCode(() => rec.rewind(1), "ECLOSED");
  });

  test("a process killed right after a rewind leaves the cut recording, whole and byte for byte", async () => {
    const seed = 31;
    for (const [ticks, back, every] of [
      [40, 13, 4],
      [40, 0, 3],
      [70, 33, 2],
    ] as const) {
      const path = pathFor();
      const code = `
        import { PrivateHeap, Replay, SnapshotRing } from ${JSON.stringify(join(SRC, "index.ts"))};
        import { inputOf, setUp, step } from ${JSON.stringify(join(import.meta.dir, "..", "..", "support", "replay-sim.ts"))};
        const heap = PrivateHeap.create({ size: 4 << 20 });
        setUp(heap);
        const ring = SnapshotRing.create(heap, { capacity: ${ticks + 1} });
        const rec = Replay.record(${JSON.stringify(path)}, heap, { keyframeEvery: ${every} });
        ring.save(0);
        for (let t = 0; t < ${ticks}; t++) {
          step(heap, inputOf(${seed}, t), t);
          rec.tick(inputOf(${seed}, t));
          ring.save(t + 1);
        }
        ring.load(${back});
        rec.rewind(${back});
        process.kill(process.pid, "SIGKILL");
      `;
      const script = join(dir, `child${seq++}.ts`);
      await Bun.write(script, code);
      const proc = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "pipe" });
      await proc.exited;
      const what = `${ticks} ticks, rewound to ${back}, keyframeEvery ${every}: ${await new Response(proc.stderr).text()}`;
      expect(proc.signalCode, what).toBe("SIGKILL");
      using replay = Replay.openSync(path);
      expect([replay.ticks, replay.torn], what).toEqual([back, null]);
      const inputs = Array.from({ length: back }, (_, t) => inputOf(seed, t));
      expect(Buffer.compare(readFileSync(path), Buffer.from(straight(inputs, every, "auto"))), what).toBe(0);
    }
  });
});
