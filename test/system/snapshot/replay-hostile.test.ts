/**
 * Hostile replay files: seeded structure-aware mutations of real recordings
 * (every field of the header, the record framing, tick records, keyframe
 * records and their pages, and the order of records), with the checksums
 * recomputed so each mutation reaches the checks behind them. Every reader
 * must end each case in a result or a HeapError, leave the target heap
 * consistent, and stay within bounded memory and time. The long run is
 * `bun scripts/hostile-replays.ts --cases N`.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode, encode, imageChecksum, type KeyframeParts, type ReplayParts, resealHeapChecksums } from "../../support/replay-craft.ts";
import { rleFrame } from "../../support/snapshot-craft.ts";
import { campaign, recordings } from "../../support/replay-hostile.ts";
import { seeds } from "../../support/random.ts";
import { Replay } from "../../../src/snapshot/replay.ts";
import { readFileSync } from "node:fs";
import { HeapError } from "../../../src/errors.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import { frameRecord, RECORD_HEAD_BYTES, RECORD_KEYFRAME_ZSTD, RECORD_TAIL_BYTES, REPLAY_HEADER_BYTES, ZSTD_KEYFRAME_FIXED_BYTES } from "../../../src/snapshot/replay-format.ts";
import { rng } from "../../support/random.ts";
import { inputOf, setUp, step } from "../../support/replay-sim.ts";
import type { StepFn } from "../../../src/snapshot/replay.ts";

const CASES = 1200;

describe("hostile replay files", () => {
  test("the crafter reproduces a recording byte for byte, compressed or not, and its heap checksums are the recorder's", () => {
    const dir = mkdtempSync(join(tmpdir(), "privheap-craft-"));
    try {
      const { base, baseBytes, plain, plainBytes } = recordings(dir);
      expect(base.records.some((r) => r.kind === "keyframe" && r.zstd !== null)).toBe(true);
      expect(plain.records.some((r) => r.kind === "keyframe" && r.zstd !== null)).toBe(false);
      for (const [parts, bytes] of [
        [base, baseBytes],
        [plain, plainBytes],
      ] as const) {
        expect(Buffer.from(encode(parts)).equals(Buffer.from(bytes))).toBe(true);
        const resealed = structuredClone(parts);
        resealHeapChecksums(resealed);
        expect(Buffer.from(encode(resealed)).equals(Buffer.from(bytes))).toBe(true);
        const replay = Replay.fromBytes(bytes);
        expect(imageChecksum(replay.keyframe(3).bytes)).toBe(replay.checksum(3));
      }
      // A compressed keyframe whose pages change is compressed again, and reads back as the changed keyframe.
      const changed = structuredClone(base);
      const k = changed.records.find((r) => r.kind === "keyframe" && r.zstd !== null && r.after === 3 && r.pages.length > 0);
      if (k?.kind !== "keyframe") throw new Error("no compressed keyframe after tick 3 with pages");
      k.data = k.data.slice();
      k.data[k.data.length - 1]! ^= 0xff;
      resealHeapChecksums(changed);
      const replay = Replay.fromBytes(encode(changed));
      expect(replay.torn).toBeNull();
      const page = k.pages[k.pages.length - 1]!;
      expect(replay.keyframe(3).bytes[page * 4096 + 4095]).toBe(Replay.fromBytes(baseBytes).keyframe(3).bytes[page * 4096 + 4095]! ^ 0xff);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const seed of seeds(1)) {
    test(`${CASES} crafted files end in a result or a HeapError, the heap stays consistent, memory and time stay bounded (seed ${seed})`, async () => {
      const before = process.memoryUsage().rss;
      const r = await campaign(seed, CASES, 40);
      const seen = Object.fromEntries(r.outcomes);
      console.log(`seed ${seed}: ${r.cases} cases (${r.cliCases} through the command line), max ${r.maxCaseMs.toFixed(0)} ms a case, peak RSS ${(r.maxRssBytes / 2 ** 20).toFixed(0)} MiB`, seen);
      expect(r.cases).toBe(CASES);
      // The mutations reach every stage: the header and record checks, the
      // native check of keyframe images, restores, and the re-run.
      for (const outcome of ["open ECORRUPT", "open EVERSION", "open ok", "keyframe ECORRUPT", "seek ok", "verify ok", "verify diverged", "info ok", "verify exit 0"])
        expect(seen[outcome] ?? 0, `outcome "${outcome}" (seed ${seed})`).toBeGreaterThan(0);
      // Compressed keyframes get their own damage as well as every keyframe mutation (half the cases start from a compressed recording).
      for (const m of ["zstd.declaredBytes", "zstd.frameFlip", "zstd.frameCut", "zstd.storage", "zstd.bomb", "zstd.bombLying", "keyframe.pages"])
        expect(r.mutations.get(m) ?? 0, `mutation "${m}" (seed ${seed})`).toBeGreaterThan(0);
      // Nothing a 1 MiB recording can declare costs more than a few images.
      expect(r.maxRssBytes - before).toBeLessThan(256 << 20);
    }, 60_000);
  }
});

// ---- compressed keyframes --------------------------------------------------

describe("compressed keyframe bombs, crafted", () => {
  const GiB = 1 << 30;
  /** An RLE frame decoding to `decodes` bytes whose 8-byte content size says `declares`. */
  const lyingFrame = (decodes: number, declares: number) => {
    const f = rleFrame(decodes, 0x41);
    new DataView(f.buffer).setBigUint64(6, BigInt(declares), true);
    return f;
  };
  const cases: [string, (k: KeyframeParts) => void, RegExp][] = [
    ["a size field of 1 GiB", (k) => void (k.zstd!.declaredBytes = GiB + 24), /a compressed keyframe declaring \d+ bytes/],
    ["a 32 KiB frame of 1 GiB, declared in both", (k) => void ((k.zstd!.damaged = rleFrame(GiB, 0x41)), (k.zstd!.declaredBytes = GiB)), /a compressed keyframe declaring \d+ bytes/],
    ["a 32 KiB frame of 1 GiB, the size field the keyframe's", (k) => void (k.zstd!.damaged = rleFrame(GiB, 0x41)), /not one zstd frame of its size/],
    ["a 32 KiB frame of 1 GiB declaring the keyframe's size", (k) => void (k.zstd!.damaged = lyingFrame(GiB, k.zstd!.holds.length)), /does not decompress|decompresses to/],
    ["a size field one page beyond the frame's", (k) => void (k.zstd!.declaredBytes = k.zstd!.holds.length + 4096), /not one zstd frame of its size/],
  ];
  const dir = mkdtempSync(join(tmpdir(), "privheap-zbombs-"));
  const { base } = recordings(dir);
  rmSync(dir, { recursive: true, force: true });
  const keyframeAfter = (parts: ReplayParts, after: number) => {
    const k = parts.records.find((r) => r.kind === "keyframe" && r.after === after);
    if (k?.kind !== "keyframe" || k.zstd === null) throw new Error(`the recording has no compressed keyframe after tick ${after}`);
    return k;
  };
  for (const [what, damage, reason] of cases) {
    test(`${what}: ECORRUPT naming it in the first keyframe, a torn tail at it later; memory stays bounded`, () => {
      const rss = process.memoryUsage().rss;
      const first = structuredClone(base);
      damage(keyframeAfter(first, -1));
      let error: unknown = null;
      try {
        Replay.fromBytes(encode(first));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(HeapError);
      expect((error as HeapError).code).toBe("ECORRUPT");
      expect((error as HeapError).message).toMatch(reason);
      const later = structuredClone(base);
      damage(keyframeAfter(later, 11));
      const replay = Replay.fromBytes(encode(later));
      expect(replay.torn?.reason).toMatch(reason);
      expect(replay.ticks).toBe(12); // ticks 0..11, the keyframe after tick 11 and everything after it cut off
      expect(process.memoryUsage().rss - rss).toBeLessThan(128 << 20);
    });
  }

  // A header declaring a 4 GiB region lets a keyframe declare 1 GiB: the
  // frame's first blocks (no keyframe fields) refuse it before the rest is
  // decoded, so opening it costs a few blocks, not the gigabyte.
  test("in a file declaring a 4 GiB region, a 32 KiB frame of 1 GiB declared in both: refused from its first blocks, memory stays bounded", () => {
    const rss = process.memoryUsage().rss;
    const bomb = (k: KeyframeParts) => void ((k.zstd!.damaged = rleFrame(GiB, 0x41)), (k.zstd!.declaredBytes = GiB));
    const first = structuredClone(base);
    first.header.regionBytes = 1n << 32n;
    bomb(keyframeAfter(first, -1));
    let error: unknown = null;
    try {
      Replay.fromBytes(encode(first));
    } catch (e) {
      error = e;
    }
    expect((error as HeapError).code).toBe("ECORRUPT");
    expect((error as HeapError).message).toMatch(/a keyframe after tick \d+ where -1 was due/);
    const later = structuredClone(base);
    later.header.regionBytes = 1n << 32n;
    bomb(keyframeAfter(later, 11));
    const replay = Replay.fromBytes(encode(later));
    expect(replay.torn?.reason).toMatch(/a keyframe after tick \d+ where 11 was due/);
    expect(replay.ticks).toBe(12);
    expect(process.memoryUsage().rss - rss).toBeLessThan(128 << 20);
  });
});

const COMPRESSED_CASES = 300;
const BIG_PAGES = 24;
const bigStep: StepFn = (heap, input, t) => {
  step(heap, input, t);
  const page = (input[0]! * 5 + t) % BIG_PAGES;
  // A damaged keyframe (resealed, so it passes the checks) may hold another heap whose root is 0 or names
  // something else: a step writes only through a root that is a live allocation of the size it expects,
  // since writing 24 pages past anything else is the step corrupting the heap, not the replay.
  const big = heap.getRoot("big");
  if (big !== 0 && liveBytes(heap, big) >= BIG_PAGES * 4096) heap.u32[(big >>> 2) + page * 1024 + (t % 1024)] = t + 1;
};

/** The usable size of the allocation at `off`, or 0 when `off` is not one. */
function liveBytes(heap: PrivateHeap, off: number): number {
  try {
    return heap.usableSize(off);
  } catch {
    return 0;
  }
}

/** A compressed recording of 30 ticks, keyframes every 4, and where its compressed keyframe records start. */
function compressedRecording(dir: string): { bytes: Uint8Array; records: number[] } {
  const path = join(dir, "z.phreplay");
  {
    using heap = PrivateHeap.create({ size: 1 << 20 });
    setUp(heap);
    heap.setRoot("big", heap.calloc(BIG_PAGES, 4096));
    using rec = Replay.record(path, heap, { keyframeEvery: 4, compress: true });
    for (let t = 0; t < 30; t++) {
      const input = inputOf(3, t);
      bigStep(heap, input, t);
      rec.tick(input);
    }
  }
  const bytes = new Uint8Array(readFileSync(path));
  const v = new DataView(bytes.buffer);
  const records: number[] = [];
  for (let at = REPLAY_HEADER_BYTES; at < bytes.length; at += RECORD_HEAD_BYTES + v.getUint32(at + 4, true) + RECORD_TAIL_BYTES)
    if (v.getUint32(at, true) === RECORD_KEYFRAME_ZSTD) records.push(at);
  return { bytes, records };
}

/** `file` with the compressed record at `at` given payload `payload` (resealed, so the reader gets past its checksum). */
function withPayload(file: Uint8Array, at: number, payload: Uint8Array): Uint8Array {
  const v = new DataView(file.buffer, file.byteOffset, file.length);
  const end = at + RECORD_HEAD_BYTES + v.getUint32(at + 4, true) + RECORD_TAIL_BYTES;
  const record = frameRecord(RECORD_KEYFRAME_ZSTD, payload.length, new Uint8Array(0), (out) => out.set(payload));
  const out = new Uint8Array(at + record.length + file.length - end);
  out.set(file.subarray(0, at));
  out.set(record, at);
  out.set(file.subarray(end), at + record.length);
  return out;
}

describe("hostile compressed keyframes, seeded", () => {
  for (const seed of seeds(1)) {
    test(`${COMPRESSED_CASES} files with a damaged compressed keyframe (bytes of the frame, its declared size, cut, spliced; record checksums resealed) end in a result or a HeapError, the heap stays consistent (seed ${seed})`, () => {
      const dir = mkdtempSync(join(tmpdir(), "privheap-zhostile-"));
      try {
        const { bytes, records } = compressedRecording(dir);
        expect(records.length).toBeGreaterThan(4);
        const r = rng(seed);
        const seen = new Map<string, number>();
        const count = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);
        const outcome = (what: string, f: () => void) => {
          try {
            f();
            count(`${what} ok`);
          } catch (e) {
            if (!(e instanceof HeapError)) throw e;
            count(`${what} ${e.code}`);
          }
        };
        using heap = PrivateHeap.create({ size: 1 << 20 });
        for (let i = 0; i < COMPRESSED_CASES; i++) {
          const at = r.pick(records);
          const v = new DataView(bytes.buffer);
          const payload = bytes.slice(at + RECORD_HEAD_BYTES, at + RECORD_HEAD_BYTES + v.getUint32(at + 4, true));
          const frameAt = ZSTD_KEYFRAME_FIXED_BYTES;
          let mutated: Uint8Array;
          switch (r.int(0, 4)) {
            case 0: // flip bytes of the frame
              mutated = payload.slice();
              for (let k = r.int(1, 4); k > 0; k--) mutated[r.int(frameAt, mutated.length - 1)]! ^= r.int(1, 255);
              break;
            case 1: // a declared size near the true one, or anything
              mutated = payload.slice();
              new DataView(mutated.buffer).setUint32(0, r.next() < 0.5 ? Math.max(0, payload.length + r.int(-64, 64)) : r.int(0, 0xffffffff), true);
              break;
            case 2: // the frame cut short
              mutated = payload.slice(0, r.int(0, payload.length - 1));
              break;
            case 3: {
              // random bytes spliced into the frame
              const cut = r.int(frameAt, payload.length);
              const junk = Uint8Array.from({ length: r.int(1, 40) }, () => r.int(0, 255));
              mutated = new Uint8Array(payload.length + junk.length);
              mutated.set(payload.subarray(0, cut));
              mutated.set(junk, cut);
              mutated.set(payload.subarray(cut), cut + junk.length);
              break;
            }
            default: // a zeroed range
              mutated = payload.slice();
              mutated.fill(0, r.int(frameAt, payload.length - 1), r.int(frameAt, payload.length));
          }
          const file = withPayload(bytes, at, mutated);
          let replay: Replay | null = null;
          outcome("open", () => {
            replay = Replay.fromBytes(file);
          });
          if (replay === null) continue;
          const opened: Replay = replay;
          if (opened.torn !== null) count("torn");
          for (const t of [opened.ticks - 1, r.int(-1, Math.max(-1, opened.ticks - 1))]) {
            if (t < -1) continue;
            outcome("seek", () => opened.seek(t, heap, bigStep));
            expect(heap.check()).toBe(0);
          }
          outcome("verify", () => {
            if (!opened.verify(heap, bigStep).ok) throw new HeapError("ECORRUPT", "test", "diverged");
          });
          expect(heap.check()).toBe(0);
          opened.close();
        }
        console.log(`seed ${seed}:`, Object.fromEntries(seen));
        // The damage reaches the reader's checks (a torn tail, or no keyframe at all) and files that still open and replay.
        for (const what of ["open ECORRUPT", "open ok", "torn", "seek ok"]) expect(seen.get(what) ?? 0, `${what} (seed ${seed})`).toBeGreaterThan(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  }
});
