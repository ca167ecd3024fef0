// The WebAssembly core's memory: regions are spans of linear memory that
// grows as they are mapped, the core's views survive its growth (a
// PrivateHeap's: private-heap.test.ts), spans given back are reused, and bad
// input is a HeapError code (a C code from the raw calls) with the heap
// unchanged.
import { afterEach, describe, expect, test } from "bun:test";
import { nativeFromCode } from "../../../src/errors.ts";
import { NATIVE_CONSTANTS } from "../../../src/ffi/symbols.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import { wasmBackend } from "../../../src/wasm/default-backend.ts";
import { expectCode } from "../../support/expect.ts";
import { ensureWasmBuilt } from "../../support/wasm-build.ts";
import { wasmCore } from "../../support/wasm.ts";

const MiB = 1 << 20;
const PAGE = NATIVE_CONSTANTS.PH_PAGE_SIZE;

ensureWasmBuilt();
const open: PrivateHeap[] = [];
afterEach(() => {
  for (const h of open.splice(0)) h.close();
});

/** A PrivateHeap on the WebAssembly backend (whose one memory every such heap shares). */
function wasmHeap(size: number): PrivateHeap {
  const h = PrivateHeap.create({ size, backend: "wasm" });
  open.push(h);
  return h;
}

/** The used prefix's bytes, copied. */
function used(h: PrivateHeap): Uint8Array {
  return h.u8.slice(0, h.usedBytes);
}

describe("WebAssembly memory", () => {
  test("the core's views are remade after a mapping grows the memory, and show what was written before", () => {
    const core = wasmCore(); // its own memory, so the growth below is certain
    const x = core.exports;
    const at = x.ph_region_map_anon(4 * MiB) >>> 0;
    expect(at).toBeGreaterThan(0);
    const before = core.u8;
    before.fill(0x5a, at, at + 64);
    const generation = core.generation;
    const bytes = core.buffer.byteLength;
    expect(x.ph_region_map_anon(64 * MiB) >>> 0).toBeGreaterThan(0); // more than the memory had: it grows
    expect(core.buffer.byteLength).toBeGreaterThan(bytes);
    expect(core.buffer).toBe(x.memory.buffer as ArrayBuffer);
    expect(core.generation).toBe(generation + 1);
    expect(before.length).toBe(0); // the old buffer is detached
    expect([...core.u8.subarray(at, at + 64)]).toEqual(new Array(64).fill(0x5a));
    expect(core.u8.length).toBe(core.buffer.byteLength);
  });

  test("a closed heap's region is reused, zeroed: heaps made and closed in turn do not grow the memory", () => {
    const memory = wasmBackend().core.exports.memory;
    const first = PrivateHeap.create({ size: 8 * MiB, backend: "wasm" });
    const dirty = first.malloc(MiB);
    first.u8.fill(0xee, dirty, dirty + MiB);
    const address = first.address;
    first.close();
    const size = memory.buffer.byteLength;
    for (let i = 0; i < 20; i++) {
      const h = PrivateHeap.create({ size: 8 * MiB, backend: "wasm" });
      expect(h.address).toBe(address);
      const off = h.malloc(MiB);
      expect(h.u8.subarray(off, off + MiB).every((b) => b === 0)).toBe(true);
      h.u8.fill(0xee, off, off + MiB);
      h.close();
    }
    expect(memory.buffer.byteLength).toBe(size);
  });

  test("a region that cannot fit wasm32's 4 GiB address space is EIO, and the core stays usable", () => {
    // The raw call, on a core of its own: PH_EIO from the C core.
    const core = wasmCore();
    const x = core.exports;
    expect(x.ph_region_map_anon(2 ** 32 - PAGE)).toBe(0);
    expect(x.ph_last_error()).toBe(nativeFromCode("EIO"));
    expect(x.ph_region_map_anon(MiB) >>> 0).toBeGreaterThan(0);
    // PrivateHeap on the shared core: the same code as a HeapError.
    expectCode(() => wasmHeap(2 ** 32 - PAGE), "EIO");
    const h = wasmHeap(MiB);
    expect(h.malloc(10)).toBeGreaterThan(0);
    expect(h.check()).toBe(0);
  });

  test("bad offsets and sizes are HeapError codes, the core's raw calls refuse them too, and the heap is unchanged", () => {
    const h = wasmHeap(4 * MiB);
    const off = h.malloc(100);
    const image = used(h);
    // Reaching the core: offsets it does not know.
    expectCode(() => h.free(off + 8), "EBADPTR");
    expectCode(() => h.usableSize(8 * PAGE + 16), "EBADPTR");
    expectCode(() => h.realloc(off + 8, 10), "EBADPTR");
    // Refused by PrivateHeap's checks before the core...
    expectCode(() => h.free(-1), "EINVAL");
    expectCode(() => h.malloc(Number.NaN), "EINVAL");
    expectCode(() => h.malloc(2 ** 40), "EINVAL");
    // ...and by the core itself when called raw.
    const x = wasmBackend().core.exports;
    expect(x.ph_off_free(h.address, -1)).toBe(nativeFromCode("EINVAL"));
    expect(x.ph_off_malloc(h.address, Number.NaN)).toBe(nativeFromCode("EINVAL"));
    expect(x.ph_off_malloc(h.address, 2 ** 40)).toBeLessThan(0);
    expect(used(h)).toEqual(image);
    h.free(off);
    const freed = used(h);
    expectCode(() => h.free(off), "EDOUBLEFREE");
    expect(used(h)).toEqual(freed);
    expect(h.check()).toBe(0);
  });
});
