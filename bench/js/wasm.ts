/**
 * bench/js/wasm.ts - malloc + free pairs through the WebAssembly core
 * (privheap.wasm, `zig build wasm`) against the native library, in one run.
 *
 * Usage: bun bench/js/wasm.ts [iterations] [path/to/privheap.wasm]
 *
 * "raw" calls ph_off_malloc / ph_off_free directly on a heap made by
 * ph_region_map_anon + ph_heap_init: the native library's bun:ffi symbols
 * on one side, the module's exports (a WasmCore of its own) on the other.
 * "heap" is PrivateHeap on each backend (`backend: "native"` and
 * `backend: "wasm"`): argument and closed checks, error mapping. Both heaps
 * live in this process, so PrivateHeap's methods see both backends' calls
 * and the engine compiles them for both, which slows both: a program
 * that uses both backends pays that. "alone" is PrivateHeap on one backend
 * in a process of its own (this script with --alone), as a program that
 * uses one backend runs it. Every heap is 64 MiB with PrivateHeap.create's
 * default flags. Each pair of figures is the best of rounds alternating the
 * two sides (for "alone", alternating the two processes).
 * Target: a wasm heap pair at most 1.5x a native heap pair.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { cpus } from "node:os";
import type { Pointer } from "bun:ffi";
import { loadNative } from "../../src/ffi/loader.ts";
import { NATIVE_CONSTANTS } from "../../src/ffi/symbols.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { WasmCore } from "../../src/wasm/core.ts";
import { wasmCandidates } from "../../src/wasm/file.ts";
import { compileWasm } from "../../src/wasm/source.ts";
import { printHeader, table, verdict } from "./common.ts";

/** The CPU's model name, with its family and model numbers where /proc/cpuinfo gives them (a bare "AMD EPYC" names no generation). */
function cpuModel(): string {
  const name = cpus()[0]?.model ?? "unknown cpu";
  if (!existsSync("/proc/cpuinfo")) return name;
  const info = readFileSync("/proc/cpuinfo", "utf8");
  const field = (key: string) => new RegExp(`^${key}\\s*:\\s*(.*)$`, "m").exec(info)?.[1];
  const family = field("cpu family");
  const model = field("model");
  return family === undefined || model === undefined ? name : `${name} (family ${family}, model ${model})`;
}

const SIZE = 64 << 20;

/** --alone BACKEND SIZE N: this process times PrivateHeap on one backend only and prints ns per pair (best of 3 rounds). */
if (process.argv[2] === "--alone") {
  const [backend, size, n] = [process.argv[3] as "native" | "wasm", Number(process.argv[4]), Number(process.argv[5])];
  const one = PrivateHeap.create({ size: SIZE, backend });
  const pairs = (count: number) => {
    for (let i = 0; i < count; i++) one.free(one.malloc(size));
  };
  pairs(Math.min(n, 200_000));
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 3; r++) {
    const t0 = Bun.nanoseconds();
    pairs(n);
    best = Math.min(best, (Bun.nanoseconds() - t0) / n);
  }
  if (one.check() !== 0) throw new Error(`the ${backend} heap is inconsistent after the benchmark`);
  console.log(best);
  process.exit(0);
}

const N = Number(process.argv[2] ?? 3_000_000);
const wasmPath = process.argv[3] ?? wasmCandidates().find((p) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
});
if (wasmPath === undefined) throw new Error("no privheap.wasm: run python3 -m ziglang build wasm");
// PrivateHeap's WebAssembly backend reads the module the raw side runs.
process.env.PRIVHEAP_WASM = wasmPath;
console.log(`cpu     : ${cpuModel()}`);
printHeader("malloc + free: WebAssembly core vs native library");
console.log(`module  : ${wasmPath} (${(statSync(wasmPath).size / 1024).toFixed(1)} KiB)`);
console.log("");

/** PrivateHeap.create's default flags: a zeroed region, decay purging, zeroed re-entry. */
const FLAGS = NATIVE_CONSTANTS.PH_REGION_ZEROED | NATIVE_CONSTANTS.PH_PURGE | NATIVE_CONSTANTS.PH_ZERO_REENTRY;

const S = loadNative().symbols;
const nativeBase = S.ph_region_map_anon(SIZE);
const h = nativeBase === null ? null : S.ph_heap_init(nativeBase, SIZE, FLAGS);
if (nativeBase === null || h === null) throw new Error(`native raw heap: ${S.ph_strerror(S.ph_last_error())}`);

const core = new WasmCore(compileWasm(readFileSync(wasmPath)));
const W = core.exports;
const wasmBase = W.ph_region_map_anon(SIZE) >>> 0;
const wh = wasmBase === 0 ? 0 : W.ph_heap_init(wasmBase, SIZE, FLAGS) >>> 0;
if (wh === 0) throw new Error(`wasm raw heap: ${core.cString(W.ph_strerror(W.ph_last_error()) >>> 0)}`);

const heap = PrivateHeap.create({ size: SIZE, backend: "native" });
const wheap = PrivateHeap.create({ size: SIZE, backend: "wasm" });
let sink = 0;

/**
 * Nanoseconds per iteration of `a(n)` and of `b(n)`, best of `rounds`
 * rounds that alternate them, so a slow spell of a shared machine hits
 * both sides instead of one.
 */
function alternated(a: (n: number) => void, b: (n: number) => void, n: number, rounds = 9): [number, number] {
  a(Math.min(n, 200_000));
  b(Math.min(n, 200_000));
  let bestA = Number.POSITIVE_INFINITY;
  let bestB = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    let t0 = Bun.nanoseconds();
    a(n);
    bestA = Math.min(bestA, (Bun.nanoseconds() - t0) / n);
    t0 = Bun.nanoseconds();
    b(n);
    bestB = Math.min(bestB, (Bun.nanoseconds() - t0) / n);
  }
  return [bestA, bestB];
}

/** ns per pair of PrivateHeap on each backend alone in a process of its own: best of `rounds` rounds alternating the two. */
function alone(size: number, n: number, rounds = 5): [number, number] {
  const time = (backend: string) => {
    const r = Bun.spawnSync([process.execPath, import.meta.path, "--alone", backend, String(size), String(n)], { env: process.env });
    if (r.exitCode !== 0) throw new Error(`--alone ${backend}: ${r.stderr.toString()}`);
    return Number(r.stdout.toString());
  };
  let bestNative = Number.POSITIVE_INFINITY;
  let bestWasm = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    bestNative = Math.min(bestNative, time("native"));
    bestWasm = Math.min(bestWasm, time("wasm"));
  }
  return [bestNative, bestWasm];
}

const SIZES = [16, 64, 256, 4096];
const rows: (string | number)[][] = [];
const heapRatios: number[] = [];
const aloneRatios: number[] = [];
for (const size of SIZES) {
  const [nativeRaw, wasmRaw] = alternated(
    (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += S.ph_off_free(h, S.ph_off_malloc(h, size));
      sink += acc;
    },
    (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += W.ph_off_free(wh, W.ph_off_malloc(wh, size));
      sink += acc;
    },
    N,
  );
  const [nativeHeap, wasmHeap] = alternated(
    (n) => {
      for (let i = 0; i < n; i++) heap.free(heap.malloc(size));
    },
    (n) => {
      for (let i = 0; i < n; i++) wheap.free(wheap.malloc(size));
    },
    N,
  );
  const [nativeAlone, wasmAlone] = alone(size, N);
  heapRatios.push(wasmHeap / nativeHeap);
  aloneRatios.push(wasmAlone / nativeAlone);
  rows.push(
    [`raw   malloc(${size})+free`, nativeRaw.toFixed(2), wasmRaw.toFixed(2), `${(wasmRaw / nativeRaw).toFixed(2)}x`],
    [`heap  malloc(${size})+free`, nativeHeap.toFixed(2), wasmHeap.toFixed(2), `${(wasmHeap / nativeHeap).toFixed(2)}x`],
    [`alone malloc(${size})+free`, nativeAlone.toFixed(2), wasmAlone.toFixed(2), `${(wasmAlone / nativeAlone).toFixed(2)}x`],
  );
}
// Every pair freed what it took (a failed call would have left a nonzero sum), and the heaps are consistent.
if (sink !== 0) throw new Error(`a raw malloc or free failed (sum of results ${sink})`);
if (S.ph_heap_check(h, SIZE) !== 0 || W.ph_heap_check(wh, SIZE) !== 0 || heap.check() !== 0 || wheap.check() !== 0)
  throw new Error("a heap is inconsistent after the benchmark");

table(["operation", "native ns", "wasm ns", "wasm / native"], rows);
console.log("");
for (const [i, size] of SIZES.entries()) console.log(`heap  malloc(${size})+free, wasm vs native: ${verdict(heapRatios[i]!, 1.5)}`);
for (const [i, size] of SIZES.entries()) console.log(`alone malloc(${size})+free, wasm vs native: ${verdict(aloneRatios[i]!, 1.5)}`);
heap.close();
wheap.close();
S.ph_region_unmap(nativeBase as Pointer, SIZE);
W.ph_region_unmap(wasmBase, SIZE);
