// privheap inspect, run in child processes as a user runs it: a snapshot
// file, a heap file and a replay at a tick, as text, as JSON and as an HTML
// page; usage errors and unreadable files. Expected numbers come from the
// heaps the test made (their stats and what the test allocated), the page's
// embedded data is decoded here and compared with the heap's page map.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWorld, inputFor, step as simStep } from "../../../examples/sim.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import { PageKind } from "../../../src/inspect/page-map.ts";
import { Replay } from "../../../src/snapshot/replay.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");
const CLI = join(ROOT, "src", "cli.ts");
const SIM = join(ROOT, "examples", "sim.ts");
const dir = mkdtempSync(join(tmpdir(), "privheap-inspect-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SNAP = join(dir, "world.phsnap");
const HEAP = join(dir, "world.phheap");
const REPLAY = join(dir, "sim.phreplay");
const REGION = 2 << 20;

interface Run {
  exit: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Run {
  const r = Bun.spawnSync([process.execPath, CLI, ...args], { cwd: dir, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
  return { exit: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Facts of the heap saved as SNAP, taken when it was saved. */
let facts: { stats: ReturnType<PrivateHeap["stats"]>; kinds: Uint8Array; big: number; rootAt: number };
/** Live counts of the recording's heap after each tick. */
const liveAfter: number[] = [];

beforeAll(() => {
  using heap = PrivateHeap.create({ size: REGION });
  const offs: number[] = [];
  for (let i = 0; i < 600; i++) offs.push(heap.malloc(8 + ((i * 37) % 900)));
  for (let i = 0; i < offs.length; i += 4) heap.free(offs[i]!);
  const big = heap.malloc(123_456);
  heap.setRoot("big", big);
  heap.setRoot("first", offs[1]!);
  heap.snapshot().saveSync(SNAP);
  facts = { stats: heap.stats(), kinds: heap.inspect().map.kinds, big, rootAt: offs[1]! };
  using file = PrivateHeap.open(HEAP, { size: REGION, create: true });
  file.restore(heap.snapshot());

  using sim = PrivateHeap.create({ size: 1 << 20 });
  createWorld(sim, 100);
  using rec = Replay.record(REPLAY, sim, { keyframeEvery: 20 });
  for (let t = 0; t < 45; t++) {
    simStep(sim, inputFor(t), t);
    rec.tick(inputFor(t));
    liveAfter.push(sim.stats().liveCount);
  }
});

/** The page's embedded data, decoded as the page's script decodes it. */
function pageData(html: string): { map: { pages: number; kinds: Uint8Array; runStart: Uint32Array } } {
  const start = html.indexOf('id="privheap-data">') + 'id="privheap-data">'.length;
  const json = html.slice(start, html.indexOf("</script>", start));
  return JSON.parse(json, (_k, v) => {
    if (v === null || typeof v !== "object" || typeof v.$typed !== "string") return v;
    const bytes = new Uint8Array(Buffer.from(v.base64, "base64"));
    return v.$typed === "Uint8Array" ? bytes : v.$typed === "Uint32Array" ? new Uint32Array(bytes.buffer) : bytes;
  });
}

describe("privheap inspect", () => {
  test("the usage lists inspect", () => {
    const r = cli(["--help"]);
    expect(r.exit).toBe(0);
    expect(r.stdout).toContain("privheap inspect FILE [--tick N [--step MODULE]] [--layouts MODULE] [--json] [--html OUT] [--quiet]");
    expect(r.stdout).toContain("  inspect FILE ");
  });

  test("a snapshot file as text: sizes, live counts, roots and the largest allocation, exit 0", () => {
    const r = cli(["inspect", "world.phsnap"]);
    expect({ exit: r.exit, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
    const s = facts.stats;
    expect(r.stdout).toContain("world.phsnap (snapshot file)");
    expect(r.stdout).toContain(`${REGION / 4096} pages of 4096 B`);
    expect(r.stdout).toMatch(new RegExp(`live +${s.liveCount} allocations`));
    expect(r.stdout).toContain(`  big -> 0x${facts.big.toString(16)}, in the allocation at 0x${facts.big.toString(16)}`);
    expect(r.stdout).toContain(`  first -> 0x${facts.rootAt.toString(16)}`);
    // The largest allocation is the 123,456-byte one (rounded up to pages).
    const largest = r.stdout.slice(r.stdout.indexOf("largest allocations")).split("\n")[2]!;
    expect(largest).toContain(`0x${facts.big.toString(16)}`);
    expect(r.stdout).toContain("small size classes");
    expect(r.stdout).toContain("fragmentation");
  });

  test("--json: the shape, and numbers equal to the heap's stats", () => {
    const r = cli(["inspect", SNAP, "--json"]);
    expect(r.exit).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j).sort()).toEqual(["classes", "file", "fragmentation", "kind", "large", "largest", "live", "pages", "roots", "sizes"].sort());
    const s = facts.stats;
    expect(j.kind).toBe("snapshot");
    expect(j.sizes).toEqual({ regionBytes: s.regionBytes, usedBytes: s.usedBytes, touchedBytes: s.touchedBytes, metaBytes: s.metaBytes, pageSize: 4096 });
    expect(j.live.count).toBe(s.liveCount);
    expect(j.live.bytes).toBe(s.liveBytes);
    expect(j.live.largeCount).toBe(s.largeCount);
    expect(j.fragmentation.freeBytes).toBe(s.freeBytes);
    expect(j.fragmentation.freeRuns).toBe(s.freeRuns);
    expect(j.classes.reduce((a: number, c: { liveCount: number }) => a + c.liveCount, 0)).toBe(s.smallCount);
    expect(j.pages.total).toBe(REGION / 4096);
    expect(Object.values(j.pages.byKind as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(REGION / 4096);
    expect(j.pages.byKind.header).toBe(2);
    expect(j.roots.map((x: { name: string }) => x.name)).toEqual(["big", "first"]);
    expect(j.largest[0]).toEqual({ offset: facts.big, size: Math.ceil(123_456 / 4096) * 4096 });
  });

  test("--html OUT: a self-contained page with one cell per page, its kinds the heap's", () => {
    const r = cli(["inspect", SNAP, "--html", "world.html"]);
    expect(r.exit).toBe(0);
    expect(r.stdout).toContain("page written to world.html");
    const html = readFileSync(join(dir, "world.html"), "utf8");
    expect(html).not.toMatch(/https?:/);
    expect(html).not.toMatch(/\bsrc\s*=/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).toContain('id="privheap-map"');
    expect(html).toContain('id="privheap-hover"');
    expect(html).toContain("window.privheapInspect");
    const data = pageData(html);
    expect(data.map.pages).toBe(REGION / 4096);
    expect(data.map.kinds.length).toBe(REGION / 4096);
    // The snapshot's pages above its used prefix read as untouched or touched; below, the heap's own kinds.
    const used = facts.stats.usedBytes / 4096;
    expect(Buffer.from(data.map.kinds.subarray(0, used)).equals(Buffer.from(facts.kinds.subarray(0, used)))).toBe(true);
    // Independent of the reader: what the test allocated and the header's counters.
    const k = data.map.kinds;
    expect([k[0], k[1]]).toEqual([PageKind.header, PageKind.header]);
    const bigPages = Math.ceil(123_456 / 4096);
    for (let p = 0; p < bigPages; p++) expect(k[facts.big / 4096 + p]).toBe(PageKind.large);
    let large = 0, free = 0, below = 0, above = 0;
    for (let p = 0; p < k.length; p++) {
      large += k[p] === PageKind.large ? 1 : 0;
      free += k[p] === PageKind.free ? 1 : 0;
      const outside = k[p] === PageKind.touched || k[p] === PageKind.untouched;
      if (p < used) below += outside ? 1 : 0;
      else above += outside ? 0 : 1;
    }
    expect({ large, freeBytes: free * 4096, below, above }).toEqual({ large: bigPages, freeBytes: facts.stats.freeBytes, below: 0, above: 0 });
  });

  test("a heap file: the same report, and the file unchanged", () => {
    const before = readFileSync(HEAP);
    const r = cli(["inspect", HEAP, "--json"]);
    expect(r.exit).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.kind).toBe("heap");
    expect(j.live.count).toBe(facts.stats.liveCount);
    expect(j.live.bytes).toBe(facts.stats.liveBytes);
    expect(Buffer.from(readFileSync(HEAP)).equals(before)).toBe(true);
  });

  test("a replay at a keyframe's tick, at any tick with --step, and before tick 0", () => {
    const k = cli(["inspect", REPLAY, "--tick", "39", "--json"]);
    expect(k.exit).toBe(0);
    expect(JSON.parse(k.stdout)).toMatchObject({ kind: "replay", tick: 39, keyframe: 39, live: { count: liveAfter[39] } });
    const t = cli(["inspect", REPLAY, "--tick", "44", "--step", SIM, "--json"]);
    expect(t.exit).toBe(0);
    expect(JSON.parse(t.stdout)).toMatchObject({ kind: "replay", tick: 44, keyframe: 39, live: { count: liveAfter[44] } });
    const text = cli(["inspect", REPLAY, "--tick", "44", "--step", SIM]);
    expect(text.stdout).toContain("(replay, after tick 44, run from the keyframe after tick 39)");
    const first = cli(["inspect", REPLAY, "--tick", "-1"]);
    expect(first.exit).toBe(0);
    expect(first.stdout).toContain("after tick -1, a keyframe");
  });

  test("errors: exit 2 with a message on stderr and nothing on stdout", () => {
    writeFileSync(join(dir, "notes.txt"), "hello");
    const cases: [string[], RegExp][] = [
      [["inspect"], /inspect: missing FILE/],
      [["inspect", SNAP, "extra"], /unexpected argument "extra"/],
      [["inspect", SNAP, "--tick", "x"], /--tick takes a tick number/],
      [["inspect", SNAP, "--tick"], /--tick needs a value/],
      [["inspect", REPLAY, "--step", SIM], /--step runs a replay's ticks up to --tick N/],
      [["inspect", "notes.txt"], /ECORRUPT.*not a privheap snapshot file, heap file or replay/],
      [["inspect", "missing.phsnap"], /EIO/],
      [["inspect", REPLAY], /EINVAL.*say which tick/],
      [["inspect", REPLAY, "--tick", "30"], /EINVAL.*tick 30 has no keyframe/],
      [["inspect", SNAP, "--tick", "3"], /EINVAL.*a tick is for a replay/],
      [["inspect", SNAP, "--layouts", SIM], /exports no `layouts`/],
    ];
    for (const [args, message] of cases) {
      const r = cli(args);
      expect({ args, exit: r.exit, stdout: r.stdout }).toEqual({ args, exit: 2, stdout: "" });
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain("    at "); // no stack trace
    }
  });
});
