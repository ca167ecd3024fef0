/**
 * The replay recorder's file: the file policy (mode 0600, no writing
 * through symbolic links, only replay files replaced) and failed writes
 * on real file systems (a full tmpfs, a read-only mount): the recorder
 * cuts the file back to its last complete tick and never counts a tick
 * the file does not keep.
 *
 * The mounts need root; where mounting is refused those tests are
 * reported as skipped, with the reason printed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeapError } from "../../../src/errors.ts";
import { PrivateHeap } from "../../../src/heap.ts";
import { Replay } from "../../../src/snapshot/replay.ts";
import { codeOf } from "../../support/expect.ts";
import { canMount, mountTmpfs, remountReadOnly, unmount } from "../../support/faults.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";

const heapOf = heapsClosedAfterEach(1 << 20);
let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "privheap-replay-file-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));


/** A step that writes `pages` pages of the heap, so a keyframe after it stores them. */
function churn(heap: PrivateHeap, t: number, pages: number): void {
  const at = heap.getRoot("block");
  for (let p = 0; p < pages; p++) heap.u32[(at >>> 2) + p * 1024 + (t % 1024)] = t + p + 1;
}

function prepared(pages: number): PrivateHeap {
  const heap = heapOf();
  heap.setRoot("block", heap.calloc(pages, 4096));
  return heap;
}

describe("replay files follow the file policy", () => {
  test("a new recording is mode 0600 whatever the umask allows", () => {
    const old = process.umask(0o022);
    try {
      const path = join(dir, "mode.phreplay");
      Replay.record(path, heapOf()).close();
      expect(statSync(path).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  test("record refuses a symbolic link at its path (EINVAL) and leaves the link and its target alone", () => {
    const target = join(dir, "target.txt");
    writeFileSync(target, "precious");
    const link = join(dir, "link.phreplay");
    symlinkSync(target, link);
    expect(codeOf(() => Replay.record(link, heapOf()))).toBe("EINVAL");
    expect(readFileSync(target, "utf8")).toBe("precious");
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(target);
  });

  test("record refuses a symbolic link to an existing replay too: it never writes through a link", () => {
    const real = join(dir, "real.phreplay");
    const heap = heapOf();
    const rec = Replay.record(real, heap);
    rec.tick(Uint8Array.of(1));
    rec.close();
    const before = readFileSync(real);
    const link = join(dir, "to-real.phreplay");
    symlinkSync(real, link);
    expect(codeOf(() => Replay.record(link, heap))).toBe("EINVAL");
    expect(readFileSync(real).equals(before)).toBe(true);
  });

  test("record refuses an existing file that is not a replay (EINVAL) and leaves it unchanged", () => {
    const path = join(dir, "notes.phreplay");
    writeFileSync(path, "not a replay, and longer than a magic");
    expect(codeOf(() => Replay.record(path, heapOf()))).toBe("EINVAL");
    expect(readFileSync(path, "utf8")).toBe("not a replay, and longer than a magic");
    const sub = join(dir, "a-directory.phreplay");
    mkdirSync(sub);
    expect(codeOf(() => Replay.record(sub, heapOf()))).toBe("EINVAL");
    expect(statSync(sub).isDirectory()).toBe(true);
  });

  test("record replaces an existing replay file, and the path never names a recording without its first keyframe", () => {
    const path = join(dir, "again.phreplay");
    const heap = heapOf();
    const first = Replay.record(path, heap);
    for (let t = 0; t < 5; t++) first.tick(Uint8Array.of(t));
    first.close();
    const second = Replay.record(path, heap);
    // Before any tick the path already holds a readable recording of 0 ticks.
    expect(Replay.openSync(path).ticks).toBe(0);
    second.tick(Uint8Array.of(9));
    second.close();
    expect(Replay.openSync(path).ticks).toBe(1);
    expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });

  test("close reports a failed sync or close (EIO) instead of returning as if the ticks were safe", () => {
    const path = join(dir, "close.phreplay");
    const rec = Replay.record(path, heapOf());
    rec.tick(Uint8Array.of(1));
    // Close the recorder's descriptor under it: its final sync and close now fail.
    const fds = readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === path;
      } catch {
        return false;
      }
    });
    expect(fds.length).toBe(1);
    closeSync(Number(fds[0]));
    expect(codeOf(() => rec.close())).toBe("EIO");
    expect(codeOf(() => rec.tick(Uint8Array.of(2)))).toBe("ECLOSED");
  });
});

/** Record ticks until one fails; returns the failure and the tick it failed at. */
function recordUntilFull(rec: ReturnType<typeof Replay.record>, heap: PrivateHeap, pages: number, inputBytes: number): { failure: HeapError; at: number } {
  for (let t = 0; t < 100000; t++) {
    churn(heap, t, pages);
    try {
      rec.tick(new Uint8Array(inputBytes).fill(t & 255));
    } catch (e) {
      if (!(e instanceof HeapError)) throw e;
      return { failure: e, at: t };
    }
  }
  throw new Error("the file system never filled up");
}

/** What a full file system must leave: EIO naming ENOSPC, the failed tick uncounted, the file cut back to the ticks kept, and every later tick refused even once there is room. */
function expectCutBackAndRefused(mnt: string, path: string, rec: ReturnType<typeof Replay.record>, heap: PrivateHeap, pages: number, failure: HeapError, at: number): void {
  expect(failure.code).toBe("EIO");
  expect(failure.message).toContain("ENOSPC");
  expect(rec.ticks).toBe(at);
  const size = statSync(path).size;
  const replay = Replay.openSync(path);
  expect(replay.ticks).toBe(at);
  expect(replay.torn).toBeNull(); // the half-written record was cut off
  expect(size).toBe(replay.fileBytes);
  unlinkSync(join(mnt, "filler"));
  for (let more = 0; more < 10; more++) expect(codeOf(() => rec.tick(Uint8Array.of(more)))).toBe("EIO");
  expect(rec.ticks).toBe(at);
  rec.close();
  expect(statSync(path).size).toBe(size);
  const after = Replay.openSync(path);
  expect(after.ticks).toBe(at);
  // Every kept tick replays: the recording is whole up to the failure.
  expect(after.verify(heapOf(heap.size), (h, _input, t) => churn(h, t, pages)).ok).toBe(true);
}

describe.skipIf(!canMount())("replay recording on a full file system (a 1 MiB tmpfs)", () => {
  test("a keyframe that hits ENOSPC: EIO naming it, its tick not counted, the file cut back, every later tick refused", () => {
    const mnt = mountTmpfs(1 << 20);
    try {
      writeFileSync(join(mnt, "filler"), new Uint8Array(400 << 10));
      const path = join(mnt, "full.phreplay");
      const heap = prepared(24);
      const rec = Replay.record(path, heap, { keyframeEvery: 2 });
      const { failure, at } = recordUntilFull(rec, heap, 24, 3);
      expect(at % 2).toBe(1); // a tick that carries a keyframe: the tick record itself fit
      expectCutBackAndRefused(mnt, path, rec, heap, 24, failure, at);
    } finally {
      unmount(mnt);
    }
  });

  test("a tick record that hits ENOSPC half-written: EIO naming it, cut back, every later tick refused", () => {
    const mnt = mountTmpfs(1 << 20);
    try {
      writeFileSync(join(mnt, "filler"), new Uint8Array(400 << 10));
      const path = join(mnt, "ticks.phreplay");
      const heap = prepared(2);
      const rec = Replay.record(path, heap, { keyframeEvery: 1 << 20 });
      // 3000-byte inputs: most records straddle a page of the tmpfs, so the write that fails has written part of its record.
      const { failure, at } = recordUntilFull(rec, heap, 2, 3000);
      expectCutBackAndRefused(mnt, path, rec, heap, 2, failure, at);
    } finally {
      unmount(mnt);
    }
  });

  test("a recording that cannot hold its first keyframe is EIO, and leaves neither the path nor a temporary file", () => {
    const mnt = mountTmpfs(1 << 20);
    try {
      writeFileSync(join(mnt, "filler"), new Uint8Array(1000 << 10));
      const path = join(mnt, "first.phreplay");
      const heap = prepared(40);
      churn(heap, 0, 40);
      // Uncompressed, so the keyframe is larger than the room left (compressed, it might fit).
      expect(codeOf(() => Replay.record(path, heap, { compress: false }))).toBe("EIO");
      expect(readdirSync(mnt)).toEqual(["filler"]);
    } finally {
      unmount(mnt);
    }
  });
});

describe.skipIf(!canMount())("replay recording on a read-only file system", () => {
  test("record in a read-only directory is EIO and creates nothing; reading a replay there works", () => {
    const mnt = mountTmpfs(1 << 20);
    try {
      const path = join(mnt, "ro.phreplay");
      const heap = heapOf();
      const rec = Replay.record(path, heap);
      rec.tick(Uint8Array.of(1));
      rec.close();
      remountReadOnly(mnt);
      const e = (() => {
        try {
          Replay.record(join(mnt, "new.phreplay"), heap);
        } catch (err) {
          return err;
        }
        return null;
      })();
      expect(e).toBeInstanceOf(HeapError);
      expect((e as HeapError).code).toBe("EIO");
      expect((e as HeapError).message).toContain("EROFS");
      expect(codeOf(() => Replay.record(path, heap))).toBe("EIO"); // replacing the existing one too
      expect(readdirSync(mnt)).toEqual(["ro.phreplay"]);
      expect(Replay.openSync(path).ticks).toBe(1);
      expect(existsSync(join(mnt, "new.phreplay"))).toBe(false);
    } finally {
      unmount(mnt);
    }
  });
});
