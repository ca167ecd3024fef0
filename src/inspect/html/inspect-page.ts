/**
 * inspect-page.ts - a heap report as one self-contained HTML page: the
 * summary, the heap map with its legend and hover panel (heap-map.ts), a
 * histogram of live bytes per size class and of large allocations, the
 * roots and what they reach, and the largest allocations.
 */
import type { HeapReport } from "../report.ts";
import { PAGE_KIND_NAMES, PageKind, sizeClasses } from "../page-map.ts";
import { formatBytes } from "../text.ts";
import { HEAP_MAP_SCRIPT, HEAP_MAP_STYLE, heapMapData } from "./heap-map.ts";
import { escapeHtml, renderPage } from "./page.ts";
import { classColours, KIND_COLOURS } from "./palette.ts";

const STYLE = `
.bar { height: 12px; background: #4c8bf5; min-width: 1px; }
td.barcell { width: 360px; }
.cols { display: flex; gap: 40px; flex-wrap: wrap; }
`;

const hex = (n: number) => `0x${n.toString(16)}`;
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function legend(report: HeapReport): string {
  const kinds = [PageKind.header, PageKind.leaf, PageKind.free, PageKind.large, PageKind.scratch, PageKind.touched, PageKind.untouched];
  const items = kinds.map((k) => `<span><span class="sw" style="background:${KIND_COLOURS[k]}"></span>${PAGE_KIND_NAMES[k]}</span>`);
  const colours = classColours(sizeClasses().length);
  for (const c of report.classes)
    if (c.runs > 0) items.push(`<span><span class="sw" style="background:${colours[c.index]}"></span>small ${c.size} B</span>`);
  return `<div class="legend" id="privheap-legend">${items.join("")}</div>`;
}

function histogram(report: HeapReport): string {
  const rows: { label: string; count: number; bytes: number; colour: string }[] = [];
  const colours = classColours(sizeClasses().length);
  for (const c of report.classes) if (c.liveCount > 0) rows.push({ label: `${c.size} B`, count: c.liveCount, bytes: c.liveBytes, colour: colours[c.index]! });
  for (const b of report.large)
    rows.push({ label: b.minBytes === b.maxBytes ? formatBytes(b.minBytes) : `${formatBytes(b.minBytes)} - ${formatBytes(b.maxBytes)}`, count: b.count, bytes: b.bytes, colour: KIND_COLOURS[PageKind.large]! });
  if (rows.length === 0) return `<p class="muted">No live allocations.</p>`;
  const max = Math.max(...rows.map((r) => r.bytes));
  const body = rows
    .map((r) => `<tr><td>${escapeHtml(r.label)}</td><td class="num">${r.count}</td><td class="num">${formatBytes(r.bytes)}</td><td class="barcell"><div class="bar" style="width:${((r.bytes / max) * 100).toFixed(2)}%;background:${r.colour}"></div></td></tr>`)
    .join("");
  return `<table id="privheap-histogram"><tr><th>size</th><th class="num">live</th><th class="num">bytes</th><th></th></tr>${body}</table>`;
}

function rootsTable(report: HeapReport): string {
  if (report.roots.length === 0) return `<p class="muted">No named roots.</p>`;
  const rows = report.roots.map((r) => {
    const a = r.allocation;
    let reached = "";
    if (r.reached !== undefined) {
      const list = r.reached.map((p) => `<div class="mono">${escapeHtml(p.path)}: ${escapeHtml(p.layout)}${p.count > 1 ? ` &times; ${p.count}` : ""} at ${hex(p.offset)}</div>`).join("");
      reached = `<div>${r.reachedCount} structs, ${formatBytes(r.reachedBytes!)}${r.complete ? "" : " (the walk skipped something)"}</div>${list}`;
    }
    return `<tr><td class="mono">${escapeHtml(r.name)}</td><td class="mono">${hex(r.offset)}</td><td>${a === null ? "in no live allocation" : `${hex(a.offset)}, ${formatBytes(a.size)}`}</td><td>${reached}</td></tr>`;
  });
  return `<table id="privheap-roots"><tr><th>root</th><th>offset</th><th>allocation</th><th>reaches</th></tr>${rows.join("")}</table>`;
}

function largestTable(report: HeapReport): string {
  if (report.largest.length === 0) return `<p class="muted">No live allocations.</p>`;
  const rows = report.largest.map((a) => `<tr><td class="mono">${hex(a.offset)}</td><td class="num">${formatBytes(a.size)}</td><td class="num">${a.size}</td></tr>`);
  return `<table id="privheap-largest"><tr><th>offset</th><th class="num">size</th><th class="num">bytes</th></tr>${rows.join("")}</table>`;
}

function summary(report: HeapReport): string {
  const s = report.sizes;
  const f = report.fragmentation;
  const l = report.live;
  const row = (k: string, v: string) => `<tr><th>${k}</th><td>${v}</td></tr>`;
  return `<table id="privheap-summary">${[
    row("region", `${formatBytes(s.regionBytes)} (${report.map.pages} pages of ${s.pageSize} B)`),
    row("used", `${formatBytes(s.usedBytes)} (high-water mark); touched ${formatBytes(s.touchedBytes)}; metadata ${formatBytes(s.metaBytes)}`),
    row("live", `${l.count} allocations, ${formatBytes(l.bytes)} (small ${l.smallCount}, ${formatBytes(l.smallBytes)}; large ${l.largeCount}, ${formatBytes(l.largeBytes)})`),
    row("free", `${formatBytes(f.freeBytes)} in ${f.freeRuns} run${f.freeRuns === 1 ? "" : "s"} below the high-water mark (${pct(f.freeShare)} of used); largest ${formatBytes(f.largestFreeRunBytes)}`),
    row("small runs", `${formatBytes(f.smallRunBytes)}, ${pct(f.smallOccupancy)} occupied`),
  ].join("")}</table>`;
}

/**
 * The page of a report. `title` names what was inspected (a file name).
 * The heap map's hooks for tests are listed in heap-map.ts.
 *
 * @example
 * ```ts
 * import { PrivateHeap, renderInspectPage } from "privheap";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * heap.malloc(100);
 * await Bun.write("heap.html", renderInspectPage(heap.inspect(), "heap"));
 * ```
 */
export function renderInspectPage(report: HeapReport, title: string): string {
  const body = `
<h1>privheap inspect: ${escapeHtml(title)}</h1>
${summary(report)}
<h2>Heap map</h2>
<p class="muted">One cell per ${report.sizes.pageSize}-byte page, in address order, left to right. Hover a cell for its run and allocations.</p>
${legend(report)}
<div id="privheap-map-wrap"><canvas id="privheap-map"></canvas><div id="privheap-hover" class="panel mono">Hover the map.</div></div>
<div class="cols">
<div><h2>Live bytes by size</h2>${histogram(report)}</div>
<div><h2>Largest allocations</h2>${largestTable(report)}</div>
</div>
<h2>Roots</h2>
${rootsTable(report)}
`;
  return renderPage({ title: `privheap inspect: ${title}`, body, style: HEAP_MAP_STYLE + STYLE, data: { map: heapMapData(report) }, script: HEAP_MAP_SCRIPT });
}
