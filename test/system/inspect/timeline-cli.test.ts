// `privheap replay timeline`: the keyframe table and per-tick summary as
// text, exit 0 when the re-run matches and 1 at a divergence, and with
// --html the page plus the divergence's diff page beside it, linked.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWorld, inputFor, step as simStep } from "../../../examples/sim.ts";
import { diffPagePath } from "../../../src/cli/replay-timeline.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import { replayTimeline } from "../../../src/inspect/timeline.ts";
import { Replay } from "../../../src/snapshot/replay.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");
const CLI = join(ROOT, "src", "cli.ts");
const SIM = join(ROOT, "examples", "sim.ts");
const TICKS = 70;
const dir = mkdtempSync(join(tmpdir(), "privheap-timeline-cli-"));
const RECORDING = join(dir, "sim.phreplay");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  using heap = PrivateHeap.create({ size: 1 << 20 });
  createWorld(heap, 150);
  using rec = Replay.record(RECORDING, heap, { keyframeEvery: 25 });
  for (let t = 0; t < TICKS; t++) {
    simStep(heap, inputFor(t), t);
    rec.tick(inputFor(t));
  }
});

function cli(args: string[]): { exit: number | null; stdout: string; stderr: string } {
  const r = Bun.spawnSync([process.execPath, CLI, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
  return { exit: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("privheap replay timeline", () => {
  test("from the file alone: a row per keyframe with its used bytes, live count, live bytes and changed bytes", async () => {
    const r = cli(["replay", "timeline", RECORDING]);
    expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
    using replay = await Replay.open(RECORDING);
    for (const after of [-1, 24, 49]) {
      const k = replay.keyframe(after);
      const s = k.stats();
      expect(r.stdout).toMatch(new RegExp(`\\n +${after} +${s.usedBytes} +${s.liveCount} +${s.liveBytes} +\\d+\\n`));
    }
    expect(r.stdout).toContain(`ticks: ${TICKS}, keyframes: 3 (every 25 ticks)`);
    expect(r.stdout).toContain("per tick: not measured");
  });

  test("--step re-runs and verifies every tick; --html writes the page", async () => {
    const html = join(dir, "ok.html");
    const r = cli(["replay", "timeline", RECORDING, "--step", SIM, "--html", html, "--quiet"]);
    expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
    expect(r.stdout).toContain(`re-run: ok, ${TICKS} ticks verified`);
    using replay = await Replay.open(RECORDING);
    const tl = replayTimeline(replay, { step: simStep });
    const s = tl.run!.series;
    expect(r.stdout).toContain(`  bytes changed: min ${Math.min(...s.changedBytes)}, `);
    expect(r.stdout).toContain(`max ${Math.max(...s.changedBytes)}; first ${s.changedBytes[0]}, last ${s.changedBytes[TICKS - 1]}\n`);
    expect(r.stdout).toContain(`page: ${html}\n`);
    expect(readFileSync(html, "utf8")).toContain(`all ${TICKS} ticks matched`);
  });

  test("a divergent step: exit 1, the tick named, and a diff page beside the timeline, linked from it", () => {
    const mod = join(dir, "diverges.ts");
    writeFileSync(mod, `import { step as simStep } from ${JSON.stringify(SIM)};
export function step(heap, input, tick) {
  simStep(heap, input, tick);
  if (tick === 30) heap.u8[heap.getRoot("entities") + 3] ^= 0x40;
}\n`);
    const html = join(dir, "bad.html");
    const r = cli(["replay", "timeline", RECORDING, "--step", mod, "--html", html, "--quiet"]);
    expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 1, stderr: "" });
    expect(r.stdout).toContain("re-run: tick 30 diverged");
    expect(r.stdout).toContain("per tick (30 ticks):");
    // Tick 30 run again agrees with the first run, so verify compares the next keyframe (after tick 49).
    const diffPage = diffPagePath(html, 49);
    expect(diffPage).toBe(join(dir, "bad.diff-tick-49.html"));
    expect(r.stdout).toContain(`diff page: ${diffPage}\n`);
    expect(existsSync(diffPage)).toBe(true);
    expect(readFileSync(html, "utf8")).toContain(`href="bad.diff-tick-49.html"`);
    expect(readFileSync(diffPage, "utf8")).toContain("Tick 30 diverged");
  });

  test.skipIf(process.platform === "win32")("on a terminal a long re-run draws a progress bar on stderr and erases it; --quiet draws none", async () => {
    // 10 ms a tick: 70 ticks take about 0.7 s, past the bar's 0.3 s delay.
    const slow = join(dir, "slow.ts");
    writeFileSync(slow, `import { step as simStep } from ${JSON.stringify(SIM)};\nexport const step = (heap, input, tick) => { Bun.sleepSync(10); simStep(heap, input, tick); };\n`);
    const onTerminal = async (extra: string[]): Promise<{ exit: number | null; text: string }> => {
      const chunks: string[] = [];
      const decoder = new TextDecoder();
      const proc = Bun.spawn([process.execPath, CLI, "replay", "timeline", RECORDING, "--step", slow, ...extra], {
        cwd: ROOT,
        terminal: { cols: 72, rows: 24, data: (_term, data) => void chunks.push(decoder.decode(data, { stream: true })) },
      });
      await proc.exited;
      proc.terminal?.close();
      return { exit: proc.exitCode, text: chunks.join("") };
    };
    const total = TICKS + 3; // three keyframes read, then the ticks
    const drawn = await onTerminal([]);
    expect(drawn.exit).toBe(0);
    const frames = drawn.text.match(new RegExp(`\\rtimeline \\[[#.]+\\] +\\d+% +\\d+/${total} steps[^\\r]*`, "g")) ?? [];
    expect(frames.length).toBeGreaterThan(1);
    expect(drawn.text).toContain("\r\x1b[Kfile: "); // erased before the result
    const quiet = await onTerminal(["--quiet"]);
    expect(quiet.exit).toBe(0);
    expect(quiet.text).toStartWith("file: ");
  }, 30_000);

  test("a torn tail is reported on stderr; the complete ticks before it are shown", () => {
    const torn = join(dir, "torn.phreplay");
    const bytes = readFileSync(RECORDING);
    writeFileSync(torn, bytes.subarray(0, bytes.length - 5));
    const r = cli(["replay", "timeline", torn]);
    expect(r.exit).toBe(0);
    expect(r.stderr).toMatch(/^privheap: torn tail: \d+ bytes at offset \d+: a record cut short; reading the 69 complete ticks before it\n$/);
    expect(r.stdout).toContain("ticks: 69, keyframes: 3");
  });

  test("a step that throws exits 2 naming the tick", () => {
    const mod = join(dir, "throws.ts");
    writeFileSync(mod, `export function step(heap, input, tick) { if (tick === 12) throw new Error("boom"); }\n`);
    const r = cli(["replay", "timeline", RECORDING, "--step", mod, "--quiet"]);
    expect(r.exit).toBe(2);
    expect(r.stderr).toContain("the step function threw at tick 12:\nError: boom");
  });
});
