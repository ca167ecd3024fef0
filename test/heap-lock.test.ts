// Locked shared heaps ({ lock: true }): several processes and threads
// allocate at once; a holder killed with SIGKILL is taken over and checked.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../src/heap.ts";
import { SnapshotRing } from "../src/snapshot/ring.ts";
import { Replay } from "../src/snapshot/replay.ts";
import { SRC } from "./support/bun.ts";
import { expectCode } from "./support/expect.ts";

const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), "privheap-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const pathFor = () => join(dir, `l${seq++}.phheap`);
const INDEX = JSON.stringify(join(SRC, "index.ts"));
const linux = process.platform === "linux";

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

describe.if(linux)("locked heaps (Linux)", () => {
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

  test("withLock is recursive and returns fn's value; close inside it is refused; rings and replays refuse locked heaps", () => {
    const path = pathFor();
    const heap = PrivateHeap.open(path, { size: 4 * MiB, create: true, lock: true });
    const n = heap.withLock((h) => h.withLock((h2) => h2.malloc(10) > 0 && h2.stats().liveCount));
    expect(n).toBe(1);
    expectCode(() => heap.withLock((h) => h.close()), "EINVAL");
    expectCode(() => new SnapshotRing(heap, { capacity: 2 }), "EINVAL");
    expectCode(() => Replay.record(join(dir, "r.phreplay"), heap), "EINVAL");
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

describe.if(linux)("snapshots of locked heaps", () => {
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
    heap.restore(PrivateHeap.create({ size: 8 * MiB }).snapshot());
    const r = await run(writerScript(path, 20_000, 3));
    expect([r.code, r.out, r.err]).toEqual([0, "0", ""]);
    expect(heap.check()).toBe(0);
  });
});

describe.if(!linux)("locked heaps elsewhere", () => {
  test("are refused until the platform has them", () => {
    expectCode(() => PrivateHeap.open(pathFor(), { size: 4 * MiB, create: true, lock: true }), "EINVAL");
  });
});
