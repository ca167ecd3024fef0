/**
 * examples/rollback-peers.ts - two peers of a rollback game in one process,
 * as GGPO or GGRS would run them.
 *
 * Usage: bun run examples/rollback-peers.ts [entities] [frames] [--seed N] [--desync FRAME]
 *
 * Each peer has its own PrivateHeap and SnapshotRing and runs the demo's
 * simulation (examples/sim.ts). Player p boosts team p: the input of a
 * frame is the pair [boost of player 0, boost of player 1] (0 = none; the
 * larger boost is the one applied). Frame t is the t-th step; the ring
 * holds the state before frame t as ring frame t.
 *
 * - Input delay: the input a player gives while its peer simulates frame t
 *   is for frame t + INPUT_DELAY, and is sent to the other peer at once.
 * - Network: each direction delivers in order after a one-way latency of
 *   0 to MAX_LATENCY frames, drawn from the seed (a later send never
 *   overtakes an earlier one, as when each packet repeats unacked inputs).
 * - Prediction: a remote input not yet arrived is taken to be the last one
 *   that did. When the true one differs from what a simulated frame ran
 *   on, the peer rolls back: it loads the ring's frame from before it and
 *   simulates forward again with what it knows now.
 * - Desync detection: a frame is confirmed at a peer when both inputs it
 *   ran on are true ones. Each peer sends the checksum of the state after
 *   each confirmed frame (heap.checksum()), compares it with the other's
 *   and reports the first frame whose checksums differ.
 * - Replay: peer 0 records its timeline with Replay.record and rewinds the
 *   recorder with each rollback, so the file holds the confirmed frames
 *   only; at the end it must hold every true input and verify.
 *
 * `--desync FRAME` makes peer 1 write a random value into one entity after
 * each simulation of frame FRAME, as a nondeterministic step would (an
 * unseeded random, a platform's float): the checksum exchange must report
 * frame FRAME.
 *
 * Exit status: 0 when the peers agree and the replay verifies; 2 when a
 * desync was found (and every other check passed); 1 when a check failed
 * or the arguments are wrong.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PrivateHeap, Replay, SnapshotRing, type ReplayRecorder, type StepFn } from "privheap";
import { createWorld, Entity, step } from "./sim.ts";

const INPUT_DELAY = 2;
const MAX_LATENCY = 6;
// The deepest rollback: an input sent at the last moment (frame t - INPUT_DELAY)
// that takes MAX_LATENCY frames to arrive.
const MAX_ROLLBACK = MAX_LATENCY - INPUT_DELAY;
const HEAP_BYTES = 16 << 20;

const { values: flags, positionals } = parseArgs({
  args: process.argv.slice(2),
  options: { seed: { type: "string" }, desync: { type: "string" } },
  allowPositionals: true,
});
const N = Number(positionals[0] ?? 1000);
const FRAMES = Number(positionals[1] ?? 300);
const SEED = Number(flags.seed ?? 1);
const DESYNC = flags.desync === undefined ? -1 : Number(flags.desync);
if (![N, FRAMES, SEED].every((x) => Number.isSafeInteger(x) && x > 0) || !Number.isSafeInteger(DESYNC) || DESYNC >= FRAMES) {
  console.error("usage: bun run examples/rollback-peers.ts [entities] [frames] [--seed N] [--desync FRAME]  (FRAME below frames)");
  process.exit(1);
}

/** A seeded xorshift32 stream in [0, 1). */
function randomStream(seed: number): () => number {
  let r = seed >>> 0 || 1;
  return () => {
    r ^= r << 13;
    r ^= r >>> 17;
    r ^= r << 5;
    return (r >>> 0) / 4294967296;
  };
}

/** Both players' boosts, as the simulation's one-team input. */
const stepPair: StepFn = (heap, input, tick) => {
  const [b0 = 0, b1 = 0] = input;
  step(heap, b0 === 0 && b1 === 0 ? Uint8Array.of(2, 0) : b0 >= b1 ? Uint8Array.of(0, b0) : Uint8Array.of(1, b1), tick);
};

type Message = { frame: number } & ({ kind: "input"; boost: number } | { kind: "checksum"; sum: bigint });

/** One direction of the network: in order, each message 0 to MAX_LATENCY frames late. */
class Link {
  readonly #queue: (Message & { at: number })[] = [];
  readonly #latency: () => number;
  #lastAt = 0;
  constructor(seed: number) {
    this.#latency = randomStream(seed);
  }
  send(now: number, message: Message): void {
    this.#lastAt = Math.max(this.#lastAt, now + Math.floor(this.#latency() * (MAX_LATENCY + 1)));
    this.#queue.push({ ...message, at: this.#lastAt });
  }
  /** The messages that have arrived by `now`. */
  deliver(now: number): Message[] {
    let n = 0;
    while (n < this.#queue.length && this.#queue[n]!.at <= now) n++;
    return this.#queue.splice(0, n);
  }
  get empty(): boolean {
    return this.#queue.length === 0;
  }
}

class Peer {
  readonly heap = PrivateHeap.create({ size: HEAP_BYTES });
  readonly ring: SnapshotRing;
  /** Frames simulated: the next frame to simulate. */
  frame = 0;
  /** This player's inputs, by frame. Nobody's input reaches the first INPUT_DELAY frames. */
  readonly local: number[] = new Array(INPUT_DELAY).fill(0);
  /** The other player's inputs that have arrived (frames 0..remoteUpTo, in order). */
  readonly remote: number[] = new Array(INPUT_DELAY).fill(0);
  /** The other player's input each simulated frame ran on (true or predicted). */
  readonly used: number[] = [];
  /** The checksum after each simulated frame. */
  readonly sums: bigint[] = [];
  /** Frames up to this one are confirmed and their checksums sent. */
  confirmedUpTo = -1;
  readonly #theirs = new Map<number, bigint>();
  /** Frames whose checksums were compared with the other peer's, and the first that differed. */
  compared = 0;
  desyncAt = -1;
  rollbacks = 0;
  resimulated = 0;
  #rollbackFrom = -1;
  readonly #sample: () => number;

  /** Records this peer's timeline, when given a path. */
  readonly rec: ReplayRecorder | undefined;

  constructor(
    readonly player: 0 | 1,
    readonly out: Link,
    recordTo?: string,
  ) {
    createWorld(this.heap, N);
    this.rec = recordTo === undefined ? undefined : Replay.record(recordTo, this.heap, { keyframeEvery: 30 });
    this.ring = SnapshotRing.create(this.heap, { capacity: MAX_ROLLBACK + 2 });
    this.ring.save(0);
    this.#sample = randomStream(SEED * 7919 + player + 1);
  }

  get remoteUpTo(): number {
    return this.remote.length - 1;
  }

  /** The pair of inputs frame t runs on now: the other's true input if it arrived, else the last that did. */
  inputOf(t: number): Uint8Array {
    const theirs = this.remote[t] ?? this.remote[this.remoteUpTo]!;
    return this.player === 0 ? Uint8Array.of(this.local[t]!, theirs) : Uint8Array.of(theirs, this.local[t]!);
  }

  /** The player presses (or releases) a boost now: it holds it for a few frames at a time. */
  sampleInput(now: number): void {
    const t = this.frame + INPUT_DELAY;
    if (t >= FRAMES) return;
    const held = this.local[t - 1]!;
    this.local[t] = this.#sample() < 1 / 6 ? (this.#sample() < 0.5 ? 0 : 10 + Math.floor(this.#sample() * 40)) : held;
    this.out.send(now, { kind: "input", frame: t, boost: this.local[t]! });
  }

  advance(): void {
    const t = this.frame;
    const input = this.inputOf(t);
    this.used[t] = input[1 - this.player]!;
    stepPair(this.heap, input, t);
    if (t === DESYNC && this.player === 1) Entity.cursor(this.heap).index(this.heap.getRoot("entities"), 0).pos.x += 1 + Math.random();
    this.rec?.tick(input);
    this.sums[t] = this.heap.checksum();
    this.frame = t + 1;
    this.ring.save(this.frame);
  }

  receive(message: Message): void {
    const t = message.frame;
    if (message.kind === "checksum") {
      this.#theirs.set(t, message.sum);
      this.#compare(t);
      return;
    }
    if (t !== this.remote.length) throw new Error(`peer ${this.player}: input of frame ${t} out of order`);
    this.remote.push(message.boost);
    // Delivery is in order, so the first mispredicted frame is the earliest.
    if (t < this.frame && this.used[t] !== message.boost && this.#rollbackFrom < 0) this.#rollbackFrom = t;
  }

  /** Roll back to the first frame that ran on a wrong guess, and simulate up to where the peer was. */
  rollback(): void {
    const from = this.#rollbackFrom;
    if (from < 0) return;
    this.#rollbackFrom = -1;
    const upTo = this.frame;
    this.ring.load(from); // the state before frame `from`
    this.rec?.rewind(from); // the recording drops the frames that ran on a wrong guess
    this.frame = from;
    this.rollbacks++;
    this.resimulated += upTo - from;
    while (this.frame < upTo) this.advance();
  }

  /** Send the checksums of the frames that became confirmed: simulated, and on the other's true input. */
  confirm(now: number): void {
    const upTo = Math.min(this.frame - 1, this.remoteUpTo);
    for (let t = this.confirmedUpTo + 1; t <= upTo; t++) {
      this.out.send(now, { kind: "checksum", frame: t, sum: this.sums[t]! });
      this.confirmedUpTo = t;
      this.#compare(t);
    }
  }

  #compare(t: number): void {
    const theirs = this.#theirs.get(t);
    if (theirs === undefined || t > this.confirmedUpTo) return;
    this.#theirs.delete(t);
    this.compared++;
    if (theirs !== this.sums[t] && (this.desyncAt < 0 || t < this.desyncAt)) this.desyncAt = t;
  }

  close(): void {
    this.rec?.close();
    this.ring.close();
    this.heap.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), "privheap-peers-"));
const links = [new Link(SEED * 104729 + 11), new Link(SEED * 104729 + 12)] as const;
const path = join(dir, "peer0.phreplay");
const peers: Peer[] = [];
try {
  peers.push(new Peer(0, links[0], path));
  peers.push(new Peer(1, links[1]));

  for (let now = 0; ; now++) {
    peers.forEach((peer, i) => {
      for (const message of links[1 - i]!.deliver(now)) peer.receive(message);
      peer.rollback();
    });
    for (const peer of peers) {
      if (peer.frame >= FRAMES) continue;
      peer.sampleInput(now);
      peer.advance();
    }
    for (const peer of peers) peer.confirm(now);
    if (links.every((l) => l.empty) && peers.every((p) => p.confirmedUpTo === FRAMES - 1)) break;
    // The last checksum is sent at most MAX_LATENCY frames after the last frame, and arrives MAX_LATENCY later.
    if (now > FRAMES + 2 * MAX_LATENCY) throw new Error("the peers did not confirm every frame");
  }
  peers[0]!.rec!.close();
  const [a, b] = peers as [Peer, Peer];

  console.log(`2 peers, ${FRAMES} frames of ${N} entities, input delay ${INPUT_DELAY} frames, one-way latency 0-${MAX_LATENCY} frames (seed ${SEED})`);
  for (const p of peers) console.log(`peer ${p.player}: ${p.rollbacks} rollbacks re-simulated ${p.resimulated} frames`);
  const found = [a.desyncAt, b.desyncAt].filter((f) => f >= 0);
  const desyncAt = found.length === 0 ? -1 : Math.min(...found);
  console.log(`confirmed frames whose checksums were compared: peer 0 ${a.compared}, peer 1 ${b.compared}`);
  if (desyncAt < 0) console.log("checksums: all agree");
  else console.log(`desync at frame ${desyncAt}: peer 0 found it at frame ${a.desyncAt}, peer 1 at frame ${b.desyncAt}`);
  const sameEnd = a.heap.checksum() === b.heap.checksum();
  console.log(`the peers end in the same state: ${sameEnd}`);

  using replay = Replay.openSync(path);
  let trueInputs = replay.ticks === FRAMES;
  for (let t = 0; trueInputs && t < FRAMES; t++) {
    const input = replay.input(t);
    trueInputs = input[0] === a.local[t] && input[1] === b.local[t];
  }
  console.log(`replay of peer 0: ${replay.ticks} frames, every input the true pair: ${trueInputs}`);
  using check = PrivateHeap.create({ size: HEAP_BYTES });
  const verified = replay.verify(check, stepPair);
  const endsLikePeer0 = check.checksum() === a.heap.checksum();
  console.log(`replay verify from frame 0: ${verified.ok ? "every checksum matches" : `diverged at frame ${verified.firstDivergentTick}`}; ends where peer 0 ended: ${endsLikePeer0}`);

  const checksPass = trueInputs && verified.ok && endsLikePeer0 && (desyncAt >= 0 || sameEnd);
  process.exitCode = !checksPass ? 1 : desyncAt >= 0 ? 2 : 0;
} finally {
  for (const p of peers) p.close();
  rmSync(dir, { recursive: true, force: true });
}
