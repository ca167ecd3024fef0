// examples/rollback-replay.ts runs a rollback session with late inputs and
// says that its replay holds the confirmed timeline: every true input, a
// verify that passes, a file equal to a straight recording's, and a ring
// frame read with get() that equals the replay's state.
import { expect, test } from "bun:test";

function run(entities: number, ticks: number): string {
  const r = Bun.spawnSync([process.execPath, "examples/rollback-replay.ts", String(entities), String(ticks)], { cwd: `${import.meta.dir}/../..` });
  if (r.exitCode !== 0) throw new Error(`the example exited with ${r.exitCode}: ${r.stdout.toString()}${r.stderr.toString()}`);
  return r.stdout.toString();
}

test("rollback-replay example: rollbacks happen, and the replay is the confirmed timeline", () => {
  for (const [entities, ticks] of [
    [300, 120],
    [1000, 300],
  ] as const) {
    const out = run(entities, ticks);
    const rollbacks = Number(/: (\d+) rollbacks re-simulated (\d+) ticks/.exec(out)?.[1]);
    expect(rollbacks, out).toBeGreaterThan(0);
    expect(out).toContain(`replay: ${ticks} ticks, every input the true one: true`);
    expect(out).toContain("verify from tick 0: every checksum matches");
    expect(out).toContain("the replay ends where the session ended: true");
    expect(out).toMatch(/equal to the straight recording's, byte for byte: true/);
    expect(out).toMatch(/ring\.get\(\d+\) equals the replay's state after tick \d+: true/);
  }
}, 60_000);
