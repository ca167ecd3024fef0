// heapDiff and `privheap diff`: pages, allocations added, freed and changed
// against what the test did to the heap (offsets from its own mallocs, page
// counts from a byte-by-byte comparison of its own); text, JSON, the HTML
// file, heap files (the same state as a snapshot file, a later one, damaged
// ones, never changed), two ticks of a replay, layouts naming fields, the
// progress bars of reading and seeking, and usage errors.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWorld, Entity, inputFor, step as simStep } from "../../../examples/sim.ts";
import { fileSides } from "../../../src/cli/diff.ts";
import { ProgressBar } from "../../../src/cli/progress.ts";
import { HeapError } from "../../../src/errors.ts";
import { NATIVE_CONSTANTS } from "../../../src/ffi/symbols.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import { stateOfFile } from "../../../src/inspect/file.ts";
import { heapDiff } from "../../../src/inspect/heap-diff.ts";
import { PageKind } from "../../../src/inspect/page-map.ts";
import { Replay } from "../../../src/snapshot/replay.ts";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";
import { rng, seeds } from "../../support/random.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");
const CLI = join(ROOT, "src", "cli.ts");
const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;
const heapOf = heapsClosedAfterEach(1 << 20);
const dir = mkdtempSync(join(tmpdir(), "privheap-diff-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): { exit: number | null; stdout: string; stderr: string } {
  const r = Bun.spawnSync([process.execPath, CLI, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  return { exit: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Per page, the bytes that differ outside the lock block, counted one by one. */
function naivePerPage(a: Uint8Array, b: Uint8Array): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(Math.ceil(n / PAGE)).fill(0);
  for (let i = 0; i < n; i++)
    if ((a[i] ?? 0) !== (b[i] ?? 0) && !(i >= NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET && i < NATIVE_CONSTANTS.PH_LOCK_BLOCK_END)) out[Math.floor(i / PAGE)]!++;
  return out;
}

/** Two states: kept (changed), gone (freed), same (untouched), added (new, large). */
function scene() {
  const heap = heapOf();
  const kept = heap.malloc(40);
  const gone = heap.malloc(100);
  const same = heap.malloc(3000);
  heap.u8.fill(7, same, same + 3000);
  heap.setRoot("kept", kept);
  const before = heap.snapshot();
  heap.u8[kept + 5] = 9;
  heap.free(gone);
  const added = heap.malloc(3 * PAGE);
  heap.u8.fill(1, added, added + 3 * PAGE);
  const after = heap.snapshot();
  return { heap, before, after, kept, gone, same, added };
}

describe("heapDiff", () => {
  test("allocations added, freed and changed, matched by offset; pages with their changed byte counts", () => {
    const s = scene();
    const d = heapDiff(s.before, s.after);
    expect(d.added.map((a) => a.offset)).toEqual([s.added]);
    expect(d.added[0]!.size).toBe(s.heap.usableSize(s.added));
    expect(d.freed.map((a) => a.offset)).toEqual([s.gone]);
    expect(d.changed.map((a) => a.offset)).toEqual([s.kept]);
    const naive = naivePerPage(s.before.bytes, s.after.bytes);
    expect([...d.changedPerPage]).toEqual(naive);
    expect([...d.changedPages]).toEqual(naive.flatMap((n, p) => (n > 0 ? [p] : [])));
    expect(d.pages).toBe(Math.ceil(Math.max(s.before.byteLength, s.after.byteLength) / PAGE));
    for (let p = Math.floor(s.added / PAGE); p < (s.added + 3 * PAGE) / PAGE; p++) expect(d.changedPages).toContain(p);
    expect(d.stats.after.liveCount).toBe(s.heap.stats().liveCount);
    expect(d.diff.roots).toEqual(["kept"]);
  });

  test("the same state: nothing changed", () => {
    const s = scene();
    const d = heapDiff(s.after, s.after);
    expect(d.diff.equal).toBe(true);
    expect([d.added, d.freed, d.changed, [...d.changedPages]]).toEqual([[], [], [], []]);
  });
});

describe("privheap diff", () => {
  test("two snapshot files: text, exit 1 when they differ and 0 when they are the same", () => {
    const s = scene();
    const a = join(dir, "a.phsnap");
    const b = join(dir, "b.phsnap");
    s.before.saveSync(a);
    s.after.saveSync(b);
    const r = cli(["diff", a, b]);
    expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 1, stderr: "" });
    expect(r.stdout).toContain("allocations: 1 added, 1 freed, 1 changed\n");
    expect(r.stdout).toContain(`\n  added ${s.added} (${s.heap.usableSize(s.added)} bytes)\n`);
    expect(r.stdout).toContain(`\n  freed ${s.gone} (`);
    expect(r.stdout).toContain(`\n  changed ${s.kept} (`);
    expect(r.stdout).toContain("\nroots: kept\n");
    const same = cli(["diff", a, a]);
    expect({ exit: same.exit, stderr: same.stderr }).toEqual({ exit: 0, stderr: "" });
    expect(same.stdout).toContain("the heaps are the same");
  });

  test("--json holds the same facts; --html writes a self-contained page", () => {
    const s = scene();
    const a = join(dir, "ja.phsnap");
    const b = join(dir, "jb.phsnap");
    s.before.saveSync(a);
    s.after.saveSync(b);
    const html = join(dir, "diff.html");
    const r = cli(["diff", a, b, "--json", "--html", html]);
    expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 1, stderr: "" });
    const j = JSON.parse(r.stdout);
    const d = heapDiff(s.before, s.after);
    expect(j.added).toEqual(d.added);
    expect(j.freed).toEqual(d.freed);
    expect(j.changed).toEqual(d.changed);
    expect(j.changedPages).toEqual([...d.changedPages]);
    expect(j.diff.changedBytes).toBe(d.diff.changedBytes);
    const page = readFileSync(html, "utf8");
    expect(page).toStartWith("<!doctype html>");
    expect(page).not.toMatch(/\b(src|href)="(https?:)?\/\//);
  });

  describe("heap files", () => {
    /** A heap file of the region heapOf makes, holding `state`. */
    const heapFileOf = (name: string, state: Snapshot): string => {
      const path = join(dir, name);
      using file = PrivateHeap.open(path, { size: 1 << 20, create: true });
      file.restore(state);
      return path;
    };

    test("a heap file and a snapshot file of the same state are the same, either way round; the heap file is unchanged", () => {
      const s = scene();
      const heapPath = heapFileOf("same.phheap", s.after);
      const snapPath = join(dir, "same.phsnap");
      s.after.saveSync(snapPath);
      const bytes = readFileSync(heapPath);
      for (const [a, b] of [[heapPath, snapPath], [snapPath, heapPath], [heapPath, heapPath]]) {
        const r = cli(["diff", a!, b!]);
        expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
        expect(r.stdout).toContain("the heaps are the same");
        expect(r.stdout).toContain(`after (${b}): `);
      }
      expect(readFileSync(heapPath).equals(bytes)).toBe(true);
    });

    test("a heap file against a later state: the allocations and pages the test changed; the heap file is unchanged", () => {
      const s = scene();
      const heapPath = heapFileOf("before.phheap", s.before);
      const later = join(dir, "later.phsnap");
      s.after.saveSync(later);
      const bytes = readFileSync(heapPath);
      const r = cli(["diff", heapPath, later, "--json"]);
      expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 1, stderr: "" });
      const j = JSON.parse(r.stdout);
      expect(j.added.map((a: { offset: number }) => a.offset)).toEqual([s.added]);
      expect(j.added[0].size).toBe(s.heap.usableSize(s.added));
      expect(j.freed.map((a: { offset: number }) => a.offset)).toEqual([s.gone]);
      expect(j.changed.map((a: { offset: number }) => a.offset)).toEqual([s.kept]);
      const naive = naivePerPage(s.before.bytes, s.after.bytes);
      expect(j.changedPages).toEqual(naive.flatMap((n, p) => (n > 0 ? [p] : [])));
      expect(j.diff.changedBytes).toBe(naive.reduce((a, b) => a + b, 0));
      expect(j.diff.roots).toEqual(["kept"]);
      // The other way round: what was added is freed.
      const back = cli(["diff", later, heapPath, "--json"]);
      expect(back.exit).toBe(1);
      expect(JSON.parse(back.stdout).freed.map((a: { offset: number }) => a.offset)).toEqual([s.added]);
      expect(readFileSync(heapPath).equals(bytes)).toBe(true);
    });

    test("damaged or truncated heap files exit 2 with the HeapError's code; the file is unchanged", () => {
      const s = scene();
      const whole = readFileSync(heapFileOf("whole.phheap", s.after));
      const used = s.after.byteLength;
      const snapPath = join(dir, "other.phsnap");
      s.after.saveSync(snapPath);
      const damaged = (name: string, edit: (b: Uint8Array) => Uint8Array): string => {
        const path = join(dir, name);
        writeFileSync(path, edit(new Uint8Array(whole)));
        return path;
      };
      // The first large run's head entry in the page map (leaf 0 follows the two header pages): its length far past the heap.
      const largeRun = s.after.inspect().map;
      const run = largeRun.runKind.findIndex((k) => k === PageKind.large);
      expect(run).toBeGreaterThanOrEqual(0);
      const cases: [string, string, (b: Uint8Array) => Uint8Array][] = [
        ["ECORRUPT", "cut-header.phheap", (b) => b.subarray(0, 100)],
        // A heap file holds its whole region: cut anywhere after its header, it is shorter than the heap it describes.
        ["ESIZE", "cut-map.phheap", (b) => b.subarray(0, 2 * PAGE + 50)],
        ["ESIZE", "cut-used.phheap", (b) => b.subarray(0, used)],
        ["EVERSION", "other-abi.phheap", (b) => {
          new DataView(b.buffer).setUint32(8, NATIVE_CONSTANTS.PH_ABI_VERSION + 1, true);
          return b;
        }],
        ["ECORRUPT", "bad-map.phheap", (b) => {
          new DataView(b.buffer).setUint32(2 * PAGE + largeRun.runStart[run]! * 16 + 4, 0x7fffffff, true);
          return b;
        }],
        ["ECORRUPT", "bad-bitmap.phheap", (b) => {
          // Every page map entry of the used prefix zeroed: the live allocations are gone, the counters still count them.
          b.fill(0, 2 * PAGE, 2 * PAGE + (used / PAGE) * 16);
          return b;
        }],
      ];
      for (const [code, name, edit] of cases) {
        const path = damaged(name, edit);
        const before = readFileSync(path);
        for (const args of [[path, snapPath], [snapPath, path]]) {
          const r = cli(["diff", ...args]);
          expect({ name, exit: r.exit, stdout: r.stdout }).toEqual({ name, exit: 2, stdout: "" });
          expect({ name, stderr: r.stderr }).toEqual({ name, stderr: expect.stringContaining(`privheap: stateOfFile: ${code}: `) as unknown as string });
          expect(r.stderr).toContain(path);
        }
        expect(readFileSync(path).equals(before)).toBe(true);
      }
    });

    test("damaged page maps (seeded campaign): a state that passes the full check, or ECORRUPT; never another error", () => {
      const s = scene();
      const whole = readFileSync(heapFileOf("campaign.phheap", s.after));
      const mapStart = 2 * PAGE;
      const mapEnd = mapStart + (s.after.byteLength / PAGE) * 16;
      const codes = new Map<string, number>();
      const path = join(dir, "campaign-damaged.phheap");
      for (const seed of seeds(3)) {
        const r = rng(seed);
        for (let round = 0; round < 200; round++) {
          const damaged = new Uint8Array(whole);
          for (let i = r.int(1, 6); i > 0; i--) {
            const at = r.int(mapStart, mapEnd - 1);
            damaged[at] = r.pick([0, 0xff, r.int(0, 255), damaged[at]! ^ (1 << r.int(0, 7))]);
          }
          writeFileSync(path, damaged);
          let code = "state";
          try {
            stateOfFile(path).close();
          } catch (e) {
            if (!(e instanceof HeapError)) throw new Error(`seed ${seed} round ${round}: ${String(e)}`);
            code = e.code;
          }
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
      }
      expect([...codes.keys()].every((c) => c === "state" || c === "ECORRUPT")).toBe(true);
      expect(codes.get("ECORRUPT") ?? 0).toBeGreaterThan(0);
    });

    test("reading each file moves a progress bar in MiB up to the whole file, then erases it", () => {
      const MiB = 1 << 20;
      using big = PrivateHeap.create({ size: 32 << 20 });
      const block = big.malloc(20 * MiB);
      big.u8.fill(3, block, block + 20 * MiB);
      const state = big.snapshot();
      const heapPath = join(dir, "big.phheap");
      {
        using file = PrivateHeap.open(heapPath, { size: 32 << 20, create: true });
        file.restore(state);
      }
      const snapPath = join(dir, "big.phsnap");
      state.saveSync(snapPath);
      // Pages of the image that are not all zero: what the snapshot file stores.
      let stored = 0;
      const image = state.bytes;
      for (let p = 0; p < image.length; p += PAGE) if (image.subarray(p, p + PAGE).some((b) => b !== 0)) stored += PAGE;
      const written: string[] = [];
      let clock = 0;
      // A clock that moves 100 ms at every look, so a bar is due at each update after the first three.
      const bars = (label: string, unit: string) => new ProgressBar({ write: (t) => void written.push(t), label, unit, now: () => (clock += 100) });
      const sides = fileSides(heapPath, snapPath, bars);
      expect(heapDiff(sides.before, sides.after).diff.equal).toBe(true);
      const frames = (label: string) => written.filter((t) => t.startsWith(`\r${label} [`));
      const usedMiB = Math.ceil(state.byteLength / MiB);
      const storedMiB = Math.ceil(stored / MiB);
      expect(frames("reading A").length).toBeGreaterThan(1);
      expect(frames("reading A").at(-1)).toMatch(new RegExp(` 100% ${usedMiB}/${usedMiB} MiB`));
      expect(frames("reading B").length).toBeGreaterThan(1);
      expect(frames("reading B").at(-1)).toMatch(new RegExp(` 100% ${storedMiB}/${storedMiB} MiB`));
      // Each bar is erased before the next one starts, and the last at the end.
      const erase = "\r\x1b[K";
      expect(written.indexOf(erase)).toBeGreaterThan(written.indexOf(frames("reading A").at(-1)!));
      expect(written.indexOf(erase)).toBeLessThan(written.indexOf(frames("reading B")[0]!));
      expect(written.at(-1)).toBe(erase);
    });

    test("a replay is no single state: diff A B of one is exit 2, EINVAL", () => {
      const s = scene();
      const snapPath = join(dir, "vs-replay.phsnap");
      s.after.saveSync(snapPath);
      const replayPath = join(dir, "one.phreplay");
      {
        using rec = Replay.record(replayPath, s.heap);
        rec.tick(new Uint8Array(1));
      }
      const r = cli(["diff", replayPath, snapPath]);
      expect(r.exit).toBe(2);
      expect(r.stderr).toContain("stateOfFile: EINVAL: ");
      expect(r.stderr).toContain("a replay holds a state per tick");
    });
  });

  describe("two ticks of a replay", () => {
    const path = join(dir, "sim.phreplay");
    const setup = () => {
      if (existsSync(path)) return;
      const heap = heapOf();
      createWorld(heap, 100);
      using rec = Replay.record(path, heap, { keyframeEvery: 20 });
      for (let t = 0; t < 50; t++) {
        simStep(heap, inputFor(t), t);
        rec.tick(inputFor(t));
      }
    };

    test("keyframes need no step; other ticks are reached with --step and compared as a seek leaves them", () => {
      setup();
      using replay = Replay.openSync(path);
      const kf = cli(["diff", path, "--ticks", "-1", "39"]);
      expect({ exit: kf.exit, stderr: kf.stderr }).toEqual({ exit: 1, stderr: "" });
      const expectedKf = heapDiff(replay.keyframe(-1), replay.keyframe(39));
      expect(kf.stdout).toContain(`changed: ${expectedKf.diff.changedBytes} bytes in `);

      const refused = cli(["diff", path, "--ticks", "5", "39"]);
      expect(refused.exit).toBe(2);
      expect(refused.stderr).toContain("tick 5 of");
      expect(refused.stderr).toContain("give --step MODULE");

      const h5 = heapOf();
      replay.seek(5, h5, simStep);
      const h33 = heapOf();
      replay.seek(33, h33, simStep);
      const expected = heapDiff(h5.snapshot(), h33.snapshot());
      const r = cli(["diff", path, "--ticks", "5", "33", "--step", join(ROOT, "examples", "sim.ts"), "--json"]);
      expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 1, stderr: "" });
      const j = JSON.parse(r.stdout);
      expect(j.diff.changedBytes).toBe(expected.diff.changedBytes);
      expect(j.changedPages).toEqual([...expected.changedPages]);
      expect(j.before).toBe(`${path} after tick 5`);
    });

    test.skipIf(process.platform === "win32")("on a terminal, seeking to ticks with --step draws a progress bar of the ticks run and erases it; --quiet draws none", async () => {
      setup();
      // 30 ms a tick: the 20 ticks run take about 0.6 s, past the bar's 0.3 s delay.
      const slow = join(dir, "slow-step.ts");
      writeFileSync(slow, `import { step as simStep } from ${JSON.stringify(join(ROOT, "examples", "sim.ts"))};\nexport const step = (heap, input, tick) => { Bun.sleepSync(30); simStep(heap, input, tick); };\n`);
      const onTerminal = async (extra: string[]): Promise<{ exit: number | null; text: string }> => {
        const chunks: string[] = [];
        const decoder = new TextDecoder();
        const proc = Bun.spawn([process.execPath, CLI, "diff", path, "--ticks", "5", "33", "--step", slow, ...extra], {
          cwd: ROOT,
          terminal: { cols: 72, rows: 24, data: (_term, data) => void chunks.push(decoder.decode(data, { stream: true })) },
        });
        await proc.exited;
        proc.terminal?.close();
        return { exit: proc.exitCode, text: chunks.join("") };
      };
      using replay = Replay.openSync(path);
      const lastKeyframe = (t: number) => replay.keyframes.filter((k) => k <= t).at(-1)!;
      const total = 5 - lastKeyframe(5) + (33 - lastKeyframe(33)); // the ticks both seeks run
      expect(total).toBe(20);
      const drawn = await onTerminal([]);
      expect(drawn.exit).toBe(1);
      const frames = drawn.text.match(new RegExp(`\\rseeking \\[[#.]+\\] +\\d+% +\\d+/${total} ticks[^\\r]*`, "g")) ?? [];
      expect(frames.length).toBeGreaterThan(1);
      expect(drawn.text).toContain("\r\x1b[Kbefore ("); // erased before the result
      const quiet = await onTerminal(["--quiet"]);
      expect(quiet.exit).toBe(1);
      expect(quiet.text).toStartWith("before (");
      expect(quiet.text).not.toContain("seeking");
    }, 30_000);

    test("--layouts names the changed fields", () => {
      setup();
      const mod = join(dir, "layouts.ts");
      writeFileSync(mod, `import { LayoutMap } from ${JSON.stringify(join(ROOT, "src", "index.ts"))};\nimport { Entity } from ${JSON.stringify(join(ROOT, "examples", "sim.ts"))};\nexport const layouts = LayoutMap.create().root("entities", Entity, { count: 100 });\n`);
      using replay = Replay.openSync(path);
      const a = replay.keyframe(19);
      const b = replay.keyframe(39);
      const at = b.roots().entities! + 3 * Entity.size + Entity.offsets.pos;
      const view = (s: Snapshot) => new DataView(s.bytes.buffer);
      const x0 = view(a).getFloat32(at, true);
      const x1 = view(b).getFloat32(at, true);
      expect(x0).not.toBe(x1);
      const html = join(dir, "fields.html");
      const r = cli(["diff", path, "--ticks", "19", "39", "--layouts", mod, "--html", html]);
      expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 1, stderr: "" });
      expect(r.stdout).toContain(`\n  entities[3].pos.x (f32 at ${at}): ${x0} -> ${x1}\n`);
      expect(readFileSync(html, "utf8")).toContain(`<td class="mono">entities[3].pos.x (f32): ${x0} -&gt; ${x1}</td><td class="num mono">${at}</td>`);
      const without = cli(["diff", path, "--ticks", "19", "39"]);
      expect(without.stdout).not.toContain("changed fields");
    });
  });

  test("usage errors exit 2 with a message", () => {
    const cases: [string[], string][] = [
      [["diff", "only-one.phsnap"], "give two snapshot files"],
      [["diff", "x.phreplay", "--ticks", "1", "z"], '"z" is not a tick'],
      [["diff", "x.phreplay", "--ticks", "1"], '"" is not a tick'],
      [["diff", "a", "b", "--step", "m.ts"], "--step is for two ticks"],
      [["diff", "a", "b", "--nope"], "unknown option --nope"],
      [["replay", "verify", "x", "--step", "m.ts", "--html", "o.html"], "--html is an option of replay timeline and diff"],
    ];
    for (const [args, message] of cases) {
      const r = cli(args);
      expect({ args, exit: r.exit }).toEqual({ args, exit: 2 });
      expect(r.stderr).toContain(message);
    }
  });
});
