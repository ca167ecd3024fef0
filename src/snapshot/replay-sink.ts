/**
 * replay-sink.ts - where a ReplayRecorder keeps what it records: a file
 * (replay-file.ts: written through a temporary name, published after the
 * first append) or memory (replay-memory.ts: for runtimes without files,
 * and for replays sent over a network). Both keep an append-only byte
 * sequence that can be cut back to the end of an earlier append.
 */
export interface ReplaySink {
  /** Bytes kept: the end of the last complete append. */
  readonly length: number;
  /** Append `parts` as one unit (all kept, or none and EIO). */
  append(parts: readonly Uint8Array[], op: string): void;
  /** Bytes [at, at + into.length) of what is kept, into `into` (EINVAL outside them). */
  readAt(at: number, into: Uint8Array, op: string): void;
  /** Cut back to `length`, the end of an earlier append. */
  truncate(length: number, op: string): void;
  /** Make what is kept visible under its name (a file's rename; nothing in memory). */
  publish(op: string): void;
  /** Finish: a file is synced and closed (idempotent). */
  close(op: string): void;
  /** A copy of what is kept, for Replay.fromBytes; null for a file, whose bytes are in the file. */
  bytes(): Uint8Array | null;
}
