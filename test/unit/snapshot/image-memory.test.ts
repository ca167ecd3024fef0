// Memory for snapshot images: large images live in native memory owned by
// their ArrayBuffer, stay valid while any view reaches them, go back to the
// pool or the system once collected, stay bounded while snapshots are
// taken and dropped, and a failure to get memory is ENOMEM.
import { describe, expect, test } from "bun:test";
import { PrivateHeap } from "../../../src/heap.ts";
import { copyOfImage, imageMemory, NATIVE_MIN, newImage, trimImageMemory } from "../../../src/snapshot/image-memory.ts";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { expectCode } from "../../support/expect.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";

const MiB = 1 << 20;
const heapOf = heapsClosedAfterEach(64 * MiB);

/** A heap whose used prefix is at least `bytes`, every allocation filled with `fill`. */
function filled(heap: PrivateHeap, bytes: number, fill: number): void {
  while (heap.usedBytes < bytes) {
    const off = heap.malloc(60_000);
    heap.u8.fill(fill, off, off + 60_000);
  }
}

/** Collect until the live image bytes reach `atMost`; the bytes left. */
function collectDownTo(atMost: number): number {
  for (let i = 0; i < 5 && imageMemory().live > atMost; i++) Bun.gc(true);
  return imageMemory().live;
}

describe("snapshot image memory", () => {
  test("a large snapshot's image is native memory, given back once the snapshot is collected", () => {
    const heap = heapOf();
    filled(heap, 8 * MiB, 3);
    const before = collectDownTo(0);
    const held = (() => {
      const snap = heap.snapshot();
      return imageMemory().live - before === snap.byteLength;
    })();
    expect(held).toBe(true);
    expect(collectDownTo(before)).toBe(before);
  });

  test("a view keeps its image: a subarray outlives every other reference and still reads the image", () => {
    const before = collectDownTo(0);
    const keep = (() => {
      const image = newImage(8 * MiB, false, "test");
      for (let i = 0; i < image.length; i += 4096) image[i] = (i >>> 12) & 0xff;
      return image.subarray(5 * 4096, 7 * 4096 + 1);
    })();
    collectDownTo(before + 8 * MiB);
    expect(imageMemory().live).toBe(before + 8 * MiB);
    // New images now would reuse the memory if it had been given back.
    for (let k = 0; k < 4; k++) newImage(8 * MiB, false, "test").fill(0xee);
    expect([keep[0], keep[4096], keep[2 * 4096]]).toEqual([5, 6, 7]);
    expect(keep.length).toBe(2 * 4096 + 1);
  });

  test("snap.bytes is its own image: a subarray of it outlives the snapshot, and a transfer moves it whole", () => {
    const heap = heapOf();
    filled(heap, 8 * MiB, 6);
    const at = heap.usedBytes - 8192;
    const before = collectDownTo(0);
    const sub = (() => {
      const bytes = heap.snapshot().bytes;
      return bytes.subarray(at, at + 4096);
    })();
    collectDownTo(before + heap.usedBytes);
    for (let k = 0; k < 4; k++) newImage(heap.usedBytes, false, "test").fill(0xee);
    expect(sub.every((b) => b === 6)).toBe(true);

    const bytes = heap.snapshot().bytes;
    const moved = new Uint8Array((bytes.buffer as ArrayBuffer).transfer());
    expect(bytes.length).toBe(0); // detached: no view reads the memory through it
    expect(Snapshot.fromBytes(moved).checksum()).toBe(heap.checksum());
  });

  test("a delta's base stays alive through the delta when every other reference is gone", () => {
    const heap = heapOf();
    filled(heap, 8 * MiB, 1);
    const { delta, expected } = (() => {
      const base = heap.snapshot();
      heap.u8.fill(9, heap.usedBytes - 4096 * 3, heap.usedBytes - 4096 * 2);
      const d = heap.snapshot({ base });
      return { delta: d, expected: d.checksum() };
    })();
    Bun.gc(true);
    // Images of the same length, with other bytes, would take the base's memory had it been freed.
    const others: Snapshot[] = [];
    heap.u8.fill(0x77, 2 * MiB, 3 * MiB); // pages the delta does not store: it reads them from its base
    for (let k = 0; k < 4; k++) others.push(heap.snapshot());
    heap.restore(delta);
    expect(heap.checksum()).toBe(expected);
    expect(heap.check()).toBe(0);
  });

  test("taking and dropping many large snapshots keeps image memory bounded", () => {
    const heap = heapOf();
    filled(heap, 24 * MiB, 5);
    const image = heap.usedBytes;
    const before = collectDownTo(0);
    let maxLive = 0;
    let maxPooled = 0;
    let snap = heap.snapshot();
    for (let i = 0; i < 48; i++) {
      // 48 x 24 MiB = 1.1 GiB taken, each dropped when the next is taken.
      snap = heap.snapshot();
      heap.restore(snap);
      const m = imageMemory();
      maxLive = Math.max(maxLive, m.live - before);
      maxPooled = Math.max(maxPooled, m.pooled);
    }
    // At most 256 MiB past what the last collection left (the image in hand
    // and the one before it), and a pool of at most 1 GiB.
    expect(maxLive).toBeLessThanOrEqual(256 * MiB + 2 * image);
    expect(maxPooled).toBeLessThanOrEqual(1024 * MiB);
    expect(snap.byteLength).toBe(image);
    expect(trimImageMemory()).toBeGreaterThanOrEqual(0);
    expect(imageMemory().pooled).toBe(0);
  });

  test("a copy is in its own memory, and small images are plain arrays", () => {
    const src = new Uint8Array(NATIVE_MIN + 4096).fill(4);
    const copy = copyOfImage(src, "test");
    copy[0] = 5;
    expect([src[0], copy[0], copy[copy.length - 1]]).toEqual([4, 5, 4]);
    const before = imageMemory().live;
    const small = newImage(NATIVE_MIN - 1, true, "test");
    expect(imageMemory().live).toBe(before);
    expect(small.every((b) => b === 0)).toBe(true);
  });

  test("no memory for an image is ENOMEM, and nothing is held", () => {
    const before = imageMemory().live;
    // More than any address space: the system refuses it whatever its overcommit policy.
    expectCode(() => newImage(2 ** 52, false, "Snapshot.test"), "ENOMEM");
    expect(imageMemory().live).toBeLessThanOrEqual(before); // the attempt may have run a collection
  });
});

describe("Snapshot.close", () => {
  test("gives a large image's memory back at once, and every use of the snapshot or a delta on it is ECLOSED", () => {
    const heap = heapOf();
    filled(heap, 8 * MiB, 5);
    const snap = heap.snapshot();
    const delta = heap.snapshot({ base: snap });
    const live = imageMemory().live;
    const pooled = imageMemory().pooled;
    const size = snap.byteLength;
    snap.close();
    expect(imageMemory().live).toBe(live - size); // no collection needed
    expect(imageMemory().pooled).toBeGreaterThanOrEqual(Math.min(pooled + size, 1 << 30) - 4 * MiB);
    expect([snap.closed, snap.byteLength, snap.storedBytes]).toEqual([true, 0, 0]);
    expectCode(() => snap.bytes, "ECLOSED");
    expectCode(() => snap.checksum(), "ECLOSED");
    expectCode(() => snap.stats(), "ECLOSED");
    expectCode(() => snap.allocations(), "ECLOSED");
    expectCode(() => heap.restore(snap), "ECLOSED");
    expectCode(() => heap.snapshot({ into: snap }), "ECLOSED");
    expectCode(() => heap.snapshot({ base: snap }), "ECLOSED");
    expectCode(() => Snapshot.diff(snap, snap), "ECLOSED");
    expectCode(() => delta.checksum(), "ECLOSED");
    expectCode(() => heap.restore(delta), "ECLOSED");
    snap.close(); // idempotent
    expect(heap.check()).toBe(0);
  });

  test("a small snapshot closes too, and `using` closes at the end of the scope", () => {
    const heap = heapOf();
    heap.malloc(100);
    let kept: Snapshot;
    {
      using snap = heap.snapshot();
      kept = snap;
      expect(snap.byteLength).toBeLessThan(NATIVE_MIN);
      expect(snap.checksum()).toBe(heap.checksum());
    }
    expect(kept.closed).toBe(true);
    expectCode(() => kept.checksum(), "ECLOSED");
  });
});

