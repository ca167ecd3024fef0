/**
 * file.ts - the snapshot file format (docs/snapshot-format.md): write a
 * snapshot's bytes to a file atomically, and read a file back into bytes
 * that the caller then hands to the native checker.
 *
 * A file is an 80-byte header, a map with one bit per page of the used
 * prefix, and the data: the pages whose map bit is set (every page that is
 * not all zero), in page order, stored as is or as one zstd frame.
 *
 * Invariants:
 * - A save never changes the file at `path` until the new file is complete:
 *   it writes `.<name>.<pid>-<n>-<rand>.tmp` in the same directory, fsyncs
 *   it, and renames it over `path` (a rename within one directory replaces
 *   the name atomically). A failed save removes its temporary file.
 * - A load trusts nothing it read until a check covers it: the header's own
 *   checksum, then the map's, then the data's, then (by the caller) the full
 *   native heap check. Every size is checked against the file's length
 *   before anything is allocated or read, so damage is `ECORRUPT` or
 *   `EVERSION`, never a crash, a hang or a huge allocation.
 *
 * Checksums are 64-bit xxHash3 (`Bun.hash.xxHash3`, seed 0), and together
 * they cover every byte of the file as stored. The raw data's checksum is a
 * hash of per-unit hashes (a unit is a run of stored pages inside one
 * aligned group of 64 pages), so saving and loading hash each piece right
 * next to its write or read, while it is in cache, instead of in a second
 * pass over the whole snapshot. zstd data is hashed as stored, and checked
 * before the decoder sees it.
 */
import {
  closeSync,
  constants as fsConstants,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  readvSync,
  renameSync,
  unlinkSync,
  writeSync,
  writevSync,
} from "node:fs";
import * as fsp from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { HeapError } from "../errors.ts";
import { loadNative } from "../ffi/loader.ts";
import { NATIVE_CONSTANTS } from "../ffi/symbols.ts";
import { readStats } from "../introspect.ts";
import type { Snapshot } from "./snapshot.ts";

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

const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;
const ABI = NATIVE_CONSTANTS.PH_ABI_VERSION;
/** The largest region this ABI makes (heap.ts MAX_REGION_SIZE). */
const MAX_REGION = 2 ** 32;

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
}

/** A header that passed every check of `parseHeader`. */
interface FileHeader {
  codec: number;
  regionBytes: number;
  usedBytes: number;
  storedPages: number;
  dataBytes: number;
  mapChecksum: bigint;
  dataChecksum: bigint;
}

/** Bytes of the map for `pages` pages: one bit each, rounded up to whole bytes. */
function mapBytesFor(pages: number): number {
  return Math.ceil(pages / 8);
}

function encodeHeader(h: FileHeader, out: Uint8Array): void {
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
  v.setBigUint64(FIELD.headerChecksum, Bun.hash.xxHash3(out.subarray(0, FIELD.headerChecksum)), true);
}

function corrupt(op: string, path: string, why: string): HeapError {
  return new HeapError("ECORRUPT", op, `${path}: ${why}`);
}

function hex(x: bigint): string {
  return `0x${x.toString(16).padStart(16, "0")}`;
}

/**
 * Check the first bytes of a file of `fileSize` bytes (`head` holds
 * min(fileSize, HEADER_BYTES) of them) and return what the header says.
 * Order matters: the magic and the version come first, since a newer
 * version may lay out (and checksum) the rest differently; every other
 * field is trusted only after the header checksum matched.
 */
function parseHeader(head: Uint8Array, fileSize: number, op: string, path: string): FileHeader {
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
  const actual = Bun.hash.xxHash3(head.subarray(0, FIELD.headerChecksum));
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
  if (regionBytes === 0 || regionBytes % PAGE !== 0 || regionBytes > MAX_REGION)
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
function mapNonZeroPages(image: Uint8Array, map: Uint8Array, op: string): number {
  const diff = loadNative().symbols.ph_pages_diff;
  const zero = (zeroWindow ??= new Uint8Array(SCAN_PAGES * PAGE));
  const pages = image.length / PAGE;
  let stored = 0;
  for (let p = 0; p < pages; p += SCAN_PAGES) {
    const n = Math.min(SCAN_PAGES, pages - p);
    const k = diff(image.subarray(p * PAGE, (p + n) * PAGE), zero, n, scanOut, SCAN_PAGES);
    if (k < 0) throw HeapError.fromNative(k, op, "scanning for zero pages");
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
function unitsOf(map: Uint8Array, pages: number): Uint32Array | null {
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
class UnitHashes {
  readonly #out: DataView;
  #n = 0;
  constructor(units: number) {
    this.#out = new DataView(new ArrayBuffer(8 * units));
  }
  add(bytes: Uint8Array): void {
    this.#out.setBigUint64(8 * this.#n++, Bun.hash.xxHash3(bytes), true);
  }
  digest(): bigint {
    return Bun.hash.xxHash3(new Uint8Array(this.#out.buffer, 0, 8 * this.#n));
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
const BATCH_BYTES = 1 << 20;
/** Async batches are larger: each costs a thread-pool round trip. */
const ASYNC_BATCH_BYTES = 4 << 20;
/** Below the usual IOV_MAX of 1024. */
const MAX_IOV = 512;

/** Units [u0, u1) read or written together, and where their data starts. */
interface Batch {
  u0: number;
  u1: number;
  /** Offset of the first unit's pages in the data (the stored pages in order). */
  at: number;
  bytes: number;
}

/** Split units into batches of about `limit` bytes and at most MAX_IOV contiguous segments. */
function batchesOf(units: Uint32Array, limit: number): Batch[] {
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
function segmentsOf(units: Uint32Array, b: Batch, image: Uint8Array): Uint8Array[] {
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
function hashInPlace(units: Uint32Array, b: Batch, image: Uint8Array, h: UnitHashes): void {
  for (let u = b.u0; u < b.u1; u += 2) h.add(image.subarray(units[u]! * PAGE, units[u + 1]! * PAGE));
}

/** The stored pages of `image`, back to back (the image itself when every page is stored). */
function packPages(units: Uint32Array, image: Uint8Array, stored: number): Uint8Array {
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
function unpackPages(units: Uint32Array, packed: Uint8Array, usedBytes: number): Uint8Array {
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
function zstdFrameProblem(data: Uint8Array, size: number): string {
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

function zstdLevel(compress: unknown, op: string): number {
  if (compress === undefined || compress === false) return 0;
  if (compress === true) return DEFAULT_ZSTD_LEVEL;
  if (typeof compress === "number" && Number.isInteger(compress) && compress >= 1 && compress <= 22) return compress;
  throw new HeapError("EINVAL", op, `compress must be a boolean or a zstd level from 1 to 22, got ${String(compress)}`);
}

// ---- file system -------------------------------------------------------------

interface Settings {
  level: number;
  fsync: boolean;
}

function settingsOf(path: unknown, options: SaveOptions | undefined, op: string): Settings {
  if (typeof path !== "string" || path === "") throw new HeapError("EINVAL", op, "path must be a non-empty string");
  if (options !== undefined && (typeof options !== "object" || options === null)) throw new HeapError("EINVAL", op, "options must be an object");
  const fsync = options?.fsync ?? true;
  if (typeof fsync !== "boolean") throw new HeapError("EINVAL", op, `fsync must be a boolean, got ${String(fsync)}`);
  return { level: zstdLevel(options?.compress, op), fsync };
}

/** A Node/Bun system error (it has a string `code` such as "ENOENT"). */
function isSystemError(e: unknown): e is Error & { code: string } {
  return e instanceof Error && typeof (e as { code?: unknown }).code === "string" && !(e instanceof HeapError);
}

/** File system errors become EIO with the OS message and `cause`; anything else passes through. */
function asHeapError(e: unknown, op: string, path: string): unknown {
  return isSystemError(e) ? new HeapError("EIO", op, `${path}: ${e.message}`, { cause: e }) : e;
}

let tempSeq = 0;

/** A fresh name next to `path` (same directory, so the rename is atomic). */
function tempPathFor(path: string): string {
  const rand = Math.floor(Math.random() * 2 ** 32).toString(16);
  return join(dirname(path), `.${basename(path).slice(0, 160)}.${process.pid}-${++tempSeq}-${rand}.tmp`);
}

/** Opening a FIFO or a device without O_NONBLOCK could wait forever. */
const READ_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);
/** Reads and writes of one buffer go in pieces of at most this (below Linux's 2 GiB cap per call). */
const IO_CHUNK = 1 << 30;

function notAFile(op: string, path: string): HeapError {
  return new HeapError("EIO", op, `${path} is not a regular file`);
}

/** Views minus their first `n` bytes. */
function advance(views: Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  while (i < views.length && n >= views[i]!.length) n -= views[i++]!.length;
  const rest = views.slice(i);
  if (n > 0) rest[0] = rest[0]!.subarray(n);
  return rest;
}

// ---- saving ----------------------------------------------------------------

/** What a save knows after looking at the snapshot, before writing. */
interface SavePlan {
  head: Uint8Array; // header + map, written last
  header: FileHeader;
  units: Uint32Array;
}

function planSave(image: Uint8Array, level: number, op: string): SavePlan {
  const pages = image.length / PAGE;
  const head = new Uint8Array(HEADER_BYTES + mapBytesFor(pages));
  const map = head.subarray(HEADER_BYTES);
  const stored = mapNonZeroPages(image, map, op);
  const units = unitsOf(map, pages)!;
  const header: FileHeader = {
    codec: level > 0 ? CODEC_ZSTD : CODEC_RAW,
    regionBytes: readStats(image, op).regionBytes,
    usedBytes: image.length,
    storedPages: stored,
    dataBytes: stored * PAGE,
    mapChecksum: Bun.hash.xxHash3(map),
    dataChecksum: 0n,
  };
  return { head, header, units };
}

function finishHead(plan: SavePlan, dataChecksum: bigint, dataBytes: number): Uint8Array {
  plan.header.dataChecksum = dataChecksum;
  plan.header.dataBytes = dataBytes;
  encodeHeader(plan.header, plan.head);
  return plan.head;
}

/** A write that reports 0 bytes would otherwise loop forever. */
function noProgress(): Error {
  return Object.assign(new Error("EIO: the write made no progress"), { code: "EIO" });
}

function writeAllSync(fd: number, views: Uint8Array[], pos: number): void {
  while (views.length > 0) {
    const n = views.length === 1 ? writeSync(fd, views[0]!, 0, Math.min(views[0]!.length, IO_CHUNK), pos) : writevSync(fd, views, pos);
    if (n <= 0) throw noProgress();
    pos += n;
    views = advance(views, n);
  }
}

async function writeAll(fh: fsp.FileHandle, views: Uint8Array[], pos: number): Promise<void> {
  while (views.length > 0) {
    const { bytesWritten: n } =
      views.length === 1 ? await fh.write(views[0]!, 0, Math.min(views[0]!.length, IO_CHUNK), pos) : await fh.writev(views, pos);
    if (n <= 0) throw noProgress();
    pos += n;
    views = advance(views, n);
  }
}

/** The directory entry of a rename reaches the device only when the directory is synced. */
function syncDirSync(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Best effort, by design: Windows cannot open a directory, and some file
    // systems refuse fsync on one. The rename itself already happened.
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

async function syncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, "r");
    await fh.sync();
  } catch {
    // Best effort, as in syncDirSync.
  } finally {
    await fh?.close();
  }
}

/**
 * Write `image`, a snapshot's used prefix, to `path` atomically. Errors:
 * EINVAL (arguments), EIO (file system, with `cause`).
 */
export function saveFileSync(path: string, image: Uint8Array, options: SaveOptions | undefined, op: string): void {
  const { level, fsync } = settingsOf(path, options, op);
  const plan = planSave(image, level, op);
  const dataAt = plan.head.length;
  const tmp = tempPathFor(path);
  let fd = -1;
  try {
    fd = openSync(tmp, "wx", 0o666);
    let head: Uint8Array;
    if (level === 0) {
      const hashes = new UnitHashes(plan.units.length / 2);
      for (const b of batchesOf(plan.units, BATCH_BYTES)) {
        hashInPlace(plan.units, b, image, hashes);
        writeAllSync(fd, segmentsOf(plan.units, b, image), dataAt + b.at);
      }
      head = finishHead(plan, hashes.digest(), plan.header.storedPages * PAGE);
    } else {
      const z = Bun.zstdCompressSync(packPages(plan.units, image, plan.header.storedPages), { level });
      writeAllSync(fd, [z], dataAt);
      head = finishHead(plan, Bun.hash.xxHash3(z), z.length);
    }
    writeAllSync(fd, [head], 0);
    if (fsync) fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // The temporary file may not exist (open failed); the first error is the one to report.
    }
    throw asHeapError(e, op, path);
  }
  if (fsync) syncDirSync(dirname(path));
}

/** The async form of {@link saveFileSync}: I/O and zstd run off the JS thread. */
export async function saveFile(path: string, image: Uint8Array, options: SaveOptions | undefined, op: string): Promise<void> {
  const { level, fsync } = settingsOf(path, options, op);
  const plan = planSave(image, level, op);
  const dataAt = plan.head.length;
  const tmp = tempPathFor(path);
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, "wx", 0o666);
    let head: Uint8Array;
    if (level === 0) {
      // One write in flight while the next batch is hashed on this thread.
      const hashes = new UnitHashes(plan.units.length / 2);
      let pending: Promise<void> | undefined;
      for (const b of batchesOf(plan.units, ASYNC_BATCH_BYTES)) {
        hashInPlace(plan.units, b, image, hashes);
        if (pending !== undefined) await pending;
        pending = writeAll(fh, segmentsOf(plan.units, b, image), dataAt + b.at);
      }
      if (pending !== undefined) await pending;
      head = finishHead(plan, hashes.digest(), plan.header.storedPages * PAGE);
    } else {
      const z = await Bun.zstdCompress(packPages(plan.units, image, plan.header.storedPages), { level });
      await writeAll(fh, [z], dataAt);
      head = finishHead(plan, Bun.hash.xxHash3(z), z.length);
    }
    await writeAll(fh, [head], 0);
    if (fsync) await fh.sync();
    const open = fh;
    fh = undefined;
    await open.close();
    await fsp.rename(tmp, path);
  } catch (e) {
    if (fh !== undefined) await fh.close().catch(() => undefined); // the first error is the one to report
    await fsp.unlink(tmp).catch(() => undefined); // it may not exist (open failed)
    throw asHeapError(e, op, path);
  }
  if (fsync) await syncDir(dirname(path));
}

// ---- loading ---------------------------------------------------------------

/** Turns a decoded used prefix into a Snapshot, after the full native check (snapshot.ts). */
export type Adopt = (image: Uint8Array) => Snapshot;

/** What a load knows once the header and the map passed their checks. */
interface LoadPlan {
  header: FileHeader;
  units: Uint32Array;
  dataAt: number;
}

function planLoad(header: FileHeader, map: Uint8Array, op: string, path: string): LoadPlan {
  const actual = Bun.hash.xxHash3(map);
  if (actual !== header.mapChecksum) throw corrupt(op, path, `page map checksum mismatch (stored ${hex(header.mapChecksum)}, computed ${hex(actual)})`);
  const units = unitsOf(map, header.usedBytes / PAGE);
  if (units === null) throw corrupt(op, path, "the page map marks pages past the used prefix");
  let stored = 0;
  for (let u = 0; u < units.length; u += 2) stored += units[u + 1]! - units[u]!;
  if (stored !== header.storedPages) throw corrupt(op, path, `the page map marks ${stored} pages; the header says ${header.storedPages}`);
  return { header, units, dataAt: HEADER_BYTES + map.length };
}

function checkData(plan: LoadPlan, actual: bigint, op: string, path: string): void {
  if (actual !== plan.header.dataChecksum)
    throw corrupt(op, path, `data checksum mismatch (stored ${hex(plan.header.dataChecksum)}, computed ${hex(actual)})`);
}

/** Check zstd data as stored (checksum, then frame) before any decoding. */
function checkZstd(plan: LoadPlan, data: Uint8Array, op: string, path: string): void {
  checkData(plan, Bun.hash.xxHash3(data), op, path);
  const problem = zstdFrameProblem(data, plan.header.storedPages * PAGE);
  if (problem !== "") throw corrupt(op, path, problem);
}

function decodedZstd(plan: LoadPlan, body: Uint8Array, op: string, path: string): Uint8Array {
  if (body.length !== plan.header.storedPages * PAGE)
    throw corrupt(op, path, `zstd data decoded to ${body.length} bytes; the header needs ${plan.header.storedPages * PAGE}`);
  return unpackPages(plan.units, body, plan.header.usedBytes);
}

function zstdFailure(e: unknown, op: string, path: string): HeapError {
  return new HeapError("ECORRUPT", op, `${path}: the zstd data does not decode (${e instanceof Error ? e.message : String(e)})`, { cause: e });
}

function finishLoad(image: Uint8Array, plan: LoadPlan, adopt: Adopt, op: string, path: string): Snapshot {
  const snap = adopt(image);
  if (snap.regionSize !== plan.header.regionBytes)
    throw corrupt(op, path, `the heap inside has a ${snap.regionSize}-byte region; the header says ${plan.header.regionBytes}`);
  return snap;
}

/** Fill `views` from the file at `pos`; running out of file means it shrank while being read. */
function readFullySync(fd: number, views: Uint8Array[], pos: number, op: string, path: string): void {
  while (views.length > 0) {
    const n = views.length === 1 ? readSync(fd, views[0]!, 0, Math.min(views[0]!.length, IO_CHUNK), pos) : readvSync(fd, views, pos);
    if (n === 0) throw corrupt(op, path, "truncated while being read");
    pos += n;
    views = advance(views, n);
  }
}

async function readFully(fh: fsp.FileHandle, views: Uint8Array[], pos: number, op: string, path: string): Promise<void> {
  while (views.length > 0) {
    const { bytesRead: n } =
      views.length === 1 ? await fh.read(views[0]!, 0, Math.min(views[0]!.length, IO_CHUNK), pos) : await fh.readv(views, pos);
    if (n === 0) throw corrupt(op, path, "truncated while being read");
    pos += n;
    views = advance(views, n);
  }
}

/**
 * Read the snapshot file at `path`, check it against the format, decode
 * it, and hand the used prefix to `adopt` (the native check). Errors:
 * ECORRUPT (damage, truncation), EVERSION (newer format, other ABI or page
 * size), EIO (file system, with `cause`), EINVAL (arguments).
 */
export function loadFileSync(path: string, op: string, adopt: Adopt): Snapshot {
  if (typeof path !== "string" || path === "") throw new HeapError("EINVAL", op, "path must be a non-empty string");
  let fd = -1;
  let image: Uint8Array;
  let plan: LoadPlan;
  try {
    fd = openSync(path, READ_FLAGS);
    const st = fstatSync(fd);
    if (!st.isFile()) throw notAFile(op, path);
    const head = new Uint8Array(Math.min(st.size, HEADER_BYTES));
    readFullySync(fd, [head], 0, op, path);
    const header = parseHeader(head, st.size, op, path);
    const map = new Uint8Array(mapBytesFor(header.usedBytes / PAGE));
    readFullySync(fd, [map], HEADER_BYTES, op, path);
    plan = planLoad(header, map, op, path);
    if (header.codec === CODEC_RAW) {
      image = new Uint8Array(header.usedBytes);
      const hashes = new UnitHashes(plan.units.length / 2);
      for (const b of batchesOf(plan.units, BATCH_BYTES)) {
        readFullySync(fd, segmentsOf(plan.units, b, image), plan.dataAt + b.at, op, path);
        hashInPlace(plan.units, b, image, hashes);
      }
      checkData(plan, hashes.digest(), op, path);
    } else {
      const data = new Uint8Array(header.dataBytes);
      readFullySync(fd, [data], plan.dataAt, op, path);
      checkZstd(plan, data, op, path);
      let body: Uint8Array;
      try {
        body = Bun.zstdDecompressSync(data);
      } catch (e) {
        throw zstdFailure(e, op, path);
      }
      image = decodedZstd(plan, body, op, path);
    }
  } catch (e) {
    throw asHeapError(e, op, path);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  return finishLoad(image, plan, adopt, op, path);
}

/** The async form of {@link loadFileSync}: I/O and zstd run off the JS thread. */
export async function loadFile(path: string, op: string, adopt: Adopt): Promise<Snapshot> {
  if (typeof path !== "string" || path === "") throw new HeapError("EINVAL", op, "path must be a non-empty string");
  let fh: fsp.FileHandle | undefined;
  let image: Uint8Array;
  let plan: LoadPlan;
  try {
    fh = await fsp.open(path, READ_FLAGS);
    const st = await fh.stat();
    if (!st.isFile()) throw notAFile(op, path);
    const head = new Uint8Array(Math.min(st.size, HEADER_BYTES));
    await readFully(fh, [head], 0, op, path);
    const header = parseHeader(head, st.size, op, path);
    const map = new Uint8Array(mapBytesFor(header.usedBytes / PAGE));
    await readFully(fh, [map], HEADER_BYTES, op, path);
    plan = planLoad(header, map, op, path);
    if (header.codec === CODEC_RAW) {
      image = new Uint8Array(header.usedBytes);
      const hashes = new UnitHashes(plan.units.length / 2);
      // One read in flight while the previous batch is hashed on this thread.
      let done: Batch | undefined;
      for (const b of batchesOf(plan.units, ASYNC_BATCH_BYTES)) {
        const reading = readFully(fh, segmentsOf(plan.units, b, image), plan.dataAt + b.at, op, path);
        if (done !== undefined) hashInPlace(plan.units, done, image, hashes);
        await reading;
        done = b;
      }
      if (done !== undefined) hashInPlace(plan.units, done, image, hashes);
      checkData(plan, hashes.digest(), op, path);
    } else {
      const data = new Uint8Array(header.dataBytes);
      await readFully(fh, [data], plan.dataAt, op, path);
      checkZstd(plan, data, op, path);
      let body: Uint8Array;
      try {
        body = await Bun.zstdDecompress(data);
      } catch (e) {
        throw zstdFailure(e, op, path);
      }
      image = decodedZstd(plan, body, op, path);
    }
  } catch (e) {
    throw asHeapError(e, op, path);
  } finally {
    await fh?.close();
  }
  return finishLoad(image, plan, adopt, op, path);
}
