// examples/browser: the demo's simulation as a page, opened from a file as
// a user would after `npm run demo:browser`. With ?fast it plays its 600
// frames at once (rewinding 8 at frame 300 and checking they replay alike),
// draws the entities, and ends with the checksum Bun's native heap has
// after the same frames; no console errors.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { PrivateHeap } from "../../src/index.ts";
import { createWorld, inputFor, step } from "../../examples/sim.ts";
import { Browser, CHROMIUM, NO_CHROMIUM, type Page } from "../support/browser.ts";
import { builtPackage } from "../support/dist.ts";

if (CHROMIUM === null) console.log(`example.test.ts: skipped: ${NO_CHROMIUM}`);

const EXAMPLE = join(import.meta.dir, "../../examples/browser");
const dir = mkdtempSync(join(tmpdir(), "privheap-example-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(CHROMIUM === null)("examples/browser in headless Chromium", () => {
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    // What `npm run demo:browser` makes, with "privheap" the package's browser bundle built for this run.
    const pkg = await builtPackage();
    const built = await Bun.build({
      entrypoints: [join(EXAMPLE, "main.ts")],
      target: "browser",
      format: "iife",
      outdir: dir,
      naming: "main.js",
      plugins: [{ name: "privheap-package", setup: (b) => void b.onResolve({ filter: /^privheap$/ }, () => ({ path: pkg.browser })) }],
    });
    if (!built.success) throw new AggregateError(built.logs, "bundling the example failed");
    copyFileSync(join(EXAMPLE, "index.html"), join(dir, "index.html"));
    browser = await Browser.launch();
    page = await browser.open(`${pathToFileURL(join(dir, "index.html")).href}?fast`, 700, 800);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  }, 30_000);

  test("600 frames with a rewind end with Bun's checksum, every entity drawn, no console errors", async () => {
    const there = await page.evaluate<{ checksum: string; usedBytes: number; rewound: boolean }>("globalThis.privheapDemo");
    using heap = PrivateHeap.create({ size: 16 << 20 });
    createWorld(heap, 4000);
    for (let f = 0; f < 600; f++) step(heap, inputFor(f), f);
    expect(there.rewound).toBe(true);
    expect(there.usedBytes).toBe(heap.usedBytes);
    expect(there.checksum).toBe(String(heap.checksum()));
    const status = await page.evaluate<string>(`document.querySelector("#status").textContent`);
    expect(status).toContain(`heap checksum ${heap.checksum().toString(16)}`);
    // Drawn: many canvas pixels in each team's colour.
    const coloured = await page.evaluate<number[]>(`(() => {
      const c = document.querySelector("canvas");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let blue = 0, red = 0;
      for (let i = 0; i < d.length; i += 4) { if (d[i + 2] > 200 && d[i] < 120) blue++; else if (d[i] > 200 && d[i + 2] < 150) red++; }
      return [blue, red];
    })()`);
    expect(coloured[0]).toBeGreaterThan(1000);
    expect(coloured[1]).toBeGreaterThan(1000);
    await page.screenshot("example-browser.png");
    expect(page.errors).toEqual([]);
  });
});
