// kill -9 of a locked heap's writer at random points of its work (inside
// malloc, free and realloc, a ring save or load, a replay tick): every
// survivor, in this process and another, either goes on with a consistent
// heap or is refused with ECORRUPT by every call until the heap is
// restored; never a crash or a hang.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../src/heap.ts";
import { SRC } from "../support/bun.ts";
import { expectCode } from "../support/expect.ts";
import { canStopIn, killInFunction } from "../support/faults.ts";

const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), "privheap-lock-faults-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const INDEX = JSON.stringify(join(SRC, "index.ts"));
let seq = 0;
const ROUNDS = 15;

/** The writer of each mode: a loop that prints a line every few steps. */
function writerScript(path: string, mode: "alloc" | "ring" | "replay", seed: number): string {
  return `
    import { PrivateHeap, SnapshotRing, Replay } from ${INDEX};
    import { writeSync } from "node:fs";
    const heap = PrivateHeap.open(${JSON.stringify(path)}, { lock: true });
    let s = ${seed};
    const rand = (n) => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) % n;
    const live = [];
    // small: mostly metadata work (a kill lands mid-change more often)
    const change = (small = false) => {
      const k = rand(64);
      const big = !small && rand(4) === 0;
      if (live[k]) {
        if (rand(3) === 0) live[k] = heap.realloc(live[k], 1 + rand(big ? 1 << 20 : 3000));
        else { heap.free(live[k]); live[k] = 0; }
      } else live[k] = rand(2) ? heap.malloc(1 + rand(big ? 1 << 20 : 3000)) : heap.calloc(1, 1 + rand(small ? 20000 : 200000));
      if (live[k]) heap.u8[live[k]] = k;
    };
    const mode = ${JSON.stringify(mode)};
    const ring = mode === "ring" ? SnapshotRing.create(heap, { capacity: 4 }) : null;
    const rec = mode === "replay" ? Replay.record(${JSON.stringify(join(dir, `r${seq++}.phreplay`))}, heap, { keyframeEvery: 3 }) : null;
    // Each step says where it is, holding the lock, then works on (so a
    // kill right after the line lands in the locked work more often).
    const say = (step) => writeSync(1, step + "\\n");
    for (let step = 1; ; step++) {
      if (mode === "alloc") heap.withLock(() => { say(step); for (let i = 0; i < 2000; i++) change(true); });
      else if (mode === "ring") {
        for (let i = 0; i < 8; i++) change();
        heap.withLock(() => { say(step); ring.save(step); });
        if (step % 3 === 0) { heap.withLock(() => { say(step); ring.load(step - 2); }); live.length = 0; }
      } else {
        for (let i = 0; i < 8; i++) change();
        heap.withLock(() => { say(step); rec.tick(Uint8Array.of(step & 255)); });
      }
    }
  `;
}

/** Another process: 20 calls that all succeed on a consistent heap, or are all ECORRUPT. */
function survivorScript(path: string, broken: boolean): string {
  return `
    import { PrivateHeap } from ${INDEX};
    using heap = PrivateHeap.open(${JSON.stringify(path)});
    let ok = 0, refused = 0;
    for (let i = 0; i < 20; i++) {
      try { heap.free(heap.malloc(16 + i)); ok++; } catch (e) { if (e.code !== "ECORRUPT") throw e; refused++; }
    }
    const consistent = ${broken} ? true : heap.check() === 0;
    console.log(ok, refused, consistent);
  `;
}

async function spawnScript(script: string) {
  const file = join(dir, `s${seq++}.ts`);
  writeFileSync(file, script);
  return Bun.spawn([process.execPath, file], { stdout: "pipe", stderr: "pipe" });
}

/** Read `lines` progress lines of the child's stdout. */
async function readLines(stdout: ReadableStream<Uint8Array>, stderr: ReadableStream<Uint8Array>, lines: number): Promise<void> {
  const reader = stdout.getReader();
  const dec = new TextDecoder();
  let seen = 0;
  while (seen < lines) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the writer ended before it was killed: ${await new Response(stderr).text()}`);
    seen += (dec.decode(value).match(/\n/g) ?? []).length;
  }
  reader.releaseLock();
}

test("kill -9 of a writer inside malloc, free, realloc, ring save and load or a replay tick leaves every survivor a consistent heap or ECORRUPT until a restore", async () => {
  const seed = Number(process.env.PH_SEED ?? 20261203);
  console.log(`seed ${seed}`);
  let s = seed;
  const rand = (n: number) => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) % n;
  const path = join(dir, "faults.phheap");
  using heap = PrivateHeap.open(path, { size: 32 * MiB, create: true, lock: true });
  heap.setRoot("kept", heap.malloc(100));
  const good = heap.snapshot();
  const tally = { outside: 0, consistent: 0, broken: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const mode = (["alloc", "ring", "replay"] as const)[round % 3]!;
    const before = heap.lockRecoveries.count;
    const child = await spawnScript(writerScript(path, mode, rand(1 << 30)));
    await readLines(child.stdout, child.stderr, 1 + rand(30));
    child.kill("SIGKILL");
    expect(await child.exited).not.toBe(0);
    let broken = false;
    try {
      heap.free(heap.malloc(8)); // the first survivor: takes the lock over when the writer held it
    } catch (e) {
      expect((e as { code?: string }).code).toBe("ECORRUPT");
      broken = true;
    }
    const tookOver = heap.lockRecoveries.count - before;
    expect(tookOver === 1 || (tookOver === 0 && !broken)).toBe(true);
    tally[broken ? "broken" : tookOver ? "consistent" : "outside"]++;
    if (broken) for (let i = 0; i < 5; i++) expectCode(() => heap.malloc(8), "ECORRUPT");
    else expect(heap.check()).toBe(0);
    const other = await spawnScript(survivorScript(path, broken));
    const [out, err] = await Promise.all([new Response(other.stdout).text(), new Response(other.stderr).text()]);
    expect([await other.exited, out.trim(), err]).toEqual([0, broken ? "0 20 true" : "20 0 true", ""]);
    // Back to the known state for the next round (it mends a broken heap).
    heap.restore(good);
    expect(heap.check()).toBe(0);
  }
  console.log(`${ROUNDS} kills: ${tally.outside} outside the lock, ${tally.consistent} holding it with the heap consistent, ${tally.broken} mid-change (ECORRUPT)`);
  expect(tally.outside + tally.consistent + tally.broken).toBe(ROUNDS);
}, 120_000);

// ---- at chosen points: a writer stopped by gdb inside a native function ----

/** Each stage: what the victim does after opening the heap (h), and where it is killed. */
const STAGES = [
  { name: "inside free, a run given back but not yet in the free-run tree", fn: "ph__tree_insert", code: "const a = h.malloc(1 << 20); h.malloc(64); h.free(a);" },
  { name: "inside malloc, taking a run from the free-run tree", fn: "ph__tree_remove", code: "h.malloc(300 << 10);" },
  { name: "inside malloc, the rest of a split run not yet back in the tree", fn: "ph__tree_insert", code: "h.malloc(300 << 10);" },
  { name: "inside realloc", fn: "ph__off_realloc", code: "h.realloc(h.getRoot('big'), 3 << 20);" },
  { name: "inside a ring load, before its page copies", fn: "ph_heap_put_pages", code: "const r = SnapshotRing.create(h, { capacity: 3 }); r.save(1); h.free(h.getRoot('big')); r.save(2); r.load(1);" },
  // The body is copied back, the header not yet (it goes last): a new process can still open the file.
  { name: "inside a ring load, between its body and its header", fn: "ph_heap_put_pages", skip: 1, code: "const r = SnapshotRing.create(h, { capacity: 3 }); r.save(1); h.free(h.getRoot('big')); r.save(2); r.load(1);" },
] as const;

describe.skipIf(!canStopIn(...new Set(STAGES.map((stage) => stage.fn))))("kill -9 of a lock holder at chosen native functions", () => {
  for (const stage of STAGES) {
    test(`${stage.name} (${stage.fn}): survivors go on with a consistent heap, or are refused until a restore`, async () => {
      const path = join(dir, `stage-${seq++}.phheap`);
      using heap = PrivateHeap.open(path, { size: 32 * MiB, create: true, lock: true });
      // A free run of 1 MiB in the tree, and a large allocation to realloc or free.
      const gap = heap.malloc(1 << 20);
      heap.malloc(64);
      heap.free(gap);
      heap.setRoot("big", heap.malloc(2 << 20));
      const good = heap.snapshot();
      const victim = join(dir, `victim-${seq++}.ts`);
      writeFileSync(
        victim,
        `import { PrivateHeap, SnapshotRing } from ${INDEX};
         const h = PrivateHeap.open(${JSON.stringify(path)}, { lock: true });
         ${stage.code}`,
      );
      const killed = killInFunction(stage.fn, [victim], "skip" in stage ? stage.skip : 0);
      expect(killed).toBe(true);
      let broken = false;
      try {
        heap.free(heap.malloc(8));
      } catch (e) {
        expect((e as { code?: string }).code).toBe("ECORRUPT");
        broken = true;
      }
      expect(heap.lockRecoveries.count).toBe(1); // it died holding the lock
      if (broken) expectCode(() => heap.malloc(8), "ECORRUPT");
      else expect(heap.check()).toBe(0);
      const other = await spawnScript(survivorScript(path, broken));
      const [out, err] = await Promise.all([new Response(other.stdout).text(), new Response(other.stderr).text()]);
      expect([await other.exited, out.trim(), err]).toEqual([0, broken ? "0 20 true" : "20 0 true", ""]);
      console.log(`${stage.fn}: ${broken ? "mid-change: ECORRUPT until restored" : "consistent: taken over"}`);
      heap.restore(good);
      expect(heap.check()).toBe(0);
      heap.free(heap.malloc(8));
    }, 60_000);
  }
});
