/**
 * palette.ts - the colours of the heap map: one per page kind (free pages
 * pale red: space the heap holds and does not use), and for small runs
 * one per size class (a ramp from blue, the smallest classes, to green,
 * the largest, lightness alternating so neighbouring classes stay apart). The page's script gets these tables as data, so a test can
 * compute the colour a page must have without a browser.
 */
import { PageKind } from "../page-map.ts";

/** Colour of each page kind (index: kind), as #rrggbb. Small pages take their class's colour instead. */
export const KIND_COLOURS: readonly string[] = (() => {
  const c: string[] = [];
  c[PageKind.untouched] = "#eceef1";
  c[PageKind.touched] = "#c9ced6";
  c[PageKind.header] = "#2b2f36";
  c[PageKind.leaf] = "#59606b";
  c[PageKind.free] = "#f6b8b0";
  c[PageKind.small] = "#4c8bf5";
  c[PageKind.large] = "#9b4dca";
  c[PageKind.scratch] = "#f0a020";
  return c;
})();

function hex2(v: number): string {
  return Math.round(Math.max(0, Math.min(255, v))).toString(16).padStart(2, "0");
}

/** #rrggbb of HSL (h in degrees, s and l in 0..1). */
function hsl(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    return 255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)));
  };
  return `#${hex2(f(0))}${hex2(f(8))}${hex2(f(4))}`;
}

/** Colour of each size class's small runs (index: class), for `count` classes. */
export function classColours(count: number): string[] {
  const out: string[] = [];
  for (let c = 0; c < count; c++) {
    const t = count > 1 ? c / (count - 1) : 0;
    out.push(hsl(225 - 120 * t, 0.7, c % 2 === 0 ? 0.52 : 0.4)); // alternate lightness: neighbours differ
  }
  return out;
}

/** The colour of a page of `kind` and size class `cls` (ignored unless small). */
export function colourOf(kind: number, cls: number, classes: readonly string[]): string {
  return kind === PageKind.small ? (classes[cls] ?? KIND_COLOURS[kind]!) : KIND_COLOURS[kind] ?? "#ff00ff";
}
