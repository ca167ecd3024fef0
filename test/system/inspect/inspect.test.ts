// heap.inspect(), Snapshot.inspect() and inspectFile(): the report's numbers
// against facts kept apart from it (the allocations a seeded run made and
// freed, usableSize, the header's stats, a scenario whose free runs are known
// by construction), files of each kind, and hostile files (unknown, truncated,
// damaged page maps): a report or a HeapError with a code, never a crash, and
// a heap file is never changed by being inspected.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWorld, Entity, Game, inputFor, step as simStep } from "../../../examples/sim.ts";
import { HeapError } from "../../../src/errors.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import { inspectFile } from "../../../src/inspect/file.ts";
import { reportJson } from "../../../src/inspect/json.ts";
import { NO_CLASS, PageKind, sizeClasses } from "../../../src/inspect/page-map.ts";
import type { HeapReport } from "../../../src/inspect/report.ts";
import { formatReport } from "../../../src/inspect/text.ts";
import { Replay } from "../../../src/snapshot/replay.ts";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { LayoutMap } from "../../../src/snapshot/layout-map.ts";
import { struct } from "../../../src/struct.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";
import { rng, seeds } from "../../support/random.ts";
import { encode, partsOf } from "../../support/snapshot-craft.ts";

const PAGE = 4096;
const SMALL_MAX = 14336;
const heapOf = heapsClosedAfterEach(64 << 20);
const dir = mkdtempSync(join(tmpdir(), "privheap-inspect-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A seeded run of mallocs and frees; returns the live allocations it kept (offset -> usable size). */
function churn(heap: PrivateHeap, seed: number, steps: number): Map<number, number> {
  const r = rng(seed);
  const live = new Map<number, number>();
  const order: number[] = [];
  for (let i = 0; i < steps; i++) {
    if (order.length > 0 && r.next() < 0.35) {
      const at = r.int(0, order.length - 1);
      const off = order[at]!;
      order[at] = order[order.length - 1]!;
      order.pop();
      heap.free(off);
      live.delete(off);
    } else {
      const size = r.next() < 0.08 ? r.int(SMALL_MAX + 1, 200_000) : r.int(1, 3000);
      const off = heap.malloc(size);
      live.set(off, heap.usableSize(off));
      order.push(off);
    }
  }
  return live;
}

function expectCode(fn: () => unknown, codes: string[]): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(HeapError);
    expect(codes).toContain((e as HeapError).code);
    return (e as HeapError).code;
  }
  throw new Error(`expected a HeapError (${codes.join(" or ")}), got a result`);
}

describe("heap.inspect() against the allocations made", () => {
  for (const seed of seeds(3)) {
    test(`live counts and bytes per class, the largest, each allocation's page and run (seed ${seed})`, () => {
      const heap = heapOf();
      const live = churn(heap, seed, 4000);
      const r = heap.inspect({ largest: 10 });
      const stats = heap.stats();
      expect(heap.check()).toBe(0);
      // Totals: the model's, and the header's counters (kept by the allocator, not read from the map).
      const modelBytes = [...live.values()].reduce((a, b) => a + b, 0);
      expect(r.live.count).toBe(live.size);
      expect(r.live.bytes).toBe(modelBytes);
      expect(r.live.bytes).toBe(stats.liveBytes);
      expect(r.fragmentation.freeBytes).toBe(stats.freeBytes);
      expect(r.fragmentation.freeRuns).toBe(stats.freeRuns);
      expect(r.fragmentation.smallRunBytes).toBe(stats.smallRunBytes);
      expect(r.sizes).toEqual({ regionBytes: stats.regionBytes, usedBytes: stats.usedBytes, touchedBytes: stats.touchedBytes, metaBytes: stats.metaBytes, pageSize: PAGE });
      // Per class: the model's allocations grouped by usable size.
      const classOfSize = new Map(sizeClasses().filter((c) => c.runPages > 0).map((c) => [c.size, c.index]));
      const perClass = new Map<number, number>();
      let largeCount = 0;
      for (const size of live.values()) {
        const c = size <= SMALL_MAX ? classOfSize.get(size) : undefined;
        if (c === undefined) largeCount++;
        else perClass.set(c, (perClass.get(c) ?? 0) + 1);
      }
      for (const c of r.classes) expect({ c: c.index, n: c.liveCount, bytes: c.liveBytes }).toEqual({ c: c.index, n: perClass.get(c.index) ?? 0, bytes: (perClass.get(c.index) ?? 0) * c.size });
      expect(r.live.largeCount).toBe(largeCount);
      expect(r.large.reduce((a, b) => a + b.count, 0)).toBe(largeCount);
      // The largest: the model's, sorted by size then address.
      const sorted = [...live.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 10);
      expect(r.largest.map((a) => [a.offset, a.size])).toEqual(sorted);
      // Every allocation lies in a run of its kind and class, and its run lists it.
      for (const [off, size] of live) {
        const page = Math.floor(off / PAGE);
        const run = r.runAt(page);
        expect(run).toBeGreaterThanOrEqual(0);
        const c = size <= SMALL_MAX ? classOfSize.get(size) : undefined;
        expect(r.map.kinds[page]).toBe(c === undefined ? PageKind.large : PageKind.small);
        expect(r.map.classes[page]).toBe(c ?? NO_CLASS);
        const inRun = r.allocationsIn(run);
        let found = false;
        for (let i = 0; i < inRun.length; i += 2) if (inRun[i] === off) found = inRun[i + 1] === size;
        expect(found).toBe(true);
      }
      // Runs' live counts add up to the model's count; pages add up to the region.
      expect(r.map.runLive.reduce((a, b) => a + b, 0)).toBe(live.size);
      expect(r.map.pages * PAGE).toBe(stats.regionBytes);
      let abovePages = 0;
      for (const k of r.map.kinds) abovePages += k === PageKind.touched || k === PageKind.untouched ? 1 : 0;
      expect(abovePages * PAGE).toBe(stats.regionBytes - stats.usedBytes);
    });
  }

  test("free runs, the largest free run and occupancy of a heap built to have them", () => {
    const heap = heapOf();
    const pagesOf = [3, 2, 7, 2, 5, 2]; // large runs in address order; free the 3, 7 and 5 page ones
    const offs = pagesOf.map((p) => heap.malloc(p * PAGE));
    for (let i = 1; i < offs.length; i++) expect(offs[i]).toBe(offs[i - 1]! + pagesOf[i - 1]! * PAGE);
    heap.free(offs[0]!);
    heap.free(offs[2]!);
    heap.free(offs[4]!);
    const r = heap.inspect();
    expect(r.fragmentation.freeRuns).toBe(3);
    expect(r.fragmentation.freeBytes).toBe(15 * PAGE);
    expect(r.fragmentation.largestFreeRunBytes).toBe(7 * PAGE);
    expect(r.fragmentation.freeShare).toBeCloseTo((15 * PAGE) / heap.usedBytes, 12);
    // 2-page runs: one large bucket of [8 KiB, 12 KiB], three allocations.
    expect(r.large).toEqual([{ minBytes: 2 * PAGE, maxBytes: 3 * PAGE, count: 3, bytes: 6 * PAGE }]);
    for (let p = 0; p < 7; p++) expect(r.map.kinds[offs[2]! / PAGE + p]).toBe(PageKind.free);
    // One 64-byte class run, 10 regions live: occupancy is theirs over the run's page.
    const c64 = sizeClasses().find((c) => c.size === 64)!;
    for (let i = 0; i < 10; i++) heap.malloc(64);
    const r2 = heap.inspect();
    const row = r2.classes.find((c) => c.index === c64.index)!;
    expect(row).toEqual({ index: c64.index, size: 64, runs: 1, runPages: c64.runPages, regions: c64.regionsPerRun, liveCount: 10, liveBytes: 640 });
    expect(r2.fragmentation.smallOccupancy).toBeCloseTo(640 / (c64.runPages * PAGE), 12);
  });

  test("roots name their allocation, a dangling root none", () => {
    const heap = heapOf();
    const a = heap.malloc(100);
    const b = heap.malloc(40_000);
    heap.setRoot("inside", a + 16);
    heap.setRoot("big", b);
    const gone = heap.malloc(100);
    heap.setRoot("gone", gone);
    heap.free(gone);
    const r = heap.inspect();
    expect(r.roots).toEqual([
      { name: "big", offset: b, allocation: { offset: b, size: heap.usableSize(b) } },
      { name: "gone", offset: gone, allocation: null },
      { name: "inside", offset: a + 16, allocation: { offset: a, size: heap.usableSize(a) } },
    ]);
  });

  test("a report is a copy: later changes do not show in it", () => {
    const heap = heapOf();
    heap.malloc(100);
    const r = heap.inspect();
    const before = JSON.stringify(reportJson(r));
    for (let i = 0; i < 100; i++) heap.malloc(5000);
    expect(JSON.stringify(reportJson(r))).toBe(before);
    expect(r.live.count).toBe(1);
  });

  test("Snapshot.inspect() of a snapshot equals heap.inspect() of the heap it was taken from", () => {
    const heap = heapOf();
    churn(heap, 7, 1500);
    const snap = heap.snapshot();
    const a = heap.inspect();
    const b = snap.inspect();
    expect(reportJson(b)).toEqual(reportJson(a));
    expect(Buffer.from(b.map.kinds).equals(Buffer.from(a.map.kinds.subarray(0, b.map.pages)))).toBe(true);
    // And of a delta, rebuilt over its base.
    const base = heap.snapshot();
    heap.malloc(300);
    const delta = heap.snapshot({ base });
    expect(delta.inspect().live.count).toBe(heap.stats().liveCount);
  });

  test("with layouts, a root names the structs it reaches", () => {
    const heap = heapOf();
    createWorld(heap, 50);
    // A linked list of 4 nodes from root "list", through the pointer field next.
    const Node = struct({ value: "u32", next: "u32" });
    let next = 0;
    const nodes: number[] = [];
    for (let i = 0; i < 4; i++) {
      const n = Node.alloc(heap);
      nodes.unshift(n);
      heap.u32[n / 4] = i;
      heap.u32[n / 4 + 1] = next;
      next = n;
    }
    heap.setRoot("list", next);
    const layouts = LayoutMap.create().root("game", Game).root("entities", Entity, { count: "allocation" }).root("list", Node).pointer(Node, "next", Node);
    const r = heap.inspect({ layouts });
    const byName = new Map(r.roots.map((x) => [x.name, x]));
    const entities = byName.get("entities")!;
    // Entity.alloc(heap, 50) may round up: as many as fit in the allocation.
    const fit = Math.floor(entities.allocation!.size / Entity.size);
    expect(entities.reachedCount).toBe(fit);
    expect(entities.reachedBytes).toBe(fit * Entity.size);
    expect(entities.reached).toEqual([{ path: "entities", layout: "{ pos, vel, hp, team, ... }", offset: heap.getRoot("entities"), count: fit, bytes: fit * Entity.size }]);
    expect(byName.get("game")!.reachedCount).toBe(1);
    const list = byName.get("list")!;
    expect(list.reachedCount).toBe(4);
    expect(list.reached!.map((p) => p.offset)).toEqual(nodes); // head first, as the pointers lead
    expect(new Set(list.reached!.map((p) => p.path)).size).toBe(4);
    expect(list.reached!.every((p) => p.path.startsWith("list"))).toBe(true);
    expect(list.complete).toBe(true);
    expect(formatReport(r, "heap")).toContain("reaches 4 structs");
    // Without layouts: no reach fields.
    expect(heap.inspect().roots.every((x) => x.reached === undefined)).toBe(true);
  });

  test("runAt is -1 for what is no page of the heap's runs, allocationsIn empty for no run", () => {
    const heap = heapOf();
    const off = heap.malloc(48);
    const r = heap.inspect();
    const page = Math.floor(off / PAGE);
    expect(r.runAt(page)).toBeGreaterThanOrEqual(0);
    for (const bad of [page + 0.5, -1, r.map.pages, r.map.pages - 1, Number.NaN]) expect(r.runAt(bad)).toBe(-1); // the last page is above the high-water mark
    expect(r.allocationsIn(-1).length).toBe(0);
    expect(r.allocationsIn(r.map.runStart.length).length).toBe(0);
  });

  test("largest must be a non-negative integer", () => {
    const heap = heapOf();
    expectCode(() => heap.inspect({ largest: -1 }), ["EINVAL"]);
    expect(heap.inspect({ largest: 0 }).largest).toEqual([]);
  });
});

describe("inspectFile", () => {
  function worldHeap(): PrivateHeap {
    const heap = heapOf(4 << 20);
    churn(heap, 11, 800);
    heap.setRoot("first", heap.malloc(24));
    return heap;
  }

  test("a snapshot file, a heap file and a replay keyframe or tick give the report of what they hold", () => {
    const heap = worldHeap();
    const want = reportJson(heap.inspect());
    const snapPath = join(dir, "a.phsnap");
    heap.snapshot().saveSync(snapPath);
    const s = inspectFile(snapPath);
    expect(s.kind).toBe("snapshot");
    expect(reportJson(s.report)).toEqual(want);

    const heapPath = join(dir, "a.phheap");
    {
      using file = PrivateHeap.open(heapPath, { size: 4 << 20, create: true });
      file.restore(heap.snapshot());
      const h = inspectFile(heapPath);
      expect(h.kind).toBe("heap");
      expect(reportJson(h.report)).toEqual(reportJson(file.inspect()));
      expect(h.report.live).toEqual(want.live);
    }

    const replayPath = join(dir, "a.phreplay");
    using sim = PrivateHeap.create({ size: 1 << 20 });
    createWorld(sim, 40);
    const at: number[] = [];
    {
      using rec = Replay.record(replayPath, sim, { keyframeEvery: 10 });
      for (let t = 0; t < 25; t++) {
        simStep(sim, inputFor(t), t);
        rec.tick(inputFor(t));
        if (t === 19 || t === 23) at.push(sim.stats().liveCount);
      }
    }
    const k = inspectFile(replayPath, { tick: 19 });
    expect({ kind: k.kind, tick: k.tick, keyframe: k.keyframe, live: k.report.live.count }).toEqual({ kind: "replay", tick: 19, keyframe: 19, live: at[0]! });
    const t = inspectFile(replayPath, { tick: 23, step: simStep });
    expect({ tick: t.tick, keyframe: t.keyframe, live: t.report.live.count }).toEqual({ tick: 23, keyframe: 19, live: at[1]! });
    expectCode(() => inspectFile(replayPath), ["EINVAL"]);
    expectCode(() => inspectFile(replayPath, { tick: 23 }), ["EINVAL"]);
    expectCode(() => inspectFile(replayPath, { tick: 25 }), ["EINVAL"]);
    expectCode(() => inspectFile(snapPath, { tick: 0 }), ["EINVAL"]);
  });

  test("a file of no known kind, an empty one and a missing one are ECORRUPT or EIO", () => {
    const other = join(dir, "other.bin");
    writeFileSync(other, "just some text, not a heap");
    expectCode(() => inspectFile(other), ["ECORRUPT"]);
    const empty = join(dir, "empty.bin");
    writeFileSync(empty, "");
    expectCode(() => inspectFile(empty), ["ECORRUPT"]);
    expectCode(() => inspectFile(join(dir, "missing.phsnap")), ["EIO"]);
  });

  test("truncated files: a heap file cut anywhere, a snapshot file cut short", () => {
    const heap = worldHeap();
    const heapPath = join(dir, "whole.phheap");
    {
      using file = PrivateHeap.open(heapPath, { size: 4 << 20, create: true });
      file.restore(heap.snapshot());
    }
    const bytes = readFileSync(heapPath);
    const used = heap.usedBytes;
    for (const cut of [8, 100, 6000, 8192, 3 * PAGE + 5, used - PAGE, used - 1]) {
      const path = join(dir, `cut-${cut}.phheap`);
      writeFileSync(path, bytes.subarray(0, cut));
      expectCode(() => inspectFile(path), ["ECORRUPT", "ESIZE"]);
    }
    // Cut past the used prefix: the file is shorter than its heap.
    const path = join(dir, "cut-used.phheap");
    writeFileSync(path, bytes.subarray(0, used));
    expectCode(() => inspectFile(path), ["ESIZE"]);
    // A header claiming a larger region than the file holds (npages, the u32 at byte 48, doubled).
    const grown = new Uint8Array(bytes);
    const v = new DataView(grown.buffer);
    expect(v.getUint32(48, true) * PAGE).toBe(4 << 20);
    v.setUint32(48, 2 * v.getUint32(48, true), true);
    const liar = join(dir, "liar.phheap");
    writeFileSync(liar, grown);
    expectCode(() => inspectFile(liar), ["ESIZE"]);

    const snapPath = join(dir, "whole.phsnap");
    heap.snapshot().saveSync(snapPath);
    const snap = readFileSync(snapPath);
    for (const cut of [9, 80, 200, snap.length - 1]) {
      const p = join(dir, `cut-${cut}.phsnap`);
      writeFileSync(p, snap.subarray(0, cut));
      expectCode(() => inspectFile(p), ["ECORRUPT"]);
    }
  });

  test("damaged page maps in heap files: a report or ECORRUPT, the file unchanged (seeded campaign)", () => {
    const heap = worldHeap();
    const image = new Uint8Array(heap.size); // a heap file holds the whole region
    image.set(heap.snapshot().bytes);
    const mapStart = 2 * PAGE; // leaf 0 follows the two header pages
    const mapEnd = mapStart + (heap.usedBytes / PAGE) * 16;
    const codes = new Map<string, number>();
    for (const seed of seeds(1)) {
      const r = rng(seed);
      for (let round = 0; round < 300; round++) {
        const damaged = new Uint8Array(image);
        const hits = r.int(1, 6);
        for (let i = 0; i < hits; i++) {
          const at = r.int(mapStart, mapEnd - 1);
          damaged[at] = r.pick([0, 0xff, r.int(0, 255), damaged[at]! ^ (1 << r.int(0, 7))]);
        }
        const path = join(dir, "damaged.phheap");
        writeFileSync(path, damaged);
        let code = "report";
        try {
          const rep = inspectFile(path);
          expect(rep.report.map.pages * PAGE).toBe(4 << 20);
        } catch (e) {
          if (!(e instanceof HeapError)) throw new Error(`seed ${seed} round ${round}: ${String(e)}`);
          code = e.code;
        }
        codes.set(code, (codes.get(code) ?? 0) + 1);
        expect(Buffer.from(readFileSync(path)).equals(Buffer.from(damaged))).toBe(true);
      }
    }
    expect([...codes.keys()].every((c) => c === "report" || c === "ECORRUPT")).toBe(true);
    expect(codes.get("ECORRUPT") ?? 0).toBeGreaterThan(0);
  });

  test("a snapshot file whose heap page map was damaged (checksums resealed) is ECORRUPT", () => {
    const heap = worldHeap();
    const image = heap.snapshot().bytes;
    // The first large run's head entry: its length beyond the high-water mark.
    const r = heap.inspect();
    const run = r.map.runKind.findIndex((k) => k === PageKind.large);
    expect(run).toBeGreaterThanOrEqual(0);
    const entry = 2 * PAGE + r.map.runStart[run]! * 16;
    new DataView(image.buffer, image.byteOffset).setUint32(entry + 4, 0x7fffffff, true);
    const path = join(dir, "resealed.phsnap");
    writeFileSync(path, encode(partsOf(image, heap.size)));
    expectCode(() => inspectFile(path), ["ECORRUPT"]);
    // The same bytes as a heap file reach the page map reader itself.
    const heapPath = join(dir, "resealed.phheap");
    const whole = new Uint8Array(heap.size);
    whole.set(image);
    writeFileSync(heapPath, whole);
    expectCode(() => inspectFile(heapPath), ["ECORRUPT"]);
    expectCode(() => Snapshot.fromBytes(image), ["ECORRUPT"]);
  });
});
