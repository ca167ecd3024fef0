/**
 * bench/js/wasm-struct.ts - struct access on a WebAssembly heap against a
 * native one: the demo's Entity layout, 4,000 entities, each step moves
 * every entity by its velocity through a cursor (pos.x += vel.x, ...) and
 * a raw Float32Array loop does the same over the same bytes.
 *
 * Usage: bun bench/js/wasm-struct.ts [steps]
 *
 * Each backend runs in a process of its own (this script with --alone), the
 * two processes alternated six times (a process lands in a fast or a slow
 * mode, 2x apart, on this VM, whatever the backend); a row is the best ns per entity
 * update of each. Target: struct access on the WebAssembly
 * heap equal to native (both read typed-array views of the region).
 */
import { PrivateHeap, struct } from "../../src/index.ts";
import { printHeader, table } from "./common.ts";

const Vec2 = struct({ x: "f32", y: "f32" });
const Entity = struct({ pos: Vec2, vel: Vec2, hp: "i32", team: "u8", kills: "u16", hits: "u32" });
const N = 4000;

/** --alone BACKEND STEPS: ns per entity update through a cursor and through a raw view, best of 5 rounds. */
if (process.argv[2] === "--alone") {
  const backend = process.argv[3] as "native" | "wasm";
  const steps = Number(process.argv[4]);
  const heap = PrivateHeap.create({ size: 16 << 20, backend });
  const base = Entity.alloc(heap, N);
  const e = Entity.cursor(heap, base);
  for (let i = 0; i < N; i++) {
    const it = e.index(base, i);
    it.vel.x = (i % 7) - 3;
    it.vel.y = (i % 5) - 2;
  }
  const cursorStep = (): void => {
    for (let i = 0; i < N; i++) {
      const it = e.index(base, i);
      it.pos.x += it.vel.x;
      it.pos.y += it.vel.y;
    }
  };
  const stride = Entity.size >>> 2;
  const rawStep = (): void => {
    const f = heap.f32;
    for (let i = 0, at = base >>> 2; i < N; i++, at += stride) {
      f[at] = f[at]! + f[at + 2]!;
      f[at + 1] = f[at + 1]! + f[at + 3]!;
    }
  };
  const time = (step: () => void): number => {
    for (let s = 0; s < 50; s++) step();
    let best = Number.POSITIVE_INFINITY;
    for (let r = 0; r < 5; r++) {
      const t0 = Bun.nanoseconds();
      for (let s = 0; s < steps; s++) step();
      best = Math.min(best, (Bun.nanoseconds() - t0) / (steps * N));
    }
    return best;
  };
  console.log(JSON.stringify({ cursor: time(cursorStep), raw: time(rawStep) }));
  heap.close();
  process.exit(0);
}

printHeader("struct access: WebAssembly heap vs native heap (one backend per process)");
const steps = Number(process.argv[2] ?? 200);
const best = { native: { cursor: Infinity, raw: Infinity }, wasm: { cursor: Infinity, raw: Infinity } };
for (let round = 0; round < 6; round++)
  for (const backend of ["native", "wasm"] as const) {
    const r = Bun.spawnSync([process.execPath, import.meta.path, "--alone", backend, String(steps)]);
    if (r.exitCode !== 0) throw new Error(`the ${backend} process failed: ${r.stderr.toString()}`);
    const got = JSON.parse(r.stdout.toString()) as { cursor: number; raw: number };
    best[backend].cursor = Math.min(best[backend].cursor, got.cursor);
    best[backend].raw = Math.min(best[backend].raw, got.raw);
  }
table(
  ["loop", "native ns/entity", "wasm ns/entity", "wasm / native"],
  (["cursor", "raw"] as const).map((k) => [k, best.native[k].toFixed(2), best.wasm[k].toFixed(2), `${(best.wasm[k] / best.native[k]).toFixed(2)}x`]),
);
