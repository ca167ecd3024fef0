// Replays recorded into memory (Replay.recordInMemory): the bytes are the
// ones Replay.record writes to a file for the same run, compressed or not,
// also across a rewind; recorder.bytes() reads back at any tick and after
// close; a file recorder has no bytes(); the options are checked alike.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../../src/heap.ts";
import { Replay } from "../../../src/snapshot/replay.ts";
import { SnapshotRing } from "../../../src/snapshot/ring.ts";
import { codeOf } from "../../support/expect.ts";
import { inputOf, setUp, step } from "../../support/replay-sim.ts";

const dir = mkdtempSync(join(tmpdir(), "privheap-replay-memory-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Record `ticks` ticks of the shared simulation with `start` (a recorder on the heap); returns the recorder's heap checksum at the end. */
function run(start: (heap: PrivateHeap) => { tick(input: Uint8Array): number; close(): void; rewind(t: number): void }, ticks: number, rewindAt = -1): void {
  using heap = PrivateHeap.create({ size: 1 << 20 });
  setUp(heap);
  using ring = SnapshotRing.create(heap, { capacity: 16 });
  const rec = start(heap);
  for (let t = 0; t < ticks; t++) {
    ring.save(t); // frame t: the state before tick t
    const input = inputOf(7, t);
    step(heap, input, t);
    rec.tick(input);
    if (t === rewindAt) {
      ring.load(t - 5);
      rec.rewind(t - 5);
      for (let u = t - 5; u <= t; u++) {
        ring.save(u);
        const again = inputOf(8, u); // the confirmed inputs differ from the predicted ones
        step(heap, again, u);
        rec.tick(again);
      }
    }
  }
  rec.close();
}

describe("Replay.recordInMemory", () => {
  for (const compress of [true, false])
    test(`the bytes equal Replay.record's file for the same run (compress: ${compress}), also after a rewind`, () => {
      for (const rewindAt of [-1, 17]) {
        const path = join(dir, `r-${compress}-${rewindAt}.phreplay`);
        run((heap) => Replay.record(path, heap, { keyframeEvery: 4, compress }), 30, rewindAt);
        let memory: ReturnType<typeof Replay.recordInMemory> | undefined;
        run((heap) => (memory = Replay.recordInMemory(heap, { keyframeEvery: 4, compress })), 30, rewindAt);
        const fromFile = new Uint8Array(readFileSync(path));
        expect(fromFile.length).toBeGreaterThan(1000);
        expect(memory!.bytes()).toEqual(fromFile); // after close too
      }
    });

  test("bytes() at any tick opens with the ticks so far, verifies, and is a copy", () => {
    using heap = PrivateHeap.create({ size: 1 << 20 });
    setUp(heap);
    using rec = Replay.recordInMemory(heap, { keyframeEvery: 3 });
    for (let t = 0; t < 20; t++) {
      const input = inputOf(1, t);
      step(heap, input, t);
      rec.tick(input);
      if (t % 7 !== 6) continue;
      const bytes = rec.bytes();
      using replay = Replay.fromBytes(bytes);
      expect(replay.ticks).toBe(t + 1);
      using again = PrivateHeap.create({ size: 1 << 20 });
      expect(replay.verify(again, step).ok).toBe(true);
      bytes.fill(0); // the recorder keeps its own
    }
    using whole = Replay.fromBytes(rec.bytes());
    expect(whole.ticks).toBe(20);
    expect(whole.checksum(19)).toBe(heap.checksum());
  });

  test("a file recorder has no bytes(); options are checked as record's", () => {
    using heap = PrivateHeap.create({ size: 1 << 20 });
    using rec = Replay.record(join(dir, "f.phreplay"), heap);
    expect(codeOf(() => rec.bytes())).toBe("EINVAL");
    expect(codeOf(() => Replay.recordInMemory(heap, { keyframeEvery: 0 }))).toBe("EINVAL");
    expect(codeOf(() => Replay.recordInMemory(heap, { compress: "yes" as never }))).toBe("EINVAL");
    expect(codeOf(() => Replay.recordInMemory({} as never))).toBe("EINVAL");
    heap.close();
    expect(codeOf(() => Replay.recordInMemory(heap))).toBe("ECLOSED");
  });
});
