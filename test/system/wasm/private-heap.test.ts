// PrivateHeap on the WebAssembly backend: what differs from the native one.
// Views are remade when the module's memory grows (other heaps, restores),
// struct cursors read and write the bytes a native heap gets, and what the
// backend lacks (a written-page tracker, rings and replays) is a clear
// answer or a HeapError, never a call into the wrong memory.
import { afterEach, describe, expect, test } from "bun:test";
import { FrameArena } from "../../../src/frame-arena.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import { SnapshotRing } from "../../../src/snapshot/ring.ts";
import { struct } from "../../../src/struct.ts";
import { wasmBackend } from "../../../src/wasm/default-backend.ts";
import { expectCode } from "../../support/expect.ts";

const MiB = 1 << 20;
const open: PrivateHeap[] = [];
afterEach(() => {
  for (const h of open.splice(0)) h.close();
});

function heap(backend: "native" | "wasm", size = 4 * MiB): PrivateHeap {
  const h = PrivateHeap.create({ size, backend });
  open.push(h);
  return h;
}

describe("views over a memory that grows", () => {
  test("a heap's views are remade when another heap grows the memory, and show what was written before", () => {
    const a = heap("wasm");
    const off = a.malloc(64);
    a.f64[off >>> 3] = 1.25;
    a.view.setUint32(off + 8, 0xdeadbeef, true);
    const oldU8 = a.u8;
    growMemory();
    expect(oldU8.length).toBe(0); // the old buffer is detached
    expect(a.u8).not.toBe(oldU8);
    expect(a.u8.length).toBe(a.size);
    expect(a.f64[off >>> 3]).toBe(1.25);
    expect(a.view.getUint32(off + 8, true)).toBe(0xdeadbeef);
    expect(a.u32.byteOffset).toBe(a.address);
    expect(a.check()).toBe(0);
  });

  test("a closed heap's views are not remade, and its region goes back to the memory", () => {
    const a = heap("wasm");
    const address = a.address;
    a.close();
    expectCode(() => a.u8, "ECLOSED");
    const b = heap("wasm");
    expect(b.address).toBe(address); // the first fit is the span a gave back
    expect(b.usedBytes).toBeGreaterThan(0);
    expect(b.check()).toBe(0);
  });
});

/** Make wasm heaps of 64 MiB (kept open to the test's end) until the module's memory has a new buffer. */
function growMemory(): void {
  const core = wasmBackend().core;
  const before = core.buffer;
  // Regions are taken first fit from the memory's free spans: new ones grow it once those run out.
  while (core.buffer === before) heap("wasm", 64 * MiB);
}

describe("FrameArena", () => {
  test("an arena on the WebAssembly backend goes on when the memory grows mid-frame, with the native arena's offsets and bytes", () => {
    const run = (backend: "native" | "wasm", grow: () => void) => {
      using arena = FrameArena.create({ size: 4 * MiB, backend, chunkSize: 16384 });
      return arena.frame((a) => {
        const offs: number[] = [];
        for (let i = 0; i < 400; i++) {
          const o = i % 50 === 7 ? a.alloc(6000 + i) : a.alloc(40 + i);
          a.u8.fill(i & 255, o, o + 40);
          offs.push(o);
          if (i === 200) grow();
        }
        return { offs, bytes: a.u8.slice(0, a.heap.usedBytes), checksum: a.heap.checksum() };
      });
    };
    const onNative = run("native", () => {});
    const onWasm = run("wasm", growMemory);
    expect(onWasm.offs).toEqual(onNative.offs);
    expect(onWasm.bytes).toEqual(onNative.bytes);
    expect(onWasm.checksum).toBe(onNative.checksum);
  });
});

describe("struct cursors", () => {
  test("a cursor on a WebAssembly heap writes the bytes a native heap gets, and reads them back", () => {
    const Vec3 = struct({ x: "f64", y: "f64", z: "f64" });
    const Body = struct({ pos: Vec3, vel: Vec3, id: "u32", tags: ["u8", 4] });
    const run = (h: PrivateHeap) => {
      const base = Body.alloc(h, 10);
      const c = Body.cursor(h, base);
      for (let i = 0; i < 10; i++) {
        c.at(base + i * Body.size);
        c.pos.x = i * 1.5;
        c.vel.z = -i;
        c.id = 1000 + i;
        c.tags.set(i % 4, i);
      }
      const x = Body.strided(h, base, "pos.x");
      const read = Array.from({ length: 10 }, (_, i) => [x.view[x.start + i * x.stride], Body.read(h, base + i * Body.size).id]);
      return { base, read, bytes: h.u8.slice(0, h.usedBytes), checksum: h.checksum() };
    };
    const onNative = run(heap("native"));
    const onWasm = run(heap("wasm"));
    expect(onWasm.read).toEqual(Array.from({ length: 10 }, (_, i) => [i * 1.5, 1000 + i]));
    expect(onWasm.base).toBe(onNative.base);
    expect(onWasm.bytes).toEqual(onNative.bytes);
    expect(onWasm.checksum).toBe(onNative.checksum);
  });

  test("a cursor made before the memory grows writes into the heap after it, nested and array fields too, over a heap and an arena", () => {
    const Vec3 = struct({ x: "f64", y: "f64", z: "f64" });
    const Body = struct({ pos: Vec3, id: "u32", tags: ["u8", 4] });
    const h = heap("wasm");
    const base = Body.alloc(h, 4);
    const c = Body.cursor(h, base);
    const pos = c.pos;
    using arena = FrameArena.create({ size: 4 * MiB, backend: "wasm" });
    const a = arena.frame((fa) => {
      const at = Body.alloc(fa);
      const ac = Body.cursor(fa, at);
      growMemory();
      ac.id = 99; // views bound before the growth
      return { at, id: fa.heap.u32[(at + Body.offsets.id) >>> 2] };
    });
    expect(a.id).toBe(99);
    c.id = 7;
    growMemory();
    pos.y = 2.5; // a nested node held across the growth
    c.id += 1;
    c.tags.set(3, 200);
    c.index(base, 2).pos.z = -1;
    expect(h.f64[(base + Body.offsets.pos + 8) >>> 3]).toBe(2.5);
    expect(h.u32[(base + Body.offsets.id) >>> 2]).toBe(8);
    expect(h.u8[base + Body.offsets.tags + 3]).toBe(200);
    expect(h.f64[(base + 2 * Body.size + Body.offsets.pos + 16) >>> 3]).toBe(-1);
  });
});

describe("what the WebAssembly backend lacks", () => {
  test("tracking is \"compare\", and trackingReason names the backend", () => {
    const h = heap("wasm");
    expect(h.tracking).toBe("compare");
    expect(h.trackingReason).toMatch(/WebAssembly backend has no .*written-page tracker/);
    const told = PrivateHeap.create({ size: 4 * MiB, backend: "wasm", tracking: "compare" });
    open.push(told);
    expect(told.trackingReason).toMatch(/tracking: "compare"/);
  });

  test("a ring on a WebAssembly heap saves and loads back (test/system/wasm/rings-replays.test.ts compares it with a native one)", () => {
    const h = heap("wasm");
    const p = h.malloc(100);
    h.u8[p] = 1;
    const before = h.checksum();
    using ring = SnapshotRing.create(h, { capacity: 4 });
    ring.save(1);
    h.u8[p] = 2;
    h.malloc(50_000);
    ring.save(2);
    ring.load(1);
    expect(h.checksum()).toBe(before);
    expect(h.check()).toBe(0);
  });

  test("an unknown backend is EINVAL", () => {
    expectCode(() => PrivateHeap.create({ size: 4 * MiB, backend: "gpu" as never }), "EINVAL");
  });
});
