/**
 * json.ts - a heap report as plain JSON for scripts (`privheap inspect
 * --json`): every number of the report, and the page map as counts of
 * pages per kind (the per-page arrays are the HTML page's; a script that
 * wants them calls heap.inspect()).
 */
import { PAGE_KIND_NAMES } from "./page-map.ts";
import type { HeapReport } from "./report.ts";

/** The JSON form of a report. */
export interface ReportJson {
  sizes: HeapReport["sizes"];
  live: HeapReport["live"];
  /** The small classes in use (at least one run). */
  classes: HeapReport["classes"];
  large: HeapReport["large"];
  fragmentation: HeapReport["fragmentation"];
  roots: HeapReport["roots"];
  largest: HeapReport["largest"];
  /** Pages of each kind (by name), and runs below the high-water mark. */
  pages: { total: number; runs: number; byKind: Record<string, number> };
}

/**
 * The report as JSON-ready data.
 *
 * @example
 * ```ts
 * import { PrivateHeap, reportJson } from "privheap";
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * heap.malloc(100);
 * console.log(JSON.stringify(reportJson(heap.inspect()).live));
 * ```
 */
export function reportJson(r: HeapReport): ReportJson {
  const counts = new Array<number>(PAGE_KIND_NAMES.length).fill(0);
  for (const k of r.map.kinds) counts[k]!++;
  const byKind: Record<string, number> = {};
  PAGE_KIND_NAMES.forEach((name, k) => (byKind[name] = counts[k]!));
  return {
    sizes: r.sizes,
    live: r.live,
    classes: r.classes.filter((c) => c.runs > 0),
    large: r.large,
    fragmentation: r.fragmentation,
    roots: r.roots,
    largest: r.largest,
    pages: { total: r.map.pages, runs: r.map.runStart.length, byKind },
  };
}
