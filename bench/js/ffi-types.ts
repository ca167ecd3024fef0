/**
 * bench/js/ffi-types.ts - what each bun:ffi argument and return type costs,
 * the measurements behind the choices in src/ffi/symbols.ts.
 *
 * Usage: bun bench/js/ffi-types.ts [iterations]
 *
 * The callees are trivial C functions compiled at run time into a temporary
 * shared library with the system C compiler (`cc`; nothing is added to
 * csrc/) and opened with dlopen like libprivheap, so each row is the cost of
 * crossing with that signature. (bun:ffi's own `cc` is not used for them: its
 * functions take a slower call path than dlopen'ed ones.) The question for the heap handle: passing it as `ptr`
 * (a JS number) against a hypothetical f64-handle variant of the C API.
 * Also: the cost per allocation of ph_heap_walk's JSCallback.
 */
import { JSCallback, dlopen, type FFIType, type Pointer } from "bun:ffi";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../src/heap.ts";
import { loadNative } from "../../src/ffi/loader.ts";
import { nsPerOp, printHeader, table } from "./common.ts";

const N = Number(process.argv[2] ?? 5_000_000);
printHeader("bun:ffi argument and return types");

const dir = mkdtempSync(join(tmpdir(), "privheap-ffitypes-"));
writeFileSync(
  join(dir, "stubs.c"),
  `#include <stdint.h>
   int none(void) { return 1; }
   int a_i32(int x) { return x; }
   int a_u32(unsigned x) { return (int)x; }
   int a_f64(double x) { return x > 0; }
   int a_ptr(void *p) { return p != 0; }
   int a_u64(uint64_t x) { return x != 0; }
   int a_usize(uint64_t x) { return x != 0; }
   double r_f64(void) { return 1.0; }
   void *r_ptr(void) { return (void *)0x7f0000001000; }
   uint64_t r_u64(void) { return 4096; }
   uint64_t r_u64_fast(void) { return 4096; }
   double op_ptr(void *h, double size) { return size + (h != 0); }
   double op_f64(double h, double size) { return size + (h != 0); }
   typedef int (*walk_fn)(void *, uint64_t, uint64_t);
   int walk(walk_fn fn, int n) { for (int i = 0; i < n; i++) if (fn(0, (uint64_t)i * 16, 16)) return 1; return 0; }`,
);
const f64: FFIType.f64 = "f64" as never;
const so = join(dir, "libstubs.so");
const built = spawnSync(process.env.CC ?? "cc", ["-O2", "-shared", "-fPIC", "-o", so, join(dir, "stubs.c")], { encoding: "utf8" });
if (built.status !== 0) throw new Error(`building the stub library needs a C compiler ($CC or cc): ${built.stderr ?? built.error}`);
const lib = dlopen(so, {
    none: { args: [], returns: "i32" },
    a_i32: { args: ["i32"], returns: "i32" },
    a_u32: { args: ["u32"], returns: "i32" },
    a_f64: { args: [f64], returns: "i32" },
    a_ptr: { args: ["ptr"], returns: "i32" },
    a_u64: { args: ["u64"], returns: "i32" },
    a_usize: { args: ["usize"], returns: "i32" },
    r_f64: { args: [], returns: "f64" },
    r_ptr: { args: [], returns: "ptr" },
    r_u64: { args: [], returns: "u64" },
    r_u64_fast: { args: [], returns: "u64_fast" as never },
    op_ptr: { args: ["ptr", "f64"], returns: "f64" },
    op_f64: { args: ["f64", "f64"], returns: "f64" },
    walk: { args: ["function", "i32"], returns: "i32" },
});
const L = lib.symbols;
const heap = PrivateHeap.create({ size: 16 << 20 });
const h = heap.address as Pointer;
let sink = 0;
// One explicit loop per case, each summing into a local (a store to a shared
// module-level variable in the loop costs more than the calls measured).
const loops: [string, (n: number) => void][] = [
  ["no arguments, i32 return", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += L.none(); sink += acc; }],
  ["i32 argument", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += L.a_i32(i); sink += acc; }],
  ["u32 argument", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += L.a_u32(i); sink += acc; }],
  ["f64 argument", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += L.a_f64(i + 0.5); sink += acc; }],
  ["ptr argument (a number)", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += L.a_ptr(h); sink += acc; }],
  ["u64 argument (a number)", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += L.a_u64(h); sink += acc; }],
  ["usize argument (a number)", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += L.a_usize(h); sink += acc; }],
  ["f64 return", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += L.r_f64(); sink += acc; }],
  ["ptr return", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += L.r_ptr() as number; sink += acc; }],
  ["u64 return (BigInt)", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += Number(L.r_u64()); sink += acc; }],
  ["u64_fast return", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += L.r_u64_fast() as number; sink += acc; }],
  ["(ptr handle, f64) -> f64", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += L.op_ptr(h, 64); sink += acc; }],
  ["(f64 handle, f64) -> f64", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += L.op_f64(h, 64); sink += acc; }],
  ["no arguments again", (n) => { let acc = 0; for (let i = 0; i < n; i++) acc += L.none(); sink += acc; }],
];
const rows: [string, number][] = loops.map(([name, body]) => [name, nsPerOp(body, N)]);
const base = rows[0]![1];
table(
  ["signature", "ns/call", "vs no-argument call"],
  rows.map(([name, ns]) => [name, ns.toFixed(2), `${(ns / base).toFixed(2)}x`]),
);

// The real library: the handle as ptr on a one-argument call.
const S = loadNative().symbols;
const flags = nsPerOp((n) => { let acc = 0; for (let i = 0; i < n; i++) acc += S.ph_heap_flags(h); sink += acc; }, N);
const lastError = nsPerOp((n) => { let acc = 0; for (let i = 0; i < n; i++) acc += S.ph_last_error(); sink += acc; }, N);
console.log("");
console.log(`libprivheap ph_last_error(): ${lastError.toFixed(2)} ns; ph_heap_flags(h as ptr): ${flags.toFixed(2)} ns`);
const ptrOp = rows.find((r) => r[0].startsWith("(ptr"))![1];
const f64Op = rows.find((r) => r[0].startsWith("(f64"))![1];
console.log(`handle as ptr vs as f64 on a (handle, f64) -> f64 call: ${(ptrOp / f64Op).toFixed(2)}x (${ptrOp.toFixed(2)} vs ${f64Op.toFixed(2)} ns)`);

// Walk callbacks: JS called from C once per allocation.
let count = 0;
const cb = new JSCallback(
  (_a: unknown, off: number, size: number) => {
    count += off + size > 0 ? 1 : 0;
    return 0;
  },
  { args: ["ptr", "u64_fast" as never, "u64_fast" as never], returns: "i32" },
);
const M = 1_000_000;
L.walk(cb.ptr!, 1000);
const t0 = Bun.nanoseconds();
L.walk(cb.ptr!, M);
const perCallback = (Bun.nanoseconds() - t0) / M;
cb.close();
// And through the heap: walk() over 100k live allocations.
for (let i = 0; i < 100_000; i++) heap.malloc(32);
const t1 = Bun.nanoseconds();
const seen = heap.walk(() => {});
const perWalked = (Bun.nanoseconds() - t1) / seen;
console.log(`JSCallback from C: ${perCallback.toFixed(1)} ns per call; heap.walk over ${seen} allocations: ${perWalked.toFixed(1)} ns per allocation`);
heap.close();
if (sink === 0.25 || count < 0) console.log(sink);
