/**
 * privheap.wasm for system tests: built with `zig build wasm` (ZIG, default
 * python3 -m ziglang) when src/wasm/file.ts finds no candidate yet. Unit
 * tests (test/unit/, which start no process) import ./wasm.ts alone.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { wasmCandidates } from "../../src/wasm/file.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Build the module unless a candidate file exists; throws when the build fails. */
export function ensureWasmBuilt(): void {
  if (wasmCandidates().some((p) => existsSync(p))) return;
  const zig = (process.env.ZIG ?? "python3 -m ziglang").split(" ");
  const r = spawnSync(zig[0]!, [...zig.slice(1), "build", "wasm"], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`zig build wasm failed:\n${r.stderr}`);
}
