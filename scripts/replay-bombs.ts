/**
 * replay-bombs.ts - write replay files whose records declare far more heap
 * than they hold, to measure what reading them costs.
 *
 * Usage: bun scripts/replay-bombs.ts DIR
 *   DIR/header-less.phreplay  88 bytes: a whole keyframe of 4 GiB with no pages
 *   DIR/no-metadata.phreplay  a real heap header declaring 4 GiB used, and nothing else
 *   DIR/sparse.phreplay       a valid recording of a 4 GiB heap with 4 GiB used, almost all zero
 * Then time `privheap replay info DIR/x.phreplay`, or Replay.openSync + keyframe(-1)
 * + seek(-1) (bun scripts/replay-bombs.ts --load FILE), under /usr/bin/time -v.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PrivateHeap, Replay } from "../src/index.ts";
import { encodeHeader, fillKeyframe, frameRecord, keyframePayloadBytes, KEYFRAME_FULL, RECORD_KEYFRAME, REPLAY_VERSION } from "../src/snapshot/replay-format.ts";
import { NATIVE_CONSTANTS } from "../src/ffi/symbols.ts";

const GiB4 = 2 ** 32;
const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;

function file(pages: Uint32Array, data: Uint8Array, used: number): Uint8Array {
  const head = encodeHeader({ version: REPLAY_VERSION, abi: NATIVE_CONSTANTS.PH_ABI_VERSION, pageSize: PAGE, keyframeEvery: 1, regionBytes: GiB4 });
  const rec = frameRecord(RECORD_KEYFRAME, keyframePayloadBytes(pages.length), new Uint8Array(0), (p) => fillKeyframe(p, -1, KEYFRAME_FULL, { length: used, pages, data }));
  const out = new Uint8Array(head.length + rec.length);
  out.set(head);
  out.set(rec, head.length);
  return out;
}

function load(path: string): void {
  const t0 = performance.now();
  const step = (what: string, f: () => void) => {
    try {
      f();
      console.log(`${what}: ok`);
    } catch (e) {
      console.log(`${what}: ${e instanceof Error ? e.message.slice(0, 160) : String(e)}`);
    }
  };
  let replay: Replay | null = null;
  step("open", () => (replay = Replay.fromBytes(readFileSync(path))));
  if (replay !== null) {
    const r: Replay = replay;
    step("keyframe(-1)", () => r.keyframe(-1));
    step("seek(-1) into a 1 MiB heap", () => {
      using small = PrivateHeap.create({ size: 1 << 20 });
      r.seek(-1, small, () => {});
    });
  }
  console.log(`${((performance.now() - t0) / 1000).toFixed(2)} s`);
}

const [arg, path] = process.argv.slice(2);
if (arg === "--load" && path !== undefined) load(path);
else if (arg !== undefined) {
  mkdirSync(arg, { recursive: true });
  writeFileSync(join(arg, "header-less.phreplay"), file(new Uint32Array(0), new Uint8Array(0), GiB4));
  using heap = PrivateHeap.create({ size: GiB4 });
  heap.malloc(GiB4 - (64 << 20)); // used ~4 GiB, never written
  const used = heap.usedBytes;
  writeFileSync(join(arg, "no-metadata.phreplay"), file(Uint32Array.of(0), heap.u8.slice(0, PAGE), used));
  const rec = Replay.record(join(arg, "sparse.phreplay"), heap, { keyframeEvery: 1 });
  rec.close();
  console.log(`used ${used} bytes`);
} else {
  console.error("usage: bun scripts/replay-bombs.ts DIR | --load FILE");
  process.exit(2);
}
