// The package as npm ships it: `npm pack` (whose prepack builds dist/),
// installed into a new project without network or install scripts, then
// `import { PrivateHeap } from "privheap"` in plain Node. Catches what the
// bundle tests cannot: a file missing from package.json's "files", an
// export condition pointing at nothing.
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as P from "../../../src/index.ts";

const ROOT = join(import.meta.dir, "../../..");
const dir = mkdtempSync(join(tmpdir(), "privheap-pack-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the user's script does with the package's exports `P`: allocation, a struct, a frame; JSON-ready. */
const USE = `(P) => {
  const Vec2 = P.struct({ x: "f32", y: "f32" });
  const heap = P.PrivateHeap.create({ size: 1 << 20 });
  const v = Vec2.cursor(heap, Vec2.alloc(heap));
  v.x = 1.5;
  const arena = P.FrameArena.create({ size: 1 << 20 });
  arena.beginFrame();
  const a = arena.alloc(64);
  arena.endFrame();
  return { x: v.x, off: heap.malloc(100), a, checksum: String(heap.checksum()) };
}`;

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

test("npm pack, npm install of the tarball: Node imports privheap and gets what Bun gets", () => {
  run("npm", ["pack", "--pack-destination", dir, "--silent"], ROOT);
  const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"));
  expect(tarball).toBeDefined();
  const project = join(dir, "project");
  run("mkdir", ["-p", project], dir);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "user", private: true, type: "module" }));
  run("npm", ["install", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", join(dir, tarball!)], project);
  writeFileSync(join(project, "main.mjs"), `import * as P from "privheap";\nconsole.log(JSON.stringify((${USE})(P)));\n`);
  const there = JSON.parse(run("node", ["main.mjs"], project));
  const here = JSON.parse(JSON.stringify(new Function(`return (${USE})`)()(P)));
  expect(there.x).toBe(1.5);
  expect(there).toEqual(here);

  // A TypeScript project without Bun's types type-checks against the package's declarations (the "types" condition).
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2023", "esnext.disposable", "dom"], strict: true, noEmit: true, types: [], skipLibCheck: false }, files: ["typed.ts"] }),
  );
  writeFileSync(
    join(project, "typed.ts"),
    `import { PrivateHeap, FrameArena, HeapError, Replay, Snapshot, struct, type HeapStats } from "privheap";
     const Vec2 = struct({ x: "f32", y: "f32" });
     using heap = PrivateHeap.create({ size: 1 << 20, backend: "wasm" });
     const v = Vec2.cursor(heap, Vec2.alloc(heap));
     v.x = 1.5;
     const stats: HeapStats = heap.stats();
     const rec = Replay.recordInMemory(heap, { compress: false });
     rec.tick(new Uint8Array(1));
     const copy: Snapshot = Snapshot.fromBytes(heap.snapshot().bytes);
     const arena = FrameArena.create({ size: 1 << 20 });
     const code: HeapError["code"] = "ENOTSUP";
     arena.beginFrame();
     export const used: [number, number, Uint8Array, number, string] = [stats.usedBytes, copy.byteLength, rec.bytes(), arena.alloc(64), code];
     // @ts-expect-error a field the layout does not have
     v.z = 1;`,
  );
  const tsc = spawnSync(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", project], { cwd: project, encoding: "utf8" });
  expect(tsc.stdout + tsc.stderr).toBe("");
  expect(tsc.status).toBe(0);
}, 180_000);
