/**
 * default-backend.ts - the WebAssembly backend of heaps created with
 * `backend: "wasm"` (and of every heap outside Bun): one instance of
 * privheap.wasm, made on first use, whose memory holds every such heap.
 * The module's bytes come from the runtime (#runtime: its file in Bun, the
 * bundle's embedded copy elsewhere).
 */
import { wasmModuleBytes } from "#runtime";
import { WasmBackend } from "./backend.ts";
import { WasmCore } from "./core.ts";
import { compileWasm } from "./source.ts";
import { HeapError } from "../errors.ts";

let made: WasmBackend | undefined;

/** The shared WebAssembly backend (ENOLIB when privheap.wasm cannot be found or instantiated). */
export function wasmBackend(): WasmBackend {
  if (made !== undefined) return made;
  let core: WasmCore;
  try {
    core = new WasmCore(compileWasm(wasmModuleBytes()));
  } catch (e) {
    throw new HeapError("ENOLIB", "PrivateHeap.create", `the WebAssembly core: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return (made = new WasmBackend(core));
}
