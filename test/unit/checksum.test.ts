// The heap checksum (docs/checksum.md): the native code against the
// reference implementation written from the document, the document's
// constants and test vectors, and PageHashes (the incremental form) against
// the full checksum through random changes, growth and shrink.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { heapChecksum, PageHashes } from "../../src/checksum.ts";
import { NATIVE_CONSTANTS } from "../../src/ffi/symbols.ts";
import { PrivateHeap } from "../../src/heap.ts";
import * as R from "../support/checksum-reference.ts";
import { codeOf, expectCode } from "../support/expect.ts";
import { heapsClosedAfterEach } from "../support/heaps.ts";
import { rng, type Rng } from "../support/random.ts";

const PAGE = 4096;
const LOCK_FROM = NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET;
const LOCK_TO = NATIVE_CONSTANTS.PH_LOCK_BLOCK_END;
const DOC = readFileSync(join(import.meta.dir, "..", "..", "docs", "checksum.md"), "utf8");
const heapOf = heapsClosedAfterEach(1 << 20);

function randomBytes(r: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = r.int(0, 255);
  return out;
}

/** The native checksum and the reference one, which must agree. */
function both(bytes: Uint8Array): bigint {
  const native = heapChecksum(bytes);
  expect(R.referenceChecksum(bytes)).toBe(native);
  return native;
}

/** The rows of the first markdown table after `heading`, as trimmed cells. */
function tableAfter(heading: string): string[][] {
  const lines = DOC.slice(DOC.indexOf(heading)).split("\n");
  const start = lines.findIndex((l) => l.startsWith("| "));
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.startsWith("|"); i++) rows.push(lines[i]!.split("|").slice(1, -1).map((c) => c.trim()));
  return rows;
}

describe("docs/checksum.md", () => {
  test("the constants table gives the square-root constants, with the lowest bit set", () => {
    const rows = tableAfter("### Constants");
    expect(rows.length).toBe(7);
    for (const [name, prime, value] of rows) expect({ name, value: BigInt(value!.replaceAll("`", "")) }).toEqual({ name, value: R.sqrtConstant(Number(prime)) });
    // The derivation itself, for sqrt(2): 1.4142135623730950488...
    expect(Number(R.sqrtConstant(2) >> 11n) / 2 ** 53).toBeCloseTo(Math.SQRT2 - 1, 15);
  });

  test("each test vector is what the native code and the reference compute", () => {
    const pattern = (n: number) => Uint8Array.from({ length: PAGE * n }, (_, o) => (o * 131 + (o >> 12) * 7) % 256);
    expect(DOC).toContain("`(o * 131 + (o >> 12) * 7) mod 256`");
    const inputs: Record<string, () => Uint8Array> = {
      "none (`u = 0`)": () => new Uint8Array(0),
      "4096 zero bytes": () => new Uint8Array(PAGE),
      "8192 zero bytes": () => new Uint8Array(2 * PAGE),
      "`pattern(1)`": () => pattern(1),
      "`pattern(3)`": () => pattern(3),
      "`pattern(3)` with bytes [6480, 6504) set to `0xff`": () => pattern(3).fill(0xff, 6480, 6504),
    };
    const rows = tableAfter("## Test vectors");
    expect(rows.map((r) => r[0])).toEqual(Object.keys(inputs));
    for (const [label, value] of rows) expect({ label, sum: both(inputs[label!]!()) }).toEqual({ label, sum: BigInt(value!.replaceAll("`", "")) });
  });

  test("the lock block the document names is the header's", () => {
    expect(DOC).toContain(`Bytes \`[${LOCK_FROM}, ${LOCK_TO})\` of the region`);
    expect(Math.floor(LOCK_FROM / PAGE)).toBe(1);
    expect(Math.floor((LOCK_TO - 1) / PAGE)).toBe(1);
  });
});

describe("the native checksum equals the reference", () => {
  test("random pages, zero pages and prefixes of every length", () => {
    const r = rng(0xc0ffee);
    const region = randomBytes(r, 6 * PAGE);
    region.fill(0, 2 * PAGE, 3 * PAGE); // a zero page among random ones
    const sums = new Set<bigint>();
    for (let n = 0; n <= 6; n++) sums.add(both(region.subarray(0, n * PAGE)));
    expect(sums.size).toBe(7);
    // All-zero prefixes: only the page indices and the length tell them apart.
    const zeros = new Set<bigint>();
    for (let n = 0; n <= 4; n++) zeros.add(both(new Uint8Array(n * PAGE)));
    expect(zeros.size).toBe(5);
  });

  test("one bit changed anywhere outside the lock block changes it", () => {
    const r = rng(0xb17);
    const region = randomBytes(r, 3 * PAGE);
    const base = both(region);
    // Bits at random places, and at the edges of pages and of the lock block.
    const places = [0, PAGE - 1, PAGE, LOCK_FROM - 1, LOCK_TO, 2 * PAGE - 1, 3 * PAGE - 1, ...Array.from({ length: 12 }, () => r.int(0, 3 * PAGE - 1))];
    for (const at of places.filter((p) => p < LOCK_FROM || p >= LOCK_TO)) {
      const bit = 1 << r.int(0, 7);
      region[at]! ^= bit;
      expect({ at, bit, changed: both(region) !== base }).toEqual({ at, bit, changed: true });
      region[at]! ^= bit;
    }
    // Every bit, natively (the reference is too slow for 98,304 of them).
    let missed = 0;
    for (let at = 0; at < region.length; at++) {
      if (at >= LOCK_FROM && at < LOCK_TO) continue;
      for (let b = 0; b < 8; b++) {
        region[at]! ^= 1 << b;
        if (heapChecksum(region) === base) missed++;
        region[at]! ^= 1 << b;
      }
    }
    expect(missed).toBe(0);
  });

  test("the lock block's bytes do not count; the bytes just outside it do", () => {
    const region = randomBytes(rng(0x10c), 2 * PAGE);
    const base = both(region);
    for (const fill of [0, 0xff, 0x5a]) expect(both(region.slice().fill(fill, LOCK_FROM, LOCK_TO))).toBe(base);
    for (const at of [LOCK_FROM - 1, LOCK_TO]) {
      const changed = region.slice();
      changed[at]! ^= 0x80;
      expect({ at, sum: both(changed) }).not.toEqual({ at, sum: base });
    }
  });

  test("swapped pages, and equal pages at other places, give other checksums", () => {
    const r = rng(0x5a9);
    const region = randomBytes(r, 4 * PAGE);
    const base = both(region);
    const swapped = region.slice();
    swapped.set(region.subarray(0, PAGE), 3 * PAGE);
    swapped.set(region.subarray(3 * PAGE, 4 * PAGE), 0);
    expect(both(swapped)).not.toBe(base);
    const same = new Uint8Array(4 * PAGE);
    for (let p = 0; p < 4; p++) same.set(region.subarray(0, PAGE), p * PAGE);
    const pages = new Set(Array.from({ length: 4 }, (_, i) => R.pageHash(same, i)));
    expect(pages.size).toBe(4);
  });

  test("a length that is not whole pages is EINVAL", () => {
    for (const n of [1, PAGE - 1, PAGE + 8]) expect(codeOf(() => heapChecksum(new Uint8Array(n)))).toBe("EINVAL");
  });
});

describe("PageHashes", () => {
  test("through random changes, growth and shrink, each update equals the full checksum", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = rng(seed);
      const CAP = 40;
      const region = randomBytes(r, CAP * PAGE);
      const sums = new PageHashes();
      let used = r.int(1, CAP) * PAGE;
      expect(sums.update(region, used, null, 0)).toBe(heapChecksum(region.subarray(0, used)));
      for (let round = 0; round < 150; round++) {
        const before = used / PAGE;
        const list: number[] = [];
        for (let c = r.int(0, 4); c > 0; c--) {
          const p = r.int(0, CAP - 1);
          region[p * PAGE + r.int(0, PAGE - 1)]! ^= r.int(1, 255);
          if (p < before) list.push(p); // pages above the prefix come back through its growth, unlisted
        }
        if (r.next() < 0.3) list.push(r.int(0, CAP - 1)); // listed, unchanged or beyond the prefix
        if (list.length > 0 && r.next() < 0.2) list.push(list[0]!); // listed twice
        const move = r.int(0, 3);
        if (move === 1) used = r.int(0, CAP) * PAGE;
        if (move === 2) used = Math.min(CAP, before + r.int(1, 8)) * PAGE;
        const pages = Uint32Array.from([...list, 0xdead]); // longer than n: only the first n count
        const got = sums.update(region, used, pages, list.length);
        expect({ seed, round, sum: got }).toEqual({ seed, round, sum: heapChecksum(region.subarray(0, used)) });
      }
    }
  });

  test("listed pages past the prefix are ignored, however far", () => {
    const region = randomBytes(rng(8), 8 * PAGE);
    const sums = new PageHashes();
    sums.update(region, 4 * PAGE, null, 0);
    region[PAGE]! ^= 1;
    expect(sums.update(region, 4 * PAGE, Uint32Array.of(2 ** 32 - 1, 1, 7, 4), 4)).toBe(heapChecksum(region.subarray(0, 4 * PAGE)));
    expect(sums.update(region, 8 * PAGE, Uint32Array.of(2 ** 31), 1)).toBe(heapChecksum(region));
  });

  test("an unlisted change is not seen until listed, or until pages is null", () => {
    const region = randomBytes(rng(7), 8 * PAGE);
    const sums = new PageHashes();
    const old = sums.update(region, region.length, null, 0);
    region[5 * PAGE + 9]! ^= 1;
    const full = heapChecksum(region);
    expect(full).not.toBe(old);
    expect(sums.update(region, region.length, new Uint32Array(0), 0)).toBe(old); // the cached hash answers
    expect(sums.update(region, region.length, Uint32Array.of(5), 1)).toBe(full);
    region[2 * PAGE]! ^= 1;
    expect(sums.update(region, region.length, null, 0)).toBe(heapChecksum(region));
  });

  test("bad arguments are EINVAL and leave the hashes as they were", () => {
    const region = randomBytes(rng(9), 8 * PAGE);
    const sums = new PageHashes();
    sums.update(region, 6 * PAGE, null, 0);
    region[3 * PAGE]! ^= 1;
    expect(codeOf(() => sums.update(region, 6 * PAGE + 1, Uint32Array.of(3), 1))).toBe("EINVAL");
    expect(codeOf(() => sums.update(region, 6 * PAGE, Uint32Array.of(3), 2))).toBe("EINVAL");
    // Had a refused call hashed page 3, this would hold without listing it.
    expect(sums.update(region, 6 * PAGE, new Uint32Array(0), 0)).not.toBe(heapChecksum(region.subarray(0, 6 * PAGE)));
    expect(sums.update(region, 6 * PAGE, Uint32Array.of(3), 1)).toBe(heapChecksum(region.subarray(0, 6 * PAGE)));
  });

  test("over a live heap's region: equal to the checksum of its used bytes, and to heap.checksum()", () => {
    const r = rng(0x11fe);
    const heap = heapOf();
    const sums = new PageHashes();
    const offs: number[] = [];
    for (let step = 0; step < 60; step++) {
      if (offs.length > 0 && r.next() < 0.3) heap.free(offs.splice(r.int(0, offs.length - 1), 1)[0]!);
      else {
        const off = heap.malloc(r.pick([16, 200, 5000, 40000]));
        heap.u8.fill(r.int(1, 255), off, off + 16);
        offs.push(off);
      }
      const image = heap.u8.slice(0, heap.usedBytes);
      expect(sums.update(heap.u8, heap.usedBytes, null, 0)).toBe(heapChecksum(image));
      expect(heap.checksum()).toBe(heapChecksum(image));
    }
    expect(heap.checksum()).toBe(R.referenceChecksum(heap.u8, heap.usedBytes));
    expect(heap.checksum()).toBe(heap.snapshot().checksum());
  });

  test("a heap whose lock words differ has the same checksum; a lock block out of range is ECORRUPT", () => {
    using a = PrivateHeap.create({ size: 1 << 20 });
    const before = a.checksum();
    const block = a.u8.slice(LOCK_FROM, LOCK_TO);
    // The lock word, depth and recovery count: what other lock holders change.
    // Not a locked heap, so nothing reads them.
    a.u8.fill(0xee, LOCK_FROM, LOCK_FROM + 16);
    expect(a.checksum()).toBe(before);
    // The rest holds the heap's lock and purge settings, which the header check bounds.
    a.u8.fill(0xee, LOCK_FROM, LOCK_TO);
    expectCode(() => a.checksum(), "ECORRUPT");
    a.u8.set(block, LOCK_FROM);
    expect(a.checksum()).toBe(before);
  });
});
