// TickRecords frames tick records in one reused buffer: the same bytes as
// the documented layout (docs/replay-format.md: head, tick, input length,
// heap checksum, input, XXH3 of head and payload), whatever came before.
import { describe, expect, test } from "bun:test";
import { frameRecord, RECORD_TICK, TickRecords } from "../../../src/snapshot/replay-format.ts";
import { rng } from "../../support/random.ts";

/** A tick record written field by field from the format's table. */
function documented(tick: number, checksum: bigint, input: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 16 + input.length + 8);
  const v = new DataView(out.buffer);
  v.setUint8(0, 1); // type 1: tick; bytes 1-3 reserved zero
  v.setUint32(4, 16 + input.length, true);
  v.setUint32(8, tick, true);
  v.setUint32(12, input.length, true);
  v.setBigUint64(16, checksum, true);
  out.set(input, 24);
  v.setBigUint64(24 + input.length, Bun.hash.xxHash3(out.subarray(0, 24 + input.length)), true);
  return out;
}

describe("TickRecords", () => {
  test("each record is the documented bytes, as frameRecord frames them, through growth and shrinking inputs", () => {
    const r = rng(7);
    const records = new TickRecords();
    for (let t = 0; t < 300; t++) {
      const size = r.pick([0, 1, 2, 31, 200, 233, 1000, 5000, 70_000]);
      const input = new Uint8Array(size).map(() => r.int(0, 255));
      const checksum = BigInt(r.int(0, 2 ** 31)) * BigInt(r.int(1, 2 ** 31)) + BigInt(t);
      const got = records.frame(t, checksum, input);
      const want = documented(t, checksum, input);
      const framed = frameRecord(RECORD_TICK, 16 + size, new Uint8Array(0), (payload, view) => {
        view.setUint32(8, t, true);
        view.setUint32(12, size, true);
        view.setBigUint64(16, checksum, true);
        payload.set(input, 16);
      });
      expect(Buffer.from(got).equals(Buffer.from(want)), `tick ${t}, ${size} bytes of input (seed ${r.seed})`).toBe(true);
      expect(Buffer.from(framed).equals(Buffer.from(want))).toBe(true);
    }
  });
});
