/**
 * file.ts - privheap.wasm on disk, for runtimes with a file system (Bun,
 * Node, Deno): where `zig build wasm` installs it in a checkout, then where
 * `zig build cross` puts it in the package (prebuilds/wasm32/), unless
 * PRIVHEAP_WASM names a file. A browser bundle does not import this file:
 * it passes bytes or a URL to source.ts.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The files tried, in order. */
export function wasmCandidates(): string[] {
  const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
  const fromEnv = typeof process !== "undefined" ? process.env.PRIVHEAP_WASM : undefined;
  return [...(fromEnv ? [fromEnv] : []), root("zig-out/wasm/privheap.wasm"), root("prebuilds/wasm32/privheap.wasm")];
}

/** The bytes of the first candidate that exists. */
export function readWasmFile(): Uint8Array {
  const tried = wasmCandidates();
  for (const path of tried) if (existsSync(path)) return readFileSync(path);
  throw new Error(`privheap.wasm not found; tried ${tried.join(", ")}. Build it with: python3 -m ziglang build wasm`);
}
