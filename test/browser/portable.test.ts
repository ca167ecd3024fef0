// privheap in a browser: headless Chromium loads the package's browser
// bundle (dist/browser.js, the "browser" condition) from a local server.
// The shared scenario (test/support/portable-scenario.mjs) gives the
// results Bun gets; the demo's simulation (examples/sim.ts), bundled for
// the browser as a game would bundle it, ends with the checksum Bun's
// native heap ends with; files are ENOTSUP; no console errors.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as P from "../../src/index.ts";
import { createWorld, inputFor, step } from "../../examples/sim.ts";
import { Browser, CHROMIUM, NO_CHROMIUM, type Page } from "../support/browser.ts";
import { builtPackage, type BuiltPackage } from "../support/dist.ts";
// @ts-expect-error plain JavaScript, shared with Node, Deno and the browser
import { runScenario } from "../support/portable-scenario.mjs";

if (CHROMIUM === null) console.log(`portable.test.ts: skipped: ${NO_CHROMIUM}`);

/** The demo's defaults (examples/demo.ts): entities and frames. */
const ENTITIES = 4000;
const FRAMES = 600;

/** The simulation's page script: examples/sim.ts over "privheap", run for the demo's frames; exposes the final checksum. */
const SIM_ENTRY = `
import { PrivateHeap } from "privheap";
import { createWorld, inputFor, step } from "./sim.ts";
globalThis.runSim = (entities, frames) => {
  const heap = PrivateHeap.create({ size: 16 << 20 });
  createWorld(heap, entities);
  const started = performance.now();
  for (let f = 0; f < frames; f++) step(heap, inputFor(f), f);
  const ms = performance.now() - started;
  const result = { checksum: String(heap.checksum()), used: heap.usedBytes, ms };
  heap.close();
  return result;
};
`;

describe.skipIf(CHROMIUM === null)("privheap in headless Chromium", () => {
  let pkg: BuiltPackage;
  let server: ReturnType<typeof Bun.serve>;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    pkg = await builtPackage();
    copyFileSync(join(import.meta.dir, "../support/portable-scenario.mjs"), join(pkg.project, "portable-scenario.mjs"));
    writeFileSync(join(pkg.project, "index.html"), '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>privheap</title></head><body></body></html>');
    // The game's bundle, made in the game's folder: its "privheap" resolves through node_modules/privheap's
    // exports under the bundler's "browser" condition, to the package's browser bundle.
    writeFileSync(join(pkg.project, "sim-entry.ts"), SIM_ENTRY);
    copyFileSync(join(import.meta.dir, "../../examples/sim.ts"), join(pkg.project, "sim.ts"));
    const built = await Bun.build({
      entrypoints: [join(pkg.project, "sim-entry.ts")],
      target: "browser",
      format: "esm",
      outdir: pkg.project,
      naming: "sim.js",
    });
    if (!built.success) throw new AggregateError(built.logs, "bundling the simulation failed");
    // The bundle holds the package's browser build (its platform module), not the sources of Bun's build.
    const sim = readFileSync(join(pkg.project, "sim.js"), "utf8");
    expect(sim).toContain("a browser has no zstd"); // src/platform/web.ts
    expect(sim).not.toContain("node:zlib has no zstd"); // src/platform/node.ts
    expect(sim).not.toContain("bun:ffi");
    server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) => {
        const path = new URL(req.url).pathname;
        if (path.includes("..")) return new Response("no", { status: 400 });
        const file = Bun.file(join(pkg.project, path));
        const type = path.endsWith(".html") ? "text/html" : "text/javascript";
        return file.exists().then((ok) => (ok ? new Response(file, { headers: { "content-type": type } }) : new Response("missing", { status: 404 })));
      },
    });
    browser = await Browser.launch();
    page = await browser.open(`http://127.0.0.1:${server.port}/index.html`);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.stop(true);
  }, 30_000);

  test("the scenario gives Bun's results on both backends, with no console errors", async () => {
    const there = JSON.parse(
      await page.evaluate<string>(`(async () => {
        const P = await import("/node_modules/privheap/dist/browser.js");
        const { runScenario } = await import("/portable-scenario.mjs");
        return JSON.stringify(runScenario(P));
      })()`),
    );
    expect(there.offsets.length).toBeGreaterThan(1000);
    expect(there).toEqual(JSON.parse(JSON.stringify(runScenario(P))));
    expect(there).toEqual(JSON.parse(JSON.stringify(runScenario(P, { backend: "wasm" }))));
    expect(page.errors).toEqual([]);
  }, 60_000);

  test("files are ENOTSUP in a browser, and snapshots still travel as bytes", async () => {
    const r = await page.evaluate<Record<string, string>>(`(async () => {
      const { PrivateHeap, Snapshot, HeapError, HeapMirror, Replay } = await import("/node_modules/privheap/dist/browser.js");
      const codes = {};
      const tryIt = (name, fn) => { try { fn(); codes[name] = "none"; } catch (e) { codes[name] = e instanceof HeapError ? e.code : String(e); } };
      const heap = PrivateHeap.create({ size: 1 << 20 });
      heap.malloc(100);
      const snap = heap.snapshot();
      tryIt("saveSync", () => snap.saveSync("/tmp/x.phsnap"));
      tryIt("loadSync", () => Snapshot.loadSync("/tmp/x.phsnap"));
      tryIt("open", () => PrivateHeap.open("/tmp/x.phheap", { size: 1 << 20, create: true }));
      tryIt("native", () => PrivateHeap.create({ size: 1 << 20, backend: "native" }));
      tryIt("mirror", () => HeapMirror.create(heap, "/tmp/x.phmirror"));
      tryIt("replayFile", () => Replay.record("/tmp/x.phreplay", heap, { compress: false }));
      tryIt("zstd", () => Replay.recordInMemory(heap, { compress: true }));
      codes.bytes = String(Snapshot.fromBytes(snap.bytes.slice()).checksum() === heap.checksum());
      heap.close();
      return codes;
    })()`);
    expect(r).toEqual({ saveSync: "ENOTSUP", loadSync: "ENOTSUP", open: "ENOTSUP", native: "ENOTSUP", mirror: "ENOTSUP", replayFile: "ENOTSUP", zstd: "ENOTSUP", bytes: "true" });
  });

  test(`the demo's simulation (${ENTITIES} entities, ${FRAMES} frames) ends with Bun's checksum`, async () => {
    await page.evaluate(`import("/sim.js")`);
    const there = await page.evaluate<{ checksum: string; used: number; ms: number }>(`runSim(${ENTITIES}, ${FRAMES})`);
    using heap = P.PrivateHeap.create({ size: 16 << 20 });
    createWorld(heap, ENTITIES);
    for (let f = 0; f < FRAMES; f++) step(heap, inputFor(f), f);
    console.log(`portable.test.ts: the simulation ran ${FRAMES} frames in Chromium in ${there.ms.toFixed(0)} ms`);
    expect(there.used).toBe(heap.usedBytes);
    expect(there.checksum).toBe(String(heap.checksum()));
    expect(page.errors).toEqual([]);
  }, 120_000);
});
