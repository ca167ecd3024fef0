/**
 * HeapMirror: a heap file kept equal to a live heap by syncs that write the
 * changed pages. The file's used prefix equals the heap's after every sync
 * (bytes and checksum) through random workloads, growth, restores and
 * resets, with the kernel's tracker and with "compare" tracking; a process
 * killed at any system call of a sync leaves a file that is the old state,
 * the new one, or refused until recovery makes it the new one; write
 * failures leave the last completed sync; bad arguments and closed handles
 * fail with their codes; files follow the project's file policy.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeapError } from "../../src/errors.ts";
import { NATIVE_CONSTANTS } from "../../src/ffi/symbols.ts";
import { HeapMirror, journalPathOf } from "../../src/heap-mirror.ts";
import { PAGE_SIZE, PrivateHeap } from "../../src/heap.ts";
import { Snapshot } from "../../src/snapshot/snapshot.ts";
import { codeOf } from "../support/expect.ts";
import { canMount, canTrace, killAtSyscall, mountTmpfs, syscallsOf, unmount } from "../support/faults.ts";
import { buildA, toB, toC } from "../support/mirror-child.ts";
import { rng, seeds } from "../support/random.ts";

const root = mkdtempSync(join(tmpdir(), "privheap-mirror-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const fresh = (): string => {
  const d = join(root, `d${seq++}`);
  mkdirSync(d);
  return d;
};

/** The first 8 bytes of a file a sync is writing: "PHMIRSYN". */
const MARK = new TextEncoder().encode("PHMIRSYN");
const isMarked = (bytes: Uint8Array): boolean => MARK.every((b, i) => bytes[i] === b);

/** The file holds the heap's used prefix, byte for byte, and its checksum; it is as long as the heap. */
function expectMirrored(heap: PrivateHeap, path: string, why: string): void {
  const file = new Uint8Array(readFileSync(path));
  const used = heap.usedBytes;
  expect(file.length, why).toBe(heap.size);
  expect(Buffer.compare(file.subarray(0, used), heap.u8.subarray(0, used)), why).toBe(0);
  expect(Snapshot.fromBytes(file.subarray(0, used)).checksum(), why).toBe(heap.checksum());
}

/** Byte offset of the header's touched mark: attaching a heap file sets it to the whole region (its pages above the used prefix are unknown). */
const TOUCHED_AT = 60;
/** Byte offset of the region's purge mode (a u16 in the lock block, after the lock's words): attaching turns it off, since the pages of a heap file are never given back. */
const PURGE_MODE_AT = NATIVE_CONSTANTS.PH_LOCK_BLOCK_OFFSET + 22;

describe("a mirror follows its heap", () => {
  for (const tracking of ["auto", "compare"] as const) {
    for (const seed of seeds(2)) {
      test(`tracking ${tracking}: after every sync of a random workload (allocations, writes, frees, growth, restores, resets) the file equals the heap (seed ${seed})`, () => {
        const r = rng(seed);
        const path = join(fresh(), "world.phheap");
        using heap = PrivateHeap.create({ size: 8 << 20, tracking });
        const mirror = HeapMirror.create(heap, path, { fsync: false });
        expectMirrored(heap, path, "after create");
        const live: number[] = [];
        const saved: Snapshot[] = [];
        let syncs = 0;
        for (let step = 0; step < 80; step++) {
          const op = r.int(0, 11);
          if (op <= 3) {
            const size = r.pick([16, 100, 3000, 20_000, 150_000]);
            try {
              const off = heap.malloc(size);
              heap.u8.fill(r.int(1, 255), off, off + size);
              live.push(off);
            } catch (e) {
              if ((e as HeapError).code !== "ENOMEM") throw e;
            }
          } else if (op <= 5 && live.length > 0) {
            const off = live[r.int(0, live.length - 1)]!;
            const n = Math.min(heap.usableSize(off), 64);
            for (let i = 0; i < n; i++) heap.u8[off + r.int(0, n - 1)] = r.int(0, 255);
          } else if (op === 6 && live.length > 0) {
            heap.free(live.splice(r.int(0, live.length - 1), 1)[0]!);
          } else if (op === 7) {
            saved.push(heap.snapshot());
          } else if (op === 8 && saved.length > 0) {
            heap.restore(saved[r.int(0, saved.length - 1)]!);
            live.length = 0;
          } else if (op === 9 && r.next() < 0.3) {
            heap.reset();
            live.length = 0;
          } else if (op === 10) {
            heap.setRoot(`r${r.int(0, 5)}`, live.length > 0 ? live[0]! : 0);
          }
          if (r.next() < 0.5) {
            mirror.sync();
            syncs++;
            expectMirrored(heap, path, `seed ${seed}, step ${step}`);
          }
        }
        mirror.sync();
        expect(mirror.sync(), "a sync after a sync writes nothing").toBe(0);
        expectMirrored(heap, path, "at the end");
        expect(syncs).toBeGreaterThan(10);
        mirror.close();
        using opened = PrivateHeap.open(path, { check: true });
        expect(opened.roots()).toEqual(heap.roots());
        const a = opened.u8.subarray(0, heap.usedBytes);
        const b = heap.u8.subarray(0, heap.usedBytes);
        const diff: number[] = [];
        for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff.push(i);
        expect(diff.every((i) => (i >= TOUCHED_AT && i < TOUCHED_AT + 4) || (i >= PURGE_MODE_AT && i < PURGE_MODE_AT + 2))).toBe(true);
      });
    }
  }

  test("a sync writes only the changed pages: one page changed is that page and the header page", () => {
    const path = join(fresh(), "w.phheap");
    using heap = PrivateHeap.create({ size: 8 << 20 });
    const off = heap.malloc(1 << 20);
    heap.malloc(2 << 20); // so that 1 MiB is under half the used prefix (more goes to a new file)
    using mirror = HeapMirror.create(heap, path, { fsync: false });
    expect(mirror.sync()).toBe(0);
    heap.u8[off + 5 * PAGE_SIZE + 7] = 42;
    expect(mirror.sync()).toBe(2);
    expectMirrored(heap, path, "one page");
    heap.u8[off + 5 * PAGE_SIZE + 7] = 42; // the same byte again: the page's bytes did not change
    expect(mirror.sync()).toBe(0);
    heap.u8.fill(1, off, off + (1 << 20));
    expect(mirror.sync()).toBe(256 + 1);
    expectMirrored(heap, path, "every page of the block");
  });

  test("a sync that changes most pages writes a new file; pages above the used prefix then count as unknown", () => {
    const path = join(fresh(), "w.phheap");
    using heap = PrivateHeap.create({ size: 8 << 20 });
    using mirror = HeapMirror.create(heap, path, { fsync: false });
    const block = heap.malloc(1 << 20);
    heap.u8.fill(7, block, block + (1 << 20));
    const before = statSync(path).ino;
    mirror.sync();
    expect(statSync(path).ino, "a new file").not.toBe(before);
    expectMirrored(heap, path, "after the new file");
    const full = heap.snapshot();
    heap.reset();
    heap.malloc(100); // the header pages change: most of a small prefix
    const small = statSync(path).ino;
    mirror.sync();
    expect(statSync(path).ino, "a new file for the small prefix").not.toBe(small);
    // The block's pages come back with the bytes the old file had: the new file does not have them.
    heap.restore(full);
    mirror.sync();
    expectMirrored(heap, path, "after the restore");
  });

  test("a heap file can be mirrored too (its tracking is compare: every page hashed)", () => {
    const d = fresh();
    using heap = PrivateHeap.open(join(d, "live.phheap"), { size: 4 << 20, create: true });
    expect(heap.tracking).toBe("compare");
    using mirror = HeapMirror.create(heap, join(d, "copy.phheap"), { fsync: false });
    buildA(heap);
    expect(mirror.sync()).toBeGreaterThan(0);
    expectMirrored(heap, join(d, "copy.phheap"), "after A");
    toB(heap);
    mirror.sync();
    expectMirrored(heap, join(d, "copy.phheap"), "after B");
    expect(mirror.sync()).toBe(0);
  });

  test("load and loadSync: the image the file holds, ESIZE above maxBytes before reading it, ECORRUPT for a file whose header does not fit it, EIO for no file", async () => {
    const d = fresh();
    const path = join(d, "w.phheap");
    using heap = PrivateHeap.create({ size: 4 << 20 });
    buildA(heap);
    HeapMirror.create(heap, path, { fsync: false }).close();
    expect((await HeapMirror.load(path)).checksum()).toBe(heap.checksum());
    expect(HeapMirror.loadSync(path).checksum()).toBe(heap.checksum());
    expect(codeOf(() => HeapMirror.loadSync(path, { maxBytes: heap.usedBytes - 1 }))).toBe("ESIZE");
    await expect(HeapMirror.load(path, { maxBytes: 4096 })).rejects.toMatchObject({ code: "ESIZE" });
    expect(codeOf(() => HeapMirror.loadSync(path, { maxBytes: -1 }))).toBe("EINVAL");
    expect(codeOf(() => HeapMirror.loadSync(join(d, "none")))).toBe("EIO");
    const bytes = new Uint8Array(readFileSync(path));
    writeFileSync(join(d, "short.phheap"), bytes.subarray(0, heap.usedBytes - PAGE_SIZE)); // cut inside its used prefix
    expect(codeOf(() => HeapMirror.loadSync(join(d, "short.phheap")))).toBe("ECORRUPT");
    await expect(HeapMirror.load(join(d, "short.phheap"))).rejects.toMatchObject({ code: "ECORRUPT" });
    const damaged = bytes.slice();
    new DataView(damaged.buffer).setUint32(60, 0, true); // the touched mark below the used prefix
    writeFileSync(join(d, "damaged.phheap"), damaged);
    expect(codeOf(() => HeapMirror.loadSync(join(d, "damaged.phheap")))).toBe("ECORRUPT");
  });

  test("the restart path: loadSync gives the exact state (checksum included), HeapMirror.open the heap file, and restore puts either in a fresh live heap", () => {
    const path = join(fresh(), "w.phheap");
    using heap = PrivateHeap.create({ size: 4 << 20 });
    buildA(heap);
    HeapMirror.create(heap, path).close();
    // loadSync reads the file without mapping it: the heap header stays the live heap's, and so does the checksum.
    using exact = PrivateHeap.create({ size: 4 << 20 });
    exact.restore(HeapMirror.loadSync(path, { maxBytes: exact.size }));
    expect(exact.checksum()).toBe(heap.checksum());
    expect(Buffer.compare(exact.u8.subarray(0, heap.usedBytes), heap.u8.subarray(0, heap.usedBytes))).toBe(0);
    // Opening it as a heap file maps it (attaching marks its pages above the used prefix as unknown: one header word).
    using live = PrivateHeap.create({ size: 4 << 20 });
    {
      using saved = HeapMirror.open(path);
      live.restore(saved.snapshot());
    }
    expect(live.roots()).toEqual(heap.roots());
    expect(live.check()).toBe(0);
    const a = heap.getRoot("a");
    expect(Buffer.compare(live.u8.subarray(a, a + 300_000), heap.u8.subarray(a, a + 300_000))).toBe(0);
    // And mirroring it again replaces the file with the live heap's state.
    using again = HeapMirror.create(live, path);
    live.setRoot("z", live.malloc(8));
    again.sync();
    expectMirrored(live, path, "after the restart");
  });
});

describe("file policy and errors", () => {
  test("the file and its journal are mode 0o600 unless mode says otherwise", () => {
    const d = fresh();
    using heap = PrivateHeap.create({ size: 1 << 20 });
    HeapMirror.create(heap, join(d, "a"), { fsync: false }).close();
    expect(statSync(join(d, "a")).mode & 0o777).toBe(0o600);
    expect(statSync(journalPathOf(join(d, "a"))).mode & 0o777).toBe(0o600);
    HeapMirror.create(heap, join(d, "b"), { fsync: false, mode: 0o640 }).close();
    expect(statSync(join(d, "b")).mode & 0o777).toBe(0o640 & ~process.umask());
  });

  test("a symbolic link at the path is replaced, never written through; one at the journal's path is EIO, its target untouched", () => {
    const d = fresh();
    writeFileSync(join(d, "target"), "keep me");
    symlinkSync(join(d, "target"), join(d, "w.phheap"));
    using heap = PrivateHeap.create({ size: 1 << 20 });
    HeapMirror.create(heap, join(d, "w.phheap"), { fsync: false }).close();
    expect(lstatSync(join(d, "w.phheap")).isSymbolicLink()).toBe(false);
    expect(readFileSync(join(d, "target"), "utf8")).toBe("keep me");
    symlinkSync(join(d, "target"), journalPathOf(join(d, "v.phheap")));
    expect(codeOf(() => HeapMirror.create(heap, join(d, "v.phheap")))).toBe("EIO");
    expect(readFileSync(join(d, "target"), "utf8")).toBe("keep me");
  });

  test("a file that is not a heap file, or a journal that is not a journal, is never replaced (EINVAL); a heap file is", () => {
    const d = fresh();
    using heap = PrivateHeap.create({ size: 1 << 20 });
    writeFileSync(join(d, "notes.txt"), "my notes");
    expect(codeOf(() => HeapMirror.create(heap, join(d, "notes.txt")))).toBe("EINVAL");
    expect(readFileSync(join(d, "notes.txt"), "utf8")).toBe("my notes");
    writeFileSync(journalPathOf(join(d, "x.phheap")), "other data");
    expect(codeOf(() => HeapMirror.create(heap, join(d, "x.phheap")))).toBe("EINVAL");
    expect(existsSync(join(d, "x.phheap"))).toBe(false);
    mkdirSync(join(d, "dir"));
    expect(codeOf(() => HeapMirror.create(heap, join(d, "dir")))).toBe("EINVAL");
    PrivateHeap.open(join(d, "old.phheap"), { size: 2 << 20, create: true }).close();
    heap.setRoot("mine", heap.malloc(8));
    HeapMirror.create(heap, join(d, "old.phheap"), { fsync: false }).close();
    expectMirrored(heap, join(d, "old.phheap"), "replaced heap file");
    expect(readFileSync(join(d, "notes.txt"), "utf8")).toBe("my notes");
  });

  test("bad arguments are EINVAL, closed handles ECLOSED, a file system refusal EIO with the system error as cause", () => {
    const d = fresh();
    using heap = PrivateHeap.create({ size: 1 << 20 });
    expect(codeOf(() => HeapMirror.create({} as PrivateHeap, join(d, "a")))).toBe("EINVAL");
    expect(codeOf(() => HeapMirror.create(heap, ""))).toBe("EINVAL");
    expect(codeOf(() => HeapMirror.create(heap, join(d, "a"), { fsync: 1 as unknown as boolean }))).toBe("EINVAL");
    expect(codeOf(() => HeapMirror.create(heap, join(d, "a"), { mode: 0o4600 }))).toBe("EINVAL");
    using locked = PrivateHeap.open(join(d, "locked.phheap"), { size: 1 << 20, create: true, lock: true });
    expect(codeOf(() => HeapMirror.create(locked, join(d, "a")))).toBe("EINVAL");
    let e: unknown;
    try {
      HeapMirror.create(heap, join(d, "missing-dir", "a"));
    } catch (err) {
      e = err;
    }
    expect((e as HeapError).code).toBe("EIO");
    expect(((e as HeapError).cause as { code?: string }).code).toBe("ENOENT");
    expect(existsSync(join(d, "a"))).toBe(false);

    const mirror = HeapMirror.create(heap, join(d, "a"), { fsync: false });
    mirror.close();
    mirror.close();
    expect(mirror.closed).toBe(true);
    expect(codeOf(() => mirror.sync())).toBe("ECLOSED");
    const other = PrivateHeap.create({ size: 1 << 20 });
    using m2 = HeapMirror.create(other, join(d, "b"), { fsync: false });
    other.close();
    expect(codeOf(() => m2.sync())).toBe("ECLOSED");
    expect(codeOf(() => HeapMirror.create(other, join(d, "c")))).toBe("ECLOSED");
    expect(codeOf(() => HeapMirror.recover(""))).toBe("EINVAL");
    expect(codeOf(() => HeapMirror.recover(join(d, "none")))).toBe("EIO");
  });

  test("a marked file whose journal is damaged or missing is ECORRUPT for recover, and refused by PrivateHeap.open, unchanged", () => {
    const d = fresh();
    const path = join(d, "w.phheap");
    using heap = PrivateHeap.create({ size: 1 << 20 });
    HeapMirror.create(heap, path, { fsync: false }).close();
    const bytes = new Uint8Array(readFileSync(path));
    bytes.set(MARK, 0);
    writeFileSync(path, bytes);
    writeFileSync(journalPathOf(path), new Uint8Array(100));
    expect(codeOf(() => HeapMirror.recover(path))).toBe("ECORRUPT");
    expect(codeOf(() => PrivateHeap.open(path))).toBe("ECORRUPT");
    rmSync(journalPathOf(path));
    expect(codeOf(() => HeapMirror.open(path))).toBe("ECORRUPT");
    expect(Buffer.compare(readFileSync(path), bytes)).toBe(0);
  });
});

describe("kill -9 at every system call of a create and a sync", () => {
  const CHILD = join(import.meta.dir, "..", "support", "mirror-child.ts");
  const CALLS = ["pwrite64", "pwritev", "pwritev2", "fsync", "fdatasync", "ftruncate", "rename", "renameat", "renameat2"];

  /** The used prefixes of states A, B and C, as the child builds them. */
  function images(): Uint8Array[] {
    using heap = PrivateHeap.create({ size: 8 << 20 });
    buildA(heap);
    const a = heap.snapshot().bytes;
    toB(heap);
    const b = heap.snapshot().bytes;
    toC(heap);
    return [a, b, heap.snapshot().bytes];
  }

  test.skipIf(!canTrace())("the file is state A, B or C, or marked (refused by PrivateHeap.open) until recovery makes it B; never a mix", () => {
    const [a, b, c] = images() as [Uint8Array, Uint8Array, Uint8Array];
    const sums = [a, b, c].map((img) => Snapshot.fromBytes(img).checksum());
    const traced = syscallsOf(CALLS, [CHILD, join(fresh(), "w.phheap")]);
    expect(traced.exitCode).toBe(0);
    const seen = { absent: 0, a: 0, b: 0, c: 0, marked: 0 };
    for (const [name, nth] of traced.calls) {
      const path = join(fresh(), "w.phheap");
      const r = killAtSyscall(name, [CHILD, path], nth);
      const at = `killed at ${name} #${nth}`;
      expect(r.killed, at).toBe(true);
      expect(r.stdout, at).not.toContain("synced C");
      if (!existsSync(path)) {
        expect(r.stdout, at).not.toContain("created");
        seen.absent++;
        continue;
      }
      expect(statSync(path).mode & 0o777, at).toBe(0o600);
      const file = new Uint8Array(readFileSync(path));
      const prefixIs = (img: Uint8Array) => Buffer.compare(file.subarray(0, img.length), img) === 0;
      if (isMarked(file)) {
        expect(r.stdout, at).toContain("syncing B");
        expect(r.stdout, at).not.toContain("synced B");
        expect(codeOf(() => PrivateHeap.open(path)), at).toBe("ECORRUPT");
        expect(Buffer.compare(readFileSync(path), file), `${at}: a refused open changes nothing`).toBe(0);
        expect(HeapMirror.recover(path), at).toBe("replayed");
        const after = new Uint8Array(readFileSync(path));
        expect(Buffer.compare(after.subarray(0, b.length), b), `${at}: recovered to B`).toBe(0);
        seen.marked++;
      } else {
        const state = prefixIs(a) ? "a" : prefixIs(b) ? "b" : prefixIs(c) ? "c" : "a mix";
        expect(state, `${at}: the file is A, B or C`).not.toBe("a mix");
        // Never older than the last sync that returned, never newer than the one under way.
        if (r.stdout.includes("synced B")) expect(state, at).not.toBe("a");
        if (!r.stdout.includes("syncing B")) expect(state, at).toBe("a");
        if (!r.stdout.includes("syncing C")) expect(state, at).not.toBe("c");
        expect(HeapMirror.recover(path), at).toBe("clean");
        seen[state as "a" | "b" | "c"]++;
      }
      expect(sums, at).toContain(HeapMirror.loadSync(path).checksum());
      using opened = HeapMirror.open(path, { check: true });
      expect(opened.check(), at).toBe(0);
    }
    // Every outcome happened at some kill point: the test reached each phase.
    for (const [k, v] of Object.entries(seen)) expect(v, `kills that left ${k}`).toBeGreaterThan(0);
  }, 120_000);
});

describe.skipIf(!canMount())("write failures", () => {
  /** A heap of state A and 1.5 MiB more, mirrored to `path`; then 1.25 MiB of new pages (under half: a sync journals them). */
  function grownHeap(path: string, withPrefill: boolean): { heap: PrivateHeap; mirror: HeapMirror; before: Uint8Array } {
    const heap = PrivateHeap.create({ size: 8 << 20 });
    buildA(heap);
    if (withPrefill) {
      const p = heap.malloc(1_500_000);
      heap.u8.fill(4, p, p + 1_500_000);
    }
    const mirror = HeapMirror.create(heap, path, { fsync: false });
    const before = new Uint8Array(readFileSync(path));
    const big = heap.malloc(1_280_000);
    heap.u8.fill(5, big, big + 1_280_000);
    return { heap, mirror, before };
  }

  function expectNoSpace(f: () => unknown): void {
    let e: unknown;
    try {
      f();
    } catch (err) {
      e = err;
    }
    expect((e as HeapError).code).toBe("EIO");
    expect((e as HeapError).message).toContain("ENOSPC");
  }

  test("the journal fits, the pages in place do not: EIO naming ENOSPC, the file marked (PrivateHeap.open refuses it); space back, recovery makes it the new state", () => {
    const d = mountTmpfs(5 << 20);
    try {
      const path = join(d, "w.phheap");
      const { heap, mirror } = grownHeap(path, true);
      using _ = heap;
      writeFileSync(join(d, "filler"), new Uint8Array(1536 << 10));
      expectNoSpace(() => mirror.sync());
      const stateB = heap.snapshot().bytes;
      expect(isMarked(new Uint8Array(readFileSync(path)))).toBe(true);
      expect(codeOf(() => PrivateHeap.open(path))).toBe("ECORRUPT");
      mirror.close(); // its recovery fails too (no space): the file stays marked, its journal complete
      expect(codeOf(() => HeapMirror.recover(path))).toBe("EIO");
      rmSync(join(d, "filler"));
      expect(HeapMirror.recover(path)).toBe("replayed");
      expect(Buffer.compare(readFileSync(path).subarray(0, stateB.length), stateB)).toBe(0);
    } finally {
      unmount(d);
    }
  });

  test("after a sync that failed once its pages were journaled, the next sync finishes it and then writes what differs, even pages whose bytes went back to what the file held before", () => {
    const d = mountTmpfs(5 << 20);
    try {
      const path = join(d, "w.phheap");
      using heap = PrivateHeap.create({ size: 8 << 20 });
      buildA(heap);
      const p = heap.malloc(1_500_000);
      heap.u8.fill(4, p, p + 1_500_000);
      using mirror = HeapMirror.create(heap, path, { fsync: false });
      const before = heap.snapshot();
      // Pages the file has (written in place first: they sit below) and 1.25 MiB of new ones (no room in place).
      heap.u8.fill(6, p, p + 100_000);
      const big = heap.malloc(1_280_000);
      heap.u8.fill(5, big, big + 1_280_000);
      writeFileSync(join(d, "filler"), new Uint8Array(1536 << 10));
      expectNoSpace(() => mirror.sync());
      expect(isMarked(new Uint8Array(readFileSync(path)))).toBe(true);
      expectNoSpace(() => mirror.sync()); // its recovery needs the space too
      rmSync(join(d, "filler"));
      // Back to the bytes the file held before the failed sync: after the recovery, they must be written again.
      heap.restore(before);
      expect(mirror.sync()).toBeGreaterThan(0);
      expectMirrored(heap, path, "after the recovery and the sync");
    } finally {
      unmount(d);
    }
  });

  test("the journal does not fit: EIO naming ENOSPC, the file unchanged and unmarked; space back, the next sync catches up", () => {
    const d = mountTmpfs(6 << 20);
    try {
      const path = join(d, "w.phheap");
      const { heap, mirror, before } = grownHeap(path, true);
      using _ = heap;
      using __ = mirror;
      writeFileSync(join(d, "filler"), new Uint8Array(3_400_000));
      expectNoSpace(() => mirror.sync());
      expect(Buffer.compare(readFileSync(path), before)).toBe(0);
      rmSync(join(d, "filler"));
      expect(mirror.sync()).toBeGreaterThan(300);
      expectMirrored(heap, path, "after space came back");
    } finally {
      unmount(d);
    }
  });

  test("a new file (most pages changed) does not fit: EIO naming ENOSPC, the old file unchanged, no temporary file left; space back, the next sync catches up", () => {
    const d = mountTmpfs(3 << 20);
    try {
      const path = join(d, "w.phheap");
      const { heap, mirror, before } = grownHeap(path, false);
      using _ = heap;
      using __ = mirror;
      writeFileSync(join(d, "filler"), new Uint8Array(2 << 20));
      expectNoSpace(() => mirror.sync());
      expect(Buffer.compare(readFileSync(path), before)).toBe(0);
      expect(readdirSync(d).sort()).toEqual(["filler", "w.phheap", "w.phheap-journal"]);
      rmSync(join(d, "filler"));
      expect(mirror.sync()).toBeGreaterThan(300);
      expectMirrored(heap, path, "after space came back");
    } finally {
      unmount(d);
    }
  });
});

/**
 * A journal crafted from docs/heap-mirror.md: runs of `pages` (page indices
 * and their bytes) for sync `id` of a heap of `regionBytes`, its checksum
 * computed as the document says (recomputed by `seal` after a mutation).
 */
function craftJournal(runs: { start: number; data: Uint8Array }[], id: bigint, regionBytes: number): Uint8Array {
  const head = 48 + 8 * runs.length;
  const out = new Uint8Array(head + runs.reduce((n, r) => n + r.data.length, 0));
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode("PHMJRNL1"), 0);
  v.setUint32(8, 1, true);
  v.setUint32(12, PAGE_SIZE, true);
  v.setBigUint64(16, id, true);
  v.setBigUint64(24, BigInt(regionBytes), true);
  v.setUint32(32, runs.length, true);
  let at = head;
  runs.forEach((r, i) => {
    v.setUint32(48 + 8 * i, r.start, true);
    v.setUint32(52 + 8 * i, r.data.length / PAGE_SIZE, true);
    out.set(r.data, at);
    at += r.data.length;
  });
  return seal(out);
}

/** The document's checksum, chained xxHash3 of bytes 0..40, the run list and each run's pages (each seeded with the hash before it mod 2^32), written at 40. */
function seal(journal: Uint8Array): Uint8Array {
  const v = new DataView(journal.buffer, journal.byteOffset, journal.length);
  const n = v.getUint32(32, true);
  const listEnd = Math.min(journal.length, 48 + 8 * n);
  let h = Bun.hash.xxHash3(journal.subarray(0, 40));
  h = Bun.hash.xxHash3(journal.subarray(48, listEnd), h & 0xffffffffn);
  for (let r = 0, at = listEnd; r < n && 48 + 8 * r + 8 <= journal.length; r++) {
    const len = v.getUint32(52 + 8 * r, true) * PAGE_SIZE;
    h = Bun.hash.xxHash3(journal.subarray(at, Math.min(journal.length, at + len)), h & 0xffffffffn);
    at += len;
  }
  v.setBigUint64(40, h, true);
  return journal;
}

describe("hostile journals", () => {
  /** A mirror's file of state A, marked by sync `id`, and the journal that makes it state B. */
  function marked(id: bigint) {
    const d = fresh();
    const path = join(d, "w.phheap");
    using heap = PrivateHeap.create({ size: 4 << 20, tracking: "compare" });
    const a = heap.malloc(600 << 10);
    heap.u8.fill(1, a, a + (600 << 10));
    HeapMirror.create(heap, path, { fsync: false }).close();
    heap.u8.fill(2, a, a + (300 << 10)); // state B: the first half of the block changes
    heap.setRoot("b", a);
    const b = heap.u8.slice(0, heap.usedBytes);
    const file = new Uint8Array(readFileSync(path));
    new DataView(file.buffer).setBigUint64(8, id, true);
    file.set(MARK, 0);
    writeFileSync(path, file);
    const half = Math.floor(b.length / PAGE_SIZE / 2) * PAGE_SIZE;
    const journal = craftJournal([{ start: 0, data: b.subarray(0, half) }, { start: half / PAGE_SIZE, data: b.subarray(half) }], id, heap.size);
    return { path, file, journal, b, regionBytes: heap.size };
  }

  test("the crafted journal repairs the file: the format the document gives is the one recovery reads", () => {
    const m = marked(7n);
    writeFileSync(journalPathOf(m.path), m.journal);
    expect(HeapMirror.recover(m.path)).toBe("replayed");
    expect(Buffer.compare(new Uint8Array(readFileSync(m.path)).subarray(0, m.b.length), m.b)).toBe(0);
  });

  test("every field mutated, the checksum recomputed: ECORRUPT, the file unchanged, memory bounded by the journal", () => {
    const m = marked(7n);
    const cases: [string, (j: Uint8Array, v: DataView) => Uint8Array][] = [
      ["magic", (j) => ((j[3]! ^= 1), j)],
      ["version", (j, v) => (v.setUint32(8, 2, true), j)],
      ["page size", (j, v) => (v.setUint32(12, 8192, true), j)],
      ["another sync's id", (j, v) => (v.setBigUint64(16, 8n, true), j)],
      ["region larger than the file", (j, v) => (v.setBigUint64(24, BigInt(m.regionBytes + PAGE_SIZE), true), j)],
      ["region of 2^53 bytes", (j, v) => (v.setBigUint64(24, 1n << 53n, true), j)],
      ["no runs", (j, v) => (v.setUint32(32, 0, true), j)],
      ["4 billion runs", (j, v) => (v.setUint32(32, 0xffffffff, true), j)],
      ["one run more than listed", (j, v) => (v.setUint32(32, 3, true), j)],
      ["first run not at page 0", (j, v) => (v.setUint32(48, 1, true), j)],
      ["a run of 0 pages", (j, v) => (v.setUint32(52, 0, true), j)],
      ["runs overlapping", (j, v) => (v.setUint32(56, v.getUint32(56, true) - 1, true), j)],
      ["a run past the region", (j, v) => (v.setUint32(56, m.regionBytes / PAGE_SIZE - 1, true), j)],
      ["a count of 2^32 - 1", (j, v) => (v.setUint32(60, 0xffffffff, true), j)],
      ["cut short", (j) => j.slice(0, j.length - 1)],
    ];
    for (const [what, mutate] of cases) {
      const j = m.journal.slice();
      const sealed = seal(mutate(j, new DataView(j.buffer)));
      writeFileSync(journalPathOf(m.path), sealed);
      expect(codeOf(() => HeapMirror.recover(m.path)), what).toBe("ECORRUPT");
      expect(Buffer.compare(readFileSync(m.path), m.file), what).toBe(0);
    }
    // A page's byte changed without the checksum following: the checksum catches it.
    const j = m.journal.slice();
    j[j.length - 1]! ^= 1;
    writeFileSync(journalPathOf(m.path), j);
    expect(codeOf(() => HeapMirror.recover(m.path))).toBe("ECORRUPT");
    expect(Buffer.compare(readFileSync(m.path), m.file)).toBe(0);
  });

  test("random bytes of the header and run list mutated, checksum recomputed: replayed or ECORRUPT with the file unchanged, never another error", () => {
    const m = marked(9n);
    const r = rng(4242);
    for (let i = 0; i < 300; i++) {
      const j = m.journal.slice();
      const at = r.pick([r.int(0, 39), r.int(48, 63)]);
      j[at]! ^= 1 << r.int(0, 7);
      writeFileSync(journalPathOf(m.path), seal(j));
      writeFileSync(m.path, m.file);
      let outcome: string;
      try {
        outcome = HeapMirror.recover(m.path);
      } catch (e) {
        outcome = e instanceof HeapError ? e.code : `not a HeapError: ${String(e)}`;
      }
      expect(["replayed", "ECORRUPT"], `byte ${at}, case ${i}`).toContain(outcome);
      if (outcome === "ECORRUPT") expect(Buffer.compare(readFileSync(m.path), m.file), `byte ${at}, case ${i}`).toBe(0);
    }
  });
});
