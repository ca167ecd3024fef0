// Faults while saving a snapshot file, with real processes: killed (SIGKILL)
// at every system call of a save, out of space on a small tmpfs, and in a
// read-only directory. The file at the path is always the previous complete
// save or the new complete one, and a failed save is EIO naming the system
// error. Needs root (mount, setpriv) and strace (fault injection); without
// them the cases are reported as skipped, with the reason.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { expectCode } from "../../support/expect.ts";
import { canMount, canRunAsNobody, canTrace, killAtSyscall, mountTmpfs, remountReadOnly, runAsNobody, syscallsOf, unmount } from "../../support/faults.ts";
import { makeSnapshot } from "../../support/save-child.ts";

const CHILD = join(import.meta.dir, "..", "..", "support", "save-child.ts");
const root = mkdtempSync(join(tmpdir(), "privheap-save-faults-"));
chmodSync(root, 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const fresh = (): string => {
  const d = join(root, `d${seq++}`);
  mkdirSync(d, { mode: 0o755 });
  return d;
};

const old = makeSnapshot(1, 1);
const next = makeSnapshot(2, 3);
const OLD = old.checksum();
const NEW = next.checksum();

/** The checksum of the file at `path`, which must load. */
function sumOf(path: string): bigint {
  return Snapshot.loadSync(path).checksum();
}

/** The save's system calls in order, as [name, nth call of that name], from a traced run that is not killed. */
function saveCalls(mode: string): [string, number][] {
  const d = fresh();
  const r = syscallsOf(["pwrite64", "pwritev", "fsync", "fdatasync", "rename", "renameat", "renameat2"], [CHILD, join(d, "s.phsnap"), "2", mode]);
  expect(r.exitCode).toBe(0);
  return r.calls;
}

describe("kill -9 at every system call of a save", () => {
  for (const mode of ["sync", "zstd"] as const) {
    test.skipIf(!canTrace())(`${mode}: the file is the old complete save until the rename, the new one from then on`, () => {
      const calls = saveCalls(mode);
      const renameAt = calls.findIndex(([name]) => name.startsWith("rename"));
      expect(renameAt).toBeGreaterThan(0);
      expect(calls.filter(([n]) => n.startsWith("pwrite")).length).toBeGreaterThanOrEqual(2); // data, then the header
      for (let i = 0; i < calls.length; i++) {
        const [name, nth] = calls[i]!;
        const d = fresh();
        const path = join(d, "slot.phsnap");
        old.saveSync(path);
        const r = killAtSyscall(name, [CHILD, path, "2", mode], nth);
        expect(r.stdout, `killed at ${name} #${nth}`).toBe(""); // it never finished
        // Killed on entering the call: the rename itself has not happened yet.
        expect(sumOf(path), `killed at ${name} #${nth} (call ${i} of ${calls.length})`).toBe(i <= renameAt ? OLD : NEW);
        expect(statSync(path).mode & 0o777).toBe(0o600);
      }
    }, 120_000);
  }

  test.skipIf(!canTrace())("async: killed at its first write, its first fsync or its rename, the old save stays", () => {
    for (const call of ["pwrite64", "pwritev", "fsync", "rename"]) {
      const d = fresh();
      const path = join(d, "slot.phsnap");
      old.saveSync(path);
      const r = killAtSyscall(call, [CHILD, path, "2", "async"]);
      expect(r.stdout, call).toBe("");
      expect(sumOf(path), call).toBe(OLD);
    }
  }, 60_000);
});

describe("a full file system", () => {
  test.skipIf(!canMount())("ENOSPC on a 1 MiB tmpfs: save is EIO naming ENOSPC, the previous file is intact, no temporary file stays", async () => {
    const d = mountTmpfs(1 << 20);
    try {
      const path = join(d, "slot.phsnap");
      const small = makeSnapshot(1, 0.25); // about 300 KiB on disk; the next save needs 3 MiB
      small.saveSync(path);
      const before = readFileSync(path);
      const e = expectCode(() => next.saveSync(path), "EIO");
      expect(e.message).toContain("ENOSPC");
      await expect(next.save(path)).rejects.toMatchObject({ code: "EIO" });
      expect(readFileSync(path).equals(before)).toBe(true);
      expect(sumOf(path)).toBe(small.checksum());
      expect(readdirSync(d)).toEqual(["slot.phsnap"]);
      // The space is back: a save that fits still works.
      const other = makeSnapshot(3, 0.25);
      other.saveSync(path);
      expect(sumOf(path)).toBe(other.checksum());
    } finally {
      unmount(d);
    }
  }, 60_000);
});

describe("a directory the process cannot write", () => {
  test.skipIf(!canMount())("a read-only mount: save is EIO naming EROFS, and the previous file is intact", async () => {
    const d = mountTmpfs(8 << 20); // room for the old save (1 MiB of pages) and more
    try {
      const path = join(d, "slot.phsnap");
      old.saveSync(path);
      remountReadOnly(d);
      expect(expectCode(() => next.saveSync(path), "EIO").message).toContain("EROFS");
      await expect(next.save(path)).rejects.toMatchObject({ code: "EIO" });
      expect(sumOf(path)).toBe(OLD);
      expect(readdirSync(d)).toEqual(["slot.phsnap"]);
    } finally {
      unmount(d);
    }
  });

  test.skipIf(!canRunAsNobody())("a child running as nobody in a root-owned directory: EIO naming EACCES, the previous file is intact", async () => {
    const d = fresh();
    const path = join(d, "slot.phsnap");
    old.saveSync(path);
    for (const mode of ["sync", "async"]) {
      const r = await runAsNobody([CHILD, path, "2", mode], tmpdir());
      expect(r.exitCode, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { code: string; message: string };
      expect(out.code).toBe("EIO");
      expect(out.message).toContain("EACCES");
    }
    expect(sumOf(path)).toBe(OLD);
    expect(readdirSync(d)).toEqual(["slot.phsnap"]);
  });
});
