import { describe, expect, test } from "bun:test";
import { HeapError, codeFromNative, nativeFromCode } from "../../src/errors.ts";
import { loadNative } from "../../src/ffi/loader.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SRC, runScript } from "../support/bun.ts";
import { opOf } from "../support/expect.ts";
import { headerConstants } from "../support/header.ts";

const defs = headerConstants();
/** PH_E* names and values as the header defines them (PH_ECODE_MIN excluded). */
const headerCodes = Object.entries(defs).filter(([n]) => /^PH_E[A-Z]+$/.test(n) && n !== "PH_ECODE_MIN");

describe("HeapError codes", () => {
  test("the header defines the nine codes the issue names", () => {
    expect(headerCodes.map(([n]) => n.slice(3)).sort()).toEqual(
      ["EBADPTR", "EBUSY", "ECORRUPT", "EDOUBLEFREE", "EINVAL", "EIO", "ENOMEM", "ENOSPC", "ESIZE", "EVERSION"].sort(),
    );
  });

  test("every PH_E* value maps to the code named after it, and back", () => {
    for (const [name, value] of headerCodes) {
      expect({ value, code: codeFromNative(value) }).toEqual({ value, code: name.slice(3) as never });
      expect(nativeFromCode(name.slice(3) as never)).toBe(value);
    }
  });

  test("values below PH_ECODE_MIN, zero and positives are EUNKNOWN", () => {
    const min = defs.PH_ECODE_MIN!;
    expect(min).toBeLessThan(0);
    for (const v of [min - 1, -1000, 0, 1, 5]) expect(codeFromNative(v)).toBe("EUNKNOWN");
  });

  test("TypeScript-only codes have no C value", () => {
    for (const c of ["ECLOSED", "ESTALE", "ENOLIB", "ENOTSUP", "EUNKNOWN"] as const) expect(nativeFromCode(c)).toBe(0);
  });

  test("ph_strerror knows every code the header defines and no other", () => {
    const { symbols } = loadNative();
    const unknown = String(symbols.ph_strerror(defs.PH_ECODE_MIN! - 1));
    expect(unknown).toBe("unknown error");
    for (const [, value] of headerCodes) expect(String(symbols.ph_strerror(value))).not.toBe(unknown);
  });

  test("each PH_E* code's message carries the C core's ph_strerror text, and no TypeScript copy of it", () => {
    const { symbols } = loadNative();
    for (const [name, value] of headerCodes) {
      const text = String(symbols.ph_strerror(value));
      expect(HeapError.fromNative(value, "Op.call").message).toBe(`Op.call: ${name.slice(3)}: ${text}`);
      expect(new HeapError(codeFromNative(value), "Op.call", "detail").message).toBe(`Op.call: ${name.slice(3)}: ${text}: detail`);
    }
    const source = readFileSync(join(import.meta.dir, "..", "..", "src", "errors.ts"), "utf8");
    for (const [, value] of headerCodes) expect(source).not.toContain(String(symbols.ph_strerror(value)));
  });

  test("without the native library a HeapError still builds, naming the code and the detail", async () => {
    const r = await runScript(
      `import { HeapError } from ${JSON.stringify(join(SRC, "errors.ts"))};
       console.log(JSON.stringify([new HeapError("EINVAL", "Op.call", "detail").message, new HeapError("ECORRUPT", "Op.call").message, new HeapError("ECLOSED", "Op.call").message]));`,
      { PRIVHEAP_LIB: "/nonexistent/libprivheap.so" },
    );
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual(["Op.call: EINVAL: detail", "Op.call: ECORRUPT", "Op.call: ECLOSED: the heap was closed"]);
  });

  test("HeapError carries code, op, nativeCode, cause and a message naming all of them", () => {
    const cause = new Error("root cause");
    const e = new HeapError("EBADPTR", "PrivateHeap.free", "offset 24", { cause });
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(HeapError);
    expect(e.name).toBe("HeapError");
    expect(e.code).toBe("EBADPTR");
    expect(e.op).toBe("PrivateHeap.free");
    expect(e.nativeCode).toBe(defs.PH_EBADPTR!);
    expect(e.cause).toBe(cause);
    expect(e.message).toContain("PrivateHeap.free");
    expect(e.message).toContain("EBADPTR");
    expect(e.message).toContain("offset 24");
  });

  test("fromNative keeps an unknown C value in nativeCode", () => {
    const e = HeapError.fromNative(-77, "malloc");
    expect(e.code).toBe("EUNKNOWN");
    expect(e.nativeCode).toBe(-77);
    expect(HeapError.fromNative(defs.PH_ENOMEM!, "malloc").code).toBe("ENOMEM");
  });
});

describe("op: the call that failed, as Class.method", () => {
  test("every member of a closed heap that refuses names itself PrivateHeap.<member>", () => {
    const heap = PrivateHeap.create({ size: 1 << 20 });
    heap.close();
    // Readable after close (and close itself, which is idempotent).
    const answers = new Set(["size", "address", "closed", "locked", "path", "close"]);
    const args: Record<string, unknown[]> = { walk: [() => {}], withLock: [() => 1], setRoot: ["a", 0], getRoot: ["a"], restore: [undefined] };
    const members = Object.getOwnPropertyNames(PrivateHeap.prototype).filter((k) => k !== "constructor" && !answers.has(k));
    expect(members.length).toBeGreaterThan(30);
    for (const name of members) {
      const d = Object.getOwnPropertyDescriptor(PrivateHeap.prototype, name)!;
      const use = d.get ? () => d.get!.call(heap) : () => (d.value as (...a: unknown[]) => unknown).apply(heap, args[name] ?? [1, 1]);
      expect({ name, op: opOf(use) }).toEqual({ name, op: `PrivateHeap.${name}` });
    }
  });

  test("argument, allocator and file errors of a heap name PrivateHeap.<call>", () => {
    using heap = PrivateHeap.create({ size: 1 << 20 });
    const off = heap.malloc(64);
    heap.free(off);
    expect(opOf(() => heap.free(off))).toBe("PrivateHeap.free"); // EDOUBLEFREE, from C
    expect(opOf(() => heap.free(off + 8))).toBe("PrivateHeap.free"); // EBADPTR
    expect(opOf(() => heap.malloc(-1))).toBe("PrivateHeap.malloc"); // EINVAL, in TypeScript
    expect(opOf(() => heap.malloc(heap.size))).toBe("PrivateHeap.malloc"); // ENOMEM
    expect(opOf(() => heap.realloc(heap.size, 8))).toBe("PrivateHeap.realloc");
    expect(opOf(() => heap.setRoot("", 0))).toBe("PrivateHeap.setRoot");
    expect(opOf(() => heap.restore(null as never))).toBe("PrivateHeap.restore");
    expect(opOf(() => heap.snapshot({ into: {} as never }))).toBe("PrivateHeap.snapshot");
    expect(opOf(() => heap.walk(null as never))).toBe("PrivateHeap.walk");
    expect(opOf(() => PrivateHeap.create({ size: -1 }))).toBe("PrivateHeap.create");
    expect(opOf(() => PrivateHeap.create({ size: 2 ** 33 }))).toBe("PrivateHeap.create");
    expect(opOf(() => PrivateHeap.open(""))).toBe("PrivateHeap.open");
    expect(opOf(() => PrivateHeap.open(join(SRC, "no such dir", "x.phheap")))).toBe("PrivateHeap.open");
  });
});
