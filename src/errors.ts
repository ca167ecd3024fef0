/**
 * errors.ts - the one error class of privheap and the one function that maps
 * the C core's PH_E* codes to stable string codes.
 *
 * Codes from the C core (csrc/privheap.h, section 1):
 *
 * | C code            | `code`        | meaning                                              |
 * | ----------------- | ------------- | ---------------------------------------------------- |
 * | PH_ENOMEM (-1)    | `ENOMEM`      | the region has no room for the request               |
 * | PH_EINVAL (-2)    | `EINVAL`      | an argument is out of range                          |
 * | PH_EBADPTR (-3)   | `EBADPTR`     | not the start of a live allocation of this heap      |
 * | PH_EDOUBLEFREE(-4)| `EDOUBLEFREE` | the allocation was already freed                     |
 * | PH_ECORRUPT (-5)  | `ECORRUPT`    | the bytes are not a consistent privheap region       |
 * | PH_EVERSION (-6)  | `EVERSION`    | a privheap region of an incompatible version         |
 * | PH_ESIZE (-7)     | `ESIZE`       | region too small or too large                        |
 * | PH_EIO (-8)       | `EIO`         | the operating system refused a mapping or file op    |
 * | PH_ENOSPC (-9)    | `ENOSPC`      | no free named-root slot                              |
 * | PH_EBUSY (-10)    | `EBUSY`       | another process has the file mapped or locked        |
 *
 * Codes raised by the TypeScript layer only:
 *
 * | `code`     | meaning                                                          |
 * | ---------- | ---------------------------------------------------------------- |
 * | `ECLOSED`  | the heap (or arena) was closed                                   |
 * | `ESTALE`   | debug mode: a struct cursor outlived the frame or reset it was made in; a delta snapshot's base was overwritten |
 * | `ENOLIB`   | the native library could not be found or loaded                  |
 * | `EUNKNOWN` | a negative C code this version does not know                     |
 */

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

const DESCRIPTIONS: Readonly<Record<HeapErrorCode, string>> = {
  ENOMEM: "the region has no room for the request",
  EINVAL: "an argument is out of range",
  EBADPTR: "not the start of a live allocation of this heap",
  EDOUBLEFREE: "the allocation was already freed",
  ECORRUPT: "the bytes are not a consistent privheap region",
  EVERSION: "a privheap region of an incompatible version",
  ESIZE: "region too small, too large, or smaller than its header says",
  EIO: "the operating system refused a mapping or file operation",
  ENOSPC: "no free named-root slot",
  EBUSY: "another process has the file mapped or locked",
  ECLOSED: "the heap was closed",
  ESTALE: "the struct cursor outlived the frame or reset it was created in, or a delta's base was overwritten",
  ENOLIB: "the native library could not be loaded",
  EUNKNOWN: "unknown error",
};

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
 * `message` is for people. `op` names the operation that failed, and
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
  /** The operation that failed, e.g. `"malloc"`. */
  readonly op: string;

  constructor(code: HeapErrorCode, op: string, detail?: string, options?: { cause?: unknown }) {
    const text = detail === undefined ? DESCRIPTIONS[code] : `${DESCRIPTIONS[code]}: ${detail}`;
    super(`${op}: ${code}: ${text}`, options);
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
   * const e = HeapError.fromNative(-1, "malloc", "4096 bytes");
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

