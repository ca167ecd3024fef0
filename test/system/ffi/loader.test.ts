import { describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BUILD_COMMAND, libraryCandidates, libraryFileName, loadNative, packageRoot, platformDir } from "../../../src/ffi/loader.ts";
import { SRC, runScript } from "../../support/bun.ts";

const ROOT = resolve(import.meta.dir, "..", "..", "..");

describe("native library loader", () => {
  test("file names follow the platform", () => {
    expect(libraryFileName("linux")).toBe("libprivheap.so");
    expect(libraryFileName("darwin")).toBe("libprivheap.dylib");
    expect(libraryFileName("win32")).toBe("privheap.dll");
  });

  test("without PRIVHEAP_LIB: the local build first, then prebuilds/<platform>-<arch>[-musl]", () => {
    expect(packageRoot()).toBe(ROOT);
    const c = libraryCandidates({});
    expect(c.map((x) => x.source)).toEqual(["local build", "prebuilt"]);
    expect(c[0]!.path).toBe(join(ROOT, "zig-out", "lib", libraryFileName()));
    expect(c[1]!.path).toBe(join(ROOT, "prebuilds", platformDir(), libraryFileName()));
    expect(platformDir()).toMatch(new RegExp(`^${process.platform}-${process.arch}(-musl)?$`));
  });

  test("PRIVHEAP_LIB is the only candidate when set", () => {
    const c = libraryCandidates({ PRIVHEAP_LIB: "/opt/x/libprivheap.so" });
    expect(c).toEqual([{ path: "/opt/x/libprivheap.so", source: "PRIVHEAP_LIB" }]);
    expect(libraryCandidates({ PRIVHEAP_LIB: "" }).length).toBe(2);
  });

  test("the library this run uses loads and its path exists", () => {
    const lib = loadNative();
    expect(existsSync(lib.path)).toBe(true);
    expect(lib.addresses.ph_region_unmap).toBeGreaterThan(0);
    expect(lib.symbols.ph_last_error()).toBeLessThanOrEqual(0);
  });

  test("the raw bindings are public only at the subpath privheap/native, not from the main entry", async () => {
    const main = await import("privheap");
    const native = await import("privheap/native");
    expect("loadNative" in main).toBe(false);
    expect(native.loadNative).toBe(loadNative);
    expect(Object.keys(native)).toEqual(["loadNative"]);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(pkg.exports["."].bun).toBe("./src/index.ts");
    expect(pkg.exports["./native"]).toEqual({ bun: "./src/native.ts" }); // Bun only: no condition elsewhere
    expect(readFileSync(join(SRC, "native.ts"), "utf8")).toContain("UNSAFE");
  });

  test("a missing PRIVHEAP_LIB fails with ENOLIB naming the path and the build command", async () => {
    const r = await runScript(
      `import { PrivateHeap } from ${JSON.stringify(join(SRC, "index.ts"))};
       try { PrivateHeap.create({ size: 1 << 20 }); console.log("LOADED"); }
       catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`,
      { PRIVHEAP_LIB: "/nonexistent/dir/libprivheap.so" },
    );
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.code).toBe("ENOLIB");
    expect(out.message).toContain("/nonexistent/dir/libprivheap.so");
    expect(out.message).toContain("not found");
    expect(out.message).toContain(BUILD_COMMAND);
  });

  test("a file that is not a library fails with the loader's reason", async () => {
    const dir = mkdtempSync(join(tmpdir(), "privheap-notalib-"));
    const bogus = join(dir, "libprivheap.so");
    writeFileSync(bogus, "this is not an ELF file\n");
    const r = await runScript(
      `import { loadNative } from ${JSON.stringify(join(SRC, "native.ts"))};
       try { loadNative(); console.log("LOADED"); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`,
      { PRIVHEAP_LIB: bogus },
    );
    const out = JSON.parse(r.stdout.trim());
    expect(out.code).toBe("ENOLIB");
    expect(out.message).toContain(bogus);
    expect(out.message).not.toContain(`${bogus} (PRIVHEAP_LIB): not found`);
  });

  test("with no library anywhere, the error lists the local build and prebuilt paths in order", async () => {
    // A copy of src/ in an empty package: neither zig-out/ nor prebuilds/ exists there.
    const pkg = mkdtempSync(join(tmpdir(), "privheap-nolib-"));
    cpSync(SRC, join(pkg, "src"), { recursive: true });
    const r = await runScript(
      `import { loadNative } from ${JSON.stringify(join(pkg, "src", "native.ts"))};
       try { loadNative(); console.log("LOADED"); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`,
      { PRIVHEAP_LIB: "" },
    );
    const out = JSON.parse(r.stdout.trim());
    expect(out.code).toBe("ENOLIB");
    const local = join(pkg, "zig-out", "lib", libraryFileName());
    const pre = join(pkg, "prebuilds", platformDir(), libraryFileName());
    expect(out.message).toContain(local);
    expect(out.message).toContain(pre);
    expect(out.message.indexOf(local)).toBeLessThan(out.message.indexOf(pre));
    expect(out.message).toContain(`Build it with: ${BUILD_COMMAND}`);
  });
});
