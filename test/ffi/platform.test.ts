// src/platform.mjs is the one place for the library's file name and the
// prebuilds/ folder name; the install script (node) and the loader (bun) both
// import it, and build.zig's outputs must land where it says.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { libraryFileName, platformDir } from "../../src/platform.mjs";

const ROOT = resolve(import.meta.dir, "..", "..");

/** The `.dir` names of build.zig's `zig build cross` table. */
function crossDirs(): string[] {
  const text = readFileSync(join(ROOT, "build.zig"), "utf8");
  return [...text.matchAll(/\.dir = "([^"]+)"/g)].map((m) => m[1]!);
}

const prebuilt = crossDirs().filter((dir) => existsSync(join(ROOT, "prebuilds", dir)));
const noCross = prebuilt.length === 0 ? "no prebuilds/ (run: python3 -m ziglang build cross)" : "";
const node = spawnSync("node", ["--version"], { encoding: "utf8" }).status === 0 ? "" : "no node on PATH";
if (noCross) console.log(`platform.test.ts: cross-build case skipped: ${noCross}`);
if (node) console.log(`platform.test.ts: node case skipped: ${node}`);

describe("platform facts", () => {
  test.skipIf(node !== "")("node (the install script's runtime) and bun name the same file and folder", () => {
    const url = new URL("../../src/platform.mjs", import.meta.url).href;
    const r = spawnSync(
      "node",
      ["--input-type=module", "-e", `import { libraryFileName, platformDir } from ${JSON.stringify(url)}; console.log(libraryFileName(), platformDir());`],
      { encoding: "utf8" },
    );
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(`${libraryFileName()} ${platformDir()}`);
  });

  test("zig build installs the host library under libraryFileName()", () => {
    expect(readdirSync(join(ROOT, "zig-out", "lib"))).toContain(libraryFileName());
  });

  test("cross targets are named <platform>-<arch>[-musl] with node's names", () => {
    const dirs = crossDirs();
    expect(dirs.length).toBeGreaterThan(0);
    for (const dir of dirs) expect(dir).toMatch(/^(linux|darwin|win32)-(x64|arm64)(-musl)?$/);
    expect(dirs).toContain(platformDir());
  });

  test.skipIf(noCross !== "")("zig build cross writes each platform's library under the name platform.mjs gives", () => {
    for (const dir of prebuilt) {
      const platform = dir.split("-")[0]!;
      expect(readdirSync(join(ROOT, "prebuilds", dir))).toEqual([libraryFileName(platform)]);
    }
  });
});
