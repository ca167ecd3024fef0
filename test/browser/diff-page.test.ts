// privheap diff's page (src/inspect/html/heap-diff-page.ts) in headless
// Chromium: no console errors; the heap map under it has a cell per page
// of the second state; the overlay frames exactly the pages the test
// changed (counted byte by byte here), in the colour for how many bytes
// changed; hovering an added allocation's cell names it in both panels.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { NATIVE_CONSTANTS } from "../../src/ffi/symbols.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { heapDiff } from "../../src/inspect/heap-diff.ts";
import { DIFF_COLOURS, heapDiffPage, MANY_CHANGED } from "../../src/inspect/html/heap-diff-page.ts";
import { artifactPage, Browser, CHROMIUM, NO_CHROMIUM, type Page } from "../support/browser.ts";

if (CHROMIUM === null) console.log(`diff-page.test.ts: skipped: ${NO_CHROMIUM}`);

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;

/** Per page, the bytes that differ outside the header's lock block, one by one. */
function naivePerPage(a: Uint8Array, b: Uint8Array): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(Math.ceil(n / PAGE)).fill(0);
  for (let i = 0; i < n; i++)
    if ((a[i] ?? 0) !== (b[i] ?? 0) && !(i >= NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET && i < NATIVE_CONSTANTS.PH_LOCK_BLOCK_END)) out[Math.floor(i / PAGE)]!++;
  return out;
}

describe.skipIf(CHROMIUM === null)("the diff page in Chromium", () => {
  let browser: Browser;
  let page: Page;
  const heap = PrivateHeap.create({ size: 2 << 20 });
  const kept = heap.malloc(64);
  const gone = heap.malloc(5 * PAGE);
  const filler = heap.malloc(8 * PAGE);
  heap.u8.fill(3, filler, filler + 8 * PAGE);
  const before = heap.snapshot();
  heap.u8[kept + 1] = 42; // one byte: a light frame
  heap.u8.fill(9, filler + 2 * PAGE, filler + 3 * PAGE); // a whole page: a strong frame
  heap.u8.fill(5, filler + 5 * PAGE, filler + 5 * PAGE + MANY_CHANGED); // exactly the strong frame's threshold
  heap.u8.fill(5, filler + 6 * PAGE, filler + 6 * PAGE + MANY_CHANGED - 1); // one byte short of it
  const added = heap.malloc(3 * PAGE); // before the free, so not at gone's offset
  heap.u8.fill(1, added, added + 3 * PAGE);
  heap.free(gone);
  const after = heap.snapshot();
  const d = heapDiff(before, after);
  const naive = naivePerPage(before.bytes, after.bytes);

  beforeAll(async () => {
    browser = await Browser.launch();
    page = await browser.open(artifactPage("diff.html", heapDiffPage(d, { before, after, beforeLabel: "before.phsnap", afterLabel: "after.phsnap" })), 1280, 900);
    console.log(`diff page: ready ${(await page.readyMs()).toFixed(0)} ms after navigation start`);
  }, 60_000);
  afterAll(async () => {
    await page?.close();
    await browser?.close();
    heap.close();
  }, 30_000);

  test("renders without console errors, one map cell per page", async () => {
    expect(page.errors).toEqual([]);
    expect(await page.evaluate<number>("privheapInspect.cellCount")).toBe((2 << 20) / PAGE);
    await page.screenshot("diff-page.png", { fullPage: true });
  });

  test("the overlay frames exactly the changed pages, by how many bytes changed", async () => {
    const drawn = await page.evaluate<(string | null)[]>(`Array.from({ length: privheapInspect.cellCount }, (_, p) => privheapDiff.drawnOverlay(p))`);
    const expected = drawn.map((_, p) => {
      const n = naive[p] ?? 0;
      return n === 0 ? null : n >= MANY_CHANGED ? DIFF_COLOURS.changedMany : DIFF_COLOURS.changedFew;
    });
    expect(drawn).toEqual(expected);
    expect(drawn[Math.floor((kept + 1) / PAGE)]).not.toBeNull();
    expect(drawn[(filler + 2 * PAGE) / PAGE]).toBe(DIFF_COLOURS.changedMany);
    expect(drawn[(filler + 4 * PAGE) / PAGE]).toBeNull(); // untouched filler
    expect(drawn[(filler + 5 * PAGE) / PAGE]).toBe(DIFF_COLOURS.changedMany);
    expect(drawn[(filler + 6 * PAGE) / PAGE]).toBe(DIFF_COLOURS.changedFew);
  });

  test("hovering the added allocation's cell names it in the map's panel and the changes panel", async () => {
    const p = added / PAGE + 1;
    const at = await page.evaluate<{ x: number; y: number }>(`(() => {
      const c = document.getElementById("privheap-map"), r = c.getBoundingClientRect(), H = privheapInspect;
      const k = r.width / c.width;
      return { x: r.left + ((${p} % H.columns) + 0.5) * H.cellSize * k, y: r.top + (Math.floor(${p} / H.columns) + 0.5) * H.cellSize * k };
    })()`);
    await page.mouseMove(at.x, at.y);
    const changes = await page.evaluate<string>("privheapDiff.changesText()");
    expect(changes).toStartWith(`page ${p}: ${naive[p]} bytes changed`);
    expect(changes).toContain(`added: 0x${added.toString(16)} (`);
    expect(await page.evaluate<string>('document.getElementById("privheap-hover").textContent')).toContain(`0x${added.toString(16)} `);
    await page.screenshot("diff-page-hover.png");
  });
});
