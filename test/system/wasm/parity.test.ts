// The WebAssembly core against the native library: one seeded sequence of
// malloc / calloc / realloc / free of mixed sizes, writes of data and resets,
// run in lockstep on two PrivateHeaps of the same size and flags, one on each
// backend, gives the same result for every call, and at checkpoints the same
// stats, used-prefix bytes and checksum. The raw allocation calls give the
// native codes for arguments wasm32 cannot hold, a snapshot taken on either
// backend restores on the other, and the two heaps then go on alike.
import { afterEach, describe, expect, test } from "bun:test";
import { codeFromNative } from "../../../src/errors.ts";
import { loadNative } from "../../../src/ffi/loader.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { wasmBackend } from "../../../src/wasm/default-backend.ts";
import { expectCode } from "../../support/expect.ts";
import { rng } from "../../support/random.ts";
import { ensureWasmBuilt } from "../../support/wasm-build.ts";

const SIZE = 16 << 20;
/** Live bytes above which the sequence frees instead of allocating (the heaps never run out). */
const LIVE_LIMIT = 8 << 20;
const CHECKPOINT = 250;

/** Deliberate differences on the WebAssembly side, to show the comparison catches them. */
interface Perturbation {
  /** At this step, one extra malloc(24) before the step's call. */
  extraMallocAt?: number;
  /** At this step, one byte of the newest allocation is flipped after the writes. */
  flipByteAt?: number;
}

/** One allocation of the sequence, alike on both heaps. */
interface Live {
  off: number;
  size: number;
}

ensureWasmBuilt();
const open: PrivateHeap[] = [];
afterEach(() => {
  for (const h of open.splice(0)) h.close();
});

function nativeHeap(): PrivateHeap {
  const h = PrivateHeap.create({ size: SIZE });
  open.push(h);
  return h;
}

/** A PrivateHeap on the WebAssembly backend. */
function wasmHeap(): PrivateHeap {
  const h = PrivateHeap.create({ size: SIZE, backend: "wasm" });
  open.push(h);
  return h;
}

/** A size of one of the allocator's paths: tiny, small-bin, page-run, many pages. */
function pickSize(r: ReturnType<typeof rng>): number {
  const kind = r.int(0, 9);
  if (kind < 4) return r.int(1, 128);
  if (kind < 7) return r.int(129, 14336);
  if (kind < 9) return r.int(14337, 65536);
  return r.int(65537, 300_000);
}

/** The same call on both heaps; their results must be equal. */
function both<T>(step: number, what: string, native: PrivateHeap, wasm: PrivateHeap, call: (h: PrivateHeap) => T): T {
  const a = call(native);
  const b = call(wasm);
  if (a !== b) throw new Error(`step ${step}: ${what}: native ${String(a)}, wasm ${String(b)}`);
  return a;
}

/** Stats, used-prefix bytes and checksum of the two heaps must be equal. */
function compareState(step: number, native: PrivateHeap, wasm: PrivateHeap): void {
  const used = both(step, "usedBytes", native, wasm, (h) => h.usedBytes);
  const a = JSON.stringify(native.stats());
  const b = JSON.stringify(wasm.stats());
  if (a !== b) throw new Error(`step ${step}: stats differ: native ${a}, wasm ${b}`);
  const x = native.u8.subarray(0, used);
  const y = wasm.u8.subarray(0, used);
  for (let i = 0; i < used; i++) if (x[i] !== y[i]) throw new Error(`step ${step}: used-prefix byte ${i} differs: native ${x[i]}, wasm ${y[i]}`);
  both(step, "checksum", native, wasm, (h) => h.checksum());
}

/**
 * `steps` calls of the sequence from `seed` on both heaps, which hold the
 * allocations `live` (updated). Throws at the first difference.
 */
function lockstep(native: PrivateHeap, wasm: PrivateHeap, seed: number, steps: number, live: Live[], perturb: Perturbation = {}): void {
  const r = rng(seed);
  let liveBytes = live.reduce((s, a) => s + a.size, 0);
  const write = (a: Live) => {
    // A fill and a few scattered bytes, alike on both heaps.
    const value = r.int(0, 255);
    const spots = Array.from({ length: 4 }, () => [r.int(0, a.size - 1), r.int(0, 255)] as const);
    for (const h of [native, wasm]) {
      const u8 = h.u8;
      u8.fill(value, a.off, a.off + Math.min(a.size, 512));
      for (const [at, v] of spots) u8[a.off + at] = v;
    }
  };
  for (let step = 0; step < steps; step++) {
    if (step === perturb.extraMallocAt) wasm.malloc(24);
    const roll = r.int(0, 999);
    if (roll === 0 || step === steps >> 1) {
      both(step, "reset", native, wasm, (h) => h.reset());
      live.length = 0;
      liveBytes = 0;
      compareState(step, native, wasm);
    } else if (live.length > 0 && (roll < 350 || liveBytes > LIVE_LIMIT)) {
      const [a] = live.splice(r.int(0, live.length - 1), 1);
      both(step, `free(${a!.off})`, native, wasm, (h) => h.free(a!.off));
      liveBytes -= a!.size;
    } else if (live.length > 0 && roll < 500) {
      const a = live[r.int(0, live.length - 1)]!;
      const size = pickSize(r);
      a.off = both(step, `realloc(${a.off}, ${size})`, native, wasm, (h) => h.realloc(a.off, size));
      liveBytes += size - a.size;
      a.size = size;
      write(a);
    } else if (roll < 600) {
      const n = r.int(1, 16);
      const each = r.int(1, 2048);
      const a = { off: both(step, `calloc(${n}, ${each})`, native, wasm, (h) => h.calloc(n, each)), size: n * each };
      live.push(a);
      liveBytes += a.size;
      write(a);
    } else {
      const size = pickSize(r);
      const a = { off: both(step, `malloc(${size})`, native, wasm, (h) => h.malloc(size)), size };
      live.push(a);
      liveBytes += size;
      write(a);
    }
    if (step === perturb.flipByteAt && live.length > 0) {
      const u8 = wasm.u8;
      const at = live[live.length - 1]!.off;
      u8[at] = u8[at]! ^ 1;
    }
    if (live.length > 0) {
      const a = live[r.int(0, live.length - 1)]!;
      both(step, `usableSize(${a.off})`, native, wasm, (h) => h.usableSize(a.off));
    }
    if (step % CHECKPOINT === CHECKPOINT - 1) compareState(step, native, wasm);
  }
  compareState(steps, native, wasm);
}

describe("PrivateHeap gives the same results on either backend", () => {
  test("every call's offset, and stats, used-prefix bytes and checksums at checkpoints, over seeded sequences", () => {
    for (const seed of [1, 2, 3]) {
      const live: Live[] = [];
      lockstep(nativeHeap(), wasmHeap(), seed, 3000, live);
      for (const h of open.splice(0)) h.close();
    }
  });

  test("the comparison catches one extra call on one side", () => {
    const run = () => lockstep(nativeHeap(), wasmHeap(), 1, 3000, [], { extraMallocAt: 700 });
    expect(run).toThrow(/^step (\d+): /);
    try {
      run();
    } catch (e) {
      const step = Number(/^step (\d+)/.exec((e as Error).message)![1]);
      expect(step).toBeGreaterThanOrEqual(700);
      expect(step).toBeLessThan(700 + CHECKPOINT); // at the next checkpoint at the latest
    }
  });

  test("the comparison catches one byte written differently", () => {
    expect(() => lockstep(nativeHeap(), wasmHeap(), 2, 3000, [], { flipByteAt: 900 })).toThrow(/used-prefix byte \d+ differs/);
  });
});

describe("arguments the 32-bit core cannot hold", () => {
  test("sizes and alignments of 4 GiB and more give the native library's codes, not truncated allocations", () => {
    const native = nativeHeap();
    const wasm = wasmHeap();
    const N = loadNative().symbols;
    const W = wasmBackend().core.exports; // the raw calls: no JS check in front of the core
    const nh = native.address as never;
    const wh = wasm.address;
    const off = both(0, "malloc(100)", native, wasm, (h) => h.malloc(100));
    const huge = [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 16, 2 ** 40, 2 ** 53];
    for (const n of huge) {
      const calls: [string, () => number, () => number][] = [
        [`malloc(${n})`, () => N.ph_off_malloc(nh, n), () => W.ph_off_malloc(wh, n)],
        [`calloc(1, ${n})`, () => N.ph_off_calloc(nh, 1, n), () => W.ph_off_calloc(wh, 1, n)],
        [`calloc(${n}, 16)`, () => N.ph_off_calloc(nh, n, 16), () => W.ph_off_calloc(wh, n, 16)],
        [`calloc(0, ${n})`, () => N.ph_off_calloc(nh, 0, n), () => W.ph_off_calloc(wh, 0, n)],
        [`realloc(off, ${n})`, () => N.ph_off_realloc(nh, off, n), () => W.ph_off_realloc(wh, off, n)],
        [`realloc(off + 8, ${n})`, () => N.ph_off_realloc(nh, off + 8, n), () => W.ph_off_realloc(wh, off + 8, n)],
        [`aligned_alloc(16, ${n})`, () => N.ph_off_aligned_alloc(nh, 16, n), () => W.ph_off_aligned_alloc(wh, 16, n)],
        [`aligned_alloc(${n}, 16)`, () => N.ph_off_aligned_alloc(nh, n, 16), () => W.ph_off_aligned_alloc(wh, n, 16)],
        [`usable_size(${n})`, () => N.ph_off_usable_size(nh, n), () => W.ph_off_usable_size(wh, n)],
        [`free(${n})`, () => N.ph_off_free(nh, n), () => W.ph_off_free(wh, n)],
      ];
      for (const [what, onNative, onWasm] of calls) expect({ what, code: onWasm() }).toEqual({ what, code: onNative() });
    }
    compareState(1, native, wasm);
  });
});

describe("snapshots cross between the backends", () => {
  test("a Snapshot taken on one backend restores on the other (and Snapshot.fromBytes of its bytes), and the heaps go on alike", () => {
    const live: Live[] = [];
    const native = nativeHeap();
    lockstep(native, wasmHeap(), 11, 1500, live);

    // native -> WebAssembly, into fresh heaps that never saw the sequence: the Snapshot itself, and one made from its bytes.
    const taken = native.snapshot();
    const fromBytes = wasmHeap();
    fromBytes.restore(Snapshot.fromBytes(taken.bytes));
    const wasm = wasmHeap();
    wasm.restore(taken);
    for (const h of [fromBytes, wasm]) {
      expect(h.check()).toBe(0);
      expect(h.snapshot().bytes).toEqual(taken.bytes);
      expect(h.checksum()).toBe(taken.checksum());
    }
    lockstep(native, wasm, 12, 1500, live);

    // WebAssembly -> native, into a fresh heap.
    const back = nativeHeap();
    back.restore(Snapshot.fromBytes(wasm.snapshot().bytes));
    expect(back.check()).toBe(0);
    compareState(0, back, wasm);
    lockstep(back, wasm, 13, 1500, live);
  });

  test("a damaged image is refused by the WebAssembly core as by the native one, and the heap is unchanged", () => {
    const native = nativeHeap();
    const wasm = wasmHeap();
    const live: Live[] = [];
    lockstep(native, wasm, 21, 400, live);
    const image = native.snapshot().bytes;
    image[0]! ^= 0xff; // the magic
    const used = (h: PrivateHeap) => h.u8.slice(0, h.usedBytes);
    const nativeBefore = used(native);
    const wasmBefore = used(wasm);
    // Each core's own full check (flags 0: untrusted), into the live heap.
    const N = loadNative().symbols;
    const W = wasmBackend().symbols;
    expect(N.ph_heap_restore(native.address as never, native.size, image, image.length, 0)).toBeNull();
    const nativeCode = N.ph_last_error();
    expect(W.ph_heap_restore(wasm.address as never, wasm.size, image, image.length, 0)).toBeNull();
    expect(W.ph_last_error()).toBe(nativeCode);
    expect(nativeCode).toBeLessThan(0);
    // And what a program calls, which refuses the bytes before any heap sees them.
    expectCode(() => wasm.restore(Snapshot.fromBytes(image)), codeFromNative(nativeCode));
    expect(used(native)).toEqual(nativeBefore);
    expect(used(wasm)).toEqual(wasmBefore);
    expect(native.check()).toBe(0);
    expect(wasm.check()).toBe(0);
  });
});
