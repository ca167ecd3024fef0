/**
 * hostile-replays.ts - the long hostile-input campaign for replay files:
 * seeded structure-aware mutations of real recordings with checksums
 * recomputed, each driven through Replay.fromBytes, its accessors,
 * keyframe, seek and verify, and every --cli-every-th case through
 * `privheap replay info` and `replay verify` (test/support/replay-hostile.ts).
 *
 * Usage: bun scripts/hostile-replays.ts [--cases N] [--seed S] [--cli-every K] [--backend wasm]
 * With --backend wasm the target heap is on the WebAssembly backend and the
 * WebAssembly core is the default, so every reader of bytes checks them in
 * the wasm32 build, as in Node and browsers.
 * Prints the counts of each outcome, the slowest case and the peak RSS;
 * exits 1 on the first case where a reader throws anything but a HeapError
 * or leaves the target heap inconsistent (with its seed and index). A crash
 * of the process is a crash of a reader: rerun with the printed seed.
 */
import { setDefaultBackend } from "../src/backend.ts";
import { wasmBackend } from "../src/wasm/default-backend.ts";
import { campaign } from "../test/support/replay-hostile.ts";

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) {
    console.error(`${name} needs a non-negative integer`);
    process.exit(2);
  }
  return v;
}

const cases = flag("--cases", 100_000);
const seed = flag("--seed", (Math.random() * 2 ** 32) >>> 0);
const cliEvery = flag("--cli-every", 200);
const at = process.argv.indexOf("--backend");
const backend = at < 0 ? "native" : process.argv[at + 1];
if (backend !== "native" && backend !== "wasm") {
  console.error("--backend must be native or wasm");
  process.exit(2);
}
if (backend === "wasm") setDefaultBackend(wasmBackend);
console.log(`seed ${seed}, ${cases} cases, the command line every ${cliEvery}, ${backend} backend`);
const t0 = performance.now();
try {
  const r = await campaign(seed, cases, cliEvery, (i) => {
    if (i > 0 && i % 10_000 === 0) console.log(`  ${i} cases, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }, backend);
  console.log(`${r.cases} cases (${r.cliCases} through the command line) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`slowest case ${r.maxCaseMs.toFixed(1)} ms, peak RSS ${(r.maxRssBytes / 2 ** 20).toFixed(0)} MiB`);
  console.log("outcomes:");
  for (const [k, n] of [...r.outcomes].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(8)}  ${k}`);
  console.log("mutations:");
  for (const [k, n] of [...r.mutations].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(8)}  ${k}`);
  console.log("crashes, hangs, non-HeapError failures: 0");
} catch (e) {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
}
