// The FFI table (src/ffi/symbols.ts) must say what csrc/privheap.h says:
// same function names, and for each argument and return a Bun FFI type that
// has the C type's size and class.
import { describe, expect, test } from "bun:test";
import { NATIVE_CONSTANTS, STATS_FIELDS, seedSymbols, symbols } from "../../../src/ffi/symbols.ts";
import { headerConstants, headerPrototypes } from "../../support/header.ts";

/** C type (normalised by headerPrototypes) -> FFI types that pass it correctly. */
const ARG_TYPES: Record<string, string[]> = {
  int: ["i32"],
  unsigned: ["u32"],
  double: ["f64"],
  size_t: ["usize", "u64"],
  uint64_t: ["u64", "usize"],
  "void *": ["ptr"],
  "ph_heap_t *": ["ptr"],
  "ph_tracker_t *": ["ptr"],
  "char *": ["ptr", "cstring", "buffer"],
  "size_t *": ["ptr"],
  "double *": ["ptr", "buffer"],
  "uint32_t *": ["ptr", "buffer"],
  "uint8_t *": ["ptr", "buffer"],
  "uint16_t *": ["ptr", "buffer"],
  "uint64_t *": ["ptr", "buffer"],
  uint32_t: ["u32"],
  "int *": ["ptr", "buffer"],
  "ph_stats_t *": ["ptr", "buffer"],
  "void **": ["ptr"],
  ph_walk_fn: ["function", "ptr"],
};
const RETURN_TYPES: Record<string, string[]> = {
  int: ["i32"],
  unsigned: ["u32"],
  double: ["f64"],
  void: ["void"],
  size_t: ["usize", "u64", "u64_fast"],
  uint64_t: ["u64", "u64_fast"],
  int64_t: ["i64", "i64_fast"],
  "void *": ["ptr"],
  "ph_heap_t *": ["ptr"],
  "ph_tracker_t *": ["ptr"],
  "char *": ["cstring", "ptr"],
};

const table = { ...symbols, ...seedSymbols } as unknown as Record<string, { args: readonly string[]; returns: string }>;
const protos = headerPrototypes();

describe("FFI symbol table matches csrc/privheap.h", () => {
  test("the header parser finds the prototypes (at least the core ones)", () => {
    const names = protos.map((p) => p.name);
    expect(names).toContain("ph_off_malloc");
    expect(names).toContain("ph_heap_walk");
    expect(names).toContain("ph_default_heap");
    expect(protos.length).toBeGreaterThan(40);
  });

  test("every header function is in the table and every table entry is in the header", () => {
    const header = protos.map((p) => p.name).sort();
    expect(Object.keys(table).sort()).toEqual(header);
  });

  for (const p of protos) {
    test(`${p.name}: argument and return types`, () => {
      const entry = table[p.name];
      expect(entry).toBeDefined();
      expect(entry!.args.length).toBe(p.args.length);
      p.args.forEach((c, i) => {
        const allowed = ARG_TYPES[c];
        if (allowed === undefined) throw new Error(`${p.name}: argument ${i} has C type "${c}", unknown to this test: add it to ARG_TYPES`);
        expect({ arg: i, c, ffi: entry!.args[i] }).toEqual({ arg: i, c, ffi: allowed.includes(entry!.args[i]!) ? entry!.args[i]! : `one of ${allowed.join("|")}` });
      });
      const allowed = RETURN_TYPES[p.returns];
      if (allowed === undefined) throw new Error(`${p.name}: return type "${p.returns}" unknown to this test: add it to RETURN_TYPES`);
      expect(allowed).toContain(entry!.returns);
    });
  }

  test("constants the TypeScript layer relies on have the header's values", () => {
    const defs = headerConstants();
    for (const [name, value] of Object.entries(NATIVE_CONSTANTS)) expect({ name, value: defs[name] }).toEqual({ name, value });
  });

  test("ph_stats_t has the fields STATS_FIELDS lists, in order, all uint64_t", async () => {
    const src = await Bun.file(new URL("../../../csrc/privheap.h", import.meta.url)).text();
    const body = /typedef struct ph_stats \{([\s\S]*?)\} ph_stats_t;/.exec(src)?.[1];
    expect(body).toBeDefined();
    const fields = [...body!.matchAll(/(\w+)\s+(\w+);/g)].map((m) => ({ type: m[1], name: m[2] }));
    const camel = (s: string) => s.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
    expect(fields.map((f) => camel(f.name!))).toEqual([...STATS_FIELDS]);
    expect(new Set(fields.map((f) => f.type))).toEqual(new Set(["uint64_t"]));
  });
});
