/**
 * replay-format.ts - the bytes of a replay file (docs/replay-format.md):
 * a header, then records appended one at a time, each with its own length
 * and checksum, so a file cut anywhere reads as its complete records plus a
 * torn tail.
 *
 * Invariant: a record is accepted only when its checksum matches and it
 * follows the one before it (tick records count up from 0; a keyframe
 * follows the tick it holds the state after); reading stops at the first
 * record that is not, and everything before it is exactly what was written.
 *
 * Invariant: a keyframe is accepted only when the heap header its image
 * starts with (its own first pages, or those of the keyframes it is laid
 * over) declares exactly its used bytes and a region no larger than the
 * file's. So the memory a reader later sets aside for an image is what a
 * heap header vouches for and at most the recorded region, never a size
 * that only a record field declares.
 */
import { HeapError } from "../errors.ts";
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";
import { MAX_REGION_SIZE } from "../heap.ts";
import { readStats } from "../introspect.ts";
import type { Delta } from "./delta.ts";
import { zstdFrameProblem, zstdPrefix } from "./file-format.ts";
import { xxHash3, zstdCompress, zstdDecompress } from "#runtime";
import { requireZstd } from "../platform/zstd.ts";

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;

/** `\x89PHREPL\n`: a high byte first and a line feed last, like PNG. */
export const REPLAY_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x89, 0x50, 0x48, 0x52, 0x45, 0x50, 0x4c, 0x0a);
export const REPLAY_VERSION = 2;
/** The last version whose tick records hold heap checksums of an earlier definition (xxHash3 of the used prefix). */
const OLD_CHECKSUM_VERSION = 1;
export const REPLAY_HEADER_BYTES = 48;
/** Record framing: type u8, 3 reserved bytes, payload length u32; then the payload; then its checksum u64. */
export const RECORD_HEAD_BYTES = 8;
export const RECORD_TAIL_BYTES = 8;
export const RECORD_TICK = 1;
export const RECORD_KEYFRAME = 2;
/** A keyframe payload stored as one zstd frame; only in files whose header sets REPLAY_FLAG_ZSTD. */
export const RECORD_KEYFRAME_ZSTD = 3;
/** Header flag: keyframe records may be stored compressed (RECORD_KEYFRAME_ZSTD). A reader without it refuses the file (EVERSION). */
export const REPLAY_FLAG_ZSTD = 1;
/** Compressed keyframe payload: decompressed bytes u32, 4 reserved, then the zstd frame. */
export const ZSTD_KEYFRAME_FIXED_BYTES = 8;
/** zstd level of a compressed keyframe. */
export const KEYFRAME_ZSTD_LEVEL = 3;
/** Tick payload: tick u32, input length u32, heap checksum u64, then the input. */
export const TICK_FIXED_BYTES = 16;
/** Keyframe payload: after i32, kind u8, 3 reserved, used bytes u64, pages u32, 4 reserved, then page indices (u32 each, padded to 8 bytes), then the pages. */
export const KEYFRAME_FIXED_BYTES = 24;
export const KEYFRAME_FULL = 0;
export const KEYFRAME_DELTA = 1;
/** Inputs are at most this long (a tick's input is a small message, not a save). */
export const MAX_INPUT_BYTES = 1 << 24;

/** What the header says. */
export interface ReplayHeader {
  version: number;
  /** REPLAY_FLAG_ZSTD or 0 (0 when left out). */
  flags?: number;
  abi: number;
  pageSize: number;
  keyframeEvery: number;
  regionBytes: number;
}

/** The 48-byte file header. */
export function encodeHeader(h: ReplayHeader): Uint8Array {
  const out = new Uint8Array(REPLAY_HEADER_BYTES);
  const v = new DataView(out.buffer);
  out.set(REPLAY_MAGIC, 0);
  v.setUint16(8, h.version, true);
  v.setUint16(10, h.flags ?? 0, true);
  v.setUint32(12, h.abi, true);
  v.setUint32(16, h.pageSize, true);
  v.setUint32(20, h.keyframeEvery, true);
  v.setBigUint64(24, BigInt(h.regionBytes), true);
  v.setBigUint64(32, 0n, true); // reserved
  v.setBigUint64(40, xxHash3(out.subarray(0, 40)), true);
  return out;
}

/** The header of `file`, or the error that rejects the whole file. */
export function parseHeader(file: Uint8Array, op: string, path: string): ReplayHeader {
  const bad = (why: string, code: "ECORRUPT" | "EVERSION" = "ECORRUPT") => new HeapError(code, op, `${path}: ${why}`);
  if (file.length < REPLAY_HEADER_BYTES) throw bad(`${file.length} bytes: shorter than a replay header`);
  for (let i = 0; i < REPLAY_MAGIC.length; i++) if (file[i] !== REPLAY_MAGIC[i]) throw bad("not a privheap replay (wrong magic)");
  const v = new DataView(file.buffer, file.byteOffset, REPLAY_HEADER_BYTES);
  const version = v.getUint16(8, true);
  // A newer version may lay its header out differently: say so before the checksum.
  if (version > REPLAY_VERSION) throw bad(`format version ${version}; this reader knows up to ${REPLAY_VERSION}`, "EVERSION");
  if (v.getBigUint64(40, true) !== xxHash3(file.subarray(0, 40))) throw bad("header checksum mismatch");
  if (version === 0) throw bad("format version 0");
  if (version <= OLD_CHECKSUM_VERSION)
    throw bad(
      `format version ${version} stores heap checksums of an earlier definition (xxHash3 of the used prefix; version ${REPLAY_VERSION} stores sums of page hashes, docs/checksum.md), so no state can be checked against them: record it again with this version of privheap`,
      "EVERSION",
    );
  const flags = v.getUint16(10, true);
  if ((flags & ~REPLAY_FLAG_ZSTD) !== 0) throw bad("unknown header flags", "EVERSION");
  const abi = v.getUint32(12, true);
  const pageSize = v.getUint32(16, true);
  if (abi !== NATIVE_CONSTANTS.PH_ABI_VERSION) throw bad(`native ABI ${abi}; this library is ${NATIVE_CONSTANTS.PH_ABI_VERSION}`, "EVERSION");
  if (pageSize !== PAGE) throw bad(`page size ${pageSize}; this library uses ${PAGE}`, "EVERSION");
  const keyframeEvery = v.getUint32(20, true);
  const regionBytes = Number(v.getBigUint64(24, true));
  if (keyframeEvery < 1) throw bad("keyframe interval 0");
  if (regionBytes < PAGE || regionBytes > MAX_REGION_SIZE || regionBytes % PAGE !== 0) throw bad(`region size ${regionBytes}`);
  return { version, flags, abi, pageSize, keyframeEvery, regionBytes };
}

/** Frame a record: head, payload (written by `fill` into the returned view), checksum. */
export function frameRecord(type: number, payloadBytes: number, scratch: Uint8Array, fill: (payload: Uint8Array, view: DataView) => void): Uint8Array {
  const total = RECORD_HEAD_BYTES + payloadBytes + RECORD_TAIL_BYTES;
  const out = scratch.length >= total ? scratch.subarray(0, total) : new Uint8Array(total);
  const v = new DataView(out.buffer, out.byteOffset, total);
  fill(out.subarray(RECORD_HEAD_BYTES, RECORD_HEAD_BYTES + payloadBytes), v);
  return seal(out, v, type, payloadBytes);
}

/**
 * The compressed form of the keyframe record `record` (framed by
 * frameRecord), in `scratch` when it fits, or null when it would not be
 * smaller.
 */
export function compressKeyframeRecord(record: Uint8Array, scratch: Uint8Array): Uint8Array | null {
  const payload = record.subarray(RECORD_HEAD_BYTES, record.length - RECORD_TAIL_BYTES);
  const frame = zstdCompress(payload, KEYFRAME_ZSTD_LEVEL);
  const payloadBytes = ZSTD_KEYFRAME_FIXED_BYTES + frame.length;
  if (payloadBytes >= payload.length) return null;
  return frameRecord(RECORD_KEYFRAME_ZSTD, payloadBytes, scratch, (out, v) => {
    v.setUint32(RECORD_HEAD_BYTES, payload.length, true);
    v.setUint32(RECORD_HEAD_BYTES + 4, 0, true);
    out.set(frame, ZSTD_KEYFRAME_FIXED_BYTES);
  });
}

/**
 * The keyframe payload a compressed keyframe's payload `stored` holds,
 * decompressed, or why it cannot be read. The declared size is checked
 * against the largest payload a region of `regionBytes` allows, and the
 * frame's own declared size and block structure against it, before
 * anything is decompressed; the output is bounded by it and must match it
 * exactly. So no record makes a reader allocate more than a keyframe of
 * the whole region.
 */
export function inflateKeyframe(stored: Uint8Array, regionBytes: number): Uint8Array | string {
  if (stored.length < ZSTD_KEYFRAME_FIXED_BYTES) return "a compressed keyframe record too short";
  const v = new DataView(stored.buffer, stored.byteOffset, stored.length);
  const size = v.getUint32(0, true);
  if (v.getUint32(4, true) !== 0) return "a compressed keyframe with non-zero reserved bytes";
  if (size < KEYFRAME_FIXED_BYTES || size > keyframePayloadBytes(regionBytes / PAGE)) return `a compressed keyframe declaring ${size} bytes`;
  const frame = stored.subarray(ZSTD_KEYFRAME_FIXED_BYTES);
  const problem = zstdFrameProblem(frame, size);
  if (problem !== "") return `a compressed keyframe that is not one zstd frame of its size: ${problem}`;
  let out: Uint8Array;
  requireZstd("reading a compressed keyframe");
  try {
    out = zstdDecompress(frame, size);
  } catch {
    return "a compressed keyframe that does not decompress";
  }
  if (out.length !== size) return `a compressed keyframe of ${size} bytes that decompresses to ${out.length}`;
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/**
 * The record whose payload out[8, 8 + payloadBytes) holds (`v` views
 * `out` from its start): its head and checksum written around it.
 */
function seal(out: Uint8Array, v: DataView, type: number, payloadBytes: number): Uint8Array {
  v.setUint32(0, type, true); // type in the low byte, 3 reserved zero bytes
  v.setUint32(4, payloadBytes, true);
  const end = RECORD_HEAD_BYTES + payloadBytes;
  v.setBigUint64(end, xxHash3(out.subarray(0, end)), true);
  return out.length === end + RECORD_TAIL_BYTES ? out : out.subarray(0, end + RECORD_TAIL_BYTES);
}

/**
 * Tick records framed in one buffer (grown as inputs need), for a
 * recorder that writes one per tick: a record allocates nothing but its
 * view, valid until the next `frame`.
 */
export class TickRecords {
  #buffer = new Uint8Array(256);
  #view = new DataView(this.#buffer.buffer);

  /** The record of tick `tick`, after which the heap checksum was `checksum`, with its input. */
  frame(tick: number, checksum: bigint, input: Uint8Array): Uint8Array {
    const payloadBytes = TICK_FIXED_BYTES + input.length;
    const total = RECORD_HEAD_BYTES + payloadBytes + RECORD_TAIL_BYTES;
    if (this.#buffer.length < total) {
      this.#buffer = new Uint8Array(2 * total);
      this.#view = new DataView(this.#buffer.buffer);
    }
    const v = this.#view;
    v.setUint32(RECORD_HEAD_BYTES, tick, true);
    v.setUint32(RECORD_HEAD_BYTES + 4, input.length, true);
    v.setBigUint64(RECORD_HEAD_BYTES + 8, checksum, true);
    this.#buffer.set(input, RECORD_HEAD_BYTES + TICK_FIXED_BYTES);
    return seal(this.#buffer, v, RECORD_TICK, payloadBytes);
  }
}

/** Bytes of a keyframe record's payload for `pages` stored pages. */
export function keyframePayloadBytes(pages: number): number {
  return KEYFRAME_FIXED_BYTES + Math.ceil((pages * 4) / 8) * 8 + pages * PAGE;
}

/** Write a keyframe payload (see KEYFRAME_FIXED_BYTES). */
export function fillKeyframe(payload: Uint8Array, after: number, kind: number, delta: Delta): void {
  fillKeyframePages(payload, after, kind, delta.length, delta.pages, delta.pages.length, (data) => data.set(delta.data));
}

/**
 * Write a keyframe payload of an image of `length` bytes storing pages
 * list[0, n) (ascending): `copy` writes their bytes into `data`, page i
 * for list[i], so a recorder copies them straight from the heap.
 */
export function fillKeyframePages(payload: Uint8Array, after: number, kind: number, length: number, list: Uint32Array, n: number, copy: (data: Uint8Array) => void): void {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.length);
  v.setInt32(0, after, true);
  v.setUint32(4, kind, true);
  v.setBigUint64(8, BigInt(length), true);
  v.setUint32(16, n, true);
  v.setUint32(20, 0, true);
  const indexBytes = Math.ceil((n * 4) / 8) * 8;
  for (let i = 0; i < n; i++) v.setUint32(KEYFRAME_FIXED_BYTES + 4 * i, list[i]!, true);
  for (let i = n * 4; i < indexBytes; i++) payload[KEYFRAME_FIXED_BYTES + i] = 0;
  copy(payload.subarray(KEYFRAME_FIXED_BYTES + indexBytes, KEYFRAME_FIXED_BYTES + indexBytes + n * PAGE));
}

/** A tick record as read: where its input lies in the file, and the heap checksum after it. */
export interface TickEntry {
  inputAt: number;
  inputBytes: number;
  checksum: bigint;
}

/** A keyframe record as read. */
export interface KeyframeEntry {
  /** The tick it holds the state after (-1: before tick 0). */
  after: number;
  kind: number;
  delta: Delta;
}

/** Where reading stopped before the end of the file, and why. */
export interface TornTail {
  offset: number;
  bytes: number;
  reason: string;
}

/** Every complete record of a file, in order, and the torn tail if any. */
export interface ParsedReplay {
  header: ReplayHeader;
  ticks: TickEntry[];
  keyframes: KeyframeEntry[];
  torn: TornTail | null;
}

/**
 * Read the records of `file` (whose header parsed). Stops at the first
 * record that is cut short, fails its checksum, or does not follow the one
 * before; the ones before it are returned.
 */
export function parseRecords(file: Uint8Array, header: ReplayHeader, op: string): ParsedReplay {
  const ticks: TickEntry[] = [];
  const keyframes: KeyframeEntry[] = [];
  const view = new DataView(file.buffer, file.byteOffset, file.length);
  const heapHeader = new Uint8Array(HEAP_HEADER_PAGES * PAGE); // the first pages of the last keyframe's image
  let at = REPLAY_HEADER_BYTES;
  let torn: TornTail | null = null;
  let held = 0; // bytes of decompressed pages the keyframes hold
  const stop = (reason: string) => {
    torn = { offset: at, bytes: file.length - at, reason };
  };
  while (at < file.length) {
    if (file.length - at < RECORD_HEAD_BYTES + RECORD_TAIL_BYTES) {
      stop("a record cut short");
      break;
    }
    const type = view.getUint32(at, true);
    const len = view.getUint32(at + 4, true);
    if (len > file.length - at - RECORD_HEAD_BYTES - RECORD_TAIL_BYTES) {
      stop("a record cut short");
      break;
    }
    const end = at + RECORD_HEAD_BYTES + len;
    if (view.getBigUint64(end, true) !== xxHash3(file.subarray(at, end))) {
      stop("record checksum mismatch");
      break;
    }
    const p = at + RECORD_HEAD_BYTES;
    const compressed = type === RECORD_KEYFRAME_ZSTD && ((header.flags ?? 0) & REPLAY_FLAG_ZSTD) !== 0;
    const stored = file.subarray(p, p + len);
    const why =
      type === RECORD_TICK
        ? readTick(view, p, len, ticks, keyframes)
        : type === RECORD_KEYFRAME || compressed
          ? compressed
            ? (beyondHeld(stored, held, file.length) ? compressedHeadProblem(stored, header, ticks.length - 1, keyframes) : null) ??
              readKeyframe(inflateKeyframe(stored, header.regionBytes), header, ticks, keyframes, heapHeader, op)
            : readKeyframe(stored, header, ticks, keyframes, heapHeader, op)
          : `unknown record type ${type}`;
    if (why === null && compressed) {
      const entry = keyframes[keyframes.length - 1]!;
      held += entry.delta.data.length;
      if (held > HELD_PER_FILE_BYTE * file.length) entry.delta = deferredDelta(entry.delta, stored, header.regionBytes, op);
    }
    if (why !== null) {
      stop(why);
      break;
    }
    at = end + RECORD_TAIL_BYTES;
  }
  return { header, ticks, keyframes, torn };
}

/**
 * A reader holds the decompressed pages of compressed keyframes while they
 * total at most this many times the file's bytes (a recording compresses
 * far less than that); past it, a keyframe's pages are decompressed again
 * each time they are used. So a small file of highly compressible records
 * cannot make a reader hold more than a few times its own size.
 */
export const HELD_PER_FILE_BYTE = 8;

/**
 * Whether the compressed keyframe payload `stored` declares more bytes than
 * the reader may still hold (see HELD_PER_FILE_BYTE) with `held` held: a
 * file far smaller than what it decompresses to, as a decompression bomb is.
 */
function beyondHeld(stored: Uint8Array, held: number, fileBytes: number): boolean {
  const size = stored.length >= 4 ? new DataView(stored.buffer, stored.byteOffset, 4).getUint32(0, true) : 0;
  return held + size > HELD_PER_FILE_BYTE * fileBytes;
}

/**
 * Why the compressed keyframe payload `stored` cannot be the keyframe due
 * after tick `due`, from the fields at the start of what it decompresses
 * to, decoding only the frame's first blocks; null when they pass (or when
 * its size or frame is wrong on its face: inflateKeyframe reports that). Checked before a
 * keyframe that declares more than the reader may hold is decompressed
 * whole, so a bomb whose bytes are no keyframe never decodes past its first
 * blocks; a consistent one costs at most a keyframe of the whole region.
 */
function compressedHeadProblem(stored: Uint8Array, header: ReplayHeader, due: number, keyframes: KeyframeEntry[]): string | null {
  if (stored.length < ZSTD_KEYFRAME_FIXED_BYTES) return null;
  const size = new DataView(stored.buffer, stored.byteOffset, 4).getUint32(0, true);
  const frame = stored.subarray(ZSTD_KEYFRAME_FIXED_BYTES);
  if (size < KEYFRAME_FIXED_BYTES || size > keyframePayloadBytes(header.regionBytes / PAGE) || zstdFrameProblem(frame, size) !== "") return null;
  const head = zstdPrefix(frame, KEYFRAME_FIXED_BYTES, ZSTD_PREFIX_MAX_BYTES);
  if (head === null || head.length < KEYFRAME_FIXED_BYTES) return "a compressed keyframe that does not decompress";
  const v = new DataView(head.buffer, head.byteOffset, KEYFRAME_FIXED_BYTES);
  return keyframeHeadProblem(v.getInt32(0, true), v.getUint32(4, true), Number(v.getBigUint64(8, true)), v.getUint32(16, true), size, header, due, keyframes);
}

/** How much of a compressed keyframe compressedHeadProblem may decode to find its first fields (a writer's blocks are 128 KiB). */
const ZSTD_PREFIX_MAX_BYTES = 4 << 20;

/**
 * Why a keyframe of `len` payload bytes whose fixed fields are `after`,
 * `kind`, `used` and `n` (pages) cannot be the keyframe due after tick
 * `due`, after `keyframes`, in a file with `header`, or null: the walk's
 * keyframe checks that read no page, in their documented order.
 */
function keyframeHeadProblem(after: number, kind: number, used: number, n: number, len: number, header: ReplayHeader, due: number, keyframes: KeyframeEntry[]): string | null {
  if (after !== due) return `a keyframe after tick ${after} where ${due} was due`;
  if (keyframes.length > 0 && keyframes[keyframes.length - 1]!.after === after) return `a second keyframe after tick ${after}`; // they ascend: the last is the only candidate
  if (kind !== KEYFRAME_FULL && kind !== KEYFRAME_DELTA) return `unknown keyframe kind ${kind}`;
  if (kind === KEYFRAME_DELTA && keyframes.length === 0) return "a delta keyframe with nothing before it";
  if (used < PAGE || used > header.regionBytes || used % PAGE !== 0) return `a keyframe of ${used} bytes`;
  if (len !== keyframePayloadBytes(n) || n > used / PAGE) return "a keyframe whose page count disagrees with its length";
  return null;
}

/**
 * `delta` (read from the compressed keyframe payload `stored`) without
 * its pages held: `data` decompresses them again on each read. The bytes
 * passed every check once, so a failure now is ECORRUPT, not a wrong state.
 */
function deferredDelta(delta: Delta, stored: Uint8Array, regionBytes: number, op: string): Delta {
  const { length, pages } = delta;
  const dataBytes = delta.data.length;
  return {
    length,
    pages,
    get data(): Uint8Array {
      const payload = inflateKeyframe(stored, regionBytes);
      if (typeof payload === "string") throw new HeapError("ECORRUPT", op, `a keyframe that decompressed once no longer does: ${payload}`);
      return payload.subarray(payload.length - dataBytes);
    },
  };
}

function readTick(view: DataView, p: number, len: number, ticks: TickEntry[], keyframes: KeyframeEntry[]): string | null {
  if (keyframes.length === 0) return "a tick before the first keyframe";
  if (len < TICK_FIXED_BYTES) return "a tick record too short";
  const tick = view.getUint32(p, true);
  const inputBytes = view.getUint32(p + 4, true);
  if (tick !== ticks.length) return `tick ${tick} where tick ${ticks.length} was due`;
  if (inputBytes !== len - TICK_FIXED_BYTES || inputBytes > MAX_INPUT_BYTES) return "a tick record whose input length disagrees";
  ticks.push({ inputAt: p + TICK_FIXED_BYTES, inputBytes, checksum: view.getBigUint64(p + 8, true) });
  return null;
}

/** Read the keyframe payload `payload` (or the reason it could not be decompressed). */
function readKeyframe(
  payload: Uint8Array | string,
  header: ReplayHeader,
  ticks: TickEntry[],
  keyframes: KeyframeEntry[],
  heapHeader: Uint8Array,
  op: string,
): string | null {
  if (typeof payload === "string") return payload;
  const len = payload.length;
  const view = new DataView(payload.buffer, payload.byteOffset, len);
  const p = 0;
  if (len < KEYFRAME_FIXED_BYTES) return "a keyframe record too short";
  const after = view.getInt32(p, true);
  const kind = view.getUint32(p + 4, true);
  const used = Number(view.getBigUint64(p + 8, true));
  const n = view.getUint32(p + 16, true);
  const head = keyframeHeadProblem(after, kind, used, n, len, header, ticks.length - 1, keyframes);
  if (head !== null) return head;
  const pages = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const page = view.getUint32(p + KEYFRAME_FIXED_BYTES + 4 * i, true);
    if (page >= used / PAGE || (i > 0 && page <= pages[i - 1]!)) return "a keyframe whose page list is out of order or range";
    pages[i] = page;
  }
  const dataAt = p + KEYFRAME_FIXED_BYTES + Math.ceil((n * 4) / 8) * 8;
  const delta: Delta = { length: used, pages, data: payload.subarray(dataAt, dataAt + n * PAGE) };
  if (kind === KEYFRAME_FULL && (n === 0 || pages[0] !== 0)) return "a whole keyframe without its heap header page";
  const why = heapHeaderProblem(delta, kind, header, heapHeader, op);
  if (why !== null) return why;
  keyframes.push({ after, kind, delta });
  return null;
}

/**
 * A keyframe record read back on its own (`record` holds it from its head
 * to its checksum, as a recorder reads back what it wrote), with the
 * checks of the walk that do not depend on the records before it: null
 * when it fails one.
 */
export function readKeyframeRecord(record: Uint8Array, regionBytes: number): KeyframeEntry | null {
  if (record.length < RECORD_HEAD_BYTES + RECORD_TAIL_BYTES) return null;
  const head = new DataView(record.buffer, record.byteOffset, record.length);
  let len = head.getUint32(4, true);
  const end = RECORD_HEAD_BYTES + len;
  const type = head.getUint32(0, true);
  if ((type !== RECORD_KEYFRAME && type !== RECORD_KEYFRAME_ZSTD) || end + RECORD_TAIL_BYTES !== record.length) return null;
  if (head.getBigUint64(end, true) !== xxHash3(record.subarray(0, end))) return null;
  let payload = record.subarray(RECORD_HEAD_BYTES, end);
  if (type === RECORD_KEYFRAME_ZSTD) {
    const inflated = inflateKeyframe(payload, regionBytes);
    if (typeof inflated === "string") return null;
    payload = inflated;
    len = payload.length;
  }
  if (len < KEYFRAME_FIXED_BYTES) return null;
  const v = new DataView(payload.buffer, payload.byteOffset, len);
  const p = 0;
  const after = v.getInt32(p, true);
  const kind = v.getUint32(p + 4, true);
  const used = Number(v.getBigUint64(p + 8, true));
  const n = v.getUint32(p + 16, true);
  if (kind !== KEYFRAME_FULL && kind !== KEYFRAME_DELTA) return null;
  if (used < PAGE || used > regionBytes || used % PAGE !== 0) return null;
  if (len !== keyframePayloadBytes(n) || n > used / PAGE) return null;
  const pages = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const page = v.getUint32(p + KEYFRAME_FIXED_BYTES + 4 * i, true);
    if (page >= used / PAGE || (i > 0 && page <= pages[i - 1]!)) return null;
    pages[i] = page;
  }
  const dataAt = p + KEYFRAME_FIXED_BYTES + Math.ceil((n * 4) / 8) * 8;
  return { after, kind, delta: { length: used, pages, data: payload.subarray(dataAt, dataAt + n * PAGE) } };
}

/** Pages of a heap header: the native header is two pages (its lock block ends at byte PH_LOCK_BLOCK_END). */
const HEAP_HEADER_PAGES = Math.ceil(NATIVE_CONSTANTS.PH_LOCK_BLOCK_END / PAGE);

/**
 * Lay the keyframe's header pages over `heapHeader` (the previous image's;
 * zero for a whole keyframe) and check what that heap header declares: the
 * keyframe's used bytes exactly, and a region no larger than the file's.
 * Reads only the header's counters (ph_heap_stats), without trusting them
 * for anything but this comparison; the full check comes when the image is
 * used.
 */
function heapHeaderProblem(delta: Delta, kind: number, header: ReplayHeader, heapHeader: Uint8Array, op: string): string | null {
  if (kind === KEYFRAME_FULL) heapHeader.fill(0);
  for (let i = 0; i < delta.pages.length && delta.pages[i]! < HEAP_HEADER_PAGES; i++)
    heapHeader.set(delta.data.subarray(i * PAGE, (i + 1) * PAGE), delta.pages[i]! * PAGE);
  const declared = readStats(heapHeader, op);
  if (declared.usedBytes !== delta.length || declared.regionBytes < delta.length || declared.regionBytes > header.regionBytes)
    return `a keyframe of ${delta.length} bytes whose heap header declares ${declared.usedBytes} used of ${declared.regionBytes}`;
  return null;
}
