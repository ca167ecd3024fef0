/**
 * heap-map.ts - the heap map of a page: a canvas with one cell per page of
 * the region, coloured by kind and size class, and a hover panel naming the
 * page, its run and the run's live allocations.
 *
 * Data (DATA.map, see heapMapData): pages, kinds and classes (one byte per
 * page), the runs (start, pages, kind, class, live count), each small run's
 * live regions as bits (runBits from bit runBitBase[r], one bit per region
 * of the run), the class sizes and the colours of palette.ts. The cells are
 * drawn as one ImageData (a pixel per page) scaled up, so 262,144 pages draw
 * in a few milliseconds; no DOM node per page.
 *
 * Hooks for browser tests, on `window.privheapInspect`:
 *   cellCount             pages drawn (one cell each)
 *   columns, cellSize     the grid: page p is at column p % columns, row
 *                         floor(p / columns), cellSize canvas pixels square
 *   cellAt(x, y)          the cell at canvas pixel (x, y) (the canvas may
 *                         be drawn scaled to fit the window): { page, kind
 *                         (a name), class (index or null), run (index or
 *                         -1) }, or null outside the cells
 *   clientPointOf(page)   the centre of the page's cell in client (CSS)
 *                         coordinates, where a mouse move hovers it
 *   colourOf(page)        the page's colour, "#rrggbb"
 *   allocationsOf(page)   the live allocations of the page's run, as
 *                         [offset, size] pairs
 *   hover(page)           show the page in the hover panel, as the mouse does
 * Elements: the canvas is #privheap-map, the hover panel #privheap-hover
 * (its text names the page, the run and the allocations' offsets in hex).
 */
import type { HeapReport } from "../report.ts";
import { NO_CLASS, PAGE_KIND_NAMES, PageKind, sizeClasses } from "../page-map.ts";
import { classColours, KIND_COLOURS } from "./palette.ts";
import type { Embeddable } from "./page.ts";

/** Each small run's live regions as bits, and where each run's bits start. */
function liveBits(report: HeapReport): { bits: Uint8Array; base: Uint32Array } {
  const { runStart, runKind, runClass, pageRun } = report.map;
  const table = sizeClasses();
  const base = new Uint32Array(runStart.length + 1);
  let total = 0;
  for (let r = 0; r < runStart.length; r++) {
    base[r] = total;
    if (runKind[r] === PageKind.small) total += table[runClass[r]!]!.regionsPerRun;
  }
  base[runStart.length] = total;
  const bits = new Uint8Array((total + 7) >>> 3);
  const list = report.allocations;
  for (let i = 0; i < list.length; i += 2) {
    const off = list[i]!;
    const r = pageRun[Math.floor(off / 4096)]!;
    if (r < 0 || runKind[r] !== PageKind.small) continue;
    const bit = base[r]! + (off - runStart[r]! * 4096) / table[runClass[r]!]!.size;
    bits[bit >>> 3]! |= 1 << (bit & 7);
  }
  return { bits, base };
}

/** What the map's script reads as DATA.map. */
export function heapMapData(report: HeapReport): { readonly [key: string]: Embeddable } {
  const m = report.map;
  const { bits, base } = liveBits(report);
  const table = sizeClasses();
  return {
    pages: m.pages,
    pageSize: report.sizes.pageSize,
    kinds: m.kinds,
    classes: m.classes,
    runStart: m.runStart,
    runPages: m.runPages,
    runKind: m.runKind,
    runClass: m.runClass,
    runLive: m.runLive,
    runBits: bits,
    runBitBase: base,
    classSizes: Uint32Array.from(table, (c) => c.size),
    kindNames: PAGE_KIND_NAMES,
    kindColours: KIND_COLOURS,
    classColours: classColours(table.length),
    small: PageKind.small,
    large: PageKind.large,
    noClass: NO_CLASS,
  };
}

export const HEAP_MAP_STYLE = `
#privheap-map-wrap { display: flex; gap: 16px; align-items: flex-start; }
#privheap-map { image-rendering: pixelated; border: 1px solid var(--line); cursor: crosshair; max-width: calc(100vw - 440px); min-width: 256px; }
#privheap-hover { position: sticky; top: 8px; width: 360px; flex: none; min-height: 120px; max-height: calc(100vh - 16px); overflow: auto; white-space: pre-wrap; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 8px 0; }
.legend span.sw { display: inline-block; width: 12px; height: 12px; border: 1px solid var(--line); vertical-align: -2px; margin-right: 4px; }
`;

/** The map's script: draws DATA.map on #privheap-map and sets the hooks. */
export const HEAP_MAP_SCRIPT = `
(function () {
  const M = DATA.map;
  const pages = M.pages;
  const pageRun = new Int32Array(pages).fill(-1);
  for (let r = 0; r < M.runStart.length; r++) {
    const end = M.runStart[r] + M.runPages[r];
    for (let p = M.runStart[r]; p < end; p++) pageRun[p] = r;
  }
  const cellSize = Math.max(1, Math.min(16, Math.floor(Math.sqrt(1048576 / Math.max(1, pages)))));
  const columns = Math.max(1, Math.floor(1024 / cellSize));
  const rows = Math.ceil(pages / columns);
  const canvas = document.getElementById("privheap-map");
  canvas.width = columns * cellSize;
  canvas.height = rows * cellSize;

  function colourOf(page) {
    const k = M.kinds[page];
    return k === M.small ? M.classColours[M.classes[page]] : M.kindColours[k];
  }
  function word(hex) { // RGBA bytes of #rrggbb as one little-endian word
    const v = parseInt(hex.slice(1), 16);
    return (0xff000000 | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff)) >>> 0;
  }
  const kindWords = M.kindColours.map(word);
  const classWords = M.classColours.map(word);
  const image = new ImageData(columns, rows);
  const px = new Uint32Array(image.data.buffer);
  for (let p = 0; p < pages; p++) {
    const k = M.kinds[p];
    px[p] = k === M.small ? classWords[M.classes[p]] : kindWords[k];
  }
  const pixels = document.createElement("canvas");
  pixels.width = columns;
  pixels.height = rows;
  pixels.getContext("2d").putImageData(image, 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(pixels, 0, 0, columns * cellSize, rows * cellSize);

  function cellAt(x, y) {
    const col = Math.floor(x / cellSize), row = Math.floor(y / cellSize);
    if (col < 0 || col >= columns || row < 0 || row >= rows) return null;
    const page = row * columns + col;
    if (page >= pages) return null;
    const k = M.kinds[page];
    return { page: page, kind: M.kindNames[k], class: k === M.small ? M.classes[page] : null, run: pageRun[page] };
  }
  function allocationsOfRun(r) {
    if (r < 0) return [];
    const start = M.runStart[r] * M.pageSize;
    if (M.runKind[r] === M.large) return [[start, M.runPages[r] * M.pageSize]];
    if (M.runKind[r] !== M.small) return [];
    const size = M.classSizes[M.runClass[r]];
    const out = [];
    for (let b = M.runBitBase[r], i = 0; b < M.runBitBase[r + 1]; b++, i++)
      if (M.runBits[b >>> 3] & (1 << (b & 7))) out.push([start + i * size, size]);
    return out;
  }
  function allocationsOf(page) { return allocationsOfRun(page >= 0 && page < pages ? pageRun[page] : -1); }

  const panel = document.getElementById("privheap-hover");
  const hex = (n) => "0x" + n.toString(16);
  const LISTED = 64;
  function describe(page) {
    const c = cellAt((page % columns) * cellSize, Math.floor(page / columns) * cellSize);
    if (c === null) return "";
    const lines = ["page " + page + " at " + hex(page * M.pageSize) + ": " + c.kind + (c.class !== null ? " (class " + c.class + ", " + M.classSizes[c.class] + " B)" : "")];
    if (c.run >= 0) {
      const r = c.run, first = M.runStart[r], n = M.runPages[r];
      lines.push("run " + r + ": pages " + first + (n > 1 ? "-" + (first + n - 1) : "") + " (" + n + " page" + (n > 1 ? "s" : "") + ")" + (M.runKind[r] === M.small || M.runKind[r] === M.large ? ", " + M.runLive[r] + " live" : ""));
      const list = allocationsOfRun(r);
      for (let i = 0; i < list.length && i < LISTED; i++) lines.push("  " + hex(list[i][0]) + "  " + list[i][1] + " B");
      if (list.length > LISTED) lines.push("  ... and " + (list.length - LISTED) + " more");
    } else {
      lines.push(c.kind === "touched" ? "above the high-water mark, used before" : "above the high-water mark, never used");
    }
    return lines.join("\\n");
  }
  function hover(page) { panel.textContent = describe(page); }
  canvas.addEventListener("mousemove", (e) => {
    const rect = canvas.getBoundingClientRect();
    const c = cellAt((e.clientX - rect.left) * canvas.width / rect.width, (e.clientY - rect.top) * canvas.height / rect.height);
    if (c !== null) hover(c.page);
  });
  function clientPointOf(page) {
    const rect = canvas.getBoundingClientRect();
    const scale = rect.width / canvas.width;
    return { x: rect.left + ((page % columns) + 0.5) * cellSize * scale, y: rect.top + (Math.floor(page / columns) + 0.5) * cellSize * scale };
  }
  window.privheapInspect = { cellCount: pages, columns: columns, cellSize: cellSize, cellAt: cellAt, clientPointOf: clientPointOf, colourOf: colourOf, allocationsOf: allocationsOf, hover: hover };
})();
`;
