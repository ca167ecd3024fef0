import { expect } from "bun:test";
import { HeapError } from "../../src/errors.ts";
import type { PrivateHeap } from "../../src/heap.ts";

/** The code of the HeapError `f` throws, or "(no error)"; anything else it throws is rethrown. */
export function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof HeapError) return e.code;
    throw e;
  }
  return "(no error)";
}

/** The op ("Class.method") of the HeapError `f` throws, or "(no error)"; anything else it throws is rethrown. */
export function opOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof HeapError) return e.op;
    throw e;
  }
  return "(no error)";
}

/**
 * "CODE Class.method" of the HeapError `f` throws or its promise rejects
 * with, or "(no error)"; anything else is rethrown.
 */
export async function failureOf(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    if (e instanceof HeapError) return `${e.code} ${e.op}`;
    throw e;
  }
  return "(no error)";
}

/** The code of the HeapError `p` rejects with, or "(no error)"; any other rejection is rethrown. */
export async function codeOfRejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HeapError) return e.code;
    throw e;
  }
  return "(no error)";
}

/** `f` throws a HeapError with `code`; returns it. */
export function expectCode(f: () => unknown, code: string): HeapError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof HeapError)) throw new Error(`expected HeapError ${code}, got ${err === undefined ? "no error" : String(err)}`);
  expect(err.code).toBe(code as never);
  return err;
}

/**
 * `f` fails with `code`, and no byte of the region's used prefix changed
 * (the C contract: a failing call changes no byte), and check() passes.
 */
export function expectUnchanged(heap: PrivateHeap, f: () => unknown, code: string): void {
  const before = heap.u8.slice(0, heap.usedBytes);
  expectCode(f, code);
  const after = heap.u8.subarray(0, heap.usedBytes);
  expect(after.length).toBe(before.length);
  expect(Buffer.compare(Buffer.from(after), Buffer.from(before))).toBe(0);
  expect(heap.check()).toBe(0);
}
