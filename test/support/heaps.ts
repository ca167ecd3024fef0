import { afterEach } from "bun:test";
import { type HeapOptions, PrivateHeap } from "../../src/heap.ts";

/** The C cores a heap can run on. */
export type HeapBackend = NonNullable<HeapOptions["backend"]>;
/** Both, for tests that run over each. */
export const BACKENDS: readonly HeapBackend[] = ["native", "wasm"];

/**
 * A maker of heaps that are closed after each test of the calling file
 * (unless the test closed them itself). Call once at the top of a file.
 */
export function heapsClosedAfterEach(defaultSize: number, backend: HeapBackend = "native"): (size?: number, zeroOnFree?: boolean) => PrivateHeap {
  const open: PrivateHeap[] = [];
  afterEach(() => {
    for (const h of open.splice(0)) if (!h.closed) h.close();
  });
  return (size = defaultSize, zeroOnFree = false) => {
    const h = PrivateHeap.create({ size, zeroOnFree, backend });
    open.push(h);
    return h;
  };
}
