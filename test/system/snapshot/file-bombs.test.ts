// Loading snapshot files that declare far more than they hold: the heap
// header inside is checked against the file's sizes before the used prefix
// is allocated or decoded, so memory follows the bytes present; and
// `maxBytes` bounds what a file with a sound header may cost.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../../src/heap.ts";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { expectCode } from "../../support/expect.ts";
import { encode, PAGE, partsOf, zstdBomb } from "../../support/snapshot-craft.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const CHILD = join(import.meta.dir, "..", "..", "support", "load-peak.ts");
/** What a load of a hostile file may cost beyond a child that loads nothing. */
const BOUND_KIB = 64 * 1024;

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "privheap-bombs-test-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function peakOf(path: string, options: object = {}): { codes: string[]; peakKiB: number } {
  const p = Bun.spawnSync([process.execPath, CHILD, path, JSON.stringify(options)], { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`child failed (${p.exitCode} ${p.signalCode ?? ""}): ${p.stderr.toString()}`);
  return JSON.parse(p.stdout.toString());
}

let baseline = 0;
function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

describe("decompression and allocation bombs", () => {
  beforeAll(() => {
    baseline = peakOf("-").peakKiB;
    expect(baseline).toBeGreaterThan(0);
  });

  test("a 128 KiB zstd file declaring 2 GiB is ECORRUPT after its first blocks, within the memory bound", () => {
    const bomb = zstdBomb(2 * GiB);
    expect(bomb.length).toBeLessThan(160 * 1024);
    const r = peakOf(write("zstd.phsnap", bomb));
    expect(r.codes).toEqual(["ECORRUPT", "ECORRUPT"]);
    expect(r.peakKiB - baseline).toBeLessThan(BOUND_KIB);
  }, 120_000);

  test("a raw file declaring a 2 GiB used prefix with one stored page is ECORRUPT within the memory bound", () => {
    const parts = partsOf(new Uint8Array(PAGE).fill(7), 2 * GiB);
    parts.usedBytes = BigInt(2 * GiB);
    parts.map = new Uint8Array((2 * GiB) / PAGE / 8);
    parts.map[0] = 1;
    const r = peakOf(write("raw.phsnap", encode(parts)));
    expect(r.codes).toEqual(["ECORRUPT", "ECORRUPT"]);
    expect(r.peakKiB - baseline).toBeLessThan(BOUND_KIB);
  }, 120_000);

  test("a zstd bomb behind a sound heap header of a 1 GiB heap: maxBytes refuses it (ESIZE) within the memory bound", () => {
    using heap = PrivateHeap.create({ size: GiB });
    while (heap.usedBytes < GiB - 64 * MiB) heap.malloc(32 * MiB);
    const p = write("hdr.phsnap", zstdBomb(heap.usedBytes, 0x41, heap.u8.slice(0, 2 * PAGE), heap.size));
    const r = peakOf(p, { maxBytes: 64 * MiB });
    expect(r.codes).toEqual(["ESIZE", "ESIZE"]);
    expect(r.peakKiB - baseline).toBeLessThan(BOUND_KIB);
  }, 120_000);
});

describe("maxBytes", () => {
  test("a file within maxBytes loads; one byte less is ESIZE; bad values are EINVAL", async () => {
    using heap = PrivateHeap.create({ size: 4 * MiB });
    heap.setRoot("x", heap.malloc(5000));
    const p = join(dir, "ok.phsnap");
    heap.snapshot().saveSync(p, { fsync: false });
    expect(Snapshot.loadSync(p, { maxBytes: heap.usedBytes }).checksum()).toBe(heap.checksum());
    expect((await Snapshot.load(p, { maxBytes: heap.size })).checksum()).toBe(heap.checksum());
    expectCode(() => Snapshot.loadSync(p, { maxBytes: heap.usedBytes - 1 }), "ESIZE");
    await expect(Snapshot.load(p, { maxBytes: 0 })).rejects.toMatchObject({ code: "ESIZE" });
    for (const maxBytes of [-1, 1.5, Number.NaN, "1" as never]) expectCode(() => Snapshot.loadSync(p, { maxBytes }), "EINVAL");
  });
});
