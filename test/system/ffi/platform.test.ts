// src/platform.mjs is the one place for the library's file name and the
// prebuilds/ folder name; the install script (node) and the loader (bun) both
// import it, and build.zig's outputs must land where it says.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { libraryFileName, platformDir, platformDirOf } from "../../../src/platform.mjs";

const ROOT = resolve(import.meta.dir, "..", "..", "..");

/** The `.dir` names of build.zig's `zig build cross` table. */
function crossDirs(): string[] {
  const text = readFileSync(join(ROOT, "build.zig"), "utf8");
  return [...text.matchAll(/\.dir = "([^"]+)"/g)].map((m) => m[1]!);
}

/** Each entry of that table: its `.dir` and the `.field = .tag` pairs of its query. */
function crossTargets(): { dir: string; query: Record<string, string> }[] {
  const text = readFileSync(join(ROOT, "build.zig"), "utf8");
  return [...text.matchAll(/\.dir = "([^"]+)", \.query = \.\{([^}]*)\}/g)].map((m) => ({
    dir: m[1]!,
    query: Object.fromEntries([...m[2]!.matchAll(/\.(\w+) = \.(\w+)/g)].map((f) => [f[1]!, f[2]!])),
  }));
}

/** Zig's names for the operating systems and architectures we ship, as node names them. */
const NODE_PLATFORM: Record<string, string> = { linux: "linux", macos: "darwin", windows: "win32" };
const NODE_ARCH: Record<string, string> = { x86_64: "x64", aarch64: "arm64" };

/** The prebuilds/ folder a library belongs in, read from its own header:
 * ELF, 64-bit Mach-O or PE, its machine, and for ELF whether it needs glibc
 * (GLIBC_ symbol versions) or not (musl). */
function folderOfBinary(bytes: Buffer): string {
  if (bytes.readUInt32BE(0) === 0x7f454c46) {
    const machine = bytes.readUInt16LE(18);
    const arch = machine === 62 ? "x64" : machine === 183 ? "arm64" : `elf-machine-${machine}`;
    return platformDirOf("linux", arch, !bytes.includes("GLIBC_"));
  }
  if (bytes.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = bytes.readUInt32LE(4);
    return platformDirOf("darwin", cpu === 0x01000007 ? "x64" : cpu === 0x0100000c ? "arm64" : `mach-cpu-${cpu}`, false);
  }
  if (bytes.toString("latin1", 0, 2) === "MZ") {
    const machine = bytes.readUInt16LE(bytes.readUInt32LE(0x3c) + 4);
    return platformDirOf("win32", machine === 0x8664 ? "x64" : machine === 0xaa64 ? "arm64" : `pe-machine-${machine}`, false);
  }
  return "a file of unknown format";
}

const prebuilt = crossDirs().filter((dir) => existsSync(join(ROOT, "prebuilds", dir)));
const noCross = prebuilt.length === 0 ? "no prebuilds/ (run: python3 -m ziglang build cross)" : "";
const node = spawnSync("node", ["--version"], { encoding: "utf8" }).status === 0 ? "" : "no node on PATH";
if (noCross) console.log(`platform.test.ts: cross-build case skipped: ${noCross}`);
if (node) console.log(`platform.test.ts: node case skipped: ${node}`);

describe("platform facts", () => {
  test.skipIf(node !== "")("node (the install script's runtime) and bun name the same file and folder", () => {
    const url = new URL("../../../src/platform.mjs", import.meta.url).href;
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

  test("each cross target's folder is the one platformDirOf names for its system, architecture and libc", () => {
    const targets = crossTargets();
    expect(targets.length).toBe(crossDirs().length); // every entry parsed
    for (const { dir, query } of targets) {
      const platform = NODE_PLATFORM[query.os_tag ?? ""] ?? `zig os ${query.os_tag}`;
      const arch = NODE_ARCH[query.cpu_arch ?? ""] ?? `zig arch ${query.cpu_arch}`;
      expect(dir).toBe(platformDirOf(platform, arch, query.abi === "musl"));
    }
  });

  test.skipIf(noCross !== "")("each prebuilt library is built for the system, architecture and libc its folder names", () => {
    for (const dir of prebuilt) {
      const bytes = readFileSync(join(ROOT, "prebuilds", dir, libraryFileName(dir.split("-")[0]!)));
      expect(folderOfBinary(bytes)).toBe(dir);
    }
  });

  test.skipIf(noCross !== "")("zig build cross writes each platform's library under the name platform.mjs gives", () => {
    for (const dir of prebuilt) {
      const platform = dir.split("-")[0]!;
      expect(readdirSync(join(ROOT, "prebuilds", dir))).toEqual([libraryFileName(platform)]);
    }
  });
});
