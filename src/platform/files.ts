/**
 * files.ts - the check at the start of every call that reads or writes a
 * path: a runtime without a file system (a browser) refuses it with
 * ENOTSUP, rather than failing inside a missing function.
 */
import { HAS_FILES } from "#runtime";
import { HeapError } from "../errors.ts";

/** ENOTSUP, naming `op`, where this runtime has no file system. */
export function requireFiles(op: string): void {
  if (!HAS_FILES) throw new HeapError("ENOTSUP", op, "this runtime has no file system: keep snapshots and replays as bytes (snapshot.bytes(), Snapshot.fromBytes, Replay.fromBytes)");
}
