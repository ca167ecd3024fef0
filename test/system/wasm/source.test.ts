// Compiling privheap.wasm from its bytes (as an array or a buffer) or a
// module compiled before; each instance works on its own memory, and bytes
// that are no module, or a module without the core's exports, are errors.
import { expect, test } from "bun:test";
import { NATIVE_CONSTANTS } from "../../../src/ffi/symbols.ts";
import { WasmCore } from "../../../src/wasm/core.ts";
import { readWasmFile } from "../../../src/wasm/file.ts";
import { compileWasm } from "../../../src/wasm/source.ts";
import { ensureWasmBuilt } from "../../support/wasm-build.ts";

ensureWasmBuilt();
const bytes = readWasmFile();
const HEAP_BYTES = 1 << 20;
/** PrivateHeap.create's default flags: a zeroed region, decay purging, zeroed re-entry. */
const FLAGS = NATIVE_CONSTANTS.PH_REGION_ZEROED | NATIVE_CONSTANTS.PH_PURGE | NATIVE_CONSTANTS.PH_ZERO_REENTRY;

/** A heap in `core`'s memory, made by the raw calls as PrivateHeap.create makes one: its handle. */
function rawHeap(core: WasmCore): number {
  const x = core.exports;
  const base = x.ph_region_map_anon(HEAP_BYTES) >>> 0;
  expect(base).toBeGreaterThan(0);
  const h = x.ph_heap_init(base, HEAP_BYTES, FLAGS) >>> 0;
  expect(h).toBeGreaterThan(0);
  return h;
}

/** A heap on a new instance of `module` allocates, and its instances do not share memory. */
function works(module: WebAssembly.Module): void {
  const a = new WasmCore(module);
  const b = new WasmCore(module);
  const ha = rawHeap(a);
  const hb = rawHeap(b);
  expect(hb).toBe(ha); // the same address, in two memories
  const off = a.exports.ph_off_malloc(ha, 100);
  expect(off).toBeGreaterThan(0);
  a.u8.fill(9, ha + off, ha + off + 100);
  expect(b.exports.ph_off_malloc(hb, 100)).toBe(off);
  expect(b.u8[hb + off]).toBe(0);
  expect(a.u8[ha + off]).toBe(9);
  expect(a.exports.ph_heap_check(ha, HEAP_BYTES)).toBe(0);
}

test("from bytes, as an array or a buffer", () => {
  works(compileWasm(bytes));
  works(compileWasm(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)));
});

test("a compiled module passes through; bytes that are no module are errors", () => {
  const module = compileWasm(bytes);
  expect(compileWasm(module)).toBe(module);
  expect(() => compileWasm(new Uint8Array([1, 2, 3]))).toThrow();
});

test("a module that is not privheap's is refused by name", () => {
  // A valid module exporting only a one-page memory.
  const memoryOnly = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x05, 0x03, 0x01, 0x00, 0x01, // memory section: one memory, min 1 page
    0x07, 0x0a, 0x01, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, // export "memory"
  ]);
  expect(() => new WasmCore(compileWasm(memoryOnly))).toThrow("privheap.wasm: the module does not export ph_strerror");
});
