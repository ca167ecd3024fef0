// docs/replay-format.md is kept true by these tests: its tables are parsed
// and checked against the bytes the code writes, its constants against the
// exported ones, its reader rules against files built to break each one,
// and its worked example is run and compared byte for byte.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NATIVE_CONSTANTS } from "../../../src/ffi/symbols.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import * as F from "../../../src/snapshot/replay-format.ts";
import { encodeHeader, parseHeader, parseRecords, REPLAY_MAGIC, type ReplayHeader } from "../../../src/snapshot/replay-format.ts";
import { Replay } from "../../../src/snapshot/replay.ts";
import { SRC, runScript } from "../../support/bun.ts";
import { codeOf } from "../../support/expect.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";
import { referenceChecksum } from "../../support/checksum-reference.ts";

const MiB = 1 << 20;
const PAGE = 4096;
const DOC_PATH = join(import.meta.dir, "..", "..", "..", "docs", "replay-format.md");
const DOC = readFileSync(DOC_PATH, "utf8");
const heapOf = heapsClosedAfterEach(MiB);
const dir = mkdtempSync(join(tmpdir(), "privheap-replay-format-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const pathFor = () => join(dir, `r${seq++}.phreplay`);

// ---- reading the document --------------------------------------------------

/** The text under `heading` (a whole line, e.g. "## Header") up to the next heading. */
function section(heading: string): string {
  const lines = DOC.split("\n");
  const at = lines.indexOf(heading);
  if (at < 0) throw new Error(`docs/replay-format.md has no heading "${heading}"`);
  const end = lines.findIndex((l, i) => i > at && /^#{1,6} /.test(l));
  return lines.slice(at + 1, end < 0 ? undefined : end).join("\n");
}

/** The data rows of the first markdown table in `text`, as trimmed cells. */
function tableRows(text: string): string[][] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.startsWith("| "));
  if (start < 0) throw new Error("no table");
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.startsWith("|"); i++) rows.push(lines[i]!.split("|").slice(1, -1).map((c) => c.trim()));
  return rows;
}

/** `name` from a cell written as `name`, else null (reserved bytes, payload, padding). */
const fieldName = (cell: string): string | null => /^`(\w+)`$/.exec(cell)?.[1] ?? null;

/** Evaluate an offset or size cell: numbers, + - *, ceil(), and the variables L, N, n. */
function evaluate(cell: string, vars: { L?: number; N?: number; n?: number }): number {
  if (!/^[\d\sLNn+\-*/()ceil]+$/.test(cell)) throw new Error(`not an offset expression: ${cell}`);
  const f = new Function("L", "N", "n", "ceil", `return (${cell});`) as (L?: number, N?: number, n?: number, ceil?: (x: number) => number) => number;
  const v = f(vars.L, vars.N, vars.n, Math.ceil);
  if (!Number.isInteger(v)) throw new Error(`${cell} is not an integer for ${JSON.stringify(vars)}`);
  return v;
}

interface Field {
  name: string | null;
  label: string;
  offset: number;
  size: number;
  type: string;
}

/** An offset/size/type/field table for concrete values of its variables; checks that the fields tile [0, total). */
function layout(rows: string[][], vars: { L?: number; N?: number; n?: number }, total: number): Field[] {
  const fields = rows.map(([offset, size, type, field]) => ({ name: fieldName(field!), label: field!, offset: evaluate(offset!, vars), size: evaluate(size!, vars), type: type! }));
  for (let i = 0; i < fields.length; i++) {
    expect(fields[i]!.offset, `${fields[i]!.label} starts where the one before ends`).toBe(i === 0 ? 0 : fields[i - 1]!.offset + fields[i - 1]!.size);
    expect(fields[i]!.size).toBeGreaterThanOrEqual(0);
  }
  const last = fields[fields.length - 1]!;
  expect(last.offset + last.size, "the fields end where the structure ends").toBe(total);
  return fields;
}

/** The value of a field read as its documented type says (scalars as bigint, arrays as plain arrays). */
function readField(bytes: Uint8Array, at: number, f: Field): bigint | number[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset + at + f.offset, f.size);
  const width: Record<string, number> = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 };
  const scalar = /^(u8|u16|u32|i32|u64)$/.exec(f.type)?.[1];
  if (scalar !== undefined) {
    expect(f.size, `${f.label} is as wide as a ${f.type}`).toBe(width[scalar]!);
    if (scalar === "u8") return BigInt(v.getUint8(0));
    if (scalar === "u16") return BigInt(v.getUint16(0, true));
    if (scalar === "u32") return BigInt(v.getUint32(0, true));
    if (scalar === "i32") return BigInt(v.getInt32(0, true));
    return v.getBigUint64(0, true);
  }
  const array = /^(u8|u32)\[\w+\]$/.exec(f.type)?.[1];
  if (array === "u32") return Array.from({ length: f.size / 4 }, (_, i) => v.getUint32(4 * i, true));
  return Array.from(bytes.subarray(at + f.offset, at + f.offset + f.size)); // u8[..], or untyped bytes
}

/** Compare every field of a layout with `expected` (by name); unnamed fields must be zero unless `unnamed` says otherwise. */
function expectFields(bytes: Uint8Array, at: number, fields: Field[], expected: Record<string, bigint | number[]>, unnamed: Record<string, number[] | null> = {}): void {
  const named = fields.flatMap((f) => (f.name === null ? [] : [f.name]));
  expect(named.sort()).toEqual(Object.keys(expected).sort());
  for (const f of fields) {
    if (f.name !== null) expect(readField(bytes, at, f), `field ${f.name}`).toEqual(expected[f.name]!);
    else if (unnamed[f.label] !== null) expect(Array.from(bytes.subarray(at + f.offset, at + f.offset + f.size)), `${f.label} bytes`).toEqual(unnamed[f.label] ?? new Array(f.size).fill(0));
  }
}

// ---- building files --------------------------------------------------------

const ABI = NATIVE_CONSTANTS.PH_ABI_VERSION;
const GOOD_HEADER: ReplayHeader = { version: F.REPLAY_VERSION, abi: ABI, pageSize: PAGE, keyframeEvery: 4, regionBytes: MiB };

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A record framed as the document says: type, 3 zero bytes, length, payload, xxHash3 of all that. */
function frame(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + payload.length + 8);
  const v = new DataView(out.buffer);
  v.setUint8(0, type);
  v.setUint32(4, payload.length, true);
  out.set(payload, 8);
  v.setBigUint64(8 + payload.length, Bun.hash.xxHash3(out.subarray(0, 8 + payload.length)), true);
  return out;
}

function tickRecord(tick: number, input: Uint8Array, inputBytes = input.length): Uint8Array {
  const p = new Uint8Array(16 + input.length);
  const v = new DataView(p.buffer);
  v.setUint32(0, tick, true);
  v.setUint32(4, inputBytes, true);
  v.setBigUint64(8, 0x1234n, true);
  p.set(input, 16);
  return frame(1, p);
}

/** Page 0 of a fresh heap of the header's region: a heap header that declares EMPTY_USED used bytes. */
const [HEAP_HEADER_PAGE, EMPTY_USED] = (() => {
  using model = PrivateHeap.create({ size: MiB });
  return [model.u8.slice(0, PAGE), model.usedBytes] as const;
})();

/** A keyframe payload; page 0, when stored, is HEAP_HEADER_PAGE; each other page holds its own index in its first byte. */
function keyframePayload(after: number, kind: number, used: number, pages: number[], pageCount = pages.length): Uint8Array {
  const n = pages.length;
  const index = 8 * Math.ceil(n / 2);
  const p = new Uint8Array(24 + index + PAGE * n);
  const v = new DataView(p.buffer);
  v.setInt32(0, after, true);
  v.setUint8(4, kind);
  v.setBigUint64(8, BigInt(used), true);
  v.setUint32(16, pageCount, true);
  pages.forEach((page, i) => {
    v.setUint32(24 + 4 * i, page, true);
    if (page === 0) p.set(HEAP_HEADER_PAGE, 24 + index);
    else p[24 + index + i * PAGE] = page + 1;
  });
  return p;
}

const keyframeRecord = (after: number, kind: number, used: number, pages: number[]) => frame(2, keyframePayload(after, kind, used, pages));
/** The header and a good first keyframe: a file every record rule starts from. */
const start = () => concat(encodeHeader(GOOD_HEADER), keyframeRecord(-1, 0, EMPTY_USED, [0, 2]));

/** A header with `change` applied and (unless `stale`) its checksum recomputed. */
function header(change: (v: DataView) => void, stale = false): Uint8Array {
  const h = encodeHeader(GOOD_HEADER);
  const v = new DataView(h.buffer);
  change(v);
  if (!stale) v.setBigUint64(40, Bun.hash.xxHash3(h.subarray(0, 40)), true);
  return h;
}


// ---- recordings ------------------------------------------------------------

/** The example's step: add `by` to the counter under the root "n". */
function bump(heap: PrivateHeap, by: number): void {
  const n = heap.getRoot("n") >>> 3;
  heap.f64[n] = heap.f64[n]! + by;
}

/** The example's recording, in process: live values to compare the file's fields with. */
function recordCounter(ticks: number, keyframeEvery: number) {
  const heap = heapOf();
  heap.setRoot("n", heap.calloc(1, 8));
  const path = pathFor();
  const images: Uint8Array[] = [heap.u8.slice(0, heap.usedBytes)]; // the state after each keyframe's tick
  const sums: bigint[] = [];
  const inputs: Uint8Array[] = [];
  {
    // Uncompressed: the layout the document's tables describe byte for byte (type 3 is replay-compress.test.ts's).
    using rec = Replay.record(path, heap, { keyframeEvery, compress: false });
    for (let t = 0; t < ticks; t++) {
      bump(heap, t + 1); // the step
      const input = Uint8Array.of(0xaa, 0xbb, t);
      rec.tick(input);
      sums.push(heap.checksum());
      inputs.push(input);
      if ((t + 1) % keyframeEvery === 0) images.push(heap.u8.slice(0, heap.usedBytes));
    }
  }
  return { bytes: new Uint8Array(readFileSync(path)), sums, inputs, images };
}

/** The records of a file, walked by their lengths. */
function walk(bytes: Uint8Array): { at: number; type: number; length: number }[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: { at: number; type: number; length: number }[] = [];
  for (let at = F.REPLAY_HEADER_BYTES; at < bytes.length; ) {
    const length = v.getUint32(at + 4, true);
    out.push({ at, type: v.getUint8(at), length });
    at += 8 + length + 8;
  }
  return out;
}

// ---- the tests -------------------------------------------------------------

describe("docs/replay-format.md: layout", () => {
  test("the header table gives every field's offset, size and type as encodeHeader writes it", () => {
    const h: ReplayHeader = { version: F.REPLAY_VERSION, abi: 0x0a0b0c0d, pageSize: PAGE, keyframeEvery: 0x123456, regionBytes: 0x1_2345_6000 };
    const bytes = encodeHeader(h);
    expect(bytes.length).toBe(F.REPLAY_HEADER_BYTES);
    const fields = layout(tableRows(section("## Header")), {}, F.REPLAY_HEADER_BYTES);
    expectFields(bytes, 0, fields, {
      magic: Array.from(REPLAY_MAGIC),
      version: BigInt(h.version),
      flags: 0n,
      abi: BigInt(h.abi),
      pageSize: BigInt(h.pageSize),
      keyframeEvery: BigInt(h.keyframeEvery),
      regionBytes: BigInt(h.regionBytes),
      reserved: 0n,
      headerChecksum: Bun.hash.xxHash3(bytes.subarray(0, fields.find((f) => f.name === "headerChecksum")!.offset)),
    });
    // The magic as the table spells it.
    const magic = /`((?:[0-9A-F]{2} ){7}[0-9A-F]{2})`/.exec(tableRows(section("## Header"))[0]![4]!)![1]!;
    expect(magic.split(" ").map((x) => parseInt(x, 16))).toEqual(Array.from(REPLAY_MAGIC));
    // The text's checksum range is the one the table and the code use.
    expect(section("## Checksums")).toContain("`headerChecksum` covers header bytes [0, 40)");
  });

  test("the record, tick and keyframe tables match the records of a recording", () => {
    const { bytes, sums, inputs, images } = recordCounter(6, 4);
    const framing = tableRows(section("## Records"));
    const tick = tableRows(section("### Tick record (type 1)"));
    const keyframe = tableRows(section("### Keyframe record (type 2)"));
    const records = walk(bytes);
    expect(records.map((r) => r.type)).toEqual([2, 1, 1, 1, 1, 2, 1, 1]);
    let ticks = 0;
    let keyframes = 0;
    for (const r of records) {
      const L = r.length;
      const outer = layout(framing, { L }, 8 + L + 8);
      expectFields(bytes, r.at, outer, { type: BigInt(r.type), length: BigInt(L), checksum: Bun.hash.xxHash3(bytes.subarray(r.at, r.at + 8 + L)) }, { payload: null });
      const payloadAt = r.at + outer.find((f) => f.label === "payload")!.offset;
      if (r.type === F.RECORD_TICK) {
        const t = ticks++;
        const N = inputs[t]!.length;
        expectFields(bytes, payloadAt, layout(tick, { L, N }, L), { tick: BigInt(t), inputBytes: BigInt(N), heapChecksum: sums[t]!, input: Array.from(inputs[t]!) });
      } else {
        const k = keyframes++;
        const image = images[k]!;
        const after = k === 0 ? -1 : 4 * k - 1;
        // Which pages a writer stores: full = the non-zero ones; delta = those that differ from the previous image.
        const pageOf = (img: Uint8Array, p: number) => img.subarray(p * PAGE, (p + 1) * PAGE);
        const pages = Array.from({ length: image.length / PAGE }, (_, p) => p).filter((p) =>
          k === 0 ? pageOf(image, p).some((b) => b !== 0) : Buffer.compare(pageOf(image, p), pageOf(images[k - 1]!, p)) !== 0,
        );
        const n = pages.length;
        expect(n % 2, "the example has one keyframe with an odd page count, to show the padding").toBe(k === 0 ? 0 : 1);
        expectFields(
          bytes,
          payloadAt,
          layout(keyframe, { L, n }, L),
          { after: BigInt(after), kind: BigInt(k === 0 ? F.KEYFRAME_FULL : F.KEYFRAME_DELTA), usedBytes: BigInt(image.length), pageCount: BigInt(n), pages },
          { "page data": pages.flatMap((p) => Array.from(pageOf(image, p))) },
        );
        expect(L).toBe(F.keyframePayloadBytes(n));
      }
    }
    // The prose formulas for record sizes.
    expect(section("### Tick record (type 1)")).toContain("`8 + 16 + N + 8 = 32 + N` bytes");
    expect(section("### Keyframe record (type 2)")).toContain("`L = 24 + 8 * ceil(n / 2) + 4096 * n`");
    for (const n of [0, 1, 2, 7]) expect(F.keyframePayloadBytes(n)).toBe(24 + 8 * Math.ceil(n / 2) + 4096 * n);
  });

  test("the constants table lists every exported number with its value, and FULL_EVERY as the writer behaves", () => {
    const rows = tableRows(section("## Constants"));
    const documented = Object.fromEntries(rows.map(([name, value]) => [fieldName(name!)!, Number(value)]));
    const full = documented.FULL_EVERY;
    delete documented.FULL_EVERY;
    const exported = Object.fromEntries(Object.entries(F).filter(([, v]) => typeof v === "number"));
    expect(documented).toEqual(exported as Record<string, number>);
    expect(full).toBeGreaterThan(1);
    // 41 keyframes (K = 1) of a heap where one page changes per tick: a delta
    // is always smaller, so the full ones are exactly the forced ones.
    const heap = heapOf();
    const at = heap.calloc(1, 8);
    heap.u8[at] = 1; // so a full keyframe stores at least one page more than a delta
    const path = pathFor();
    {
      using rec = Replay.record(path, heap, { keyframeEvery: 1 });
      for (let t = 0; t < 40; t++) {
        heap.f64[at >>> 3] = heap.f64[at >>> 3]! + 1;
        rec.tick(new Uint8Array(0));
      }
    }
    const file = new Uint8Array(readFileSync(path));
    const kinds = parseRecords(file, parseHeader(file, "test", path), "test").keyframes.map((k) => k.kind);
    expect(kinds.length).toBe(41);
    expect(kinds).toEqual(kinds.map((_, i) => (i % full! === 0 ? F.KEYFRAME_FULL : F.KEYFRAME_DELTA)));
    expect(section("## Keyframe images")).toContain(`**full when \`i % ${full} == 0\`**`);
  });
});

describe("docs/replay-format.md: ticks, keyframes and images", () => {
  test("keyframes follow ticks K-1, 2K-1, ...; there are 1 + floor(T / K); seek runs (t + 1) % K steps", () => {
    for (const [T, K] of [[6, 4], [10, 1], [13, 5]] as const) {
      const { bytes } = recordCounter(T, K);
      const replay = Replay.fromBytes(bytes);
      const expected = [-1, ...Array.from({ length: T }, (_, t) => t).filter((t) => (t + 1) % K === 0)];
      expect(replay.keyframes).toEqual(expected);
      expect(replay.keyframes.length).toBe(1 + Math.floor(T / K));
      const heap = heapOf();
      for (let t = -1; t < T; t++) {
        let steps = 0;
        replay.seek(t, heap, (h, _input, tick) => {
          steps++;
          bump(h, tick + 1);
        });
        expect(steps, `T ${T} K ${K} seek(${t})`).toBe((t + 1) % K);
        if (t >= 0) expect(heap.checksum()).toBe(replay.checksum(t));
      }
    }
  });

  // The heap checksum as docs/checksum.md defines it (the reference implementation), and the lock block the Checksums section names.
  const [, lockFrom, lockTo] = /lock\s+block, bytes \[(\d+), (\d+)\)/.exec(DOC)!.map(Number);
  const documentedChecksum = (u: Uint8Array) => referenceChecksum(u);

  test("the lock block the Checksums section names is the header's", () => {
    expect([lockFrom, lockTo]).toEqual([NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET, NATIVE_CONSTANTS.PH_LOCK_BLOCK_END]);
  });

  test("the image of the keyframe after tick t hashes to tick t's heap checksum", () => {
    const { bytes, sums, images } = recordCounter(13, 4);
    const replay = Replay.fromBytes(bytes);
    for (const [k, after] of replay.keyframes.entries()) {
      const image = replay.keyframe(after).bytes;
      expect(Array.from(image)).toEqual(Array.from(images[k]!));
      if (after < 0) continue;
      expect(documentedChecksum(image)).toBe(sums[after]!);
      // Whatever the lock block holds, the checksum is the same; any other header byte changes it.
      image.fill(0xa5, lockFrom!, lockTo!);
      expect(documentedChecksum(image)).toBe(sums[after]!);
      image[lockFrom! - 1]! ^= 1;
      expect(documentedChecksum(image)).not.toBe(sums[after]!);
    }
  });
});

describe("docs/replay-format.md: reading", () => {
  // One file per row of the header checks table, in its order; each fails that check only.
  const headerCases: [string, () => Uint8Array][] = [
    ["short", () => start().subarray(0, F.REPLAY_HEADER_BYTES - 1)],
    ["magic", () => concat(header((v) => v.setUint8(1, 0x51)), start().subarray(48))],
    ["newer version, stale checksum", () => concat(header((v) => v.setUint16(8, F.REPLAY_VERSION + 1, true), true), start().subarray(48))],
    ["checksum", () => concat(header((v) => v.setUint8(33, 1), true), start().subarray(48))],
    ["version 0", () => concat(header((v) => v.setUint16(8, 0, true)), start().subarray(48))],
    ["version 1", () => concat(header((v) => v.setUint16(8, 1, true)), start().subarray(48))],
    ["flags", () => concat(header((v) => v.setUint16(10, 2, true)), start().subarray(48))],
    ["abi", () => concat(header((v) => v.setUint32(12, ABI + 1, true)), start().subarray(48))],
    ["page size", () => concat(header((v) => v.setUint32(16, 2 * PAGE, true)), start().subarray(48))],
    ["keyframeEvery 0", () => concat(header((v) => v.setUint32(20, 0, true)), start().subarray(48))],
    ["region size", () => concat(header((v) => v.setBigUint64(24, BigInt(MiB + 1), true)), start().subarray(48))],
  ];

  test("each header check of the table fails the whole file with the documented code, in that order", () => {
    const rows = tableRows(section("## Reading: checks and outcomes"));
    expect(rows.map((r) => Number(r[0]))).toEqual(headerCases.map((_, i) => i + 1));
    expect(Replay.fromBytes(start()).keyframes).toEqual([-1]); // the cases start from a good file
    for (const [i, [name, build]] of headerCases.entries()) expect(`${i + 1} ${name}: ${codeOf(() => Replay.fromBytes(build()))}`).toBe(`${i + 1} ${name}: ${/`(E[A-Z]+)`/.exec(rows[i]![2]!)![1]}`);
    // Region sizes at the documented bounds.
    const region = (bytes: number) => codeOf(() => parseHeader(header((v) => v.setBigUint64(24, BigInt(bytes), true)), "test", "region"));
    expect([region(PAGE), region(2 ** 32), region(2 ** 32 + PAGE), region(0)]).toEqual(["(no error)", "(no error)", "ECORRUPT", "ECORRUPT"]);
  });

  test("a version-1 file is refused with EVERSION, saying that its heap checksums have another definition and to record it again", () => {
    const v1 = concat(header((v) => v.setUint16(8, 1, true)), start().subarray(48));
    let message = "";
    try {
      Replay.fromBytes(v1);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(codeOf(() => Replay.fromBytes(v1))).toBe("EVERSION");
    expect(message).toContain("format version 1");
    expect(message).toContain("heap checksums of an earlier definition");
    expect(message).toContain("record it again with this version");
    expect(F.REPLAY_VERSION).toBe(2);
    expect(section("## Versioning")).toContain("A version-1 file is refused with `EVERSION`");
  });

  // One file per row of the record checks table, in its order: [file, offset of the bad record].
  const tick0 = tickRecord(0, Uint8Array.of(1, 2, 3));
  const recordCases: (() => [Uint8Array, number])[] = [
    () => [concat(start(), tick0.subarray(0, tick0.length - 1)), start().length],
    () => {
      const bad = tick0.slice();
      bad[20] = bad[20]! ^ 1;
      return [concat(start(), bad), start().length];
    },
    () => [concat(start(), frame(3, new Uint8Array(16))), start().length],
    () => [concat(encodeHeader(GOOD_HEADER), tick0), 48],
    () => [concat(start(), frame(1, new Uint8Array(15))), start().length],
    () => [concat(start(), tickRecord(5, Uint8Array.of(1))), start().length],
    () => [concat(start(), tickRecord(0, Uint8Array.of(1, 2, 3), 2)), start().length],
    () => [concat(start(), tick0, frame(2, new Uint8Array(23))), start().length + tick0.length],
    () => [concat(start(), tick0, keyframeRecord(5, 0, PAGE, [0])), start().length + tick0.length],
    () => [concat(start(), keyframeRecord(-1, 1, PAGE, [0])), start().length],
    () => [concat(start(), tick0, keyframeRecord(0, 2, PAGE, [0])), start().length + tick0.length],
    () => [concat(encodeHeader(GOOD_HEADER), keyframeRecord(-1, 1, PAGE, [0])), 48],
    () => [concat(start(), tick0, keyframeRecord(0, 0, PAGE + 8, [0])), start().length + tick0.length],
    () => [concat(start(), tick0, frame(2, keyframePayload(0, 0, 2 * PAGE, [0], 2))), start().length + tick0.length],
    () => [concat(start(), tick0, keyframeRecord(0, 0, 3 * PAGE, [2, 1])), start().length + tick0.length],
    () => [concat(start(), tick0, keyframeRecord(0, 0, EMPTY_USED, [1, 2])), start().length + tick0.length],
    () => [concat(start(), tick0, keyframeRecord(0, 0, EMPTY_USED + PAGE, [0, 2, 4])), start().length + tick0.length],
  ];

  test("each record check of the table stops the walk there with the documented reason, keeping what came before", () => {
    const text = section("## Reading: checks and outcomes");
    const rows = tableRows(text.slice(text.indexOf("| # | record check")));
    expect(rows.map((r) => Number(r[0]))).toEqual(recordCases.map((_, i) => i + 1));
    for (const [i, build] of recordCases.entries()) {
      const [file, at] = build();
      const reason = /^`(.+)`$/.exec(rows[i]![2]!)![1]!;
      const pattern = new RegExp(`^${reason.replace(/[.*+?^${}()[\]\\]/g, "\\$&").replaceAll("<n>", "-?\\d+")}$`);
      const parsed = parseRecords(file, parseHeader(file, "test", `case ${i + 1}`), "test");
      expect(parsed.torn, `row ${i + 1}`).not.toBeNull();
      expect(parsed.torn!.reason, `row ${i + 1}`).toMatch(pattern);
      expect(parsed.torn!.offset, `row ${i + 1}`).toBe(at);
      expect(parsed.torn!.bytes, `row ${i + 1}`).toBe(file.length - at);
      // The records before it are read: as many ticks as before `at`.
      expect(parsed.ticks.length, `row ${i + 1}`).toBe(at > start().length ? 1 : 0);
      // With a keyframe read the file opens and reports the tail; without one it is ECORRUPT.
      if (parsed.keyframes.length > 0) expect(Replay.fromBytes(file).torn).toEqual(parsed.torn);
      else expect(() => Replay.fromBytes(file)).toThrow(/no readable keyframe/);
      if (parsed.keyframes.length === 0) expect(codeOf(() => Replay.fromBytes(file))).toBe("ECORRUPT");
    }
  });

  test("a record after a torn one is not read, even when it would pass", () => {
    const bad = tickRecord(0, Uint8Array.of(9));
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
    const file = concat(start(), bad, tickRecord(0, Uint8Array.of(9)));
    const replay = Replay.fromBytes(file);
    expect(replay.ticks).toBe(0);
    expect(replay.torn).toEqual({ offset: start().length, bytes: file.length - start().length, reason: "record checksum mismatch" });
  });

  test("a tail of zero bytes (as a power loss can leave) is a torn tail, not an error", () => {
    const { bytes } = recordCounter(6, 4);
    for (const zeros of [1, 15, 16, 4096]) {
      const replay = Replay.fromBytes(concat(bytes, new Uint8Array(zeros)));
      expect(replay.ticks).toBe(6);
      expect(replay.torn?.offset).toBe(bytes.length);
    }
  });
});

describe("docs/replay-format.md: the example", () => {
  test("the script writes exactly the file the table and the hex dumps show", async () => {
    const text = section("## Example");
    const code = /```ts\n([\s\S]*?)```/.exec(text)![1]!;
    const cwd = mkdtempSync(join(dir, "example-"));
    const r = await runScript(code.replaceAll('from "privheap"', `from ${JSON.stringify(join(SRC, "index.ts"))}`), {}, cwd);
    expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
    const bytes = new Uint8Array(readFileSync(join(cwd, "example.phreplay")));

    expect(bytes.length).toBe(Number(/The file is (\d+) bytes/.exec(text)![1]));
    // The table of records.
    const parsed = parseRecords(bytes, parseHeader(bytes, "test", "example"), "test");
    expect(parsed.torn).toBeNull();
    const described: string[][] = [["0", String(F.REPLAY_HEADER_BYTES), "header"]];
    let ticks = 0;
    let keyframes = 0;
    for (const rec of walk(bytes)) {
      let what: string;
      if (rec.type === F.RECORD_TICK) what = `tick ${ticks++}`;
      else {
        const k = parsed.keyframes[keyframes++]!;
        const n = k.delta.pages.length;
        what = `keyframe after tick ${k.after}, ${k.kind === F.KEYFRAME_FULL ? "full" : "delta"}, ${n} page${n === 1 ? "" : "s"} (${Array.from(k.delta.pages).join(", ")})`;
      }
      described.push([String(rec.at), String(8 + rec.length + 8), what]);
    }
    expect(tableRows(text.slice(text.indexOf("| offset | bytes | record |")))).toEqual(described);
    // The used prefix the prose states.
    expect(text).toContain(`used prefix is ${parsed.keyframes[0]!.delta.length / PAGE} pages (${parsed.keyframes[0]!.delta.length} bytes)`);

    // Every byte of the hex dumps, at its offset.
    const lines = [...text.matchAll(/^([0-9a-f]{8}): ([0-9a-f ]{39})/gm)];
    expect(lines.length).toBeGreaterThanOrEqual(3 + 2);
    let shown = 0;
    for (const [line, offset, hex] of lines) {
      const at = parseInt(offset!, 16);
      const want = hex!.replaceAll(" ", "");
      expect(Buffer.from(bytes.subarray(at, at + want.length / 2)).toString("hex"), line).toBe(want);
      shown += want.length / 2;
    }
    expect(shown).toBe(F.REPLAY_HEADER_BYTES + 40 + 35); // the header, a keyframe's start and one tick record
  });
});
