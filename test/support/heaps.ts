import { afterEach } from "bun:test";
import { PrivateHeap } from "../../src/heap.ts";

/**
 * A maker of heaps that are closed after each test of the calling file
 * (unless the test closed them itself). Call once at the top of a file.
 */
export function heapsClosedAfterEach(defaultSize: number): (size?: number, zeroOnFree?: boolean) => PrivateHeap {
  const open: PrivateHeap[] = [];
  afterEach(() => {
    for (const h of open.splice(0)) if (!h.closed) h.close();
  });
  return (size = defaultSize, zeroOnFree = false) => {
    const h = PrivateHeap.create({ size, zeroOnFree });
    open.push(h);
    return h;
  };
}
