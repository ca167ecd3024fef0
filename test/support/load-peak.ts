// Child process for memory tests: loads the snapshot file argv[2] ("-" for
// none) with loadSync and then load (options as JSON in argv[3]), and prints
// {"codes": [...], "peakKiB": VmHWM} as one JSON line.
import { Snapshot } from "../../src/snapshot/snapshot.ts";

const path = process.argv[2]!;
const options = JSON.parse(process.argv[3] ?? "{}");
const codes: string[] = [];
if (path !== "-") {
  for (const load of [() => Snapshot.loadSync(path, options), () => Snapshot.load(path, options)]) {
    try {
      await load();
      codes.push("loaded");
    } catch (e) {
      codes.push((e as { code?: string }).code ?? String(e));
    }
  }
}
const status = await Bun.file("/proc/self/status").text();
console.log(JSON.stringify({ codes, peakKiB: Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? -1) }));
