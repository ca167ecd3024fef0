/**
 * roots.ts - the named roots of a heap report: where each points, the
 * allocation holding it, and, where layouts are registered, the structs
 * it reaches through pointer fields (LayoutMap's walk over the image).
 */
import { allocationHolding } from "../introspect.ts";
import { pathOf, placeStructs, type LayoutMap, type Placement } from "../snapshot/layout-map.ts";

/** Structs reached from a root, as the layout walk placed them. */
export interface ReachedStructs {
  /** The path of the struct or array (`world`, `world.player->inv`, `entities`). */
  path: string;
  /** The layout, by its fields: \`{ x, y, hp }\` (up to four names). */
  layout: string;
  /** Offset of the first struct. */
  offset: number;
  /** Structs in the array, or 1 for a single struct. */
  count: number;
  /** Bytes they span. */
  bytes: number;
}

/** What a named root points at. */
export interface RootReport {
  name: string;
  offset: number;
  /** The live allocation holding `offset`, or null (a dangling root). */
  allocation: { offset: number; size: number } | null;
  /** With layouts: the structs reached from this root, in walk order, up to {@link REACHED_LISTED}. */
  reached?: ReachedStructs[];
  /** With layouts: every struct reached (array elements counted one by one), and their bytes. */
  reachedCount?: number;
  reachedBytes?: number;
  /** With layouts: false when the walk skipped something (an offset out of the image, a bound). */
  complete?: boolean;
}

/** Placements listed per root; the counts cover all of them. */
export const REACHED_LISTED = 50;

/** A layout by its first field names. */
function layoutText(layout: Placement["layout"]): string {
  const names = layout.fields.map((f) => f.name);
  return `{ ${names.slice(0, 4).join(", ")}${names.length > 4 ? ", ..." : ""} }`;
}

/** The root placement a placement descends from. */
function rootOf(p: Placement): Placement {
  let q = p;
  while (q.parent !== null) q = q.parent;
  return q;
}

/**
 * The roots of an image (name -> offset), sorted by name, each with its
 * allocation, and with `layouts`, what it reaches in `image`.
 */
export function rootsReport(roots: Record<string, number>, allocs: Float64Array, image: Uint8Array, layouts?: LayoutMap): RootReport[] {
  const out: RootReport[] = Object.keys(roots)
    .sort()
    .map((name) => {
      const offset = roots[name]!;
      const i = allocationHolding(allocs, offset);
      return { name, offset, allocation: i < 0 ? null : { offset: allocs[i]!, size: allocs[i + 1]! } };
    });
  if (layouts === undefined) return out;
  const placed = placeStructs(layouts, image, roots, (off) => {
    const i = allocationHolding(allocs, off);
    return i < 0 ? -1 : allocs[i]! + allocs[i + 1]!;
  });
  const byRoot = new Map<string, RootReport>();
  for (const r of out) {
    r.reached = [];
    r.reachedCount = 0;
    r.reachedBytes = 0;
    r.complete = placed.complete;
    byRoot.set(r.name, r);
  }
  for (const p of placed.placements) {
    const r = byRoot.get(rootOf(p).hop);
    if (r === undefined) continue;
    const count = p.count ?? 1;
    r.reachedCount! += count;
    r.reachedBytes! += count * p.layout.size;
    if (r.reached!.length < REACHED_LISTED) r.reached!.push({ path: pathOf(p), layout: layoutText(p.layout), offset: p.start, count, bytes: count * p.layout.size });
  }
  return out;
}
