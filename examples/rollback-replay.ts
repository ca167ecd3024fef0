/**
 * examples/rollback-replay.ts - a rollback session whose replay holds the
 * confirmed timeline only.
 *
 * Usage: bun run examples/rollback-replay.ts [entities] [ticks]
 *
 * The simulation is examples/sim.ts. The input of each tick arrives 0 to 7
 * ticks late (as a remote player's would); until it does, the tick runs
 * on a prediction (the last input that arrived). When an input arrives
 * that differs from the prediction its tick ran on, the session rolls
 * back: it loads the ring's frame from before that tick, rewinds the
 * recorder to it (dropping the predicted ticks), and simulates forward
 * again with what it knows now. Ring frame f is the state before tick f,
 * so `ring.load(f)` and `recorder.rewind(f)` name the same moment.
 *
 * At the end every input has arrived, and the session checks that:
 *   - the replay holds every true input and verifies from tick 0;
 *   - its file is byte for byte the recording of a run that knew every
 *     input in time (no prediction, no rollback);
 *   - `ring.get` reads a held frame into another heap without a rollback,
 *     and it equals the replay's state at that tick.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap, Replay, SnapshotRing } from "privheap";
import { createWorld, inputFor, step } from "./sim.ts";

const N = Number(process.argv[2] ?? 1000);
const TICKS = Number(process.argv[3] ?? 300);
const MAX_DELAY = 7;
const HEAP_BYTES = 16 << 20;
const dir = mkdtempSync(join(tmpdir(), "privheap-rollback-"));

/** The tick at which tick t's true input arrives: 0 to MAX_DELAY ticks late, fixed by t. */
const arrival = (t: number) => t + ((Math.imul(t + 7, 0x45d9f3b) >>> 13) % (MAX_DELAY + 1));
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

try {
  using heap = PrivateHeap.create({ size: HEAP_BYTES });
  createWorld(heap, N);
  // Frames cover the longest rollback: an input MAX_DELAY ticks late.
  using ring = SnapshotRing.create(heap, { capacity: MAX_DELAY + 2 });
  const path = join(dir, "session.phreplay");
  const rec = Replay.record(path, heap, { keyframeEvery: 30 });
  ring.save(0);

  const known: (Uint8Array | undefined)[] = []; // true inputs that have arrived
  const used: Uint8Array[] = []; // the input each simulated tick ran on
  let lastKnown: Uint8Array = Uint8Array.of(2, 0); // the prediction: the last input that arrived
  const inputOf = (t: number) => known[t] ?? lastKnown;
  let rollbacks = 0;
  let resimulated = 0;

  /** Simulate and record tick `rec.ticks`, and save the frame after it. */
  const advance = () => {
    const t = rec.ticks;
    used[t] = inputOf(t);
    step(heap, used[t], t);
    rec.tick(used[t]);
    ring.save(t + 1);
  };

  /** Take the inputs that arrive at `now`; roll back to the first that was mispredicted. */
  const receive = (now: number) => {
    let from = -1;
    for (let t = Math.max(0, now - MAX_DELAY); t <= now && t < TICKS; t++) {
      if (arrival(t) !== now) continue;
      known[t] = inputFor(t);
      lastKnown = known[t]!;
      if (t < rec.ticks && !same(used[t]!, known[t]!) && (from < 0 || t < from)) from = t;
    }
    if (from < 0) return;
    const upTo = rec.ticks;
    ring.load(from); // the state before tick `from`
    rec.rewind(from); // the recording drops the ticks that ran on a wrong guess
    rollbacks++;
    resimulated += upTo - from;
    while (rec.ticks < upTo) advance();
  };

  for (let now = 0; now < TICKS; now++) {
    receive(now);
    advance();
  }
  for (let now = TICKS; now < TICKS + MAX_DELAY; now++) receive(now); // the last inputs arrive
  // A frame the ring still holds, read into another heap while the ring keeps every frame.
  const held = ring.oldest!;
  using peek = PrivateHeap.create({ size: HEAP_BYTES });
  ring.get(held, peek);
  const liveChecksum = heap.checksum();
  rec.close();

  console.log(`${TICKS} ticks of ${N} entities, inputs 0-${MAX_DELAY} ticks late: ${rollbacks} rollbacks re-simulated ${resimulated} ticks`);

  using replay = Replay.openSync(path);
  let confirmed = replay.ticks === TICKS;
  for (let t = 0; confirmed && t < TICKS; t++) confirmed = same(replay.input(t), inputFor(t));
  console.log(`replay: ${replay.ticks} ticks, every input the true one: ${confirmed}`);
  using check = PrivateHeap.create({ size: HEAP_BYTES });
  const verified = replay.verify(check, step);
  console.log(`verify from tick 0: ${verified.ok ? "every checksum matches" : `diverged at tick ${verified.firstDivergentTick}`}`);
  const endsLikeLive = check.checksum() === liveChecksum;
  console.log(`the replay ends where the session ended: ${endsLikeLive}`);

  // The run that knew every input in time, recorded straight.
  const straightPath = join(dir, "straight.phreplay");
  {
    using straight = PrivateHeap.create({ size: HEAP_BYTES });
    createWorld(straight, N);
    using rec2 = Replay.record(straightPath, straight, { keyframeEvery: 30 });
    for (let t = 0; t < TICKS; t++) {
      step(straight, inputFor(t), t);
      rec2.tick(inputFor(t));
    }
  }
  const a = readFileSync(path);
  const b = readFileSync(straightPath);
  const identical = a.length === b.length && Buffer.compare(a, b) === 0;
  console.log(`file (${a.length} bytes) equal to the straight recording's, byte for byte: ${identical}`);

  using at = PrivateHeap.create({ size: HEAP_BYTES });
  replay.seek(held - 1, at, step);
  const getMatches = peek.checksum() === at.checksum() && peek.checksum() === replay.checksum(held - 1);
  console.log(`ring.get(${held}) equals the replay's state after tick ${held - 1}: ${getMatches}; the ring still holds frames ${ring.oldest}..${ring.newest}`);

  if (!(confirmed && verified.ok && endsLikeLive && identical && getMatches && rollbacks > 0)) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
