/**
 * examples/shared/reader.ts - the other side: opens the heap the writer
 * created and prints its scoreboard, live, without allocating.
 *
 * Usage: bun examples/shared/reader.ts [path] [seconds]
 */
import { PrivateHeap } from "../../src/index.ts";
import { Board, defaultPath } from "./writer.ts";

const path = process.argv[2] ?? defaultPath;
const seconds = Number(process.argv[3] ?? 5);
using heap = PrivateHeap.open(path);
const board = Board.cursor(heap, heap.getRoot("board"));
const end = Date.now() + seconds * 1000;
let last = -1;
while (Date.now() < end) {
  const tick = board.tick; // read straight from the shared pages: no copy, no call
  if (tick !== last) console.log(`reader: tick ${tick}: ${board.players} players, best ${board.best.toFixed(1)}`);
  last = tick;
  await Bun.sleep(250);
}
