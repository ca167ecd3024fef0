// Heap files: PrivateHeap.open maps a file shared, so separate processes and
// workers use one heap, and a closed heap file reopens with everything in it.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateHeap } from "../../src/heap.ts";
import { lineChild, runScript, SRC } from "../support/bun.ts";
import { expectCode } from "../support/expect.ts";

const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), "privheap-file-heap-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const pathFor = () => join(dir, `h${seq++}.phheap`);
const INDEX = JSON.stringify(join(SRC, "index.ts"));

/** A heap file holding a string under root "greeting" and 100 numbers under "numbers". */
function makeFile(path: string): void {
  using heap = PrivateHeap.open(path, { size: 8 * MiB, create: true });
  const text = new TextEncoder().encode("hello from the writer");
  const at = heap.malloc(text.length + 1);
  heap.u8.set(text, at);
  heap.setRoot("greeting", at);
  const nums = heap.malloc(100 * 8);
  for (let i = 0; i < 100; i++) heap.f64[(nums >>> 3) + i] = i * 1.5;
  heap.setRoot("numbers", nums);
  expect(heap.check()).toBe(0);
}

describe("PrivateHeap.open", () => {
  test("a new file has all its blocks reserved, mode 0600, and holds a heap; it reopens with allocations and roots", () => {
    const path = pathFor();
    makeFile(path);
    const st = statSync(path);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.size).toBe(8 * MiB);
    expect(st.blocks * 512).toBeGreaterThanOrEqual(8 * MiB); // reserved: writes through the mapping never find the disk full
    using heap = PrivateHeap.open(path);
    expect(heap.path).toBe(path);
    expect(heap.size).toBe(8 * MiB);
    expect(heap.check()).toBe(0);
    const at = heap.getRoot("greeting");
    expect(new TextDecoder().decode(heap.u8.subarray(at, at + 21))).toBe("hello from the writer");
    expect(heap.f64[(heap.getRoot("numbers") >>> 3) + 99]).toBe(148.5);
    // It goes on working, and what it does stays in the file.
    heap.free(heap.getRoot("numbers"));
    heap.setRoot("big", heap.malloc(3 * MiB));
    heap.close();
    using third = PrivateHeap.open(path, { check: true });
    expect(third.getRoot("big")).toBeGreaterThan(0);
    expect(third.stats().liveCount).toBe(2);
  });

  test("reserve: false leaves a new file sparse (only the pages the heap wrote have blocks), and it works like a reserved one", () => {
    const path = pathFor();
    {
      using heap = PrivateHeap.open(path, { size: 64 * MiB, create: true, reserve: false });
      heap.setRoot("x", heap.malloc(100));
    }
    const st = statSync(path);
    expect(st.size).toBe(64 * MiB);
    expect(st.blocks * 512).toBeLessThan(4 * MiB); // the header and first map leaf, not 64 MiB
    using heap = PrivateHeap.open(path, { check: true });
    expect(heap.getRoot("x")).toBeGreaterThan(0);
    expectCode(() => PrivateHeap.open(pathFor(), { size: MiB, reserve: false, create: true, mode: 0o4600 }), "EINVAL");
  });

  test("another process finds what this one wrote, and this one sees what it writes", async () => {
    const path = pathFor();
    makeFile(path);
    const r = await runScript(`
      import { PrivateHeap } from ${INDEX};
      using heap = PrivateHeap.open(${JSON.stringify(path)});
      const at = heap.getRoot("greeting");
      console.log(new TextDecoder().decode(heap.u8.subarray(at, at + 21)));
      const reply = heap.malloc(8);
      heap.f64[reply >>> 3] = 2026.5;
      heap.setRoot("reply", reply);
    `);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe("hello from the writer");
    using heap = PrivateHeap.open(path);
    expect(heap.f64[heap.getRoot("reply") >>> 3]).toBe(2026.5);
    expect(heap.check()).toBe(0);
  });

  test("an open heap sees another process's writes through its own mapping, live", async () => {
    const path = pathFor();
    using heap = PrivateHeap.open(path, { size: 4 * MiB, create: true });
    const cell = heap.calloc(1, 8);
    heap.setRoot("cell", cell);
    const r = await runScript(`
      import { PrivateHeap } from ${INDEX};
      using heap = PrivateHeap.open(${JSON.stringify(path)});
      heap.f64[heap.getRoot("cell") >>> 3] = 42;
    `);
    expect(r.exitCode).toBe(0);
    expect(heap.f64[cell >>> 3]).toBe(42); // no reopen: the same pages
  });

  test("a worker opens the heap by path and reads and writes it", async () => {
    const path = pathFor();
    makeFile(path);
    using heap = PrivateHeap.open(path);
    const script = join(dir, `worker-${seq++}.ts`);
    writeFileSync(
      script,
      `import { PrivateHeap } from ${INDEX};
       self.onmessage = (e) => {
         using heap = PrivateHeap.open(e.data);
         const nums = heap.getRoot("numbers") >>> 3;
         heap.f64[nums] = 1000;
         postMessage(heap.f64[nums + 10]);
       };`,
    );
    const worker = new Worker(script);
    const reply = await new Promise<unknown>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(e);
      worker.postMessage(path);
    });
    worker.terminate();
    expect(reply).toBe(15);
    expect(heap.f64[heap.getRoot("numbers") >>> 3]).toBe(1000);
  });

  test("foreign, truncated, empty and damaged files are refused with their codes", () => {
    const foreign = pathFor();
    writeFileSync(foreign, new Uint8Array(MiB).fill(7));
    expectCode(() => PrivateHeap.open(foreign), "ECORRUPT");
    const empty = pathFor();
    writeFileSync(empty, new Uint8Array(0));
    expectCode(() => PrivateHeap.open(empty), "ESIZE");
    const truncated = pathFor();
    makeFile(truncated);
    truncateSync(truncated, 4 * MiB);
    expectCode(() => PrivateHeap.open(truncated), "ESIZE");
    const cut = pathFor();
    makeFile(cut);
    truncateSync(cut, 5000); // inside the header
    expectCode(() => PrivateHeap.open(cut), "ECORRUPT");
    // A damaged page-map entry: the O(1) open does not read it; check: true does.
    const damaged = pathFor();
    makeFile(damaged);
    const bytes = readFileSync(damaged);
    bytes[2 * 4096 + 16 * 2] = bytes[2 * 4096 + 16 * 2]! ^ 0x07; // the entry of the first page after the first leaf
    writeFileSync(damaged, bytes);
    expectCode(() => PrivateHeap.open(damaged, { check: true }), "ECORRUPT");
    const newer = pathFor();
    makeFile(newer);
    const nb = readFileSync(newer);
    nb[8] = nb[8]! + 1; // layout version
    writeFileSync(newer, nb);
    expectCode(() => PrivateHeap.open(newer), "EVERSION");
  });

  test("options: mode, exclusive, size checks, growing, bad arguments", () => {
    const path = pathFor();
    PrivateHeap.open(path, { size: 2 * MiB, create: true, mode: 0o640 }).close();
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expectCode(() => PrivateHeap.open(path, { size: 2 * MiB, create: true, exclusive: true }), "EIO");
    expectCode(() => PrivateHeap.open(path, { size: 1 * MiB }), "ESIZE"); // not the file's size
    expectCode(() => PrivateHeap.open(path, { size: 4 * MiB }), "ESIZE"); // larger needs create
    // create with a larger size grows the file and the heap
    {
      using heap = PrivateHeap.open(path, { size: 4 * MiB, create: true });
      expect(heap.size).toBe(4 * MiB);
      expect(heap.malloc(3 * MiB)).toBeGreaterThan(0);
      expect(heap.check()).toBe(0);
    }
    expect(statSync(path).size).toBe(4 * MiB);
    expectCode(() => PrivateHeap.open(pathFor(), { create: true }), "EINVAL"); // create needs a size
    expectCode(() => PrivateHeap.open(""), "EINVAL");
    expectCode(() => PrivateHeap.open("a\0b"), "EINVAL");
    expectCode(() => PrivateHeap.open(pathFor(), { size: -1, create: true }), "EINVAL");
    expectCode(() => PrivateHeap.open(pathFor(), { size: 8 * 2 ** 30, create: true }), "ESIZE");
    expectCode(() => PrivateHeap.open(join(dir, "missing.phheap")), "EIO");
    expectCode(() => PrivateHeap.open(dir), "EIO"); // a directory
  });

  test("flush writes a file heap's pages (and does nothing for an anonymous heap); closed heaps are ECLOSED", () => {
    const path = pathFor();
    const heap = PrivateHeap.open(path, { size: 2 * MiB, create: true });
    heap.setRoot("x", heap.malloc(10));
    heap.flush();
    const anon = PrivateHeap.create({ size: MiB });
    anon.flush();
    expect(anon.path).toBeNull();
    anon.close();
    heap.close();
    expectCode(() => heap.flush(), "ECLOSED");
    using again = PrivateHeap.open(path);
    expect(again.getRoot("x")).toBeGreaterThan(0);
  });
});

describe("examples/shared", () => {
  test("the reader prints the board the writer keeps, from another process", async () => {
    const path = pathFor();
    const root = join(import.meta.dir, "..", "..");
    const writer = Bun.spawn([process.execPath, "examples/shared/writer.ts", path, "3"], { cwd: root, stdout: "pipe" });
    const lines = writer.stdout.getReader();
    const first = new TextDecoder().decode((await lines.read()).value);
    expect(first).toContain(`writer: ${path}`); // the file exists and holds the board now
    const reader = Bun.spawnSync([process.execPath, "examples/shared/reader.ts", path, "1"], { cwd: root });
    writer.kill();
    await writer.exited;
    expect(reader.exitCode).toBe(0);
    expect(reader.stdout.toString()).toMatch(/reader: tick \d+: \d players, best -?\d+\.\d/);
  }, 20_000);
});

/** A child Bun running `code`, fed lines on stdin; `next()` reads its next stdout line. */
function child(code: string) {
  const file = join(dir, `child-${seq++}.ts`);
  writeFileSync(file, code);
  return lineChild(file);
}

/** A child that opens `path`, says "mapped <size>", then does what each stdin line names. */
function mapper(path: string) {
  return child(`
    import { PrivateHeap } from ${INDEX};
    const heap = PrivateHeap.open(${JSON.stringify(path)});
    console.log("mapped " + heap.size);
    for await (const line of console) {
      if (line === "close") { heap.close(); console.log("closed"); continue; }
      if (line !== "fill") break;
      try {
        const at = heap.calloc(1, ${5 * MiB}); // more than the 4 MiB it mapped
        console.log("allocated " + at);
      } catch (e) {
        console.log(e.code + " " + heap.check());
      }
    }
  `);
}

describe("heap files shared by several processes", () => {
  test("a heap file extended by someone else keeps its size: a process that mapped 4 MiB gets ENOMEM past it, not a crash", async () => {
    const path = pathFor();
    PrivateHeap.open(path, { size: 4 * MiB, create: true }).close();
    const a = mapper(path);
    expect(await a.next()).toBe(`mapped ${4 * MiB}`);
    truncateSync(path, 8 * MiB); // the file grows under A
    const b = await runScript(`
      import { PrivateHeap } from ${INDEX};
      using heap = PrivateHeap.open(${JSON.stringify(path)});
      console.log(heap.size, heap.stats().regionBytes);
    `);
    a.send("fill");
    const filled = await a.next();
    const end = await a.end();
    expect({ b: [b.exitCode, b.stderr, b.stdout.trim()], a: [filled, end.exitCode, end.signalCode, end.stderr] }).toEqual({
      b: [0, "", `${4 * MiB} ${4 * MiB}`], // B maps the heap's 4 MiB, and the header still says 4 MiB
      a: ["ENOMEM 0", 0, null, ""],
    });
    using heap = PrivateHeap.open(path, { check: true });
    expect(heap.stats().regionBytes).toBe(4 * MiB);
  }, 20_000);

  test("a restore into a heap file extended by someone else keeps the heap's size: a larger image is ESIZE, and the other process carries on", async () => {
    const path = pathFor();
    PrivateHeap.open(path, { size: 4 * MiB, create: true }).close();
    const a = mapper(path);
    expect(await a.next()).toBe(`mapped ${4 * MiB}`);
    truncateSync(path, 8 * MiB);
    using big = PrivateHeap.create({ size: 8 * MiB });
    big.setRoot("big", big.malloc(5 * MiB));
    const image = big.snapshot();
    {
      using heap = PrivateHeap.open(path);
      expect(heap.size).toBe(4 * MiB);
      expectCode(() => heap.restore(image), "ESIZE");
      expect([heap.stats().regionBytes, heap.check()]).toEqual([4 * MiB, 0]);
    }
    a.send("fill");
    const filled = await a.next();
    const end = await a.end();
    expect([filled, end.exitCode, end.signalCode]).toEqual(["ENOMEM 0", 0, null]);
  }, 20_000);

  test("growing a heap file another process has mapped is EBUSY and changes nothing; once it unmaps, the file grows", async () => {
    const path = pathFor();
    makeFile(path);
    const a = mapper(path);
    expect(await a.next()).toBe(`mapped ${8 * MiB}`);
    const before = readFileSync(path);
    const err = expectCode(() => PrivateHeap.open(path, { size: 16 * MiB, create: true }), "EBUSY");
    expect(err.message).toContain("mapped");
    expect(statSync(path).size).toBe(8 * MiB);
    expect(Buffer.compare(readFileSync(path), before)).toBe(0);
    a.send("close");
    expect(await a.next()).toBe("closed"); // the mapping is gone, the process lives on
    {
      using heap = PrivateHeap.open(path, { size: 16 * MiB, create: true });
      expect([heap.size, heap.stats().regionBytes]).toEqual([16 * MiB, 16 * MiB]);
      expect(heap.malloc(12 * MiB)).toBeGreaterThan(0);
      expect(heap.check()).toBe(0);
    }
    expect((await a.end()).exitCode).toBe(0);
  }, 20_000);

  test("open waits a bounded time on a file another process holds exclusively, then EBUSY; it opens once the lock is gone", async () => {
    const path = pathFor();
    makeFile(path);
    const holder = Bun.spawn(["flock", "-x", path, "-c", "echo locked; read line"], { stdin: "pipe", stdout: "pipe" });
    const said = await holder.stdout.getReader().read();
    expect(new TextDecoder().decode(said.value)).toBe("locked\n");
    const started = performance.now();
    const err = expectCode(() => PrivateHeap.open(path), "EBUSY");
    const waited = performance.now() - started;
    holder.stdin.end();
    await holder.exited;
    expect(err.message).toContain("exclusive lock");
    expect(waited).toBeGreaterThan(1000); // it waited for a grow to finish; the test's timeout bounds the wait
    using heap = PrivateHeap.open(path);
    expect(heap.check()).toBe(0);
  }, 20_000);

  test("this process's own open mapping also keeps the file from growing", () => {
    const path = pathFor();
    makeFile(path);
    using heap = PrivateHeap.open(path);
    expectCode(() => PrivateHeap.open(path, { size: 16 * MiB, create: true }), "EBUSY");
    heap.close();
    using grown = PrivateHeap.open(path, { size: 16 * MiB, create: true });
    expect(grown.size).toBe(16 * MiB);
  });
});

/** size, bytes and mtime of `path` (lstat: a link is not followed). */
function fingerprint(path: string) {
  const st = lstatSync(path);
  const bytes = st.isFile() ? readFileSync(path).toString("hex") : "";
  return { size: st.size, mtimeNs: statSync(path, { bigint: true }).mtimeNs, mode: st.mode, bytes };
}

describe("files that are not heaps are never changed", () => {
  const foreignKinds: [string, (path: string) => void][] = [
    ["a 1 MiB file of other bytes", (p) => writeFileSync(p, new Uint8Array(MiB).fill(7))],
    ["an empty file", (p) => writeFileSync(p, new Uint8Array(0))],
    ["a short file", (p) => writeFileSync(p, "not a heap\n")],
    ["an 8 KiB file of zeros", (p) => writeFileSync(p, new Uint8Array(8192))],
  ];
  for (const [kind, make] of foreignKinds) {
    test(`open with create on ${kind} fails and leaves its size, bytes and mtime as they were`, () => {
      const path = pathFor();
      make(path);
      utimesSync(path, 1_000_000, 1_000_000); // an mtime a write would change
      const before = fingerprint(path);
      const err = expectCode(() => PrivateHeap.open(path, { size: 4 * MiB, create: true }), before.size === 0 ? "ESIZE" : "ECORRUPT");
      expect(err.message).toContain(path);
      expect(fingerprint(path)).toEqual(before);
      // Through a symbolic link to it: the same.
      const link = pathFor();
      symlinkSync(path, link);
      expectCode(() => PrivateHeap.open(link, { size: 4 * MiB, create: true }), before.size === 0 ? "ESIZE" : "ECORRUPT");
      expect(fingerprint(path)).toEqual(before);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
    });
  }

  test("open with create on a directory, a FIFO or a device fails with EIO and changes none of them", () => {
    const sub = pathFor();
    mkdirSync(sub);
    const fifo = pathFor();
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const device = pathFor();
    symlinkSync("/dev/null", device);
    for (const path of [sub, fifo, device]) {
      const before = fingerprint(path);
      expectCode(() => PrivateHeap.open(path, { size: 4 * MiB, create: true }), "EIO");
      expectCode(() => PrivateHeap.open(path), "EIO");
      expect(fingerprint(path)).toEqual(before);
    }
    expect(statSync("/dev/null").isCharacterDevice()).toBe(true);
  });
});

describe("the file policy for heap files", () => {
  test("mode with setuid, setgid or sticky bits, or beyond 0o7777, is EINVAL and creates nothing", () => {
    for (const mode of [0o6777, 0o4600, 0o2600, 0o1600, 0o10600, -1, 1.5]) {
      const path = pathFor();
      expectCode(() => PrivateHeap.open(path, { size: 2 * MiB, create: true, mode }), "EINVAL");
      expect(existsSync(path)).toBe(false);
    }
    const path = pathFor();
    PrivateHeap.open(path, { size: 2 * MiB, create: true, mode: 0o600 }).close();
    expect(statSync(path).mode & 0o7777).toBe(0o600);
  });

  test("a create that cannot format the new file (too small for a heap) fails with ESIZE and leaves no file", () => {
    const path = pathFor();
    expectCode(() => PrivateHeap.open(path, { size: 8192, create: true }), "ESIZE");
    expect(existsSync(path)).toBe(false);
  });

  test("create never writes through a symbolic link at the path, dangling or not", () => {
    const target = pathFor();
    const link = pathFor();
    symlinkSync(target, link); // dangling: following it would create `target`
    const err = expectCode(() => PrivateHeap.open(link, { size: 2 * MiB, create: true }), "EIO");
    expect(err.message).toContain("symbolic link");
    expect(existsSync(target)).toBe(false);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expectCode(() => PrivateHeap.open(link, { size: 2 * MiB, create: true, exclusive: true }), "EIO");
    expect(existsSync(target)).toBe(false);
  });

  test("an existing heap file opens through a symbolic link (its bytes are validated first)", () => {
    const path = pathFor();
    makeFile(path);
    const link = pathFor();
    symlinkSync(path, link);
    using heap = PrivateHeap.open(link, { size: 8 * MiB, create: true });
    expect(heap.getRoot("greeting")).toBeGreaterThan(0);
    expect(heap.check()).toBe(0);
  });
});
