// In-memory snapshots: heap.snapshot(), heap.restore(), heap.checksum(),
// Snapshot.fromBytes() and what a Snapshot tells about its heap.
import { describe, expect, spyOn, test } from "bun:test";
import { PrivateHeap } from "../../../src/heap.ts";
import * as deltaModule from "../../../src/snapshot/delta.ts";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { expectCode, expectUnchanged, failureOf } from "../../support/expect.ts";
import { rng } from "../../support/random.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";

const MiB = 1 << 20;
const heapOf = heapsClosedAfterEach(4 * MiB);

/** Small and large allocations with recognisable contents, some freed, two roots. */
function busy(heap: PrivateHeap, seed = 7): number[] {
  const r = rng(seed);
  const live: number[] = [];
  for (let i = 0; i < 600; i++) {
    const n = r.int(0, 9) === 0 ? r.int(4097, 40_000) : r.int(1, 600);
    const off = heap.malloc(n);
    heap.u8.fill((i * 7 + 1) & 0xff, off, off + n);
    live.push(off);
    if (r.int(0, 3) === 0) heap.free(live.splice(r.int(0, live.length - 1), 1)[0]!);
  }
  heap.setRoot("world", live[0]!);
  heap.setRoot("player", live[live.length - 1]!);
  return live;
}

/** Everything a user can observe about a heap's allocator state. */
function observe(heap: PrivateHeap) {
  const allocs: number[] = [];
  heap.walk((off, size) => {
    allocs.push(off, size);
  });
  return { stats: heap.stats(), roots: heap.roots(), allocs, checksum: heap.checksum(), generation: heap.generation };
}

describe("heap.snapshot / heap.restore", () => {
  test("a snapshot holds exactly the used prefix, and its checksum is the heap's", () => {
    const heap = heapOf();
    busy(heap);
    const snap = heap.snapshot();
    expect(snap.byteLength).toBe(heap.usedBytes);
    expect(snap.byteLength).toBeLessThan(heap.size);
    expect(snap.checksum()).toBe(heap.checksum());
    expect(Buffer.compare(Buffer.from(snap.bytes), Buffer.from(heap.u8.subarray(0, heap.usedBytes)))).toBe(0);
    expect(snap.stats()).toEqual(heap.stats());
    expect(snap.roots()).toEqual(heap.roots());
    expect(snap.regionSize).toBe(heap.size);
  });

  test("restore brings back allocations, roots, stats, generation and bytes exactly", () => {
    const heap = heapOf();
    const live = busy(heap);
    const before = observe(heap);
    const snap = heap.snapshot();
    // Change everything: free, allocate, grow, rename roots, reset once.
    for (const off of live.slice(0, 200)) heap.free(off);
    heap.malloc(1 * MiB);
    heap.setRoot("world", heap.malloc(8));
    heap.reset();
    busy(heap, 99);
    expect(heap.checksum()).not.toBe(before.checksum);
    heap.restore(snap);
    expect(observe(heap)).toEqual(before);
    expect(heap.check()).toBe(0);
    // The restored allocations are live and freeable; the heap goes on working.
    for (const off of live) heap.free(off);
    expect(heap.stats().liveCount).toBe(0);
    expect(heap.check()).toBe(0);
  });

  test("the same calls after a restore give the same offsets and checksums as the first time", () => {
    const heap = heapOf();
    busy(heap);
    const snap = heap.snapshot();
    const run = (): bigint[] => {
      const r = rng(4242);
      const sums: bigint[] = [];
      const mine: number[] = [];
      for (let i = 0; i < 300; i++) {
        if (mine.length > 0 && r.int(0, 2) === 0) heap.free(mine.splice(r.int(0, mine.length - 1), 1)[0]!);
        else mine.push(heap.malloc(r.int(1, 3000)));
        if (i % 50 === 0) sums.push(heap.checksum());
      }
      sums.push(BigInt(mine.reduce((a, b) => a * 31 + b, 0) % 2 ** 50));
      return sums;
    };
    const first = run();
    heap.restore(snap);
    Bun.gc(true);
    const second = run();
    expect(second).toEqual(first);
  });

  test("restore into a larger heap works and the extra space is free", () => {
    const small = heapOf(4 * MiB);
    busy(small);
    const snap = small.snapshot();
    const big = heapOf(32 * MiB);
    big.malloc(3 * MiB); // it held something else
    big.restore(snap);
    expect(big.check()).toBe(0);
    expect(big.roots()).toEqual(small.roots());
    expect(big.stats().regionBytes).toBe(32 * MiB);
    expect(big.stats().liveCount).toBe(small.stats().liveCount);
    const off = big.malloc(20 * MiB); // more than the small heap could hold
    expect(off).toBeGreaterThan(0);
    expect(big.check()).toBe(0);
  });

  test("restore into a smaller heap is ESIZE and changes nothing", () => {
    const big = heapOf(16 * MiB);
    busy(big);
    const snap = big.snapshot();
    const small = heapOf(4 * MiB);
    busy(small, 3);
    const sum = small.checksum();
    expectUnchanged(small, () => small.restore(snap), "ESIZE");
    expect(small.checksum()).toBe(sum);
  });

  test("a snapshot outlives its heap, and copies of its bytes do not alias it", () => {
    const heap = heapOf();
    busy(heap);
    const snap = heap.snapshot();
    const sum = snap.checksum();
    heap.close();
    const bytes = snap.bytes;
    bytes.fill(0xff, 0, 64);
    expect(snap.checksum()).toBe(sum);
    const other = heapOf();
    other.restore(snap);
    expect(other.checksum()).not.toBe(0n);
    expect(other.check()).toBe(0);
    expect(other.getRoot("world")).toBeGreaterThan(0);
  });

  test("zeroOnFree heaps holding the same live data have equal checksums", () => {
    const a = heapOf(4 * MiB, true);
    const b = heapOf(4 * MiB, true);
    const keep = a.malloc(100);
    const tmp = a.malloc(5000);
    a.u8.fill(9, tmp, tmp + 5000);
    a.free(tmp);
    expect(b.malloc(100)).toBe(keep);
    b.malloc(5000); // same layout of allocations, then the same free
    b.free(tmp);
    expect(a.checksum()).toBe(b.checksum());
  });

  test("closed heaps and wrong arguments fail with their codes", () => {
    const heap = heapOf();
    const snap = heap.snapshot();
    expectUnchanged(heap, () => heap.restore({} as Snapshot), "EINVAL");
    expectUnchanged(heap, () => heap.restore(null as unknown as Snapshot), "EINVAL");
    heap.close();
    expectCode(() => heap.snapshot(), "ECLOSED");
    expectCode(() => heap.restore(snap), "ECLOSED");
    expectCode(() => heap.checksum(), "ECLOSED");
  });
});

describe("Snapshot's constructor", () => {
  test("refuses (EINVAL) every caller but the snapshot module, so no Snapshot holds bytes that skipped validation", () => {
    const heap = heapOf();
    const good = heap.snapshot().bytes;
    const Ctor = Snapshot as unknown as new (...args: unknown[]) => Snapshot;
    const forged = Symbol("privheap.Snapshot"); // the same description is not the same symbol
    for (const args of [[forged, good], [undefined, good], [good], [forged, new Uint8Array(8), undefined, true]]) {
      const e = expectCode(() => new Ctor(...args), "EINVAL");
      expect(e.op).toBe("Snapshot.constructor");
      expect(e.message).toContain("Snapshot.fromBytes()");
    }
    // @ts-expect-error the constructor takes the snapshot module's private token first
    expectCode(() => new Snapshot(good), "EINVAL");
    expect(heap.check()).toBe(0);
  });
});

describe("Snapshot errors name the call", () => {
  test("each failing Snapshot call reports itself as its op (Class.method)", async () => {
    const heap = heapOf();
    const snap = heap.snapshot();
    expect({
      load: await failureOf(() => Snapshot.load("")),
      loadSync: await failureOf(() => Snapshot.loadSync("")),
      save: await failureOf(() => snap.save("")),
      saveSync: await failureOf(() => snap.saveSync("")),
      fromBytes: await failureOf(() => Snapshot.fromBytes(new Uint8Array(8))),
      diff: await failureOf(() => Snapshot.diff(snap, {} as Snapshot)),
      take: await failureOf(() => heap.snapshot({ base: {} as Snapshot })),
    }).toEqual({
      load: "EINVAL Snapshot.load",
      loadSync: "EINVAL Snapshot.loadSync",
      save: "EINVAL Snapshot.save",
      saveSync: "EINVAL Snapshot.saveSync",
      fromBytes: "ECORRUPT Snapshot.fromBytes",
      diff: "EINVAL Snapshot.diff",
      take: "EINVAL PrivateHeap.snapshot",
    });
  });
});

describe("Snapshot.fromBytes (untrusted bytes)", () => {
  function goodBytes(): Uint8Array {
    const heap = heapOf();
    busy(heap);
    return heap.snapshot().bytes;
  }

  test("valid bytes give a snapshot that restores, and the input is copied", () => {
    const bytes = goodBytes();
    const snap = Snapshot.fromBytes(bytes);
    bytes.fill(0);
    const heap = heapOf();
    heap.restore(snap);
    expect(heap.check()).toBe(0);
    expect(heap.checksum()).toBe(snap.checksum());
    expect(heap.roots().world).toBeGreaterThan(0);
  });

  test("damaged headers, truncation and extra bytes are refused with their codes", () => {
    const good = goodBytes();
    const cases: [string, (b: Uint8Array) => Uint8Array, string][] = [
      ["magic", (b) => ((b[0]! ^= 1), b), "ECORRUPT"],
      ["layout version", (b) => ((b[8]! += 1), b), "EVERSION"],
      ["page size", (b) => ((b[13]! ^= 0x20), b), "ECORRUPT"],
      ["truncated by a page", (b) => b.subarray(0, b.length - 4096), "ECORRUPT"],
      ["truncated inside the header", (b) => b.subarray(0, 100), "ECORRUPT"],
      ["empty", () => new Uint8Array(0), "ECORRUPT"],
      ["a page too long", (b) => Uint8Array.from([...b, ...new Uint8Array(4096)]), "ECORRUPT"],
    ];
    const target = heapOf();
    busy(target, 11);
    const sum = target.checksum();
    for (const [what, damage, code] of cases) {
      const e = expectCode(() => Snapshot.fromBytes(damage(good.slice())), code);
      expect(e.message.length, what).toBeGreaterThan(0);
    }
    expect(target.checksum()).toBe(sum);
    expectCode(() => Snapshot.fromBytes([1, 2, 3] as unknown as Uint8Array), "EINVAL");
  });

  test("bytes with a sound header but a broken page map are refused", () => {
    const good = goodBytes();
    let refused = 0;
    // Page-map entries are 16 bytes from page 2; damage the first 64 in turn.
    for (let at = 8192; at < 8192 + 64 * 16; at += 16) {
      const bad = good.slice();
      bad[at]! ^= 0x07;
      try {
        Snapshot.fromBytes(bad);
      } catch (e) {
        expect((e as { code: string }).code).toBe("ECORRUPT");
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(10);
  });

  test("1,000 random single-byte flips in the header and map never crash, and every accepted one restores consistently", () => {
    const good = goodBytes();
    const seed = 20261130;
    const r = rng(seed);
    const target = heapOf();
    let accepted = 0;
    for (let i = 0; i < 1000; i++) {
      const bad = good.slice();
      const at = r.int(0, Math.min(good.length, 3 * 4096) - 1);
      bad[at]! ^= 1 << r.int(0, 7);
      let snap: Snapshot;
      try {
        snap = Snapshot.fromBytes(bad);
      } catch (e) {
        expect(["ECORRUPT", "EVERSION"], `seed ${seed} flip ${i} at ${at}`).toContain((e as { code: string }).code);
        continue;
      }
      // Some bytes are free to change (a root's name, unused bins, counters
      // a check can't see): what is accepted must restore into a heap that passes check.
      accepted++;
      target.restore(snap);
      expect(target.check(), `seed ${seed} flip ${i} at ${at}`).toBe(0);
      target.malloc(100);
      expect(target.check()).toBe(0);
    }
    expect(accepted).toBeLessThan(1000);
  });
});

describe("a heap damaged through offset 0 (the header)", () => {
  test("a write over the header's magic makes snapshot() and checksum() ECORRUPT, naming the magic at offset 0", () => {
    const heap = heapOf();
    busy(heap);
    const good = heap.u8.slice(0, 8);
    const into = heap.snapshot();
    const sum = heap.checksum();
    heap.f64[0] = 1.5; // a struct field written through the null offset
    for (const take of [() => heap.snapshot(), () => heap.snapshot({ into }), () => heap.snapshot({ base: into }), () => heap.checksum()]) {
      const e = expectCode(take, "ECORRUPT");
      expect(e.message).toContain("offset 0");
      expect(e.message).toContain("magic");
    }
    heap.u8.set(good, 0);
    expect(heap.check()).toBe(0);
    expect(heap.snapshot().byteLength).toBe(heap.usedBytes);
    expect(heap.checksum()).toBe(sum);
  });

  test("a write over a header field after the magic makes snapshot() and checksum() ECORRUPT, naming the header", () => {
    const heap = heapOf();
    busy(heap);
    const at = 40; // lg_chunk: after the magic, ABI, page size, scratch cursor and header_pages
    const good = heap.u8.slice(0, 64);
    heap.u32[at >>> 2] = 0xdeadbeef;
    for (const take of [() => heap.snapshot(), () => heap.checksum()]) {
      const e = expectCode(take, "ECORRUPT");
      expect(e.message).toContain("header");
    }
    heap.u8.set(good, 0);
    expect(heap.check()).toBe(0);
  });
});

describe("heap.snapshot({ base }) (deltas)", () => {
  test("stores only the changed pages and restores exactly", () => {
    const heap = heapOf(16 * MiB);
    const data = heap.malloc(4 * MiB);
    heap.u8.fill(1, data, data + 4 * MiB);
    const base = heap.snapshot();
    for (let k = 0; k < 5; k++) heap.u8[data + k * 100_000] = 9; // 5 pages of data
    const sum = heap.checksum();
    const delta = heap.snapshot({ base });
    expect(delta.base).toBe(base);
    expect(base.base).toBeUndefined();
    expect(delta.byteLength).toBe(heap.usedBytes);
    expect(delta.storedBytes).toBeLessThanOrEqual(6 * 4096); // those 5, plus at most the header
    expect(delta.storedBytes).toBeGreaterThanOrEqual(5 * 4096);
    expect(base.storedBytes).toBe(base.byteLength);
    expect(delta.checksum()).toBe(sum);
    heap.u8.fill(3, data, data + 4 * MiB);
    heap.restore(delta);
    expect(heap.checksum()).toBe(sum);
    expect(heap.check()).toBe(0);
  });

  test("growth, shrinking and chains of deltas all rebuild the right image", () => {
    const heap = heapOf(16 * MiB);
    heap.malloc(100);
    const s0 = heap.snapshot();
    const big = heap.malloc(3 * MiB); // grows past the base
    heap.u8.fill(4, big, big + 3 * MiB);
    const sums = [heap.checksum()];
    const d1 = heap.snapshot({ base: s0 });
    expect(d1.storedBytes).toBeGreaterThanOrEqual(3 * MiB);
    heap.free(big); // shrinks below it again
    heap.setRoot("x", heap.malloc(8));
    sums.push(heap.checksum());
    const d2 = heap.snapshot({ base: d1 }); // a delta of a delta
    expect(d2.byteLength).toBeLessThan(d1.byteLength);
    heap.reset();
    heap.restore(d1);
    expect(heap.checksum()).toBe(sums[0]!);
    heap.restore(d2);
    expect(heap.checksum()).toBe(sums[1]!);
    expect(heap.getRoot("x")).toBeGreaterThan(0);
    expect(heap.check()).toBe(0);
    expect(Snapshot.diff(d1, d2).equal).toBe(false);
    expect(Snapshot.diff(d2, heap.snapshot()).equal).toBe(true);
  });

  test("a delta whose base was reused by snapshot({ into }) is ESTALE, and the heap is unchanged", () => {
    const heap = heapOf();
    busy(heap);
    const base = heap.snapshot();
    const extra = heap.malloc(5000);
    heap.u8.fill(9, extra, extra + 5000);
    const delta = heap.snapshot({ base });
    heap.free(extra);
    for (let i = 0; i < 50; i++) heap.malloc(40 + i);
    heap.snapshot({ into: base }); // the base's bytes now hold another state
    const before = observe(heap);
    expectCode(() => heap.restore(delta), "ESTALE");
    for (const use of [() => delta.bytes, () => delta.checksum(), () => delta.stats(), () => Snapshot.diff(delta, base)])
      expectCode(use, "ESTALE");
    expect(observe(heap)).toEqual(before);
    expect(heap.check()).toBe(0);
    heap.malloc(16); // the heap goes on working
    expect(heap.check()).toBe(0);
  });

  test("a delta over a delta whose base was reused is ESTALE too", () => {
    const heap = heapOf();
    busy(heap);
    const s0 = heap.snapshot();
    heap.malloc(100);
    const d1 = heap.snapshot({ base: s0 });
    heap.malloc(200);
    const d2 = heap.snapshot({ base: d1 });
    heap.reset();
    heap.snapshot({ into: s0 });
    expectCode(() => heap.restore(d2), "ESTALE");
    expect(heap.check()).toBe(0);
  });

  test("stats(), roots() and regionSize rebuild a delta's image once, and are ESTALE once its base is overwritten", () => {
    const heap = heapOf(16 * MiB);
    busy(heap);
    const base = heap.snapshot();
    heap.setRoot("late", heap.malloc(3 * MiB));
    const delta = heap.snapshot({ base });
    const expected = { stats: heap.stats(), roots: heap.roots() };
    const rebuilds = spyOn(deltaModule, "applyDelta");
    try {
      for (let i = 0; i < 5; i++) {
        expect(delta.stats()).toEqual(expected.stats);
        expect(delta.roots()).toEqual(expected.roots);
        expect(delta.regionSize).toBe(heap.size);
      }
      expect(rebuilds).toHaveBeenCalledTimes(1);
      delta.checksum();
      expect(rebuilds).toHaveBeenCalledTimes(2); // the other readers rebuild: their TSDoc says so
      // What the caller gets is a copy: changing it changes nothing kept.
      delta.stats().liveCount = -1;
      delete delta.roots().late;
      expect(delta.stats()).toEqual(expected.stats);
      expect(delta.roots()).toEqual(expected.roots);
      heap.snapshot({ into: base });
      for (const use of [() => delta.stats(), () => delta.roots(), () => delta.regionSize]) expectCode(use, "ESTALE");
      expect(expectCode(() => delta.roots(), "ESTALE").op).toBe("Snapshot.roots");
    } finally {
      rebuilds.mockRestore();
    }
  });

  test("a snapshot reused by snapshot({ into }) reports the stats and roots of its new bytes", () => {
    const heap = heapOf();
    heap.setRoot("first", heap.malloc(100));
    const s = heap.snapshot();
    expect(Object.keys(s.roots())).toEqual(["first"]);
    const used = s.stats().usedBytes;
    heap.setRoot("second", heap.malloc(200_000));
    heap.snapshot({ into: s });
    expect(Object.keys(s.roots()).sort()).toEqual(["first", "second"]);
    expect(s.stats()).toEqual(heap.stats());
    expect(s.stats().usedBytes).toBeGreaterThan(used);
  });

  test("a base that is not a Snapshot, or base with into, is EINVAL", () => {
    const heap = heapOf();
    const s = heap.snapshot();
    expectCode(() => heap.snapshot({ base: {} as Snapshot }), "EINVAL");
    expectCode(() => heap.snapshot({ base: s, into: s }), "EINVAL");
  });
});
