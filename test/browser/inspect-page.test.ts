// privheap inspect's page (src/inspect/html/inspect-page.ts) in headless
// Chromium: it renders without a console error; the heap map has one cell
// per page, each drawn in the colour of its page's kind and size class
// (checked against the report's page map and, for the test's own
// allocations, against what they must be: large pages purple, a small
// allocation's page its class's colour); hovering a cell lists the
// allocation the test made there. Screenshots go to test-artifacts/.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { PrivateHeap } from "../../src/heap.ts";
import { PageKind, sizeClasses } from "../../src/inspect/page-map.ts";
import { renderInspectPage } from "../../src/inspect/html/inspect-page.ts";
import { classColours, colourOf, KIND_COLOURS } from "../../src/inspect/html/palette.ts";
import { artifactPage, Browser, CHROMIUM, NO_CHROMIUM, type Page } from "../support/browser.ts";
import { rng } from "../support/random.ts";

if (CHROMIUM === null) console.log(`inspect-page.test.ts: skipped: ${NO_CHROMIUM}`);

const PAGE = 4096;
const SEED = 0x5eed16;

/** A heap of several size classes, large runs and free gaps, and what the test put where. */
function buildHeap() {
  const heap = PrivateHeap.create({ size: 4 << 20 });
  const random = rng(SEED);
  const small: { offset: number; size: number }[] = [];
  const large: { offset: number; size: number }[] = [];
  const doomed: number[] = [];
  for (let i = 0; i < 600; i++) {
    const size = random.pick([8, 24, 48, 96, 200, 512, 1000]);
    const offset = heap.malloc(size);
    if (i % 3 === 0) doomed.push(offset);
    else small.push({ offset, size });
  }
  for (let i = 0; i < 12; i++) {
    const size = random.int(2, 7) * PAGE;
    const offset = heap.malloc(size);
    if (i % 4 === 1) doomed.push(offset);
    else large.push({ offset, size });
  }
  for (const off of doomed) heap.free(off);
  heap.setRoot("first", small[0]!.offset);
  return { heap, small, large };
}

describe.skipIf(CHROMIUM === null)("the inspect page in Chromium", () => {
  let browser: Browser;
  let page: Page;
  const built = buildHeap();
  const report = built.heap.inspect();
  afterAll(async () => {
    await page?.close();
    await browser?.close();
    built.heap.close();
  }, 30_000);
  beforeAll(async () => {
    browser = await Browser.launch();
    page = await browser.open(artifactPage("inspect.html", renderInspectPage(report, "browser test heap")), 1400, 1000);
    console.log(`inspect page (${report.map.pages} pages): ready ${(await page.readyMs()).toFixed(0)} ms after navigation start`);
  }, 60_000);

  test("renders without console errors and becomes ready", async () => {
    expect(await page.evaluate<boolean>("window.privheapReady === true")).toBe(true);
    expect(page.errors).toEqual([]);
    await page.screenshot("inspect-page.png", { fullPage: true });
  });

  test("one cell per page, each drawn in its kind's or size class's colour", async () => {
    const hooks = await page.evaluate<{ cellCount: number; columns: number; cellSize: number }>(
      "({ cellCount: privheapInspect.cellCount, columns: privheapInspect.columns, cellSize: privheapInspect.cellSize })",
    );
    expect(hooks.cellCount).toBe(report.map.pages);
    expect(hooks.cellCount).toBe((4 << 20) / PAGE);
    // The colour drawn at the centre of every cell, read back from the canvas.
    const drawn = await page.evaluate<string[]>(`(() => {
      const c = document.getElementById("privheap-map");
      const H = privheapInspect, s = H.cellSize;
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      const out = [];
      for (let p = 0; p < H.cellCount; p++) {
        const x = (p % H.columns) * s + (s >> 1), y = Math.floor(p / H.columns) * s + (s >> 1);
        const i = (y * c.width + x) * 4;
        out.push("#" + [d[i], d[i + 1], d[i + 2]].map((v) => v.toString(16).padStart(2, "0")).join(""));
      }
      return out;
    })()`);
    const palette = classColours(sizeClasses().length);
    const expected = Array.from(report.map.kinds, (k, p) => colourOf(k, report.map.classes[p]!, palette));
    expect(drawn).toEqual(expected);
    // What the test's own allocations must look like, whatever the page map says.
    for (const a of built.large) expect(drawn[a.offset / PAGE]).toBe(KIND_COLOURS[PageKind.large]!);
    for (const a of built.small.slice(0, 40)) {
      const cls = sizeClasses().findIndex((c) => c.runPages > 0 && c.size >= a.size);
      expect({ offset: a.offset, colour: drawn[Math.floor(a.offset / PAGE)] }).toEqual({ offset: a.offset, colour: palette[cls]! });
    }
    expect(drawn[0]).toBe(KIND_COLOURS[PageKind.header]!);
    expect(drawn[drawn.length - 1]).toBe(KIND_COLOURS[PageKind.untouched]!);
  });

  /** The viewport point at the centre of page p's cell. */
  function cellCentre(p: number): Promise<{ x: number; y: number }> {
    return page.evaluate(`(() => {
      const c = document.getElementById("privheap-map"), r = c.getBoundingClientRect(), H = privheapInspect;
      const k = r.width / c.width;
      return { x: r.left + ((${p} % H.columns) + 0.5) * H.cellSize * k, y: r.top + (Math.floor(${p} / H.columns) + 0.5) * H.cellSize * k };
    })()`);
  }

  test("a 1 GiB heap: 262,144 cells, each in its colour (the map as it is drawn at two pixels a cell)", async () => {
    using big = PrivateHeap.create({ size: 1 << 30 });
    const random = rng(SEED + 1);
    for (let i = 0; i < 20_000; i++) big.malloc(random.pick([16, 48, 160, 700, 3000, 9000, 70_000]));
    const bigReport = big.inspect();
    const tab = await browser.open(artifactPage("inspect-1gib.html", renderInspectPage(bigReport, "1 GiB heap")), 1400, 1000);
    try {
      console.log(`inspect page (${bigReport.map.pages} pages): ready ${(await tab.readyMs()).toFixed(0)} ms after navigation start`);
      expect(tab.errors).toEqual([]);
      const drawn = await tab.evaluate<string>(`(() => {
        const c = document.getElementById("privheap-map");
        const H = privheapInspect, s = H.cellSize;
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        const out = [];
        for (let p = 0; p < H.cellCount; p++) {
          const x = (p % H.columns) * s + (s >> 1), y = Math.floor(p / H.columns) * s + (s >> 1);
          const i = (y * c.width + x) * 4;
          out.push("#" + [d[i], d[i + 1], d[i + 2]].map((v) => v.toString(16).padStart(2, "0")).join(""));
        }
        return out.join(",");
      })()`);
      const palette = classColours(sizeClasses().length);
      const cells = drawn.split(",");
      expect(cells.length).toBe((1 << 30) / PAGE);
      const wrong = cells.flatMap((c, p) => (c === colourOf(bigReport.map.kinds[p]!, bigReport.map.classes[p]!, palette) ? [] : [p]));
      expect(wrong.slice(0, 10)).toEqual([]);
      expect(new Set(cells).size).toBeGreaterThan(5);
      await tab.screenshot("inspect-page-1gib.png");
    } finally {
      await tab.close();
    }
  }, 60_000);

  test("hovering a cell shows its run and the allocation the test made there", async () => {
    for (const a of [built.small[7]!, built.large[0]!, built.small[built.small.length - 1]!]) {
      const at = await cellCentre(Math.floor(a.offset / PAGE));
      await page.mouseMove(at.x, at.y);
      const text = await page.evaluate<string>('document.getElementById("privheap-hover").textContent');
      expect(text).toStartWith(`page ${Math.floor(a.offset / PAGE)} at 0x${(Math.floor(a.offset / PAGE) * PAGE).toString(16)}`);
      expect(text).toContain(`0x${a.offset.toString(16)} `);
    }
    await page.screenshot("inspect-page-hover.png");
  });
});
