/**
 * replay-info.ts - `privheap replay info FILE`: what a replay file holds.
 *
 * Everything comes from the public Replay API except the header fields it
 * does not expose (format version, native ABI, page size), read with the
 * format's own header parser, and the record sizes, which follow from the
 * framing constants: tick records are counted exactly from their inputs,
 * and keyframe records are the rest of the complete records.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { HeapError } from "../errors.ts";
import { Replay } from "../snapshot/replay.ts";
import { parseHeader, RECORD_HEAD_BYTES, RECORD_TAIL_BYTES, REPLAY_FLAG_ZSTD, REPLAY_HEADER_BYTES, TICK_FIXED_BYTES, type ReplayHeader } from "../snapshot/replay-format.ts";
import type { Io } from "./io.ts";

/** What {@link replayInfo} reports, as numbers. */
export interface ReplayInfo {
  path: string;
  header: ReplayHeader;
  ticks: number;
  keyframes: number[];
  fileBytes: number;
  /** Bytes of all tick records (framing, fixed fields and inputs). */
  tickRecordBytes: number;
  /** Bytes of all tick inputs. */
  inputBytes: number;
  /** Bytes of all keyframe records. */
  keyframeRecordBytes: number;
  /** The used bytes and roots of the heap at the last keyframe. */
  lastKeyframe: { after: number; usedBytes: number; roots: string[] };
  torn: Replay["torn"];
}

function readHeader(path: string): ReplayHeader {
  const bytes = new Uint8Array(REPLAY_HEADER_BYTES);
  let got = 0;
  try {
    const fd = openSync(path, "r");
    try {
      while (got < bytes.length) {
        const n = readSync(fd, bytes, got, bytes.length - got, got);
        if (n === 0) break;
        got += n;
      }
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new HeapError("EIO", "replay info", `${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return parseHeader(bytes.subarray(0, got), "replay info", path);
}

/**
 * Read the replay at `path` and measure it. Throws the HeapError of
 * `Replay.open` when the file cannot be read as a replay.
 *
 * @example
 * ```ts
 * import { readReplayInfo } from "./replay-info.ts";
 * const info = await readReplayInfo("run.phreplay");
 * console.log(info.ticks, info.keyframeRecordBytes / info.keyframes.length);
 * ```
 */
export async function readReplayInfo(path: string): Promise<ReplayInfo> {
  using replay = await Replay.open(path);
  const header = readHeader(path);
  let inputBytes = 0;
  for (let t = 0; t < replay.ticks; t++) inputBytes += replay.input(t).length;
  const tickRecordBytes = replay.ticks * (RECORD_HEAD_BYTES + TICK_FIXED_BYTES + RECORD_TAIL_BYTES) + inputBytes;
  const torn = replay.torn;
  const recordsEnd = torn === null ? replay.fileBytes : torn.offset;
  const keyframes = replay.keyframes;
  const lastAfter = keyframes[keyframes.length - 1]!; // Replay.open guarantees one
  const last = replay.keyframe(lastAfter);
  return {
    path,
    header,
    ticks: replay.ticks,
    keyframes,
    fileBytes: replay.fileBytes,
    tickRecordBytes,
    inputBytes,
    keyframeRecordBytes: recordsEnd - REPLAY_HEADER_BYTES - tickRecordBytes,
    lastKeyframe: { after: lastAfter, usedBytes: last.byteLength, roots: Object.keys(last.roots()).sort() },
    torn,
  };
}

/** `n` bytes in the largest binary unit that keeps it at least 1. */
export function humanBytes(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(2)} ${units[u]}`;
}

/** The keyframe ticks, the middle left out when there are many. */
function keyframeList(after: number[]): string {
  const shown = after.length <= 8 ? after.map(String) : [...after.slice(0, 4).map(String), "...", ...after.slice(-2).map(String)];
  return shown.join(", ");
}

/**
 * The lines `privheap replay info` prints for `info`.
 *
 * @example
 * ```ts
 * import { formatReplayInfo, readReplayInfo } from "./replay-info.ts";
 * console.log(formatReplayInfo(await readReplayInfo("run.phreplay")).join("\n"));
 * ```
 */
export function formatReplayInfo(info: ReplayInfo): string[] {
  const { header, ticks, keyframes } = info;
  const every = header.keyframeEvery === 1 ? "every tick" : `every ${header.keyframeEvery} ticks`;
  const perTick = ticks === 0 ? "" : `, ${(info.tickRecordBytes / ticks).toFixed(1)} bytes per tick on average (${(info.inputBytes / ticks).toFixed(1)} of them input)`;
  const perKeyframe = `, ${(info.keyframeRecordBytes / keyframes.length).toFixed(1)} bytes per keyframe on average`;
  const last = info.lastKeyframe;
  const lines = [
    `file: ${info.path}`,
    `format version: ${header.version} (native ABI ${header.abi}, page size ${header.pageSize})`,
    `ticks: ${ticks}`,
    `keyframes: ${keyframes.length}, ${every} (after ticks ${keyframeList(keyframes)})`,
    `region size: ${header.regionBytes} bytes (${humanBytes(header.regionBytes)})`,
    `file size: ${info.fileBytes} bytes (${humanBytes(info.fileBytes)})`,
    `tick records: ${info.tickRecordBytes} bytes${perTick}`,
    `keyframe records: ${info.keyframeRecordBytes} bytes${perKeyframe}`,
    `last keyframe: after tick ${last.after}, ${last.usedBytes} bytes of heap used (${humanBytes(last.usedBytes)}), roots: ${last.roots.join(", ") || "none"}`,
    ((header.flags ?? 0) & REPLAY_FLAG_ZSTD) !== 0
      ? "compression: zstd (each keyframe stored compressed where that is smaller)"
      : "compression: none (recorded with compress: false: keyframe pages stored raw)",
    info.torn === null ? "torn tail: none" : `torn tail: ${info.torn.bytes} bytes at offset ${info.torn.offset}: ${info.torn.reason}`,
  ];
  return lines;
}

/**
 * `privheap replay info FILE`: print what the replay holds; returns the exit
 * status (0). A torn tail is reported, not an error: the complete records
 * before it are readable. A file that is no replay throws its HeapError.
 *
 * @example
 * ```ts
 * import { processIo } from "./io.ts";
 * import { replayInfo } from "./replay-info.ts";
 * process.exitCode = await replayInfo("run.phreplay", processIo());
 * ```
 */
export async function replayInfo(path: string, io: Io): Promise<number> {
  io.out(`${formatReplayInfo(await readReplayInfo(path)).join("\n")}\n`);
  return 0;
}
