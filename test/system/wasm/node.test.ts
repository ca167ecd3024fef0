// The WebAssembly backend in Node (20 and later): src/wasm bundled for Node
// by Bun (Node 20 runs no TypeScript), imported by a plain module that runs
// test/support/wasm-sequence.mjs on a WasmHeap. Its summary equals the same
// sequence's on a native PrivateHeap and on a WasmHeap in Bun.
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../../src/heap.ts";
import { WasmHeap, wasmCandidates } from "../../../src/wasm/index.ts";
import { ensureWasmBuilt, wasmCore } from "../../support/wasm.ts";
// @ts-expect-error plain JavaScript, shared with the Node run
import { runSequence } from "../../support/wasm-sequence.mjs";

const SIZE = 16 << 20;
const node = spawnSync("node", ["--version"], { encoding: "utf8" });
const noNode = node.status === 0 ? "" : "no node on PATH";
if (noNode) console.log(`node.test.ts: skipped: ${noNode}`);

const dir = mkdtempSync(join(tmpdir(), "privheap-wasm-node-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.skipIf(noNode !== "")("Node imports the bundled WebAssembly backend and gets Bun's and the native library's results", async () => {
  const built = await Bun.build({ entrypoints: [join(import.meta.dir, "../../../src/wasm/index.ts")], target: "node", format: "esm", outdir: dir, naming: "privheap-wasm.mjs" });
  expect(built.success).toBe(true);
  const sequence = new URL("../../support/wasm-sequence.mjs", import.meta.url).href;
  writeFileSync(
    join(dir, "run.mjs"),
    `import { loadWasmCore, WasmHeap } from "./privheap-wasm.mjs";
     import { runSequence } from ${JSON.stringify(sequence)};
     const heap = WasmHeap.create(loadWasmCore(), ${SIZE});
     console.log(JSON.stringify(runSequence(heap)));`,
  );
  ensureWasmBuilt();
  const wasmFile = wasmCandidates().find((p) => existsSync(p))!;
  const r = spawnSync("node", [join(dir, "run.mjs")], { encoding: "utf8", env: { ...process.env, PRIVHEAP_WASM: wasmFile } });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  const inNode = JSON.parse(r.stdout);

  const native = PrivateHeap.create({ size: SIZE });
  const inBunNative = runSequence(native);
  native.close();
  const wasm = WasmHeap.create(wasmCore(), SIZE);
  const inBunWasm = runSequence(wasm);
  wasm.close();

  expect(inNode.offsets.length).toBeGreaterThan(1000);
  expect(inNode).toEqual(JSON.parse(JSON.stringify(inBunNative)));
  expect(inNode).toEqual(JSON.parse(JSON.stringify(inBunWasm)));
});
