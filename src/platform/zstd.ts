/**
 * zstd.ts - the check before decoding a zstd frame where a failure would
 * otherwise read as damaged data: a runtime without zstd is ENOTSUP, not a
 * corrupt file.
 */
import { HAS_ZSTD } from "#runtime";
import { HeapError } from "../errors.ts";

/** ENOTSUP, naming `op`, where this runtime has no zstd. */
export function requireZstd(op: string): void {
  if (!HAS_ZSTD) throw new HeapError("ENOTSUP", op, "this runtime has no zstd (Node 22.15 and later, Bun and Deno may; browsers do not): the data is compressed, so read it in a runtime that has zstd");
}
