//! build.zig - builds libprivheap from csrc/*.c. Needs the Zig in .zig-version.
//!
//!   zig build            host shared library -> zig-out/lib/ (ReleaseFast,
//!                        baseline CPU) and privheap.h -> zig-out/include/
//!   zig build test       every csrc/test/*.c as its own program, run one by one
//!   zig build test-bins  the same programs, only installed to zig-out/test/
//!                        (.ci/run runs them itself to count the results)
//!   zig build cross      the shared library for every platform we ship ->
//!                        prebuilds/<platform>-<arch>[-musl]/ (node's names),
//!                        and the WebAssembly module -> prebuilds/wasm32/
//!   zig build wasm       the same core as a WebAssembly module (wasm32, no
//!                        libc) -> zig-out/wasm/privheap.wasm
//!
//! Options: -Doptimize=debug|safe|fast|small (library; default fast, that is
//! ReleaseFast; the old names work too), -Dtest-optimize (tests; default safe),
//! -Dtarget / -Dcpu (default: this OS with a baseline CPU), -Dstrict=true
//! (warnings are errors; CI uses it), -Dwasm-optimize (the module; default
//! ReleaseFast).

const std = @import("std");
const builtin = @import("builtin");

/// Release targets of `zig build cross`. `dir` is process.platform-process.arch
/// (plus -musl), which is where the TypeScript loader looks; the file name is
/// Zig's for the target. src/platform.mjs names both: test/system/ffi/platform.test.ts
/// checks each `dir` against its platformDirOf for the entry's query, and the
/// header of each library built against its folder.
const Platform = struct { dir: []const u8, query: std.Target.Query };
/// Zig 0.17 defaults to macOS 15, newer than many Macs that run Bun; our C
/// needs nothing past macOS 13, so the dylibs declare that as their minimum.
const macos13: std.Target.Query.OsVersion = .{ .semver = .{ .major = 13, .minor = 0, .patch = 0 } };
const platforms = [_]Platform{
    .{ .dir = "linux-x64", .query = .{ .cpu_arch = .x86_64, .os_tag = .linux, .abi = .gnu } },
    .{ .dir = "linux-arm64", .query = .{ .cpu_arch = .aarch64, .os_tag = .linux, .abi = .gnu } },
    .{ .dir = "linux-x64-musl", .query = .{ .cpu_arch = .x86_64, .os_tag = .linux, .abi = .musl } },
    .{ .dir = "linux-arm64-musl", .query = .{ .cpu_arch = .aarch64, .os_tag = .linux, .abi = .musl } },
    .{ .dir = "darwin-x64", .query = .{ .cpu_arch = .x86_64, .os_tag = .macos, .os_version_min = macos13 } },
    .{ .dir = "darwin-arm64", .query = .{ .cpu_arch = .aarch64, .os_tag = .macos, .os_version_min = macos13 } },
    .{ .dir = "win32-x64", .query = .{ .cpu_arch = .x86_64, .os_tag = .windows, .abi = .gnu } },
};

pub fn build(b: *std.Build) void {
    checkZigVersion(b);

    // A library we ship must run on any CPU of its architecture, so the
    // default target is this OS with a baseline CPU rather than the build
    // host's (a -Dtarget or -Dcpu from the user replaces this default).
    const target = b.standardTargetOptions(.{ .default_target = .{ .cpu_model = .baseline } });
    // Not standardOptimizeOption: it defaults to Debug (or, given a preferred
    // mode, still to Debug unless --release is passed), and a plain
    // `zig build` (what `npm install` runs) must give the fast library.
    const optimize = b.option(std.builtin.Optimize, "optimize", "Library optimization (default ReleaseFast)") orelse
        @as(std.builtin.Optimize, switch (b.graph.release_mode) {
            .off, .any, .fast => .fast,
            .safe => .safe,
            .small => .small,
        });
    const test_optimize = b.option(std.builtin.Optimize, "test-optimize", "Test optimization (default ReleaseSafe: optimized, with safety checks)") orelse .safe;
    const strict = b.option(bool, "strict", "Treat C warnings as errors (CI)") orelse false;

    const cflags = readCFlags(b, strict);
    const sources = listCFiles(b, "csrc");
    if (sources.len == 0) std.process.fatal("no C sources in csrc/", .{});

    // Host library: `zig build`.
    const lib = addPrivheap(b, .dynamic, target, optimize, null, sources, cflags);
    lib.installHeader(b.path("csrc/privheap.h"), "privheap.h");
    // zig-out/lib/ on every OS (a DLL would go to bin/ by default), so the
    // install script and the TS loader have one path to look at.
    b.getInstallStep().dependOn(&b.addInstallArtifact(lib, .{ .dest_dir = .{ .override = .lib } }).step);

    // Tests: `zig build test`. They call internal ph__ functions, which the
    // shared library hides, so they link a static build of the same sources.
    const test_step = b.step("test", "Build and run every csrc/test/*.c program");
    const bins_step = b.step("test-bins", "Build the test programs into zig-out/test/");
    const test_lib = addPrivheap(b, .static, target, test_optimize, null, sources, cflags);
    test_lib.root_module.addCMacro("PH_DEBUG", "1");
    for (listCFiles(b, "csrc/test")) |file| {
        const exe = b.addExecutable(.{
            .name = file[0 .. file.len - 2],
            .root_module = b.createModule(.{ .target = target, .optimize = test_optimize, .link_libc = true }),
        });
        exe.root_module.addCSourceFile(.{ .file = b.path(b.fmt("csrc/test/{s}", .{file})), .flags = cflags });
        exe.root_module.addIncludePath(b.path("csrc"));
        exe.root_module.addCMacro("PH_DEBUG", "1");
        exe.root_module.linkLibrary(test_lib);
        // No output arguments, so the run inherits stdio: the harness's
        // "ok - ..." lines reach the terminal, and runs take turns (a global
        // stdio lock), so suites never interleave. A non-zero exit fails it.
        test_step.dependOn(&b.addRunArtifact(exe).step);
        bins_step.dependOn(&b.addInstallArtifact(exe, .{ .dest_dir = .{ .override = .{ .custom = "test" } } }).step);
    }

    // Release builds for every platform: `zig build cross`. Copied into the
    // source tree (prebuilds/, gitignored) rather than the install prefix,
    // because the package ships them from there.
    const cross_step = b.step("cross", "Build the shared library for every platform into prebuilds/");
    const copy = b.addUpdateSourceFiles();
    for (platforms) |p| {
        var query = p.query;
        query.cpu_model = .baseline;
        // Stripped: prebuilds are downloaded by every user; the exported
        // symbols stay in the dynamic symbol table regardless.
        const cross = addPrivheap(b, .dynamic, b.resolveTargetQuery(query), optimize, true, sources, cflags);
        copy.addCopyFileToSource(cross.getEmittedBin(), b.fmt("prebuilds/{s}/{s}", .{ p.dir, cross.out_filename }));
    }

    // The WebAssembly module: `zig build wasm`, and prebuilds/wasm32/ with
    // the cross builds (the package ships it for Node and browsers).
    // ReleaseFast: 64 KiB against ReleaseSmall's 54 KiB, and malloc+free of
    // 4 KiB 1.3x native against 1.6-2.0x (bench/js/wasm.ts).
    const wasm_optimize = b.option(std.builtin.Optimize, "wasm-optimize", "WebAssembly module optimization (default ReleaseFast)") orelse .fast;
    const wasm_step = b.step("wasm", "Build the core as a WebAssembly module into zig-out/wasm/");
    const wasm = addPrivheapWasm(b, wasm_optimize, sources, cflags);
    wasm_step.dependOn(&b.addInstallArtifact(wasm, .{ .dest_dir = .{ .override = .{ .custom = "wasm" } } }).step);
    copy.addCopyFileToSource(wasm.getEmittedBin(), "prebuilds/wasm32/privheap.wasm");
    cross_step.dependOn(&copy.step);
}

/// The core as a WebAssembly module: wasm32 with no system and no C library
/// (csrc/wasm/ has the few functions of one the core calls; prim_wasm.c is
/// its platform). It exports the public PH_API functions and its memory,
/// where ph_region_map_anon places regions, growing it as they need.
fn addPrivheapWasm(
    b: *std.Build,
    optimize: std.builtin.Optimize,
    sources: []const []const u8,
    cflags: []const []const u8,
) *std.Build.Step.Compile {
    // The generic CPU has bulk memory: copies and fills are instructions
    // (csrc/wasm/include/string.h relies on it). SIMD lets the page scans
    // (is a page zero?) vectorize: malloc+free of 4 KiB, which scans the
    // page on re-entry, is 2.0x native without it and 1.3-1.4x with it.
    // Bun, Node 20, Chrome 91, Firefox 89 and Safari 16.4 run all of these.
    const target = b.resolveTargetQuery(.{
        .cpu_arch = .wasm32,
        .os_tag = .freestanding,
        .cpu_model = .{ .explicit = &std.Target.wasm.cpu.generic },
        .cpu_features_add = std.Target.wasm.featureSet(&.{.simd128}),
    });
    const module = b.addExecutable(.{
        .name = "privheap",
        .root_module = b.createModule(.{ .target = target, .optimize = optimize, .strip = true }),
    });
    module.entry = .disabled; // a library: JavaScript calls its exports
    module.rdynamic = true; // export every default-visibility symbol: the PH_API functions
    module.export_memory = true;
    module.max_memory = 4 << 30; // wasm32's whole address space: regions up to about 4 GiB in all
    module.root_module.addCSourceFiles(.{ .root = b.path("csrc"), .files = sources, .flags = cflags });
    module.root_module.addCSourceFile(.{ .file = b.path("csrc/wasm/libc.c"), .flags = cflags });
    module.root_module.addIncludePath(b.path("csrc"));
    module.root_module.addSystemIncludePath(b.path("csrc/wasm/include"));
    return module;
}

/// The library from `sources` (names in csrc/), linked to libc.
fn addPrivheap(
    b: *std.Build,
    linkage: std.builtin.LinkMode,
    target: std.Build.ResolvedTarget,
    optimize: std.builtin.Optimize,
    strip: ?bool,
    sources: []const []const u8,
    cflags: []const []const u8,
) *std.Build.Step.Compile {
    const lib = b.addLibrary(.{
        .name = "privheap",
        .linkage = linkage,
        .root_module = b.createModule(.{ .target = target, .optimize = optimize, .strip = strip, .link_libc = true }),
    });
    lib.root_module.addCSourceFiles(.{ .root = b.path("csrc"), .files = sources, .flags = cflags });
    lib.root_module.addIncludePath(b.path("csrc"));
    return lib;
}

/// Names of the *.c files directly in `sub_path`, sorted so the link order
/// (and so the binary) does not depend on directory order. Read at configure
/// time; dependOnDirectoryContents re-runs the configure step when a file is
/// added or removed, so new sources need no edit here.
fn listCFiles(b: *std.Build, sub_path: []const u8) []const []const u8 {
    const io = b.graph.io;
    b.dependOnDirectoryContents(b.path(sub_path));
    var dir = b.root.openDir(io, sub_path, .{ .iterate = true }) catch |err|
        std.process.fatal("cannot open {s}/: {t}", .{ sub_path, err });
    defer dir.close(io);
    var names: std.ArrayList([]const u8) = .empty;
    var it = dir.iterate();
    while (it.next(io) catch |err| std.process.fatal("cannot list {s}/: {t}", .{ sub_path, err })) |entry| {
        if (entry.kind == .directory or !std.mem.endsWith(u8, entry.name, ".c")) continue;
        names.append(b.allocator, b.dupe(entry.name)) catch @panic("OOM");
    }
    std.mem.sort([]const u8, names.items, {}, struct {
        fn lessThan(_: void, x: []const u8, y: []const u8) bool {
            return std.mem.lessThan(u8, x, y);
        }
    }.lessThan);
    return names.items;
}

/// The flags of csrc/cflags.txt (the one list every build of csrc/ uses),
/// plus -Werror when `strict`.
fn readCFlags(b: *std.Build, strict: bool) []const []const u8 {
    const io = b.graph.io;
    b.dependOnFileContents(b.path("csrc/cflags.txt"));
    var dir = b.root.openDir(io, "csrc", .{}) catch |err| std.process.fatal("cannot open csrc/: {t}", .{err});
    defer dir.close(io);
    var buf: [4096]u8 = undefined;
    const text = dir.readFile(io, "cflags.txt", &buf) catch |err| std.process.fatal("cannot read csrc/cflags.txt: {t}", .{err});
    var flags: std.ArrayList([]const u8) = .empty;
    var lines = std.mem.tokenizeAny(u8, text, "\r\n");
    while (lines.next()) |raw| {
        const line = std.mem.trim(u8, raw, " \t");
        if (line.len == 0 or line[0] == '#') continue;
        flags.append(b.allocator, b.dupe(line)) catch @panic("OOM");
    }
    if (flags.items.len == 0) std.process.fatal("csrc/cflags.txt lists no flags", .{});
    if (strict) flags.append(b.allocator, "-Werror") catch @panic("OOM");
    return flags.items;
}

/// The build API changes between Zig releases, and so does the C compiler
/// inside Zig; a clear message beats a confusing compile error.
fn checkZigVersion(b: *std.Build) void {
    const io = b.graph.io;
    b.dependOnFileContents(b.path(".zig-version"));
    var dir = b.root.openDir(io, ".", .{}) catch |err| std.process.fatal("cannot open the build root: {t}", .{err});
    defer dir.close(io);
    var buf: [64]u8 = undefined;
    const raw = dir.readFile(io, ".zig-version", &buf) catch |err| std.process.fatal("cannot read .zig-version: {t}", .{err});
    const wanted = std.mem.trim(u8, raw, " \t\r\n");
    if (!std.mem.eql(u8, wanted, builtin.zig_version_string)) std.process.fatal(
        "this is Zig {s}, but privheap needs Zig {s} (.zig-version). Install it with `pip install ziglang=={s}` and run `python3 -m ziglang build`, or set PATH to that Zig.",
        .{ builtin.zig_version_string, wanted, wanted },
    );
}
