// Lifetime safety: no view the library hands out may crash the process after
// close(), and a heap that is never closed is unmapped once nothing can reach
// its memory. Each scenario runs in a child Bun, so a segfault fails the test
// instead of killing the runner.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SRC, runScript } from "../support/bun.ts";

const INDEX = JSON.stringify(join(SRC, "index.ts"));

/** Is [base, base+size) still mapped? Read /proc/self/maps in the child (Linux). */
const MAPPED = `
function mapped(base: number): boolean {
  const text = require("node:fs").readFileSync("/proc/self/maps", "utf8");
  return text.split("\\n").some((l: string) => {
    const [range] = l.split(" ");
    if (!range) return false;
    const [lo, hi] = range.split("-").map((x: string) => parseInt(x, 16));
    return base >= lo && base < hi;
  });
}`;

describe("lifetime", () => {
  test("reads and writes through views after close() never crash: typed arrays read undefined, DataView throws", async () => {
    const r = await runScript(`
      import { PrivateHeap, struct } from ${INDEX};
      ${MAPPED}
      const heap = PrivateHeap.create({ size: 8 << 20 });
      const base = heap.address;
      const off = heap.malloc(4096);
      const { u8, i32, f32, f64, view } = heap;
      const sub = heap.u8.subarray(off, off + 4096);
      const mine = new Float64Array(heap.u8.buffer, off, 512);
      const P = struct({ x: "f32", n: "u32" });
      const p = P.cursor(heap, off);
      p.x = 1.5;
      // Warm a JIT-compiled reader so the detached case runs optimised code too.
      function sum(a: Float32Array, n: number) { let s = 0; for (let i = 0; i < n; i++) s += a[i] ?? 0; return s; }
      for (let k = 0; k < 2000; k++) sum(f32, 1024);
      const out: Record<string, unknown> = { mappedBefore: mapped(base) };
      heap.close();
      Bun.gc(true);
      out.mappedAfter = mapped(base);
      out.lengths = [u8.length, i32.length, f32.length, f64.length, sub.length, mine.length];
      out.reads = [u8[off], i32[off >> 2], f32[off >> 2], f64[off >> 3], sub[0], mine[0], p.x, p.n].map(String);
      u8[off] = 1; f32[off >> 2] = 2; sub[5] = 3; mine[1] = 4; p.x = 5; p.n = 6;
      out.afterWrites = [u8[off], f32[off >> 2], sub[5], mine[1], p.x].map(String);
      out.hot = sum(f32, 1024);
      try { view.getUint32(off, true); out.dataView = "read"; } catch (e) { out.dataView = (e as Error).name; }
      try { heap.u8; } catch (e) { out.getter = (e as any).code; }
      try { heap.malloc(8); } catch (e) { out.malloc = (e as any).code; }
      console.log(JSON.stringify(out));
    `);
    expect({ exit: r.exitCode, signal: r.signalCode, stderr: r.stderr }).toEqual({ exit: 0, signal: null, stderr: "" });
    const out = JSON.parse(r.stdout.trim());
    expect(out.mappedBefore).toBe(true);
    expect(out.mappedAfter).toBe(false);
    expect(out.lengths).toEqual([0, 0, 0, 0, 0, 0]);
    expect(out.reads).toEqual(Array(8).fill("undefined"));
    expect(out.afterWrites).toEqual(Array(5).fill("undefined"));
    expect(out.hot).toBe(0);
    expect(out.dataView).toBe("TypeError");
    expect(out.getter).toBe("ECLOSED");
    expect(out.malloc).toBe("ECLOSED");
  });

  test("a heap never closed is unmapped by the garbage collector", async () => {
    // The GC scans the stack conservatively, so one stray word may keep one
    // heap alive: make ten and allow one to linger.
    const r = await runScript(`
      import { PrivateHeap } from ${INDEX};
      ${MAPPED}
      function forget() { const h = PrivateHeap.create({ size: 4 << 20 }); h.u8[h.malloc(100)] = 1; return h.address; }
      const forgotten: number[] = [];
      for (let i = 0; i < 10; i++) forgotten.push(forget());
      for (let i = 0; i < 20; i++) { Bun.gc(true); await Bun.sleep(2); }
      console.log(JSON.stringify({ made: forgotten.length, after: forgotten.filter(mapped).length }));
    `);
    expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
    const out = JSON.parse(r.stdout.trim());
    expect(out.made).toBe(10);
    expect(out.after).toBeLessThanOrEqual(1);
  });

  test("a view that outlives its (unclosed) heap object keeps the region mapped and usable", async () => {
    const r = await runScript(`
      import { PrivateHeap } from ${INDEX};
      ${MAPPED}
      const bases: number[] = [];
      const slots: number[] = [];
      function keepView(i: number) {
        const h = PrivateHeap.create({ size: 4 << 20 });
        bases.push(h.address);
        const v = h.f32;
        slots.push(h.malloc(64) >>> 2);
        v[slots[i]!] = i + 0.5;
        return v;
      }
      const views: Float32Array[] = [];
      for (let i = 0; i < 10; i++) views.push(keepView(i));
      for (let i = 0; i < 20; i++) { Bun.gc(true); await Bun.sleep(2); }
      // The views are used below, so they are alive here.
      const mappedNow = bases.filter(mapped).length;
      const values = views.map((v, i) => v[slots[i]!]);
      console.log(JSON.stringify({ mappedNow, values, lengths: views.map((v) => v.length) }));
    `);
    expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
    const out = JSON.parse(r.stdout.trim());
    expect(out.mappedNow).toBe(10);
    expect(out.values).toEqual(Array.from({ length: 10 }, (_, i) => i + 0.5));
    expect(out.lengths).toEqual(Array(10).fill((4 << 20) / 4));
  });

  test("a frame arena's views are dead after close(), with no crash", async () => {
    const r = await runScript(`
      import { FrameArena } from ${INDEX};
      const arena = FrameArena.create({ size: 4 << 20, buffers: 2 });
      let off = 0;
      arena.frame((a) => { off = a.alloc(64); a.f32[off >> 2] = 3; });
      const prev = arena.previous!.f32;
      const cur = arena.f32;
      arena.close();
      Bun.gc(true);
      let code = "";
      try { arena.beginFrame(); } catch (e) { code = (e as any).code; }
      console.log(JSON.stringify({ prev: String(prev[off >> 2]), cur: String(cur[0]), code }));
    `);
    expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
    expect(JSON.parse(r.stdout.trim())).toEqual({ prev: "undefined", cur: "undefined", code: "ECLOSED" });
  });
});
