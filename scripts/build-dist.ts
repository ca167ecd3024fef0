/**
 * build-dist.ts - the bundles `import "privheap"` loads outside Bun
 * (package.json's exports): dist/node.js for Node 20+ and Deno, and
 * dist/browser.js for browsers and their bundlers. Each is src/index.ts
 * with "#native" and "#runtime" resolved for that runtime (the WebAssembly
 * backend; see src/platform/) and privheap.wasm embedded as base64, so no
 * file or fetch is needed to start.
 *
 * Usage: bun scripts/build-dist.ts [outdir]    (default dist/; `npm run build:dist`)
 *
 * Builds privheap.wasm first when it is missing (zig build wasm).
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { wasmCandidates } from "../src/wasm/file.ts";

const root = join(import.meta.dir, "..");

/** The module's file, built first when no candidate exists. */
function wasmFile(): string {
  let found = wasmCandidates().find((p) => existsSync(p));
  if (found === undefined) {
    const zig = (process.env.ZIG ?? "python3 -m ziglang").split(" ");
    const r = Bun.spawnSync([...zig, "build", "wasm"], { cwd: root, stdout: "inherit", stderr: "inherit" });
    if (r.exitCode !== 0) throw new Error("zig build wasm failed");
    found = wasmCandidates().find((p) => existsSync(p));
    if (found === undefined) throw new Error("zig build wasm wrote no privheap.wasm");
  }
  return found;
}

/** One bundle of src/index.ts for `target`, resolving package imports under `conditions`; returns its path. */
export async function buildBundle(outdir: string, name: string, target: "node" | "browser", conditions: string[], wasmBase64: string): Promise<string> {
  const built = await Bun.build({
    entrypoints: [join(root, "src", "index.ts")],
    target,
    conditions,
    format: "esm",
    outdir,
    naming: name,
    define: { PRIVHEAP_WASM_BASE64: JSON.stringify(wasmBase64) },
  });
  if (!built.success) throw new AggregateError(built.logs, `bundling ${name} failed`);
  return join(outdir, name);
}

/** Build both bundles into `outdir`; returns their paths. */
export async function buildDist(outdir = join(root, "dist")): Promise<{ node: string; browser: string }> {
  mkdirSync(outdir, { recursive: true });
  const base64 = readFileSync(wasmFile()).toString("base64");
  const node = await buildBundle(outdir, "node.js", "node", ["node"], base64);
  const browser = await buildBundle(outdir, "browser.js", "browser", ["browser"], base64);
  return { node, browser };
}

if (import.meta.main) {
  const out = await buildDist(process.argv[2]);
  for (const path of [out.node, out.browser]) console.log(`${path}: ${(Bun.file(path).size / 1024).toFixed(0)} KiB`);
}
