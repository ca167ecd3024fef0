/**
 * bench/js/wasm.ts - malloc + free pairs through the WebAssembly core
 * (privheap.wasm, `zig build wasm`) against the native library, in one run.
 *
 * Usage: bun bench/js/wasm.ts [iterations] [path/to/privheap.wasm]
 *
 * "raw" calls ph_off_malloc / ph_off_free directly: the bun:ffi symbols on
 * the native side, the module's exports on the other. "heap" adds each
 * side's wrapper: PrivateHeap (argument and closed checks, error mapping)
 * and WasmHeap. Both heaps are 64 MiB with PrivateHeap.create's flags.
 * Each pair of figures is the best of rounds alternating the two sides.
 * Target: wasm heap pair <= 1.5x native heap pair.
 */
import { readFileSync, statSync } from "node:fs";
import { PrivateHeap } from "../../src/heap.ts";
import { loadNative } from "../../src/ffi/loader.ts";
import { loadWasmCore, WasmHeap, wasmCandidates } from "../../src/wasm/index.ts";
import { printHeader, table, verdict } from "./common.ts";

const N = Number(process.argv[2] ?? 3_000_000);
const wasmPath = process.argv[3] ?? wasmCandidates().find((p) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
});
if (wasmPath === undefined) throw new Error("no privheap.wasm: run python3 -m ziglang build wasm");
printHeader("malloc + free: WebAssembly core vs native library");
console.log(`module  : ${wasmPath} (${(statSync(wasmPath).size / 1024).toFixed(1)} KiB)`);
console.log("");

const SIZE = 64 << 20;
const S = loadNative().symbols;
const heap = PrivateHeap.create({ size: SIZE });
const h = heap.address as never;
const core = loadWasmCore(readFileSync(wasmPath));
const wheap = WasmHeap.create(core, SIZE);
const W = core.symbols;
const wh = wheap.address;
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

const SIZES = [16, 64, 256, 4096];
const rows: (string | number)[][] = [];
const heapRatios: number[] = [];
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
  heapRatios.push(wasmHeap / nativeHeap);
  rows.push(
    [`raw  malloc(${size})+free`, nativeRaw.toFixed(2), wasmRaw.toFixed(2), `${(wasmRaw / nativeRaw).toFixed(2)}x`],
    [`heap malloc(${size})+free`, nativeHeap.toFixed(2), wasmHeap.toFixed(2), `${(wasmHeap / nativeHeap).toFixed(2)}x`],
  );
}
if (heap.check() !== 0 || wheap.check() !== 0) throw new Error("a heap is inconsistent after the benchmark");

table(["operation", "native ns", "wasm ns", "wasm / native"], rows);
console.log("");
for (const [i, size] of SIZES.entries()) console.log(`heap malloc(${size})+free, wasm vs native: ${verdict(heapRatios[i]!, 1.5)}`);
heap.close();
wheap.close();
if (sink === 0.5) console.log(sink);
