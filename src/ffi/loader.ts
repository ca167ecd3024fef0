/**
 * loader.ts - finds and opens the native library (libprivheap), once per
 * process, in a documented order:
 *
 *   1. `PRIVHEAP_LIB`: a path to the library file. When it is set, it is the
 *      only candidate (an override that silently fell back would hide a typo).
 *   2. The local build output: `<package>/zig-out/lib/<file>`, what
 *      `npm run build` (zig build, or the system C compiler without Zig) writes.
 *   3. The prebuilt library: `<package>/prebuilds/<platform>-<arch>[-musl]/<file>`,
 *      with node's names for platform and arch (`linux-x64`, `darwin-arm64`,
 *      `win32-x64`, `linux-arm64-musl`, ...).
 *
 * `<file>` is `libprivheap.so` (Linux), `libprivheap.dylib` (macOS) or
 * `privheap.dll` (Windows); names and musl detection come from src/platform.mjs,
 * which the install script uses too. When no candidate loads, the error lists every
 * path tried with the reason and the command that builds the library.
 */
import { dlopen } from "bun:ffi";
import { existsSync } from "node:fs";
import { HeapError } from "../errors.ts";
import { BUILD_COMMAND, libraryCandidates, libraryFileName, platformDir } from "./candidates.ts";
import { symbols, type NativeSymbols } from "./symbols.ts";

export { BUILD_COMMAND, libraryCandidates, libraryFileName, packageRoot, platformDir, type LibraryCandidate } from "./candidates.ts";

/**
 * The loaded library: where it came from and its bound symbols, which
 * skip every check of the main entry (see src/native.ts).
 *
 * @example
 * ```ts
 * import { loadNative, type NativeLibrary } from "privheap/native";
 * const lib: NativeLibrary = loadNative();
 * console.log(lib.source, lib.path);
 * ```
 */
export interface NativeLibrary {
  /** Absolute path of the file that was opened. */
  path: string;
  /** Which candidate it was (see {@link LibraryCandidate.source}). */
  source: string;
  /** Bound functions of src/ffi/symbols.ts. */
  symbols: NativeSymbols;
  /** Function-pointer addresses, for passing a C function to C (e.g. as an ArrayBuffer deallocator). */
  addresses: { ph_region_unmap: number };
}

let loaded: NativeLibrary | undefined;

/**
 * Open the library (first call) or return the one already open.
 * Throws a {@link HeapError} with code `ENOLIB` listing every path tried.
 * Public only through `privheap/native`: its symbols take raw addresses
 * and page indices unchecked, and can corrupt a heap or crash the process.
 *
 * @example
 * ```ts
 * import { loadNative } from "privheap/native";
 * const lib = loadNative();
 * console.log("privheap native library:", lib.path);
 * ```
 */
export function loadNative(): NativeLibrary {
  if (loaded !== undefined) return loaded;
  const tried: string[] = [];
  for (const c of libraryCandidates()) {
    if (!existsSync(c.path)) {
      tried.push(`  ${c.path} (${c.source}): not found`);
      continue;
    }
    try {
      const lib = dlopen(c.path, symbols);
      const unmap = (lib.symbols.ph_region_unmap as unknown as { ptr: number }).ptr;
      const result: NativeLibrary = { path: c.path, source: c.source, symbols: lib.symbols, addresses: { ph_region_unmap: unmap } };
      loaded = result;
      return result;
    } catch (e) {
      tried.push(`  ${c.path} (${c.source}): ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const detail =
    `no usable ${libraryFileName()} for ${platformDir()}. Tried, in order:\n${tried.join("\n")}\n` +
    `Build it with: ${BUILD_COMMAND}   (or set PRIVHEAP_LIB=/path/to/${libraryFileName()})`;
  throw new HeapError("ENOLIB", "loadNative", detail);
}
