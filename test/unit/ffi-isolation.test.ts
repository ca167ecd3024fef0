// Which modules reach bun:ffi when they load: following static imports
// (type-only ones are erased) and resolving the package's own "#" imports
// (package.json's imports) under a runtime's conditions. Outside Bun, the
// main entry must not reach bun:ffi or the `Bun` global's modules; in Bun,
// heap.ts reaches it through "#native" (the native backend).
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

const transpiler = new Bun.Transpiler({ loader: "ts" });
const ROOT = resolve(import.meta.dir, "../..");
const SRC = `${ROOT}/src`;
const IMPORTS: Record<string, Record<string, string>> = JSON.parse(readFileSync(`${ROOT}/package.json`, "utf8")).imports;

/** The file a "#" import names under `conditions` (the first of its conditions, in package.json's order, that is listed or "default"). */
function resolveHash(specifier: string, conditions: string[]): string {
  const entry = IMPORTS[specifier];
  if (entry === undefined) throw new Error(`package.json has no import ${specifier}`);
  for (const [condition, file] of Object.entries(entry)) if (condition === "default" || conditions.includes(condition)) return resolve(ROOT, file);
  throw new Error(`${specifier} resolves under none of ${conditions.join(", ")}`);
}

/** The chain of modules from `file` to bun:ffi through imports kept at run time, or null. */
function pathToFfi(file: string, conditions: string[], seen = new Set<string>()): string[] | null {
  if (seen.has(file)) return null;
  seen.add(file);
  for (const { path } of transpiler.scanImports(readFileSync(file, "utf8"))) {
    if (path === "bun:ffi") return [file, path];
    const next = path.startsWith("#") ? resolveHash(path, conditions) : path.startsWith(".") ? resolve(dirname(file), path) : null;
    if (next === null) continue;
    const chain = pathToFfi(next, conditions, seen);
    if (chain !== null) return [file, ...chain];
  }
  return null;
}

test("errors.ts and backend.ts load without bun:ffi, in Bun too", () => {
  expect(pathToFfi(`${SRC}/errors.ts`, ["bun"])).toBeNull();
  expect(pathToFfi(`${SRC}/backend.ts`, ["bun"])).toBeNull();
});

test("the main entry reaches no bun:ffi in Node, Deno or a browser", () => {
  expect(pathToFfi(`${SRC}/index.ts`, ["node"])).toBeNull();
  expect(pathToFfi(`${SRC}/index.ts`, ["deno"])).toBeNull();
  expect(pathToFfi(`${SRC}/index.ts`, ["browser"])).toBeNull();
});

test("the scan finds bun:ffi where a module reaches it: #native in Bun is the native backend, elsewhere not", () => {
  const chain = pathToFfi(resolveHash("#native", ["bun"]), ["bun"]);
  expect(chain).not.toBeNull();
  expect(chain![0]).toBe(`${SRC}/ffi/native-entry.ts`);
  expect(chain!.at(-1)).toBe("bun:ffi");
  expect(pathToFfi(resolveHash("#native", ["node"]), ["node"])).toBeNull();
});

/** Every module the main entry reaches under `conditions` (static imports kept at run time). */
function reachable(file: string, conditions: string[], seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const { path } of transpiler.scanImports(readFileSync(file, "utf8"))) {
    const next = path.startsWith("#") ? resolveHash(path, conditions) : path.startsWith(".") ? resolve(dirname(file), path) : null;
    if (next !== null && /\.(ts|mjs)$/.test(next)) reachable(next, conditions, seen);
  }
  return seen;
}

// Modules whose uses of Bun, Buffer or process run only after their call refused a browser
// (requireFiles: files; bunOnly: HeapMirror; the native backend: heap files), or only when asked
// for the native library's paths (candidates.ts, platform.mjs).
const FILE_ONLY = ["snapshot/file.ts", "snapshot/replay-file.ts", "heap-mirror.ts", "inspect/file.ts", "heap-file.ts", "ffi/candidates.ts", "platform.mjs"];

test("in a browser, the main entry's modules touch Bun, Buffer and process only behind a typeof check or a refused file call", () => {
  const offenders: string[] = [];
  for (const file of reachable(`${SRC}/index.ts`, ["browser"])) {
    const code = transpiler.transformSync(readFileSync(file, "utf8")); // comments and types gone
    for (const line of code.split("\n"))
      if (/\b(Bun|Buffer|process)\s*[.?]/.test(line) && !/typeof (Bun|Buffer|process)\b/.test(line)) offenders.push(`${file.slice(SRC.length + 1)}: ${line.trim()}`);
  }
  expect(offenders.length).toBeGreaterThan(0); // the scan sees the file modules' uses
  expect(offenders.filter((o) => !FILE_ONLY.some((f) => o.startsWith(`${f}:`)))).toEqual([]);
});
