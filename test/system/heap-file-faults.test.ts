// Heap files under faults, with real processes and real file systems: a
// full file system, a read-only one, a process without permission, a file
// cut while mapped, and a creation killed half way.
//
// Small file systems are tmpfs mounts (this needs root, or CAP_SYS_ADMIN),
// kills come from strace and gdb, permissions from setpriv; where one is
// missing, the tests that need it are reported as skipped, with the reason
// printed, never as passing.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../src/heap.ts";
import { lineChild, runScript, SRC } from "../support/bun.ts";
import { expectCode } from "../support/expect.ts";
import { canMount, canRunAsNobody, canStopIn, canTrace, killAtSyscall, killInFunction, mountTmpfs, remountReadOnly, runAsNobody, unmount } from "../support/faults.ts";

const MiB = 1 << 20;
const KiB = 1 << 10;
const INDEX = JSON.stringify(join(SRC, "index.ts"));
const dir = mkdtempSync(join(tmpdir(), "privheap-file-faults-"));
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) unmount(m);
  rmSync(dir, { recursive: true, force: true });
});
let seq = 0;
const fresh = (name = "h") => join(dir, `${name}${seq++}`);

/** A script file holding `code`, readable by others. */
function script(name: string, code: string): string {
  const file = fresh(name) + ".ts";
  writeFileSync(file, code);
  chmodSync(file, 0o644);
  return file;
}

/** A tmpfs of `size` bytes, unmounted after the file's tests. */
function smallTmpfs(size: number): string {
  const at = mountTmpfs(size);
  mounts.push(at);
  return at;
}

/** Free bytes of the file system at `path`. */
function freeBytes(path: string): number {
  const out = Bun.spawnSync(["df", "-B1", "--output=avail", path]).stdout.toString().trim().split("\n");
  return Number(out[out.length - 1]);
}

describe.skipIf(!canMount())("a full file system", () => {
  test("creating a heap file larger than the free space is EIO naming ENOSPC, at open, and leaves no file", async () => {
    const fs = smallTmpfs(MiB);
    const path = join(fs, "big.phheap");
    const free = freeBytes(fs);
    // In a child: without the reservation the open succeeds and the writes below die of SIGBUS.
    const r = await runScript(`
      import { PrivateHeap } from ${INDEX};
      try {
        using heap = PrivateHeap.open(${JSON.stringify(path)}, { size: ${8 * MiB}, create: true });
        const at = heap.malloc(${6 * MiB});
        heap.u8.fill(1, at, at + ${6 * MiB});
        console.log("wrote");
      } catch (e) {
        console.log(e.code, e.message);
      }
    `);
    expect([r.exitCode, r.signalCode, r.stderr]).toEqual([0, null, ""]);
    expect(r.stdout).toStartWith("EIO ");
    expect(r.stdout).toContain("ENOSPC");
    expect(existsSync(path)).toBe(false);
    expect(freeBytes(fs)).toBe(free);
  });

  test("growing a heap file past the free space is EIO naming ENOSPC, and the file keeps its size, bytes and heap", () => {
    const fs = smallTmpfs(MiB);
    const path = join(fs, "small.phheap");
    {
      using heap = PrivateHeap.open(path, { size: 256 * KiB, create: true });
      heap.setRoot("x", heap.malloc(100));
    }
    const before = readFileSync(path);
    const err = expectCode(() => PrivateHeap.open(path, { size: 4 * MiB, create: true }), "EIO");
    expect(err.message).toContain("ENOSPC");
    expect(statSync(path).size).toBe(256 * KiB);
    expect(Buffer.compare(readFileSync(path), before)).toBe(0);
    using heap = PrivateHeap.open(path, { check: true });
    expect([heap.size, heap.getRoot("x") > 0]).toEqual([256 * KiB, true]);
  });

  test("a heap file that fits is usable to its last page on a file system with no room left", async () => {
    const fs = smallTmpfs(MiB);
    const path = join(fs, "fits.phheap");
    const r = await runScript(`
      import { PrivateHeap } from ${INDEX};
      import { writeFileSync } from "node:fs";
      using heap = PrivateHeap.open(${JSON.stringify(path)}, { size: ${768 * KiB}, create: true });
      // Fill the rest of the file system: the heap's blocks are its own already.
      try { writeFileSync(${JSON.stringify(join(fs, "filler"))}, new Uint8Array(${MiB})); } catch (e) { console.log("filler:", e.code); }
      const at = heap.malloc(${512 * KiB});
      heap.u8.fill(7, at, at + ${512 * KiB});
      heap.flush();
      console.log(heap.check(), heap.u8[at + ${512 * KiB - 1}]);
    `);
    expect([r.exitCode, r.signalCode, r.stderr]).toEqual([0, null, ""]);
    expect(r.stdout.trim().split("\n")).toEqual(["filler: ENOSPC", "0 7"]);
  });
});

describe.skipIf(!canMount())("a read-only file system", () => {
  test("create is EIO naming EROFS; an existing heap file is EIO naming EROFS; neither changes anything", () => {
    const fs = smallTmpfs(MiB);
    const path = join(fs, "h.phheap");
    PrivateHeap.open(path, { size: 256 * KiB, create: true }).close();
    const before = readFileSync(path);
    remountReadOnly(fs);
    const created = expectCode(() => PrivateHeap.open(join(fs, "new.phheap"), { size: 256 * KiB, create: true }), "EIO");
    expect(created.message).toContain("EROFS");
    const opened = expectCode(() => PrivateHeap.open(path), "EIO");
    expect(opened.message).toContain("EROFS");
    expectCode(() => PrivateHeap.open(path, { size: MiB, create: true }), "EIO");
    expect(existsSync(join(fs, "new.phheap"))).toBe(false);
    expect(Buffer.compare(readFileSync(path), before)).toBe(0);
  });
});

describe.skipIf(!canRunAsNobody())("a process without permission", () => {
  test("a read-only directory, a heap file it may not write and one it may only read are EIO naming EACCES, unchanged", async () => {
    chmodSync(dir, 0o755); // others may enter, not create
    const owned = fresh("root-owned");
    PrivateHeap.open(owned, { size: 256 * KiB, create: true }).close(); // 0600, root's
    const readOnly = fresh("read-only");
    PrivateHeap.open(readOnly, { size: 256 * KiB, create: true }).close();
    chownSync(readOnly, 65534, 65534);
    chmodSync(readOnly, 0o400);
    const before = [readFileSync(owned), readFileSync(readOnly)];
    const created = fresh("new");
    const child = script("child", `
      import { PrivateHeap } from ${INDEX};
      for (const [path, opts] of [[${JSON.stringify(created)}, { size: ${256 * KiB}, create: true }], [${JSON.stringify(owned)}, {}], [${JSON.stringify(readOnly)}, {}], [${JSON.stringify(readOnly)}, { size: ${MiB}, create: true }]]) {
        try { PrivateHeap.open(path, opts).close(); console.log("opened"); } catch (e) { console.log(e.code, /EACCES/.test(e.message)); }
      }
    `);
    const r = await runAsNobody([child], dir);
    expect([r.exitCode, r.stderr]).toEqual([0, ""]);
    expect(r.stdout.trim().split("\n")).toEqual(["EIO true", "EIO true", "EIO true", "EIO true"]);
    expect(existsSync(created)).toBe(false);
    expect(Buffer.compare(readFileSync(owned), before[0]!)).toBe(0);
    expect(Buffer.compare(readFileSync(readOnly), before[1]!)).toBe(0);
    expect(statSync(readOnly).size).toBe(256 * KiB);
  });
});

/** A child that maps `path`, fills 6 MiB of it, says "ready", then runs "flush" or "touch" lines. */
function mapper(path: string) {
  const file = script(
    "mapper",
    `import { PrivateHeap } from ${INDEX};
    const heap = PrivateHeap.open(${JSON.stringify(path)});
    const at = heap.malloc(${6 * MiB});
    heap.u8.fill(1, at, at + ${6 * MiB});
    console.log("ready");
    for await (const line of console) {
      if (line === "flush") {
        try { heap.flush(); console.log("flushed"); } catch (e) { console.log(e.code, e.message); }
      } else if (line === "touch") {
        heap.u8[at + ${6 * MiB - 1}] = 2; // a page past the new end of the file
        console.log("touched");
      } else break;
    }`,
  );
  return lineChild(file);
}

describe("a heap file cut while mapped", () => {
  // The operating system lets any writer truncate a mapped file; privheap
  // cannot refuse it. What it can do: say so at flush and at the next open.
  // Touching a cut page is a SIGBUS, which ends the process.
  test("flush reports EIO naming the cut, a touch of a cut page ends the process with SIGBUS, and the next open is ESIZE", async () => {
    const path = fresh();
    PrivateHeap.open(path, { size: 8 * MiB, create: true }).close();
    const a = mapper(path);
    expect(await a.next()).toBe("ready");
    truncateSync(path, MiB);
    a.send("flush");
    const flushed = await a.next();
    a.send("touch");
    const touched = await a.next();
    const stderr = await new Response(a.proc.stderr).text();
    await a.proc.exited;
    expect(flushed).toStartWith("EIO ");
    expect(flushed).toContain("cut to 1048576 bytes");
    // The outcome of touching a cut page, as it is: the process dies of SIGBUS.
    expect([touched, a.proc.signalCode]).toEqual(["", "SIGBUS"]);
    expect(stderr).toContain("Bus error");
    const err = expectCode(() => PrivateHeap.open(path), "ESIZE");
    expect(err.message).toContain("smaller than its heap");
    expect(statSync(path).size).toBe(MiB); // and the open changed nothing
  }, 20_000);
});

describe("a creation killed half way", () => {
  // The file is created at its path first, then reserved, then formatted
  // (the magic written last), so a kill leaves an empty file, a reserved
  // file of zeros, or a header without magic. Each reads as not-a-heap, and
  // open({ create }) refuses it (privheap cannot prove it is its own
  // half-made file) and leaves it as it is: remove it to create again.
  test.skipIf(!canTrace())("a process killed (SIGKILL) while reserving a new heap file leaves a file that open({ create }) refuses, unchanged", () => {
    const path = fresh();
    const r = killAtSyscall("fallocate", [script("victim", `import { PrivateHeap } from ${INDEX}; PrivateHeap.open(${JSON.stringify(path)}, { size: ${4 * MiB}, create: true }); console.log("created");`)]);
    expect(r.killed).toBe(true);
    expect(existsSync(path)).toBe(true);
    const before = statSync(path);
    const err = expectCode(() => PrivateHeap.open(path, { size: 4 * MiB, create: true }), "ESIZE");
    expect(err.message).toContain("empty");
    expect([statSync(path).size, statSync(path).mtimeMs]).toEqual([before.size, before.mtimeMs]);
  });

  test.skipIf(!canStopIn("ph__pages_format"))("a process killed (SIGKILL) while formatting a new heap file leaves a header without magic that open({ create }) refuses, unchanged", () => {
    const path = fresh();
    // ph__pages_format runs inside ph_heap_init after the header fields and before the magic.
    const killed = killInFunction("ph__pages_format", [script("victim", `import { PrivateHeap } from ${INDEX}; PrivateHeap.open(${JSON.stringify(path)}, { size: ${4 * MiB}, create: true }); console.log("created");`)]);
    expect(killed).toBe(true);
    const before = readFileSync(path);
    expect(before.length).toBe(4 * MiB);
    expect(before.readBigUInt64LE(0)).toBe(0n); // no magic
    expect(before.readUInt32LE(8)).not.toBe(0); // but the layout version was written: killed mid-format
    const err = expectCode(() => PrivateHeap.open(path, { size: 4 * MiB, create: true }), "ECORRUPT");
    expect(err.message).toContain("interrupted creation");
    expect(Buffer.compare(readFileSync(path), before)).toBe(0);
  }, 60_000);

  test("a reserved file of zeros and a heap whose magic was never written are refused by open({ create }) as not-a-heap, unchanged", () => {
    const zeros = fresh();
    writeFileSync(zeros, new Uint8Array(4 * MiB));
    const halfMade = fresh();
    PrivateHeap.open(halfMade, { size: 4 * MiB, create: true }).close();
    const bytes = readFileSync(halfMade);
    bytes.fill(0, 0, 8); // the magic, which init writes last
    writeFileSync(halfMade, bytes);
    for (const path of [zeros, halfMade]) {
      const before = readFileSync(path);
      const err = expectCode(() => PrivateHeap.open(path, { size: 4 * MiB, create: true }), "ECORRUPT");
      expect(err.message).toContain("interrupted creation");
      expectCode(() => PrivateHeap.open(path, { size: 8 * MiB, create: true }), "ECORRUPT"); // nor grown
      expect(Buffer.compare(readFileSync(path), before)).toBe(0);
      expect(statSync(path).size).toBe(4 * MiB);
    }
  });
});
