/**
 * A recording process killed with SIGKILL at seeded points (before its
 * first keyframe is in place, between ticks, inside a tick or a keyframe
 * write): the file then opens with every tick the child acknowledged
 * (`tick()` returned, so its record was written to the operating system,
 * which a killed process cannot take back), at most one more, and replays
 * exactly; or, when the child was killed before `Replay.record` returned,
 * the path holds no recording at all, never a broken one.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../../src/heap.ts";
import { Replay } from "../../../src/snapshot/replay.ts";
import { rng, seeds } from "../../support/random.ts";
import { SRC } from "../../support/bun.ts";

const ROUNDS = Number(process.env.KILL_ROUNDS ?? 14);
const dir = mkdtempSync(join(tmpdir(), "privheap-replay-kill-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SIM = join(import.meta.dir, "..", "..", "support", "replay-sim.ts");
const child = join(dir, "recorder.ts");
writeFileSync(
  child,
  `
  import { writeSync } from "node:fs";
  import { PrivateHeap, Replay } from ${JSON.stringify(join(SRC, "index.ts"))};
  import { heavyStep, inputOf, setUpHeavy } from ${JSON.stringify(SIM)};
  const [path, seed, every] = process.argv.slice(2);
  const heap = PrivateHeap.create({ size: 4 << 20 });
  setUpHeavy(heap);
  const rec = Replay.record(path, heap, { keyframeEvery: Number(every) });
  writeSync(1, "ready\\n");
  for (let t = 0; t < 100000; t++) {
    const input = inputOf(Number(seed), t);
    heavyStep(heap, input, t);
    rec.tick(input);
    writeSync(1, "ack " + t + "\\n");
  }
`,
);

/**
 * Run the recorder and kill it `jitterMs` after `killAfter` lines have been
 * read (0 lines: as soon as it starts); returns the acknowledged ticks. The
 * jitter is a spin, not a sleep: it moves the kill to a seeded point inside
 * whatever the child is doing, so some kills land inside a write.
 */
async function recordAndKill(path: string, seed: number, every: number, killAfter: number, jitterMs: number): Promise<{ ready: boolean; acked: number }> {
  const proc = Bun.spawn([process.execPath, child, path, String(seed), String(every)], { stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let killed = false;
  if (killAfter === 0) {
    proc.kill("SIGKILL");
    killed = true;
  }
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
    if (!killed && text.split("\n").length - 1 >= killAfter) {
      for (const until = performance.now() + jitterMs; performance.now() < until; );
      proc.kill("SIGKILL");
      killed = true;
    }
  }
  await proc.exited;
  expect(proc.signalCode).toBe("SIGKILL");
  const lines = text.split("\n").filter((l) => l !== "");
  return { ready: lines[0] === "ready", acked: lines.filter((l) => l.startsWith("ack ")).length };
}

describe("a recorder killed with SIGKILL", () => {
  for (const seed of seeds(1)) {
    test(`${ROUNDS} seeded kills: the file keeps every acknowledged tick, at most one more, and replays exactly (seed ${seed})`, async () => {
      const r = rng(seed);
      const { heavyStep } = await import(SIM);
      let torn = 0;
      let unacked = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const path = join(dir, `run-${seed}-${round}.phreplay`);
        const every = r.pick([1, 3, 8]);
        const killAfter = round === 0 ? 0 : r.int(1, 30);
        const jitter = r.next() * 3;
        const { ready, acked } = await recordAndKill(path, seed + round, every, killAfter, jitter);
        const what = `seed ${seed} round ${round}: keyframeEvery ${every}, killed ${jitter.toFixed(2)} ms after ${killAfter} lines, ${acked} ticks acknowledged`;
        const temps = readdirSync(dir).filter((n) => n.startsWith(`.run-${seed}-${round}.`));
        expect(temps.length, what).toBeLessThanOrEqual(1); // a kill before the rename leaves its temporary file
        if (!existsSync(path)) {
          expect(ready, what).toBe(false); // no recording only when record() never returned
          continue;
        }
        const replay = Replay.openSync(path);
        expect(replay.ticks, what).toBeGreaterThanOrEqual(acked);
        expect(replay.ticks, what).toBeLessThanOrEqual(acked + 1);
        if (replay.torn !== null) torn++;
        if (replay.ticks > acked) unacked++;
        using heap = PrivateHeap.create({ size: replay.regionSize });
        const v = replay.verify(heap, heavyStep);
        expect(v.ok, what).toBe(true);
        expect(heap.check()).toBe(0);
      }
      console.log(`seed ${seed}: ${ROUNDS} kills, ${torn} left a torn record, ${unacked} a tick written but not yet acknowledged`);
    }, 120_000);
  }
});
