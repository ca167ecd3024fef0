// examples/rollback-peers.ts runs two peers with input delay, prediction
// and rollback over a simulated network: their per-frame checksums agree,
// peer 0's replay holds every true input and verifies, and a desync made
// on purpose in one peer is reported at the frame it was made.
import { expect, test } from "bun:test";

function run(...args: string[]): { code: number; out: string } {
  const r = Bun.spawnSync([process.execPath, "examples/rollback-peers.ts", ...args], { cwd: `${import.meta.dir}/../..` });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

function rollbacksOf(out: string, peer: number): number {
  return Number(new RegExp(`peer ${peer}: (\\d+) rollbacks re-simulated (\\d+) frames`).exec(out)?.[1]);
}

test("rollback-peers example: both peers roll back, agree on every confirmed frame, and the replay verifies", () => {
  for (const [entities, frames, seed] of [
    [300, 120, 1],
    [500, 200, 9],
  ] as const) {
    const { code, out } = run(String(entities), String(frames), "--seed", String(seed));
    expect(code, out).toBe(0);
    expect(rollbacksOf(out, 0), out).toBeGreaterThan(0);
    expect(rollbacksOf(out, 1), out).toBeGreaterThan(0);
    expect(out).toContain(`confirmed frames whose checksums were compared: peer 0 ${frames}, peer 1 ${frames}`);
    expect(out).toContain("checksums: all agree");
    expect(out).toContain("the peers end in the same state: true");
    expect(out).toContain(`replay of peer 0: ${frames} frames, every input the true pair: true`);
    expect(out).toContain("replay verify from frame 0: every checksum matches; ends where peer 0 ended: true");
  }
}, 60_000);

test("rollback-peers example: a nondeterministic write in one peer is reported at its frame, with exit status 2", () => {
  for (const frame of [0, 37, 119]) {
    const { code, out } = run("300", "120", "--desync", String(frame));
    expect(code, out).toBe(2);
    expect(out).toContain(`desync at frame ${frame}: peer 0 found it at frame ${frame}, peer 1 at frame ${frame}`);
    expect(out).toContain("the peers end in the same state: false");
    // Peer 0 stayed deterministic: its own replay still verifies.
    expect(out).toContain("replay verify from frame 0: every checksum matches; ends where peer 0 ended: true");
  }
}, 60_000);

test("rollback-peers example: a desync frame past the last frame is refused", () => {
  const { code, out } = run("100", "20", "--desync", "20");
  expect(code).toBe(1);
  expect(out).toContain("usage:");
});
