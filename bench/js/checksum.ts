/**
 * bench/js/checksum.ts - the heap checksum (docs/checksum.md) against
 * xxHash3 of the same bytes, measured in the same run.
 *
 * Usage: bun bench/js/checksum.ts [rounds]
 *
 * Rows (median of `rounds` interleaved runs, default 31; times in ms), over
 * a 64 MiB used prefix of random bytes in a live heap's region:
 *   a. the full checksum (ph_checksum through heapChecksum) against
 *      Bun.hash.xxHash3 of the same prefix. Target: at most 1.1x.
 *   b. PageHashes.update with 1%, 5% and 100% of the pages listed (each
 *      listed page changed before the update, in a copy of the prefix per
 *      share; only the update is timed), against the same full xxHash3.
 *      Target at 1%: at most 0.1x.
 *   c. the same two at 4 MiB, where the bytes stay in the CPU's caches.
 * A time ratio below 1 means the heap checksum is faster.
 */
import { heapChecksum, PageHashes } from "../../src/checksum.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { median, printHeader, table, verdict } from "./common.ts";

const ROUNDS = Number(process.argv[2] ?? 31);
const MiB = 1 << 20;
const PAGE = 4096;
printHeader("the heap checksum vs xxHash3");

/** A heap whose used prefix is `bytes` long (whole pages), filled with random bytes. */
function heapOfUsed(bytes: number): PrivateHeap {
  const heap = PrivateHeap.create({ size: bytes + 4 * MiB });
  heap.malloc(bytes - heap.usedBytes - 2 * PAGE); // one large run up to about `bytes`
  const used = heap.usedBytes;
  for (let at = 0; at < used; at += 65536) crypto.getRandomValues(heap.u8.subarray(Math.max(at, 3 * PAGE), Math.min(at + 65536, used)));
  return heap;
}

const ms = (ns: number) => (ns / 1e6).toFixed(3);
const rows: (string | number)[][] = [];
const verdicts: string[] = [];

for (const size of [64 * MiB, 4 * MiB]) {
  using heap = heapOfUsed(size);
  const used = heap.usedBytes;
  const pages = used / PAGE;
  const prefix = heap.u8.subarray(0, used);
  const label = `${Math.round(used / MiB)} MiB`;
  // The listed pages of each share: spread over the prefix above the header, different each round.
  const shares = [0.01, 0.05, 1].map((share) => ({ share, n: Math.max(1, Math.round(pages * share)) }));
  // Each share changes its own copy of the prefix, so each PageHashes sees every change to its bytes.
  const copies = shares.map(() => prefix.slice());
  const sums = shares.map(() => new PageHashes());
  sums.forEach((s, k) => s.update(copies[k]!, used, null, 0));
  const lists = shares.map(({ n }) => new Uint32Array(n));
  const times = { xxh3: [] as number[], full: [] as number[], update: shares.map(() => [] as number[]) };
  let check = 0n;
  for (let round = -2; round < ROUNDS; round++) {
    let t0 = Bun.nanoseconds();
    check ^= Bun.hash.xxHash3(prefix);
    const xxh3 = Bun.nanoseconds() - t0;
    t0 = Bun.nanoseconds();
    check ^= heapChecksum(prefix);
    const full = Bun.nanoseconds() - t0;
    const updates = shares.map(({ n }, k) => {
      const list = lists[k]!;
      const stride = pages / n;
      for (let i = 0; i < n; i++) {
        const p = Math.min(pages - 1, Math.floor(i * stride + ((round + 3) * 7919) % Math.max(1, Math.floor(stride))));
        list[i] = p;
        copies[k]![p * PAGE + (round & 4095)]! ^= 1;
      }
      const t = Bun.nanoseconds();
      check ^= sums[k]!.update(copies[k]!, used, list, n);
      return Bun.nanoseconds() - t;
    });
    if (round < 0) continue; // warm-up
    times.xxh3.push(xxh3);
    times.full.push(full);
    updates.forEach((t, k) => times.update[k]!.push(t));
  }
  // Every PageHashes must agree with a full checksum of its bytes as they are now.
  sums.forEach((s, k) => {
    if (s.update(copies[k]!, used, new Uint32Array(0), 0) !== heapChecksum(copies[k]!)) throw new Error("an incremental checksum differs from the full one");
  });
  if (check === 0xffffffffn) console.log(""); // keeps the results alive
  const xx = median(times.xxh3);
  const fullRatio = median(times.full) / xx;
  rows.push([`${label}: full checksum`, ms(median(times.full)), ms(xx), `${fullRatio.toFixed(2)}x`]);
  if (size === 64 * MiB) verdicts.push(`a. full checksum of ${label} vs xxHash3: ${verdict(fullRatio, 1.1)}`);
  shares.forEach(({ share, n }, k) => {
    const t = median(times.update[k]!);
    rows.push([`${label}: update, ${share * 100}% of pages (${n})`, ms(t), ms(xx), `${(t / xx).toFixed(3)}x`]);
    if (size === 64 * MiB && share === 0.01) verdicts.push(`b. update with 1% of ${label} listed vs a full xxHash3: ${verdict(t / xx, 0.1)}`);
  });
}

table(["what", "heap checksum ms", "xxHash3 ms", "ratio"], rows);
console.log("");
for (const v of verdicts) console.log(v);
