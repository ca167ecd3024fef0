// The privheap command line (src/cli.ts), run in child processes as a user
// runs it: replay info on whole, torn and garbage files, replay verify with
// good, changed, nondeterministic and throwing step modules, the progress
// bar on a terminal, usage errors and their exit status.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWorld, Entity, inputFor, step as simStep } from "../../examples/sim.ts";
import { ProgressBar } from "../../src/cli/progress.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { Replay, type StepFn } from "../../src/snapshot/replay.ts";
import { heapsClosedAfterEach } from "../support/heaps.ts";
import { rng } from "../support/random.ts";

const ROOT = join(import.meta.dir, "..", "..");
const CLI = join(ROOT, "src", "cli.ts");
const SIM = join(ROOT, "examples", "sim.ts");
const REGION = 1 << 20;
const TICKS = 130;
const EVERY = 60;
const heapOf = heapsClosedAfterEach(REGION);
const dir = mkdtempSync(join(tmpdir(), "privheap-cli-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const RECORDING = join(dir, "sim.phreplay");

interface Run {
  exit: number | null;
  stdout: string;
  stderr: string;
}

/** `privheap ...args` in a child Bun, from the repository root unless `cwd` says otherwise. */
function cli(args: string[], cwd = ROOT, timeout = 30_000): Run {
  const r = Bun.spawnSync([process.execPath, CLI, ...args], { cwd, stdout: "pipe", stderr: "pipe", timeout });
  return { exit: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Write a step module into the temp dir; `body` may use `simStep` and `Entity` from examples/sim.ts. */
function stepModule(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `import { step as simStep, Entity } from ${JSON.stringify(SIM)};\n${body}\n`);
  return path;
}

/** The record sizes of a replay file, read from its framing (type u32, length u32, payload, checksum u64). */
function recordBytes(file: Uint8Array): { tick: number; keyframe: number } {
  const view = new DataView(file.buffer, file.byteOffset, file.length);
  const sum = { tick: 0, keyframe: 0 };
  for (let at = 48; at + 16 <= file.length; ) {
    const size = 16 + view.getUint32(at + 4, true);
    if (at + size > file.length) break;
    if (view.getUint32(at, true) === 1) sum.tick += size;
    else sum.keyframe += size;
    at += size;
  }
  return sum;
}

const hex = (v: bigint) => `0x${v.toString(16).padStart(16, "0")}`;

beforeAll(() => {
  using heap = PrivateHeap.create({ size: REGION });
  createWorld(heap, 200);
  using rec = Replay.record(RECORDING, heap, { keyframeEvery: EVERY });
  for (let t = 0; t < TICKS; t++) {
    const input = inputFor(t);
    simStep(heap, input, t);
    rec.tick(input);
  }
});

describe("privheap help and usage errors", () => {
  test("--help, -h and help print the usage on stdout and exit 0", () => {
    for (const args of [["--help"], ["-h"], ["help"], ["replay", "verify", "--help"]]) {
      const r = cli(args);
      expect({ args, exit: r.exit, stderr: r.stderr }).toEqual({ args, exit: 0, stderr: "" });
      expect(r.stdout).toContain("privheap replay info FILE");
      expect(r.stdout).toContain("privheap replay verify FILE --step MODULE [--quiet]");
      expect(r.stdout).toContain("Exit status:");
    }
  });

  test("no arguments: the usage on stderr, exit 2", () => {
    const r = cli([]);
    expect(r.exit).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("privheap replay verify FILE --step MODULE [--quiet]");
  });

  test("usage errors: a message and the usage on stderr, nothing on stdout, exit 2", () => {
    const noStep = stepModule("no-step.ts", "export const notStep = 1;");
    const cases: [string[], string][] = [
      [["frobnicate"], 'unknown command "frobnicate"'],
      [["replay"], "replay: missing the subcommand (info, verify or timeline)"],
      [["replay", "play", RECORDING], 'replay: unknown subcommand "play"'],
      [["replay", "info"], "replay info: missing FILE"],
      [["replay", "info", RECORDING, "extra"], 'replay info: unexpected argument "extra"'],
      [["replay", "info", RECORDING, "--fast"], "unknown option --fast"],
      [["replay", "info", RECORDING, "--step", SIM], "replay info: --step is an option of replay verify"],
      [["replay", "verify"], "replay verify: missing FILE"],
      [["replay", "verify", RECORDING], "replay verify: missing --step MODULE"],
      [["replay", "verify", RECORDING, "--step"], "--step needs a value"],
      [["replay", "verify", RECORDING, "--step", SIM, "--step", SIM], "--step given twice"],
      [["replay", "verify", RECORDING, "--quiet=yes", "--step", SIM], "--quiet takes no value"],
      [["replay", "verify", RECORDING, "--step", noStep], "exports no step function"],
    ];
    for (const [args, message] of cases) {
      const r = cli(args);
      expect({ args, exit: r.exit, stdout: r.stdout }).toEqual({ args, exit: 2, stdout: "" });
      expect(r.stderr).toStartWith("privheap: ");
      expect(r.stderr).toContain(message);
      expect(r.stderr).toContain("Usage:\n  privheap inspect FILE");
    }
  }, 60_000);
});

describe("privheap replay info", () => {
  test("a fresh recording: version, ticks, keyframes, sizes, bytes per tick and per keyframe, compression, no torn tail", () => {
    const r = cli(["replay", "info", RECORDING]);
    expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
    const size = statSync(RECORDING).size;
    const records = recordBytes(readFileSync(RECORDING));
    expect(48 + records.tick + records.keyframe).toBe(size); // the framing walk saw every byte
    let inputs = 0;
    for (let t = 0; t < TICKS; t++) inputs += inputFor(t).length;
    const last = Replay.openSync(RECORDING).keyframe(119);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe(`file: ${RECORDING}`);
    expect(lines[1]).toMatch(/^format version: 2 \(native ABI \d+, page size 4096\)$/);
    expect(lines.slice(2)).toEqual([
      `ticks: ${TICKS}`,
      `keyframes: 3, every ${EVERY} ticks (after ticks -1, 59, 119)`,
      `region size: ${REGION} bytes (1.00 MiB)`,
      `file size: ${size} bytes (${(size / 1024).toFixed(2)} KiB)`,
      `tick records: ${records.tick} bytes, ${(records.tick / TICKS).toFixed(1)} bytes per tick on average (${(inputs / TICKS).toFixed(1)} of them input)`,
      `keyframe records: ${records.keyframe} bytes, ${(records.keyframe / 3).toFixed(1)} bytes per keyframe on average`,
      `last keyframe: after tick 119, ${last.byteLength} bytes of heap used (${(last.byteLength / 1024).toFixed(2)} KiB), roots: entities, game`,
      "compression: zstd (each keyframe stored compressed where that is smaller)",
      "torn tail: none",
      "",
    ]);
  });

  test("a recording made with compress: false says so", () => {
    const path = join(dir, "uncompressed.phreplay");
    {
      using heap = PrivateHeap.create({ size: REGION });
      createWorld(heap, 200);
      using rec = Replay.record(path, heap, { keyframeEvery: EVERY, compress: false });
      for (let t = 0; t < TICKS; t++) {
        simStep(heap, inputFor(t), t);
        rec.tick(inputFor(t));
      }
    }
    const r = cli(["replay", "info", path]);
    expect(r.exit).toBe(0);
    expect(r.stdout).toContain("\ncompression: none (recorded with compress: false: keyframe pages stored raw)\n");
    expect(statSync(path).size).toBeGreaterThan(statSync(RECORDING).size);
  });

  test("a torn file: the tail is reported, the complete ticks counted, exit 0", () => {
    const whole = readFileSync(RECORDING);
    const torn = join(dir, "torn.phreplay");
    writeFileSync(torn, whole.subarray(0, whole.length - 5));
    // The last record is tick 129's (130 is no multiple of 60): 8 + 16 + its 2 input bytes + 8.
    const lastRecord = 32 + inputFor(TICKS - 1).length;
    const r = cli(["replay", "info", torn]);
    expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
    expect(r.stdout).toContain(`\nticks: ${TICKS - 1}\n`);
    expect(r.stdout).toContain(`\nfile size: ${whole.length - 5} bytes`);
    expect(r.stdout).toContain(`\ntorn tail: ${lastRecord - 5} bytes at offset ${whole.length - lastRecord}: a record cut short\n`);
    expect(r.stdout).toContain(`\nkeyframe records: ${recordBytes(whole).keyframe} bytes`);
  });

  test("garbage is ECORRUPT, a missing file EIO: the message on stderr, exit 2", () => {
    const seed = 9001;
    const r0 = rng(seed);
    const garbage = join(dir, "garbage.phreplay");
    writeFileSync(garbage, Uint8Array.from({ length: 8192 }, () => r0.int(0, 255)));
    const r = cli(["replay", "info", garbage]);
    expect({ seed, exit: r.exit, stdout: r.stdout }).toEqual({ seed, exit: 2, stdout: "" });
    expect(r.stderr).toStartWith("privheap: Replay.open: ECORRUPT: ");
    expect(r.stderr).toContain("not a privheap replay (wrong magic)");
    expect(r.stderr).not.toContain("Usage:");
    const missing = cli(["replay", "info", join(dir, "missing.phreplay")]);
    expect({ exit: missing.exit, stdout: missing.stdout }).toEqual({ exit: 2, stdout: "" });
    expect(missing.stderr).toStartWith("privheap: Replay.open: EIO: ");
  });
});

describe("privheap replay verify", () => {
  test("--step examples/sim.ts: ok, exit 0, and no progress bar when stderr is not a terminal", () => {
    const r = cli(["replay", "verify", RECORDING, "--step", "examples/sim.ts"]);
    expect(r).toEqual({ exit: 0, stdout: `ok: ${TICKS} ticks verified\n`, stderr: "" });
  });

  test("FILE and MODULE relative to the current directory; a default export is the step", () => {
    stepModule("default-step.ts", "export default simStep;");
    const r = cli(["replay", "verify", "sim.phreplay", "--step", "./default-step.ts"], dir);
    expect(r).toEqual({ exit: 0, stdout: `ok: ${TICKS} ticks verified\n`, stderr: "" });
  });

  test("a step that changes the state at tick 70: exit 1, the tick, both checksums, the keyframe compared and the entities root", async () => {
    const path = stepModule(
      "changed.ts",
      `export function step(heap, input, tick) {
        simStep(heap, input, tick);
        if (tick === 70) heap.view.setInt32(heap.getRoot("entities") + 5 * Entity.size + Entity.offsets.hp, 12345, true);
      }`,
    );
    const changed = (await import(path)).step as StepFn;
    const replay = Replay.openSync(RECORDING);
    const heap = heapOf();
    replay.seek(69, heap, simStep);
    changed(heap, replay.input(70), 70);
    const entities = replay.keyframe(-1).roots().entities!;

    const r = cli(["replay", "verify", RECORDING, "--step", path]);
    expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 1, stderr: "" });
    const lines = r.stdout.split("\n");
    expect(lines.slice(0, 3)).toEqual([
      `diverged at tick 70 of ${TICKS} (ticks 0 to 69 matched)`,
      `  expected checksum: ${hex(replay.checksum(70))}`,
      `  actual checksum:   ${hex(heap.checksum())}`,
    ]);
    // A second run of tick 70 agrees with the first, so the diff is against the next keyframe.
    expect(lines[3]).toStartWith("  compared with: the recorded keyframe after tick 119 (diffAgainst: keyframe, diffTick: 119)");
    expect(lines[4]).toMatch(/^ {2}changed bytes: [1-9]\d* in [1-9]\d* ranges?, 1 allocation$/);
    expect(lines[5]).toBe("  roots: entities");
    expect(r.stdout).toMatch(new RegExp(`\\n {4}offset \\d+, \\d+ bytes?: allocation at offset ${entities}, size \\d+, roots: entities\\n`));
  });

  test("a step module that exports layouts: the divergence names the changed field with both values", async () => {
    const INDEX = join(ROOT, "src", "index.ts");
    const body = `export function step(heap, input, tick) {
        simStep(heap, input, tick);
        if (tick === 70) heap.view.setInt32(heap.getRoot("entities") + 5 * Entity.size + Entity.offsets.hp, 12345, true);
      }`;
    const plain = stepModule("changed-plain.ts", body);
    const path = stepModule(
      "changed-layouts.ts",
      `import { LayoutMap } from ${JSON.stringify(INDEX)};
      export const layouts = LayoutMap.create().root("entities", Entity, { count: 200 });
      ${body}`,
    );
    // What the field held in the recorded keyframe the diff compares with (after tick 119), from a clean run.
    const replay = Replay.openSync(RECORDING);
    const heap = heapOf();
    replay.seek(119, heap, simStep);
    const at = heap.getRoot("entities") + 5 * Entity.size + Entity.offsets.hp;
    const recorded = heap.view.getInt32(at, true);
    const changed = (await import(path)).step as StepFn;
    replay.seek(69, heap, simStep);
    for (let t = 70; t <= 119; t++) changed(heap, replay.input(t), t);
    const now = heap.view.getInt32(at, true);
    expect(now).not.toBe(recorded);

    const r = cli(["replay", "verify", RECORDING, "--step", path, "--quiet"]);
    expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 1, stderr: "" });
    expect(r.stdout).toContain(`\n  changed fields:\n    entities[5].hp (i32 at ${at}): ${recorded} -> ${now}\n`);
    const without = cli(["replay", "verify", RECORDING, "--step", plain, "--quiet"]);
    expect(without.exit).toBe(1);
    expect(without.stdout).not.toContain("changed fields");
    const wrong = stepModule("wrong-layouts.ts", "export const layouts = { root() {} };\nexport { simStep as step };");
    const bad = cli(["replay", "verify", RECORDING, "--step", wrong]);
    expect({ exit: bad.exit, stdout: bad.stdout }).toEqual({ exit: 2, stdout: "" });
    expect(bad.stderr).toContain("exports `layouts` that is not a LayoutMap");
  });

  for (const [tick, against, diffTick] of [[70, "rerun", 70], [59, "keyframe", 59]] as const) {
    test(`a nondeterministic write at tick ${tick}: exit 1, found at that tick, compared with the ${against}`, () => {
      const path = stepModule(
        `flaky-${tick}.ts`,
        `export const step = (heap, input, tick) => {
          simStep(heap, input, tick);
          if (tick === ${tick}) heap.view.setUint32(heap.getRoot("entities") + 3 * Entity.size + Entity.offsets.hits, 1 + Math.floor(Math.random() * 1e9), true);
        };`,
      );
      const r = cli(["replay", "verify", RECORDING, "--step", path, "--quiet"]);
      expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 1, stderr: "" });
      expect(r.stdout).toStartWith(`diverged at tick ${tick} of ${TICKS}`);
      expect(r.stdout).toContain(`(diffAgainst: ${against}, diffTick: ${diffTick})`);
      if (against === "rerun") expect(r.stdout).toContain("the step is not deterministic");
      expect(r.stdout).toContain("\n  roots: entities\n");
    });
  }

  test("a step that throws: the tick and the error on stderr, exit 2", () => {
    const path = stepModule(
      "throws.ts",
      `export const step = (heap, input, tick) => {
        if (tick === 33) throw new RangeError("no entity 9999");
        simStep(heap, input, tick);
      };`,
    );
    const r = cli(["replay", "verify", RECORDING, "--step", path]);
    expect({ exit: r.exit, stdout: r.stdout }).toEqual({ exit: 2, stdout: "" });
    expect(r.stderr).toStartWith("privheap: the step function threw at tick 33:\nRangeError: no entity 9999");
  });

  test("a module that cannot be loaded, a file that is no replay: exit 2 without a stack", () => {
    const missing = cli(["replay", "verify", RECORDING, "--step", "no-such-step.ts"]);
    expect(missing).toEqual({ exit: 2, stdout: "", stderr: `privheap: cannot load the step module ${join(ROOT, "no-such-step.ts")}: no such file\n` });
    const broken = stepModule("broken.ts", "export const step = ;");
    const r = cli(["replay", "verify", RECORDING, "--step", broken]);
    expect({ exit: r.exit, stdout: r.stdout }).toEqual({ exit: 2, stdout: "" });
    expect(r.stderr).toStartWith(`privheap: cannot load the step module ${broken}: `);
    const notReplay = cli(["replay", "verify", SIM, "--step", SIM]);
    expect({ exit: notReplay.exit, stdout: notReplay.stdout }).toEqual({ exit: 2, stdout: "" });
    expect(notReplay.stderr).toStartWith("privheap: Replay.open: ECORRUPT: ");
  });

  test("a torn file verifies its complete ticks and says so on stderr", () => {
    const whole = readFileSync(RECORDING);
    const torn = join(dir, "torn-verify.phreplay");
    writeFileSync(torn, whole.subarray(0, whole.length - 3));
    const r = cli(["replay", "verify", torn, "--step", SIM]);
    expect({ exit: r.exit, stdout: r.stdout }).toEqual({ exit: 0, stdout: `ok: ${TICKS - 1} ticks verified\n` });
    expect(r.stderr).toMatch(/^privheap: torn tail: \d+ bytes at offset \d+: a record cut short; verifying the 129 complete ticks before it\n$/);
  });

  test("the process exits when the command is done, even if the step module keeps a timer", () => {
    const path = stepModule("timer.ts", "setInterval(() => {}, 1000);\nexport const step = simStep;");
    const r = cli(["replay", "verify", RECORDING, "--step", path], ROOT, 10_000); // killed (exit null) if it hangs
    expect(r).toEqual({ exit: 0, stdout: `ok: ${TICKS} ticks verified\n`, stderr: "" });
  }, 15_000);

  test.skipIf(process.platform === "win32")("on a terminal a long run draws a progress bar on stderr and erases it; --quiet draws none", async () => {
    // 6 ms a tick: 130 ticks take about 0.8 s, past the bar's 0.3 s delay.
    const slow = stepModule("slow.ts", "export const step = (heap, input, tick) => { Bun.sleepSync(6); simStep(heap, input, tick); };");
    const onTerminal = async (extra: string[]): Promise<{ exit: number | null; text: string }> => {
      const chunks: string[] = [];
      const decoder = new TextDecoder();
      const proc = Bun.spawn([process.execPath, CLI, "replay", "verify", RECORDING, "--step", slow, ...extra], {
        cwd: ROOT,
        terminal: { cols: 72, rows: 24, data: (_term, data) => void chunks.push(decoder.decode(data, { stream: true })) },
      });
      await proc.exited;
      proc.terminal?.close();
      return { exit: proc.exitCode, text: chunks.join("") };
    };
    const drawn = await onTerminal([]);
    expect(drawn.exit).toBe(0);
    const frames = drawn.text.match(/\rverifying \[[#.]+\] +\d+% +\d+\/130 ticks[^\r]*/g) ?? [];
    expect(frames.length).toBeGreaterThan(1);
    for (const f of frames) expect(f.replace(/\x1b\[K$/, "").length - 1).toBeLessThan(72);
    expect(drawn.text).toEndWith("\r\x1b[Kok: 130 ticks verified\r\n"); // erased before the result
    const quiet = await onTerminal(["--quiet"]);
    expect(quiet).toEqual({ exit: 0, text: "ok: 130 ticks verified\r\n" });
  }, 30_000);
});

describe("ProgressBar", () => {
  /** A bar on a fake clock; returns it, the clock setter and what it wrote. */
  function fakeBar(columns = 60) {
    let now = 0;
    const written: string[] = [];
    const bar = new ProgressBar({ write: (s) => void written.push(s), columns, label: "verifying", unit: "ticks", delayMs: 300, intervalMs: 100, now: () => now });
    return { bar, written, at: (ms: number) => void (now = ms) };
  }

  test("nothing for the first delayMs, then at most one redraw per intervalMs; clear erases once", () => {
    const { bar, written, at } = fakeBar();
    for (let ms = 0; ms < 300; ms += 10) {
      at(ms);
      bar.update(ms, 1000);
    }
    expect(written).toEqual([]);
    expect(bar.visible).toBe(false);
    for (let ms = 300; ms <= 1000; ms += 10) {
      at(ms);
      bar.update(ms, 1000);
    }
    expect(written.length).toBe(8); // at 300, 400, ..., 1000
    expect(written[0]).toBe("\rverifying [###........]  30%  300/1000 ticks, 0:01 left\x1b[K");
    expect(bar.visible).toBe(true);
    bar.clear();
    bar.clear();
    expect(written.slice(8)).toEqual(["\r\x1b[K"]);
    expect(bar.visible).toBe(false);
  });

  test("a clear before the first draw writes nothing", () => {
    const { bar, written, at } = fakeBar();
    at(100);
    bar.update(5, 10);
    bar.clear();
    expect(written).toEqual([]);
  });

  test("the line fits the terminal, and the bar keeps its width as the counts grow", () => {
    for (const columns of [20, 40, 60, 80, 200]) {
      const { bar } = fakeBar(columns);
      const widths = new Set<number>();
      for (const done of [0, 1, 999, 1_000_000, 1_999_999, 2_000_000]) {
        const line = bar.line(done, 2_000_000, 123_456);
        expect(line.length, `${columns} columns, ${done} done: ${line}`).toBeLessThan(columns);
        const inner = /\[([#.]*)\]/.exec(line);
        if (inner) widths.add(inner[1]!.length);
      }
      expect(widths.size, `${columns} columns`).toBeLessThanOrEqual(1);
      if (columns >= 80) expect(widths.size).toBe(1); // wide enough to draw a bar at all
    }
  });
});
