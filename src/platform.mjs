// platform.mjs - platform facts shared by the install script
// (scripts/build-native.mjs, run by plain node before bun may exist) and the
// TypeScript loader (src/ffi/loader.ts). Plain JavaScript for that reason;
// the types are in platform.d.mts. build.zig keeps its own table of release
// targets (Zig cannot read this file); test/system/ffi/platform.test.ts checks each
// of its folder names against platformDirOf for the entry's target, and the
// libraries a cross build writes against their folders.

import { existsSync } from "node:fs";

/**
 * File name of the library on `platform` (node's `process.platform` values).
 * @param {string} [platform]
 * @returns {string}
 */
export function libraryFileName(platform = process.platform) {
  if (platform === "win32") return "privheap.dll";
  if (platform === "darwin") return "libprivheap.dylib";
  return "libprivheap.so";
}

/**
 * True when this Linux process runs on musl libc rather than glibc.
 * @returns {boolean}
 */
export function isMusl() {
  if (process.platform !== "linux") return false;
  // Node and Bun report the glibc they run on; musl builds report none.
  const header = process.report?.getReport?.()?.header;
  if (header !== undefined) return header.glibcVersionRuntime === undefined;
  const arch = process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : process.arch;
  return existsSync(`/lib/ld-musl-${arch}.so.1`);
}

/**
 * `<platform>-<arch>[-musl]`: the prebuilds/ folder for a platform and
 * architecture (node's `process.platform` and `process.arch` values).
 * @param {string} platform
 * @param {string} arch
 * @param {boolean} musl
 * @returns {string}
 */
export function platformDirOf(platform, arch, musl) {
  return `${platform}-${arch}${musl ? "-musl" : ""}`;
}

/**
 * The prebuilds/ folder for this process.
 * @returns {string}
 */
export function platformDir() {
  return platformDirOf(process.platform, process.arch, isMusl());
}
