/**
 * Replay files whose records declare far more heap than they hold: reading
 * them costs what the file holds plus the target heap, not what it
 * declares. Each case runs in a child Bun that reports its own peak resident
 * memory (VmHWM) as it ends, so a huge allocation fails the test instead of
 * the runner. Not the child's ru_maxrss: a spawned process starts with its
 * parent's, the whole test runner's, and then a bound means nothing.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SRC } from "../../support/bun.ts";

/** Peak memory a child may use for these files: the runtime itself takes about 30 MiB. */
const BOUND = 160 << 20;

/** A line of code that prints "vmhwm <KiB>", the peak resident memory of the process it runs in. */
const PRINT_PEAK = 'writeSync(1, "vmhwm " + /VmHWM:\\s+(\\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))![1] + "\\n");';

/** The peak in bytes that a PRINT_PEAK line in `text` reports, or Infinity without one. */
function peakOf(text: string): number {
  const kib = /^vmhwm (\d+)$/m.exec(text)?.[1];
  return kib === undefined ? Number.POSITIVE_INFINITY : Number(kib) * 1024;
}

/** Run `body` (after the imports) in a child; returns its stdout lines and peak RSS. */
async function child(body: string): Promise<{ lines: string[]; maxRSS: number; exitCode: number | null; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), "privheap-bombs-"));
  const file = join(dir, "child.ts");
  writeFileSync(
    file,
    `
    import { PrivateHeap, Replay, HeapError } from ${JSON.stringify(join(SRC, "index.ts"))};
    import { encodeHeader, fillKeyframe, frameRecord, keyframePayloadBytes, RECORD_KEYFRAME, RECORD_KEYFRAME_ZSTD, REPLAY_FLAG_ZSTD, REPLAY_VERSION } from ${JSON.stringify(join(SRC, "snapshot", "replay-format.ts"))};
    import { readReplayInfo } from ${JSON.stringify(join(SRC, "cli", "replay-info.ts"))};
    import { NATIVE_CONSTANTS } from ${JSON.stringify(join(SRC, "ffi", "symbols.ts"))};
    import { readFileSync, writeFileSync, writeSync } from "node:fs";
    const GiB4 = 2 ** 32;
    /** A file of one whole keyframe after tick -1: the given pages, declaring used bytes of a 4 GiB region. */
    function bomb(pages: Uint32Array, data: Uint8Array, used: number): Uint8Array {
      const head = encodeHeader({ version: REPLAY_VERSION, abi: NATIVE_CONSTANTS.PH_ABI_VERSION, pageSize: 4096, keyframeEvery: 1, regionBytes: GiB4 });
      const rec = frameRecord(RECORD_KEYFRAME, keyframePayloadBytes(pages.length), new Uint8Array(0), (p) => fillKeyframe(p, -1, 0, { length: used, pages, data }));
      const out = new Uint8Array(head.length + rec.length);
      out.set(head);
      out.set(rec, head.length);
      return out;
    }
    const codeOf = (f: () => unknown) => {
      try { f(); return "ok"; } catch (e) { if (e instanceof HeapError) return e.code; throw e; }
    };
    const codeOfAsync = async (f: () => Promise<unknown>) => {
      try { await f(); return "ok"; } catch (e) { if (e instanceof HeapError) return e.code; throw e; }
    };
    ${body}
    ${PRINT_PEAK}
    `,
  );
  const proc = Bun.spawn([process.execPath, file], { stdout: "pipe", stderr: "pipe", cwd: dir });
  const [out, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  const lines = out.trim().split("\n").filter((line) => !line.startsWith("vmhwm "));
  return { lines, maxRSS: peakOf(out), exitCode: proc.exitCode, stderr };
}

describe("replay files that declare more than they hold", () => {
  test("32 KiB compressed keyframes whose zstd blocks expand to 1 GiB (a frame declaring no size, one declaring 4128 bytes) are ECORRUPT at open, in bounded memory", async () => {
    const r = await child(`
      const size = keyframePayloadBytes(1);
      /** One frame, not single segment (a 128 KiB window), declaring 'declared' content bytes or none, of 8192 RLE blocks of 128 KiB of zeros. */
      function frameOf(declared) {
        const blocks = 8192;
        const fcsBytes = declared === null ? 0 : 4;
        const frame = new Uint8Array(4 + 1 + 1 + fcsBytes + blocks * 4);
        const v = new DataView(frame.buffer);
        v.setUint32(0, 0xfd2fb528, true);
        frame[4] = declared === null ? 0x00 : 0x80;
        frame[5] = (17 - 10) << 3;
        if (declared !== null) v.setUint32(6, declared, true);
        for (let b = 0, at = 6 + fcsBytes; b < blocks; b++, at += 4) {
          const header = ((128 * 1024) << 3) | (1 << 1) | (b === blocks - 1 ? 1 : 0);
          frame[at] = header & 0xff;
          frame[at + 1] = (header >>> 8) & 0xff;
          frame[at + 2] = header >>> 16;
          frame[at + 3] = 0;
        }
        return frame;
      }
      for (const frame of [frameOf(null), frameOf(size)]) {
        const head = encodeHeader({ version: REPLAY_VERSION, flags: REPLAY_FLAG_ZSTD, abi: NATIVE_CONSTANTS.PH_ABI_VERSION, pageSize: 4096, keyframeEvery: 1, regionBytes: GiB4 });
        const rec = frameRecord(RECORD_KEYFRAME_ZSTD, 8 + frame.length, new Uint8Array(0), (p, view) => {
          view.setUint32(8, size, true);
          p.set(frame, 8);
        });
        const bytes = new Uint8Array(head.length + rec.length);
        bytes.set(head);
        bytes.set(rec, head.length);
        console.log(bytes.length < 40 * 1024);
        try {
          Replay.fromBytes(bytes);
          console.log("opened");
        } catch (e) {
          console.log(e instanceof HeapError ? e.code : String(e));
          console.log(/no readable keyframe \\(a compressed keyframe/.test(e.message));
        }
      }
    `);
    expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
    expect(r.lines).toEqual(["true", "ECORRUPT", "true", "true", "ECORRUPT", "true"]);
    expect(r.maxRSS).toBeLessThan(BOUND);
  }, 60_000);

  test("an 88-byte file whose whole keyframe declares 4 GiB and stores no page is ECORRUPT at open, in bounded memory", async () => {
    const r = await child(`
      const bytes = bomb(new Uint32Array(0), new Uint8Array(0), GiB4);
      console.log(bytes.length);
      console.log(codeOf(() => Replay.fromBytes(bytes)));
      writeFileSync("bomb.phreplay", bytes);
      console.log(codeOf(() => Replay.openSync("bomb.phreplay")));
      console.log(await codeOfAsync(() => readReplayInfo("bomb.phreplay")));
    `);
    expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
    expect(r.lines).toEqual(["88", "ECORRUPT", "ECORRUPT", "ECORRUPT"]);
    expect(r.maxRSS).toBeLessThan(BOUND);
  }, 60_000);

  test("privheap replay info on the 88-byte file exits 2 with ECORRUPT, in bounded memory", async () => {
    const made = await child(`writeFileSync("bomb.phreplay", bomb(new Uint32Array(0), new Uint8Array(0), GiB4)); console.log(process.cwd());`);
    expect(made.exitCode).toBe(0);
    const file = join(made.lines[0]!, "bomb.phreplay");
    const peak = join(made.lines[0]!, "peak.ts");
    writeFileSync(peak, `import { readFileSync, writeSync } from "node:fs";\nprocess.on("exit", () => { ${PRINT_PEAK.replace("writeSync(1,", "writeSync(2,")} });\n`);
    const proc = Bun.spawn([process.execPath, "--preload", peak, join(SRC, "cli.ts"), "replay", "info", file], { stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    await proc.exited;
    expect({ exit: proc.exitCode, out }).toEqual({ exit: 2, out: "" });
    expect(err).toContain("ECORRUPT");
    expect(peakOf(err)).toBeLessThan(BOUND);
  }, 60_000);

  test("a damaged 4 GiB keyframe followed by a delta: rebuilding one after the other does not write the whole declared image", async () => {
    const r = await child(`
      const heap = PrivateHeap.create({ size: GiB4 });
      heap.malloc(GiB4 - (64 << 20));
      const used = heap.usedBytes;
      const page0 = heap.u8.slice(0, 4096);
      heap.close();
      const first = bomb(Uint32Array.of(0), page0, used);
      const tick = frameRecord(1, 16, new Uint8Array(0), (p, v) => { v.setUint32(8, 0, true); v.setUint32(12, 0, true); });
      const delta = frameRecord(RECORD_KEYFRAME, keyframePayloadBytes(1), new Uint8Array(0), (p) => fillKeyframe(p, 0, 1, { length: used, pages: Uint32Array.of(0), data: page0 }));
      const bytes = new Uint8Array(first.length + tick.length + delta.length);
      bytes.set(first);
      bytes.set(tick, first.length);
      bytes.set(delta, first.length + tick.length);
      const replay = Replay.fromBytes(bytes);
      console.log(replay.keyframes.join(" "));
      for (const after of [-1, 0, -1, 0]) console.log(codeOf(() => replay.keyframe(after)));
    `);
    expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
    expect(r.lines).toEqual(["-1 0", "ECORRUPT", "ECORRUPT", "ECORRUPT", "ECORRUPT"]);
    expect(r.maxRSS).toBeLessThan(BOUND);
  }, 60_000);

  test("a real heap header declaring 4 GiB used, without the metadata it points at: keyframe and info are ECORRUPT, seek into a small heap ESIZE, in bounded memory", async () => {
    const r = await child(`
      const heap = PrivateHeap.create({ size: GiB4 }); // anonymous: pages cost nothing until written
      heap.malloc(GiB4 - (64 << 20));
      const bytes = bomb(Uint32Array.of(0), heap.u8.slice(0, 4096), heap.usedBytes);
      heap.close();
      console.log(bytes.length < 8192);
      const replay = Replay.fromBytes(bytes); // the header page agrees with the record: it opens
      console.log(codeOf(() => replay.keyframe(-1)));
      console.log(codeOf(() => { using small = PrivateHeap.create({ size: 1 << 20 }); replay.seek(-1, small, () => {}); }));
      writeFileSync("bomb.phreplay", bytes);
      console.log(await codeOfAsync(() => readReplayInfo("bomb.phreplay")));
    `);
    expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: "" });
    expect(r.lines).toEqual(["true", "ECORRUPT", "ESIZE", "ECORRUPT"]);
    expect(r.maxRSS).toBeLessThan(BOUND);
  }, 60_000);
});
