/**
 * bench/js/wasm-ring.ts - a SnapshotRing (delta mode) on a WebAssembly heap
 * against the native backend, in the same run.
 *
 * Usage: bun bench/js/wasm-ring.ts [rounds] [changed-share]
 *
 * A 64 MiB heap whose used prefix is about 60 MiB of random bytes; each
 * round changes `changed-share` of its pages (default 0.01: 1%, about 150
 * pages) at random places, then times one ring.save, then one ring.load of
 * the frame before (which writes those pages back). Rows (median of
 * `rounds` interleaved rounds, default 21; times in ms):
 *   native (auto):    the native heap, written-page tracker where the system gives one;
 *   native (compare): the native heap with tracking "compare" (no tracker, as on WebAssembly);
 *   wasm:             the WebAssembly heap (JavaScript page engine over the module's memory).
 * The wasm row also gives the pages compared and copied per save
 * (pageWork), and whether the module's memory grew during the rounds.
 */
import { PrivateHeap } from "../../src/heap.ts";
import { pageWork } from "../../src/snapshot/pages.ts";
import { SnapshotRing } from "../../src/snapshot/ring.ts";
import { wasmBackend } from "../../src/wasm/default-backend.ts";
import { median, printHeader, table } from "./common.ts";

const ROUNDS = Number(process.argv[2] ?? 21);
const SHARE = Number(process.argv[3] ?? 0.01);
const MiB = 1 << 20;
const PAGE = 4096;
printHeader(`SnapshotRing save/load, ${SHARE * 100}% of a 64 MiB heap's pages changed: WebAssembly vs native`);

interface Variant {
  name: string;
  heap: PrivateHeap;
  ring: SnapshotRing;
  block: number;
  save: number[];
  load: number[];
}

function variant(name: string, options: Parameters<typeof PrivateHeap.create>[0]): Variant {
  const heap = PrivateHeap.create(options);
  const block = heap.malloc(60 * MiB);
  for (let at = block; at < block + 60 * MiB; at += 65536) crypto.getRandomValues(heap.u8.subarray(at, Math.min(at + 65536, block + 60 * MiB)));
  const ring = SnapshotRing.create(heap, { capacity: 4 });
  ring.save(0);
  ring.save(1); // the tracker (if any) has looked once: saves from here on are steady
  return { name, heap, ring, block, save: [], load: [] };
}

const variants = [
  variant("native (auto)", { size: 64 * MiB }),
  variant("native (compare)", { size: 64 * MiB, tracking: "compare" }),
  variant("wasm", { size: 64 * MiB, backend: "wasm" }),
];
const blockPages = (60 * MiB) / PAGE;
const changed = Math.max(1, Math.round(SHARE * (variants[0]!.heap.usedBytes / PAGE)));
const memoryBefore = wasmBackend().core.buffer.byteLength;
let compared = 0;
let copied = 0;

for (let round = 0; round < ROUNDS; round++) {
  const pages = Array.from({ length: changed }, () => Math.floor(Math.random() * blockPages));
  const value = round & 255;
  for (const v of variants) {
    const frame = v.ring.newest! + 1;
    for (const p of pages) v.heap.u8[v.block + p * PAGE + 8] = value ^ 0x5a;
    const w = { ...pageWork };
    let t = Bun.nanoseconds();
    v.ring.save(frame);
    v.save.push(Bun.nanoseconds() - t);
    if (v.name === "wasm") {
      compared += pageWork.compared - w.compared;
      copied += pageWork.copied - w.copied;
    }
    t = Bun.nanoseconds();
    v.ring.load(frame - 1);
    v.load.push(Bun.nanoseconds() - t);
    v.ring.save(frame); // the changed frame again, so the next round starts from it
  }
}

const ms = (ns: number) => (ns / 1e6).toFixed(3);
const base = median(variants[1]!.save);
table(
  ["variant", "save ms", "load ms", "save / native compare"],
  variants.map((v) => [v.name, ms(median(v.save)), ms(median(v.load)), (median(v.save) / base).toFixed(2)]),
);
console.log(`pages changed per round: ${changed} of ${variants[0]!.heap.usedBytes / PAGE} used`);
console.log(`wasm save: ${(compared / ROUNDS).toFixed(0)} pages compared, ${(copied / ROUNDS).toFixed(0)} pages copied per save`);
console.log(`WebAssembly memory grew during the rounds: ${wasmBackend().core.buffer.byteLength !== memoryBefore}`);
for (const v of variants) {
  v.ring.close();
  v.heap.close();
}
