/**
 * bench/js/mirror-runtimes.ts - what one HeapMirror.sync costs in Bun and
 * in Node: a 64 MiB used prefix with 1% of its pages changed (every 100th
 * page, each a run of its own), fsync off (the CPU's part: hashing and
 * writes to the page cache), on the OS temp directory.
 *
 * Usage: bun bench/js/mirror-runtimes.ts [rounds] [syncs]
 *   rounds  times each runtime runs, alternated (default 3)
 *   syncs   syncs timed per run; a run prints their median (default 15)
 *
 * Each run is a process of its own running the same plain module: Bun on
 * the native backend (the kernel's tracker names the written pages, only
 * those are hashed), Bun on the WebAssembly backend, Node and Deno when
 * installed (the package as they load it, dist/node.js: "compare"
 * tracking, every used page hashed with the core's XXH3 each sync, then
 * the same journal and writes).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { builtPackage } from "../../test/support/dist.ts";
import { median, table } from "./common.ts";

const ROUNDS = Number(process.argv[2] ?? 3);
const SYNCS = Number(process.argv[3] ?? 15);

/** The timed run: argv is the module to import ("privheap" or a path), the backend ("" for the default) and the sync count. */
const WORKER = `
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
const [spec, backend, syncs] = process.argv.slice(2);
const P = await import(spec);
const PAGE = 4096, USED = 64 << 20;
const heap = P.PrivateHeap.create({ size: USED + (16 << 20), ...(backend ? { backend } : {}) });
const block = heap.malloc(USED - 64 * PAGE);
heap.u8.fill(1, block, block + USED - 64 * PAGE);
const dir = mkdtempSync(join(tmpdir(), "mirror-runtimes-"));
const mirror = P.HeapMirror.create(heap, join(dir, "m.phheap"), { fsync: false });
const first = Math.ceil(block / PAGE), last = Math.floor((heap.usedBytes - PAGE) / PAGE);
const ms = [];
let written = 0;
for (let r = 0; r < Number(syncs); r++) {
  for (let p = first; p <= last; p += 100) heap.u8[p * PAGE + (r % PAGE)] = r + 2;
  const t0 = performance.now();
  written = mirror.sync();
  ms.push(performance.now() - t0);
}
const tracking = heap.tracking;
mirror.close();
heap.close();
rmSync(dir, { recursive: true, force: true });
ms.sort((a, b) => a - b);
console.log(JSON.stringify({ ms: ms[ms.length >> 1], written, pages: USED / PAGE, tracking }));
`;

/** The CPU's name, with the family and model numbers /proc/cpuinfo gives (a bare "AMD EPYC" names no generation). */
function cpuModel(): string {
  const name = `${cpus()[0]?.model ?? "unknown cpu"} x${cpus().length}`;
  const info = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const field = (key: string) => new RegExp(`^${key}\\s*:\\s*(.*)$`, "m").exec(info)?.[1];
  return field("cpu family") === undefined ? name : `${name} (family ${field("cpu family")}, model ${field("model")})`;
}

const pkg = await builtPackage();
const worker = join(pkg.project, "mirror-worker.mjs");
writeFileSync(worker, WORKER);
const src = join(import.meta.dir, "../../src/index.ts");
const nodeVersion = spawnSync("node", ["--version"], { encoding: "utf8" }).stdout.trim();
const RUNS: { name: string; argv: string[] }[] = [
  { name: `bun ${Bun.version}, native`, argv: [process.execPath, worker, src, "native"] },
  { name: `bun ${Bun.version}, wasm`, argv: [process.execPath, worker, src, "wasm"] },
  { name: `node ${nodeVersion}`, argv: ["node", worker, "privheap", ""] },
];
const deno = join(import.meta.dir, "../../node_modules/.bin/deno");
if (existsSync(deno)) RUNS.push({ name: `deno ${spawnSync(deno, ["--version"], { encoding: "utf8" }).stdout.split(" ")[1]}`, argv: [deno, "run", "--quiet", "-A", worker, "privheap", ""] });

console.log(`# HeapMirror.sync, 64 MiB used prefix, 1% of pages changed, fsync off: median of ${SYNCS} syncs per run, ${ROUNDS} runs alternated`);
console.log(`cpu: ${cpuModel()}, load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
const results = RUNS.map(() => [] as { ms: number; written: number; tracking: string }[]);
for (let round = 0; round < ROUNDS; round++)
  RUNS.forEach((run, i) => {
    const r = spawnSync(run.argv[0]!, [...run.argv.slice(1), String(SYNCS)], { cwd: pkg.project, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${run.name}: exit ${r.status}: ${r.stderr}`);
    results[i]!.push(JSON.parse(r.stdout));
  });
const base = median(results[0]!.map((x) => x.ms));
table(
  ["runtime, backend", "tracking", "pages written", "ms per sync (runs)", "median", "x bun native"],
  RUNS.map((run, i) => {
    const xs = results[i]!;
    const m = median(xs.map((x) => x.ms));
    return [run.name, xs[0]!.tracking, xs[0]!.written, xs.map((x) => x.ms.toFixed(2)).join(" "), m.toFixed(2), (m / base).toFixed(1)];
  }),
);
