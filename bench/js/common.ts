/**
 * Shared bits of the JS benchmarks: the header every benchmark prints
 * (machine, runtime, native library and its build), timing helpers and
 * percentile summaries.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { arch, cpus, platform, release, totalmem } from "node:os";
import { loadNative } from "../../src/ffi/loader.ts";

/** Section names of an ELF file (Linux libraries), or [] when it is not one. */
function elfSections(path: string): string[] {
  const fd = openSync(path, "r");
  try {
    const hdr = Buffer.alloc(64);
    readSync(fd, hdr, 0, 64, 0);
    if (hdr.readUInt32BE(0) !== 0x7f454c46 || hdr[4] !== 2) return [];
    const shoff = Number(hdr.readBigUInt64LE(0x28));
    const shentsize = hdr.readUInt16LE(0x3a);
    const shnum = hdr.readUInt16LE(0x3c);
    const shstrndx = hdr.readUInt16LE(0x3e);
    const table = Buffer.alloc(shentsize * shnum);
    readSync(fd, table, 0, table.length, shoff);
    const strOff = Number(table.readBigUInt64LE(shstrndx * shentsize + 0x18));
    const strSize = Number(table.readBigUInt64LE(shstrndx * shentsize + 0x20));
    const strs = Buffer.alloc(strSize);
    readSync(fd, strs, 0, strSize, strOff);
    const names: string[] = [];
    for (let i = 0; i < shnum; i++) {
      const at = table.readUInt32LE(i * shentsize);
      names.push(strs.toString("latin1", at, strs.indexOf(0, at)));
    }
    return names;
  } finally {
    closeSync(fd);
  }
}

/** Print what the numbers were measured on. */
export function printHeader(title: string): void {
  const lib = loadNative();
  const cpu = cpus();
  let build = process.env.PRIVHEAP_BUILD_MODE ?? "";
  if (build === "") {
    // What the file shows: Zig's Debug and ReleaseSafe builds compile C with
    // UBSan checks; ReleaseFast / ReleaseSmall (the default) and `cc -O2` do not.
    const bytes = readFileSync(lib.path);
    const ubsan = bytes.includes("__ubsan_handle") || bytes.includes("__ubsan");
    const debug = process.platform === "linux" && elfSections(lib.path).includes(".debug_info");
    build = `${ubsan ? "UBSan checks: a Debug or ReleaseSafe build" : "no UBSan checks: a release build (ReleaseFast/ReleaseSmall or cc -O2)"}${debug ? ", with debug info" : ""}`;
  }
  console.log(`# ${title}`);
  console.log(`machine : ${cpu[0]?.model ?? "unknown cpu"} x${cpu.length}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()} ${release()} ${arch()}`);
  console.log(`runtime : bun ${Bun.version} (${Bun.revision.slice(0, 9)})`);
  console.log(`library : ${lib.path} (${lib.source}, ${(statSync(lib.path).size / 1024).toFixed(0)} KiB, ${build}; set PRIVHEAP_BUILD_MODE to label it)`);
  console.log("");
}

/** Nanoseconds per call of `body(n)`, which runs n iterations: best of `rounds` after a warm-up. */
export function nsPerOp(body: (n: number) => void, n: number, rounds = 7): number {
  body(Math.min(n, 200_000));
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    const t0 = Bun.nanoseconds();
    body(n);
    best = Math.min(best, (Bun.nanoseconds() - t0) / n);
  }
  return best;
}

export interface Summary {
  median: number;
  p99: number;
  max: number;
  mean: number;
}

/** Median, 99th percentile, max and mean of `xs`. */
export function summarize(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return { median: q(0.5), p99: q(0.99), max: s[s.length - 1]!, mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** The middle value of `xs` (the upper one of an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Print rows as an aligned table. */
export function table(head: string[], rows: (string | number)[][]): void {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const [k, r] of cells.entries()) {
    console.log(r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  "));
    if (k === 0) console.log(w.map((n) => "-".repeat(n)).join("  "));
  }
}

/** A ratio with a verdict against a target (`<=`). */
export function verdict(ratio: number, target: number): string {
  return `${ratio.toFixed(2)}x (target <= ${target}x: ${ratio <= target ? "met" : "MISSED"})`;
}
