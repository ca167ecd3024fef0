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
 * Builds privheap.wasm first when it is missing (zig build wasm). Also
 * writes the declarations TypeScript users outside Bun read (outdir/types,
 * the "types" condition): tsc's, with the few bun:ffi types of internal
 * modules replaced by what they are at run time (numbers and functions), so
 * a project without Bun's types type-checks against them.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
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

/** What a declaration file may not keep, and what replaces it: bun:ffi's types become their run-time shapes. */
const DECLARATION_REWRITES: [RegExp, string][] = [
  [/^import type \{ Pointer \} from "bun:ffi";$/m, "type Pointer = number;"],
  [/import\("bun:ffi"\)\.ConvertFns<typeof symbols>/g, "{ [K in keyof typeof symbols]: (...args: any[]) => any }"],
  [/^import "#native";$/m, ""], // a side effect of the module, not a type
];

/** Every file under `dir`. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** tsc's declarations of src/ into `out`, rewritten to need neither Bun's types nor the package's # imports. */
export function buildDeclarations(out: string): void {
  rmSync(out, { recursive: true, force: true });
  const tsc = Bun.spawnSync([join(root, "node_modules", ".bin", "tsc"), "-p", join(root, "tsconfig.dist.json"), "--outDir", out], { cwd: root, stdout: "pipe", stderr: "pipe" });
  if (tsc.exitCode !== 0) throw new Error(`tsc declarations failed: ${tsc.stdout.toString()}${tsc.stderr.toString()}`);
  for (const file of filesUnder(out)) {
    let text = readFileSync(file, "utf8");
    for (const [from, to] of DECLARATION_REWRITES) text = text.replace(from, to);
    // The symbol table's argument and result kinds: names only, for NativeSymbols' keys.
    const kinds = [...new Set([...text.matchAll(/FFIType\.(\w+)/g)].map((m) => m[1]!))];
    text = text.replace(/^import type \{ FFIType \} from "bun:ffi";$/m, `declare namespace FFIType {\n${kinds.map((k) => `    type ${k} = "${k}";`).join("\n")}\n}`);
    const left = text.split("\n").find((line) => /from "bun:ffi"|import\("bun:ffi"\)|from "#|import "#/.test(line) && !/^\s*(\*|\/\/)/.test(line));
    if (left !== undefined) throw new Error(`${file}: a declaration still needs Bun's types or a # import: ${left.trim()}`);
    writeFileSync(file, text);
  }
}

/** Build both bundles and the declarations into `outdir`; returns the bundles' paths. */
export async function buildDist(outdir = join(root, "dist")): Promise<{ node: string; browser: string }> {
  mkdirSync(outdir, { recursive: true });
  const base64 = readFileSync(wasmFile()).toString("base64");
  const node = await buildBundle(outdir, "node.js", "node", ["node"], base64);
  const browser = await buildBundle(outdir, "browser.js", "browser", ["browser"], base64);
  buildDeclarations(join(outdir, "types"));
  return { node, browser };
}

if (import.meta.main) {
  const out = await buildDist(process.argv[2]);
  for (const path of [out.node, out.browser]) console.log(`${path}: ${(Bun.file(path).size / 1024).toFixed(0)} KiB`);
}
