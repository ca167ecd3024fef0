/**
 * bench/js/xxh3.ts - XXH3-64 (seed 0) of the C core against Bun.hash.xxHash3,
 * in one run: the native library's ph_xxh3_64 through bun:ffi, and
 * xxHash3In over the WebAssembly core (privheap.wasm, `zig build wasm`),
 * both with bytes outside the module's memory (copied through its 64 KiB
 * window) and with bytes in it (hashed in place).
 *
 * Usage: bun bench/js/xxh3.ts [rounds] [path/to/privheap.wasm]
 *
 * Inputs of 64 B, 4 KiB, 1 MiB and 64 MiB of random bytes. A sample hashes
 * the input enough times to cover about 32 MiB (at least once); rounds
 * (default 9) alternate the variants, so a slow spell of a shared machine
 * hits all of them. Figures: GB/s (1e9 bytes a second) of the best sample,
 * and each one's time against Bun.hash.xxHash3's (above 1: slower).
 */
import { readFileSync, statSync } from "node:fs";
import { loadNative } from "../../src/ffi/loader.ts";
import { WasmCore } from "../../src/wasm/core.ts";
import { wasmCandidates } from "../../src/wasm/file.ts";
import { compileWasm } from "../../src/wasm/source.ts";
import { xxHash3In } from "../../src/wasm/xxh3.ts";
import { printHeader, table } from "./common.ts";

const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown (no model name in /proc/cpuinfo)";
console.log(`cpu     : ${cpu}`);

const ROUNDS = Number(process.argv[2] ?? 9);
const wasmPath = process.argv[3] ?? wasmCandidates().find((p) => statSync(p, { throwIfNoEntry: false })?.isFile());
if (wasmPath === undefined) throw new Error("no privheap.wasm: run python3 -m ziglang build wasm");
printHeader("XXH3-64: the core (native, WebAssembly) vs Bun.hash.xxHash3");
console.log(`module  : ${wasmPath} (${(statSync(wasmPath).size / 1024).toFixed(1)} KiB)`);
console.log("");

const S = loadNative().symbols;
const core = new WasmCore(compileWasm(readFileSync(wasmPath)));
const KiB = 1024;
const MiB = 1 << 20;
const SAMPLE_BYTES = 32 * MiB;

/** Each variant hashes `bytes` (the outside copy) or its copy in the module's memory. */
const variants: { name: string; hash: (outside: Uint8Array, inside: Uint8Array) => bigint }[] = [
  { name: "Bun.hash.xxHash3", hash: (b) => Bun.hash.xxHash3(b) },
  { name: "native ph_xxh3_64", hash: (b) => S.ph_xxh3_64(b, b.length) },
  { name: "wasm xxHash3In, copied", hash: (b) => xxHash3In(core, b) },
  { name: "wasm xxHash3In, in place", hash: (_, inside) => xxHash3In(core, inside) },
];

const rows: (string | number)[][] = [];
for (const size of [64, 4 * KiB, MiB, 64 * MiB]) {
  const outside = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(outside.subarray(at, Math.min(at + 65536, size)));
  const at = core.exports.ph_region_map_anon(size) >>> 0;
  if (at === 0) throw new Error(`no ${size} bytes in the module's memory`);
  xxHash3In(core, outside.subarray(0, 1)); // maps the window now: a mapping may grow the memory
  const inside = core.u8.subarray(at, at + size);
  inside.set(outside);
  const want = Bun.hash.xxHash3(outside);
  for (const v of variants)
    if (v.hash(outside, inside) !== want) throw new Error(`${v.name} of ${size} bytes differs from Bun.hash.xxHash3`);

  const reps = Math.max(1, Math.floor(SAMPLE_BYTES / size));
  const best = variants.map(() => Number.POSITIVE_INFINITY);
  let sink = 0n;
  for (let round = -1; round < ROUNDS; round++) // round -1 warms up
    for (const [i, v] of variants.entries()) {
      const t0 = Bun.nanoseconds();
      for (let k = 0; k < reps; k++) sink ^= v.hash(outside, inside);
      const ns = (Bun.nanoseconds() - t0) / reps;
      if (round >= 0) best[i] = Math.min(best[i]!, ns);
    }
  if (sink === 1n) console.log(""); // keeps the hashes alive
  const label = size >= MiB ? `${size / MiB} MiB` : size >= KiB ? `${size / KiB} KiB` : `${size} B`;
  rows.push([label, ...best.map((ns, i) => `${(size / ns).toFixed(2)} (${(ns / best[0]!).toFixed(2)}x)`)]);
  core.exports.ph_region_unmap(at, size);
}
table(["input", ...variants.map((v) => `${v.name} GB/s`)], rows);
