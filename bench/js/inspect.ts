/**
 * bench/js/inspect.ts - `privheap inspect` of a large heap file: the report
 * as text and as the HTML page, against reading the same bytes.
 *
 * Usage: bun bench/js/inspect.ts [runs] [regionMiB] [liveMiB]
 *   runs       medians of this many runs per row (default 5)
 *   regionMiB  the heap file's size (default 1024)
 *   liveMiB    bytes of live allocations in it (default 512)
 *   PRIVHEAP_BENCH_DIR=dir writes the files there (default: the OS temp dir)
 *
 * The heap is mixed-heap.ts's: half its live bytes small (16 B to 2 KiB),
 * half large (16 KiB to 2 MiB), a fifth of each freed again as it fills.
 * Rows (each from the file, in this process, after one warm-up run):
 *   read          fs.readSync of the heap's used prefix (the floor: what any inspect reads)
 *   text          inspectFile (the used prefix mapped: only pages it reads come in) + formatReport
 *   json          inspectFile + reportJson + JSON.stringify
 *   html          inspectFile + renderInspectPage + writing the page
 *   heap.inspect  the report of the live heap (no file read)
 *   cli text      `bun src/cli.ts inspect FILE` in a child process (Bun's start included)
 *   cli html      the same with --html OUT
 * Targets: text under 0.5 s and the HTML page under 2 s for 1 GiB holding 512 MiB.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../src/heap.ts";
import { inspectFile } from "../../src/inspect/file.ts";
import { renderInspectPage } from "../../src/inspect/html/inspect-page.ts";
import { reportJson } from "../../src/inspect/json.ts";
import { formatReport } from "../../src/inspect/text.ts";
import { median, printHeader, table } from "./common.ts";
import { fillMixed } from "./mixed-heap.ts";

const RUNS = Number(process.argv[2] ?? 5);
const MiB = 2 ** 20;
const REGION = Number(process.argv[3] ?? 1024) * MiB;
const LIVE = Number(process.argv[4] ?? 512) * MiB;
const dir = mkdtempSync(join(process.env.PRIVHEAP_BENCH_DIR ?? tmpdir(), "privheap-bench-"));
const path = join(dir, "big.phheap");
printHeader(`privheap inspect of a ${REGION / MiB} MiB heap file holding ${LIVE / MiB} MiB, medians of ${RUNS} runs, files in ${dir}`);

/** Fill the heap file at `path` with about LIVE bytes of live allocations. */
function build(): { live: number; count: number; used: number } {
  using heap = PrivateHeap.open(path, { size: REGION, create: true, reserve: false });
  const { small, large } = fillMixed(heap, LIVE);
  heap.setRoot("small", small[0]!);
  heap.setRoot("large", large[0]!);
  const s = heap.stats();
  heap.flush();
  return { live: s.liveBytes, count: s.liveCount, used: s.usedBytes };
}

function time(fn: () => void): number {
  fn(); // warm-up
  const xs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    fn();
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

try {
  const t0 = performance.now();
  const made = build();
  console.log(
    `built in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${made.count} live allocations, ${(made.live / MiB).toFixed(0)} MiB live, ${(made.used / MiB).toFixed(0)} MiB used, file ${(statSync(path).size / MiB).toFixed(0)} MiB\n`,
  );
  const buf = new Uint8Array(made.used);
  const read = time(() => {
    const fd = openSync(path, "r");
    try {
      for (let at = 0; at < buf.length; ) at += readSync(fd, buf, at, Math.min(16 * MiB, buf.length - at), at);
    } finally {
      closeSync(fd);
    }
  });
  let textBytes = 0;
  const text = time(() => {
    textBytes = formatReport(inspectFile(path).report, path).length;
  });
  const json = time(() => {
    JSON.stringify(reportJson(inspectFile(path).report));
  });
  let pageBytes = 0;
  const out = join(dir, "big.html");
  const html = time(() => {
    const page = renderInspectPage(inspectFile(path).report, path);
    writeFileSync(out, page);
    pageBytes = page.length;
  });
  let api = 0;
  {
    using heap = PrivateHeap.open(path);
    api = time(() => void heap.inspect());
  }
  const cliRun = (...extra: string[]) => () => {
    const r = Bun.spawnSync([process.execPath, join(import.meta.dir, "..", "..", "src", "cli.ts"), "inspect", path, ...extra], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`privheap inspect failed: ${r.stderr.toString()}`);
  };
  const cli = time(cliRun());
  const cliHtml = time(cliRun("--html", out));
  const rows = [
    ["read", `${read.toFixed(0)} ms`, "1.00x", `${(made.used / MiB).toFixed(0)} MiB`],
    ["text", `${text.toFixed(0)} ms`, `${(text / read).toFixed(2)}x`, `${textBytes} chars; target < 500 ms`],
    ["json", `${json.toFixed(0)} ms`, `${(json / read).toFixed(2)}x`, ""],
    ["html", `${html.toFixed(0)} ms`, `${(html / read).toFixed(2)}x`, `${(pageBytes / MiB).toFixed(2)} MiB page; target < 2000 ms`],
    ["heap.inspect", `${api.toFixed(0)} ms`, `${(api / read).toFixed(2)}x`, "live heap, no read"],
    ["cli text", `${cli.toFixed(0)} ms`, `${(cli / read).toFixed(2)}x`, "child process, Bun start included"],
    ["cli html", `${cliHtml.toFixed(0)} ms`, `${(cliHtml / read).toFixed(2)}x`, "child process, page written"],
  ];
  table(["row", "median", "vs read", "notes"], rows);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
