/**
 * heap-diff-page.ts - the HTML page of `privheap diff`: the heap map of the
 * second state (heap-map.ts: one cell per page, coloured by kind and size
 * class) under an overlay that frames each changed page, in a stronger
 * colour the more bytes changed; hovering a cell shows the map's panel (the
 * page's run and allocations) and the page's changes: its changed bytes and
 * the allocations and fields that changed in it. Below: the summary, the
 * allocations added, freed and changed, the roots and the changed fields.
 *
 * Test hooks: the heap map's (window.privheapInspect), and
 * window.privheapDiff: changedBytesOf(page), overlayColourOf(page) (the
 * colour the overlay must draw, or null), drawnOverlay(page) (what it drew
 * at the cell's top-left pixel, "#rrggbb" or null where clear), and
 * changesText() (the changes panel).
 */
import { NATIVE_CONSTANTS } from "../../ffi/symbols.ts";
import type { HeapDiff } from "../heap-diff.ts";
import type { Snapshot } from "../../snapshot/snapshot.ts";
import { HEAP_MAP_SCRIPT, HEAP_MAP_STYLE, heapMapData } from "./heap-map.ts";
import { escapeHtml, renderPage } from "./page.ts";

/** Overlay colours of changed pages, as `#rrggbb`. */
export const DIFF_COLOURS = {
  /** Fewer than MANY_CHANGED bytes changed. */
  changedFew: "#ffb000",
  /** MANY_CHANGED or more. */
  changedMany: "#ff2d00",
} as const;

/** Pages with at least this many changed bytes take the strong colour. */
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
#map-stack { position: relative; display: inline-block; line-height: 0; }
#changed-overlay { position: absolute; left: 0; top: 0; pointer-events: none; image-rendering: pixelated; }
#privheap-changes { width: 360px; min-height: 60px; white-space: pre-wrap; margin-top: 8px; }
.legend-diff span { display: inline-block; width: 12px; height: 12px; vertical-align: middle; margin: 0 4px 0 12px; border: 2px solid; }
.cols { display: flex; flex-wrap: wrap; gap: 24px; }
`;

// Runs after the heap map's script: frames the changed pages on the overlay.
const SCRIPT = `
(function () {
  const map = document.getElementById("privheap-map");
  const overlay = document.getElementById("changed-overlay");
  const panel = document.getElementById("privheap-changes");
  const H = window.privheapInspect;
  const D = DATA.diff;
  const cell = H.cellSize, cols = H.columns;
  overlay.width = map.width;
  overlay.height = map.height;
  overlay.style.width = map.clientWidth + "px";
  overlay.style.height = map.clientHeight + "px";
  overlay.style.left = map.clientLeft + "px";
  overlay.style.top = map.clientTop + "px";
  const ctx = overlay.getContext("2d");
  const changedBytesOf = (p) => (p >= 0 && p < D.changedPerPage.length ? D.changedPerPage[p] : 0);
  function overlayColourOf(p) {
    const n = changedBytesOf(p);
    if (n === 0) return null;
    return n >= D.manyChanged ? D.colours.changedMany : D.colours.changedFew;
  }
  // A frame inside the cell where it is large enough to leave the map's colour visible; else the whole cell.
  const frame = cell >= 6 ? 2 : 0;
  for (let p = 0; p < D.changedPerPage.length; p++) {
    const colour = overlayColourOf(p);
    if (colour === null) continue;
    const x = (p % cols) * cell, y = Math.floor(p / cols) * cell;
    ctx.fillStyle = colour;
    if (frame === 0) { ctx.fillRect(x, y, cell, cell); continue; }
    ctx.fillRect(x, y, cell, frame);
    ctx.fillRect(x, y + cell - frame, cell, frame);
    ctx.fillRect(x, y, frame, cell);
    ctx.fillRect(x + cell - frame, y, frame, cell);
  }

  function spansIn(list, from, to) {
    const out = [];
    for (let i = 0; i < list.length; i += 2) if (list[i] < to && list[i] + list[i + 1] > from) out.push("0x" + list[i].toString(16) + " (" + list[i + 1] + " B)");
    return out;
  }
  function describe(p) {
    const from = p * D.pageSize, to = from + D.pageSize;
    const n = changedBytesOf(p);
    const lines = ["page " + p + ": " + (n === 0 ? "unchanged" : n + " bytes changed")];
    for (const [name, list] of [["added", D.added], ["freed", D.freed], ["changed", D.changed]]) {
      const s = spansIn(list, from, to);
      if (s.length > 0) lines.push(name + ": " + s.slice(0, 6).join(", ") + (s.length > 6 ? ", ..." : ""));
    }
    const f = D.fields.filter((x) => x.offset < to && x.offset + x.length > from).map((x) => x.text);
    if (f.length > 0) lines.push("fields:\\n  " + f.slice(0, 8).join("\\n  ") + (f.length > 8 ? "\\n  ..." : ""));
    return lines.join("\\n");
  }
  map.addEventListener("mousemove", (e) => {
    const r = map.getBoundingClientRect();
    const c = H.cellAt((e.clientX - r.left) * map.width / r.width, (e.clientY - r.top) * map.height / r.height);
    if (c !== null) panel.textContent = describe(c.page);
  });
  window.privheapDiff = {
    changedBytesOf,
    overlayColourOf,
    drawnOverlay(p) {
      const d = ctx.getImageData((p % cols) * cell, Math.floor(p / cols) * cell, 1, 1).data;
      if (d[3] === 0) return null;
      return "#" + [d[0], d[1], d[2]].map((v) => v.toString(16).padStart(2, "0")).join("");
    },
    changesText() { return panel.textContent; },
  };
})();
`;

function table(title: string, spans: { offset: number; size: number }[]): string {
  const rows = spans
    .slice(0, LISTED)
    .map((s) => `<tr><td class="num mono">0x${s.offset.toString(16)}</td><td class="num">${s.size}</td></tr>`)
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
    : `${d.diff.changedBytes} bytes changed in ${d.changedPages.length} of ${d.pages} pages; allocations: ${d.added.length} added, ${d.freed.length} freed, ${d.changed.length} changed.`;
  const fieldRows = fields.map((f) => `<tr><td class="mono">${escapeHtml(f.text)}</td><td class="num mono">${f.offset}</td></tr>`).join("");
  const body = `
<h1>Heap diff</h1>
${labels.note === undefined ? "" : `<p>${escapeHtml(labels.note)}</p>`}
<p class="muted">before: ${escapeHtml(labels.beforeLabel)} (${s.before.usedBytes} bytes used, ${s.before.liveCount} live)<br>after: ${escapeHtml(labels.afterLabel)} (${s.after.usedBytes} bytes used, ${s.after.liveCount} live)</p>
<p id="summary">${escapeHtml(summary)}</p>
<h2>Heap map after, changed pages framed</h2>
<p class="legend-diff muted">one cell per page, coloured by kind and size class (as privheap inspect draws it); frames:<span style="border-color:${DIFF_COLOURS.changedFew}"></span>under ${MANY_CHANGED} bytes changed<span style="border-color:${DIFF_COLOURS.changedMany}"></span>${MANY_CHANGED} or more</p>
<div id="privheap-map-wrap"><div id="map-stack"><canvas id="privheap-map"></canvas><canvas id="changed-overlay"></canvas></div><div><div id="privheap-hover" class="panel mono">Hover the map.</div><div id="privheap-changes" class="panel mono"></div></div></div>
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
    style: HEAP_MAP_STYLE + STYLE,
    body,
    data: {
      map: heapMapData(labels.after.inspect()),
      diff: {
        pageSize: NATIVE_CONSTANTS.PH_PAGE_SIZE,
        changedPerPage: d.changedPerPage,
        added: pairs(d.added),
        freed: pairs(d.freed),
        changed: pairs(d.changed),
        fields,
        colours: DIFF_COLOURS,
        manyChanged: MANY_CHANGED,
      },
    },
    script: HEAP_MAP_SCRIPT + SCRIPT,
  });
}
