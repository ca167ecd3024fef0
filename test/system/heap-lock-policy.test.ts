// The lock policy of PrivateHeap, member by member: every member of its
// prototype is in POLICY, as locked (a locked heap's call takes its lock;
// refused with ECORRUPT while a takeover's verdict says the heap is broken),
// repair (takes the lock, and runs on a broken heap: it replaces or checks
// the state) or exempt (never takes the lock). A member missing from the
// table fails the first test, so a new one cannot skip the policy; the
// others check each entry's behaviour on a locked heap file whose lock a
// worker holds, and on one whose lock block records a broken verdict.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeapError } from "../../src/errors.ts";
import { NATIVE_CONSTANTS } from "../../src/ffi/symbols.ts";
import { FREE_LOG } from "../../src/free-log.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { Replay, type ReplayRecorder } from "../../src/snapshot/replay.ts";
import { SnapshotRing } from "../../src/snapshot/ring.ts";
import type { Snapshot } from "../../src/snapshot/snapshot.ts";
import { SRC } from "../support/bun.ts";

const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), "privheap-lock-policy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const INDEX = JSON.stringify(join(SRC, "index.ts"));
const LOCK_WORD = NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET;
/** The lock block's verdict, lock_check (internal.h: after the 8-byte word, the depth and the takeover count). */
const VERDICT = LOCK_WORD + 16;

type Policy = "locked" | "repair" | "exempt";

/** What a member's call gets: a live allocation and a snapshot made before the lock was held. */
interface Ready {
  off: number;
  snap: Snapshot;
}

interface Entry {
  policy: Policy;
  call: (h: PrivateHeap, r: Ready) => unknown;
  /** Why an exempt member needs no lock. */
  why?: string;
}

const VIEW = "a view: the caller groups its reads and writes with withLock";
const FIELD = "a field of this object, not of the region";

/** Every member of PrivateHeap.prototype (but its constructor). */
const POLICY: Record<string | symbol, Entry> = {
  // The allocation calls take the lock inside C (the *_locked twins).
  malloc: { policy: "locked", call: (h) => h.malloc(64) },
  calloc: { policy: "locked", call: (h) => h.calloc(4, 16) },
  realloc: { policy: "locked", call: (h, r) => h.realloc(r.off, 9000) },
  alignedAlloc: { policy: "locked", call: (h) => h.alignedAlloc(256, 10) },
  free: { policy: "locked", call: (h, r) => h.free(r.off) },
  usableSize: { policy: "locked", call: (h, r) => h.usableSize(r.off) },
  // The others take it in JavaScript.
  setRoot: { policy: "locked", call: (h, r) => h.setRoot("p", r.off) },
  getRoot: { policy: "locked", call: (h) => h.getRoot("p") },
  roots: { policy: "locked", call: (h) => h.roots() },
  stats: { policy: "locked", call: (h) => h.stats() },
  walk: { policy: "locked", call: (h) => h.walk(() => {}) },
  inspect: { policy: "locked", call: (h) => h.inspect() },
  snapshot: { policy: "locked", call: (h) => h.snapshot() },
  checksum: { policy: "locked", call: (h) => h.checksum() },
  withLock: { policy: "locked", call: (h) => h.withLock(() => 1) },
  reset: { policy: "repair", call: (h) => h.reset() },
  restore: { policy: "repair", call: (h, r) => h.restore(r.snap) },
  check: { policy: "repair", call: (h) => h.check() },
  purge: { policy: "locked", call: (h) => h.purge() },
  flush: { policy: "exempt", call: (h) => h.flush(), why: "msync of the mapping: reads no allocator structure" },
  path: { policy: "exempt", call: (h) => h.path, why: FIELD },
  size: { policy: "exempt", call: (h) => h.size, why: FIELD },
  address: { policy: "exempt", call: (h) => h.address, why: FIELD },
  closed: { policy: "exempt", call: (h) => h.closed, why: FIELD },
  locked: { policy: "exempt", call: (h) => h.locked, why: FIELD },
  maxAlloc: { policy: "exempt", call: (h) => h.maxAlloc, why: "computed from the size alone" },
  usedBytes: { policy: "exempt", call: (h) => h.usedBytes, why: "one aligned header word, read once" },
  generation: { policy: "exempt", call: (h) => h.generation, why: "one aligned header word, read once" },
  zeroOnFree: { policy: "exempt", call: (h) => h.zeroOnFree, why: "flags fixed when the heap was made" },
  tracking: { policy: "exempt", call: (h) => h.tracking, why: "this process's tracker of the mapping: reads no allocator structure" },
  trackingReason: { policy: "exempt", call: (h) => h.trackingReason, why: "this process's tracker of the mapping: reads no allocator structure" },
  lockRecoveries: { policy: "exempt", call: (h) => h.lockRecoveries, why: "reports the lock itself, so it must answer while the lock is held or the heap refused" },
  u8: { policy: "exempt", call: (h) => h.u8, why: VIEW },
  i8: { policy: "exempt", call: (h) => h.i8, why: VIEW },
  u16: { policy: "exempt", call: (h) => h.u16, why: VIEW },
  i16: { policy: "exempt", call: (h) => h.i16, why: VIEW },
  u32: { policy: "exempt", call: (h) => h.u32, why: VIEW },
  i32: { policy: "exempt", call: (h) => h.i32, why: VIEW },
  f32: { policy: "exempt", call: (h) => h.f32, why: VIEW },
  f64: { policy: "exempt", call: (h) => h.f64, why: VIEW },
  u64: { policy: "exempt", call: (h) => h.u64, why: VIEW },
  i64: { policy: "exempt", call: (h) => h.i64, why: VIEW },
  view: { policy: "exempt", call: (h) => h.view, why: VIEW },
  close: { policy: "exempt", call: (h) => h.close(), why: "drops this object's mapping; refused while this object holds the lock" },
  [Symbol.dispose]: { policy: "exempt", call: (h) => h[Symbol.dispose](), why: "close()" },
  [FREE_LOG]: { policy: "exempt", call: (h) => h[FREE_LOG](), why: "wraps this object's free and realloc calls, which take the lock themselves" },
};

const members = (): (string | symbol)[] => Reflect.ownKeys(PrivateHeap.prototype).filter((k) => k !== "constructor");
/** The members the table lists (the first test fails on any other). */
const listed = (): (string | symbol)[] => members().filter((k) => Object.hasOwn(POLICY, k));
const nameOf = (k: string | symbol): string => (typeof k === "symbol" ? k.toString() : k);

/** A new locked heap file (the worker and the rounds open it again). */
function lockedFile(): string {
  const path = join(dir, `p${seq++}.phheap`);
  PrivateHeap.open(path, { size: 8 * MiB, create: true, lock: true }).close();
  return path;
}

// The worker's and the main thread's shared words.
const ROUND = 0; // main: hold the lock for this round (-1: stop)
const HELD = 1; // worker: holding it for this round
const DONE = 2; // main: the call of this round returned
const RELEASED = 3; // worker: released it for this round
const WAITED = 4; // worker: 1 when this round's call waited for the lock (its waiters bit)

/**
 * A worker that holds the heap's lock once per round until the main thread
 * either waits for it (the lock word's waiters bit: set by a waiter before
 * it sleeps, after its spins) or says its call returned.
 */
function lockHolder(path: string): { ctl: Int32Array; stop: () => Promise<void> } {
  const script = join(dir, `holder-${seq++}.ts`);
  writeFileSync(
    script,
    `import { PrivateHeap } from ${INDEX};
     self.onmessage = ({ data }) => {
       const c = new Int32Array(data.ctl);
       using heap = PrivateHeap.open(data.path, { lock: true });
       const word = heap.u32;
       for (let r = 1; ; r++) {
         while (Atomics.load(c, ${ROUND}) === r - 1) Atomics.wait(c, ${ROUND}, r - 1);
         if (Atomics.load(c, ${ROUND}) < 0) break;
         heap.withLock(() => {
           Atomics.store(c, ${HELD}, r);
           Atomics.notify(c, ${HELD});
           let waited = 0;
           while (Atomics.load(c, ${DONE}) !== r) {
             if (Atomics.load(word, ${LOCK_WORD / 4}) & 0x80000000) { waited = 1; break; }
           }
           Atomics.store(c, ${WAITED}, waited);
         });
         Atomics.store(c, ${RELEASED}, r);
         Atomics.notify(c, ${RELEASED});
       }
       postMessage("stopped");
     };`,
  );
  const ctl = new Int32Array(new SharedArrayBuffer(8 * 4));
  const worker = new Worker(script);
  const stopped = new Promise<void>((resolve, reject) => {
    worker.onmessage = () => resolve();
    worker.onerror = (e) => reject(e);
  });
  worker.postMessage({ path, ctl: ctl.buffer });
  return {
    ctl,
    stop: async () => {
      Atomics.store(ctl, ROUND, -1);
      Atomics.notify(ctl, ROUND);
      await stopped;
      worker.terminate();
    },
  };
}

function waitFor(ctl: Int32Array, at: number, value: number): void {
  for (let v = Atomics.load(ctl, at); v !== value; v = Atomics.load(ctl, at)) Atomics.wait(ctl, at, v, 1000);
}

/** Run `call` while the worker holds the lock; true when the call waited for it. */
function waitsForHeldLock(ctl: Int32Array, round: number, call: () => unknown): boolean {
  Atomics.store(ctl, ROUND, round);
  Atomics.notify(ctl, ROUND);
  waitFor(ctl, HELD, round);
  try {
    call();
  } finally {
    Atomics.store(ctl, DONE, round);
    waitFor(ctl, RELEASED, round);
  }
  return Atomics.load(ctl, WAITED) === 1;
}

/** A heap object of its own on `path` (so close may run), with an allocation and a snapshot. */
function ready(path: string): { h: PrivateHeap; r: Ready } {
  const h = PrivateHeap.open(path);
  const off = h.malloc(100);
  return { h, r: { off, snap: h.snapshot() } };
}

describe("the lock policy of PrivateHeap", () => {
  test("every member of the prototype is locked, repair or exempt, and every exempt one says why", () => {
    const unlisted = members().filter((k) => !Object.hasOwn(POLICY, k)).map(nameOf);
    expect(unlisted).toEqual([]);
    const gone = Reflect.ownKeys(POLICY).filter((k) => !members().includes(k)).map(nameOf);
    expect(gone).toEqual([]);
    const unexplained = Reflect.ownKeys(POLICY).filter((k) => POLICY[k]!.policy === "exempt" && !POLICY[k]!.why).map(nameOf);
    expect(unexplained).toEqual([]);
  });

  test("locked and repair members wait for a lock another thread holds; exempt ones do not", async () => {
    const path = lockedFile();
    const holder = lockHolder(path);
    const seen: Record<string, string> = {};
    try {
      let round = 0;
      for (const k of listed()) {
        const { h, r } = ready(path);
        try {
          const waited = waitsForHeldLock(holder.ctl, ++round, () => POLICY[k]!.call(h, r));
          seen[nameOf(k)] = waited ? "waited" : "ran";
        } finally {
          if (!h.closed) h.close();
        }
      }
    } finally {
      await holder.stop();
    }
    const want = Object.fromEntries(listed().map((k) => [nameOf(k), POLICY[k]!.policy === "exempt" ? "ran" : "waited"]));
    expect(seen).toEqual(want);
    using heap = PrivateHeap.open(path, { check: true });
    expect(heap.lockRecoveries).toEqual({ count: 0, lastCheck: 0 });
  }, 60_000);

  test("on a heap whose lock records a broken verdict, locked members are ECORRUPT naming PrivateHeap.<member>; repair and exempt ones run", () => {
    const path = lockedFile();
    using verdict = PrivateHeap.open(path); // writes the verdict, whatever the call does to its own heap object
    const seen: Record<string, string> = {};
    for (const k of listed()) {
      const { h, r } = ready(path);
      verdict.i32[VERDICT / 4] = 3; // the lock is free, as a takeover's failed check leaves it
      try {
        POLICY[k]!.call(h, r);
        seen[nameOf(k)] = "ran";
      } catch (e) {
        if (!(e instanceof HeapError)) throw e;
        seen[nameOf(k)] = `${e.code} ${e.op}`;
      } finally {
        verdict.i32[VERDICT / 4] = 0;
        if (!h.closed) h.close();
      }
    }
    const want = Object.fromEntries(listed().map((k) => [nameOf(k), POLICY[k]!.policy === "locked" ? `ECORRUPT PrivateHeap.${nameOf(k)}` : "ran"]));
    expect(seen).toEqual(want);
  });
});

describe("rings and replays take a locked heap's lock through the heap", () => {
  test("SnapshotRing.save and .load, Replay.record, ReplayRecorder.tick and .rewind, Replay.seek and .verify wait for a lock another thread holds", async () => {
    const path = lockedFile();
    const file = join(dir, `r${seq++}.phreplay`);
    const step = (h: PrivateHeap, input: Uint8Array) => void h.malloc(8 + input[0]!);
    {
      using heap = PrivateHeap.open(path);
      using rec = Replay.record(file, heap, { keyframeEvery: 2 });
      for (let t = 0; t < 3; t++) {
        step(heap, Uint8Array.of(t));
        rec.tick(Uint8Array.of(t));
      }
    }
    using replay = await Replay.open(file);
    using heap = PrivateHeap.open(path);
    heap.reset();
    const ring = SnapshotRing.create(heap, { capacity: 4 });
    ring.save(1);
    let recorder: ReplayRecorder | undefined;
    const calls: Record<string, () => unknown> = {
      "SnapshotRing.save": () => ring.save(2),
      "SnapshotRing.load": () => ring.load(1),
      "Replay.record": () => (recorder = Replay.record(join(dir, `r${seq++}.phreplay`), heap)),
      "ReplayRecorder.tick": () => recorder!.tick(Uint8Array.of(1)),
      "ReplayRecorder.rewind": () => recorder!.rewind(0), // the heap has not changed since: it is the state before tick 0
      "Replay.seek": () => replay.seek(1, heap, step),
      "Replay.verify": () => replay.verify(heap, step),
    };
    const holder = lockHolder(path);
    const waited: Record<string, boolean> = {};
    try {
      let round = 0;
      for (const [name, call] of Object.entries(calls)) waited[name] = waitsForHeldLock(holder.ctl, ++round, call);
    } finally {
      await holder.stop();
      recorder?.close();
    }
    expect(waited).toEqual(Object.fromEntries(Object.keys(calls).map((n) => [n, true])));
    expect(heap.check()).toBe(0);
  }, 60_000);
});
