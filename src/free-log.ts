/**
 * free-log.ts - the recent frees of one heap, for debug-mode struct cursors.
 *
 * A debug cursor remembers the allocation it sits in. When the heap frees
 * that allocation and a later malloc hands out the same offset, the
 * allocation the cursor looks up is live again: without a record of the
 * free, a write through the stale cursor lands in someone else's struct
 * unnoticed. The log numbers every free the heap's `free` and a moving
 * `realloc` make (`serial`), and keeps the serial of the latest free of each
 * of the last CAPACITY freed offsets. A cursor notes the serial when it is
 * positioned; its allocation was freed since when the log holds a later
 * serial for its offset.
 *
 * Invariants: `latest` holds exactly the offsets in `ring` (each with the
 * serial of its newest entry there); `ring` holds the offsets of the last
 * min(serial, CAPACITY) frees, oldest at `serial % CAPACITY`. Memory is
 * bounded by CAPACITY whatever the program frees.
 */

/** The PrivateHeap method that starts its free log (once) and returns it; internal to the library. */
export const FREE_LOG: unique symbol = Symbol("privheap.freeLog");

/** Frees remembered per heap: 64 Ki (about 2 MiB with the map). */
export const FREE_LOG_CAPACITY = 1 << 16;

export class FreeLog {
  /** Frees logged so far; the next free gets `serial + 1`. */
  serial = 0;
  readonly #ring = new Float64Array(FREE_LOG_CAPACITY);
  readonly #latest = new Map<number, number>();

  /** Record that the allocation at `off` was freed. */
  add(off: number): void {
    const slot = this.serial % FREE_LOG_CAPACITY;
    if (this.serial >= FREE_LOG_CAPACITY) {
      // The entry leaving the ring is its offset's newest only if nothing freed that offset since.
      const old = this.#ring[slot]!;
      if (this.#latest.get(old) === this.serial - FREE_LOG_CAPACITY + 1) this.#latest.delete(old);
    }
    this.#ring[slot] = off;
    this.#latest.set(off, ++this.serial);
  }

  /**
   * Whether the allocation at `off` was freed after the log's serial was
   * `since`: true when the log holds such a free; otherwise false when the
   * log still covers every free since then, and undefined when more than
   * FREE_LOG_CAPACITY frees happened since (the answer may have left it).
   */
  freedSince(off: number, since: number): boolean | undefined {
    const s = this.#latest.get(off);
    if (s !== undefined && s > since) return true;
    return this.serial - since <= FREE_LOG_CAPACITY ? false : undefined;
  }
}
