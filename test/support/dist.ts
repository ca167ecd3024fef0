// The package as Node, Deno and browsers see it, built once per test
// process into a temporary folder: node_modules/privheap holds the real
// package.json (its exports and conditions) and the bundles of
// scripts/build-dist.ts, so `import "privheap"` there resolves exactly as
// it would from an installed package. Built apart from the checkout's
// dist/ so parallel runs never race on one folder.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildDist } from "../../scripts/build-dist.ts";

const ROOT = join(import.meta.dir, "..", "..");

export interface BuiltPackage {
  /** A project folder whose node_modules/privheap is the package. */
  readonly project: string;
  /** The package's folder (node_modules/privheap). */
  readonly dir: string;
  readonly node: string;
  readonly browser: string;
}

let built: Promise<BuiltPackage> | undefined;

/** The package built for other runtimes; removed when the process exits. */
export function builtPackage(): Promise<BuiltPackage> {
  built ??= (async () => {
    const project = mkdtempSync(join(tmpdir(), "privheap-dist-"));
    process.on("exit", () => rmSync(project, { recursive: true, force: true }));
    const dir = join(project, "node_modules", "privheap");
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(ROOT, "package.json"), join(dir, "package.json"));
    const { node, browser } = await buildDist(join(dir, "dist"));
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "privheap-user", private: true, type: "module", dependencies: { privheap: "*" } }));
    return { project, dir, node, browser };
  })();
  return built;
}
