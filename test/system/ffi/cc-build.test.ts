// The build without Zig (scripts/cc-build.mjs, run by the install script) must
// make the same library as `zig build`: this builds it with the system C
// compiler into a temporary folder and compares the exported symbols.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ccBuildCommand, sharedCFlags } from "../../../scripts/cc-build.mjs";
import { libraryFileName } from "../../../src/platform.mjs";

const ROOT = resolve(import.meta.dir, "..", "..", "..");
const ZIG_LIB = join(ROOT, "zig-out", "lib", libraryFileName());

function works(argv: string[]): boolean {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
  return r.status === 0;
}

/** Defined dynamic symbols of a shared library, as "type name" lines, sorted. */
function exported(lib: string): string[] {
  const r = spawnSync("nm", ["-D", "--defined-only", lib], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`nm -D ${lib} failed: ${r.stderr}`);
  return r.stdout
    .split("\n")
    .map((line) => line.trim().split(/\s+/).slice(-2).join(" "))
    .filter((line) => line !== "")
    .sort();
}

const missing = [
  process.platform !== "linux" ? `the comparison reads ELF symbols (this is ${process.platform})` : "",
  !works(["cc", "--version"]) ? "no cc on PATH" : "",
  !works(["nm", "--version"]) ? "no nm on PATH" : "",
  !existsSync(ZIG_LIB) ? `no ${ZIG_LIB} (run: python3 -m ziglang build)` : "",
].filter((why) => why !== "");
if (missing.length > 0) console.log(`cc-build.test.ts: skipped: ${missing.join("; ")}`);

describe("the build without Zig", () => {
  test("reads the shared flag list that build.zig reads", () => {
    const flags = sharedCFlags();
    const text = readFileSync(join(ROOT, "csrc", "cflags.txt"), "utf8");
    expect(flags.length).toBeGreaterThan(0);
    for (const flag of flags) expect(text.split("\n")).toContain(flag);
    expect(readFileSync(join(ROOT, "build.zig"), "utf8")).toContain('"csrc/cflags.txt"');
  });

  test("compiles every csrc/*.c at Zig's ReleaseFast level and defines", () => {
    const argv = ccBuildCommand("cc", "out.so");
    const sources = spawnSync("sh", ["-c", "ls csrc/*.c"], { cwd: ROOT, encoding: "utf8" }).stdout.trim().split("\n");
    expect(argv.filter((a) => a.endsWith(".c"))).toEqual(sources);
    expect(argv).toContain("-O2");
    expect(argv).toContain("-DNDEBUG");
    expect(argv.slice(1, 1 + sharedCFlags().length)).toEqual(sharedCFlags());
  });

  test.skipIf(missing.length > 0)("exports exactly the symbols of the zig build", () => {
    const dir = mkdtempSync(join(tmpdir(), "privheap-cc-"));
    try {
      const lib = join(dir, libraryFileName());
      const argv = ccBuildCommand("cc", lib);
      const r = spawnSync(argv[0]!, argv.slice(1), { cwd: ROOT, encoding: "utf8" });
      expect(r.stderr).toBe(""); // no warnings either
      expect(r.status).toBe(0);
      const fromCc = exported(lib);
      const fromZig = exported(ZIG_LIB);
      expect(fromZig.length).toBeGreaterThan(0);
      expect(fromZig.every((line) => line.startsWith("T ph_"))).toBe(true);
      expect(fromCc).toEqual(fromZig);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000); // a whole library compiled at -O2: seconds, more on a busy machine
});
