// csrc/privheap.h marks the results a C caller must not drop (PH_NODISCARD):
// a compiler that knows the attribute refuses, under -Werror, a call whose
// result is ignored. Frees, resets and unmaps stay unmarked (their failures
// change nothing, as with free()). The sizes (PH_ALLOC_SIZE) are checked by
// the C test allocation_prototypes_tell_the_compiler_the_size.
// Builds small files with the system C compiler.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const CSRC = resolve(import.meta.dir, "..", "..", "..", "csrc");
const hasCc = spawnSync("cc", ["--version"]).status === 0;
if (!hasCc) console.log("header-attributes.test.ts: skipped: no cc on PATH");

/** Compiles `statement` inside a function with a heap `h` and a pointer `p`; the compiler's verdict. */
function compile(statement: string): { ok: boolean; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), "privheap-attrs-"));
  try {
    const src = `#include "privheap.h"\nvoid f(ph_heap_t *h, void *p, ph_stats_t *st) {\n  (void)h; (void)p; (void)st;\n  ${statement};\n}\n`;
    writeFileSync(join(dir, "t.c"), src);
    const r = spawnSync("cc", ["-std=c11", "-Wall", "-Werror", "-I", CSRC, "-c", join(dir, "t.c"), "-o", join(dir, "t.o")], {
      encoding: "utf8",
    });
    return { ok: r.status === 0, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const MUST_USE = [
  "ph_heap_init(p, 1 << 20, 0)",
  "ph_heap_attach(p, 1 << 20)",
  "ph_heap_malloc(h, 8)",
  "ph_heap_calloc(h, 1, 8)",
  "ph_heap_realloc(h, p, 8)",
  "ph_heap_aligned_alloc(h, 64, 8)",
  "ph_off_malloc(h, 8)",
  "ph_heap_set_root(h, \"a\", 8)",
  "ph_heap_check(h, 1 << 20)",
  "ph_heap_stats(h, st)",
  "ph_heap_restore(p, 1 << 20, h, 4096, 0)",
  "ph_region_map_anon(1 << 20)",
  "ph_heap_lock(h)",
  "ph_malloc(8)",
  "ph_scratch_alloc(h, 8)",
  "ph_scratch_refill(h, 8)",
  "ph_config_private_heap(p, 1 << 20)",
];
const MAY_DROP = ["ph_heap_free(h, p)", "ph_off_free(h, 8)", "ph_heap_reset(h)", "ph_region_unmap(p, 4096)", "ph_heap_unlock(h)"];

describe.skipIf(!hasCc)("privheap.h result attributes", () => {
  test.each(MUST_USE)("dropping the result of %s does not compile", (call) => {
    const r = compile(call);
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain("unused");
    expect(compile(`if (${call}) {}`).ok).toBe(true); /* used, it compiles */
  });

  test.each(MAY_DROP)("%s may be called for its effect alone", (call) => {
    expect(compile(call)).toEqual({ ok: true, stderr: "" });
  });
});
