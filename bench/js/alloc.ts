/**
 * bench/js/alloc.ts - heap.malloc + heap.free from JavaScript against the
 * floor of any JS-to-C call.
 *
 * Usage: bun bench/js/alloc.ts [iterations]
 *
 * Baselines (same run): `ph_last_error()`, an existing exported function that
 * only reads a thread-local int, so its cost is the FFI call itself (no C
 * no-op was added for the benchmark), and `ph_heap_flags(h)`, the same with
 * one pointer argument. "raw" calls ph_off_malloc/ph_off_free through the FFI
 * symbols directly; "heap" adds the PrivateHeap wrapper (argument checks,
 * closed check, error mapping). "C loop" runs the same pairs from C (a loop
 * compiled at run time by bun:ffi's TinyCC, calling the library through
 * function pointers), which is the allocator's own cost with no JS in it;
 * heap - C loop is what crossing from JS adds. Each malloc+free pair is one
 * operation. Target: heap malloc+free <= 3x the no-op call.
 */
import { cc } from "bun:ffi";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../src/heap.ts";
import { loadNative } from "../../src/ffi/loader.ts";
import { nsPerOp, printHeader, table, verdict } from "./common.ts";

const N = Number(process.argv[2] ?? 5_000_000);
printHeader("malloc + free from JS vs a no-op FFI call");

const S = loadNative().symbols;
const heap = PrivateHeap.create({ size: 64 << 20 });
const h = heap.address as never;
let sink = 0;

const noop = nsPerOp((n) => {
  let acc = 0;
  for (let i = 0; i < n; i++) acc += S.ph_last_error();
  sink += acc;
}, N);
const flags = nsPerOp((n) => {
  let acc = 0;
  for (let i = 0; i < n; i++) acc += S.ph_heap_flags(h);
  sink += acc;
}, N);
// The C floor: the same pairs driven from C.
const cdir = mkdtempSync(join(tmpdir(), "privheap-bench-"));
writeFileSync(
  join(cdir, "loop.c"),
  `typedef double (*mfn)(void *, double);
   typedef int (*ffn)(void *, double);
   int loop_pairs(void *h, double size, int n, mfn m, ffn f) {
     int s = 0;
     for (int i = 0; i < n; i++) s += f(h, m(h, size));
     return s;
   }`,
);
const loop = cc({
  source: join(cdir, "loop.c"),
  symbols: { loop_pairs: { args: ["ptr", "f64", "i32", "ptr", "ptr"], returns: "i32" } },
});
const fnPtr = (f: unknown) => (f as { ptr: number }).ptr as never;
const cLoop = (size: number) =>
  nsPerOp((n) => {
    sink += loop.symbols.loop_pairs(h, size, n, fnPtr(S.ph_off_malloc), fnPtr(S.ph_off_free));
  }, N);
const cFloor: number[] = [];
const raw: number[] = [];
const wrapped: number[] = [];
for (const size of [16, 64, 256, 4096, 32768]) {
  cFloor.push(cLoop(size));
  raw.push(
    nsPerOp((n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += S.ph_off_free(h, S.ph_off_malloc(h, size));
      sink += acc;
    }, N),
  );
  wrapped.push(
    nsPerOp((n) => {
      for (let i = 0; i < n; i++) heap.free(heap.malloc(size));
    }, N),
  );
}
// A batch: 1000 live allocations, then all freed (the free path sees real runs).
const offs = new Float64Array(1000);
const batch = nsPerOp((n) => {
  for (let k = 0; k < n; k += 1000) {
    for (let i = 0; i < 1000; i++) offs[i] = heap.malloc(48);
    for (let i = 0; i < 1000; i++) heap.free(offs[i]!);
  }
}, N);
if (heap.check() !== 0) throw new Error("heap inconsistent after the benchmark");

table(
  ["operation", "ns/op", "vs no-op ph_last_error()", "vs ph_heap_flags(h)"],
  [
    ["ph_last_error() (no-op floor)", noop.toFixed(2), "1.00x", ""],
    ["ph_heap_flags(h)", flags.toFixed(2), `${(flags / noop).toFixed(2)}x`, "1.00x"],
    ...[16, 64, 256, 4096, 32768].flatMap((size, i) => [
      [`C loop malloc(${size})+free`, cFloor[i]!.toFixed(2), `${(cFloor[i]! / noop).toFixed(2)}x`, `${(cFloor[i]! / flags).toFixed(2)}x`],
      [`raw  malloc(${size})+free`, raw[i]!.toFixed(2), `${(raw[i]! / noop).toFixed(2)}x`, `${(raw[i]! / flags).toFixed(2)}x`],
      [`heap malloc(${size})+free`, wrapped[i]!.toFixed(2), `${(wrapped[i]! / noop).toFixed(2)}x`, `${(wrapped[i]! / flags).toFixed(2)}x`],
    ]),
    ["heap 1000 x malloc(48), then free (per pair)", batch.toFixed(2), `${(batch / noop).toFixed(2)}x`, `${(batch / flags).toFixed(2)}x`],
  ],
);
console.log("");
console.log(`heap malloc(64)+free vs no-op call: ${verdict(wrapped[1]! / noop, 3)}`);
console.log(`heap malloc(64)+free vs one-pointer-argument call: ${(wrapped[1]! / flags).toFixed(2)}x`);
console.log(`wrapper overhead (heap vs raw, 64 B): ${(wrapped[1]! - raw[1]!).toFixed(2)} ns per pair`);
const jsPart = wrapped[1]! - cFloor[1]!;
console.log(`JS side of malloc(64)+free (heap - C loop): ${jsPart.toFixed(2)} ns per pair = ${(jsPart / noop).toFixed(2)}x the no-op call; the allocator itself: ${cFloor[1]!.toFixed(2)} ns = ${(cFloor[1]! / noop).toFixed(2)}x`);
heap.close();
if (sink === 0.5) console.log(sink);
