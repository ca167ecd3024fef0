/**
 * scripts/hostile-snapshots.ts - the long hostile-input campaign for
 * snapshot files and images (test/support/snapshot-hostile.ts: mutations
 * of every field of the file format and of the heap image inside, with the
 * file's checksums recomputed). Not part of CI; the CI suite is
 * test/system/snapshot/snapshot-hostile.test.ts.
 *
 * Usage: bun scripts/hostile-snapshots.ts [--cases N] [--seed S] [--chunk C] [--jobs J] [--backend wasm]
 *   --cases  crafted inputs in total (default 100000)
 *   --seed   first seed (default: the time); chunk k uses seed S + k
 *   --chunk  cases per child process (default 5000)
 *   --jobs   child processes at a time (default 1)
 *   --backend  "wasm": the target heap on the WebAssembly backend and the
 *            WebAssembly core as the default (so Snapshot.fromBytes and the
 *            other readers of bytes check them in the wasm32 build, as in
 *            Node and browsers); default "native"
 *
 * Each chunk runs in a child Bun, so a crash (a signal), a hang (no
 * progress for 60 s) or an error is caught and reported with the seed and
 * case that caused it; the child's peak memory (VmHWM) is reported too.
 * Exit status 0 only when every case ended in a consistent heap or a code.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};

if (process.argv[2] === "--child") {
  const [, , , seedArg, countArg, progress, dir, backend] = process.argv;
  const { writeFileSync } = await import("node:fs");
  const { PrivateHeap } = await import("../src/heap.ts");
  if (backend === "wasm") {
    const { setDefaultBackend } = await import("../src/backend.ts");
    const { wasmBackend } = await import("../src/wasm/default-backend.ts");
    setDefaultBackend(wasmBackend);
  }
  const { rng } = await import("../test/support/random.ts");
  const { makeBases, makeCase, runCase } = await import("../test/support/snapshot-hostile.ts");
  const seed = Number(seedArg);
  const count = Number(countArg);
  const r = rng(seed);
  const bases = makeBases();
  using target = PrivateHeap.create({ size: 4 << 20, backend: backend === "wasm" ? "wasm" : "native" });
  const clean = target.snapshot();
  const counts: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const c = makeCase(bases[i % bases.length]!, r);
    if (i % 50 === 0) writeFileSync(progress!, `${i} ${c.kind}`);
    try {
      const o = await runCase(c, target, clean, join(dir!, "case.phsnap"), i % 8 === 7);
      counts[o] = (counts[o] ?? 0) + 1;
    } catch (e) {
      console.log(JSON.stringify({ error: `case ${i}: ${(e as Error).message}` }));
      process.exit(1);
    }
  }
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  console.log(JSON.stringify({ counts, peakKiB: Number(hwm ?? -1) }));
  process.exit(0);
}

const total = arg("cases", 100_000);
const seed0 = arg("seed", Date.now() % 2 ** 31);
const chunk = arg("chunk", 5000);
const jobs = arg("jobs", 1);
const backend = process.argv.includes("--backend") ? process.argv[process.argv.indexOf("--backend") + 1]! : "native";
if (backend !== "native" && backend !== "wasm") throw new Error(`--backend must be native or wasm, got ${backend}`);
const dir = mkdtempSync(join(process.platform === "linux" ? "/dev/shm" : tmpdir(), "privheap-campaign-"));
const totals: Record<string, number> = {};
const failures: string[] = [];
let done = 0;
let peakKiB = 0;
const t0 = performance.now();

async function runChunk(k: number, count: number): Promise<void> {
  const seed = seed0 + k;
  const progress = join(dir, `progress-${k}`);
  const sub = join(dir, `c${k}`);
  await Bun.write(join(sub, ".keep"), "");
  const child = Bun.spawn([process.execPath, import.meta.path, "--child", String(seed), String(count), progress, sub, backend], { stdout: "pipe", stderr: "pipe" });
  // A hang: no progress for 60 s.
  let last = "";
  let still = 0;
  const watch = setInterval(() => {
    let now = "";
    try {
      now = readFileSync(progress, "utf8");
    } catch {}
    if (now === last && ++still >= 6) child.kill(9);
    if (now !== last) still = 0;
    last = now;
  }, 10_000);
  const out = await new Response(child.stdout).text();
  const err = await new Response(child.stderr).text();
  const code = await child.exited;
  clearInterval(watch);
  let at = "";
  try {
    at = readFileSync(progress, "utf8");
  } catch {}
  const line = out.trim().split("\n").pop() ?? "";
  if (code !== 0 || child.signalCode) {
    failures.push(`seed ${seed} (near case ${at}): exit ${code} ${child.signalCode ?? ""} ${line} ${err.slice(-500)}`);
    return;
  }
  const r = JSON.parse(line) as { counts: Record<string, number>; peakKiB: number };
  for (const [k2, n] of Object.entries(r.counts)) totals[k2] = (totals[k2] ?? 0) + n;
  done += count;
  peakKiB = Math.max(peakKiB, r.peakKiB);
  console.log(`seed ${seed}: ${count} cases ${JSON.stringify(r.counts)} peak ${(r.peakKiB / 1024).toFixed(0)} MiB  (${done}/${total}, ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}

try {
  const chunks: [number, number][] = [];
  for (let k = 0, left = total; left > 0; k++, left -= chunk) chunks.push([k, Math.min(chunk, left)]);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, jobs) }, async () => {
      while (next < chunks.length) {
        const [k, n] = chunks[next++]!;
        await runChunk(k, n);
      }
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`\n${done} of ${total} crafted snapshot inputs (seeds ${seed0}..${seed0 + Math.ceil(total / chunk) - 1}) in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify(totals)}; child peak RSS ${(peakKiB / 1024).toFixed(0)} MiB`);
console.log(failures.length === 0 ? "no crash, hang or error" : `FAILURES (${failures.length}):\n${failures.join("\n")}`);
process.exit(failures.length === 0 ? 0 : 1);
