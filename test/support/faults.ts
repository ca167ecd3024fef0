/**
 * Real faults for tests: small file systems that fill up or turn read-only
 * (tmpfs mounts), children without permissions (user nobody), and children
 * killed with SIGKILL at a chosen system call (strace) or native function
 * (gdb).
 *
 * Each fault needs the machine's help: root, strace, gdb, setpriv. Tests
 * that need one are skipped where it is missing, with the reason printed
 * once, never counted as passing and never failed for the machine alone:
 *
 * ```ts
 * describe.skipIf(!canMount())("a full file system", () => { ... });
 * ```
 *
 * Where a check says yes, the fault functions throw when the machine refuses
 * after all, so the test fails.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadNative } from "../../src/ffi/loader.ts";
import type { ChildResult } from "./bun.ts";

/** Run `cmd`; why it failed (its stderr, or that it is missing), or null when it exited 0. */
function failureOf(cmd: string[]): string | null {
  try {
    const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode === 0) return null;
    return r.stderr.toString().trim() || `${cmd[0]} exited with ${r.exitCode}`;
  } catch (e) {
    return `${cmd[0]}: ${(e as Error).message}`; // not installed
  }
}

/** Run `cmd`, throwing its stderr when it fails. */
function mustRun(cmd: string[]): void {
  const failure = failureOf(cmd);
  if (failure !== null) throw new Error(`${cmd.join(" ")}: ${failure}`);
}

const refusals = new Map<string, string | null>();

/** Whether `fault` can be made here; `probe` returns why not, or null. The first refusal of each fault is printed. */
function can(fault: string, probe: () => string | null): boolean {
  if (!refusals.has(fault)) {
    const reason = probe();
    refusals.set(fault, reason);
    if (reason !== null) console.warn(`SKIPPED: ${fault} is not possible here (${reason}); the tests that need it are skipped`);
  }
  return refusals.get(fault) === null;
}

// ---- file systems: small tmpfs mounts, full or read-only ----

/**
 * Whether tmpfs mounts can be made and remounted read-only here (root, or
 * CAP_SYS_ADMIN): tried once on a scratch directory, then undone.
 */
export function canMount(): boolean {
  return can("a tmpfs mount", () => {
    const at = mkdtempSync(join(tmpdir(), "privheap-mount-probe-"));
    const failure = failureOf(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", at]);
    const readOnly = failure ?? failureOf(["mount", "-o", "remount,ro", at]);
    if (failure === null) failureOf(["umount", "-l", at]);
    rmSync(at, { recursive: true, force: true });
    return readOnly;
  });
}

/**
 * A tmpfs of `bytes` bytes (mode 0755, root's) mounted at a new directory,
 * which it returns; undo it with `unmount`.
 *
 * ```ts
 * const fs = mountTmpfs(1 << 20);
 * try { writeFileSync(join(fs, "big"), new Uint8Array(2 << 20)); } finally { unmount(fs); }  // ENOSPC
 * ```
 */
export function mountTmpfs(bytes: number): string {
  const at = mkdtempSync(join(tmpdir(), "privheap-mnt-"));
  try {
    mustRun(["mount", "-t", "tmpfs", "-o", `size=${bytes},mode=0755`, "tmpfs", at]);
  } catch (e) {
    rmSync(at, { recursive: true, force: true });
    throw e;
  }
  return at;
}

/** Make the file system mounted at `at` read-only: writes there fail with EROFS from now on. */
export function remountReadOnly(at: string): void {
  mustRun(["mount", "-o", "remount,ro", at]);
}

/**
 * Unmount `at` and remove its directory. Lazily (umount -l): a descriptor a
 * failed test left open must not hide that test's failure behind EBUSY.
 */
export function unmount(at: string): void {
  mustRun(["umount", "-l", at]);
  rmSync(at, { recursive: true, force: true });
}

// ---- permissions: a child as user nobody ----

const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

/** Files a child as nobody loads: the package's source, the native library and the test support scripts. */
const NOBODY_READS = [join(import.meta.dir, "..", "..", "src", "index.ts"), join(import.meta.dir, "save-child.ts")];

/**
 * Whether a process can be run as user nobody (uid and gid 65534, no
 * groups) here: root and setpriv, and a project folder nobody may read (a
 * checkout under a 0700 directory, such as mktemp -d's, is not).
 */
export function canRunAsNobody(): boolean {
  return can("a process as user nobody", () => {
    if (process.getuid?.() !== 0) return "not root";
    const unreadable = [...NOBODY_READS, loadNative().path].filter((f) => failureOf([...NOBODY, "test", "-r", f]) !== null);
    return failureOf([...NOBODY, "true"]) ?? (unreadable.length === 0 ? null : `user nobody cannot read ${unreadable.join(", ")}`);
  });
}

/**
 * Run this Bun with `args` (a script, readable by others, and its
 * arguments) as user nobody, in `cwd`, which is also its HOME. Bun's
 * transpiler cache is off: nobody may not write it.
 *
 * ```ts
 * const r = await runAsNobody([script, path], dir);  // r.exitCode, r.stdout, r.stderr
 * ```
 */
export async function runAsNobody(args: string[], cwd: string): Promise<ChildResult> {
  const proc = Bun.spawn([...NOBODY, process.execPath, ...args], {
    env: { ...process.env, HOME: cwd, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" },
    cwd,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  return { exitCode: proc.exitCode, signalCode: proc.signalCode, stdout, stderr };
}

// ---- kill -9 at a chosen point: a system call (strace) or a native function (gdb) ----

/** Whether strace can trace a child and inject signals here. */
export function canTrace(): boolean {
  return can("a kill at a system call (strace)", () => failureOf(["strace", "-f", "-qq", "-o", "/dev/null", "true"]));
}

/**
 * The system calls named in `calls` that this Bun makes when run with
 * `args`, in order, each as [name, how many calls of that name so far]: the
 * points `killAtSyscall` can stop it at. `exitCode` is the untraced outcome.
 *
 * ```ts
 * const { calls } = syscallsOf(["fsync", "rename"], [script]);  // [["fsync", 1], ["rename", 1], ...]
 * ```
 */
export function syscallsOf(calls: string[], args: string[]): { exitCode: number | null; calls: [string, number][] } {
  const d = mkdtempSync(join(tmpdir(), "privheap-strace-"));
  try {
    const log = join(d, "trace");
    const r = Bun.spawnSync(["strace", "-f", "-qq", "-o", log, "-e", `trace=${calls.join(",")}`, process.execPath, ...args], { stdout: "pipe", stderr: "pipe" });
    const seen = new Map<string, number>();
    const made: [string, number][] = [];
    for (const line of readFileSync(log, "utf8").split("\n")) {
      const m = /^\d+\s+(\w+)\(/.exec(line); // "<pid> <call>(": with -f every line names its process
      if (m === null) continue;
      const n = (seen.get(m[1]!) ?? 0) + 1;
      seen.set(m[1]!, n);
      made.push([m[1]!, n]);
    }
    return { exitCode: r.exitCode, calls: made };
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

/**
 * Run this Bun with `args` under strace, killed (SIGKILL) as it enters its
 * `nth` call of the system call `call` (which therefore never happens).
 * Whether it died so, and what it printed before.
 *
 * ```ts
 * const { killed } = killAtSyscall("fallocate", [script]);
 * ```
 */
export function killAtSyscall(call: string, args: string[], nth = 1): { killed: boolean; stdout: string } {
  const r = Bun.spawnSync(["strace", "-f", "-qq", "-o", "/dev/null", "-e", `trace=${call}`, "-e", `inject=${call}:signal=KILL:when=${nth}`, process.execPath, ...args], {
    stdout: "pipe",
    stderr: "pipe",
  });
  // strace exits with the tracee's status: a tracee killed by SIGKILL makes strace kill itself the same way.
  return { killed: r.signalCode === "SIGKILL" || r.exitCode === 137, stdout: r.stdout.toString() };
}

/** Whether gdb can stop a child Bun in each of the native functions `fns`: gdb, and a library that still names them (not stripped). */
export function canStopIn(...fns: string[]): boolean {
  return can(`a kill in ${fns.join(", ")} (gdb)`, () => {
    const noGdb = failureOf(["gdb", "--version"]);
    if (noGdb !== null) return noGdb;
    const names = Bun.spawnSync(["nm", loadNative().path], { stdout: "pipe", stderr: "pipe" }).stdout.toString();
    const missing = fns.filter((fn) => !names.includes(` ${fn}\n`));
    return missing.length === 0 ? null : `the library does not name ${missing.join(", ")} (stripped?)`;
  });
}

/**
 * Run this Bun with `args` under gdb, killed (SIGKILL) at its first call of
 * the native function `fn` (or, with `skip`, the call after that many);
 * whether it reached `fn` and was killed there.
 *
 * ```ts
 * expect(killInFunction("ph__pages_format", [script])).toBe(true);
 * ```
 */
export function killInFunction(fn: string, args: string[], skip = 0): boolean {
  const r = Bun.spawnSync(
    [
      "gdb", "-q", "-batch",
      // Without debug information (a library built by the C compiler) gdb
      // would print ph__pages_format demangled, as ph.pages_format.
      "-ex", "set print demangle off",
      "-ex", "set breakpoint pending on",
      // Signals Bun's runtime uses for itself go straight to it.
      "-ex", "handle SIGSEGV SIGBUS SIGUSR1 SIGUSR2 SIGPWR SIGXCPU nostop noprint pass",
      "-ex", `break ${fn}`,
      "-ex", `ignore 1 ${skip}`, // stop at call skip + 1
      "-ex", "run",
      "-ex", "kill",
      "--args", process.execPath, ...args,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const out = r.stdout.toString();
  // "Breakpoint 1, fn (...)", or "Breakpoint 1, 0x... in fn (...)" without line information.
  const stopped = new RegExp(`Breakpoint 1, (0x[0-9a-f]+ in )?${fn} \\(`).test(out);
  return stopped && out.includes("killed]");
}
