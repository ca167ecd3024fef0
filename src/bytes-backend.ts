/**
 * bytes-backend.ts - the C core for code given only bytes (a snapshot from
 * a file or the network, a replay's images, inspect of an image): the
 * default backend, which importing "#native" sets (the native library in
 * Bun, the WebAssembly module elsewhere). Modules that read bytes import
 * this one rather than backend.ts, so they work even when nothing else has
 * loaded "#native" yet (backend.ts cannot import it: "#native" imports
 * backend.ts to set the default).
 */
import "#native";
import { type Backend, defaultBackend } from "./backend.ts";
import { HeapError } from "./errors.ts";

/** The default backend; `ENOLIB` (named by `op`) when it cannot be made. */
export function bytesBackend(op: string): Backend {
  const b = defaultBackend();
  if (b === null) throw new HeapError("ENOLIB", op, "no C core was loaded (neither the native library nor privheap.wasm)");
  return b;
}

/** The default backend, or null when none loads (for callers with a fallback of their own). */
export function bytesBackendOrNull(): Backend | null {
  try {
    return defaultBackend();
  } catch {
    return null;
  }
}
