// The demo (npm run demo) runs, says what it promises, and is deterministic.
import { expect, test } from "bun:test";

function runDemo(): string {
  const r = Bun.spawnSync([process.execPath, "examples/demo.ts", "300", "520"], { cwd: `${import.meta.dir}/../..` });
  const out = r.stdout.toString();
  if (r.exitCode !== 0) throw new Error(`demo exited with ${r.exitCode}: ${r.stderr.toString()}`);
  return out;
}

test("demo: consistent heap; rollback, restore, seek and verify give the recorded checksums; the injected Math.random() is caught; same output twice", () => {
  const a = runDemo();
  expect(a).toContain("entity counters agree: true");
  expect(a).toContain("check() = 0");
  expect(a).toMatch(/rewound from frame 260 to 252 .* checksums match/);
  expect(a).toContain("restored: checksum back: true");
  expect(a).toMatch(/seek to frame 173 in another heap: .* checksum as recorded: true/);
  expect(a).toContain("verify 520 frames: every checksum matches");
  expect(a).toMatch(/with a Math.random\(\) at frame 500: diverged at frame 500 .* \(roots: entities\), entity 34/);
  const checksumLine = (s: string) => s.split("\n").find((l) => l.includes("heap checksum"));
  expect(checksumLine(a)).toBeDefined();
  expect(checksumLine(runDemo())).toBe(checksumLine(a)!);
}, 30_000);
