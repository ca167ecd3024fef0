/**
 * heap-diff-page.ts - the HTML page of `privheap diff`: a strip of every
 * page of the heap (one canvas cell per page, filled pixel by pixel, so a
 * 1 GiB heap's 262,144 pages draw at once) with the changed pages
 * highlighted, darker the more bytes changed; hovering a cell shows the
 * page's offsets, its changed bytes and the allocations and fields that
 * changed in it. Below: the summary, the allocations added, freed and
 * changed, the roots and the changed fields.
 *
 * Test hooks (window.privheapDiff): pages, cols, cell (pixels), the centre
 * of a page's cell in page coordinates, the colour a page should have, and
 * the hover box's text.
 */
import { NATIVE_CONSTANTS } from "../../ffi/symbols.ts";
import type { HeapDiff } from "../heap-diff.ts";
import type { Snapshot } from "../../snapshot/snapshot.ts";
import { escapeHtml, renderPage } from "./page.ts";

/** Cell colours, as `#rrggbb`. */
export const DIFF_COLOURS = {
  /** A page whose bytes are the same in both states. */
  same: "#c9ced4",
  /** A page with a changed byte (a few: light; a whole page: full). */
  changedFew: "#f5b971",
  changedMany: "#d9480f",
} as const;

/** Pages with at least this many changed bytes take the full colour. */
export const MANY_CHANGED = 256;

/** Entries of each table on the page (the counts above them stay exact). */
const LISTED = 2000;

/** What the page names the two states. */
export interface DiffPageLabels {
  before: Snapshot;
  after: Snapshot;
  beforeLabel: string;
  afterLabel: string;
  /** A line under the title (the timeline's divergence says which tick). */
  note?: string;
}

function pairs(spans: { offset: number; size: number }[]): Float64Array {
  const out = new Float64Array(2 * Math.min(spans.length, LISTED));
  for (let i = 0; i < out.length / 2; i++) {
    out[2 * i] = spans[i]!.offset;
    out[2 * i + 1] = spans[i]!.size;
  }
  return out;
}

const STYLE = `
#map-wrap { position: relative; display: inline-block; }
#map { display: block; image-rendering: pixelated; border: 1px solid var(--line); }
#tip { position: absolute; pointer-events: none; display: none; max-width: 440px; white-space: pre-wrap; z-index: 2; }
.legend span { display: inline-block; width: 12px; height: 12px; vertical-align: middle; margin: 0 4px 0 12px; border-radius: 2px; }
.cols { display: flex; flex-wrap: wrap; gap: 24px; }
`;

// The page's script: DATA holds the page facts and the lists.
const SCRIPT = `
const canvas = document.getElementById("map");
const tip = document.getElementById("tip");
const pages = DATA.pages;
const width = Math.min(1200, document.documentElement.clientWidth - 64);
const cell = pages <= 2048 ? 12 : pages <= 16384 ? 6 : pages <= 65536 ? 3 : 2;
const cols = Math.max(1, Math.min(pages, Math.floor(width / cell)));
const rows = Math.ceil(pages / cols);
canvas.width = cols * cell;
canvas.height = rows * cell;
const hex = (c) => [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)];
const C = DATA.colours;
const same = hex(C.same), few = hex(C.changedFew), many = hex(C.changedMany);
function colourOf(p) {
  const n = DATA.changedPerPage[p];
  if (n === 0) return C.same;
  return n >= DATA.manyChanged ? C.changedMany : C.changedFew;
}
const ctx = canvas.getContext("2d");
const img = ctx.createImageData(canvas.width, canvas.height);
const px = img.data;
for (let p = 0; p < pages; p++) {
  const n = DATA.changedPerPage[p];
  const rgb = n === 0 ? same : n >= DATA.manyChanged ? many : few;
  const x0 = (p % cols) * cell, y0 = Math.floor(p / cols) * cell;
  // A one-pixel gap between cells once they are large enough to see it.
  const inner = cell >= 6 ? cell - 1 : cell;
  for (let y = y0; y < y0 + inner; y++) {
    let i = (y * canvas.width + x0) * 4;
    for (let x = 0; x < inner; x++, i += 4) { px[i] = rgb[0]; px[i + 1] = rgb[1]; px[i + 2] = rgb[2]; px[i + 3] = 255; }
  }
}
ctx.putImageData(img, 0, 0);

// Lists of (offset, size) pairs, searched by page.
function spansIn(list, from, to) {
  const out = [];
  for (let i = 0; i < list.length; i += 2) if (list[i] < to && list[i] + list[i + 1] > from) out.push(list[i] + " (" + list[i + 1] + " bytes)");
  return out;
}
function fieldsIn(from, to) {
  return DATA.fields.filter((f) => f.offset < to && f.offset + f.length > from).map((f) => f.text);
}
function describe(p) {
  const from = p * DATA.pageSize, to = from + DATA.pageSize;
  const lines = ["page " + p + " (bytes " + from + " to " + (to - 1) + ")", DATA.changedPerPage[p] + " bytes changed"];
  const groups = [["added", DATA.added], ["freed", DATA.freed], ["changed", DATA.changed]];
  for (const [name, list] of groups) {
    const s = spansIn(list, from, to);
    if (s.length > 0) lines.push(name + ": " + s.slice(0, 6).join(", ") + (s.length > 6 ? ", ..." : ""));
  }
  const f = fieldsIn(from, to);
  if (f.length > 0) lines.push("fields:\\n  " + f.slice(0, 8).join("\\n  ") + (f.length > 8 ? "\\n  ..." : ""));
  return lines.join("\\n");
}
canvas.addEventListener("mousemove", (e) => {
  const r = canvas.getBoundingClientRect();
  const col = Math.floor((e.clientX - r.left - canvas.clientLeft) / cell);
  const row = Math.floor((e.clientY - r.top - canvas.clientTop) / cell);
  const p = row * cols + col;
  if (col < 0 || col >= cols || row < 0 || p >= pages) { tip.style.display = "none"; return; }
  tip.textContent = describe(p);
  tip.style.display = "block";
  tip.style.left = (e.clientX - r.left + 14) + "px";
  tip.style.top = (e.clientY - r.top + 14) + "px";
});
canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });

window.privheapDiff = {
  pages, cols, cell,
  /** The centre of page p's cell, in viewport coordinates. */
  cellCenter(p) {
    const r = canvas.getBoundingClientRect();
    return { x: r.left + canvas.clientLeft + (p % cols) * cell + cell / 2, y: r.top + canvas.clientTop + Math.floor(p / cols) * cell + cell / 2 };
  },
  colourOf,
  /** The canvas's colour at the centre of page p's cell, as #rrggbb. */
  drawnColour(p) {
    const d = ctx.getImageData((p % cols) * cell + (cell >> 1) - (cell >= 6 ? 1 : 0), Math.floor(p / cols) * cell + (cell >> 1) - (cell >= 6 ? 1 : 0), 1, 1).data;
    return "#" + [d[0], d[1], d[2]].map((v) => v.toString(16).padStart(2, "0")).join("");
  },
  tipText() { return tip.style.display === "none" ? "" : tip.textContent; },
};
window.privheapDrawnAt = performance.now();
`;

function table(title: string, spans: { offset: number; size: number }[]): string {
  const rows = spans
    .slice(0, LISTED)
    .map((s) => `<tr><td class="num mono">${s.offset}</td><td class="num">${s.size}</td></tr>`)
    .join("");
  const more = spans.length > LISTED ? `<p class="muted">... and ${spans.length - LISTED} more</p>` : "";
  return `<div><h2>${escapeHtml(title)} (${spans.length})</h2><table><tr><th class="num">offset</th><th class="num">bytes</th></tr>${rows}</table>${more}</div>`;
}

/**
 * The HTML page of `d`, the diff of `labels.before` and `labels.after`.
 *
 * @example
 * ```ts
 * import { PrivateHeap } from "privheap";
 * import { heapDiff } from "../heap-diff.ts";
 * import { heapDiffPage } from "./heap-diff-page.ts";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const before = heap.snapshot();
 * heap.malloc(100);
 * const after = heap.snapshot();
 * const html = heapDiffPage(heapDiff(before, after), { before, after, beforeLabel: "before", afterLabel: "after" });
 * console.log(html.startsWith("<!doctype html>")); // true
 * ```
 */
export function heapDiffPage(d: HeapDiff, labels: DiffPageLabels): string {
  const fields = (d.diff.paths?.fields ?? []).slice(0, LISTED).map((f) => ({
    offset: f.offset,
    length: f.length,
    text: f.type === null ? `${f.path} (${f.length} bytes of padding)` : `${f.path} (${f.type}): ${String(f.before)} -> ${String(f.after)}`,
  }));
  const s = d.stats;
  const summary = d.diff.equal
    ? "The heaps are the same."
    : `${d.diff.changedBytes} bytes changed in ${d.changedPages.length} of ${d.pages} pages; ${d.added.length} allocations added, ${d.freed.length} freed, ${d.changed.length} changed.`;
  const fieldRows = fields.map((f) => `<tr><td class="mono">${escapeHtml(f.text)}</td><td class="num mono">${f.offset}</td></tr>`).join("");
  const body = `
<h1>Heap diff</h1>
${labels.note === undefined ? "" : `<p>${escapeHtml(labels.note)}</p>`}
<p class="muted">before: ${escapeHtml(labels.beforeLabel)} (${s.before.usedBytes} bytes used, ${s.before.liveCount} live)<br>after: ${escapeHtml(labels.afterLabel)} (${s.after.usedBytes} bytes used, ${s.after.liveCount} live)</p>
<p id="summary">${escapeHtml(summary)}</p>
<h2>Pages</h2>
<p class="legend muted">one cell per ${d.pages > 0 ? "page" : "page (none)"}:<span style="background:${DIFF_COLOURS.same}"></span>same<span style="background:${DIFF_COLOURS.changedFew}"></span>under ${MANY_CHANGED} bytes changed<span style="background:${DIFF_COLOURS.changedMany}"></span>${MANY_CHANGED} or more</p>
<div id="map-wrap"><canvas id="map"></canvas><div id="tip" class="panel mono"></div></div>
<p class="muted">roots changed: ${escapeHtml(d.diff.roots.join(", ") || "none")}</p>
<div class="cols">
${table("added", d.added)}
${table("freed", d.freed)}
${table("changed", d.changed)}
</div>
${d.diff.paths === undefined ? "" : `<h2>Changed fields (${d.diff.paths.fields.length}${d.diff.paths.truncated ? "+" : ""})</h2><table><tr><th>field</th><th class="num">offset</th></tr>${fieldRows}</table>`}
`;
  return renderPage({
    title: `privheap diff: ${labels.beforeLabel} -> ${labels.afterLabel}`,
    style: STYLE,
    body,
    data: {
      pages: d.pages,
      pageSize: NATIVE_CONSTANTS.PH_PAGE_SIZE,
      changedPerPage: d.changedPerPage,
      added: pairs(d.added),
      freed: pairs(d.freed),
      changed: pairs(d.changed),
      fields,
      colours: DIFF_COLOURS,
      manyChanged: MANY_CHANGED,
    },
    script: SCRIPT,
  });
}
