/**
 * scripts/readme-screenshots.ts - the README's pictures of the HTML pages,
 * made in headless Chromium from a small game-like heap: the inspect page,
 * the diff page of two of its ticks and the timeline of its recording with
 * a divergent re-run, each with the mouse over something worth reading.
 *
 * Usage: bun scripts/readme-screenshots.ts   (writes docs/img/*.png; needs Chromium)
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../src/heap.ts";
import { heapDiff } from "../src/inspect/heap-diff.ts";
import { heapDiffPage } from "../src/inspect/html/heap-diff-page.ts";
import { renderInspectPage } from "../src/inspect/html/inspect-page.ts";
import { timelinePage } from "../src/inspect/html/timeline-page.ts";
import { replayTimeline } from "../src/inspect/timeline.ts";
import { Replay, type StepFn } from "../src/snapshot/replay.ts";
import { Snapshot } from "../src/snapshot/snapshot.ts";
import { artifactPage, Browser, CHROMIUM, NO_CHROMIUM, type Page } from "../test/support/browser.ts";

if (CHROMIUM === null) {
  console.error(NO_CHROMIUM);
  process.exit(2);
}
const OUT = join(import.meta.dir, "..", "docs", "img");
mkdirSync(OUT, { recursive: true });
const TICKS = 240;

/** Spawns and despawns entities of several sizes; a burst of big ones mid-run. */
const step: StepFn = (heap, input, tick) => {
  const list = heap.getRoot("list");
  const n = heap.u32[list >>> 2]!;
  const grow = tick < 120 ? input[0]! % 4 !== 0 : input[0]! % 3 === 0;
  if (grow && n < 1000) {
    const size = tick % 40 === 7 ? 20000 + 4096 * (tick % 5) : 24 + 40 * (input[0]! % 9);
    const at = heap.malloc(size);
    heap.u8.fill(tick & 0xff, at, at + Math.min(size, 64));
    heap.u32[(list >>> 2) + 1 + n] = at;
    heap.u32[list >>> 2] = n + 1;
  } else if (n > 0) {
    const i = 1 + (input[1]! % n);
    heap.free(heap.u32[(list >>> 2) + i]!);
    heap.u32[(list >>> 2) + i] = heap.u32[(list >>> 2) + n]!;
    heap.u32[list >>> 2] = n - 1;
  }
};
const inputOf = (t: number) => Uint8Array.of((Math.imul(t + 1, 0x9e3779b1) >>> 24) & 0xff, (Math.imul(t + 7, 0x85ebca6b) >>> 16) & 0xff);

async function hoverPage(page: Page, offset: number): Promise<void> {
  const at = await page.evaluate<{ x: number; y: number }>(`(() => {
    const c = document.getElementById("privheap-map"), r = c.getBoundingClientRect(), H = privheapInspect;
    const p = Math.floor(${offset} / 4096), k = r.width / c.width;
    return { x: r.left + ((p % H.columns) + 0.5) * H.cellSize * k, y: r.top + (Math.floor(p / H.columns) + 0.5) * H.cellSize * k };
  })()`);
  await page.mouseMove(at.x, at.y);
}

const dir = mkdtempSync(join(tmpdir(), "privheap-screenshots-"));
const browser = await Browser.launch();
try {
  const path = join(dir, "game.phreplay");
  let mid: Uint8Array;
  let end: Uint8Array;
  {
    using heap = PrivateHeap.create({ size: 4 << 20 });
    heap.setRoot("list", heap.calloc(1024, 4));
    using rec = Replay.record(path, heap, { keyframeEvery: 30 });
    for (let t = 0; t < TICKS; t++) {
      step(heap, inputOf(t), t);
      rec.tick(inputOf(t));
      if (t === 149) mid = heap.snapshot().bytes;
    }
    end = heap.snapshot().bytes;
  }
  using replay = await Replay.open(path);
  const a = Snapshot.fromBytes(mid!);
  const b = Snapshot.fromBytes(end!);

  const inspect = await browser.open(artifactPage("readme-inspect.html", renderInspectPage(b.inspect(), "game.phsnap")), 1280, 820);
  await hoverPage(inspect, b.inspect().largest[0]!.offset);
  await inspect.screenshot("inspect.png");

  const d = heapDiff(a, b);
  const diff = await browser.open(artifactPage("readme-diff.html", heapDiffPage(d, { before: a, after: b, beforeLabel: "tick-149.phsnap", afterLabel: "tick-239.phsnap" })), 1280, 900);
  await hoverPage(diff, d.added[0]!.offset);
  await diff.screenshot("diff.png");

  const changed: StepFn = (heap, input, tick) => {
    step(heap, input, tick);
    if (tick === 170) heap.u8[heap.getRoot("list") + 4] = heap.u8[heap.getRoot("list") + 4]! ^ 1;
  };
  const tl = replayTimeline(replay, { step: changed });
  const timeline = await browser.open(artifactPage("readme-timeline.html", timelinePage(tl, { file: "game.phreplay", diffHref: "readme-diff.html" })), 1280, 760);
  const at = await timeline.evaluate<{ x: number; y: number }>("privheapTimeline.pointOf(2, 120)");
  await timeline.mouseMove(at.x, at.y);
  await timeline.screenshot("timeline.png");

  for (const [name, page] of [["inspect", inspect], ["diff", diff], ["timeline", timeline]] as const) {
    if (page.errors.length > 0) throw new Error(`${name}: ${page.errors.join("; ")}`);
    renameSync(join(import.meta.dir, "..", "test-artifacts", `${name}.png`), join(OUT, `${name}.png`));
    console.log(`docs/img/${name}.png`);
  }
} finally {
  await browser.close();
  rmSync(dir, { recursive: true, force: true });
}
