/**
 * file-format.ts - the bytes of a snapshot file (docs/snapshot-format.md):
 * the header, the page map, the checksum units and batches, and the zstd
 * frame rules. file.ts does the file system side with these.
 */
import { xxHash3, zstdDecompress } from "#runtime";
import { HeapError } from "../errors.ts";
import { requireZstd } from "../platform/zstd.ts";
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";
import { MAX_REGION_SIZE } from "../heap.ts";
import { diffPages } from "./pages.ts";

// ---- the format ------------------------------------------------------------

/** First 8 bytes of every snapshot file: `\x89PHSNAP\n`. */
export const MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x89, 0x50, 0x48, 0x53, 0x4e, 0x41, 0x50, 0x0a);
/** The format version this module writes and the newest it reads. */
export const FORMAT_VERSION = 1;
/** Bytes of the header; the map starts here. */
export const HEADER_BYTES = 80;
/** Data stored as is. */
export const CODEC_RAW = 0;
/** Data stored as one zstd frame. */
export const CODEC_ZSTD = 1;
/** Pages per group: a checksum unit never crosses a multiple of this. */
export const GROUP_PAGES = 64;
/** zstd level of `compress: true`. */
export const DEFAULT_ZSTD_LEVEL = 3;

/** Byte offset of each header field (all little endian). */
export const FIELD = {
  magic: 0, // u8[8]
  version: 8, // u16
  codec: 10, // u16
  flags: 12, // u32
  abi: 16, // u32
  pageSize: 20, // u32
  regionBytes: 24, // u64
  usedBytes: 32, // u64
  storedPages: 40, // u64
  dataBytes: 48, // u64
  mapChecksum: 56, // u64
  dataChecksum: 64, // u64
  headerChecksum: 72, // u64, of bytes [0, 72)
} as const;

export const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;
export const ABI = NATIVE_CONSTANTS.PH_ABI_VERSION;

/**
 * Options of `snap.save()` / `snap.saveSync()`.
 *
 * @example
 * ```ts
 * import { PrivateHeap } from "privheap";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * // zstd level 9, no fsync (a scratch file that need not survive power loss)
 * heap.snapshot().saveSync(join(tmpdir(), "scratch.phsnap"), { compress: 9, fsync: false });
 * ```
 */
export interface SaveOptions {
  /**
   * Compress the data with zstd: `true` for level 3, or a level from 1 to 22.
   * Default `false`: pages are stored as is (zero pages are left out either way).
   */
  compress?: boolean | number;
  /**
   * Flush the file (and then its directory) to the device before and after
   * the rename, so the new file survives a power loss. Default `true`.
   * `false` keeps the temporary file and rename, so a crashed process still
   * leaves the old file or the new one, never a mix.
   */
  fsync?: boolean;
  /**
   * Permission bits of the new file (before the umask), within 0o777.
   * Default 0o600: a save file holds a program's whole heap, so only its
   * owner reads it. Setuid, setgid and sticky bits are `EINVAL`.
   */
  mode?: number;
}

/**
 * Options of `Snapshot.load()` / `Snapshot.loadSync()`.
 *
 * @example
 * ```ts
 * import { PrivateHeap, Snapshot } from "privheap";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const path = join(tmpdir(), "untrusted.phsnap");
 * heap.snapshot().saveSync(path);
 * // A file from elsewhere: refuse (ESIZE) anything larger than this heap before reading it.
 * heap.restore(Snapshot.loadSync(path, { maxBytes: heap.size }));
 * ```
 */
export interface LoadOptions {
  /**
   * The largest used prefix to accept, in bytes: a file whose header
   * declares more is `ESIZE` before anything else is read or allocated.
   * Default: any (up to the 4 GiB a region can have). Loading costs about
   * the used prefix in memory, so pass the size of the heap the snapshot is
   * meant for (`heap.size`) when the file comes from elsewhere.
   */
  maxBytes?: number;
}

/** A header that passed every check of `parseHeader`. */
export interface FileHeader {
  codec: number;
  regionBytes: number;
  usedBytes: number;
  storedPages: number;
  dataBytes: number;
  mapChecksum: bigint;
  dataChecksum: bigint;
}

/** Bytes of the map for `pages` pages: one bit each, rounded up to whole bytes. */
export function mapBytesFor(pages: number): number {
  return Math.ceil(pages / 8);
}

export function encodeHeader(h: FileHeader, out: Uint8Array): void {
  const v = new DataView(out.buffer, out.byteOffset, HEADER_BYTES);
  out.set(MAGIC, FIELD.magic);
  v.setUint16(FIELD.version, FORMAT_VERSION, true);
  v.setUint16(FIELD.codec, h.codec, true);
  v.setUint32(FIELD.flags, 0, true);
  v.setUint32(FIELD.abi, ABI, true);
  v.setUint32(FIELD.pageSize, PAGE, true);
  v.setBigUint64(FIELD.regionBytes, BigInt(h.regionBytes), true);
  v.setBigUint64(FIELD.usedBytes, BigInt(h.usedBytes), true);
  v.setBigUint64(FIELD.storedPages, BigInt(h.storedPages), true);
  v.setBigUint64(FIELD.dataBytes, BigInt(h.dataBytes), true);
  v.setBigUint64(FIELD.mapChecksum, h.mapChecksum, true);
  v.setBigUint64(FIELD.dataChecksum, h.dataChecksum, true);
  v.setBigUint64(FIELD.headerChecksum, xxHash3(out.subarray(0, FIELD.headerChecksum)), true);
}

export function corrupt(op: string, path: string, why: string): HeapError {
  return new HeapError("ECORRUPT", op, `${path}: ${why}`);
}

export function hex(x: bigint): string {
  return `0x${x.toString(16).padStart(16, "0")}`;
}

/**
 * Check the first bytes of a file of `fileSize` bytes (`head` holds
 * min(fileSize, HEADER_BYTES) of them) and return what the header says.
 * Order matters: the magic and the version come first, since a newer
 * version may lay out (and checksum) the rest differently; every other
 * field is trusted only after the header checksum matched.
 */
export function parseHeader(head: Uint8Array, fileSize: number, op: string, path: string): FileHeader {
  const n = Math.min(head.length, MAGIC.length);
  for (let i = 0; i < n; i++)
    if (head[i] !== MAGIC[i]) throw corrupt(op, path, "not a privheap snapshot file (wrong magic bytes)");
  if (fileSize < MAGIC.length + 2) throw corrupt(op, path, `truncated: ${fileSize} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const v = new DataView(head.buffer, head.byteOffset, head.length);
  const version = v.getUint16(FIELD.version, true);
  if (version > FORMAT_VERSION)
    throw new HeapError("EVERSION", op, `${path}: snapshot format version ${version}; this privheap reads versions up to ${FORMAT_VERSION}`);
  if (version === 0) throw corrupt(op, path, "format version 0 does not exist");
  if (fileSize < HEADER_BYTES) throw corrupt(op, path, `truncated: ${fileSize} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const stored = v.getBigUint64(FIELD.headerChecksum, true);
  const actual = xxHash3(head.subarray(0, FIELD.headerChecksum));
  if (stored !== actual) throw corrupt(op, path, `header checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`);

  const abi = v.getUint32(FIELD.abi, true);
  if (abi !== ABI) throw new HeapError("EVERSION", op, `${path}: written for native ABI ${abi}; this library is ABI ${ABI}`);
  const pageSize = v.getUint32(FIELD.pageSize, true);
  if (pageSize !== PAGE) throw new HeapError("EVERSION", op, `${path}: page size ${pageSize}; this library uses ${PAGE}`);
  const flags = v.getUint32(FIELD.flags, true);
  if (flags !== 0) throw new HeapError("EVERSION", op, `${path}: flags 0x${flags.toString(16)} that this version does not know`);
  const codec = v.getUint16(FIELD.codec, true);
  if (codec !== CODEC_RAW && codec !== CODEC_ZSTD) throw new HeapError("EVERSION", op, `${path}: codec ${codec} that this version does not know`);

  const u64 = (at: number, name: string): number => {
    const x = v.getBigUint64(at, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(op, path, `${name} ${x} is out of range`);
    return Number(x);
  };
  const regionBytes = u64(FIELD.regionBytes, "region size");
  const usedBytes = u64(FIELD.usedBytes, "used bytes");
  const storedPages = u64(FIELD.storedPages, "stored pages");
  const dataBytes = u64(FIELD.dataBytes, "data bytes");
  if (regionBytes === 0 || regionBytes % PAGE !== 0 || regionBytes > MAX_REGION_SIZE)
    throw corrupt(op, path, `region size ${regionBytes} is not a whole number of pages up to 4 GiB`);
  if (usedBytes === 0 || usedBytes % PAGE !== 0 || usedBytes > regionBytes)
    throw corrupt(op, path, `used bytes ${usedBytes} are not a whole number of pages within the ${regionBytes}-byte region`);
  const pages = usedBytes / PAGE;
  if (storedPages > pages) throw corrupt(op, path, `${storedPages} stored pages, but the used prefix has ${pages}`);
  if (codec === CODEC_RAW && dataBytes !== storedPages * PAGE)
    throw corrupt(op, path, `${dataBytes} data bytes do not hold ${storedPages} pages`);
  const expect = HEADER_BYTES + mapBytesFor(pages) + dataBytes;
  if (fileSize < expect) throw corrupt(op, path, `truncated: ${fileSize} bytes, the header describes ${expect}`);
  if (fileSize > expect) throw corrupt(op, path, `${fileSize - expect} bytes follow the ${expect} the header describes`);
  return {
    codec,
    regionBytes,
    usedBytes,
    storedPages,
    dataBytes,
    mapChecksum: v.getBigUint64(FIELD.mapChecksum, true),
    dataChecksum: v.getBigUint64(FIELD.dataChecksum, true),
  };
}

// ---- zero pages, units and batches ----------------------------------------

/*
 * Finding zero pages. Measured on this project's Linux x64 machine (Bun
 * 1.4.4, 256 MiB, GB/s of snapshot scanned; "mixed" = half the pages zero):
 *
 *   method                                   non-zero pages  zero pages  mixed
 *   Buffer.compare(page, zeroPage) per page           9.8        6.3     11.6
 *   first word in JS, then Buffer.equals            248          6.3     12.0
 *   Uint32Array loop with early exit                333          5.0      6.2
 *   Float64Array loop with early exit               392          4.7      6.8
 *   ph_pages_diff(window, zeroWindow), 1 MiB        320         12.9     16.4
 *
 * Every method is fast on non-zero pages (the comparison stops at the first
 * non-zero byte); zero pages must be read in full, and there the native
 * memcmp of ph_pages_diff (the rollback ring's page differ, pointed at a
 * window of zeros) is twice as fast as anything in JS, and it costs one FFI
 * call per 256 pages instead of one per page.
 */
const SCAN_PAGES = 256;
let zeroWindow: Uint8Array | undefined;
const scanOut = new Uint32Array(SCAN_PAGES);

/** Set the map bit of every page of `image` that is not all zero; returns how many. */
export function mapNonZeroPages(image: Uint8Array, map: Uint8Array, op: string): number {
  const zero = (zeroWindow ??= new Uint8Array(SCAN_PAGES * PAGE));
  const pages = image.length / PAGE;
  let stored = 0;
  for (let p = 0; p < pages; p += SCAN_PAGES) {
    const n = Math.min(SCAN_PAGES, pages - p);
    const k = diffPages(image.subarray(p * PAGE, (p + n) * PAGE), zero, n, scanOut, SCAN_PAGES, op);
    for (let i = 0; i < k; i++) {
      const q = p + scanOut[i]!;
      map[q >>> 3]! |= 1 << (q & 7);
    }
    stored += k;
  }
  return stored;
}

/**
 * The checksum units of a map: maximal runs of stored pages that do not
 * cross a multiple of GROUP_PAGES, as [first, end) page pairs in page order.
 * `null` when the map has bits set past `pages`.
 */
export function unitsOf(map: Uint8Array, pages: number): Uint32Array | null {
  let stored = 0;
  for (let i = 0; i < map.length; i++) stored += popcount8(map[i]!);
  const out = new Uint32Array(2 * stored);
  let n = 0;
  let start = -1;
  for (let p = 0; p < pages; p++) {
    if ((map[p >>> 3]! >>> (p & 7)) & 1) {
      if (start < 0) start = p;
      if ((p + 1) % GROUP_PAGES === 0) {
        out[n++] = start;
        out[n++] = p + 1;
        start = -1;
      }
    } else if (start >= 0) {
      out[n++] = start;
      out[n++] = p;
      start = -1;
    }
  }
  if (start >= 0) {
    out[n++] = start;
    out[n++] = pages;
  }
  let inMap = 0;
  for (let i = 0; i < n; i += 2) inMap += out[i + 1]! - out[i]!;
  return inMap === stored ? out.subarray(0, n) : null;
}

function popcount8(b: number): number {
  b = b - ((b >>> 1) & 0x55);
  b = (b & 0x33) + ((b >>> 2) & 0x33);
  return (b + (b >>> 4)) & 0x0f;
}

/** The data checksum, built unit by unit (see the format document). */
export class UnitHashes {
  readonly #out: DataView;
  #n = 0;
  constructor(units: number) {
    this.#out = new DataView(new ArrayBuffer(8 * units));
  }
  add(bytes: Uint8Array): void {
    this.#out.setBigUint64(8 * this.#n++, xxHash3(bytes), true);
  }
  digest(): bigint {
    return xxHash3(new Uint8Array(this.#out.buffer, 0, 8 * this.#n));
  }
}

/*
 * Writing and reading in batches. Measured on this project's Linux x64
 * machine (ext4, page cache, Bun 1.4.4; writing a new file of 16 / 256 MiB,
 * medians of 11-15 runs):
 *
 *   Bun.write(path, view)                              1.2 / 1.1 GB/s
 *   open + fs.writeSync (pwrite), one call             6.2 / 4.4 GB/s
 *   open + ftruncate + fs.writeSync                    6.2 / 4.5 GB/s
 *   open + fallocate (FFI to libc) + fs.writeSync      7.7 / 5.0 GB/s
 *   fs.writeFileSync(path, view) (Bun fallocates)      7.7 / 5.0 GB/s
 *   chunked writeSync: 1, 8, 64 MiB chunks             same as one call
 *   fs.promises FileHandle.write                       4.4 GB/s at 256 MiB
 *   xxHash3 alone                                      11 GB/s
 *   hash whole, then write whole (fallocate)           3.4 GB/s at 256 MiB
 *   hash + write per 256 KiB-1 MiB piece               4.0-4.3 GB/s at 256 MiB
 *
 * So: positioned vectored writes (writev) of the stored pages straight from
 * the snapshot, no copy into a file-shaped buffer, each batch hashed just
 * before it is written (1 MiB batches; 256 KiB to 4 MiB measured the same
 * within noise); Bun.write is 4x slower. ftruncate buys nothing here and
 * Node's fs has no fallocate (only an FFI call into libc, which would gain
 * 10-20% on Linux/glibc alone), so there is no preallocation. Reading
 * mirrors it: vectored reads straight into the final place of each page
 * (zero pages are never touched, so they cost no memory), each batch hashed
 * right after its read: 2.2 GB/s against 1.9 for read-all-then-hash.
 *
 * The hash is the price of a checksum over every byte: on this 2-vCPU
 * machine it adds about a third to a page-cache write, so saveSync runs at
 * 0.6-0.75x of the plain write at 16 MiB and 0.75-0.85x at 256 MiB
 * (bench/js/snapshot-file.ts). The async save overlaps hashing with the
 * thread pool's writes, which pays off only on large snapshots here.
 */
export const BATCH_BYTES = 1 << 20;
/** Async batches are larger: each costs a thread-pool round trip. */
export const ASYNC_BATCH_BYTES = 4 << 20;
/** Below the usual IOV_MAX of 1024. */
const MAX_IOV = 512;

/** Units [u0, u1) read or written together, and where their data starts. */
export interface Batch {
  u0: number;
  u1: number;
  /** Offset of the first unit's pages in the data (the stored pages in order). */
  at: number;
  bytes: number;
}

/** Split units into batches of about `limit` bytes and at most MAX_IOV contiguous segments. */
export function batchesOf(units: Uint32Array, limit: number): Batch[] {
  const out: Batch[] = [];
  let b: Batch | null = null;
  let segs = 0;
  let at = 0;
  for (let u = 0; u < units.length; u += 2) {
    const first = units[u]!;
    const bytes = (units[u + 1]! - first) * PAGE;
    const joins = b !== null && units[u - 1] === first;
    if (b === null || b.bytes >= limit || (!joins && segs >= MAX_IOV)) {
      b = { u0: u, u1: u, at, bytes: 0 };
      out.push(b);
      segs = 0;
    }
    if (!joins || b.bytes === 0) segs++;
    b.u1 = u + 2;
    b.bytes += bytes;
    at += bytes;
  }
  return out;
}

/** The batch's pages in `image`, as views with contiguous units merged. */
export function segmentsOf(units: Uint32Array, b: Batch, image: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let first = units[b.u0]!;
  let end = units[b.u0 + 1]!;
  for (let u = b.u0 + 2; u < b.u1; u += 2) {
    if (units[u] === end) {
      end = units[u + 1]!;
    } else {
      out.push(image.subarray(first * PAGE, end * PAGE));
      first = units[u]!;
      end = units[u + 1]!;
    }
  }
  out.push(image.subarray(first * PAGE, end * PAGE));
  return out;
}

/** Hash the batch's units where they sit in `image` (pages at their own offsets). */
export function hashInPlace(units: Uint32Array, b: Batch, image: Uint8Array, h: UnitHashes): void {
  for (let u = b.u0; u < b.u1; u += 2) h.add(image.subarray(units[u]! * PAGE, units[u + 1]! * PAGE));
}

/** The stored pages of `image`, back to back (the image itself when every page is stored). */
export function packPages(units: Uint32Array, image: Uint8Array, stored: number): Uint8Array {
  if (stored * PAGE === image.length) return image;
  const out = new Uint8Array(stored * PAGE);
  let at = 0;
  for (const b of batchesOf(units, Number.POSITIVE_INFINITY))
    for (const s of segmentsOf(units, b, image)) {
      out.set(s, at);
      at += s.length;
    }
  return out;
}

/** Put the pages of `packed` at their offsets in a fresh used prefix of `usedBytes`. */
export function unpackPages(units: Uint32Array, packed: Uint8Array, usedBytes: number): Uint8Array {
  // zstd hands back a Buffer; a Snapshot needs a plain Uint8Array (Buffer's
  // slice() shares memory), 16-byte aligned for the native checker.
  if (packed.length === usedBytes && packed.byteOffset % 16 === 0) return new Uint8Array(packed.buffer, packed.byteOffset, packed.length);
  const image = new Uint8Array(usedBytes);
  let at = 0;
  for (const b of batchesOf(units, Number.POSITIVE_INFINITY))
    for (const s of segmentsOf(units, b, image)) {
      s.set(packed.subarray(at, at + s.length));
      at += s.length;
    }
  return image;
}

// ---- zstd -------------------------------------------------------------------

const ZSTD_MAGIC = 0xfd2fb528;
const ZSTD_BLOCK_MAX = 128 * 1024;

/**
 * Why `data` is not exactly one zstd frame without a dictionary that
 * declares `size` content bytes, or "" when it is. Bun's decoder sizes its
 * output from the declared size and fails when the blocks disagree, but it
 * also decodes any frames that follow the first; walking the block headers
 * to the end of the data rules those out, so a small file cannot expand
 * into more memory than its (checked) header promised.
 */
export function zstdFrameProblem(data: Uint8Array, size: number): string {
  if (data.length < 6) return "the data is too short for a zstd frame";
  const v = new DataView(data.buffer, data.byteOffset, data.length);
  if (v.getUint32(0, true) !== ZSTD_MAGIC) return "the data is not a zstd frame";
  const fhd = data[4]!;
  const fcsFlag = fhd >>> 6;
  const single = (fhd >>> 5) & 1;
  if (fhd & 0x08) return "the zstd frame sets a reserved bit";
  if ((fhd & 3) !== 0) return "the zstd frame needs a dictionary";
  const fcsBytes = [single, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0) return "the zstd frame does not declare its size";
  let at = 5 + (single ? 0 : 1);
  if (at + fcsBytes > data.length) return "the zstd frame is truncated";
  const fcs =
    fcsBytes === 1 ? data[at]! : fcsBytes === 2 ? v.getUint16(at, true) + 256 : fcsBytes === 4 ? v.getUint32(at, true) : Number(v.getBigUint64(at, true));
  if (fcs !== size) return `the zstd frame declares ${fcs} bytes; the header needs ${size}`;
  at += fcsBytes;
  for (;;) {
    if (at + 3 > data.length) return "the zstd frame is truncated";
    const bh = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16);
    const type = (bh >>> 1) & 3;
    const bytes = bh >>> 3;
    if (type === 3) return "the zstd frame has a block of the reserved type";
    if (bytes > ZSTD_BLOCK_MAX) return "the zstd frame has a block larger than 128 KiB";
    at += 3 + (type === 1 ? 1 : bytes);
    if (bh & 1) break;
  }
  if ((fhd >>> 2) & 1) at += 4; // content checksum
  if (at > data.length) return "the zstd frame is truncated";
  if (at < data.length) return `${data.length - at} bytes follow the zstd frame`;
  return "";
}

/**
 * The first bytes (at least `need`, unless the frame holds fewer) that the
 * zstd frame `data` decodes to, decoding only its first blocks: the blocks
 * up to one whose decoded size reaches `need` are copied into a frame of
 * their own (the last of them marked last, no content size or checksum,
 * a window as large as their output can be) and decoded with the output
 * bounded by what those blocks can produce (128 KiB each at most). So a
 * loader can check the heap header before it decodes (or allocates) the
 * rest. Gives up (null) when the blocks that can produce `maxBytes`
 * (a few MiB) still hold fewer than `need` bytes: a writer's blocks are
 * 128 KiB. `data` passed zstdFrameProblem.
 */
export function zstdPrefix(data: Uint8Array, need: number, maxBytes: number): Uint8Array | null {
  const fhd = data[4]!;
  const single = (fhd >>> 5) & 1;
  const fcsBytes = [single, 2, 4, 8][fhd >>> 6]!;
  let at = 5 + (single ? 0 : 1) + fcsBytes;
  const first = at;
  let bound = 0; // most bytes the blocks so far decode to
  let tried = 0;
  for (;;) {
    const bh = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16);
    const type = (bh >>> 1) & 3;
    const size = bh >>> 3;
    const end = at + 3 + (type === 1 ? 1 : size);
    bound += type === 2 ? ZSTD_BLOCK_MAX : size;
    const last = (bh & 1) === 1;
    if (last || bound >= Math.max(need, 8 * tried)) {
      // Decode blocks [first, end): raising the bound 8-fold between tries keeps the work linear.
      const out = decodeBlocks(data, first, at, end, bound);
      if (out === null || out.length >= need || last) return out;
      tried = bound;
      if (bound >= maxBytes) return null;
    }
    at = end;
  }
}

/** Decode the blocks data[first, end) (the last one starting at `lastAt`) as a frame of their own; null if they do not decode. */
function decodeBlocks(data: Uint8Array, first: number, lastAt: number, end: number, bound: number): Uint8Array | null {
  const windowLog = Math.max(10, Math.ceil(Math.log2(Math.max(bound, 1))));
  const frame = new Uint8Array(6 + end - first);
  frame.set(data.subarray(0, 4), 0); // the magic
  frame[4] = 0; // no content size, not single segment, no checksum, no dictionary
  frame[5] = (windowLog - 10) << 3; // window descriptor: 2^windowLog bytes
  frame.set(data.subarray(first, end), 6);
  frame[6 + lastAt - first]! |= 1; // the last block
  requireZstd("reading a compressed file");
  try {
    return zstdDecompress(frame, bound);
  } catch {
    return null; // damaged blocks: the caller reports the file
  }
}

export function zstdLevel(compress: unknown, op: string): number {
  if (compress === undefined || compress === false) return 0;
  if (compress === true) return DEFAULT_ZSTD_LEVEL;
  if (typeof compress === "number" && Number.isInteger(compress) && compress >= 1 && compress <= 22) return compress;
  throw new HeapError("EINVAL", op, `compress must be a boolean or a zstd level from 1 to 22, got ${String(compress)}`);
}
