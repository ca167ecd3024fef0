/**
 * errors.ts - the one error class of privheap and the one function that maps
 * the C core's PH_E* codes to stable string codes.
 *
 * Codes from the C core (csrc/privheap.h, section 1): `ENOMEM` (PH_ENOMEM,
 * -1), `EINVAL` (-2), `EBADPTR` (-3), `EDOUBLEFREE` (-4), `ECORRUPT` (-5),
 * `EVERSION` (-6), `ESIZE` (-7), `EIO` (-8), `ENOSPC` (-9), `EBUSY` (-10).
 * Their texts are the C core's own (`ph_strerror`), read from the default
 * backend (backend.ts) once, the first time an error needs one.
 *
 * Codes raised by the TypeScript layer only, with their texts in
 * TS_DESCRIPTIONS below: `ECLOSED`, `ESTALE`, `ENOLIB`, `ENOTSUP` (what
 * this runtime or backend lacks), and `EUNKNOWN` (a
 * negative C code this version does not know).
 *
 * This module loads without bun:ffi: it reaches the C core only through
 * backend.ts, whose native default the loader sets (and which loads the
 * library, importing this module, only when a function runs).
 */
import { defaultBackend } from "./backend.ts";

/**
 * Every `code` a {@link HeapError} can carry.
 *
 * @example
 * ```ts
 * import type { HeapErrorCode } from "privheap";
 * const retryable: HeapErrorCode[] = ["ENOMEM"];
 * ```
 */
export type HeapErrorCode =
  | "ENOMEM"
  | "EINVAL"
  | "EBADPTR"
  | "EDOUBLEFREE"
  | "ECORRUPT"
  | "EVERSION"
  | "ESIZE"
  | "EIO"
  | "ENOSPC"
  | "EBUSY"
  | "ECLOSED"
  | "ESTALE"
  | "ENOLIB"
  | "ENOTSUP"
  | "EUNKNOWN";

/** C codes in order: index i holds the code for PH_E* == -(i + 1). */
const NATIVE_CODES: readonly HeapErrorCode[] = [
  "ENOMEM",
  "EINVAL",
  "EBADPTR",
  "EDOUBLEFREE",
  "ECORRUPT",
  "EVERSION",
  "ESIZE",
  "EIO",
  "ENOSPC",
  "EBUSY",
];

/** Texts of the codes the C core does not have. */
const TS_DESCRIPTIONS: Readonly<Partial<Record<HeapErrorCode, string>>> = {
  ECLOSED: "the heap was closed",
  ESTALE: "the struct cursor outlived the frame or reset it was created in, or a delta's base was overwritten",
  ENOLIB: "the native library could not be loaded",
  ENOTSUP: "this runtime or backend cannot do that (no native library, no file system or no zstd here)",
  EUNKNOWN: "unknown error",
};

/** ph_strerror of each C code, in NATIVE_CODES order; read once. */
let nativeTexts: readonly string[] | undefined;

/**
 * The description of `code`: the C core's ph_strerror text for a C code,
 * else the TypeScript layer's. Without a loadable C core (`ENOLIB`), a C
 * code's message carries the code and the detail only.
 */
function describe(code: HeapErrorCode): string | undefined {
  const i = NATIVE_CODES.indexOf(code);
  if (i < 0) return TS_DESCRIPTIONS[code];
  if (nativeTexts === undefined) {
    let strerror: (rc: number) => unknown;
    try {
      const backend = defaultBackend();
      if (backend === null) return undefined; // no core loaded: the message carries the code and the detail
      strerror = backend.symbols.ph_strerror;
    } catch {
      return undefined; // the loader's own ENOLIB says why; an error about something else must still be built
    }
    nativeTexts = NATIVE_CODES.map((_, j) => String(strerror(-(j + 1))));
  }
  return nativeTexts[i];
}

/**
 * Map a negative PH_E* code from the C core to its stable string code. This is
 * the only place that knows the numeric values.
 *
 * @example
 * ```ts
 * import { codeFromNative } from "privheap";
 * codeFromNative(-3); // "EBADPTR"
 * codeFromNative(-99); // "EUNKNOWN"
 * ```
 */
export function codeFromNative(rc: number): HeapErrorCode {
  const i = -rc - 1;
  return i >= 0 && i < NATIVE_CODES.length ? NATIVE_CODES[i]! : "EUNKNOWN";
}

/**
 * The negative PH_E* value of a string code, or 0 for codes that exist only in
 * TypeScript (`ECLOSED`, `ESTALE`, `ENOLIB`, `EUNKNOWN`).
 *
 * @example
 * ```ts
 * import { nativeFromCode } from "privheap";
 * nativeFromCode("ENOMEM"); // -1
 * nativeFromCode("ECLOSED"); // 0
 * ```
 */
export function nativeFromCode(code: HeapErrorCode): number {
  const i = NATIVE_CODES.indexOf(code);
  return i < 0 ? 0 : -(i + 1);
}

/**
 * The one error class of privheap. `code` is stable and meant for programs;
 * `message` is for people. `op` names the call that failed, as
 * `Class.method` (`"PrivateHeap.free"`, `"SnapshotRing.load"`), and
 * `nativeCode` holds the C code (0 for errors raised by the TypeScript layer).
 *
 * @example
 * ```ts
 * import { PrivateHeap, HeapError } from "privheap";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const off = heap.malloc(64);
 * heap.free(off);
 * try {
 *   heap.free(off);
 * } catch (e) {
 *   if (e instanceof HeapError && e.code === "EDOUBLEFREE") console.log("caught", e.message);
 * }
 * ```
 */
export class HeapError extends Error {
  /** Stable string code, e.g. `"ENOMEM"`. */
  readonly code: HeapErrorCode;
  /** The negative PH_E* value, or 0 for TypeScript-only codes. */
  readonly nativeCode: number;
  /** The call that failed, as `Class.method`, e.g. `"PrivateHeap.malloc"`. */
  readonly op: string;

  constructor(code: HeapErrorCode, op: string, detail?: string, options?: { cause?: unknown }) {
    const text = [describe(code), detail].filter((t) => t !== undefined).join(": ");
    super(text === "" ? `${op}: ${code}` : `${op}: ${code}: ${text}`, options);
    this.name = "HeapError";
    this.code = code;
    this.nativeCode = nativeFromCode(code);
    this.op = op;
  }

  /**
   * Build the error for a negative C return code.
   *
   * @example
   * ```ts
   * import { HeapError } from "privheap";
   * const e = HeapError.fromNative(-1, "PrivateHeap.malloc", "4096 bytes");
   * e.code; // "ENOMEM"
   * ```
   */
  static fromNative(rc: number, op: string, detail?: string): HeapError {
    const e = new HeapError(codeFromNative(rc), op, detail);
    if (e.code === "EUNKNOWN") (e as { nativeCode: number }).nativeCode = rc;
    return e;
  }
}

/**
 * A file system error (an Error with a string `code`, as Node's fs throws)
 * as `EIO`, with the path and the OS message, and the error as `cause`;
 * anything else (a HeapError above all) unchanged. Internal: the snapshot
 * and replay files use it.
 */
export function fromSystemError(e: unknown, op: string, path: string): unknown {
  const system = e instanceof Error && typeof (e as { code?: unknown }).code === "string" && !(e instanceof HeapError);
  return system ? new HeapError("EIO", op, `${path}: ${e.message}`, { cause: e }) : e;
}

