/**
 * replay-memory.ts - a replay recorded into memory (Replay.recordInMemory):
 * the same bytes a replay file would hold, in one buffer that doubles as
 * it fills, so `bytes()` gives what Replay.fromBytes reads. For runtimes
 * without files (browsers) and for replays that travel over a network.
 */
import { HeapError } from "../errors.ts";
import type { ReplaySink } from "./replay-sink.ts";

/** The first buffer's size; it doubles as appends need. */
const FIRST_BYTES = 64 << 10;

/** Bytes one buffer may hold (a JavaScript ArrayBuffer's practical limit here). */
const MAX_BYTES = 2 ** 32;

export class ReplayMemory implements ReplaySink {
  #buffer = new Uint8Array(FIRST_BYTES);
  #length = 0;

  get length(): number {
    return this.#length;
  }

  /** Append `parts`; ENOMEM (nothing appended) when the replay would pass 4 GiB. */
  append(parts: readonly Uint8Array[], op: string): void {
    let need = this.#length;
    for (const p of parts) need += p.length;
    if (need > MAX_BYTES) throw new HeapError("ENOMEM", op, `an in-memory replay holds at most 4 GiB; this append would make it ${need} bytes: record to a file`);
    if (need > this.#buffer.length) {
      let size = this.#buffer.length;
      while (size < need) size *= 2;
      const grown = new Uint8Array(Math.min(size, MAX_BYTES));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    let at = this.#length;
    for (const p of parts) {
      this.#buffer.set(p, at);
      at += p.length;
    }
    this.#length = at;
  }

  readAt(at: number, into: Uint8Array, op: string): void {
    if (at < 0 || at + into.length > this.#length) throw new HeapError("EINVAL", op, `bytes ${at}..${at + into.length} are not all in the replay's ${this.#length}`);
    into.set(this.#buffer.subarray(at, at + into.length));
  }

  truncate(length: number, op: string): void {
    if (!Number.isSafeInteger(length) || length < 0 || length > this.#length) throw new HeapError("EINVAL", op, `cannot cut ${this.#length} bytes back to ${length}`);
    this.#length = length;
  }

  publish(): void {}

  close(): void {}

  bytes(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }
}
