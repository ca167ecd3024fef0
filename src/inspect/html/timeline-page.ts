/**
 * timeline-page.ts - the HTML page of `privheap replay timeline`: one
 * canvas chart per series over the ticks (bytes changed, used bytes, live
 * allocations, input bytes), keyframes as faint vertical lines, the first
 * divergent tick as a red one with a link to its diff page. Hovering a
 * chart shows every series at that tick.
 *
 * Without a re-run only the keyframes say what the heap held: the heap
 * charts then join the keyframes' values, and "bytes changed" is what
 * changed since the keyframe before.
 *
 * Test hooks (window.privheapTimeline): ticks, the charts' names, the
 * viewport point of a tick in a chart, the readout's text, the divergent
 * tick and the drawn colour at a point.
 */
import type { ReplayTimeline } from "../timeline.ts";
import { escapeHtml, renderPage } from "./page.ts";

/** Colours of the page's marks, as `#rrggbb`. */
export const TIMELINE_COLOURS = {
  series: "#1971c2",
  keyframe: "#adb5bd",
  divergent: "#e03131",
} as const;

/** Chart area sizes in CSS pixels. */
const CHART_WIDTH = 1100;
const CHART_HEIGHT = 110;

/** One chart: values at ticks (`x` null: at ticks 0..n-1). */
interface ChartSpec {
  name: string;
  title: string;
  kind: "bars" | "line";
  x: Float64Array | null;
  y: Float64Array;
}

/** Options of {@link timelinePage}. */
export interface TimelinePageOptions {
  /** The replay file's name, for the title. */
  file: string;
  /** The diff page of the divergence, relative to this page (a link). */
  diffHref?: string;
}

function chartsOf(tl: ReplayTimeline): ChartSpec[] {
  const kx = new Float64Array(tl.keyframes.map((k) => k.after));
  const fromKeyframes = (pick: (k: ReplayTimeline["keyframes"][number]) => number) => new Float64Array(tl.keyframes.map(pick));
  const run = tl.run;
  if (run !== undefined) {
    const s = run.series;
    return [
      { name: "changed", title: "bytes changed by the tick", kind: "bars", x: null, y: s.changedBytes },
      { name: "used", title: "used bytes", kind: "line", x: null, y: s.usedBytes },
      { name: "live", title: "live allocations", kind: "line", x: null, y: s.liveCount },
      { name: "input", title: "input bytes", kind: "bars", x: null, y: tl.inputBytes },
    ];
  }
  return [
    { name: "changed", title: "bytes changed since the keyframe before", kind: "bars", x: kx, y: fromKeyframes((k) => k.changedBytes) },
    { name: "used", title: "used bytes (at keyframes)", kind: "line", x: kx, y: fromKeyframes((k) => k.usedBytes) },
    { name: "live", title: "live allocations (at keyframes)", kind: "line", x: kx, y: fromKeyframes((k) => k.liveCount) },
    { name: "input", title: "input bytes", kind: "bars", x: null, y: tl.inputBytes },
  ];
}

const STYLE = `
.chart { position: relative; margin: 4px 0 12px; }
.chart canvas { display: block; border: 1px solid var(--line); background: var(--panel); }
.chart h3 { font-size: 13px; font-weight: 600; margin: 0 0 2px; }
#readout { position: sticky; top: 0; z-index: 2; min-height: 1.6em; }
#diverged { color: ${TIMELINE_COLOURS.divergent}; font-weight: 600; }
.axis { display: flex; justify-content: space-between; margin-top: -8px; }
`;

// The page's script: DATA.charts, DATA.ticks, DATA.keyframes, DATA.divergent.
const SCRIPT = `
const W = DATA.width, H = DATA.height, PAD = 6;
const lo = -1, hi = Math.max(0, DATA.ticks - 1);
const xOf = (t) => PAD + ((t - lo) / Math.max(1, hi - lo)) * (W - 2 * PAD);
const tickOf = (x) => Math.round(lo + ((x - PAD) / (W - 2 * PAD)) * (hi - lo));
const readout = document.getElementById("readout");
const keyframeSet = new Set(Array.from(DATA.keyframes));
const canvases = [];
function valueAt(chart, t) {
  if (chart.x === null) return t >= 0 && t < chart.y.length ? chart.y[t] : undefined;
  for (let i = 0; i < chart.x.length; i++) if (chart.x[i] === t) return chart.y[i];
  return undefined;
}
function draw(chart, canvas) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = DATA.colours.keyframe;
  for (const k of DATA.keyframes) ctx.fillRect(Math.round(xOf(k)), 0, 1, H);
  let max = 0;
  for (let i = 0; i < chart.y.length; i++) if (chart.y[i] > max) max = chart.y[i];
  const yOf = (v) => H - PAD - (max === 0 ? 0 : (v / max) * (H - 2 * PAD));
  const n = chart.y.length;
  const xAt = (i) => xOf(chart.x === null ? i : chart.x[i]);
  ctx.fillStyle = ctx.strokeStyle = DATA.colours.series;
  if (chart.kind === "bars") {
    const bw = Math.max(1, Math.floor((W - 2 * PAD) / Math.max(1, DATA.ticks + 1)) - 1);
    for (let i = 0; i < n; i++) {
      if (chart.y[i] === 0) continue;
      const y = yOf(chart.y[i]);
      ctx.fillRect(Math.round(xAt(i) - bw / 2), y, bw, H - PAD - y);
    }
  } else {
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    for (let i = 0; i < n; i++) (i === 0 ? ctx.moveTo : ctx.lineTo).call(ctx, xAt(i), yOf(chart.y[i]));
    ctx.stroke();
    if (chart.x !== null) for (let i = 0; i < n; i++) ctx.fillRect(xAt(i) - 2, yOf(chart.y[i]) - 2, 4, 4);
  }
  if (DATA.divergent >= 0) {
    ctx.fillStyle = DATA.colours.divergent;
    ctx.fillRect(Math.round(xOf(DATA.divergent)) - 1, 0, 2, H);
  }
  ctx.fillStyle = DATA.colours.text;
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillText("max " + max.toLocaleString("en"), PAD + 2, 12);
}
function describe(t) {
  const parts = ["tick " + t + (keyframeSet.has(t) ? " (keyframe)" : "") + (t === DATA.divergent ? " (diverged)" : "")];
  for (const chart of DATA.charts) {
    const v = valueAt(chart, t);
    if (v !== undefined) parts.push(chart.title + ": " + v.toLocaleString("en"));
  }
  return parts.join("; ");
}
DATA.charts.forEach((chart, i) => {
  const canvas = document.getElementById("chart-" + chart.name);
  canvas.width = W;
  canvas.height = H;
  draw(chart, canvas);
  canvases.push(canvas);
  canvas.addEventListener("mousemove", (e) => {
    const r = canvas.getBoundingClientRect();
    const t = Math.min(hi, Math.max(lo, tickOf(e.clientX - r.left - canvas.clientLeft)));
    readout.textContent = describe(t);
  });
});
window.privheapTimeline = {
  ticks: DATA.ticks,
  charts: DATA.charts.map((c) => c.name),
  divergent: DATA.divergent,
  /** The viewport point of tick t in chart i, half way up. */
  pointOf(i, t) {
    const r = canvases[i].getBoundingClientRect();
    return { x: r.left + canvases[i].clientLeft + xOf(t), y: r.top + canvases[i].clientTop + H / 2 };
  },
  readout() { return readout.textContent; },
  /** The colour drawn at (x, y) of chart i's canvas, as #rrggbb. */
  drawnColour(i, x, y) {
    const d = canvases[i].getContext("2d").getImageData(x, y, 1, 1).data;
    return "#" + [d[0], d[1], d[2]].map((v) => v.toString(16).padStart(2, "0")).join("");
  },
  /** The canvas x of tick t. */
  xOf,
};
`;

/**
 * The HTML page of timeline `tl`.
 *
 * @example
 * ```ts
 * import { PrivateHeap, Replay } from "privheap";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { replayTimeline } from "../timeline.ts";
 * import { timelinePage } from "./timeline-page.ts";
 * const path = join(mkdtempSync(join(tmpdir(), "tlp-")), "run.phreplay");
 * {
 *   using heap = PrivateHeap.create({ size: 1 << 20 });
 *   using rec = Replay.record(path, heap, { keyframeEvery: 4 });
 *   for (let t = 0; t < 10; t++) rec.tick(new Uint8Array([t]));
 * }
 * using replay = await Replay.open(path);
 * await Bun.write(join(tmpdir(), "timeline.html"), timelinePage(replayTimeline(replay), { file: path }));
 * ```
 */
export function timelinePage(tl: ReplayTimeline, options: TimelinePageOptions): string {
  const charts = chartsOf(tl);
  const v = tl.run?.verify;
  let status = "Not re-run: the heap charts show the keyframes only (give --step MODULE to measure every tick and verify).";
  if (v !== undefined)
    status = v.ok ? `Re-run and verified: all ${tl.ticks} ticks matched.` : `Re-run with the step: ticks 0 to ${v.firstDivergentTick - 1} matched the recording.`;
  const diverged =
    v !== undefined && !v.ok
      ? `<p id="diverged">Tick ${v.firstDivergentTick} diverged: its heap checksum differs from the recording (the charts stop there).${
          options.diffHref === undefined ? "" : ` <a id="diff-link" href="${escapeHtml(options.diffHref)}">What changed (diff after tick ${v.diffTick})</a>`
        }</p>`
      : "";
  const body = `
<h1>Replay timeline</h1>
<p class="muted">${escapeHtml(options.file)}: ${tl.ticks} ticks, ${tl.keyframes.length} keyframes (every ${tl.keyframeEvery} ticks), region ${tl.regionSize} bytes</p>
<p id="status">${escapeHtml(status)}</p>
${diverged}
<div id="readout" class="panel mono">hover a chart</div>
${charts.map((c) => `<div class="chart"><h3>${escapeHtml(c.title)}</h3><canvas id="chart-${c.name}" style="width:${CHART_WIDTH}px;height:${CHART_HEIGHT}px"></canvas></div>`).join("\n")}
<div class="axis mono muted" style="width:${CHART_WIDTH}px"><span>before tick 0</span><span>tick ${Math.max(0, tl.ticks - 1)}</span></div>
<p class="muted">grey lines: keyframes${v !== undefined && !v.ok ? "; red line: the first divergent tick" : ""}</p>
`;
  return renderPage({
    title: `privheap replay timeline: ${options.file}`,
    style: STYLE,
    body,
    data: {
      ticks: tl.ticks,
      width: CHART_WIDTH,
      height: CHART_HEIGHT,
      keyframes: new Float64Array(tl.keyframes.map((k) => k.after)),
      divergent: v !== undefined && !v.ok ? v.firstDivergentTick : -1,
      charts: charts.map((c) => ({ name: c.name, title: c.title, kind: c.kind, x: c.x, y: c.y })),
      colours: { ...TIMELINE_COLOURS, text: "#6a6f75" },
    },
    script: SCRIPT,
  });
}
