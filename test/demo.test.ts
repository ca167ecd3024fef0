// The demo (npm run demo) runs, says what it promises, and is deterministic.
import { expect, test } from "bun:test";

function runDemo(): string {
  const r = Bun.spawnSync([process.execPath, "examples/demo.ts", "600", "40"], { cwd: `${import.meta.dir}/..` });
  const out = r.stdout.toString();
  if (r.exitCode !== 0) throw new Error(`demo exited with ${r.exitCode}: ${r.stderr.toString()}`);
  return out;
}

test("demo: consistent heap, rollback and restore give the recorded checksums, same output twice", () => {
  const a = runDemo();
  expect(a).toContain("entity counters agree: true");
  expect(a).toContain("check() = 0");
  expect(a).toMatch(/rewound from frame 20 to 12 .* checksums match/);
  expect(a).toContain("restored: checksum back: true");
  const checksumLine = (s: string) => s.split("\n").find((l) => l.includes("heap checksum"));
  expect(checksumLine(a)).toBeDefined();
  expect(checksumLine(runDemo())).toBe(checksumLine(a)!);
}, 30_000);
