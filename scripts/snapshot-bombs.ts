/**
 * scripts/snapshot-bombs.ts - peak memory (VmHWM) and time of loading
 * hostile snapshot files that declare far more than they hold.
 *
 * Usage: bun scripts/snapshot-bombs.ts
 *
 * Each file is loaded by a fresh child process (loadSync, then load), which
 * reports its peak resident memory; the table shows it against the peak of
 * the same child loading nothing (the runtime's own memory).
 *   zstd 2 GiB     128 KiB file: a zstd frame of RLE blocks decoding to 2 GiB of 0x41
 *   zstd 2 GiB hdr the same, but its first pages hold a valid heap header of
 *                  a 2 GiB heap (the bytes after it are junk)
 *   raw 2 GiB      a raw file declaring a 2 GiB used prefix with one stored page
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../src/heap.ts";
import { encode, PAGE, partsOf, zstdBomb } from "../test/support/snapshot-craft.ts";

const GiB = 2 ** 30;

if (process.argv[2] === "--child") {
  const path = process.argv[3]!;
  const { Snapshot } = await import("../src/snapshot/snapshot.ts");
  const t0 = Bun.nanoseconds();
  let result = "loaded";
  if (path !== "-") {
    try {
      Snapshot.loadSync(path);
    } catch (e) {
      result = (e as { code?: string }).code ?? String(e);
    }
    try {
      await Snapshot.load(path);
    } catch (e) {
      result += "/" + ((e as { code?: string }).code ?? String(e));
    }
  }
  const ms = (Bun.nanoseconds() - t0) / 1e6;
  const hwm = /VmHWM:\s+(\d+) kB/.exec(await Bun.file("/proc/self/status").text())![1]!;
  console.log(JSON.stringify({ result, ms, peakKiB: Number(hwm) }));
  process.exit(0);
}

function child(path: string): { result: string; ms: number; peakKiB: number } {
  const p = Bun.spawnSync([process.execPath, import.meta.path, "--child", path], { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) return { result: `exit ${p.exitCode} signal ${p.signalCode ?? ""}: ${p.stderr.toString().slice(0, 200)}`, ms: 0, peakKiB: 0 };
  return JSON.parse(p.stdout.toString());
}

const dir = mkdtempSync(join(tmpdir(), "privheap-bombs-"));
try {
  const files: [string, string][] = [];
  const add = (name: string, bytes: Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    files.push([name, p]);
  };
  add("zstd 2 GiB", zstdBomb(2 * GiB));
  // A real heap header (of a heap the size the file declares) in the first pages.
  {
    using heap = PrivateHeap.create({ size: 2 * GiB });
    const want = 2 * GiB - 64 * PAGE;
    while (heap.usedBytes < want) heap.malloc(Math.min(64 << 20, want - heap.usedBytes));
    const used = heap.usedBytes;
    add("zstd 2 GiB hdr", zstdBomb(used, 0x41, heap.u8.slice(0, 2 * PAGE), heap.size));
  }
  {
    const parts = partsOf(new Uint8Array(PAGE).fill(7), 2 * GiB);
    const pages = (2 * GiB) / PAGE;
    parts.usedBytes = BigInt(2 * GiB);
    parts.map = new Uint8Array(pages / 8);
    parts.map[0] = 1;
    add("raw 2 GiB", encode(parts));
  }
  const base = child("-");
  console.log(`bun ${Bun.version}, ${process.platform}-${process.arch}; a child loading nothing peaks at ${(base.peakKiB / 1024).toFixed(0)} MiB`);
  console.log("file              bytes     result               ms   peak RSS MiB  over the empty child");
  for (const [name, p] of files) {
    const r = child(p);
    console.log(
      `${name.padEnd(16)} ${String(statSync(p).size).padStart(8)}  ${r.result.padEnd(20)} ${r.ms.toFixed(0).padStart(6)}  ${(r.peakKiB / 1024).toFixed(0).padStart(12)}  ${((r.peakKiB - base.peakKiB) / 1024).toFixed(0).padStart(8)}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
