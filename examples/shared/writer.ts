/**
 * examples/shared/writer.ts - one side of a heap shared by two processes.
 *
 * Usage: bun examples/shared/writer.ts [path] [seconds]
 *   (default path /dev/shm/privheap-demo.phheap where /dev/shm exists, else
 *   the OS temp dir; default 10 seconds)
 *
 * Creates (or reopens) the heap file, keeps a "scoreboard" there under a
 * named root, and updates it 10 times a second. It is the only process that
 * allocates or frees: the reader only reads. Without a lock a reader can see
 * a board halfway through an update (one field new, another old); the fields
 * here are independent numbers, so that is harmless.
 */
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap, struct } from "../../src/index.ts";

export const Board = struct({ tick: "u32", players: "u32", best: "f64" });
export const defaultPath = existsSync("/dev/shm") ? "/dev/shm/privheap-demo.phheap" : join(tmpdir(), "privheap-demo.phheap");

if (import.meta.main) {
  const path = process.argv[2] ?? defaultPath;
  const seconds = Number(process.argv[3] ?? 10);
  using heap = PrivateHeap.open(path, { size: 16 << 20, create: true });
  let at = heap.getRoot("board");
  if (at === 0) {
    at = Board.alloc(heap);
    heap.setRoot("board", at);
  }
  const board = Board.cursor(heap, at);
  console.log(`writer: ${path} (${heap.size} bytes); updating the board for ${seconds} s`);
  const end = Date.now() + seconds * 1000;
  for (let tick = 1; Date.now() < end; tick++) {
    board.tick = tick;
    board.players = 2 + (tick % 7);
    board.best = Math.max(board.best, Math.sin(tick / 10) * 100);
    if (tick % 10 === 0) heap.flush(); // on disk too (not needed for sharing through /dev/shm)
    await Bun.sleep(100);
  }
  console.log(`writer: done at tick ${board.tick}`);
}
