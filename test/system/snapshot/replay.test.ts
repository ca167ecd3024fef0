// Replay: record a deterministic simulation, seek to every tick, find the
// first divergent tick, and read torn or damaged files without a wrong answer.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PrivateHeap } from "../../../src/heap.ts";
import { REPLAY_VERSION } from "../../../src/snapshot/replay-format.ts";
import { LayoutMap } from "../../../src/snapshot/layout-map.ts";
import { Replay, ReplayRecorder, type StepFn } from "../../../src/snapshot/replay.ts";
import { struct } from "../../../src/struct.ts";
import { SRC } from "../../support/bun.ts";
import { expectCode } from "../../support/expect.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";
import { rng } from "../../support/random.ts";

const MiB = 1 << 20;
const heapOf = heapsClosedAfterEach(4 * MiB);
const dir = mkdtempSync(join(tmpdir(), "privheap-replay-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const pathFor = () => join(dir, `r${seq++}.phreplay`);

/** A small world: a table of counters and a list of short-lived allocations. */
function setup(heap: PrivateHeap): void {
  heap.setRoot("table", heap.calloc(20_000, 4));
  heap.setRoot("log", heap.calloc(64, 8));
}

/** Deterministic: reads only the heap, the input and the tick. */
const step: StepFn = (heap, input, t) => {
  const table = heap.getRoot("table") >>> 2;
  const u32 = heap.u32;
  for (let i = 0; i < 64; i++) {
    const at = table + ((i * 2654435761 + t * 40503 + input[0]!) >>> 0) % 20_000;
    u32[at] = (u32[at]! + input[i % input.length]! + i) >>> 0;
  }
  const log = heap.getRoot("log") >>> 3;
  const slot = log + (t % 64);
  if (heap.f64[slot] !== 0) heap.free(heap.f64[slot]!);
  heap.f64[slot] = heap.malloc(16 + ((t * 97) % 3000));
};

/** Record `ticks` ticks; returns the path and the live checksum after each tick. */
function record(ticks: number, keyframeEvery: number, seed = 1, compress = true): { path: string; sums: bigint[]; inputs: Uint8Array[] } {
  const r = rng(seed);
  const path = pathFor();
  const heap = heapOf();
  setup(heap);
  const sums: bigint[] = [];
  const inputs: Uint8Array[] = [];
  using rec = Replay.record(path, heap, { keyframeEvery, compress });
  for (let t = 0; t < ticks; t++) {
    const input = Uint8Array.from({ length: r.int(1, 12) }, () => r.int(0, 255));
    step(heap, input, t);
    expect(rec.tick(input)).toBe(t);
    sums.push(heap.checksum());
    inputs.push(input);
  }
  expect(rec.ticks).toBe(ticks);
  return { path, sums, inputs };
}

describe("Replay: record, open, seek, verify", () => {
  test("round trip: ticks, keyframes, inputs and checksums as recorded", () => {
    const { path, sums, inputs } = record(100, 16);
    const replay = Replay.openSync(path);
    expect(replay.ticks).toBe(100);
    expect(replay.keyframeEvery).toBe(16);
    expect(replay.keyframes).toEqual([-1, 15, 31, 47, 63, 79, 95]);
    expect(replay.torn).toBeNull();
    expect(replay.regionSize).toBe(4 * MiB);
    for (let t = 0; t < 100; t++) {
      expect(replay.checksum(t)).toBe(sums[t]!);
      expect(Array.from(replay.input(t))).toEqual(Array.from(inputs[t]!));
    }
  });

  test("seek to every tick gives the live run's state", () => {
    const { path, sums } = record(70, 8);
    const replay = Replay.openSync(path);
    const heap = heapOf();
    for (let t = 69; t >= -1; t--) {
      replay.seek(t, heap, step);
      if (t >= 0) expect(heap.checksum(), `tick ${t}`).toBe(sums[t]!);
      expect(heap.check()).toBe(0);
    }
    // The state before tick 0 is the recorded keyframe -1.
    expect(heap.checksum()).toBe(replay.keyframe(-1).checksum());
    // Forwards too (keyframe images are rebuilt from a cached one), and jumping around.
    for (let t = 0; t < 70; t++) {
      replay.seek(t, heap, step);
      expect(heap.checksum(), `tick ${t}`).toBe(sums[t]!);
    }
    for (const t of [65, 3, 40, 39, 8, 69, 0]) {
      replay.seek(t, heap, step);
      expect(heap.checksum(), `tick ${t}`).toBe(sums[t]!);
    }
  });

  test("seek runs at most keyframeEvery - 1 steps after one restore", () => {
    const { path } = record(50, 10);
    const replay = Replay.openSync(path);
    const heap = heapOf();
    for (const t of [-1, 0, 9, 10, 19, 27, 49]) {
      let steps = 0;
      replay.seek(t, heap, (h, i, tick) => {
        steps++;
        step(h, i, tick);
      });
      expect(steps, `seek(${t})`).toBe(t - Math.max(-1, Math.floor((t + 1) / 10) * 10 - 1));
      expect(steps).toBeLessThan(10);
    }
  });

  test("verify passes for the same step; it needs a heap of the recorded size (checksums cover the header)", () => {
    const { path } = record(90, 20);
    const replay = Replay.openSync(path);
    const seen: number[] = [];
    expect(replay.verify(heapOf(), step, { onProgress: (t) => seen.push(t) })).toEqual({ ok: true, firstDivergentTick: -1, expected: 0n, actual: 0n, diff: null, diffTick: -1, diffAgainst: "none" });
    expect(seen).toEqual(Array.from({ length: 90 }, (_, t) => t));
    expectCode(() => replay.verify(heapOf(8 * MiB), step), "ESIZE");
    // seek works in a larger heap: the same allocations and bytes, another region size.
    const big = heapOf(8 * MiB);
    replay.seek(50, big, step);
    expect(big.check()).toBe(0);
    expect(big.roots()).toEqual(replay.keyframe(39).roots());
  });

  for (const [where, at] of [["the first", 0], ["a middle", 45], ["the last", 89]] as const) {
    test(`a nondeterministic write at ${where} tick is found at exactly that tick, and the diff names its allocation and root`, () => {
      const { path } = record(90, 20);
      const replay = Replay.openSync(path);
      const heap = heapOf();
      const flaky: StepFn = (h, input, t) => {
        step(h, input, t);
        if (t === at) h.u32[(h.getRoot("table") >>> 2) + 123] = 1 + Math.floor(Math.random() * 1e9);
      };
      const v = replay.verify(heap, flaky);
      expect(v.ok).toBe(false);
      expect(v.firstDivergentTick).toBe(at);
      expect(v.expected).toBe(replay.checksum(at));
      expect(v.actual).not.toBe(v.expected);
      expect(v.diffTick).toBe(at);
      expect(["keyframe", "rerun"]).toContain(v.diffAgainst);
      const table = heap.getRoot("table");
      expect(v.diff!.ranges.some((r) => r.offset >= table + 123 * 4 && r.offset < table + 124 * 4)).toBe(true);
      expect(v.diff!.allocations.map((a) => a.offset)).toContain(table);
      expect(v.diff!.roots).toContain("table");
    });
  }

  test("a deterministic change of behaviour is found, and diffed against the next keyframe", () => {
    const { path } = record(60, 20);
    const replay = Replay.openSync(path);
    const changed: StepFn = (h, input, t) => {
      step(h, input, t);
      if (t === 25) h.u32[(h.getRoot("table") >>> 2) + 7]! += 1;
    };
    const heap = heapOf();
    const v = replay.verify(heap, changed);
    expect(v.firstDivergentTick).toBe(25);
    expect(v.diffAgainst).toBe("keyframe");
    expect(v.diffTick).toBe(39);
    expect(v.diff!.roots).toContain("table");
    expect(v.diff!.paths).toBeUndefined();
    // With the user's layouts the same divergence names the field.
    const Counter = struct({ n: "u32" });
    const named = replay.verify(heapOf(), changed, { layouts: LayoutMap.create().root("table", Counter, { count: 20_000 }) });
    expect(named.firstDivergentTick).toBe(25);
    const fields = named.diff!.paths!.fields;
    expect(fields.map((f) => f.path)).toEqual(["table[7].n"]);
    expect(Number(fields[0]!.after) - Number(fields[0]!.before)).toBe(1);
  });

  test("bad arguments, closed recorders, missing files and small heaps fail with their codes", () => {
    const { path } = record(10, 4);
    const replay = Replay.openSync(path);
    const heap = heapOf();
    expectCode(() => replay.seek(10, heap, step), "EINVAL");
    expectCode(() => replay.seek(-2, heap, step), "EINVAL");
    expectCode(() => replay.seek(1.5, heap, step), "EINVAL");
    expectCode(() => replay.seek(3, heap, null as unknown as StepFn), "EINVAL");
    expectCode(() => replay.input(10), "EINVAL");
    expectCode(() => replay.checksum(-1), "EINVAL");
    expectCode(() => replay.keyframe(2), "EINVAL");
    expectCode(() => replay.seek(3, heapOf(1 * MiB), step), "ESIZE");
    expectCode(() => Replay.openSync(join(dir, "missing.phreplay")), "EIO");
    expectCode(() => Replay.openSync(""), "EINVAL");
    expectCode(() => Replay.record(pathFor(), heap, { keyframeEvery: 0 }), "EINVAL");
    expectCode(() => Replay.record(join(dir, "no-such-dir", "x.phreplay"), heap), "EIO");
    const rec = Replay.record(pathFor(), heap);
    expect(rec).toBeInstanceOf(ReplayRecorder);
    // Checked by tsc: Replay.record is the only way to make a recorder.
    // @ts-expect-error the constructor is private
    const typeOnly = () => new ReplayRecorder(pathFor(), heap, 1);
    expect(typeof typeOnly).toBe("function");
    expectCode(() => rec.tick([1, 2] as unknown as Uint8Array), "EINVAL");
    rec.close();
    expectCode(() => rec.tick(new Uint8Array(1)), "ECLOSED");
    heap.close();
    expectCode(() => Replay.record(pathFor(), heap), "ECLOSED");
  });
});

describe("Replay: close", () => {
  test("after close every method and every getter but keyframeEvery and regionSize is ECLOSED", () => {
    const { path } = record(20, 8);
    const replay = Replay.openSync(path);
    const heap = heapOf();
    replay.seek(12, heap, step); // the replay now holds a rebuilt image too
    replay.close();
    replay.close(); // idempotent
    expect(replay.closed).toBe(true);
    expect([replay.keyframeEvery, replay.regionSize]).toEqual([8, 4 * MiB]);
    const readable = new Set(["constructor", "close", "closed", "keyframeEvery", "regionSize"]);
    const proto = Object.getOwnPropertyDescriptors(Replay.prototype);
    const members = Object.keys(proto).filter((name) => !readable.has(name));
    // A new member joins this list, and the check below.
    expect(members.sort()).toEqual(["checksum", "fileBytes", "input", "keyframe", "keyframes", "seek", "ticks", "torn", "verify"]);
    const r = replay as unknown as Record<string, unknown>;
    for (const name of members) {
      const use = proto[name]!.get ? () => r[name] : () => (r[name] as (...a: unknown[]) => unknown)(0, heap, step);
      expect(expectCode(use, "ECLOSED").op).toBe(`Replay.${name}`);
    }
    expect(heap.check()).toBe(0);
    let disposed: Replay | undefined;
    {
      using again = Replay.openSync(path);
      disposed = again;
    }
    expect(disposed.closed).toBe(true);
    expectCode(() => disposed.ticks, "ECLOSED");
  });

  test("a step that closes the replay stops seek and verify with ECLOSED", () => {
    const { path } = record(20, 8);
    for (const run of ["seek", "verify"] as const) {
      const replay = Replay.openSync(path);
      const closing: StepFn = (heap, input, t) => {
        step(heap, input, t);
        if (t === 2) replay.close();
      };
      const heap = heapOf();
      expectCode(() => (run === "seek" ? replay.seek(5, heap, closing) : replay.verify(heap, closing)), "ECLOSED");
      expect(heap.check()).toBe(0);
    }
  });
});

describe("Replay: torn and damaged files", () => {
  test("cut at every byte of the last record: opens with the complete ticks and reports the tail", () => {
    const { path, sums } = record(30, 8);
    const whole = readFileSync(path);
    const full = Replay.openSync(path);
    expect(full.ticks).toBe(30);
    // The last record is tick 29's (30 % 8 != 0: no keyframe after it).
    const lastLen = 8 + 16 + full.input(29).length + 8;
    const heap = heapOf();
    for (let cut = whole.length - lastLen; cut < whole.length; cut++) {
      const p = pathFor();
      writeFileSync(p, whole.subarray(0, cut));
      const r = Replay.openSync(p);
      expect(r.ticks, `cut at ${cut}`).toBe(29);
      if (cut === whole.length - lastLen) expect(r.torn).toBeNull();
      else expect(r.torn).toEqual({ offset: whole.length - lastLen, bytes: cut - (whole.length - lastLen), reason: "a record cut short" });
      if (cut % 7 === 0) {
        r.seek(28, heap, step);
        expect(heap.checksum()).toBe(sums[28]!);
      }
    }
  });

  test("cut inside the header or the first keyframe: ECORRUPT", () => {
    const { path } = record(5, 4);
    const whole = readFileSync(path);
    const firstEnd = 48 + 8 + whole.readUInt32LE(48 + 4) + 8;
    for (const cut of [0, 10, 47, 48, 60, (48 + firstEnd) >> 1, firstEnd - 1]) {
      const p = pathFor();
      writeFileSync(p, whole.subarray(0, cut));
      expectCode(() => Replay.openSync(p), "ECORRUPT");
    }
  });

  test("random single-byte flips: an error, or a prefix of exactly the recorded ticks", () => {
    const { path, sums, inputs } = record(40, 8);
    const whole = readFileSync(path);
    const seed = 5150;
    const r = rng(seed);
    const heap = heapOf();
    let prefixes = 0;
    for (let i = 0; i < 1500; i++) {
      const bad = new Uint8Array(whole);
      const at = r.int(0, bad.length - 1);
      bad[at] = bad[at]! ^ (1 << r.int(0, 7));
      let replay: Replay;
      try {
        replay = Replay.fromBytes(bad);
      } catch (e) {
        expect(["ECORRUPT", "EVERSION"], `seed ${seed} flip ${i} at ${at}`).toContain((e as { code: string }).code);
        continue;
      }
      prefixes++;
      expect(replay.ticks, `seed ${seed} flip ${i} at ${at}`).toBeLessThanOrEqual(40); // 40: the last keyframe was hit
      expect(replay.torn).not.toBeNull();
      for (let t = 0; t < replay.ticks; t++) {
        expect(replay.checksum(t)).toBe(sums[t]!);
        expect(replay.input(t).join()).toBe(inputs[t]!.join());
      }
      if (i % 25 === 0 && replay.ticks > 0) {
        replay.seek(replay.ticks - 1, heap, step);
        expect(heap.checksum()).toBe(sums[replay.ticks - 1]!);
      }
    }
    expect(prefixes).toBeGreaterThan(100); // most flips land in records, which cut the file there
  });

  test("a keyframe whose pages were changed under a valid record checksum is refused when used", () => {
    // Uncompressed, so its page bytes are in the file (a compressed keyframe's damage: replay-hostile.test.ts).
    const { path } = record(40, 8, 1, false);
    const bytes = new Uint8Array(readFileSync(path));
    const v = new DataView(bytes.buffer);
    // Walk the records to the keyframe after tick 15 (the third keyframe).
    let at = 48;
    let keyframes = 0;
    let target = -1;
    while (at < bytes.length) {
      const len = v.getUint32(at + 4, true);
      if (v.getUint32(at, true) === 2 && ++keyframes === 3) target = at;
      at += 8 + len + 8;
    }
    expect(target).toBeGreaterThan(0);
    const len = v.getUint32(target + 4, true);
    bytes[target + 8 + len - 100] = bytes[target + 8 + len - 100]! ^ 0x5a; // a byte of its last stored page
    v.setBigUint64(target + 8 + len, Bun.hash.xxHash3(bytes.subarray(target, target + 8 + len)), true);
    const replay = Replay.fromBytes(bytes);
    expect(replay.ticks).toBe(40); // every record is well formed
    const heap = heapOf();
    replay.seek(14, heap, step); // before it: fine
    expectCode(() => replay.seek(15, heap, step), "ECORRUPT");
    replay.seek(30, heap, step); // the next keyframe stores that page again, so its image is sound
    expect(heap.checksum()).toBe(replay.checksum(30));
    expectCode(() => Replay.openSync(dir), "EIO"); // not a regular file
  });

  test("a newer format version is EVERSION; a wrong magic is ECORRUPT", () => {
    const { path } = record(3, 4);
    const whole = readFileSync(path);
    const newer = new Uint8Array(whole);
    newer[8] = REPLAY_VERSION + 1;
    writeFileSync(join(dir, "newer.phreplay"), newer);
    expectCode(() => Replay.openSync(join(dir, "newer.phreplay")), "EVERSION");
    const magic = new Uint8Array(whole);
    magic[1] = 0;
    writeFileSync(join(dir, "magic.phreplay"), magic);
    expectCode(() => Replay.openSync(join(dir, "magic.phreplay")), "ECORRUPT");
  });

  test("a recorder killed mid-run leaves a file whose complete ticks replay", async () => {
    const path = pathFor();
    const script = `
      import { PrivateHeap, Replay } from ${JSON.stringify(join(SRC, "index.ts"))};
      const heap = PrivateHeap.create({ size: 4 << 20 });
      heap.setRoot("n", heap.calloc(1, 8));
      const rec = Replay.record(${JSON.stringify(path)}, heap, { keyframeEvery: 5 });
      for (let t = 0; ; t++) {
        heap.f64[heap.getRoot("n") >>> 3] += t;
        rec.tick(new Uint8Array([t & 255, 7]));
        if (t === 50) console.log("ready");
      }
    `;
    const file = join(dir, "killed.ts");
    writeFileSync(file, script);
    const child = Bun.spawn([process.execPath, file], { stdout: "pipe" });
    const reader = child.stdout.getReader();
    await reader.read(); // "ready": at least 51 ticks are on disk
    child.kill("SIGKILL");
    await child.exited;
    const replay = Replay.openSync(path);
    expect(replay.ticks).toBeGreaterThan(50);
    const v = replay.verify(heapOf(), (h, _input, t) => {
      const n = h.getRoot("n") >>> 3;
      h.f64[n] = h.f64[n]! + t;
    });
    expect(v.ok).toBe(true);
  });
});

describe("Replay.open (async) and Replay.openSync read the same way", () => {
  /** What a reader exposes about its file, for comparing two readers. */
  function observe(r: Replay) {
    return { ticks: r.ticks, keyframes: r.keyframes, fileBytes: r.fileBytes, regionSize: r.regionSize, torn: r.torn, sums: Array.from({ length: r.ticks }, (_, t) => r.checksum(t)) };
  }

  test("open returns a Promise of a reader equal to openSync's, which seeks to the recorded state", async () => {
    const { path, sums } = record(25, 6);
    const pending = Replay.open(path);
    expect(pending).toBeInstanceOf(Promise);
    using a = await pending;
    using b = Replay.openSync(path);
    expect(observe(a)).toEqual(observe(b));
    expect(observe(a).sums).toEqual(sums);
    const heap = heapOf();
    a.seek(17, heap, step);
    expect(heap.checksum()).toBe(sums[17]!);
    expect(heap.check()).toBe(0);
  });

  test("a torn tail is read the same both ways", async () => {
    const { path } = record(12, 4);
    const whole = readFileSync(path);
    const cut = join(dir, "cut-both.phreplay");
    writeFileSync(cut, whole.subarray(0, whole.length - 7));
    using a = await Replay.open(cut);
    using b = Replay.openSync(cut);
    expect(a.torn).not.toBeNull();
    expect(observe(a)).toEqual(observe(b));
  });

  test("each failure has the same code both ways: open rejects, openSync throws, each naming itself", async () => {
    const { path } = record(3, 4);
    const whole = readFileSync(path);
    const newer = new Uint8Array(whole);
    newer[8] = REPLAY_VERSION + 1;
    writeFileSync(join(dir, "newer-both.phreplay"), newer);
    const magic = new Uint8Array(whole);
    magic[1] = 0;
    writeFileSync(join(dir, "magic-both.phreplay"), magic);
    writeFileSync(join(dir, "header-only.phreplay"), whole.subarray(0, 48));
    const cases: [string, string][] = [
      [join(dir, "missing.phreplay"), "EIO"],
      ["", "EINVAL"],
      [dir, "EIO"], // not a regular file
      [join(dir, "newer-both.phreplay"), "EVERSION"],
      [join(dir, "magic-both.phreplay"), "ECORRUPT"],
      [join(dir, "header-only.phreplay"), "ECORRUPT"], // no readable keyframe
    ];
    for (const [p, code] of cases) {
      expect({ p, op: expectCode(() => Replay.openSync(p), code).op }).toEqual({ p, op: "Replay.openSync" });
      let rejected: unknown;
      const pending = Replay.open(p); // never throws synchronously
      await pending.catch((e) => (rejected = e));
      expect({ p, code: (rejected as { code?: string })?.code, op: (rejected as { op?: string })?.op }).toEqual({ p, code, op: "Replay.open" });
    }
  });

  test("a FIFO is refused (EIO) without waiting for a writer, both ways", async () => {
    const fifo = join(dir, "fifo.phreplay");
    if (Bun.spawnSync(["mkfifo", fifo]).exitCode !== 0) throw new Error("mkfifo failed");
    expectCode(() => Replay.openSync(fifo), "EIO");
    expect(await Replay.open(fifo).catch((e) => e.code)).toBe("EIO");
  });
});

describe("recording a heap whose header a stray write damaged", () => {
  test("tick is ECORRUPT naming offset 0 and appends nothing; put back, recording goes on", () => {
    const heap = heapOf();
    setup(heap);
    const path = pathFor();
    const rec = Replay.record(path, heap, { keyframeEvery: 2 });
    rec.tick(Uint8Array.of(1));
    const bytes = readFileSync(path);
    const good = heap.u8.slice(0, 8);
    heap.f64[0] = 3.5; // a struct field written through the null offset
    const e = expectCode(() => rec.tick(Uint8Array.of(2)), "ECORRUPT");
    expect(e.message).toContain("offset 0");
    expect(rec.ticks).toBe(1);
    expect(readFileSync(path).equals(bytes)).toBe(true);
    heap.u8.set(good, 0);
    expect(rec.tick(Uint8Array.of(2))).toBe(1);
    rec.close();
    using replay = Replay.openSync(path);
    expect(replay.ticks).toBe(2);
  });
});
