// A process that saves one snapshot file, for the fault suite
// (test/system/snapshot/save-faults.test.ts), which kills it, starves it of space
// or of permissions while it does.
// Usage: bun save-child.ts <path> <tag> <sync|async|zstd> [MiB]; prints the
// snapshot's checksum, or the error's code and message as JSON.
import { PrivateHeap } from "../../src/heap.ts";
import type { Snapshot } from "../../src/snapshot/snapshot.ts";

/** The same snapshot for the same tag in every process: `mib` MiB of non-zero pages (several write batches). */
export function makeSnapshot(tag: number, mib = 3): Snapshot {
  using heap = PrivateHeap.create({ size: 16 << 20 });
  const n = Math.floor(mib * 2 ** 20);
  const off = heap.malloc(n);
  for (let i = 0; i < n; i += 64) heap.u8[off + i] = ((i >>> 6) + tag) | 1;
  heap.setRoot("tag", heap.malloc(8));
  heap.u8[heap.getRoot("tag")] = tag;
  return heap.snapshot();
}

if (import.meta.main) {
  const [path, tag, mode, mib] = process.argv.slice(2);
  const snap = makeSnapshot(Number(tag), Number(mib ?? 3));
  process.stderr.write("saving\n");
  try {
    if (mode === "async") await snap.save(path!);
    else snap.saveSync(path!, { compress: mode === "zstd" });
    console.log(String(snap.checksum()));
  } catch (e) {
    console.log(JSON.stringify({ code: (e as { code?: string }).code, message: (e as Error).message }));
  }
}
