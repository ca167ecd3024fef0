/**
 * Reads csrc/privheap.h for the drift tests: the PH_API prototypes and the
 * #define constants, parsed from the text (comments removed first).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const HEADER_PATH = join(import.meta.dir, "..", "..", "csrc", "privheap.h");

/** One parameter or return type, normalised: `const` dropped, one space before each `*`. */
export interface Prototype {
  name: string;
  returns: string;
  args: string[];
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, " ");
}

function normaliseType(t: string): string {
  return t
    .replace(/\bconst\b/g, " ")
    .replace(/\*/g, " * ")
    .replace(/\s+/g, " ")
    .trim()
    .replace(/ \* /g, " *")
    .replace(/ \*$/, " *")
    .replace(/\* \*/g, "**");
}

/** Split "const ph_heap_t *h" into its type, dropping the parameter name. */
function paramType(p: string): string {
  const t = p.trim();
  const m = /^(.*?[\s*])([A-Za-z_]\w*)$/.exec(t);
  // A lone type ("void", "int") has no name to drop.
  if (m === null || /^(const\s+)?(void|int|unsigned|double|size_t|uint64_t|char)$/.test(t)) return normaliseType(t);
  return normaliseType(m[1]!);
}

/** Every `PH_API <type> <name>(<params>);` of the header. */
export function headerPrototypes(src = readFileSync(HEADER_PATH, "utf8")): Prototype[] {
  const text = stripComments(src).replace(/#define[^\n]*/g, " ");
  const out: Prototype[] = [];
  const re = /PH_API\s+([^;()]*?)\b(ph_\w+)\s*\(([^)]*)\)\s*;/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const params = m[3]!.trim();
    out.push({
      name: m[2]!,
      returns: normaliseType(m[1]!),
      args: params === "void" || params === "" ? [] : params.split(",").map(paramType),
    });
  }
  return out;
}

/** Every `#define NAME value` whose value is a number, `(-n)`, or `nu`. */
export function headerConstants(src = readFileSync(HEADER_PATH, "utf8")): Record<string, number> {
  const out: Record<string, number> = {};
  const re = /^#define\s+(PH_\w+)\s+\(?\s*(-?\s*\d+)u?\s*\)?/gm;
  for (let m = re.exec(src); m !== null; m = re.exec(src)) out[m[1]!] = Number(m[2]!.replace(/\s/g, ""));
  return out;
}
