#!/usr/bin/env node
// Builds the host shared library into zig-out/lib/ (what `npm install` and
// `npm run build` run). Plain node, because bun may not be installed yet.
//
// Usage: node scripts/build-native.mjs [extra `zig build` arguments]
//
// Order: Zig from $ZIG (a path, or a command such as "python3 -m ziglang"),
// `zig` on PATH, `python3 -m ziglang` (pip install ziglang==<.zig-version>);
// a Zig of another version is skipped (an explicit $ZIG fails instead).
// Without a usable Zig, the system C compiler ($CC, cc, gcc, clang) builds
// the same library (scripts/cc-build.mjs); without one either, an existing
// prebuilds/<platform>-<arch>/ library is accepted.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { libraryFileName, platformDir } from "../src/platform.mjs";
import { ccBuildCommand } from "./cc-build.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wanted = readFileSync(join(root, ".zig-version"), "utf8").trim();
const file = libraryFileName();
const out = join("zig-out", "lib", file); // where build.zig installs it too

/** Runs argv; returns stdout, or null if it could not start or failed. */
function probe(argv) {
  const r = spawnSync(argv[0], [...argv.slice(1), "version"], { cwd: root, encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

function run(argv) {
  console.log(`$ ${argv.join(" ")}`);
  return spawnSync(argv[0], argv.slice(1), { cwd: root, stdio: "inherit" }).status === 0;
}

function fail(message) {
  console.error(`privheap: ${message}`);
  process.exit(1);
}

/** The first Zig of the pinned version, as an argv prefix, plus notes on the ones skipped. */
function findZig() {
  const notes = [];
  const env = process.env.ZIG?.trim();
  if (env) {
    // A path may contain spaces; anything else is a command line.
    const argv = existsSync(env) ? [env] : env.split(/\s+/);
    const version = probe(argv);
    if (version === wanted) return { argv, notes };
    fail(`ZIG=${env} ${version ? `is Zig ${version}` : "is not a working Zig"}; Zig ${wanted} is needed (pip install ziglang==${wanted}, then ZIG="python3 -m ziglang")`);
  }
  const pythons = process.platform === "win32" ? ["python3", "python", "py"] : ["python3"];
  for (const argv of [["zig"], ...pythons.map((py) => [py, "-m", "ziglang"])]) {
    const version = probe(argv);
    if (version === wanted) return { argv, notes };
    if (version) notes.push(`${argv.join(" ")} is Zig ${version}`);
  }
  return { argv: null, notes };
}

function buildWithCc() {
  const candidates = [process.env.CC?.trim(), "cc", "gcc", "clang"].filter(Boolean);
  const cc = candidates.find((c) => spawnSync(c, ["--version"], { encoding: "utf8" }).status === 0);
  if (!cc) return null;
  mkdirSync(join(root, "zig-out", "lib"), { recursive: true });
  return run(ccBuildCommand(cc, out)) ? cc : false;
}

const zig = findZig();
if (zig.argv) {
  if (!run([...zig.argv, "build", ...process.argv.slice(2)])) fail(`\`${zig.argv.join(" ")} build\` failed (see above)`);
  console.log(`privheap: built ${out} with Zig ${wanted} (${zig.argv.join(" ")})`);
  process.exit(0);
}

const why = [`no Zig ${wanted} found`, ...zig.notes].join("; ");
const cc = buildWithCc();
if (cc) {
  console.log(`privheap: built ${out} with ${cc} (${why})`);
  process.exit(0);
}
if (cc === false) fail(`${why}, and the C compiler failed (see above)`);

// No compiler at all: an installed package may still carry a prebuilt library.
const prebuilt = join("prebuilds", platformDir(), file);
if (existsSync(join(root, prebuilt))) {
  console.log(`privheap: no compiler found (${why}); using ${prebuilt}`);
  process.exit(0);
}
const howToBuild = `Install Zig ${wanted} (pip install ziglang==${wanted}) or a C compiler, then run \`npm run build\`.`;
// An installed package carries the WebAssembly bundles (dist/): Node, Deno,
// browsers and Bun's backend: "wasm" work without the library, so a missing
// one is a warning there, and an error in a checkout (which has no dist/).
if (existsSync(join(root, "dist", "node.js"))) {
  console.warn(`privheap: ${why}, and no C compiler either: no native library for ${platformDir()}. Node, Deno, browsers and Bun's backend: "wasm" still work; for Bun's native backend: ${howToBuild}`);
  process.exit(0);
}
fail(`${why}, and no C compiler (cc, gcc, clang) either. ${howToBuild}`);
