// Compressed keyframes (Replay.record's `compress`, on by default): the file is smaller,
// reads back, seeks and verifies as an uncompressed one; a rewind still
// writes the straight recording's bytes; a compressed record that lies
// about its size, is cut short or is garbage is refused, never decoded
// past what the header allows.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeapError } from "../../../src/errors.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import {
  encodeHeader,
  frameRecord,
  HELD_PER_FILE_BYTE,
  inflateKeyframe,
  parseHeader,
  parseRecords,
  RECORD_HEAD_BYTES,
  RECORD_KEYFRAME,
  RECORD_KEYFRAME_ZSTD,
  RECORD_TAIL_BYTES,
  REPLAY_FLAG_ZSTD,
  REPLAY_HEADER_BYTES,
  ZSTD_KEYFRAME_FIXED_BYTES,
} from "../../../src/snapshot/replay-format.ts";
import { Replay, type StepFn } from "../../../src/snapshot/replay.ts";
import { SnapshotRing } from "../../../src/snapshot/ring.ts";
import { codeOf } from "../../support/expect.ts";
import { inputOf, setUp, step } from "../../support/replay-sim.ts";

const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), "privheap-replay-compress-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const pathFor = () => join(dir, `r${seq++}.phreplay`);

// A state with 40 extra pages, one word of one of them written per tick: keyframes of many pages that compress well.
const BIG_PAGES = 40;
const bigStep: StepFn = (heap, input, t) => {
  step(heap, input, t);
  const page = (input[0]! * 7 + t) % BIG_PAGES;
  heap.u32[(heap.getRoot("big") >>> 2) + page * 1024 + (t % 1024)] = t + 1;
};
function setUpBig(heap: PrivateHeap): void {
  setUp(heap);
  heap.setRoot("big", heap.calloc(BIG_PAGES, 4096));
}

/** A recording of `inputs` from a fresh heap (`compress` undefined: the default). */
function record(inputs: readonly Uint8Array[], compress: boolean | undefined, keyframeEvery = 5): Uint8Array {
  const path = pathFor();
  using heap = PrivateHeap.create({ size: 4 * MiB });
  setUpBig(heap);
  using rec = Replay.record(path, heap, compress === undefined ? { keyframeEvery } : { keyframeEvery, compress });
  for (let t = 0; t < inputs.length; t++) {
    bigStep(heap, inputs[t]!, t);
    rec.tick(inputs[t]!);
  }
  rec.close();
  return new Uint8Array(readFileSync(path)); // a plain copy: a Buffer's slice() shares memory
}

/** The type of each record of `file`, walked by its framing. */
function recordTypes(file: Uint8Array): number[] {
  const v = new DataView(file.buffer, file.byteOffset, file.length);
  const types: number[] = [];
  for (let at = REPLAY_HEADER_BYTES; at < file.length; at += RECORD_HEAD_BYTES + v.getUint32(at + 4, true) + RECORD_TAIL_BYTES) types.push(v.getUint32(at, true));
  return types;
}

const inputs = Array.from({ length: 47 }, (_, t) => inputOf(7, t));

describe("compressed keyframes", () => {
  test("a compressed recording sets the header flag, stores keyframes as type 3, is smaller, and reads back the same keyframes, seeks and verifies", () => {
    const plain = record(inputs, false);
    const packed = record(inputs, true);
    expect(parseHeader(plain, "test", "plain").flags).toBe(0);
    expect(parseHeader(packed, "test", "packed").flags).toBe(REPLAY_FLAG_ZSTD);
    expect(recordTypes(plain).filter((t) => t === RECORD_KEYFRAME_ZSTD)).toEqual([]);
    const packedKeyframes = recordTypes(packed).filter((t) => t !== 1);
    expect(packedKeyframes.length).toBe(1 + Math.floor(inputs.length / 5));
    expect(packedKeyframes.every((t) => t === RECORD_KEYFRAME_ZSTD)).toBe(true);
    expect(packed.length).toBeLessThan(plain.length / 2);
    // The same images, tick checksums and inputs as the uncompressed file.
    const a = parseRecords(plain, parseHeader(plain, "test", "plain"), "test");
    const b = parseRecords(packed, parseHeader(packed, "test", "packed"), "test");
    expect(b.torn).toBeNull();
    expect(b.ticks.map((t) => t.checksum)).toEqual(a.ticks.map((t) => t.checksum));
    expect(b.keyframes.map((k) => [k.after, k.kind, [...k.delta.pages]])).toEqual(a.keyframes.map((k) => [k.after, k.kind, [...k.delta.pages]]));
    for (let i = 0; i < a.keyframes.length; i++) expect(Buffer.compare(b.keyframes[i]!.delta.data, a.keyframes[i]!.delta.data)).toBe(0);
    using replay = Replay.fromBytes(packed);
    using heap = PrivateHeap.create({ size: 4 * MiB });
    for (const t of [-1, 4, 23, 46]) {
      replay.seek(t, heap, bigStep);
      expect(heap.checksum()).toBe(t < 0 ? heapChecksumOfFirst(plain) : replay.checksum(t));
    }
    expect(replay.verify(heap, bigStep).ok).toBe(true);
  });

  test("compression is the default: a recording made without the option is the compress: true one, byte for byte", () => {
    const some = inputs.slice(0, 12);
    const byDefault = record(some, undefined);
    expect(parseHeader(byDefault, "test", "default").flags).toBe(REPLAY_FLAG_ZSTD);
    expect(recordTypes(byDefault)).toContain(RECORD_KEYFRAME_ZSTD);
    expect(Buffer.compare(byDefault, record(some, true))).toBe(0);
    expect(parseHeader(record(some, false), "test", "plain").flags).toBe(0);
  });

  test("compress must be a boolean", () => {
    using heap = PrivateHeap.create({ size: 4 * MiB });
    expect(codeOf(() => Replay.record(pathFor(), heap, { compress: 1 as unknown as boolean }))).toBe("EINVAL");
  });

  test("a rewound compressed recording equals, byte for byte, the compressed recording of the confirmed timeline", () => {
    const path = pathFor();
    const confirmed: Uint8Array[] = [];
    {
      using heap = PrivateHeap.create({ size: 4 * MiB });
      setUpBig(heap);
      using ring = SnapshotRing.create(heap, { capacity: 64 });
      using rec = Replay.record(path, heap, { keyframeEvery: 5, compress: true });
      ring.save(0);
      const run = (from: number, to: number, salt: number) => {
        for (let t = from; t < to; t++) {
          const input = inputOf(salt, t);
          bigStep(heap, input, t);
          rec.tick(input);
          ring.save(rec.ticks);
          confirmed[t] = input;
        }
      };
      run(0, 33, 1);
      ring.load(12); // dropping keyframes after ticks 14, 19, ...: the kept one (after 9) is read back from the file, compressed
      rec.rewind(12);
      run(12, 40, 2);
      ring.load(38);
      rec.rewind(38);
      run(38, 44, 3);
    }
    const rewound = new Uint8Array(readFileSync(path));
    expect(recordTypes(rewound)).toContain(RECORD_KEYFRAME_ZSTD);
    expect(Buffer.compare(rewound, record(confirmed, true))).toBe(0);
  });

  test("a file recorded without compression (flags 0) opens, seeks and verifies as before", () => {
    const plain = record(inputs, false);
    using replay = Replay.fromBytes(plain);
    using heap = PrivateHeap.create({ size: 4 * MiB });
    replay.seek(30, heap, bigStep);
    expect(heap.checksum()).toBe(replay.checksum(30));
    expect(replay.verify(heap, bigStep).ok).toBe(true);
  });

  test("unknown header flags other than the compression flag are EVERSION", () => {
    const file = record(inputs.slice(0, 3), true);
    const h = parseHeader(file, "test", "f");
    const bad = encodeHeader({ ...h, flags: REPLAY_FLAG_ZSTD | 2 });
    expect(codeOf(() => parseHeader(bad, "test", "f"))).toBe("EVERSION");
  });
});

// ---- hostile compressed records ---------------------------------------------

/** The header of a compressed recording and its first keyframe record's payload (type 3). */
function firstCompressed(): { header: Uint8Array; stored: Uint8Array; regionBytes: number; rest: Uint8Array } {
  const file = record(inputs.slice(0, 12), true);
  const v = new DataView(file.buffer, file.byteOffset, file.length);
  expect(v.getUint32(REPLAY_HEADER_BYTES, true)).toBe(RECORD_KEYFRAME_ZSTD);
  const len = v.getUint32(REPLAY_HEADER_BYTES + 4, true);
  const end = REPLAY_HEADER_BYTES + RECORD_HEAD_BYTES + len + RECORD_TAIL_BYTES;
  return {
    header: file.slice(0, REPLAY_HEADER_BYTES),
    stored: file.slice(REPLAY_HEADER_BYTES + RECORD_HEAD_BYTES, REPLAY_HEADER_BYTES + RECORD_HEAD_BYTES + len),
    regionBytes: parseHeader(file, "test", "f").regionBytes,
    rest: file.slice(end),
  };
}

/** A sealed record of `type` with payload `payload`. */
function sealed(type: number, payload: Uint8Array): Uint8Array {
  return frameRecord(type, payload.length, new Uint8Array(0), (out) => out.set(payload));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Open `file`; the HeapError's code and message, or "(opened)". */
function openOutcome(file: Uint8Array): { code: string; message: string } {
  try {
    Replay.fromBytes(file).close();
  } catch (e) {
    if (e instanceof HeapError) return { code: e.code, message: e.message };
    throw e;
  }
  return { code: "(opened)", message: "" };
}

/** A compressed keyframe payload `stored` declaring `size` decompressed bytes, its frame unchanged. */
function withDeclared(stored: Uint8Array, size: number): Uint8Array {
  const out = stored.slice();
  new DataView(out.buffer).setUint32(0, size, true);
  return out;
}

describe("hostile compressed keyframes", () => {
  const cases: [string, (s: Uint8Array, region: number) => Uint8Array, RegExp][] = [
    ["a declared size one byte larger than the frame's", (s) => withDeclared(s, new DataView(s.buffer, s.byteOffset).getUint32(0, true) + 1), /declares \d+ bytes; the header needs/],
    ["a declared size one byte smaller than the frame's", (s) => withDeclared(s, new DataView(s.buffer, s.byteOffset).getUint32(0, true) - 1), /declares \d+ bytes; the header needs/],
    ["a declared size past the largest keyframe of the region", (s, region) => withDeclared(s, region + 4096 * 2), /a compressed keyframe declaring \d+ bytes/],
    ["a declared size of 0xffffffff", (s) => withDeclared(s, 0xffffffff), /a compressed keyframe declaring 4294967295 bytes/],
    ["a frame cut short by 5 bytes", (s) => s.slice(0, s.length - 5), /truncated|does not decompress/],
    ["a frame cut to its header", (s) => s.slice(0, ZSTD_KEYFRAME_FIXED_BYTES + 6), /truncated|too short/],
    ["no frame at all", (s) => s.slice(0, ZSTD_KEYFRAME_FIXED_BYTES), /too short for a zstd frame/],
    ["garbage in place of the frame", (s) => concat(s.slice(0, ZSTD_KEYFRAME_FIXED_BYTES), new Uint8Array(s.length - ZSTD_KEYFRAME_FIXED_BYTES).map((_, i) => (i * 151 + 7) & 0xff)), /not a zstd frame/],
    ["a second frame after the first", (s) => concat(s, s.subarray(ZSTD_KEYFRAME_FIXED_BYTES)), /bytes follow the zstd frame/],
    ["damaged compressed blocks", (s) => s.map((b, i) => (i >= s.length - 40 && i < s.length - 8 ? b ^ 0x5a : b)), /does not decompress|decompresses to|zstd frame/],
    ["non-zero reserved bytes", (s) => s.map((b, i) => (i === 5 ? 1 : b)), /non-zero reserved bytes/],
    ["a payload shorter than its fixed part", (s) => s.slice(0, 5), /a compressed keyframe record too short/],
  ];

  for (const [name, mutate, reason] of cases) {
    test(`as the first keyframe, ${name}: ECORRUPT at open, naming why`, () => {
      const { header, stored, regionBytes } = firstCompressed();
      const out = openOutcome(concat(header, sealed(RECORD_KEYFRAME_ZSTD, mutate(stored, regionBytes))));
      expect(out.code).toBe("ECORRUPT");
      expect(out.message).toMatch(/no readable keyframe/);
      expect(out.message).toMatch(reason);
      // inflateKeyframe on its own refuses it too, without throwing.
      expect(typeof inflateKeyframe(mutate(stored, regionBytes), regionBytes)).toBe("string");
    });
  }

  test("after good records, a damaged compressed keyframe is a torn tail: the records before it are kept", () => {
    const file = record(inputs.slice(0, 12), true);
    const v = new DataView(file.buffer, file.byteOffset, file.length);
    // The second keyframe record: after tick 4.
    let at = REPLAY_HEADER_BYTES;
    let seen = 0;
    for (; ; at += RECORD_HEAD_BYTES + v.getUint32(at + 4, true) + RECORD_TAIL_BYTES) if (v.getUint32(at, true) === RECORD_KEYFRAME_ZSTD && seen++ === 1) break;
    const len = v.getUint32(at + 4, true);
    const stored = file.slice(at + RECORD_HEAD_BYTES, at + RECORD_HEAD_BYTES + len);
    const lying = withDeclared(stored, new DataView(stored.buffer).getUint32(0, true) + 4096);
    using replay = Replay.fromBytes(concat(file.subarray(0, at), sealed(RECORD_KEYFRAME_ZSTD, lying)));
    expect(replay.ticks).toBe(5);
    expect(replay.keyframes).toEqual([-1]);
    expect(replay.torn?.offset).toBe(at);
    expect(replay.torn?.reason).toMatch(/declares \d+ bytes; the header needs/);
  });

  test("a compressed keyframe record in a file without the compression flag is an unknown record type", () => {
    const { stored } = firstCompressed();
    const plain = record(inputs.slice(0, 2), false);
    const out = openOutcome(concat(plain.subarray(0, REPLAY_HEADER_BYTES), sealed(RECORD_KEYFRAME_ZSTD, stored)));
    expect(out.code).toBe("ECORRUPT");
    expect(out.message).toMatch(/unknown record type 3/);
  });

  test("a well-formed compressed keyframe decodes to the uncompressed record's payload", () => {
    const { stored, regionBytes } = firstCompressed();
    const plain = record(inputs.slice(0, 12), false);
    const v = new DataView(plain.buffer, plain.byteOffset, plain.length);
    expect(v.getUint32(REPLAY_HEADER_BYTES, true)).toBe(RECORD_KEYFRAME);
    const len = v.getUint32(REPLAY_HEADER_BYTES + 4, true);
    const inflated = inflateKeyframe(stored, regionBytes);
    expect(inflated).toBeInstanceOf(Uint8Array);
    expect(Buffer.compare(inflated as Uint8Array, plain.subarray(REPLAY_HEADER_BYTES + RECORD_HEAD_BYTES, REPLAY_HEADER_BYTES + RECORD_HEAD_BYTES + len))).toBe(0);
  });
});

/** The heap checksum of the state before tick 0: that of the first keyframe's image (replayed from a plain file). */
function heapChecksumOfFirst(plain: Uint8Array): bigint {
  using replay = Replay.fromBytes(plain);
  using heap = PrivateHeap.create({ size: 4 * MiB });
  replay.seek(-1, heap, bigStep);
  return heap.checksum();
}

describe("what a reader holds of compressed keyframes", () => {
  // 100 pages of 0x01 with one byte of each changed per tick, a keyframe after every tick: each is a 100-page delta that compresses about a hundredfold.
  const PAGES = 100;
  const fillStep: StepFn = (heap, input, t) => {
    const base = heap.getRoot("fill");
    for (let p = 0; p < PAGES; p++) heap.u8[base + p * 4096 + (t % 4096)] = 2 + ((input[0]! + p) & 0x7f);
  };
  function compressible(ticks: number): Uint8Array {
    const path = pathFor();
    using heap = PrivateHeap.create({ size: 4 * MiB });
    const base = heap.malloc(PAGES * 4096);
    heap.u8.fill(1, base, base + PAGES * 4096);
    heap.setRoot("fill", base);
    using rec = Replay.record(path, heap, { keyframeEvery: 1, compress: true });
    for (let t = 0; t < ticks; t++) {
      const input = Uint8Array.of(t & 0xff);
      fillStep(heap, input, t);
      rec.tick(input);
    }
    rec.close();
    return new Uint8Array(readFileSync(path));
  }

  test("decompressed pages held stay within HELD_PER_FILE_BYTE times the file; the rest decompress on use, and seek and verify still reproduce every tick", () => {
    const file = compressible(40);
    const parsed = parseRecords(file, parseHeader(file, "test", "f"), "test");
    expect(parsed.torn).toBeNull();
    const ownData = (d: object) => Object.getOwnPropertyDescriptor(d, "data")?.value as Uint8Array | undefined;
    const held = parsed.keyframes.reduce((n, k) => n + (ownData(k.delta)?.length ?? 0), 0);
    const decompressed = parsed.keyframes.reduce((n, k) => n + k.delta.data.length, 0);
    expect(decompressed).toBeGreaterThan(2 * HELD_PER_FILE_BYTE * file.length); // the case the bound is for
    expect(held).toBeLessThanOrEqual(HELD_PER_FILE_BYTE * file.length);
    expect(parsed.keyframes.filter((k) => ownData(k.delta) === undefined).length).toBeGreaterThan(parsed.keyframes.length / 2);
    using replay = Replay.fromBytes(file);
    using heap = PrivateHeap.create({ size: 4 * MiB });
    for (const t of [39, 3, 20, 38, 0]) {
      replay.seek(t, heap, fillStep);
      expect(heap.checksum()).toBe(replay.checksum(t));
    }
    expect(replay.verify(heap, fillStep).ok).toBe(true);
  });
});
