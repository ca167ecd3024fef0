/**
 * candidates.ts - where the native library (libprivheap) is looked for, in
 * order (loader.ts opens the first that loads): PRIVHEAP_LIB, then the local
 * build output, then the prebuilt library. Pure path logic: it loads in
 * every runtime, so the main entry can export it without bun:ffi.
 */
import { dirname, join, resolve } from "node:path";
import * as url from "node:url";
import { libraryFileName as platformFileName, platformDir as platformFolder } from "../platform.mjs";

/**
 * The command that builds the library from source.
 *
 * @example
 * ```ts
 * import { BUILD_COMMAND } from "privheap";
 * console.log(`missing native library? run: ${BUILD_COMMAND}`);
 * ```
 */
export const BUILD_COMMAND = "npm run build";

/**
 * One place the loader looks, and why it was tried.
 *
 * @example
 * ```ts
 * import { libraryCandidates, type LibraryCandidate } from "privheap";
 * const first: LibraryCandidate = libraryCandidates()[0]!;
 * ```
 */
export interface LibraryCandidate {
  /** Absolute path of the library file. */
  path: string;
  /** `"PRIVHEAP_LIB"`, `"local build"` or `"prebuilt"`. */
  source: string;
}

/**
 * File name of the library on `platform` (node's `process.platform` values).
 * Shared with the install script through src/platform.mjs.
 *
 * @example
 * ```ts
 * import { libraryFileName } from "privheap";
 * libraryFileName("darwin"); // "libprivheap.dylib"
 * ```
 */
export const libraryFileName: (platform?: string) => string = platformFileName;

/**
 * `<platform>-<arch>[-musl]`, the prebuilds/ folder for this process.
 * Shared with the install script through src/platform.mjs.
 *
 * @example
 * ```ts
 * import { platformDir } from "privheap";
 * platformDir(); // e.g. "linux-x64", "linux-arm64-musl", "darwin-arm64"
 * ```
 */
export const platformDir: () => string = platformFolder;

/**
 * The package root: two levels above this file (src/ffi/).
 *
 * @example
 * ```ts
 * import { packageRoot } from "./loader.ts";
 * console.log(packageRoot()); // the folder holding package.json
 * ```
 */
export function packageRoot(): string {
  return resolve(dirname(url.fileURLToPath(import.meta.url)), "..", "..");
}

/**
 * The candidates in the order the loader tries them.
 *
 * @example
 * ```ts
 * import { libraryCandidates } from "privheap";
 * for (const c of libraryCandidates()) console.log(c.source, c.path);
 * ```
 */
export function libraryCandidates(env: Record<string, string | undefined> = process.env): LibraryCandidate[] {
  const override = env.PRIVHEAP_LIB;
  if (override !== undefined && override !== "") return [{ path: resolve(override), source: "PRIVHEAP_LIB" }];
  const root = packageRoot();
  const file = libraryFileName();
  return [
    { path: join(root, "zig-out", "lib", file), source: "local build" },
    { path: join(root, "prebuilds", platformDir(), file), source: "prebuilt" },
  ];
}
