// cc-build.mjs - the command that builds the host library with the system C
// compiler when Zig is missing (scripts/build-native.mjs runs it;
// test/system/ffi/cc-build.test.ts compares its exported symbols with zig build's).
// Plain node, like the install script. Paths are relative to the package root,
// which is the working directory the command must run in.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The flags every build of csrc/ uses (csrc/cflags.txt, which build.zig,
 * scripts/c-sanitize.sh and scripts/fuzz.sh read too).
 *
 * @returns {string[]}
 */
export function sharedCFlags() {
  return readFileSync(join(root, "csrc", "cflags.txt"), "utf8")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

/**
 * The C compiler command that builds what `zig build` builds: the same
 * sources (every csrc/*.c, sorted), shared flags, and the optimisation and
 * defines of Zig's ReleaseFast for C (-O2 -DNDEBUG, as `zig build
 * --verbose-cc` shows), linked as a shared library with threads. `cc` is
 * the compiler's command, `output` the library path to write.
 *
 * @param {string} cc
 * @param {string} output
 * @returns {string[]} argv, to run in the package root
 */
export function ccBuildCommand(cc, output) {
  const sources = readdirSync(join(root, "csrc"))
    .filter((f) => f.endsWith(".c"))
    .sort()
    .map((f) => join("csrc", f));
  // -fPIC means nothing to PE/COFF and gcc warns about it there; Windows
  // threads need no flag.
  const posix = process.platform === "win32" ? [] : ["-fPIC", "-pthread"];
  return [cc, ...sharedCFlags(), "-O2", "-DNDEBUG", ...posix, "-shared", "-Icsrc", ...sources, "-o", output];
}
