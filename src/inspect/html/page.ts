/**
 * page.ts - one self-contained HTML file: inline style, inline script and
 * the data the script draws from, embedded compactly. The page loads
 * nothing: a Content-Security-Policy allows no fetch, image, font or frame
 * from anywhere, so it renders the same from a file, an attachment or an
 * archive, and a test can check it makes no request.
 *
 * Data. `data` is a JSON object whose values may be typed arrays: each is
 * stored as `{"$typed": "Uint8Array", "base64": "..."}` (little-endian
 * bytes; 1 MiB of pages is 1.4 MB of text, not 262,144 JSON numbers), and
 * the page's script sees them decoded again as typed arrays in the global
 * `DATA`. The JSON sits in `<script type="application/json"
 * id="privheap-data">` with every `<` escaped, so no value can end the
 * element.
 *
 * Script. The caller's `script` runs after `DATA` is set, at the end of the
 * body (the elements of `body` exist). It must not assume a network or a
 * second file. Pages built here set `window.privheapReady = true` once the
 * caller's script has run without throwing, so a browser test can wait for
 * it, and `window.privheapReadyAt` to the milliseconds from the start of
 * navigation to then (performance.now(): how long the page took to become
 * usable); a page that wants to expose hooks for tests puts them on `window`
 * before that (see heap-map.ts for the heap map's).
 */
import { base64Of } from "../../platform/bytes.ts";

/** A value the page's script receives: JSON, or a typed array (base64 inside). */
export type Embeddable =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | readonly Embeddable[]
  | { readonly [key: string]: Embeddable };

/** What one page is made of. */
export interface PageSpec {
  /** The document title (text, escaped here). */
  title: string;
  /** Markup of the body, built by the caller (escape text with escapeHtml). */
  body: string;
  /** CSS added after the shell's base style. */
  style?: string;
  /** The data the script reads as the global `DATA`. */
  data?: { readonly [key: string]: Embeddable };
  /** Script run once `DATA` is set and the body exists. */
  script?: string;
}

const TYPED_NAMES = new Map<unknown, string>([
  [Uint8Array, "Uint8Array"],
  [Int8Array, "Int8Array"],
  [Uint16Array, "Uint16Array"],
  [Int16Array, "Int16Array"],
  [Uint32Array, "Uint32Array"],
  [Int32Array, "Int32Array"],
  [Float32Array, "Float32Array"],
  [Float64Array, "Float64Array"],
]);

/** Text made safe for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;"));
}

function replaceTyped(_key: string, value: unknown): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const name = TYPED_NAMES.get(value.constructor);
    if (name === undefined) throw new TypeError(`cannot embed a ${value.constructor.name}`);
    return { $typed: name, base64: base64Of(value) };
  }
  return value;
}

/** The data as the JSON text the page embeds (typed arrays as base64, every `<` escaped). */
export function embedData(data: { readonly [key: string]: Embeddable }): string {
  return JSON.stringify(data, replaceTyped).replace(/</g, "\\u003c");
}

// Decodes the embedded JSON, turning {$typed, base64} objects back into typed arrays.
const DECODE_SCRIPT = `
const DATA = JSON.parse(document.getElementById("privheap-data").textContent, (key, value) => {
  if (value === null || typeof value !== "object" || typeof value.$typed !== "string") return value;
  const text = atob(value.base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  const Typed = globalThis[value.$typed];
  return new Typed(bytes.buffer, 0, bytes.length / Typed.BYTES_PER_ELEMENT);
});`;

const BASE_STYLE = `
:root { color-scheme: light dark; --fg: #1d1f21; --bg: #fafafa; --muted: #6a6f75; --line: #d5d8dc; --panel: #ffffff; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e6e6; --bg: #16181a; --muted: #9aa0a6; --line: #33373b; --panel: #1f2225; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
.muted { color: var(--muted); }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 2px 12px 2px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
td.num, th.num { text-align: right; }
code, .mono { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
`;

/** Nothing from outside: inline style and script only, images from data: URLs. */
const CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

/**
 * The HTML of one self-contained page.
 *
 * @example
 * ```ts
 * import { renderPage } from "./page.ts";
 * const html = renderPage({
 *   title: "pages",
 *   body: `<p id="n"></p>`,
 *   data: { kinds: new Uint8Array([1, 2, 3]) },
 *   script: `document.getElementById("n").textContent = String(DATA.kinds.length);`,
 * });
 * await Bun.write("pages.html", html);
 * ```
 */
export function renderPage(spec: PageSpec): string {
  const data = embedData(spec.data ?? {});
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(spec.title)}</title>
<style>${BASE_STYLE}${spec.style ?? ""}</style>
</head>
<body>
${spec.body}
<script type="application/json" id="privheap-data">${data}</script>
<script>
"use strict";
${DECODE_SCRIPT}
${(spec.script ?? "").replace(/<\/script/gi, "<\\/script")}
window.privheapReadyAt = performance.now();
window.privheapReady = true;
</script>
</body>
</html>
`;
}
