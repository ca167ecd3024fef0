// The WebAssembly core's memory: regions are spans of linear memory that
// grows as they are mapped, views survive its growth, spans given back are
// reused, and bad input is a C code with the heap unchanged.
import { describe, expect, test } from "bun:test";
import { NATIVE_CONSTANTS } from "../../../src/ffi/symbols.ts";
import { WasmHeap, WasmHeapError } from "../../../src/wasm/index.ts";
import { wasmCore } from "../../support/wasm.ts";

const MiB = 1 << 20;

describe("WebAssembly memory", () => {
  test("a heap's views are remade after the memory grows, and show what was written before", () => {
    const core = wasmCore();
    const a = WasmHeap.create(core, 4 * MiB);
    const off = a.malloc(64);
    const before = a.u8;
    before.fill(0x5a, off, off + 64);
    const generation = core.generation;
    const pages = core.exports.memory.buffer.byteLength;
    const b = WasmHeap.create(core, 64 * MiB); // more than the memory had: it grows
    expect(core.exports.memory.buffer.byteLength).toBeGreaterThan(pages);
    expect(core.generation).toBe(generation + 1);
    expect(before.length).toBe(0); // the old buffer is detached
    expect([...a.u8.subarray(off, off + 64)]).toEqual(new Array(64).fill(0x5a));
    expect(a.view.getUint8(off)).toBe(0x5a);
    expect(a.check()).toBe(0);
    a.close();
    b.close();
  });

  test("a closed region's memory is reused, zeroed: heaps made and closed in turn do not grow the memory", () => {
    const core = wasmCore();
    const first = WasmHeap.create(core, 8 * MiB);
    first.u8.fill(0xee, first.malloc(MiB), MiB); // dirty its pages
    first.close();
    const size = core.exports.memory.buffer.byteLength;
    for (let i = 0; i < 20; i++) {
      const h = WasmHeap.create(core, 8 * MiB);
      expect(h.address).toBe(first.address);
      const off = h.malloc(MiB);
      expect(h.u8.subarray(off, off + MiB).every((b) => b === 0)).toBe(true);
      h.u8.fill(0xee, off, off + MiB);
      h.close();
    }
    expect(core.exports.memory.buffer.byteLength).toBe(size);
  });

  test("a region that cannot fit the 4 GiB address space fails with PH_EIO and the core stays usable", () => {
    const core = wasmCore();
    const err = (() => {
      try {
        WasmHeap.create(core, 2 ** 32 - NATIVE_CONSTANTS.PH_PAGE_SIZE);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(WasmHeapError);
    expect((err as WasmHeapError).nativeCode).toBe(-8); // PH_EIO
    const h = WasmHeap.create(core, MiB);
    expect(h.malloc(10)).toBeGreaterThan(0);
    h.close();
  });

  test("bad offsets are C codes, and the heap is unchanged", () => {
    const core = wasmCore();
    const h = WasmHeap.create(core, 4 * MiB);
    const off = h.malloc(100);
    const image = h.image();
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as WasmHeapError).nativeCode;
      }
      return 0;
    };
    expect(code(() => h.free(off + 8))).toBe(-3); // PH_EBADPTR
    expect(code(() => h.free(-1))).toBe(-2); // PH_EINVAL
    expect(code(() => h.malloc(Number.NaN))).toBe(-2);
    expect(code(() => h.malloc(2 ** 40))).toBeLessThan(0);
    expect(code(() => h.usableSize(8 * 4096 + 16))).toBe(-3);
    expect(h.image()).toEqual(image);
    h.free(off);
    const freed = h.image();
    expect(code(() => h.free(off))).toBe(-4); // PH_EDOUBLEFREE
    expect(h.image()).toEqual(freed);
    expect(h.check()).toBe(0);
    h.close();
  });
});
