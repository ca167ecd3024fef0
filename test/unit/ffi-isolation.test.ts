// Which modules reach bun:ffi when they load: following static imports
// (type-only ones are erased), errors.ts and backend.ts must not, so a
// runtime without bun:ffi can load them; heap.ts does (the native backend).
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

const transpiler = new Bun.Transpiler({ loader: "ts" });
const SRC = resolve(import.meta.dir, "../../src");

/** The chain of modules from `file` to bun:ffi through imports kept at run time, or null. */
function pathToFfi(file: string, seen = new Set<string>()): string[] | null {
  if (seen.has(file)) return null;
  seen.add(file);
  for (const { path } of transpiler.scanImports(readFileSync(file, "utf8"))) {
    if (path === "bun:ffi") return [file, path];
    if (!path.startsWith(".")) continue;
    const chain = pathToFfi(resolve(dirname(file), path), seen);
    if (chain !== null) return [file, ...chain];
  }
  return null;
}

test("errors.ts and backend.ts load without bun:ffi", () => {
  expect(pathToFfi(`${SRC}/errors.ts`)).toBeNull();
  expect(pathToFfi(`${SRC}/backend.ts`)).toBeNull();
});

test("the scan finds bun:ffi where a module reaches it (heap.ts through the native backend)", () => {
  const chain = pathToFfi(`${SRC}/heap.ts`);
  expect(chain).not.toBeNull();
  expect(chain!.at(-1)).toBe("bun:ffi");
});
