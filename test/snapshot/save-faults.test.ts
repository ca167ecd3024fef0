// Faults while saving a snapshot file, with real processes: killed (SIGKILL)
// at every system call of a save, out of space on a small tmpfs, and in a
// read-only directory. The file at the path is always the previous complete
// save or the new complete one, and a failed save is EIO naming the system
// error. Needs root (mount) and strace (fault injection); without them the
// cases are reported as skipped, with the reason.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Snapshot } from "../../src/snapshot/snapshot.ts";
import { expectCode } from "../support/expect.ts";
import { makeSnapshot } from "../support/save-child.ts";

const CHILD = join(import.meta.dir, "..", "support", "save-child.ts");
const root = mkdtempSync(join(tmpdir(), "privheap-save-faults-"));
chmodSync(root, 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const fresh = (): string => {
  const d = join(root, `d${seq++}`);
  mkdirSync(d, { mode: 0o755 });
  return d;
};

const run = (cmd: string[]) => Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
const isRoot = process.getuid?.() === 0;
const strace = run(["strace", "-f", "-o", "/dev/null", "true"]);
const canInject = strace.exitCode === 0;
const skipReason = (what: string, why: string) => console.warn(`SKIP ${what}: ${why}`);
if (!canInject) skipReason("kill at every system call of a save", `strace cannot trace here: ${strace.stderr.toString().trim() || "not installed"}`);

/** Whether `mount` with these arguments works here (tried on a scratch directory, then undone). */
function mountWorks(what: string, ...steps: string[][]): boolean {
  if (!isRoot) {
    skipReason(what, "not root (mount needs root)");
    return false;
  }
  const d = mkdtempSync(join(tmpdir(), "privheap-mount-probe-"));
  let done = 0;
  let why = "";
  for (const step of steps) {
    const r = run(step.map((a) => (a === "DIR" ? d : a)));
    if (r.exitCode !== 0) {
      why = r.stderr.toString().trim();
      break;
    }
    done++;
  }
  if (done > 0) run(["umount", d]);
  rmSync(d, { recursive: true, force: true });
  if (done < steps.length) skipReason(what, `mount refused: ${why}`);
  return done === steps.length;
}
const canTmpfs = mountWorks("ENOSPC on a small tmpfs", ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", "DIR"]);
const canReadOnly = mountWorks("the read-only mount", ["mount", "--bind", "DIR", "DIR"], ["mount", "-o", "remount,bind,ro", "DIR"]);

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
  const log = join(d, "trace");
  const r = run(["strace", "-f", "-qq", "-o", log, "-e", "trace=pwrite64,pwritev,fsync,fdatasync,rename,renameat,renameat2", process.execPath, CHILD, join(d, "s.phsnap"), "2", mode]);
  expect(r.exitCode).toBe(0);
  const seen = new Map<string, number>();
  const calls: [string, number][] = [];
  for (const line of readFileSync(log, "utf8").split("\n")) {
    const m = /^\d+\s+(\w+)\(/.exec(line);
    if (m === null) continue;
    const n = (seen.get(m[1]!) ?? 0) + 1;
    seen.set(m[1]!, n);
    calls.push([m[1]!, n]);
  }
  return calls;
}

describe("kill -9 at every system call of a save", () => {
  for (const mode of ["sync", "zstd"] as const) {
    test.skipIf(!canInject)(`${mode}: the file is the old complete save until the rename, the new one from then on`, () => {
      const calls = saveCalls(mode);
      const renameAt = calls.findIndex(([name]) => name.startsWith("rename"));
      expect(renameAt).toBeGreaterThan(0);
      expect(calls.filter(([n]) => n.startsWith("pwrite")).length).toBeGreaterThanOrEqual(2); // data, then the header
      for (let i = 0; i < calls.length; i++) {
        const [name, nth] = calls[i]!;
        const d = fresh();
        const path = join(d, "slot.phsnap");
        old.saveSync(path);
        const r = run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", `inject=${name}:signal=KILL:when=${nth}`, process.execPath, CHILD, path, "2", mode]);
        expect(r.stdout.toString(), `killed at ${name} #${nth}`).toBe(""); // it never finished
        // Killed on entering the call: the rename itself has not happened yet.
        expect(sumOf(path), `killed at ${name} #${nth} (call ${i} of ${calls.length})`).toBe(i <= renameAt ? OLD : NEW);
        expect(statSync(path).mode & 0o777).toBe(0o600);
      }
    }, 120_000);
  }

  test.skipIf(!canInject)("async: killed at its first write, its first fsync or its rename, the old save stays", () => {
    for (const call of ["pwrite64", "pwritev", "fsync", "rename"]) {
      const d = fresh();
      const path = join(d, "slot.phsnap");
      old.saveSync(path);
      const r = run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", `inject=${call}:signal=KILL:when=1`, process.execPath, CHILD, path, "2", "async"]);
      expect(r.stdout.toString(), call).toBe("");
      expect(sumOf(path), call).toBe(OLD);
    }
  }, 60_000);
});

describe("a full file system", () => {
  test.skipIf(!canTmpfs)("ENOSPC on a 1 MiB tmpfs: save is EIO naming ENOSPC, the previous file is intact, no temporary file stays", async () => {
    const d = fresh();
    const m = run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d]);
    expect(m.exitCode, m.stderr.toString()).toBe(0);
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
      run(["umount", d]);
    }
  }, 60_000);
});

describe("a directory the process cannot write", () => {
  test.skipIf(!canReadOnly)("a read-only mount: save is EIO naming EROFS, and the previous file is intact", async () => {
    const d = fresh();
    const path = join(d, "slot.phsnap");
    old.saveSync(path);
    expect(run(["mount", "--bind", d, d]).exitCode).toBe(0);
    try {
      expect(run(["mount", "-o", "remount,bind,ro", d]).exitCode).toBe(0);
      expect(expectCode(() => next.saveSync(path), "EIO").message).toContain("EROFS");
      await expect(next.save(path)).rejects.toMatchObject({ code: "EIO" });
      expect(sumOf(path)).toBe(OLD);
      expect(readdirSync(d)).toEqual(["slot.phsnap"]);
    } finally {
      run(["umount", d]);
    }
  });

  test.skipIf(!isRoot)("a child running as nobody in a root-owned directory: EIO naming EACCES, the previous file is intact", () => {
    const d = fresh();
    const path = join(d, "slot.phsnap");
    old.saveSync(path);
    for (const mode of ["sync", "async"]) {
      const r = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, CHILD, path, "2", mode], {
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, HOME: tmpdir() },
      });
      expect(r.exitCode, r.stderr.toString()).toBe(0);
      const out = JSON.parse(r.stdout.toString()) as { code: string; message: string };
      expect(out.code).toBe("EIO");
      expect(out.message).toContain("EACCES");
    }
    expect(sumOf(path)).toBe(OLD);
    expect(readdirSync(d)).toEqual(["slot.phsnap"]);
  });
});
