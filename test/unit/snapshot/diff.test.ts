// Snapshot.diff: changed ranges, and the allocations and roots that hold them.
import { describe, expect, test } from "bun:test";
import { PrivateHeap } from "../../../src/heap.ts";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { expectCode } from "../../support/expect.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";

const MiB = 1 << 20;
const heapOf = heapsClosedAfterEach(4 * MiB);

describe("Snapshot.diff", () => {
  test("equal images: no ranges", () => {
    const heap = heapOf();
    heap.setRoot("a", heap.malloc(100));
    const d = Snapshot.diff(heap.snapshot(), heap.snapshot());
    expect(d).toEqual({ equal: true, changedBytes: 0, ranges: [], truncated: false, allocations: [], roots: [] });
  });

  test("writes inside allocations map to those allocations and their roots", () => {
    const heap = heapOf();
    const player = heap.malloc(64);
    const enemy = heap.malloc(5000);
    const other = heap.malloc(32);
    heap.setRoot("player", player);
    heap.setRoot("enemies", enemy);
    heap.setRoot("middle", enemy + 100); // a root may point inside an allocation
    const before = heap.snapshot();
    heap.u8[player + 3] = 1;
    heap.u8.fill(2, enemy + 10, enemy + 20);
    heap.u8[enemy + 4000] = 3;
    const d = Snapshot.diff(before, heap.snapshot());
    expect(d.equal).toBe(false);
    expect(d.changedBytes).toBe(1 + 10 + 1);
    expect(d.ranges.map((r) => [r.offset, r.length])).toEqual([
      [player + 3, 1],
      [enemy + 10, 10],
      [enemy + 4000, 1],
    ]);
    expect(d.ranges[0]!.allocation).toEqual({ offset: player, size: heap.usableSize(player), roots: ["player"] });
    expect(d.ranges[1]!.allocation!.offset).toBe(enemy);
    expect(d.allocations.map((a) => a.offset)).toEqual([player, enemy]);
    expect(d.allocations[1]!.roots.sort()).toEqual(["enemies", "middle"]);
    expect(d.roots).toEqual(["enemies", "middle", "player"]);
    expect(d.allocations.some((a) => a.offset === other)).toBe(false);
  });

  test("allocator changes show as metadata ranges and moved roots are listed", () => {
    const heap = heapOf();
    const a = heap.malloc(100);
    heap.setRoot("r", a);
    const before = heap.snapshot();
    const b = heap.malloc(100); // header counters and the run's state change
    heap.setRoot("r", b);
    const d = Snapshot.diff(before, heap.snapshot());
    expect(d.equal).toBe(false);
    expect(d.ranges.some((r) => r.allocation === null && r.offset < 8192)).toBe(true);
    expect(d.roots).toContain("r");
  });

  test("a freed allocation's change maps to it in the first image; different lengths compare the tail", () => {
    const heap = heapOf();
    const big = heap.malloc(300_000);
    heap.u8.fill(7, big, big + 300_000);
    const before = heap.snapshot();
    heap.free(big); // top run leaves: used bytes shrink
    const after = heap.snapshot();
    expect(after.byteLength).toBeLessThan(before.byteLength);
    const d = Snapshot.diff(before, after);
    const tail = d.ranges.filter((r) => r.offset >= after.byteLength);
    expect(tail.length).toBeGreaterThan(0);
    expect(tail[0]!.allocation?.offset).toBe(big);
    expect(d.changedBytes).toBeGreaterThanOrEqual(300_000);
  });

  test("maxRanges bounds the list and says so; counts stay exact", () => {
    const heap = heapOf();
    const off = heap.malloc(10_000);
    const before = heap.snapshot();
    for (let i = 0; i < 100; i++) heap.u8[off + 2 * i] = 1;
    const d = Snapshot.diff(before, heap.snapshot(), { maxRanges: 10 });
    expect(d.ranges.length).toBe(10);
    expect(d.truncated).toBe(true);
    expect(d.changedBytes).toBe(100);
  });

  test("wrong arguments are EINVAL", () => {
    const heap = heapOf();
    const s = heap.snapshot();
    expectCode(() => Snapshot.diff(s, {} as Snapshot), "EINVAL");
    expectCode(() => Snapshot.diff(null as unknown as Snapshot, s), "EINVAL");
  });
});

describe("heap.snapshot({ into })", () => {
  test("reuses the snapshot's memory, grows it when needed, and restores like a fresh one", () => {
    const heap = heapOf(16 * MiB);
    heap.malloc(100);
    const snap = heap.snapshot();
    const small = snap.byteLength;
    heap.u8.fill(5, heap.malloc(2 * MiB), heap.usedBytes);
    expect(heap.snapshot({ into: snap })).toBe(snap);
    expect(snap.byteLength).toBe(heap.usedBytes);
    expect(snap.byteLength).toBeGreaterThan(small);
    expect(snap.checksum()).toBe(heap.checksum());
    const sum = heap.checksum();
    heap.reset();
    heap.restore(snap);
    expect(heap.checksum()).toBe(sum);
    expect(heap.check()).toBe(0);
    expectCode(() => heap.snapshot({ into: {} as Snapshot }), "EINVAL");
  });
});
