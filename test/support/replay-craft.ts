// Crafting replay files (docs/replay-format.md) from their parts, with every
// checksum recomputed (the header's, each record's, and the heap checksums
// of the ticks whose keyframes changed), so a hostile-input case can change
// any field and still reach the checks behind the checksums. A compressed
// keyframe (record type 3) is decoded to the keyframe it holds, so every
// keyframe mutation reaches it too, compressed again on encoding; its own
// fields and frame have mutations of their own. Written from the format
// document, independently of src/snapshot/replay-format.ts.
import { heapChecksum } from "../../src/checksum.ts";
import { NATIVE_CONSTANTS } from "../../src/ffi/symbols.ts";
import type { Rng } from "./random.ts";
import { rleFrame } from "./snapshot-craft.ts";

export const PAGE = 4096;
const HEADER = 48;
const LOCK_TO = NATIVE_CONSTANTS.PH_LOCK_BLOCK_END;
/** The header flag of files that may hold compressed keyframes. */
export const FLAG_ZSTD = 1;
/** Record types: tick, keyframe, compressed keyframe. */
const TICK = 1;
const KEYFRAME = 2;
const KEYFRAME_ZSTD = 3;
/** Bytes of a compressed keyframe's payload before its zstd frame: the keyframe payload's size, 4 reserved. */
const ZSTD_FIXED = 8;
/** The level the format document says the writer compresses with (a reader accepts any). */
const ZSTD_LEVEL = 3;

/** The header's fields; `checksum` null means "computed". */
export interface HeaderParts {
  magic: Uint8Array;
  version: number;
  flags: number;
  abi: number;
  pageSize: number;
  keyframeEvery: number;
  regionBytes: bigint;
  reserved: bigint;
  checksum: bigint | null;
}

/** Framing of a record: bytes 0-3 as one u32 (type and reserved bytes); checksum null means "computed". */
interface Framing {
  typeWord: number;
  checksum: bigint | null;
  /** Bytes added to (or, negative, cut from) the payload after it is built; the length field follows. */
  resize: number;
}

export interface TickParts extends Framing {
  kind: "tick";
  tick: number;
  inputBytes: number | null; // null: the input's length
  heapChecksum: bigint;
  input: Uint8Array;
}

export interface KeyframeParts extends Framing {
  kind: "keyframe";
  after: number;
  kindWord: number; // bytes 4-7: kind and reserved
  usedBytes: bigint;
  pageCount: number | null; // null: pages.length
  reserved: number;
  pages: number[];
  padding: number; // the 4 padding bytes when pages.length is odd, as a u32
  data: Uint8Array; // pages.length pages
  zstd: ZstdParts | null; // stored compressed (record type 3), or not
}

/** What a compressed keyframe stores besides the keyframe payload it holds. */
export interface ZstdParts {
  declaredBytes: number | null; // the size field; null: the keyframe payload's length
  reserved: number;
  /** The frame as read, and the keyframe payload it holds: reused while that payload is unchanged, else compressed again. */
  frame: Uint8Array;
  holds: Uint8Array;
  /** A frame stored instead of the computed one (damage), or null. */
  damaged: Uint8Array | null;
}

/** Bytes placed as they are (garbage, or a record from elsewhere). */
export interface RawParts {
  kind: "raw";
  bytes: Uint8Array;
}

export type RecordParts = TickParts | KeyframeParts | RawParts;

export interface ReplayParts {
  header: HeaderParts;
  records: RecordParts[];
}

/**
 * The heap checksum of an image (docs/checksum.md): the library's, which
 * test/unit/checksum.test.ts holds to a reference implementation written
 * from that document (too slow for the megabytes of images crafted here).
 */
export function imageChecksum(image: Uint8Array): bigint {
  return heapChecksum(image);
}

/** Split a well-formed replay file into its parts (every record must be complete). */
export function decode(file: Uint8Array): ReplayParts {
  const v = new DataView(file.buffer, file.byteOffset, file.length);
  const header: HeaderParts = {
    magic: file.slice(0, 8),
    version: v.getUint16(8, true),
    flags: v.getUint16(10, true),
    abi: v.getUint32(12, true),
    pageSize: v.getUint32(16, true),
    keyframeEvery: v.getUint32(20, true),
    regionBytes: v.getBigUint64(24, true),
    reserved: v.getBigUint64(32, true),
    checksum: null,
  };
  const records: RecordParts[] = [];
  for (let at = HEADER; at < file.length; ) {
    const typeWord = v.getUint32(at, true);
    const len = v.getUint32(at + 4, true);
    const p = at + 8;
    const framing = { typeWord, checksum: null, resize: 0 };
    if (typeWord === TICK) {
      records.push({ kind: "tick", ...framing, tick: v.getUint32(p, true), inputBytes: null, heapChecksum: v.getBigUint64(p + 8, true), input: file.slice(p + 16, p + len) });
    } else if (typeWord === KEYFRAME) {
      records.push(keyframeParts(file.slice(p, p + len), framing, null));
    } else if (typeWord === KEYFRAME_ZSTD) {
      const frame = file.slice(p + ZSTD_FIXED, p + len);
      const holds = new Uint8Array(Bun.zstdDecompressSync(frame));
      const declared = v.getUint32(p, true);
      const zstd: ZstdParts = { declaredBytes: declared === holds.length ? null : declared, reserved: v.getUint32(p + 4, true), frame, holds, damaged: null };
      records.push(keyframeParts(holds, framing, zstd));
    } else {
      throw new Error(`decode: record type ${typeWord} at ${at}`);
    }
    at = p + len + 8;
  }
  return { header, records };
}

/** The parts of a keyframe payload (the bytes of a type-2 record's payload). */
function keyframeParts(payload: Uint8Array, framing: Pick<KeyframeParts, "typeWord" | "checksum" | "resize">, zstd: ZstdParts | null): KeyframeParts {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.length);
  const n = v.getUint32(16, true);
  const dataAt = 24 + 8 * Math.ceil(n / 2);
  return {
    kind: "keyframe",
    ...framing,
    after: v.getInt32(0, true),
    kindWord: v.getUint32(4, true),
    usedBytes: v.getBigUint64(8, true),
    pageCount: null,
    reserved: v.getUint32(20, true),
    pages: Array.from({ length: n }, (_, i) => v.getUint32(24 + 4 * i, true)),
    padding: 0,
    data: payload.slice(dataAt, dataAt + n * PAGE),
    zstd,
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** The payload a record stores: a compressed keyframe's size, reserved word and frame, or the payload itself. */
function storedPayload(r: TickParts | KeyframeParts): Uint8Array {
  const plain = payloadOf(r);
  if (r.kind !== "keyframe" || r.zstd === null) return plain;
  const z = r.zstd;
  const frame = z.damaged ?? (sameBytes(plain, z.holds) ? z.frame : new Uint8Array(Bun.zstdCompressSync(plain, { level: ZSTD_LEVEL })));
  const out = new Uint8Array(ZSTD_FIXED + frame.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, (z.declaredBytes ?? plain.length) >>> 0, true);
  v.setUint32(4, z.reserved >>> 0, true);
  out.set(frame, ZSTD_FIXED);
  return out;
}

function payloadOf(r: TickParts | KeyframeParts): Uint8Array {
  if (r.kind === "tick") {
    const p = new Uint8Array(16 + r.input.length);
    const v = new DataView(p.buffer);
    v.setUint32(0, r.tick >>> 0, true);
    v.setUint32(4, (r.inputBytes ?? r.input.length) >>> 0, true);
    v.setBigUint64(8, BigInt.asUintN(64, r.heapChecksum), true);
    p.set(r.input, 16);
    return p;
  }
  const n = r.pages.length;
  const index = 8 * Math.ceil(n / 2);
  const p = new Uint8Array(24 + index + r.data.length);
  const v = new DataView(p.buffer);
  v.setInt32(0, r.after | 0, true);
  v.setUint32(4, r.kindWord >>> 0, true);
  v.setBigUint64(8, BigInt.asUintN(64, r.usedBytes), true);
  v.setUint32(16, (r.pageCount ?? n) >>> 0, true);
  v.setUint32(20, r.reserved >>> 0, true);
  r.pages.forEach((page, i) => v.setUint32(24 + 4 * i, page >>> 0, true));
  if (n % 2 === 1) v.setUint32(24 + 4 * n, r.padding >>> 0, true);
  p.set(r.data, 24 + index);
  return p;
}

/** Lay the parts out, computing every checksum not overridden. */
export function encode(parts: ReplayParts): Uint8Array {
  const chunks: Uint8Array[] = [];
  const h = new Uint8Array(HEADER);
  const hv = new DataView(h.buffer);
  h.set(parts.header.magic.subarray(0, 8));
  hv.setUint16(8, parts.header.version & 0xffff, true);
  hv.setUint16(10, parts.header.flags & 0xffff, true);
  hv.setUint32(12, parts.header.abi >>> 0, true);
  hv.setUint32(16, parts.header.pageSize >>> 0, true);
  hv.setUint32(20, parts.header.keyframeEvery >>> 0, true);
  hv.setBigUint64(24, BigInt.asUintN(64, parts.header.regionBytes), true);
  hv.setBigUint64(32, BigInt.asUintN(64, parts.header.reserved), true);
  hv.setBigUint64(40, parts.header.checksum ?? Bun.hash.xxHash3(h.subarray(0, 40)), true);
  chunks.push(h);
  for (const r of parts.records) {
    if (r.kind === "raw") {
      chunks.push(r.bytes);
      continue;
    }
    let payload = storedPayload(r);
    if (r.resize < 0) payload = payload.subarray(0, Math.max(0, payload.length + r.resize));
    else if (r.resize > 0) {
      const grown = new Uint8Array(payload.length + r.resize);
      grown.set(payload);
      payload = grown;
    }
    const out = new Uint8Array(16 + payload.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, r.typeWord >>> 0, true);
    v.setUint32(4, payload.length, true);
    out.set(payload, 8);
    v.setBigUint64(8 + payload.length, r.checksum ?? Bun.hash.xxHash3(out.subarray(0, 8 + payload.length)), true);
    chunks.push(out);
  }
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const file = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    file.set(c, at);
    at += c.length;
  }
  return file;
}

/**
 * Rebuild the keyframes' images as the document says (whole: over zeros;
 * delta: over the previous image) and store each image's heap checksum in
 * the first tick record of the tick it follows, so a changed image still
 * agrees with its tick. Sizes beyond 8 MiB, or pages beyond the image, are
 * left for the reader to refuse.
 */
export function resealHeapChecksums(parts: ReplayParts): void {
  let image = new Uint8Array(0);
  for (const r of parts.records) {
    if (r.kind !== "keyframe") continue;
    const used = Number(r.usedBytes);
    if (!Number.isSafeInteger(used) || used < 0 || used > 8 << 20 || used % PAGE !== 0) return;
    const next = new Uint8Array(used);
    if ((r.kindWord & 0xff) === 1) next.set(image.subarray(0, Math.min(used, image.length)));
    for (let i = 0; i < r.pages.length; i++) {
      const page = r.pages[i]!;
      if (page * PAGE + PAGE <= used && (i + 1) * PAGE <= r.data.length) next.set(r.data.subarray(i * PAGE, (i + 1) * PAGE), page * PAGE);
    }
    image = next;
    if (r.after < 0 || image.length < LOCK_TO) continue;
    const tick = parts.records.find((t): t is TickParts => t.kind === "tick" && t.tick === r.after);
    if (tick !== undefined) tick.heapChecksum = imageChecksum(image);
  }
}

// ---- mutations ---------------------------------------------------------------

const U32_EDGES = [0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

function pickIndex<T>(rng: Rng, items: readonly T[], where: (t: T) => boolean): number {
  const at: number[] = [];
  items.forEach((t, i) => {
    if (where(t)) at.push(i);
  });
  return at.length === 0 ? -1 : rng.pick(at);
}

function near(rng: Rng, v: number): number {
  return rng.pick([v - 1, v + 1, v - PAGE, v + PAGE, v * 2, 0, rng.int(0, 0xffffffff), ...U32_EDGES]);
}

function bigNear(rng: Rng, v: bigint, region: bigint): bigint {
  const P = BigInt(PAGE);
  return rng.pick([0n, 1n, P, v - P, v + P, v + 1n, v - 1n, region, region + P, 1n << 32n, (1n << 32n) + P, 1n << 53n, 1n << 63n, (1n << 64n) - 1n, BigInt(rng.int(0, 0xffffffff)) * P]);
}

/** A mutation of the parts; returns its name. Page-data changes reseal the heap checksums (mostly). */
type Mutation = (parts: ReplayParts, rng: Rng, donor: ReplayParts) => string;

const headerMutations: Mutation[] = [
  (p, rng) => {
    p.header.magic = p.header.magic.slice();
    p.header.magic[rng.int(0, 7)]! ^= 1 << rng.int(0, 7);
    return "header.magic";
  },
  (p, rng) => ((p.header.version = rng.pick([0, 2, 3, 0xffff])), "header.version"),
  (p, rng) => ((p.header.flags = rng.pick([0, FLAG_ZSTD, 2, FLAG_ZSTD | 2, 0x8000, 0xffff])), "header.flags"),
  (p, rng) => ((p.header.abi = near(rng, p.header.abi)), "header.abi"),
  (p, rng) => ((p.header.pageSize = rng.pick([0, 1, 2048, 8192, 65536, 0xffffffff])), "header.pageSize"),
  (p, rng) => ((p.header.keyframeEvery = rng.pick([0, 1, 2, p.header.keyframeEvery - 1, p.header.keyframeEvery + 1, 2 ** 31, 0xffffffff])), "header.keyframeEvery"),
  (p, rng) => ((p.header.regionBytes = bigNear(rng, p.header.regionBytes, p.header.regionBytes)), "header.regionBytes"),
  (p, rng) => ((p.header.reserved = BigInt(rng.int(1, 0xffffffff))), "header.reserved"),
  (p, rng) => ((p.header.checksum = BigInt(rng.int(0, 0xffffffff))), "header.checksum"),
];

const framingMutations: Mutation[] = [
  (p, rng) => {
    const i = pickIndex(rng, p.records, (r) => r.kind !== "raw");
    if (i < 0) return "none";
    const r = p.records[i] as TickParts | KeyframeParts;
    const other = r.typeWord === TICK ? KEYFRAME : r.typeWord === KEYFRAME ? rng.pick([TICK, KEYFRAME_ZSTD]) : rng.pick([TICK, KEYFRAME]);
    r.typeWord = rng.pick([0, 4, 255, r.typeWord | 0x100, r.typeWord | 0x1000000, other]);
    return "record.type";
  },
  (p, rng) => {
    const i = pickIndex(rng, p.records, (r) => r.kind !== "raw");
    if (i < 0) return "none";
    (p.records[i] as TickParts).resize = rng.pick([-1, -4, -8, -16, -PAGE, 1, 4, 8, PAGE, -rng.int(1, 64), rng.int(1, 64)]);
    return "record.length";
  },
  (p, rng) => {
    const i = pickIndex(rng, p.records, (r) => r.kind !== "raw");
    if (i < 0) return "none";
    (p.records[i] as TickParts).checksum = BigInt(rng.int(0, 0xffffffff));
    return "record.checksum";
  },
];

const tickMutations: Mutation[] = [
  (p, rng) => {
    const i = pickIndex(rng, p.records, (r) => r.kind === "tick");
    if (i < 0) return "none";
    const r = p.records[i] as TickParts;
    r.tick = rng.pick([r.tick - 1, r.tick + 1, 0, 0xffffffff, rng.int(0, 100)]);
    return "tick.tick";
  },
  (p, rng) => {
    const i = pickIndex(rng, p.records, (r) => r.kind === "tick");
    if (i < 0) return "none";
    const r = p.records[i] as TickParts;
    r.inputBytes = rng.pick([r.input.length - 1, r.input.length + 1, 0, 1 << 24, (1 << 24) + 1, 0xffffffff]);
    return "tick.inputBytes";
  },
  (p, rng) => {
    const i = pickIndex(rng, p.records, (r) => r.kind === "tick");
    if (i < 0) return "none";
    (p.records[i] as TickParts).heapChecksum = BigInt(rng.int(0, 0xffffffff)) << BigInt(rng.int(0, 32));
    return "tick.heapChecksum";
  },
  (p, rng) => {
    const i = pickIndex(rng, p.records, (r) => r.kind === "tick");
    if (i < 0) return "none";
    const r = p.records[i] as TickParts;
    const n = rng.pick([0, 1, 2, r.input.length, rng.int(0, 300)]);
    r.input = Uint8Array.from({ length: n }, () => rng.int(0, 255));
    return "tick.input";
  },
];

function keyframeAt(p: ReplayParts, rng: Rng): KeyframeParts | null {
  const i = pickIndex(rng, p.records, (r) => r.kind === "keyframe");
  return i < 0 ? null : (p.records[i] as KeyframeParts);
}

const keyframeMutations: Mutation[] = [
  (p, rng) => {
    const k = keyframeAt(p, rng);
    if (k === null) return "none";
    k.after = rng.pick([k.after - 1, k.after + 1, -1, -2, 0x7fffffff, -0x80000000]);
    return "keyframe.after";
  },
  (p, rng) => {
    const k = keyframeAt(p, rng);
    if (k === null) return "none";
    k.kindWord = rng.pick([0, 1, 2, 255, 0x100, 0x1000000, k.kindWord ^ 1]);
    resealHeapChecksums(p);
    return "keyframe.kind";
  },
  (p, rng) => {
    const k = keyframeAt(p, rng);
    if (k === null) return "none";
    k.reserved = rng.int(1, 0xffffffff);
    return "keyframe.reserved";
  },
  (p, rng) => {
    const k = keyframeAt(p, rng);
    if (k === null) return "none";
    k.usedBytes = bigNear(rng, k.usedBytes, p.header.regionBytes);
    if (rng.next() < 0.5) resealHeapChecksums(p);
    return "keyframe.usedBytes";
  },
  (p, rng) => {
    const k = keyframeAt(p, rng);
    if (k === null) return "none";
    k.pageCount = rng.pick([k.pages.length - 1, k.pages.length + 1, 0, 0xffffffff, rng.int(0, 1000)]);
    return "keyframe.pageCount";
  },
  (p, rng) => {
    const k = keyframeAt(p, rng);
    if (k === null || k.pages.length === 0) return "none";
    const i = rng.int(0, k.pages.length - 1);
    const limit = Number(k.usedBytes) / PAGE;
    k.pages = k.pages.slice();
    k.pages[i] = rng.pick([limit, limit - 1, 0xffffffff, k.pages[Math.max(0, i - 1)]!, k.pages[Math.min(k.pages.length - 1, i + 1)]!, 0, rng.int(0, limit + 2)]);
    if (rng.next() < 0.8) resealHeapChecksums(p);
    return "keyframe.pages";
  },
  (p, rng) => {
    // Drop a stored page (and its data), or add one.
    const k = keyframeAt(p, rng);
    if (k === null) return "none";
    const limit = Math.max(1, Number(k.usedBytes) / PAGE);
    if (k.pages.length > 0 && rng.next() < 0.5) {
      const i = rng.next() < 0.3 ? 0 : rng.int(0, k.pages.length - 1);
      k.pages = k.pages.filter((_, j) => j !== i);
      const data = new Uint8Array(k.data.length - PAGE);
      data.set(k.data.subarray(0, i * PAGE));
      data.set(k.data.subarray((i + 1) * PAGE), i * PAGE);
      k.data = data;
    } else {
      const page = rng.int(0, limit - 1);
      if (k.pages.includes(page)) return "none";
      const i = k.pages.findIndex((q) => q > page);
      const at = i < 0 ? k.pages.length : i;
      k.pages = [...k.pages.slice(0, at), page, ...k.pages.slice(at)];
      const data = new Uint8Array(k.data.length + PAGE);
      data.set(k.data.subarray(0, at * PAGE));
      for (let b = 0; b < PAGE; b += 4) data[at * PAGE + b] = rng.int(0, 255);
      data.set(k.data.subarray(at * PAGE), (at + 1) * PAGE);
      k.data = data;
    }
    if (rng.next() < 0.8) resealHeapChecksums(p);
    return "keyframe.pageSet";
  },
  (p, rng) => {
    const k = keyframeAt(p, rng);
    if (k === null || k.pages.length % 2 === 0) return "none";
    k.padding = rng.int(1, 0xffffffff);
    return "keyframe.padding";
  },
  (p, rng) => {
    // A word of page data: in the heap header (page 0) most of the time, where it matters most.
    const k = keyframeAt(p, rng);
    if (k === null || k.pages.length === 0) return "none";
    const i = k.pages[0] === 0 && rng.next() < 0.6 ? 0 : rng.int(0, k.pages.length - 1);
    const words = new DataView(k.data.buffer, k.data.byteOffset + i * PAGE, PAGE);
    k.data = k.data.slice();
    const w = new DataView(k.data.buffer, i * PAGE, PAGE);
    const span = i === 0 && rng.next() < 0.7 ? 512 : PAGE;
    const at = rng.int(0, span / 4 - 1) * 4;
    const old = words.getUint32(at, true);
    w.setUint32(at, rng.pick([0, 1, old + 1, old - 1, old * 2, old ^ (1 << rng.int(0, 31)), 0xffffffff, 0x80000000, rng.int(0, 0xffffffff)]) >>> 0, true);
    if (rng.next() < 0.85) resealHeapChecksums(p);
    return i === 0 ? "keyframe.headerWord" : "keyframe.dataWord";
  },
  (p, rng) => {
    // The heap header's used size and the record's, changed together (found as the u32 equal to usedBytes / 4096).
    const k = keyframeAt(p, rng);
    if (k === null || k.pages[0] !== 0) return "none";
    const pages = Number(k.usedBytes) / PAGE;
    const v = new DataView(k.data.buffer, k.data.byteOffset, PAGE);
    const spots: number[] = [];
    for (let at = 0; at < 512; at += 4) if (v.getUint32(at, true) === pages) spots.push(at);
    if (spots.length === 0) return "none";
    const to = rng.pick([pages + 1, pages * 2, pages - 1, 0x100000, 0xfffff, rng.int(1, 0x100000)]);
    k.data = k.data.slice();
    new DataView(k.data.buffer, 0, PAGE).setUint32(rng.pick(spots), to, true);
    k.usedBytes = BigInt(to) * BigInt(PAGE);
    if (rng.next() < 0.7) resealHeapChecksums(p);
    return "keyframe.usedAndHeader";
  },
];

function compressedAt(p: ReplayParts, rng: Rng): KeyframeParts | null {
  const i = pickIndex(rng, p.records, (r) => r.kind === "keyframe" && r.zstd !== null);
  return i < 0 ? null : (p.records[i] as KeyframeParts);
}

/** The frame a compressed keyframe would store now (its payload compressed, or the frame read when that is unchanged). */
function currentFrame(k: KeyframeParts): Uint8Array {
  return storedPayload(k).subarray(ZSTD_FIXED);
}

/** zstd frames of RLE blocks decoding to `size` bytes, made once per size: a few KiB on disk for up to 4 GiB decoded. */
const bombFrames = new Map<number, Uint8Array>();
function bombFrame(size: number): Uint8Array {
  let f = bombFrames.get(size);
  if (f === undefined) bombFrames.set(size, (f = rleFrame(size, 0x41)));
  return f;
}

/** `frame` with the 8-byte content size an rleFrame declares set to `size` (a frame that lies about what it decodes to). */
function declaringSize(frame: Uint8Array, size: number): Uint8Array {
  const out = frame.slice();
  new DataView(out.buffer).setBigUint64(6, BigInt(size), true);
  return out;
}

/**
 * Compressed keyframes: the size field, the reserved word, the frame's
 * bytes (flipped, cut, spliced, zeroed, followed by more), the storage
 * switched, and decompression bombs (frames of a few KiB that decode to up
 * to 1 GiB, declaring that size, the keyframe's, or nothing true).
 */
const compressedMutations: Mutation[] = [
  (p, rng) => {
    const k = compressedAt(p, rng);
    if (k === null) return "none";
    const n = k.zstd!.holds.length;
    k.zstd!.declaredBytes = rng.pick([near(rng, n), n - 1, n + 1, 0, 23, 24, (1 << 30) + 24, rng.int(0, 0xffffffff)]) >>> 0;
    return "zstd.declaredBytes";
  },
  (p, rng) => {
    const k = compressedAt(p, rng);
    if (k === null) return "none";
    k.zstd!.reserved = rng.int(1, 0xffffffff);
    return "zstd.reserved";
  },
  (p, rng) => {
    const k = compressedAt(p, rng);
    if (k === null) return "none";
    const frame = currentFrame(k).slice();
    // The frame header (its first 18 bytes at most) half the time, where one bit changes what the frame claims.
    const span = rng.next() < 0.5 ? Math.min(18, frame.length) : frame.length;
    for (let f = rng.int(1, 4); f > 0; f--) frame[rng.int(0, span - 1)]! ^= 1 << rng.int(0, 7);
    k.zstd!.damaged = frame;
    return "zstd.frameFlip";
  },
  (p, rng) => {
    const k = compressedAt(p, rng);
    if (k === null) return "none";
    const frame = currentFrame(k);
    k.zstd!.damaged = frame.slice(0, rng.int(0, frame.length - 1));
    return "zstd.frameCut";
  },
  (p, rng) => {
    const k = compressedAt(p, rng);
    if (k === null) return "none";
    const frame = currentFrame(k);
    const at = rng.int(0, frame.length);
    const junk = Uint8Array.from({ length: rng.int(1, 40) }, () => rng.int(0, 255));
    const out = new Uint8Array(frame.length + junk.length);
    out.set(frame.subarray(0, at));
    out.set(junk, at);
    out.set(frame.subarray(at), at + junk.length);
    k.zstd!.damaged = out;
    return "zstd.frameSplice";
  },
  (p, rng) => {
    const k = compressedAt(p, rng);
    if (k === null) return "none";
    const frame = currentFrame(k).slice();
    frame.fill(0, rng.int(0, frame.length - 1), rng.int(0, frame.length));
    k.zstd!.damaged = frame;
    return "zstd.frameZeroed";
  },
  (p, rng) => {
    // More after the frame: a second frame (of the same payload, or of junk), or a skippable frame.
    const k = compressedAt(p, rng);
    if (k === null) return "none";
    const frame = currentFrame(k);
    const roll = rng.int(0, 2);
    const more =
      roll === 0
        ? frame
        : roll === 1
          ? new Uint8Array(Bun.zstdCompressSync(Uint8Array.from({ length: rng.int(1, 300) }, () => rng.int(0, 255))))
          : Uint8Array.of(0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4);
    const out = new Uint8Array(frame.length + more.length);
    out.set(frame);
    out.set(more, frame.length);
    k.zstd!.damaged = out;
    return "zstd.frameFollowed";
  },
  (p, rng) => {
    // Stored the other way: a compressed keyframe as plain, a plain one as compressed (in a file with or without the flag).
    const i = pickIndex(rng, p.records, (r) => r.kind === "keyframe");
    if (i < 0) return "none";
    const k = p.records[i] as KeyframeParts;
    if (k.zstd !== null) {
      k.zstd = null;
      k.typeWord = KEYFRAME;
    } else {
      const holds = payloadOf(k);
      k.zstd = { declaredBytes: null, reserved: 0, frame: new Uint8Array(Bun.zstdCompressSync(holds, { level: ZSTD_LEVEL })), holds, damaged: null };
      k.typeWord = KEYFRAME_ZSTD;
    }
    return "zstd.storage";
  },
  (p, rng) => {
    // A bomb: a frame of RLE blocks decoding to up to 1 GiB, declaring that size, or the keyframe's true size (a lie), in the size field or not.
    const k = compressedAt(p, rng);
    if (k === null) return "none";
    const n = k.zstd!.holds.length;
    const decodes = rng.pick([n + PAGE, 64 << 20, 1 << 30]);
    const lie = rng.next() < 0.5;
    k.zstd!.damaged = lie ? declaringSize(bombFrame(decodes), n) : bombFrame(decodes);
    k.zstd!.declaredBytes = rng.next() < 0.5 ? null : decodes;
    return lie ? "zstd.bombLying" : "zstd.bomb";
  },
  (p, rng) => {
    // A frame of the keyframe's size whose bytes are junk after a true start: decompresses, then fails the keyframe checks.
    const k = compressedAt(p, rng);
    if (k === null) return "none";
    const n = k.zstd!.holds.length;
    const keep = rng.int(0, Math.min(n, 64));
    k.zstd!.damaged = rleFrame(n, rng.int(0, 255), k.zstd!.holds.slice(0, keep));
    return "zstd.junkPayload";
  },
];

/** Sizes far beyond what the file holds: the region up to 4 GiB, and a keyframe declaring most of it (its heap header too, or not). */
const sizeBombs: Mutation[] = [
  (p, rng) => {
    const k = keyframeAt(p, rng);
    if (k === null) return "none";
    p.header.regionBytes = rng.pick([1n << 32n, (1n << 32n) - BigInt(PAGE), BigInt(rng.int(256, 1 << 20)) * BigInt(PAGE)]);
    const pages = rng.pick([Number(p.header.regionBytes) / PAGE, rng.int(1, Number(p.header.regionBytes) / PAGE)]);
    const old = Number(k.usedBytes) / PAGE;
    k.usedBytes = BigInt(pages) * BigInt(PAGE);
    const roll = rng.next();
    if (roll < 0.4 && k.pages[0] === 0) {
      // Make the heap header agree: every word of its first 512 bytes that held the old size.
      k.data = k.data.slice();
      const v = new DataView(k.data.buffer, 0, PAGE);
      for (let at = 0; at < 512; at += 4) if (v.getUint32(at, true) === old) v.setUint32(at, pages, true);
    } else if (roll < 0.7) {
      k.pages = [];
      k.pageCount = null;
      k.data = new Uint8Array(0);
    }
    return "bomb.size";
  },
];

const structureMutations: Mutation[] = [
  (p, rng) => {
    if (p.records.length === 0) return "none";
    p.records.splice(rng.int(0, p.records.length - 1), 1);
    return "records.drop";
  },
  (p, rng) => {
    if (p.records.length === 0) return "none";
    const i = rng.int(0, p.records.length - 1);
    p.records.splice(i, 0, structuredClone(p.records[i]!));
    return "records.duplicate";
  },
  (p, rng) => {
    if (p.records.length < 2) return "none";
    const i = rng.int(0, p.records.length - 2);
    [p.records[i], p.records[i + 1]] = [p.records[i + 1]!, p.records[i]!];
    return "records.swap";
  },
  (p, rng, donor) => {
    if (donor.records.length === 0) return "none";
    p.records.splice(rng.int(0, p.records.length), 0, structuredClone(rng.pick(donor.records)));
    return "records.foreign";
  },
  (p, rng) => {
    const n = rng.pick([1, 7, 15, 16, 17, 64, 4096]);
    p.records.push({ kind: "raw", bytes: rng.next() < 0.5 ? new Uint8Array(n) : Uint8Array.from({ length: n }, () => rng.int(0, 255)) });
    return "records.tail";
  },
];

const GROUPS = [headerMutations, framingMutations, tickMutations, keyframeMutations, keyframeMutations, structureMutations, sizeBombs, compressedMutations];

/**
 * A hostile variant of `base`: 1 to 3 structure-aware mutations (checksums
 * recomputed), then sometimes a cut or a few raw byte flips of the encoded
 * file (checksums left stale). Returns the bytes and what was done.
 */
export function mutate(base: ReplayParts, donor: ReplayParts, rng: Rng): { bytes: Uint8Array; what: string[] } {
  const parts: ReplayParts = structuredClone(base);
  const what: string[] = [];
  const count = rng.int(1, 3);
  for (let i = 0; i < count; i++) what.push(rng.pick(rng.pick(GROUPS))(parts, rng, donor));
  let bytes = encode(parts);
  const roll = rng.next();
  if (roll < 0.08) {
    bytes = bytes.slice(0, rng.int(0, bytes.length));
    what.push("file.cut");
  } else if (roll < 0.14) {
    bytes = bytes.slice();
    for (let f = rng.int(1, 4); f > 0; f--) bytes[rng.int(0, bytes.length - 1)]! ^= 1 << rng.int(0, 7);
    what.push("file.flip");
  }
  return { bytes, what };
}
