// Crafting snapshot files (docs/snapshot-format.md) from their parts, with
// every checksum recomputed, so that a test or the hostile-input campaign
// can change any field, the page map, the data (raw pages or a zstd frame)
// or the heap image inside, and still reach the check behind the checksums.
// Written from the format document, independently of src/snapshot/file*.ts.
import { NATIVE_CONSTANTS } from "../../src/ffi/symbols.ts";
import type { Rng } from "./random.ts";

export const PAGE = 4096;
export const HEADER_BYTES = 80;
const MAGIC = [0x89, 0x50, 0x48, 0x53, 0x4e, 0x41, 0x50, 0x0a];

/** The parts of a snapshot file; `encode` lays them out and seals them. */
export interface FileParts {
  version: number;
  codec: number;
  flags: number;
  abi: number;
  pageSize: number;
  regionBytes: bigint;
  usedBytes: bigint;
  storedPages: bigint;
  dataBytes: bigint | null; // null: the data's length
  map: Uint8Array;
  data: Uint8Array; // packed pages (raw) or a zstd frame
  /** Stored pages per unit for the raw data checksum; null: computed from the map. */
  units: Uint32Array | null;
}

export function isZeroPage(image: Uint8Array, p: number): boolean {
  const w = new Uint32Array(image.buffer, image.byteOffset + p * PAGE, PAGE / 4);
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) return false;
  return true;
}

/** The parts of a valid file holding `image` (a used prefix of a heap of `regionBytes`). */
export function partsOf(image: Uint8Array, regionBytes: number, zstdLevel = 0): FileParts {
  const pages = image.length / PAGE;
  const map = new Uint8Array(Math.ceil(pages / 8));
  const stored: number[] = [];
  for (let p = 0; p < pages; p++)
    if (!isZeroPage(image, p)) {
      map[p >> 3]! |= 1 << (p & 7);
      stored.push(p);
    }
  const packed = new Uint8Array(stored.length * PAGE);
  stored.forEach((p, i) => packed.set(image.subarray(p * PAGE, (p + 1) * PAGE), i * PAGE));
  return {
    version: 1,
    codec: zstdLevel > 0 ? 1 : 0,
    flags: 0,
    abi: NATIVE_CONSTANTS.PH_ABI_VERSION,
    pageSize: PAGE,
    regionBytes: BigInt(regionBytes),
    usedBytes: BigInt(image.length),
    storedPages: BigInt(stored.length),
    dataBytes: null,
    map,
    data: zstdLevel > 0 ? new Uint8Array(Bun.zstdCompressSync(packed, { level: zstdLevel })) : packed,
    units: null,
  };
}

/** Checksum units of a map over `pages` pages: runs of set bits not crossing a multiple of 64. */
export function unitsOfMap(map: Uint8Array, pages: number): number[] {
  pages = Math.min(pages, map.length * 8); // a header field may claim any number
  const units: number[] = [];
  let run = 0;
  for (let p = 0; p < pages; p++) {
    const set = (map[p >> 3]! >> (p & 7)) & 1;
    if (set && p % 64 === 0 && run > 0) {
      units.push(run);
      run = 0;
    }
    if (set) run++;
    else if (run > 0) {
      units.push(run);
      run = 0;
    }
  }
  if (run > 0) units.push(run);
  return units;
}

/** The file bytes: header, map, data, with all three checksums computed over what is there. */
export function encode(parts: FileParts): Uint8Array {
  const dataChecksum =
    parts.codec === 1
      ? Bun.hash.xxHash3(parts.data)
      : rawDataChecksum(parts.data, parts.units ?? Uint32Array.from(unitsOfMap(parts.map, Number(parts.usedBytes) / PAGE)));
  const out = new Uint8Array(HEADER_BYTES + parts.map.length + parts.data.length);
  const v = new DataView(out.buffer);
  out.set(MAGIC, 0);
  v.setUint16(8, parts.version, true);
  v.setUint16(10, parts.codec, true);
  v.setUint32(12, parts.flags, true);
  v.setUint32(16, parts.abi, true);
  v.setUint32(20, parts.pageSize, true);
  v.setBigUint64(24, parts.regionBytes, true);
  v.setBigUint64(32, parts.usedBytes, true);
  v.setBigUint64(40, parts.storedPages, true);
  v.setBigUint64(48, parts.dataBytes ?? BigInt(parts.data.length), true);
  v.setBigUint64(56, Bun.hash.xxHash3(parts.map), true);
  v.setBigUint64(64, dataChecksum, true);
  v.setBigUint64(72, Bun.hash.xxHash3(out.subarray(0, 72)), true);
  out.set(parts.map, HEADER_BYTES);
  out.set(parts.data, HEADER_BYTES + parts.map.length);
  return out;
}

/** The raw data checksum: the hash of the units' hashes (units in pages; the data may be shorter). */
function rawDataChecksum(data: Uint8Array, units: Uint32Array): bigint {
  const list = new DataView(new ArrayBuffer(8 * units.length));
  let at = 0;
  units.forEach((n, i) => {
    list.setBigUint64(8 * i, Bun.hash.xxHash3(data.subarray(at, at + n * PAGE)), true);
    at += n * PAGE;
  });
  return Bun.hash.xxHash3(new Uint8Array(list.buffer));
}

// ---- zstd frames made by hand ---------------------------------------------------

const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const BLOCK = 128 * 1024;

/**
 * A zstd frame of RLE blocks (4 bytes per 128 KiB): `size` bytes of `byte`,
 * after `prefix` stored as a raw block. It declares its size (8-byte field).
 * Tiny on disk, any size decoded: the decompression bomb.
 */
export function rleFrame(size: number, byte: number, prefix: Uint8Array = new Uint8Array(0)): Uint8Array {
  // FHD 0xc0: an 8-byte content size, not single segment, so a window descriptor (2^27 bytes) follows.
  const parts: number[] = [...ZSTD_MAGIC, 0xc0, 0x88];
  const fcs = new DataView(new ArrayBuffer(8));
  fcs.setBigUint64(0, BigInt(size), true);
  parts.push(...new Uint8Array(fcs.buffer));
  const blocks: number[] = [];
  let left = size;
  for (let at = 0; at < prefix.length; at += BLOCK) {
    const n = Math.min(BLOCK, prefix.length - at);
    left -= n;
    blocks.push(...blockHeader(n, 0, left === 0), ...prefix.subarray(at, at + n));
  }
  while (left > 0) {
    const n = Math.min(BLOCK, left);
    left -= n;
    blocks.push(...blockHeader(n, 1, left === 0), byte);
  }
  return Uint8Array.from([...parts, ...blocks]);
}

function blockHeader(size: number, type: number, last: boolean): number[] {
  const h = (size << 3) | (type << 1) | (last ? 1 : 0);
  return [h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff];
}

/**
 * A snapshot file (zstd) whose header declares a used prefix of `usedBytes`
 * (every page stored) in a region of `regionBytes`, with data that decode to
 * that many bytes of `byte` after `prefix`: small on disk, huge decoded.
 */
export function zstdBomb(usedBytes: number, byte = 0x41, prefix?: Uint8Array, regionBytes = usedBytes): Uint8Array {
  const pages = usedBytes / PAGE;
  const map = new Uint8Array(Math.ceil(pages / 8)).fill(0xff);
  if (pages % 8) map[map.length - 1] = (1 << (pages % 8)) - 1;
  return encode({
    version: 1,
    codec: 1,
    flags: 0,
    abi: NATIVE_CONSTANTS.PH_ABI_VERSION,
    pageSize: PAGE,
    regionBytes: BigInt(regionBytes),
    usedBytes: BigInt(usedBytes),
    storedPages: BigInt(pages),
    dataBytes: null,
    map,
    data: rleFrame(usedBytes, byte, prefix),
    units: null,
  });
}

// ---- structure-aware mutation ---------------------------------------------------

/** Values worth trying in an integer field of `bits` bits. */
export function edgeValue(r: Rng, bits: 16 | 32 | 64, near: bigint): bigint {
  const max = (1n << BigInt(bits)) - 1n;
  const picks = [0n, 1n, max, max - 1n, near, near + 1n, near - 1n, near * 2n, near / 2n, near + BigInt(PAGE), near - BigInt(PAGE), 1n << 53n, 1n << 31n, 1n << 32n, BigInt(r.int(0, 0xffff)), (1n << 31n) * 2n * 1024n];
  const v = picks[r.int(0, picks.length - 1)]!;
  return v < 0n ? 0n : v > max ? max : v;
}
