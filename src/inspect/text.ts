/**
 * text.ts - a heap report as text for a terminal or a log: sizes, live
 * allocations per size class, large allocations, fragmentation, roots and
 * the largest allocations.
 */
import type { HeapReport } from "./report.ts";

/** Bytes for people: 512 B, 12.0 KiB, 1.50 MiB, 1.00 GiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function table(rows: string[][], rightAligned: Set<number>): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => "  " + r.map((cell, c) => (rightAligned.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd()).join("\n");
}

/**
 * The report as text. `title` heads it (a file name, "heap").
 *
 * @example
 * ```ts
 * import { PrivateHeap, formatReport } from "privheap";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * heap.malloc(100);
 * console.log(formatReport(heap.inspect(), "heap"));
 * ```
 */
export function formatReport(r: HeapReport, title: string): string {
  const s = r.sizes;
  const out: string[] = [];
  out.push(`${title}`);
  out.push(`  region    ${formatBytes(s.regionBytes)} (${r.map.pages} pages of ${s.pageSize} B)`);
  out.push(`  used      ${formatBytes(s.usedBytes)} (high-water mark), touched ${formatBytes(s.touchedBytes)}, metadata ${formatBytes(s.metaBytes)}`);
  out.push(`  live      ${r.live.count} allocations, ${formatBytes(r.live.bytes)} (small: ${r.live.smallCount}, ${formatBytes(r.live.smallBytes)}; large: ${r.live.largeCount}, ${formatBytes(r.live.largeBytes)})`);
  const f = r.fragmentation;
  out.push("");
  out.push("fragmentation");
  out.push(`  free below the high-water mark  ${formatBytes(f.freeBytes)} in ${f.freeRuns} run${f.freeRuns === 1 ? "" : "s"} (${percent(f.freeShare)} of used), largest run ${formatBytes(f.largestFreeRunBytes)}`);
  out.push(`  small runs                      ${formatBytes(f.smallRunBytes)}, ${percent(f.smallOccupancy)} occupied by live allocations`);
  if (f.scratchBytes > 0) out.push(`  frame scratch                   ${formatBytes(f.scratchBytes)}`);
  const used = r.classes.filter((c) => c.runs > 0);
  out.push("");
  out.push("small size classes");
  if (used.length === 0) out.push("  (none in use)");
  else {
    const rows = [["class", "size", "live", "live bytes", "runs", "occupancy"]];
    for (const c of used) rows.push([String(c.index), `${c.size} B`, String(c.liveCount), formatBytes(c.liveBytes), String(c.runs), percent(c.regions > 0 ? c.liveCount / c.regions : 0)]);
    out.push(table(rows, new Set([0, 1, 2, 3, 4, 5])));
  }
  out.push("");
  out.push("large allocations");
  if (r.large.length === 0) out.push("  (none)");
  else {
    const rows = [["size", "count", "bytes"]];
    for (const b of r.large) rows.push([b.minBytes === b.maxBytes ? formatBytes(b.minBytes) : `${formatBytes(b.minBytes)} - ${formatBytes(b.maxBytes)}`, String(b.count), formatBytes(b.bytes)]);
    out.push(table(rows, new Set([1, 2])));
  }
  out.push("");
  out.push("roots");
  if (r.roots.length === 0) out.push("  (none)");
  for (const root of r.roots) {
    const a = root.allocation;
    out.push(`  ${root.name} -> ${hex(root.offset)}${a === null ? " (in no live allocation)" : `, in the allocation at ${hex(a.offset)} (${formatBytes(a.size)})`}`);
    if (root.reached !== undefined) {
      out.push(`    reaches ${root.reachedCount} structs, ${formatBytes(root.reachedBytes!)}${root.complete ? "" : " (the walk skipped something)"}`);
      for (const p of root.reached.slice(0, 8)) out.push(`      ${p.path}: ${p.layout}${p.count > 1 ? ` x ${p.count}` : ""} at ${hex(p.offset)}`);
      if (root.reached.length > 8) out.push(`      ...`);
    }
  }
  out.push("");
  out.push("largest allocations");
  if (r.largest.length === 0) out.push("  (none)");
  else {
    const rows = [["offset", "size"]];
    for (const a of r.largest) rows.push([hex(a.offset), formatBytes(a.size)]);
    out.push(table(rows, new Set([1])));
  }
  return out.join("\n") + "\n";
}
