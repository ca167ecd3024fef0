// Hostile snapshot inputs, made from valid ones by structure-aware
// mutations: of each field of the snapshot file (header, page map, raw data
// and its checksum units, the zstd frame) and of the heap image inside
// (header fields and links, page-map entries, run pages), with every file
// checksum recomputed so that the mutation reaches the checks behind them.
// One seeded case at a time; the test suite and scripts/hostile-snapshots.ts
// share this.
import { writeFileSync } from "node:fs";
import { HeapError } from "../../src/errors.ts";
import { NATIVE_CONSTANTS } from "../../src/ffi/symbols.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { Snapshot } from "../../src/snapshot/snapshot.ts";
import { rng, type Rng } from "./random.ts";
import { edgeValue, encode, PAGE, partsOf, rleFrame, type FileParts } from "./snapshot-craft.ts";

/** Codes a hostile input may end in (ESIZE: larger than the heap it is restored into, or than maxBytes). */
export const ALLOWED = new Set(["ECORRUPT", "EVERSION", "ESIZE"]);

/** A valid heap image to mutate, with its region size. */
export interface Base {
  image: Uint8Array;
  regionBytes: number;
  /** Pages holding the page-map leaves (after the header pages), as [first, end). */
  leaves: [number, number];
}

/** A few heaps of different shapes: small and large allocations, frees, roots, a scratch chunk, zeroOnFree. */
export function makeBases(): Base[] {
  const out: Base[] = [];
  for (const [seed, size, zeroOnFree] of [
    [1, 1 << 20, false],
    [2, 2 << 20, true],
    [3, 4 << 20, false],
  ] as const) {
    using heap = PrivateHeap.create({ size, zeroOnFree });
    const r = rng(seed);
    const live: number[] = [];
    for (let i = 0; i < 150; i++) {
      const n = r.int(0, 12) === 0 ? r.int(4097, 90_000) : r.int(1, 3000);
      const off = heap.malloc(n);
      heap.u8.fill(r.int(1, 255), off, off + Math.min(n, 32));
      live.push(off);
      if (r.int(0, 3) === 0) heap.free(live.splice(r.int(0, live.length - 1), 1)[0]!);
    }
    heap.setRoot("world", live[0]!);
    heap.setRoot("last", live[live.length - 1]!);
    const image = heap.snapshot().bytes;
    // The leaves sit between the header pages and the heap's base: see the directory.
    const leafEnd = firstNonMetaPage(image);
    out.push({ image, regionBytes: heap.size, leaves: [HEADER_PAGES, leafEnd] });
  }
  return out;
}

const HEADER_PAGES = Math.ceil(NATIVE_CONSTANTS.PH_LOCK_BLOCK_END / PAGE);
const HEADER_BYTES_STRUCT = NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET; // mutations leave the lock block alone

/** The page after leaf 0: the entries of page 0 (the header run) say how long the metadata prefix is. */
function firstNonMetaPage(image: Uint8Array): number {
  // Entry 0 of leaf 0 (16 bytes: info, size, left, right) describes the run at page 0; its size is the header's pages,
  // and the leaf run follows. Read the leaf run's entry (page HEADER_PAGES) for its size.
  const v = new DataView(image.buffer, image.byteOffset);
  const leafEntry = HEADER_PAGES * PAGE + 16 * HEADER_PAGES;
  const size = v.getUint32(leafEntry + 4, true);
  return HEADER_PAGES + (size > 0 && size < 64 ? size : 1);
}

/** One hostile input: a file's bytes, or image bytes for Snapshot.fromBytes. */
export interface Case {
  kind: string;
  file?: Uint8Array;
  image?: Uint8Array;
}

type Mutator = (b: Base, r: Rng) => Case;

function u32At(a: Uint8Array, at: number, x: number): void {
  new DataView(a.buffer, a.byteOffset).setUint32(at, x >>> 0, true);
}

/** A value a heap link might hold: page indices and offsets near the heap's edges, or junk. */
function linkValue(r: Rng, image: Uint8Array): number {
  const pages = image.length / PAGE;
  const picks = [0, 1, 2, pages - 1, pages, pages + 1, r.int(0, pages), r.int(0, pages) * PAGE, 0xffffffff, 0x7fffffff, r.int(0, 0xffff), image.length, image.length - 16];
  return picks[r.int(0, picks.length - 1)]!;
}

/** Change the heap image in a structure-aware way (the result is a used prefix of whole pages). */
function mutateImage(b: Base, r: Rng): { image: Uint8Array; what: string } {
  const image = b.image.slice();
  const v = new DataView(image.buffer);
  const hops = r.int(1, 3);
  const whats: string[] = [];
  for (let k = 0; k < hops; k++) {
    switch (r.int(0, 6)) {
      case 0: {
        // A header field (any 4-byte word before the lock block) set to a link-like value.
        const at = 4 * r.int(0, HEADER_BYTES_STRUCT / 4 - 1);
        u32At(image, at, linkValue(r, image));
        whats.push(`header word ${at}`);
        break;
      }
      case 1: {
        // A header word copied from another: two links naming the same thing (aliasing, cycles).
        const at = 4 * r.int(0, HEADER_BYTES_STRUCT / 4 - 1);
        const from = 4 * r.int(0, HEADER_BYTES_STRUCT / 4 - 1);
        u32At(image, at, v.getUint32(from, true));
        whats.push(`header word ${at} = word ${from}`);
        break;
      }
      case 2: {
        // A page-map entry field (info, size, left, right) set to a link-like value.
        const [first, end] = b.leaves;
        const entries = ((end - first) * PAGE) / 16;
        const e = r.int(0, Math.min(entries, image.length / PAGE + 8) - 1);
        const at = first * PAGE + 16 * e + 4 * r.int(0, 3);
        if (at + 4 <= image.length) u32At(image, at, linkValue(r, image));
        whats.push(`map entry ${e}`);
        break;
      }
      case 3: {
        // A page-map entry copied over another (a run claimed twice, a link into another list).
        const [first, end] = b.leaves;
        const entries = Math.min(((end - first) * PAGE) / 16, image.length / PAGE);
        const a = first * PAGE + 16 * r.int(0, entries - 1);
        const c = first * PAGE + 16 * r.int(0, entries - 1);
        image.copyWithin(a, c, c + 16);
        whats.push("map entry copied");
        break;
      }
      case 4: {
        // Bytes of a page after the metadata: run bitmaps, trailing bitmaps, data.
        const p = r.int(b.leaves[1], image.length / PAGE - 1);
        const at = p * PAGE + 4 * r.int(0, PAGE / 4 - 1);
        u32At(image, at, r.pick([0, 0xffffffff, r.int(0, 0xffffffff), linkValue(r, image)]));
        whats.push(`page ${p} word`);
        break;
      }
      case 5: {
        // A whole page copied over another (the header, a leaf, a run).
        const n = image.length / PAGE;
        const to = r.int(0, n - 1);
        const from = r.int(0, n - 1);
        if (to < HEADER_PAGES - 1 && r.int(0, 1)) break; // mostly keep the header's first page: reach the rest
        image.copyWithin(to * PAGE, from * PAGE, from * PAGE + PAGE);
        whats.push(`page ${from} over ${to}`);
        break;
      }
      default: {
        // A random byte of the header struct.
        image[r.int(0, HEADER_BYTES_STRUCT - 1)] = r.int(0, 255);
        whats.push("header byte");
      }
    }
  }
  return { image, what: whats.join(", ") };
}

const FIELDS = ["version", "codec", "flags", "abi", "pageSize", "regionBytes", "usedBytes", "storedPages", "dataBytes"] as const;

function mutateField(p: FileParts, r: Rng): string {
  const f = r.pick(FIELDS);
  switch (f) {
    case "version":
    case "codec":
      p[f] = Number(edgeValue(r, 16, BigInt(p[f])));
      break;
    case "flags":
    case "abi":
    case "pageSize":
      p[f] = Number(edgeValue(r, 32, BigInt(p[f])));
      break;
    case "dataBytes":
      p.dataBytes = edgeValue(r, 64, BigInt(p.data.length));
      break;
    default:
      p[f] = edgeValue(r, 64, p[f]);
  }
  return `field ${f}`;
}

function popcount(map: Uint8Array): number {
  let n = 0;
  for (const b of map) for (let x = b; x; x &= x - 1) n++;
  return n;
}

function mutateMap(p: FileParts, r: Rng): string {
  const map = p.map;
  const what = r.int(0, 4);
  if (what === 0) for (let k = r.int(1, 4); k > 0; k--) map[r.int(0, map.length - 1)]! ^= 1 << r.int(0, 7);
  else if (what === 1) map[map.length - 1] = 0xff; // padding bits
  else if (what === 2) map.fill(0);
  else if (what === 3) map.fill(0xff);
  else map[0]! &= 0xfc; // the heap header's pages left out
  if (r.int(0, 2) > 0) p.storedPages = BigInt(popcount(map)); // consistent count: reach the data checks
  if (p.codec === 0 && r.int(0, 1)) p.data = fitData(p.data, Number(p.storedPages));
  return `map ${what}`;
}

/** Raw data cut or padded to `pages` pages. */
function fitData(data: Uint8Array, pages: number): Uint8Array {
  const out = new Uint8Array(Math.min(pages, 4096) * PAGE);
  out.set(data.subarray(0, Math.min(data.length, out.length)));
  return out;
}

function mutateRawData(p: FileParts, r: Rng): string {
  const pages = p.data.length / PAGE;
  if (pages < 2) return "raw data (too small)";
  const d = p.data;
  switch (r.int(0, 3)) {
    case 0: {
      const a = r.int(0, pages - 1);
      const b = r.int(0, pages - 1);
      const tmp = d.slice(a * PAGE, a * PAGE + PAGE);
      d.copyWithin(a * PAGE, b * PAGE, b * PAGE + PAGE);
      d.set(tmp, b * PAGE);
      return "raw pages swapped";
    }
    case 1:
      p.data = d.slice(0, (pages - r.int(1, pages)) * PAGE);
      return "raw data cut";
    case 2: {
      // Units that split the data differently from the map: the data checksum is right for them only.
      const u: number[] = [];
      for (let left = Number(p.storedPages); left > 0; ) {
        const n = Math.min(left, r.int(1, 70));
        u.push(n);
        left -= n;
      }
      p.units = Uint32Array.from(u);
      return "raw units resplit";
    }
    default:
      d.fill(r.int(0, 255), r.int(0, d.length - 1), d.length);
      return "raw data overwritten";
  }
}

function mutateZstd(p: FileParts, r: Rng, b: Base): string {
  const z = p.data.slice();
  const fhd = z[4]!;
  const single = (fhd >>> 5) & 1;
  const fcsBytes = [single, 2, 4, 8][fhd >>> 6]!;
  const blocks = 5 + (single ? 0 : 1) + fcsBytes;
  switch (r.int(0, 7)) {
    case 0:
      z[4] = r.int(0, 255);
      p.data = z;
      return "zstd frame header byte";
    case 1: {
      // The content size field.
      const at = 5 + (single ? 0 : 1);
      for (let i = 0; i < fcsBytes; i++) z[at + i] = r.int(0, 255);
      p.data = z;
      return "zstd content size";
    }
    case 2: {
      // A block header: type, size, last bit.
      if (blocks + 3 <= z.length) {
        const h = (z[blocks]! | (z[blocks + 1]! << 8) | (z[blocks + 2]! << 16)) ^ (1 << r.int(0, 23));
        z[blocks] = h & 0xff;
        z[blocks + 1] = (h >>> 8) & 0xff;
        z[blocks + 2] = (h >>> 16) & 0xff;
      }
      p.data = z;
      return "zstd block header";
    }
    case 3:
      p.data = Uint8Array.from([...z, ...z]);
      return "zstd second frame";
    case 4:
      p.data = Uint8Array.from([...z, 0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
      return "zstd skippable frame after";
    case 5:
      p.data = z.slice(0, r.int(0, z.length - 1));
      return "zstd cut";
    case 6:
      // A bomb of the declared size: RLE blocks of junk, or behind the real header pages.
      p.data = rleFrame(Number(p.storedPages) * PAGE, r.int(0, 255), r.int(0, 1) ? new Uint8Array(0) : b.image.slice(0, 2 * PAGE));
      return "zstd rle bomb";
    default:
      for (let k = r.int(1, 8); k > 0; k--) z[r.int(blocks, z.length - 1)] = r.int(0, 255);
      p.data = z;
      return "zstd block bytes";
  }
}

/** One seeded case for base `b`. */
export function makeCase(b: Base, r: Rng): Case {
  const family = r.int(0, 9);
  const zstd = r.int(0, 2) === 0;
  if (family <= 3) {
    // The heap inside: a sound file around a damaged heap (also as bytes for fromBytes).
    const { image, what } = mutateImage(b, r);
    if (family === 0) return { kind: `image (fromBytes): ${what}`, image };
    return { kind: `image in ${zstd ? "zstd" : "raw"} file: ${what}`, file: encode(partsOf(image, b.regionBytes, zstd ? 1 : 0)) };
  }
  const p = partsOf(b.image, b.regionBytes, zstd ? 1 : 0);
  let what: string;
  if (family <= 5) what = mutateField(p, r);
  else if (family === 6) what = mutateMap(p, r);
  else if (family === 7) what = zstd ? mutateZstd(p, r, b) : mutateRawData(p, r);
  else if (family === 8) {
    what = `${mutateField(p, r)} + ${mutateMap(p, r)}`;
  } else {
    // The file cut short or extended (its header checksum still right).
    const f = encode(p);
    const cut = r.int(0, 1) ? f.slice(0, r.int(0, f.length - 1)) : Uint8Array.from([...f, ...new Uint8Array(r.int(1, 5000))]);
    return { kind: "file cut or extended", file: cut };
  }
  return { kind: `${zstd ? "zstd" : "raw"} file: ${what}`, file: encode(p) };
}

/** What happened to one case: "ok" (a consistent heap), or a HeapError code. */
export type Outcome = string;

/**
 * Run one case: load it (from `path` for files), restore it into `target`,
 * check, allocate and free there, check again; put `target` back. Throws
 * when the case ends other than in a consistent heap or an allowed code.
 */
export async function runCase(c: Case, target: PrivateHeap, clean: Snapshot, path: string, viaAsync: boolean): Promise<Outcome> {
  let snap: Snapshot;
  try {
    if (c.image !== undefined) snap = Snapshot.fromBytes(c.image);
    else {
      writeFileSync(path, c.file!);
      snap = viaAsync ? await Snapshot.load(path) : Snapshot.loadSync(path);
    }
    target.restore(snap);
  } catch (e) {
    if (e instanceof HeapError && ALLOWED.has(e.code)) {
      if (target.check() !== 0) throw new Error(`${c.kind}: a failed load left the target heap inconsistent`);
      return e.code;
    }
    throw new Error(`${c.kind}: ended in ${e instanceof HeapError ? e.message : String(e)}`);
  }
  // Accepted: it must be a heap that works.
  if (target.check() !== 0) throw new Error(`${c.kind}: accepted, but check() fails after the restore`);
  const offs: number[] = [];
  try {
    for (let i = 0; i < 40; i++) offs.push(target.malloc(1 + ((i * 977) % 20000)));
  } catch (e) {
    if (!(e instanceof HeapError && e.code === "ENOMEM")) throw new Error(`${c.kind}: accepted, but malloc failed: ${String(e)}`);
  }
  for (const o of offs.reverse()) target.free(o);
  if (target.check() !== 0) throw new Error(`${c.kind}: accepted, but check() fails after malloc/free`);
  target.restore(clean);
  return "ok";
}
