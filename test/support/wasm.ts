/**
 * The WebAssembly core for tests: privheap.wasm from where src/wasm/file.ts
 * looks, built first with `zig build wasm` (ZIG, default python3 -m ziglang)
 * when no candidate exists yet.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadWasmCore, type WasmCore, wasmCandidates } from "../../src/wasm/index.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Build the module unless a candidate file exists; throws when the build fails. */
export function ensureWasmBuilt(): void {
  if (wasmCandidates().some((p) => existsSync(p))) return;
  const zig = (process.env.ZIG ?? "python3 -m ziglang").split(" ");
  const r = spawnSync(zig[0]!, [...zig.slice(1), "build", "wasm"], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`zig build wasm failed:\n${r.stderr}`);
}

/** A new instance of the module. */
export function wasmCore(): WasmCore {
  ensureWasmBuilt();
  return loadWasmCore();
}
