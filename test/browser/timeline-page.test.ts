// privheap replay timeline's page (src/inspect/html/timeline-page.ts) in
// headless Chromium: no console errors; four charts; hovering tick t reads
// back what the recording heap held after tick t (live count, used bytes,
// input size, measured while recording); keyframes are drawn as grey lines;
// a divergent re-run draws a red line at its tick and links a diff page
// that itself opens without errors.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../src/heap.ts";
import { heapDiff } from "../../src/inspect/heap-diff.ts";
import { heapDiffPage } from "../../src/inspect/html/heap-diff-page.ts";
import { TIMELINE_COLOURS, timelinePage } from "../../src/inspect/html/timeline-page.ts";
import { replayTimeline } from "../../src/inspect/timeline.ts";
import { Replay, type StepFn } from "../../src/snapshot/replay.ts";
import { artifactPage, Browser, CHROMIUM, NO_CHROMIUM, type Page } from "../support/browser.ts";

if (CHROMIUM === null) console.log(`timeline-page.test.ts: skipped: ${NO_CHROMIUM}`);

const TICKS = 90;
const EVERY = 20;
const DIVERGE = 57;

/** Grows a list of allocations for a while, then shrinks it: live count and used bytes move. */
const step: StepFn = (heap, input, tick) => {
  const list = heap.getRoot("list");
  const n = heap.u32[list >>> 2]!;
  if (tick < 50 || input[0] === 1) {
    const at = heap.malloc(16 + 300 * (tick % 5));
    heap.u8.fill(tick & 0xff, at, at + 16);
    heap.u32[(list >>> 2) + 1 + n] = at;
    heap.u32[list >>> 2] = n + 1;
  } else if (n > 0) {
    heap.free(heap.u32[(list >>> 2) + n]!);
    heap.u32[list >>> 2] = n - 1;
  }
};
const inputOf = (t: number) => Uint8Array.of(t % 7 === 0 ? 1 : 0, t & 0xff, 3);

describe.skipIf(CHROMIUM === null)("the timeline page in Chromium", () => {
  const dir = mkdtempSync(join(tmpdir(), "privheap-timeline-page-"));
  const path = join(dir, "run.phreplay");
  const truth = { live: [] as number[], used: [] as number[] };
  let browser: Browser;
  let page: Page;
  let replay: Replay;

  beforeAll(async () => {
    {
      using heap = PrivateHeap.create({ size: 1 << 20 });
      heap.setRoot("list", heap.calloc(128, 4));
      using rec = Replay.record(path, heap, { keyframeEvery: EVERY });
      for (let t = 0; t < TICKS; t++) {
        step(heap, inputOf(t), t);
        rec.tick(inputOf(t));
        const s = heap.stats();
        truth.live.push(s.liveCount);
        truth.used.push(s.usedBytes);
      }
    }
    replay = await Replay.open(path);
    browser = await Browser.launch();
    page = await browser.open(artifactPage("timeline.html", timelinePage(replayTimeline(replay, { step }), { file: "run.phreplay" })), 1280, 900);
    console.log(`timeline page (${TICKS} ticks): ready ${(await page.readyMs()).toFixed(0)} ms after navigation start`);
  }, 60_000);
  afterAll(async () => {
    await page?.close();
    await browser?.close();
    replay?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test("renders four charts without console errors", async () => {
    expect(page.errors).toEqual([]);
    expect(await page.evaluate<string[]>("privheapTimeline.charts")).toEqual(["changed", "used", "live", "input"]);
    expect(await page.evaluate<number>("privheapTimeline.divergent")).toBe(-1);
    expect(await page.evaluate<string>('document.getElementById("status").textContent')).toBe(`Re-run and verified: all ${TICKS} ticks matched.`);
    expect(new Set(truth.live).size).toBeGreaterThan(10); // the chart has a shape to show
    await page.screenshot("timeline-page.png", { fullPage: true });
  });

  test("hovering tick t reads what the heap held after tick t", async () => {
    for (const t of [0, 13, 49, 50, 77, TICKS - 1]) {
      const at = await page.evaluate<{ x: number; y: number }>(`privheapTimeline.pointOf(2, ${t})`);
      await page.mouseMove(at.x, at.y);
      const text = await page.evaluate<string>("privheapTimeline.readout()");
      expect(text).toStartWith(`tick ${t}${t % EVERY === EVERY - 1 ? " (keyframe)" : ""};`);
      expect(text).toContain(`; live allocations: ${truth.live[t]!.toLocaleString("en")}`);
      expect(text).toContain(`; used bytes: ${truth.used[t]!.toLocaleString("en")}`);
      expect(text).toContain("; input bytes: 3");
    }
    await page.screenshot("timeline-page-hover.png");
  });

  test("keyframes are grey lines across the charts", async () => {
    for (const k of [-1, 19, 39, 59, 79]) {
      const colour = await page.evaluate<string>(`privheapTimeline.drawnColour(1, Math.round(privheapTimeline.xOf(${k})), 100)`);
      expect({ k, colour }).toEqual({ k, colour: TIMELINE_COLOURS.keyframe });
    }
  });

  test("a divergent re-run: a red line at its tick and a link to a diff page that opens cleanly", async () => {
    const changed: StepFn = (heap, input, tick) => {
      step(heap, input, tick);
      if (tick === DIVERGE) heap.u8[heap.getRoot("list") + 400] = 1;
    };
    const tl = replayTimeline(replay, { step: changed });
    expect(tl.run!.verify.firstDivergentTick).toBe(DIVERGE);
    const after = tl.run!.divergentState!;
    const before = replay.keyframe(tl.run!.verify.diffTick);
    artifactPage("timeline-diverged.diff.html", heapDiffPage(heapDiff(before, after), { before, after, beforeLabel: "recorded", afterLabel: "re-run" }));
    const bad = await browser.open(artifactPage("timeline-diverged.html", timelinePage(tl, { file: "run.phreplay", diffHref: "timeline-diverged.diff.html" })), 1280, 900);
    expect(bad.errors).toEqual([]);
    expect(await bad.evaluate<number>("privheapTimeline.divergent")).toBe(DIVERGE);
    const red = await bad.evaluate<string>(`privheapTimeline.drawnColour(0, Math.round(privheapTimeline.xOf(${DIVERGE})), 60)`);
    expect(red).toBe(TIMELINE_COLOURS.divergent);
    expect(await bad.evaluate<string>('document.getElementById("diverged").textContent')).toContain(`Tick ${DIVERGE} diverged`);
    expect(await bad.evaluate<string>('document.getElementById("status").textContent')).toBe(`Re-run with the step: ticks 0 to ${DIVERGE - 1} matched the recording.`);
    await bad.screenshot("timeline-page-diverged.png", { fullPage: true });
    const link = await bad.evaluate<{ x: number; y: number }>('(() => { const r = document.getElementById("diff-link").getBoundingClientRect(); return { x: r.left + 5, y: r.top + r.height / 2 }; })()');
    const loaded = bad.nextLoad();
    await bad.click(link.x, link.y);
    await loaded;
    expect(await bad.evaluate<string>("location.href")).toEndWith("/timeline-diverged.diff.html");
    expect(await bad.evaluate<boolean>("window.privheapReady")).toBe(true);
    expect(await bad.evaluate<string>("document.querySelector('h1').textContent")).toBe("Heap diff");
    expect(bad.errors).toEqual([]);
    await bad.close();
  });
});
