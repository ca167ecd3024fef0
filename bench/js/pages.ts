/**
 * bench/js/pages.ts - how long privheap's HTML pages take to make and to
 * become usable in headless Chromium, for a large heap.
 *
 * Usage: bun bench/js/pages.ts [runs] [regionMiB] [liveMiB] [ticks]
 *   runs       medians of this many runs per row (default 3)
 *   regionMiB  the heap's size (default 1024)
 *   liveMiB    bytes of live allocations in it (default 512)
 *   ticks      ticks of the recording the timeline page shows (default 3000)
 *   CHROMIUM=path  the browser (default /usr/bin/chromium, as the tests find it)
 *
 * Pages: the inspect page of the heap; the diff page of the heap against
 * itself after a write into every 100th allocation and a tenth of them
 * freed; the timeline page of examples/sim.ts re-run over `ticks` ticks.
 * Rows: make (the report or diff and the HTML, in this process), bytes of
 * the page, and "ready": milliseconds from the start of navigation to the
 * end of the page's script (window.privheapReadyAt: the map or charts are
 * drawn and hover works), read in a fresh tab each run.
 * Target (issue: inspect of 1 GiB holding 512 MiB): ready under 1 s.
 */
import { createWorld, inputFor, step as simStep } from "../../examples/sim.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { heapDiff } from "../../src/inspect/heap-diff.ts";
import { heapDiffPage } from "../../src/inspect/html/heap-diff-page.ts";
import { renderInspectPage } from "../../src/inspect/html/inspect-page.ts";
import { timelinePage } from "../../src/inspect/html/timeline-page.ts";
import { replayTimeline } from "../../src/inspect/timeline.ts";
import { Replay } from "../../src/snapshot/replay.ts";
import { artifactPage, Browser, CHROMIUM, NO_CHROMIUM } from "../../test/support/browser.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, printHeader, table } from "./common.ts";
import { fillMixed } from "./mixed-heap.ts";

const RUNS = Number(process.argv[2] ?? 3);
const MiB = 2 ** 20;
const REGION = Number(process.argv[3] ?? 1024) * MiB;
const LIVE = Number(process.argv[4] ?? 512) * MiB;
const TICKS = Number(process.argv[5] ?? 3000);
if (CHROMIUM === null) {
  console.error(NO_CHROMIUM);
  process.exit(2);
}
printHeader(`privheap's HTML pages: a ${REGION / MiB} MiB heap holding ${LIVE / MiB} MiB, a ${TICKS}-tick timeline; medians of ${RUNS} runs`);

function timed<T>(fn: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t0 };
}

const rows: (string | number)[][] = [];
const browser = await Browser.launch();
async function measure(name: string, file: string, make: () => string): Promise<void> {
  const makes: number[] = [];
  let html = "";
  for (let r = 0; r < RUNS; r++) {
    const t = timed(make);
    makes.push(t.ms);
    html = t.value;
  }
  const url = artifactPage(file, html);
  const ready: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const page = await browser.open(url, 1400, 1000);
    ready.push(await page.readyMs());
    if (page.errors.length > 0) throw new Error(`${name}: ${page.errors.join("; ")}`);
    await page.close();
  }
  rows.push([name, median(makes).toFixed(0), (html.length / MiB).toFixed(2), median(ready).toFixed(0), ready.map((x) => x.toFixed(0)).join(" ")]);
}

const dir = mkdtempSync(join(tmpdir(), "privheap-bench-pages-"));
try {
  using heap = PrivateHeap.create({ size: REGION });
  const built = timed(() => fillMixed(heap, LIVE));
  const s = heap.stats();
  console.log(`built in ${(built.ms / 1000).toFixed(1)} s: ${s.liveCount} live allocations, ${(s.liveBytes / MiB).toFixed(0)} MiB live, ${(s.usedBytes / MiB).toFixed(0)} MiB used\n`);
  await measure("inspect page", "bench-inspect.html", () => renderInspectPage(heap.inspect(), "bench heap"));

  const before = heap.snapshot();
  const live = [...built.value.small, ...built.value.large];
  for (let i = 0; i < live.length; i += 100) heap.u8[live[i]!] = ~heap.u8[live[i]!]! & 0xff;
  for (let i = 50; i < live.length; i += 1000) heap.free(live[i]!);
  const after = heap.snapshot();
  await measure("diff page", "bench-diff.html", () => heapDiffPage(heapDiff(before, after), { before, after, beforeLabel: "before", afterLabel: "after" }));
  before.close();
  after.close();

  const path = join(dir, "sim.phreplay");
  {
    using world = PrivateHeap.create({ size: 4 * MiB });
    createWorld(world, 1000);
    using rec = Replay.record(path, world, { keyframeEvery: 60 });
    for (let t = 0; t < TICKS; t++) {
      simStep(world, inputFor(t), t);
      rec.tick(inputFor(t));
    }
  }
  using replay = await Replay.open(path);
  await measure("timeline page (re-run)", "bench-timeline.html", () => timelinePage(replayTimeline(replay, { step: simStep }), { file: "sim.phreplay" }));
} finally {
  await browser.close();
  rmSync(dir, { recursive: true, force: true });
}
table(["page", "make ms", "page MiB", "ready ms", "ready ms, each run"], rows);
