// Code given only bytes (Snapshot.fromBytes, a snapshot's inspect, stats,
// roots, allocations and checksum, a replay's keyframes, diffs) runs on the
// default backend. Here the default is made the WebAssembly one, as outside
// Bun: the same bytes give the same results as with the native default,
// and damaged bytes the same error codes (the untrusted checks run in the
// WebAssembly core). The hostile flips are seeded; PRIVHEAP_SEED=<n> replays one.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Backend, defaultBackend, setDefaultBackend } from "../../../src/backend.ts";
import { HeapError } from "../../../src/errors.ts";
import { nativeBackend } from "../../../src/ffi/native-backend.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import type { HeapReport } from "../../../src/inspect/report.ts";
import { imageMemory } from "../../../src/snapshot/image-memory.ts";
import { Replay, type StepFn } from "../../../src/snapshot/replay.ts";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { wasmBackend } from "../../../src/wasm/default-backend.ts";
import { rng, seeds } from "../../support/random.ts";

const MiB = 1 << 20;
const open: PrivateHeap[] = [];
afterEach(() => {
  for (const h of open.splice(0)) if (!h.closed) h.close();
});
const dir = mkdtempSync(join(tmpdir(), "privheap-bytes-wasm-"));

/** Calls of the WebAssembly backend's withBytes: bytes copied into its memory for a C reader. */
let copiesIn = 0;
beforeAll(() => {
  const wasm = wasmBackend();
  const original = wasm.withBytes.bind(wasm);
  wasm.withBytes = ((bytes, fn) => {
    copiesIn++;
    return original(bytes, fn);
  }) as Backend["withBytes"];
  setDefaultBackend(wasmBackend);
});
afterAll(() => {
  setDefaultBackend(nativeBackend);
  rmSync(dir, { recursive: true, force: true });
});

/** Run `f` with the native library as the default backend, then put the WebAssembly one back. */
function withNativeDefault<T>(f: () => T): T {
  setDefaultBackend(nativeBackend);
  try {
    return f();
  } finally {
    setDefaultBackend(wasmBackend);
  }
}

function dataOf(report: HeapReport): object {
  return Object.fromEntries(Object.entries(report).filter(([, v]) => typeof v !== "function"));
}

/** A WebAssembly heap with small and large allocations, roots and some frees. */
function world(): PrivateHeap {
  const h = PrivateHeap.create({ size: 8 * MiB, backend: "wasm" });
  open.push(h);
  const offs: number[] = [];
  for (let i = 0; i < 300; i++) {
    const p = h.malloc(i % 37 === 0 ? 30_000 + i * 100 : 16 + (i % 200));
    h.u8[p] = i & 255;
    offs.push(p);
  }
  for (let i = 0; i < 300; i += 3) h.free(offs[i]!);
  h.setRoot("first", offs[1]!);
  h.setRoot("last", offs[299]!);
  return h;
}

/** The outcome of Snapshot.fromBytes: an error code, or the checksum and report of the snapshot made. */
function outcome(bytes: Uint8Array): string {
  try {
    const s = Snapshot.fromBytes(bytes);
    return `ok ${s.checksum()} ${s.allocations().length} ${JSON.stringify(s.roots())} ${s.inspect().live.count}`;
  } catch (e) {
    if (e instanceof HeapError) return e.code;
    throw e;
  }
}

describe("bytes on the WebAssembly core (the default outside Bun)", () => {
  test("the default is the WebAssembly backend here, with no image memory", () => {
    expect(defaultBackend()!.kind).toBe("wasm");
    expect(imageMemory()).toEqual({ live: 0, pooled: 0 });
  });

  test("Snapshot.fromBytes, its stats, roots, allocations, checksum and inspect equal the heap's", () => {
    const h = world();
    const before = copiesIn;
    const s = Snapshot.fromBytes(h.snapshot().bytes);
    expect(copiesIn).toBeGreaterThan(before); // the full check ran in the WebAssembly core
    expect(s.checksum()).toBe(h.checksum());
    expect(s.stats()).toEqual(h.stats());
    expect(s.roots()).toEqual(h.roots());
    expect(s.allocations().length).toBeGreaterThan(100);
    expect(Array.from(s.allocations())).toEqual(Array.from(withNativeDefault(() => h.snapshot().allocations())));
    expect(dataOf(s.inspect())).toEqual(dataOf(h.inspect()));
    const native = withNativeDefault(() => Snapshot.fromBytes(h.snapshot().bytes));
    expect(dataOf(native.inspect())).toEqual(dataOf(s.inspect()));
    const other = world();
    other.u8[other.getRoot("first") + 1] = 99;
    const d = Snapshot.diff(s, other.snapshot());
    expect(d.changedBytes).toBe(1);
    expect(d.roots).toEqual(["first"]);
  });

  test.each(seeds(3))("seed %d: damaged bytes get the same outcome as with the native default", (seed) => {
    const r = rng(seed);
    const good = world().snapshot().bytes;
    const cases: Uint8Array[] = [good.subarray(0, 4096), good.subarray(0, good.length - 4096)];
    for (let k = 0; k < 40; k++) {
      const bad = good.slice();
      // Mostly the header and metadata pages (where the checks look), now and then anywhere.
      for (let n = r.int(1, 3); n > 0; n--) {
        const at = r.int(0, 9) === 0 ? r.int(0, bad.length - 1) : r.int(0, 3 * 4096);
        bad[at] = bad[at]! ^ (1 << r.int(0, 7));
      }
      cases.push(bad);
    }
    let refused = 0;
    for (const bytes of cases) {
      const got = outcome(bytes);
      expect(got).toBe(withNativeDefault(() => outcome(bytes)));
      if (!got.startsWith("ok")) refused++;
    }
    expect(refused).toBeGreaterThanOrEqual(2); // the truncated ones at least
  });

  test("a replay of a WebAssembly heap opens, seeks and verifies with bytes read by the WebAssembly core", () => {
    const step: StepFn = (h, input, t) => {
      const p = h.malloc(40 + ((input[0]! + t) % 3000));
      h.u8[p] = input[0]!;
      if (t % 3 === 0) h.free(h.getRoot("keep"));
      h.setRoot("keep", p);
    };
    const h = PrivateHeap.create({ size: 8 * MiB, backend: "wasm" });
    open.push(h);
    const path = join(dir, "w.phreplay");
    h.setRoot("keep", h.malloc(8));
    const sums: bigint[] = [];
    {
      using rec = Replay.record(path, h, { keyframeEvery: 4 });
      for (let t = 0; t < 30; t++) {
        step(h, Uint8Array.of(t * 7), t);
        rec.tick(Uint8Array.of(t * 7));
        sums.push(h.checksum());
      }
    }
    using replay = Replay.openSync(path);
    const into = PrivateHeap.create({ size: 8 * MiB, backend: "wasm" });
    open.push(into);
    replay.seek(17, into, step);
    expect(into.checksum()).toBe(sums[17]!);
    expect(replay.keyframe(23).checksum()).toBe(sums[23]!);
    expect(replay.verify(into, step).ok).toBe(true);
  });
});
