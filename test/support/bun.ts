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

/**
 * A child Bun running the script `file`, fed lines on stdin: `send(line)`
 * writes one, `next()` reads its next stdout line (what is left, "" at the
 * end, once its output has ended), `end()` closes its stdin and waits for it.
 */
export function lineChild(file: string) {
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
    async end(): Promise<Omit<ChildResult, "stdout">> {
      proc.stdin.end();
      const stderr = await new Response(proc.stderr).text();
      await proc.exited;
      return { exitCode: proc.exitCode, signalCode: proc.signalCode, stderr };
    },
  };
}
