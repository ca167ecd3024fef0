// The hostile-input campaign for replay files, shared by the CI test
// (test/system/snapshot/replay-hostile.test.ts) and the long run
// (scripts/hostile-replays.ts): seeded structure-aware mutations of real
// recordings, each driven through every reader (Replay.fromBytes, the
// accessors, keyframe, seek, verify, and the command line's info and
// verify). A case passes when every call ends in a result or a HeapError
// and the target heap still passes check(); anything else is thrown.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.ts";
import type { Io } from "../../src/cli/io.ts";
import { readReplayInfo } from "../../src/cli/replay-info.ts";
import { HeapError } from "../../src/errors.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { Replay } from "../../src/snapshot/replay.ts";
import { decode, mutate, type ReplayParts } from "./replay-craft.ts";
import { rng } from "./random.ts";
import { inputOf, setUp, step } from "./replay-sim.ts";

export const REGION = 1 << 20;
export const SIM_MODULE = join(import.meta.dir, "replay-sim.ts");

/**
 * Real recordings of the simulation: the mutations' bases, one with
 * compressed keyframes (the default) and one without, and a donor of
 * foreign records (compressed).
 */
export function recordings(dir: string): { base: ReplayParts; plain: ReplayParts; donor: ReplayParts; baseBytes: Uint8Array; plainBytes: Uint8Array } {
  const make = (name: string, seed: number, ticks: number, keyframeEvery: number, compress: boolean) => {
    using heap = PrivateHeap.create({ size: REGION });
    setUp(heap);
    const path = join(dir, name);
    using rec = Replay.record(path, heap, { keyframeEvery, compress });
    for (let t = 0; t < ticks; t++) {
      const input = inputOf(seed, t);
      step(heap, input, t);
      rec.tick(input);
    }
    rec.close();
    return new Uint8Array(readFileSync(path));
  };
  const baseBytes = make("base.phreplay", 1, 24, 4, true);
  const plainBytes = make("plain.phreplay", 1, 24, 4, false);
  return { base: decode(baseBytes), plain: decode(plainBytes), donor: decode(make("donor.phreplay", 2, 5, 1, true)), baseBytes, plainBytes };
}

/** A HeapError's code; anything else is a failure of the case. */
function codeOf(e: unknown, what: string): string {
  if (e instanceof HeapError) return e.code;
  throw new Error(`${what} threw something other than a HeapError: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`, { cause: e });
}

function consistent(heap: PrivateHeap, what: string): void {
  const broken = heap.check();
  if (broken !== 0) throw new Error(`${what} left the target heap inconsistent: check() = ${broken}`);
}

/** Drive `bytes` through the library's readers; returns a one-line summary of the outcomes. */
export function exercise(bytes: Uint8Array, heap: PrivateHeap): string {
  let replay: Replay;
  try {
    replay = Replay.fromBytes(bytes);
  } catch (e) {
    return `open ${codeOf(e, "fromBytes")}`;
  }
  const out = [`open ok ${replay.ticks} ticks${replay.torn === null ? "" : " torn"}`];
  for (let t = 0; t < Math.min(replay.ticks, 64); t++) {
    replay.checksum(t);
    replay.input(t);
  }
  for (const after of replay.keyframes.slice(0, 8)) {
    try {
      replay.keyframe(after);
      out.push("keyframe ok");
    } catch (e) {
      out.push(`keyframe ${codeOf(e, "keyframe")}`);
    }
  }
  for (const t of new Set([-1, replay.ticks >> 1, replay.ticks - 1])) {
    if (t >= replay.ticks) continue;
    try {
      replay.seek(t, heap, step);
      out.push("seek ok");
    } catch (e) {
      out.push(`seek ${codeOf(e, "seek")}`);
    }
    consistent(heap, `seek(${t})`);
  }
  try {
    out.push(replay.verify(heap, step).ok ? "verify ok" : "verify diverged");
  } catch (e) {
    out.push(`verify ${codeOf(e, "verify")}`);
  }
  consistent(heap, "verify");
  return out.join(", ");
}

/** An Io that keeps what the command writes. */
function captureIo(cwd: string): Io & { text: () => string } {
  let text = "";
  return { out: (t) => void (text += t), err: (t) => void (text += t), errIsTTY: false, errColumns: 80, cwd, text: () => text };
}

/** `privheap replay info` and `replay verify` on the file at `path`: their exit statuses; throws when either reports an unexpected error. */
export async function exerciseCli(path: string): Promise<string> {
  let info: string;
  try {
    await readReplayInfo(path);
    info = "info ok";
  } catch (e) {
    info = `info ${codeOf(e, "replay info")}`;
  }
  const io = captureIo(tmpdir());
  const status = await main(["replay", "verify", path, "--step", SIM_MODULE, "--quiet"], io);
  if (status === 2 && !/^privheap: /.test(io.text())) throw new Error(`replay verify exited 2 without a message: ${io.text()}`);
  if (io.text().includes("unexpected error")) throw new Error(`replay verify: ${io.text()}`);
  return `${info}, verify exit ${status}`;
}

export interface CampaignResult {
  cases: number;
  /** Cases per outcome of each reader, e.g. "open ECORRUPT", "keyframe ECORRUPT", "verify diverged". */
  outcomes: Map<string, number>;
  /** Cases per mutation name. */
  mutations: Map<string, number>;
  cliCases: number;
  maxCaseMs: number;
  maxRssBytes: number;
}

/**
 * Run `cases` hostile cases from `seed`; every `cliEvery`-th also through
 * the command line (0: never). `onCase` sees each case (for progress). The
 * target heap is on `backend`.
 * Throws on the first case that crashes a reader, with its seed and index.
 */
export async function campaign(seed: number, cases: number, cliEvery: number, onCase?: (i: number, result: CampaignResult) => void, backend: "native" | "wasm" = "native"): Promise<CampaignResult> {
  const dir = mkdtempSync(join(tmpdir(), "privheap-hostile-replays-"));
  const result: CampaignResult = { cases: 0, outcomes: new Map(), mutations: new Map(), cliCases: 0, maxCaseMs: 0, maxRssBytes: 0 };
  try {
    const { base, plain, donor } = recordings(dir);
    using heap = PrivateHeap.create({ size: REGION, backend });
    const r = rng(seed);
    const file = join(dir, "case.phreplay");
    for (let i = 0; i < cases; i++) {
      // Every other case mutates the recording without compressed keyframes.
      const { bytes, what } = mutate(i % 2 === 0 ? base : plain, donor, r);
      const t0 = performance.now();
      let summary: string;
      try {
        summary = exercise(bytes, heap);
        if (cliEvery > 0 && i % cliEvery === 0) {
          writeFileSync(file, bytes);
          summary += `; ${await exerciseCli(file)}`;
          result.cliCases++;
        }
      } catch (e) {
        throw new Error(`seed ${seed} case ${i} (${what.join(" + ")}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      result.maxCaseMs = Math.max(result.maxCaseMs, performance.now() - t0);
      for (const token of new Set(summary.split(/[,;] /).map((o) => o.replace(/ \d+ ticks/, "").replace(/ torn$/, "")))) result.outcomes.set(token, (result.outcomes.get(token) ?? 0) + 1);
      for (const m of what) result.mutations.set(m, (result.mutations.get(m) ?? 0) + 1);
      result.cases++;
      // A full collection every 100 cases: the peak then measures what a case
      // holds (a huge allocation shows within its case), not garbage of
      // earlier cases that the collector has not reached yet.
      if (i % 100 === 99) Bun.gc(true);
      result.maxRssBytes = Math.max(result.maxRssBytes, process.memoryUsage().rss);
      onCase?.(i, result);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  result.maxRssBytes = Math.max(result.maxRssBytes, process.memoryUsage().rss);
  return result;
}
