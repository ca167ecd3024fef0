// The file policy for snapshot saves: new files are 0600 unless a `mode` is
// given (permission bits only), a symbolic link at the path is replaced and
// never written through, and an existing file that is not a snapshot file
// is never changed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../../src/heap.ts";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { codeOfRejection, expectCode } from "../../support/expect.ts";

let dir = "";
let heap: PrivateHeap;
let snap: Snapshot;
let seq = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "privheap-file-policy-"));
  heap = PrivateHeap.create({ size: 1 << 20 });
  heap.setRoot("x", heap.malloc(100));
  heap.u8[heap.getRoot("x")] = 42;
  snap = heap.snapshot();
});
afterAll(() => {
  heap.close();
  rmSync(dir, { recursive: true, force: true });
});

function fresh(): string {
  const d = join(dir, `d${seq++}`);
  mkdirSync(d);
  return d;
}

/** Both forms of save, each with the same arguments. */
const saves = [
  ["saveSync", (p: string, o?: object) => Promise.resolve().then(() => snap.saveSync(p, o))],
  ["save", (p: string, o?: object) => snap.save(p, o)],
] as const;

describe("snapshot file modes", () => {
  for (const [name, save] of saves) {
    test(`${name}: a new file is 0600 whatever the umask allows`, async () => {
      const old = process.umask(0);
      try {
        const p = join(fresh(), "a.phsnap");
        await save(p, { fsync: false });
        expect(statSync(p).mode & 0o7777).toBe(0o600);
        await save(p, { fsync: false }); // a replacement too
        expect(statSync(p).mode & 0o7777).toBe(0o600);
      } finally {
        process.umask(old);
      }
    });

    test(`${name}: { mode } gives those permission bits (minus the umask)`, async () => {
      const old = process.umask(0o022);
      try {
        const p = join(fresh(), "a.phsnap");
        await save(p, { fsync: false, mode: 0o660 });
        expect(statSync(p).mode & 0o7777).toBe(0o640);
      } finally {
        process.umask(old);
      }
    });

    test(`${name}: a mode with setuid, setgid or sticky bits, or out of range, is EINVAL and creates nothing`, async () => {
      const d = fresh();
      for (const mode of [0o4600, 0o2600, 0o1600, 0o6777, -1, 0o1000, 1.5, "0600"])
        expect(await codeOfRejection(save(join(d, "a.phsnap"), { mode }))).toBe("EINVAL");
      expect(readdirSync(d)).toEqual([]);
    });
  }
});

describe("snapshot saves and symbolic links", () => {
  for (const [name, save] of saves) {
    test(`${name}: a symbolic link at the path is replaced by the file; its target is not touched`, async () => {
      const d = fresh();
      const target = join(d, "precious.txt");
      writeFileSync(target, "keep me");
      const p = join(d, "link.phsnap");
      symlinkSync(target, p);
      await save(p, { fsync: false });
      expect(readFileSync(target, "utf8")).toBe("keep me");
      expect(lstatSync(p).isSymbolicLink()).toBe(false);
      expect(Snapshot.loadSync(p).checksum()).toBe(snap.checksum());
    });

    test(`${name}: a dangling symbolic link at the path is replaced; nothing is created at its target`, async () => {
      const d = fresh();
      const p = join(d, "link.phsnap");
      symlinkSync(join(d, "nowhere"), p);
      await save(p, { fsync: false });
      expect(readdirSync(d).sort()).toEqual(["link.phsnap"]);
      expect(lstatSync(p).isFile()).toBe(true);
    });
  }
});

describe("an existing file that is not a snapshot file is never replaced", () => {
  for (const [name, save] of saves) {
    test(`${name}: a text file at the path is EINVAL and stays byte for byte`, async () => {
      const d = fresh();
      const p = join(d, "notes.txt");
      writeFileSync(p, "my notes, not a snapshot");
      expect(await codeOfRejection(save(p))).toBe("EINVAL");
      expect(readFileSync(p, "utf8")).toBe("my notes, not a snapshot");
      expect(readdirSync(d)).toEqual(["notes.txt"]);
    });

    test(`${name}: a snapshot file (even a damaged one) and an empty file are replaced`, async () => {
      const d = fresh();
      const p = join(d, "s.phsnap");
      await save(p, { fsync: false });
      const bytes = readFileSync(p);
      bytes[100]! ^= 0xff; // damaged after the magic
      writeFileSync(p, bytes);
      await save(p, { fsync: false });
      expect(Snapshot.loadSync(p).checksum()).toBe(snap.checksum());
      const e = join(d, "empty.phsnap");
      writeFileSync(e, "");
      await save(e, { fsync: false });
      expect(Snapshot.loadSync(e).checksum()).toBe(snap.checksum());
    });

    test(`${name}: a symbolic link is replaced even when its target is not a snapshot file (the target stays)`, async () => {
      const d = fresh();
      const target = join(d, "notes.txt");
      writeFileSync(target, "mine");
      const p = join(d, "s.phsnap");
      symlinkSync(target, p);
      await save(p, { fsync: false });
      expect(readFileSync(target, "utf8")).toBe("mine");
      expect(lstatSync(p).isFile()).toBe(true);
    });
  }
});
