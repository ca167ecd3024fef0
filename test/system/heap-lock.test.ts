// Locked shared heaps ({ lock: true }): several processes and threads
// allocate at once; a holder killed with SIGKILL is taken over and checked.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NATIVE_CONSTANTS } from "../../src/ffi/symbols.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { SnapshotRing } from "../../src/snapshot/ring.ts";
import { Snapshot } from "../../src/snapshot/snapshot.ts";
import { Replay } from "../../src/snapshot/replay.ts";
import { SRC } from "../support/bun.ts";
import { expectCode } from "../support/expect.ts";

const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), "privheap-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const pathFor = () => join(dir, `l${seq++}.phheap`);
const INDEX = JSON.stringify(join(SRC, "index.ts"));
const LOCK_WORD = NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET;

/**
 * A child that opens the heap and does `ops` random mallocs and frees (up to
 * 1000 live), tagging every byte of its allocations with `tag` and checking
 * the tags before each free: an allocation handed to two processes would
 * show. Prints the number of bad tags, then frees what it holds.
 */
function writerScript(path: string, ops: number, tag: number): string {
  return `
    import { PrivateHeap } from ${INDEX};
    using heap = PrivateHeap.open(${JSON.stringify(path)}, { lock: true });
    const live = new Float64Array(1000), sizes = new Uint32Array(1000);
    let s = ${tag} * 7919, bad = 0;
    const u8 = heap.u8;
    for (let i = 0; i < ${ops}; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const k = (s >>> 8) % 1000;
      if (live[k] !== 0) {
        const off = live[k], n = sizes[k];
        for (let j = 0; j < n; j += 7) if (u8[off + j] !== ${tag}) bad++;
        heap.free(off);
        live[k] = 0;
      } else {
        const n = 1 + (s >>> 16) % 300;
        const off = heap.malloc(n);
        u8.fill(${tag}, off, off + n);
        live[k] = off; sizes[k] = n;
      }
    }
    for (let k = 0; k < 1000; k++) if (live[k] !== 0) heap.free(live[k]);
    console.log(bad);
  `;
}

async function run(script: string): Promise<{ code: number | null; out: string; err: string }> {
  const file = join(dir, `child-${seq++}.ts`);
  writeFileSync(file, script);
  const p = Bun.spawn([process.execPath, file], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out: out.trim(), err };
}

/** Header offset of bin 0's live count (csrc/internal.h: bins at 304, 20 bytes each, live at 12). */
const BIN0_LIVE = 304 + 12;
/** A half-done change the full check sees and the allocator does not trip on: a bin counts one more live region. */
const BREAK_BIN0_LIVE = `h.u32[${BIN0_LIVE / 4}] += 1;`;

/** A child that takes the heap's lock, runs `change` (with h the heap), and is killed with SIGKILL holding it. */
async function killHolder(path: string, change: string): Promise<void> {
  const file = join(dir, `holder-${seq++}.ts`);
  writeFileSync(
    file,
    `import { PrivateHeap } from ${INDEX};
     const heap = PrivateHeap.open(${JSON.stringify(path)}, { lock: true });
     heap.withLock((h) => {
       ${change}
       console.log("holding");
       Bun.sleepSync(60_000); // until killed
     });`,
  );
  const child = Bun.spawn([process.execPath, file], { stdout: "pipe" });
  expect(new TextDecoder().decode((await child.stdout.getReader().read()).value)).toContain("holding");
  child.kill("SIGKILL");
  await child.exited;
}

/** A process that opens the heap (which succeeds) and makes 60 calls on it, counting ECORRUPTs. */
function refusedScript(path: string): string {
  return `
    import { PrivateHeap } from ${INDEX};
    using heap = PrivateHeap.open(${JSON.stringify(path)});
    let refused = 0;
    for (let i = 0; i < 60; i++) {
      const k = i % 4;
      try {
        k === 0 ? heap.malloc(8 + i) : k === 1 ? heap.withLock(() => heap.u8[0]) : k === 2 ? heap.getRoot("x") : heap.calloc(2, 40);
      } catch (e) {
        if (e.code !== "ECORRUPT") throw e;
        refused++;
      }
    }
    console.log("refused", refused, "of 60");
  `;
}

describe("locked heaps", () => {
  test("two processes doing 1M mixed operations each never share an allocation, and the heap checks clean", async () => {
    const path = pathFor();
    PrivateHeap.open(path, { size: 64 * MiB, create: true, lock: true }).close();
    const [a, b] = await Promise.all([run(writerScript(path, 1_000_000, 1)), run(writerScript(path, 1_000_000, 2))]);
    expect(a.err).toBe("");
    expect(b.err).toBe("");
    expect([a.code, b.code]).toEqual([0, 0]);
    expect([a.out, b.out]).toEqual(["0", "0"]); // no tag overwritten by the other process
    using heap = PrivateHeap.open(path, { check: true });
    expect(heap.locked).toBe(true);
    expect(heap.check()).toBe(0);
    expect(heap.stats().liveCount).toBe(0);
    expect(heap.stats().mallocCount).toBeGreaterThan(900_000);
    expect(heap.lockRecoveries).toEqual({ count: 0, lastCheck: 0 });
  }, 120_000);

  test("a worker and the main thread allocate at once under the lock", async () => {
    const path = pathFor();
    using heap = PrivateHeap.open(path, { size: 32 * MiB, create: true, lock: true });
    const script = join(dir, `worker-${seq++}.ts`);
    writeFileSync(
      script,
      `import { PrivateHeap } from ${INDEX};
       self.onmessage = (e) => {
         using heap = PrivateHeap.open(e.data, { lock: true });
         const offs = [];
         for (let i = 0; i < 200000; i++) {
           offs.push(heap.malloc(16 + (i % 200)));
           heap.u8[offs[offs.length - 1]] = 9;
           if (offs.length > 500) heap.free(offs.shift());
         }
         for (const o of offs) heap.free(o);
         postMessage("done");
       };`,
    );
    const worker = new Worker(script);
    const done = new Promise((resolve, reject) => {
      worker.onmessage = resolve;
      worker.onerror = reject;
    });
    worker.postMessage(path);
    const mine: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      mine.push(heap.malloc(16 + (i % 300)));
      if (mine.length > 500) heap.free(mine.shift()!);
    }
    for (const o of mine) heap.free(o);
    await done;
    worker.terminate();
    expect(heap.check()).toBe(0);
    expect(heap.stats().liveCount).toBe(0);
  }, 60_000);

  test("a holder killed with SIGKILL is taken over by the next caller, which checks the heap", async () => {
    const path = pathFor();
    using heap = PrivateHeap.open(path, { size: 8 * MiB, create: true, lock: true });
    heap.setRoot("before", heap.malloc(100));
    const file = join(dir, `holder-${seq++}.ts`);
    writeFileSync(
      file,
      `import { PrivateHeap } from ${INDEX};
       const heap = PrivateHeap.open(${JSON.stringify(path)}, { lock: true });
       heap.withLock(() => {
         heap.malloc(5000);
         console.log("holding");
         Bun.sleepSync(60_000); // until killed
       });`,
    );
    const child = Bun.spawn([process.execPath, file], { stdout: "pipe" });
    const reader = child.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("holding");
    child.kill("SIGKILL");
    await child.exited;
    // The lock word still names the dead thread: the next call takes it over.
    const off = heap.malloc(64);
    expect(off).toBeGreaterThan(0);
    expect(heap.lockRecoveries).toEqual({ count: 1, lastCheck: 0 });
    expect(heap.check()).toBe(0);
    expect(heap.stats().liveCount).toBe(3);
  }, 30_000);

  test("a holder that dies mid-change leaves the heap refused to every process (ECORRUPT, every call, no crash) until a restore, a reset or a ring load", async () => {
    const path = pathFor();
    using heap = PrivateHeap.open(path, { size: 8 * MiB, create: true, lock: true });
    const kept = heap.malloc(100);
    const good = heap.snapshot();
    const ring = SnapshotRing.create(heap, { capacity: 2 });
    ring.save(1);
    const breakIt = () => killHolder(path, BREAK_BIN0_LIVE);
    await breakIt();
    // Here, again and again: each call refused, nothing done.
    for (let i = 0; i < 20; i++) {
      expect(expectCode(() => heap.malloc(64), "ECORRUPT").message).toContain("lockRecoveries");
      expectCode(() => heap.free(kept), "ECORRUPT");
      expectCode(() => heap.realloc(kept, 9000), "ECORRUPT");
      expectCode(() => heap.withLock(() => 1), "ECORRUPT");
      expectCode(() => heap.stats(), "ECORRUPT");
      expectCode(() => heap.snapshot(), "ECORRUPT");
      expectCode(() => heap.checksum(), "ECORRUPT");
      expectCode(() => ring.save(2), "ECORRUPT");
    }
    expect(heap.check()).toBeGreaterThan(0); // and it stays refused
    expect(heap.lockRecoveries.count).toBe(1);
    expect(heap.lockRecoveries.lastCheck).toBeGreaterThan(0);
    // Two other processes at once: refused too, and they end normally.
    const others = await Promise.all([run(refusedScript(path)), run(refusedScript(path))]);
    for (const r of others) expect([r.code, r.out, r.err]).toEqual([0, "refused 60 of 60", ""]);
    // A restore mends it, for everyone.
    heap.restore(good);
    expect(heap.lockRecoveries).toEqual({ count: 1, lastCheck: 0 });
    expect(heap.check()).toBe(0);
    heap.free(heap.malloc(64));
    expect((await run(writerScript(path, 2000, 4))).out).toBe("0");
    // So do a reset and a ring load.
    await breakIt();
    expectCode(() => heap.malloc(64), "ECORRUPT");
    heap.reset();
    expect([heap.check(), heap.stats().liveCount]).toEqual([0, 0]);
    await breakIt();
    expectCode(() => heap.malloc(64), "ECORRUPT");
    ring.load(1);
    expect(heap.lockRecoveries).toEqual({ count: 3, lastCheck: 0 });
    expect([heap.check(), heap.stats().liveCount]).toEqual([0, 1]);
    expect((await run(writerScript(path, 2000, 5))).out).toBe("0");
  }, 60_000);

  test("open of a heap a takeover found broken succeeds, its calls are ECORRUPT, and open({ check: true }) is ECORRUPT", async () => {
    const path = pathFor();
    {
      using heap = PrivateHeap.open(path, { size: 4 * MiB, create: true, lock: true });
      heap.malloc(10);
    }
    await killHolder(path, BREAK_BIN0_LIVE);
    {
      using heap = PrivateHeap.open(path);
      expectCode(() => heap.malloc(8), "ECORRUPT"); // this call takes over and finds it broken
    }
    expectCode(() => PrivateHeap.open(path, { check: true }), "ECORRUPT");
    using heap = PrivateHeap.open(path);
    expectCode(() => heap.malloc(8), "ECORRUPT");
    heap.reset();
    heap.malloc(8);
    using checked = PrivateHeap.open(path, { check: true });
    expect(checked.stats().liveCount).toBe(1);
  }, 30_000);

  test("withLock is recursive and returns fn's value; close inside it is refused", () => {
    const path = pathFor();
    const heap = PrivateHeap.open(path, { size: 4 * MiB, create: true, lock: true });
    const n = heap.withLock((h) => h.withLock((h2) => h2.malloc(10) > 0 && h2.stats().liveCount));
    expect(n).toBe(1);
    expectCode(() => heap.withLock((h) => h.close()), "EINVAL");
    expectCode(() => heap.withLock(null as never), "EINVAL");
    heap.close();
    expectCode(() => heap.withLock(() => 1), "ECLOSED");
    expectCode(() => heap.malloc(1), "ECLOSED");
    // A heap created without the lock cannot be opened with it.
    const plain = pathFor();
    PrivateHeap.open(plain, { size: 4 * MiB, create: true }).close();
    expectCode(() => PrivateHeap.open(plain, { lock: true }), "EINVAL");
    using p = PrivateHeap.open(plain);
    expect(p.locked).toBe(false);
    expect(p.withLock((h) => h.malloc(8) > 0)).toBe(true); // just runs fn
  });
});

describe("snapshots of locked heaps", () => {
  test("snapshot and restore run under the lock; the lock stays the region's", () => {
    using heap = PrivateHeap.open(pathFor(), { size: 8 * MiB, create: true, lock: true });
    const keep = heap.malloc(100);
    heap.u8[keep] = 7;
    heap.setRoot("keep", keep);
    const snap = heap.snapshot();
    heap.free(keep);
    heap.malloc(3 * MiB);
    heap.restore(snap);
    expect(heap.locked).toBe(true);
    expect(heap.getRoot("keep")).toBe(keep);
    expect(heap.u8[keep]).toBe(7);
    expect(heap.check()).toBe(0);
    expect(heap.withLock((h) => h.malloc(8) > 0)).toBe(true);
    // Into an anonymous heap: the copy comes without the lock.
    using plain = PrivateHeap.create({ size: 8 * MiB });
    plain.restore(snap);
    expect(plain.locked).toBe(false);
    expect(plain.getRoot("keep")).toBe(keep);
    expect(plain.malloc(10)).toBeGreaterThan(0);
    expect(plain.check()).toBe(0);
    // And an unlocked heap's snapshot into the locked heap: it stays locked.
    heap.restore(plain.snapshot());
    expect(heap.withLock((h) => h.stats().liveCount)).toBe(plain.stats().liveCount);
    expect(heap.lockRecoveries.count).toBe(0);
  });

  test("another process can take the lock after a restore released it", async () => {
    const path = pathFor();
    using heap = PrivateHeap.open(path, { size: 8 * MiB, create: true, lock: true });
    using empty = PrivateHeap.create({ size: 8 * MiB });
    heap.restore(empty.snapshot());
    const r = await run(writerScript(path, 20_000, 3));
    expect([r.code, r.out, r.err]).toEqual([0, "0", ""]);
    expect(heap.check()).toBe(0);
  });
});

describe("opening a locked heap that others are using", () => {
  test("a locked heap file does not grow: EINVAL, and the file keeps its size", () => {
    const path = pathFor();
    PrivateHeap.open(path, { size: 2 * MiB, create: true, lock: true }).close();
    expectCode(() => PrivateHeap.open(path, { size: 4 * MiB, create: true }), "EINVAL");
    expect(statSync(path).size).toBe(2 * MiB);
    using heap = PrivateHeap.open(path, { size: 2 * MiB, create: true });
    expect([heap.size, heap.locked]).toEqual([2 * MiB, true]);
  });

  test("opens (with and without check) succeed while another process allocates, and see a consistent heap", async () => {
    const path = pathFor();
    PrivateHeap.open(path, { size: 16 * MiB, create: true, lock: true }).close();
    let childDone = false;
    const child = run(writerScript(path, 400_000, 9));
    void child.then(() => (childDone = true));
    let opens = 0;
    while (!childDone || opens < 50) {
      using heap = PrivateHeap.open(path, { check: opens % 2 === 0 });
      expect(heap.check()).toBe(0);
      opens++;
      await Bun.sleep(0);
    }
    const r = await child;
    expect([r.code, r.out, r.err]).toEqual([0, "0", ""]);
  });
});

describe("lock words from files", () => {
  /** A locked heap file, closed, whose lock word is then `word` (low half, high half). */
  function craftedFile(low: number, high: number): string {
    const path = pathFor();
    PrivateHeap.open(path, { size: 4 * MiB, create: true, lock: true }).close();
    const bytes = readFileSync(path);
    bytes.writeUInt32LE(low >>> 0, LOCK_WORD);
    bytes.writeUInt32LE(high >>> 0, LOCK_WORD + 4);
    writeFileSync(path, bytes);
    return path;
  }
  const WAIT_MS = NATIVE_CONSTANTS.PH_ATTACH_WAIT_MS;

  /** open fails with EBUSY, after waiting about the bound, whether or not it checks. */
  function expectBusy(path: string): void {
    for (const check of [false, true]) {
      const t0 = performance.now();
      const e = expectCode(() => PrivateHeap.open(path, { check }), "EBUSY");
      const took = performance.now() - t0;
      expect(e.message).toContain(`its lock stayed held for ${WAIT_MS} ms`);
      expect(took).toBeGreaterThanOrEqual(WAIT_MS * 0.95); // it waited; the test's timeout bounds the wait
    }
  }

  test("a lock word naming a live process (pid 1) makes open fail with EBUSY within the bound, with or without check", () => {
    expectBusy(craftedFile(1, 0));
  }, 30_000);

  test("a lock word naming another live thread of the opening process makes open fail with EBUSY within the bound", () => {
    const other = readdirSync("/proc/self/task").map(Number).find((t) => t !== process.pid);
    expect(other).toBeDefined();
    expectBusy(craftedFile(other!, 0));
  }, 30_000);

  test("a lock word with no owner, or naming the opening thread, is taken over at open: the lock is free after it", async () => {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const started = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]); // field 22
    const words: [number, number][] = [
      [0x80000000, 0x12345678], // only the waiters bit
      [process.pid, started % 2 ** 32], // this very thread, which holds no lock
    ];
    for (const [low, high] of words) {
      const path = craftedFile(low, high);
      using heap = PrivateHeap.open(path);
      expect(heap.lockRecoveries).toEqual({ count: 1, lastCheck: 0 });
      expect([heap.u32[LOCK_WORD / 4], heap.u32[LOCK_WORD / 4 + 1]]).toEqual([0, 0]); // free
      expect((await run(writerScript(path, 1000, 6))).out).toBe("0"); // another process gets it
      expect(heap.check()).toBe(0);
    }
  }, 30_000);
});

describe("the rest of the lock block from files", () => {
  test("a recorded verdict refuses the heap until open({ check: true }) finds it consistent; garbage depth and counts mislead nothing", () => {
    const path = pathFor();
    {
      using heap = PrivateHeap.open(path, { size: 4 * MiB, create: true, lock: true });
      heap.setRoot("a", heap.malloc(10));
    }
    const bytes = readFileSync(path);
    bytes.writeUInt32LE(0xffffffff, LOCK_WORD + 8); // depth, with the word free
    bytes.writeUInt32LE(0xffffffff, LOCK_WORD + 12); // takeovers
    bytes.writeInt32LE(7, LOCK_WORD + 16); // a verdict: 7 broken invariants
    writeFileSync(path, bytes);
    {
      using heap = PrivateHeap.open(path);
      expect(heap.lockRecoveries).toEqual({ count: 2 ** 31 - 1, lastCheck: 7 });
      expectCode(() => heap.malloc(8), "ECORRUPT");
      expectCode(() => heap.withLock(() => 0), "ECORRUPT");
    }
    using checked = PrivateHeap.open(path, { check: true }); // the heap is whole: the verdict is lifted
    expect(checked.lockRecoveries.lastCheck).toBe(0);
    expect(checked.withLock((h) => h.withLock(() => h.malloc(8)))).toBeGreaterThan(0);
    expect([checked.u32[LOCK_WORD / 4], checked.u32[LOCK_WORD / 4 + 2]]).toEqual([0, 0]); // free, depth 0
    expect(checked.check()).toBe(0);
  });
});

describe("checksums, rings and replays of locked heaps", () => {
  test("a heap checksums the same whoever holds its lock, at any depth, in any process", async () => {
    const path = pathFor();
    using heap = PrivateHeap.open(path, { size: 4 * MiB, create: true, lock: true });
    heap.setRoot("a", heap.malloc(1000));
    const free = heap.checksum(); // held once, by this thread, inside the call
    expect(heap.withLock((h) => h.withLock((h2) => h2.checksum()))).toBe(free);
    expect(heap.snapshot().checksum()).toBe(free);
    const r = await run(`
      import { PrivateHeap } from ${INDEX};
      using heap = PrivateHeap.open(${JSON.stringify(path)}, { lock: true });
      console.log(heap.checksum().toString());
    `);
    expect([r.code, r.out, r.err]).toEqual([0, free.toString(), ""]);
    // Snapshots taken at different lock depths hold different lock words, and are equal.
    const inside = heap.withLock((h) => h.snapshot());
    const outside = heap.snapshot();
    expect(Buffer.compare(inside.bytes, outside.bytes)).not.toBe(0);
    expect(Snapshot.diff(inside, outside)).toMatchObject({ equal: true, changedBytes: 0, ranges: [] });
    // The same heap in an unlocked region has the same checksum too.
    using plain = PrivateHeap.create({ size: 4 * MiB });
    plain.restore(heap.snapshot());
    expect(plain.locked).toBe(false);
    expect(plain.checksum()).toBe(free);
  });

  for (const mode of ["delta", "full"] as const) {
    test(`a ${mode} ring rolls a locked heap back while another process allocates under its lock`, async () => {
      const path = pathFor();
      using heap = PrivateHeap.open(path, { size: 8 * MiB, create: true, lock: true });
      const ring = SnapshotRing.create(heap, { capacity: 4, mode });
      const cell = heap.malloc(8);
      heap.setRoot("cell", cell);
      // The child's malloc+free pairs each run under one hold of the lock,
      // so no rollback can fall between them. It goes on until it has seen
      // the parent roll the cell back 20 times (so the two really overlap).
      const child = run(`
        import { PrivateHeap } from ${INDEX};
        using heap = PrivateHeap.open(${JSON.stringify(path)}, { lock: true });
        const cell = heap.getRoot("cell") >>> 3;
        let pairs = 0, seen = 0, last = 0;
        for (let i = 0; seen < 20 && i < 50_000_000; i++) {
          pairs += heap.withLock((h) => { const p = h.malloc(1 + (i % 500)); h.u8[p] = 1; h.free(p); return 1; });
          const now = heap.withLock((h) => h.f64[cell]!);
          if (now < last) seen++;
          last = now;
        }
        console.log(seen === 20 ? "saw 20 rollbacks" : "gave up", pairs > 0);
      `);
      let childDone = false;
      void child.then(() => (childDone = true));
      const sums = new Map<number, bigint>();
      for (let frame = 1; !childDone; frame++) {
        heap.withLock((h) => {
          h.f64[cell >>> 3] = frame;
          ring.save(frame);
          sums.set(frame, h.checksum());
        });
        if (frame % 3 === 0) {
          const back = frame - 2;
          // One hold for the load and the look: the child's next pair changes counters.
          const now = heap.withLock((h) => {
            ring.load(back);
            return [h.f64[cell >>> 3], h.checksum()];
          });
          expect(now).toEqual([back, sums.get(back)!]);
          frame = back;
        }
        await Bun.sleep(0); // lets the child's exit be seen
      }
      const r = await child;
      expect([r.code, r.out, r.err]).toEqual([0, "saw 20 rollbacks true", ""]);
      expect(heap.locked).toBe(true);
      expect(heap.check()).toBe(0);
      expect(heap.lockRecoveries.count).toBe(0);
    });
  }

  test("a replay recorded from a locked heap verifies on an unlocked one, and seeks into a locked one", () => {
    const path = pathFor();
    const file = join(dir, `locked-${seq++}.phreplay`);
    const step = (h: PrivateHeap, input: Uint8Array) => {
      const at = h.getRoot("sum") >>> 3;
      h.f64[at] = h.f64[at]! * 0.5 + input[0]!;
      if (input[0]! % 3 === 0) h.malloc(64 + input[0]!);
    };
    {
      using heap = PrivateHeap.open(path, { size: 4 * MiB, create: true, lock: true });
      heap.setRoot("sum", heap.calloc(1, 8));
      using rec = Replay.record(file, heap, { keyframeEvery: 5 });
      for (let t = 0; t < 23; t++) {
        const input = Uint8Array.of(t % 11);
        heap.withLock((h) => step(h, input));
        rec.tick(input);
      }
    }
    const replay = Replay.openSync(file);
    using plain = PrivateHeap.create({ size: 4 * MiB });
    expect(replay.verify(plain, step).ok).toBe(true);
    using locked = PrivateHeap.open(pathFor(), { size: 4 * MiB, create: true, lock: true });
    replay.seek(17, locked, step);
    expect([locked.locked, locked.checksum()]).toEqual([true, replay.checksum(17)]);
    expect(replay.verify(locked, step).ok).toBe(true);
  });
});

