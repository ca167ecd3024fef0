// Heap files under faults, with real processes and real file systems: a
// full file system, a read-only one, a process without permission, a file
// cut while mapped, and a creation killed half way.
//
// Small file systems are tmpfs mounts (this needs root, or CAP_SYS_ADMIN);
// where mounting is refused, those tests are reported as skipped, with the
// reason printed, never as passing.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadNative } from "../src/ffi/loader.ts";
import { PrivateHeap } from "../src/heap.ts";
import { runScript, SRC } from "./support/bun.ts";
import { expectCode } from "./support/expect.ts";

const MiB = 1 << 20;
const KiB = 1 << 10;
const INDEX = JSON.stringify(join(SRC, "index.ts"));
const dir = mkdtempSync(join(tmpdir(), "privheap-file-faults-"));
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts.reverse()) Bun.spawnSync(["umount", "-l", m]);
  rmSync(dir, { recursive: true, force: true });
});
let seq = 0;
const fresh = (name = "h") => join(dir, `${name}${seq++}`);

/** A tmpfs of `size` bytes mounted at a new directory, or null (with the reason printed) when mounting is refused. */
function smallTmpfs(size: number): string | null {
  const at = fresh("mnt");
  mkdirSync(at);
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", at], { stderr: "pipe" });
  if (r.exitCode !== 0) {
    console.warn(`SKIPPED: cannot mount a ${size}-byte tmpfs here (${r.stderr.toString().trim()}); run as root to test a full or read-only file system`);
    return null;
  }
  mounts.push(at);
  return at;
}
const canMount = smallTmpfs(64 * KiB) !== null;

/** Free bytes of the file system at `path`. */
function freeBytes(path: string): number {
  const out = Bun.spawnSync(["df", "-B1", "--output=avail", path]).stdout.toString().trim().split("\n");
  return Number(out[out.length - 1]);
}

describe.skipIf(!canMount)("a full file system", () => {
  test("creating a heap file larger than the free space is EIO naming ENOSPC, at open, and leaves no file", async () => {
    const fs = smallTmpfs(MiB)!;
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
    const fs = smallTmpfs(MiB)!;
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
    const fs = smallTmpfs(MiB)!;
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

describe.skipIf(!canMount)("a read-only file system", () => {
  test("create is EIO naming EROFS; an existing heap file is EIO naming EROFS; neither changes anything", () => {
    const fs = smallTmpfs(MiB)!;
    const path = join(fs, "h.phheap");
    PrivateHeap.open(path, { size: 256 * KiB, create: true }).close();
    const before = readFileSync(path);
    expect(Bun.spawnSync(["mount", "-o", "remount,ro", fs]).exitCode).toBe(0);
    const created = expectCode(() => PrivateHeap.open(join(fs, "new.phheap"), { size: 256 * KiB, create: true }), "EIO");
    expect(created.message).toContain("EROFS");
    const opened = expectCode(() => PrivateHeap.open(path), "EIO");
    expect(opened.message).toContain("EROFS");
    expectCode(() => PrivateHeap.open(path, { size: MiB, create: true }), "EIO");
    expect(existsSync(join(fs, "new.phheap"))).toBe(false);
    expect(Buffer.compare(readFileSync(path), before)).toBe(0);
  });
});

/** Run `code` in a child Bun as user `nobody`; null when privileges cannot be dropped here. */
async function runAsNobody(code: string) {
  const file = fresh("child") + ".ts";
  writeFileSync(file, code);
  chmodSync(file, 0o644);
  const proc = Bun.spawn(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath, file], {
    env: { ...process.env, HOME: dir, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" },
    cwd: dir,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  return { exitCode: proc.exitCode, stdout, stderr };
}
const canDrop = process.getuid?.() === 0 && Bun.spawnSync(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "true"]).exitCode === 0;
if (!canDrop) console.warn("SKIPPED: cannot run a process as nobody here (needs root and setpriv); permission tests not run");

describe.skipIf(!canDrop)("a process without permission", () => {
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
    const r = await runAsNobody(`
      import { PrivateHeap } from ${INDEX};
      for (const [path, opts] of [[${JSON.stringify(created)}, { size: ${256 * KiB}, create: true }], [${JSON.stringify(owned)}, {}], [${JSON.stringify(readOnly)}, {}], [${JSON.stringify(readOnly)}, { size: ${MiB}, create: true }]]) {
        try { PrivateHeap.open(path, opts).close(); console.log("opened"); } catch (e) { console.log(e.code, /EACCES/.test(e.message)); }
      }
    `);
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
  const file = fresh("mapper") + ".ts";
  writeFileSync(
    file,
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
  const proc = Bun.spawn([process.execPath, file], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.getReader();
  let buffered = "";
  return {
    proc,
    async next(): Promise<string> {
      while (!buffered.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) return buffered;
        buffered += new TextDecoder().decode(value);
      }
      const i = buffered.indexOf("\n");
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      return line;
    },
    send(line: string): void {
      proc.stdin.write(`${line}\n`);
      proc.stdin.flush();
    },
  };
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

/**
 * Run `code` in a child Bun under strace, killed with SIGKILL when it enters
 * the system call `call`; null when strace cannot trace here.
 */
function killAt(call: string, code: string): { killed: boolean } | null {
  const file = fresh("victim") + ".ts";
  writeFileSync(file, code);
  const probe = Bun.spawnSync(["strace", "-qq", "-o", "/dev/null", "true"]);
  if (probe.exitCode !== 0) return null;
  const r = Bun.spawnSync(["strace", "-f", "-qq", "-o", "/dev/null", "-e", `trace=${call}`, "-e", `inject=${call}:signal=SIGKILL:when=1`, process.execPath, file], {
    stdout: "pipe",
    stderr: "pipe",
  });
  // strace exits with the tracee's status; a tracee killed by SIGKILL makes strace kill itself the same way.
  return { killed: r.signalCode === "SIGKILL" || r.exitCode === 137 };
}
const canTrace = Bun.spawnSync(["strace", "-qq", "-o", "/dev/null", "true"], { stderr: "pipe" }).exitCode === 0;
if (!canTrace) console.warn("SKIPPED: strace cannot trace here; the kill -9 while reserving test is not run");

/**
 * Run `code` in a child Bun under gdb, killed (SIGKILL) when it reaches the
 * native function `fn`; whether it was.
 */
function killInFunction(fn: string, code: string): boolean {
  const file = fresh("victim") + ".ts";
  writeFileSync(file, code);
  const r = Bun.spawnSync(
    [
      "gdb", "-q", "-batch",
      "-ex", "set breakpoint pending on",
      "-ex", "handle SIGSEGV SIGBUS SIGUSR1 SIGUSR2 SIGPWR SIGXCPU nostop noprint pass",
      "-ex", `break ${fn}`,
      "-ex", "run",
      "-ex", "kill",
      "--args", process.execPath, file,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const out = r.stdout.toString();
  return out.includes(`Breakpoint 1, ${fn}`) && out.includes("killed]");
}
// gdb, and a library that still names its internal functions (not stripped).
const canDebug =
  Bun.spawnSync(["gdb", "--version"], { stdout: "pipe", stderr: "pipe" }).exitCode === 0 &&
  Bun.spawnSync(["nm", loadNative().path], { stdout: "pipe", stderr: "pipe" }).stdout.toString().includes(" ph__pages_format");
if (!canDebug) console.warn("SKIPPED: no gdb, or a stripped library, here; the kill -9 while formatting test is not run");

describe("a creation killed half way", () => {
  // The file is created at its path first, then reserved, then formatted
  // (the magic written last), so a kill leaves an empty file, a reserved
  // file of zeros, or a header without magic. Each reads as not-a-heap, and
  // open({ create }) refuses it (privheap cannot prove it is its own
  // half-made file) and leaves it as it is: remove it to create again.
  test.skipIf(!canTrace)("a process killed (SIGKILL) while reserving a new heap file leaves a file that open({ create }) refuses, unchanged", () => {
    const path = fresh();
    const r = killAt("fallocate", `import { PrivateHeap } from ${INDEX}; PrivateHeap.open(${JSON.stringify(path)}, { size: ${4 * MiB}, create: true }); console.log("created");`);
    expect(r?.killed).toBe(true);
    expect(existsSync(path)).toBe(true);
    const before = statSync(path);
    const err = expectCode(() => PrivateHeap.open(path, { size: 4 * MiB, create: true }), "ESIZE");
    expect(err.message).toContain("empty");
    expect([statSync(path).size, statSync(path).mtimeMs]).toEqual([before.size, before.mtimeMs]);
  });

  test.skipIf(!canDebug)("a process killed (SIGKILL) while formatting a new heap file leaves a header without magic that open({ create }) refuses, unchanged", () => {
    const path = fresh();
    // ph__pages_format runs inside ph_heap_init after the header fields and before the magic.
    const killed = killInFunction("ph__pages_format", `import { PrivateHeap } from ${INDEX}; PrivateHeap.open(${JSON.stringify(path)}, { size: ${4 * MiB}, create: true }); console.log("created");`);
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
