// The browser harness itself (test/support/browser.ts): what the page tests
// rely on it to see. A console error, an uncaught exception and a failed
// resource are each collected; evaluate returns values and rethrows the
// page's exceptions; a mouse move arrives at the point given; a screenshot
// is a PNG of the viewport's size.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Browser, CHROMIUM, NO_CHROMIUM } from "../support/browser.ts";

if (CHROMIUM === null) console.log(`harness.test.ts: skipped: ${NO_CHROMIUM}`);

const dir = mkdtempSync(join(tmpdir(), "privheap-browser-harness-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pageFile(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `<!doctype html><html><head><meta charset="utf-8"><title>${name}</title></head><body style="margin:0">${body}</body></html>`);
  return pathToFileURL(path).href;
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(bytes: Uint8Array): { width: number; height: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

describe.skipIf(CHROMIUM === null)("the headless Chromium harness", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await Browser.launch();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  }, 30_000);

  test("a clean page has no errors, and evaluate returns the page's values", async () => {
    const page = await browser.open(pageFile("clean.html", `<p id="p">hello</p><script>window.answer = 6 * 7;</script>`));
    expect(page.errors).toEqual([]);
    expect(await page.evaluate<number>("window.answer")).toBe(42);
    expect(await page.evaluate<string>("document.getElementById('p').textContent")).toBe("hello");
    expect(await page.evaluate<number>("new Promise((r) => setTimeout(() => r(5), 10))")).toBe(5);
    await page.close();
  });

  test("console errors, uncaught exceptions and missing resources are collected", async () => {
    const page = await browser.open(
      pageFile("broken.html", `<img src="missing-image.png"><script>console.error("bad", 7); console.log("fine"); null.x;</script>`),
    );
    await page.evaluate("new Promise((r) => setTimeout(r, 50))"); // the image's failure is reported after load
    const text = page.errors.join("\n");
    expect(text).toContain("console.error: bad 7");
    expect(text).toContain("uncaught: TypeError");
    expect(text).toContain("missing-image.png");
    expect(text).not.toContain("fine");
    await page.close();
  });

  test("evaluate rethrows an exception of the page", async () => {
    const page = await browser.open(pageFile("throws.html", ""));
    await expect(page.evaluate("undefinedName.y")).rejects.toThrow(/undefinedName/);
    await page.close();
  });

  test("a mouse move reaches the page at the point given", async () => {
    const page = await browser.open(
      pageFile("mouse.html", `<div style="width:400px;height:300px"></div><script>window.moves = []; addEventListener("mousemove", (e) => moves.push([e.clientX, e.clientY]));</script>`),
    );
    await page.mouseMove(123, 45);
    await page.mouseMove(7, 280);
    expect(await page.evaluate<number[][]>("window.moves")).toEqual([[123, 45], [7, 280]]);
    await page.close();
  });

  test("a screenshot is a PNG of the viewport", async () => {
    const page = await browser.open(pageFile("shot.html", `<div style="width:100px;height:100px;background:#f00"></div>`), 320, 200);
    const path = await page.screenshot("harness-viewport.png");
    expect(pngSize(readFileSync(path))).toEqual({ width: 320, height: 200 });
    await page.close();
  });
});
