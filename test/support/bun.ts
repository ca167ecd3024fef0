/**
 * Running scripts in a child Bun, for behaviour that must be observed from
 * outside (a crash would take the test runner down with it).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SRC = join(import.meta.dir, "..", "..", "src");

export interface ChildResult {
  exitCode: number | null;
  signalCode: string | number | null;
  stdout: string;
  stderr: string;
}

/** Write `code` to a temp .ts file and run it with this Bun; `env` adds to the environment. */
export async function runScript(code: string, env: Record<string, string | undefined> = {}, cwd?: string): Promise<ChildResult> {
  const dir = mkdtempSync(join(tmpdir(), "privheap-child-"));
  const file = join(dir, "child.ts");
  writeFileSync(file, code);
  const proc = Bun.spawn([process.execPath, file], {
    env: { ...process.env, ...env },
    cwd: cwd ?? dir,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  return { exitCode: proc.exitCode, signalCode: proc.signalCode, stdout, stderr };
}
