// heapDiff and `privheap diff`: pages, allocations added, freed and changed
// against what the test did to the heap (offsets from its own mallocs, page
// counts from a byte-by-byte comparison of its own); text, JSON, the HTML
// file, two ticks of a replay, layouts naming fields, and usage errors.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWorld, Entity, inputFor, step as simStep } from "../../../examples/sim.ts";
import { NATIVE_CONSTANTS } from "../../../src/ffi/symbols.ts";
import { heapDiff } from "../../../src/inspect/heap-diff.ts";
import { Replay } from "../../../src/snapshot/replay.ts";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";

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
