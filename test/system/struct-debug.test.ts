import { afterEach, describe, expect, test } from "bun:test";
import { HeapError } from "../../src/errors.ts";
import { FrameArena } from "../../src/frame-arena.ts";
import { PrivateHeap } from "../../src/heap.ts";
import { struct, type StructLayout } from "../../src/struct.ts";
import { codeOf, expectCode } from "../support/expect.ts";

const MiB = 1 << 20;
const open: { close(): void }[] = [];
function heapOf(): PrivateHeap {
  const h = PrivateHeap.create({ size: 4 * MiB });
  open.push(h);
  return h;
}
function arenaOf(): FrameArena {
  const a = FrameArena.create({ size: MiB });
  open.push(a);
  return a;
}
afterEach(() => {
  for (const h of open.splice(0)) h.close();
});

const SPEC = { hp: "u32", pos: struct({ x: "f64", y: "f64", z: "f64" }), inv: ["u16", 4] } as const;
type Spec = typeof SPEC;
const Debug = struct(SPEC, { debug: true });
const Release = struct(SPEC, { debug: false });

/**
 * One stray write: `arm` prepares it on a fresh heap (or arena) and returns
 * the write itself. `code` is what debug mode must throw, from the write
 * (or from positioning the cursor for it).
 */
interface Stray {
  name: string;
  kind: "header" | "freed" | "reset" | "out of bounds";
  code: string;
  arm(S: StructLayout<Spec>): () => void;
}

/** A neighbour allocated right after `base`'s, so a struct past `base`'s end lands in live memory of another owner. */
function arrayWithNeighbour(heap: PrivateHeap, S: StructLayout<Spec>, count: number): { base: number; fits: number } {
  const base = S.alloc(heap, count);
  heap.malloc(heap.usableSize(base));
  return { base, fits: Math.floor(heap.usableSize(base) / S.size) };
}

const STRAYS: Stray[] = [
  {
    name: "a cursor made without an offset writes at offset 0",
    kind: "header",
    code: "EBADPTR",
    arm: (S) => {
      const c = S.cursor(heapOf());
      return () => (c.hp = 5);
    },
  },
  {
    name: "a nested field of a cursor made without an offset",
    kind: "header",
    code: "EBADPTR",
    arm: (S) => {
      const c = S.cursor(heapOf());
      return () => (c.pos.y = 5);
    },
  },
  {
    name: "at() an offset inside the header (the generation word)",
    kind: "header",
    code: "EBADPTR",
    arm: (S) => {
      const c = S.cursor(heapOf());
      return () => (c.at(232).hp = 5);
    },
  },
  {
    name: "StructLayout.write at an offset inside the header",
    kind: "header",
    code: "EBADPTR",
    arm: (S) => {
      const heap = heapOf();
      return () => S.write(heap, 8, { hp: 5 });
    },
  },
  {
    name: "a scalar field after heap.free",
    kind: "freed",
    code: "ESTALE",
    arm: (S) => {
      const heap = heapOf();
      const o = S.alloc(heap);
      const c = S.cursor(heap, o);
      heap.free(o);
      return () => (c.hp = 5);
    },
  },
  {
    name: "a nested struct's field after heap.free",
    kind: "freed",
    code: "ESTALE",
    arm: (S) => {
      const heap = heapOf();
      const o = S.alloc(heap);
      const c = S.cursor(heap, o);
      const pos = c.pos;
      heap.free(o);
      return () => (pos.x = 5);
    },
  },
  {
    name: "an array field held across heap.free",
    kind: "freed",
    code: "ESTALE",
    arm: (S) => {
      const heap = heapOf();
      const o = S.alloc(heap);
      const inv = S.cursor(heap, o).inv;
      heap.free(o);
      return () => inv.set(1, 5);
    },
  },
  {
    name: "the old place after realloc moved the allocation",
    kind: "freed",
    code: "ESTALE",
    arm: (S) => {
      const heap = heapOf();
      const o = S.alloc(heap);
      const c = S.cursor(heap, o);
      heap.malloc(64); // something after it, so growing cannot stay in place
      if (heap.realloc(o, 64 * 1024) === o) throw new Error("the test needs a realloc that moves");
      return () => (c.hp = 5);
    },
  },
  {
    name: "after heap.free, once a malloc has handed the same offset out again",
    kind: "freed",
    code: "ESTALE",
    arm: (S) => {
      const heap = heapOf();
      const o = S.alloc(heap);
      const c = S.cursor(heap, o);
      heap.free(o);
      if (S.alloc(heap) !== o) throw new Error("the test needs the freed offset handed out again");
      return () => (c.hp = 5);
    },
  },
  {
    name: "a nested field after realloc moved the allocation and its old place was handed out again",
    kind: "freed",
    code: "ESTALE",
    arm: (S) => {
      const heap = heapOf();
      const o = S.alloc(heap);
      const pos = S.cursor(heap, o).pos;
      heap.malloc(64);
      if (heap.realloc(o, 64 * 1024) === o) throw new Error("the test needs a realloc that moves");
      if (S.alloc(heap) !== o) throw new Error("the test needs the freed offset handed out again");
      return () => (pos.y = 5);
    },
  },
  {
    name: "at() the offset of a freed allocation",
    kind: "freed",
    code: "EBADPTR",
    arm: (S) => {
      const heap = heapOf();
      const o = S.alloc(heap);
      heap.free(o);
      const c = S.cursor(heap);
      return () => (c.at(o).hp = 5);
    },
  },
  {
    name: "StructLayout.write at a freed allocation",
    kind: "freed",
    code: "EBADPTR",
    arm: (S) => {
      const heap = heapOf();
      const o = S.alloc(heap);
      heap.free(o);
      return () => S.write(heap, o, { hp: 5 });
    },
  },
  {
    name: "a field after heap.reset",
    kind: "reset",
    code: "ESTALE",
    arm: (S) => {
      const heap = heapOf();
      const c = S.cursor(heap, S.alloc(heap));
      heap.reset();
      S.alloc(heap); // the same bytes handed out again
      return () => (c.hp = 5);
    },
  },
  {
    name: "a cursor from a frame arena's ended frame",
    kind: "reset",
    code: "ESTALE",
    arm: (S) => {
      const arena = arenaOf();
      const c = arena.frame((a) => S.cursor(a, S.alloc(a)));
      return () => arena.frame((a) => {
        S.alloc(a);
        c.hp = 5;
      });
    },
  },
  {
    name: "index() one past the structs its allocation holds, into a neighbour",
    kind: "out of bounds",
    code: "EBADPTR",
    arm: (S) => {
      const heap = heapOf();
      const { base, fits } = arrayWithNeighbour(heap, S, 4);
      const c = S.cursor(heap);
      return () => (c.index(base, fits).hp = 5);
    },
  },
  {
    name: "index() before the array's start",
    kind: "out of bounds",
    code: "EBADPTR",
    arm: (S) => {
      const heap = heapOf();
      heap.malloc(S.size);
      const { base } = arrayWithNeighbour(heap, S, 4);
      const c = S.cursor(heap);
      return () => (c.index(base, -1).hp = 5);
    },
  },
  {
    name: "at() a struct that overhangs the end of its allocation",
    kind: "out of bounds",
    code: "EBADPTR",
    arm: (S) => {
      const heap = heapOf();
      const o = heap.malloc(8);
      heap.malloc(64);
      const c = S.cursor(heap);
      return () => (c.at(o).hp = 5);
    },
  },
  {
    name: "each() over more structs than the allocation holds",
    kind: "out of bounds",
    code: "EBADPTR",
    arm: (S) => {
      const heap = heapOf();
      const { base, fits } = arrayWithNeighbour(heap, S, 4);
      return () => S.each(heap, base, fits + 1, (e) => (e.hp = 5));
    },
  },
  {
    name: "StructLayout.write of a struct that overhangs the end of its allocation",
    kind: "out of bounds",
    code: "EBADPTR",
    arm: (S) => {
      const heap = heapOf();
      const o = heap.malloc(8);
      heap.malloc(64);
      return () => S.write(heap, o, { inv: [1, 2, 3, 4] });
    },
  },
  {
    name: "an array field indexed past its count",
    kind: "out of bounds",
    code: "EINVAL",
    arm: (S) => {
      const heap = heapOf();
      const c = S.cursor(heap, S.alloc(heap));
      return () => c.inv.set(4, 5);
    },
  },
];

describe("debug mode catches a held set of stray writes", () => {
  test("the set covers every kind: header, freed, reset, out of bounds", () => {
    expect([...new Set(STRAYS.map((s) => s.kind))].sort()).toEqual(["freed", "header", "out of bounds", "reset"]);
  });

  test("every stray write of the set throws its code in debug mode: 100% caught", () => {
    const missed: string[] = [];
    for (const s of STRAYS) {
      const write = s.arm(Debug);
      const code = codeOf(write);
      if (code !== s.code) missed.push(`${s.kind}: ${s.name}: ${code}`);
    }
    expect(missed).toEqual([]);
  });

  test("without debug mode the same writes go through silently (except the array index, checked always)", () => {
    const silent = STRAYS.filter((s) => codeOf(s.arm(Release)) === "(no error)").map((s) => s.name);
    expect(silent).toEqual(STRAYS.filter((s) => s.code !== "EINVAL").map((s) => s.name));
  });

  test("a caught write changes no byte of the heap", () => {
    for (const s of STRAYS.filter((x) => x.kind !== "reset")) {
      const write = s.arm(Debug);
      const heap = open[open.length - 1] as PrivateHeap;
      const before = heap.u8.slice(0, heap.stats().usedBytes);
      codeOf(write);
      expect({ name: s.name, same: Buffer.from(heap.u8.subarray(0, before.length)).equals(before) }).toEqual({ name: s.name, same: true });
    }
  });
});

describe("debug errors name the allocation, the field and the generation", () => {
  test("use after free", () => {
    const heap = heapOf();
    const o = Debug.alloc(heap);
    const c = Debug.cursor(heap, o);
    heap.free(o);
    const e = expectCode(() => (c.hp = 5), "ESTALE") as HeapError;
    expect(e.op).toBe("StructCursor.hp");
    expect(e.message).toContain(`allocation at offset ${o}`);
    expect(e.message).toContain("freed");
    expect(e.message).toContain(`generation ${heap.generation}`);
  });

  test("reset, and a frame arena's frame", () => {
    const heap = heapOf();
    const c = Debug.cursor(heap, Debug.alloc(heap));
    heap.reset();
    const e = expectCode(() => c.pos.x, "ESTALE") as HeapError;
    expect(e.op).toBe("StructCursor.pos");
    expect(e.message).toContain(`positioned in generation ${heap.generation - 1} (now ${heap.generation})`);

    const arena = arenaOf();
    const ac = arena.frame((a) => Debug.cursor(a, Debug.alloc(a)));
    const first = arena.generation - 1;
    const f = expectCode(() => ac.hp, "ESTALE") as HeapError;
    expect(f.message).toContain(`frame ${first}; the arena is at frame ${arena.generation}`);
  });

  test("out of bounds names the offset, the layout size and the allocation found", () => {
    const heap = heapOf();
    const o = heap.malloc(8);
    const size = heap.usableSize(o);
    const e = expectCode(() => Debug.cursor(heap, o), "EBADPTR") as HeapError;
    expect(e.message).toContain(`struct at offset ${o} (${Debug.size} bytes)`);
    expect(e.message).toContain(`starts at ${o} and has ${size} bytes`);
    const h = expectCode(() => Debug.cursor(heap, 8), "EBADPTR") as HeapError;
    expect(h.message).toContain("heap header");
  });
});

describe("a refused move", () => {
  test("leaves the cursor unusable, so it cannot hide a free of the allocation it was on", () => {
    const heap = heapOf();
    const o = Debug.alloc(heap);
    const c = Debug.cursor(heap, o);
    heap.free(o);
    expectCode(() => c.at(16), "EBADPTR");
    expect(["EBADPTR", "ESTALE"]).toContain(codeOf(() => (c.hp = 5)));
    expect(heap.u32[o >>> 2]).toBe(0);
  });
});

describe("debug mode lets correct use through", () => {
  test("freeing, allocating and growing other allocations keeps a cursor valid", () => {
    const heap = heapOf();
    const o = Debug.alloc(heap);
    const c = Debug.cursor(heap, o);
    const other = heap.malloc(100);
    c.hp = 1;
    heap.free(other);
    const big = heap.realloc(heap.malloc(10), 100_000);
    c.hp += 1;
    c.pos.z = 2.5;
    c.inv.set(3, 9);
    heap.free(big);
    expect(Release.read(heap, o)).toEqual({ hp: 2, pos: { x: 0, y: 0, z: 2.5 }, inv: [0, 0, 0, 9] });
  });

  test("a cursor positioned again after a free or reset works; interior offsets of an array are found", () => {
    const heap = heapOf();
    const base = Debug.alloc(heap, 10);
    const c = Debug.cursor(heap).at(base + 7 * Debug.size); // not the start of the allocation
    c.hp = 7;
    expect(c.index(base, 0).hp).toBe(0);
    heap.free(base);
    const again = Debug.alloc(heap, 2);
    c.at(again).hp = 3;
    heap.reset();
    const fresh = Debug.alloc(heap, 3);
    c.index(fresh, 2).hp = 4;
    expect(Release.read(heap, fresh + 2 * Debug.size).hp).toBe(4);
  });

  test("index over a whole array and each over it are accepted", () => {
    const heap = heapOf();
    const base = Debug.alloc(heap, 50);
    const c = Debug.cursor(heap);
    for (let i = 0; i < 50; i++) c.index(base, i).hp = i;
    let sum = 0;
    Debug.each(heap, base, 50, (e) => (sum += e.hp));
    expect(sum).toBe((49 * 50) / 2);
  });

  test("read, write and strided accept a struct inside a live allocation", () => {
    const heap = heapOf();
    const base = Debug.alloc(heap, 3);
    Debug.write(heap, base + 2 * Debug.size, { hp: 9 });
    expect(Debug.read(heap, base + 2 * Debug.size).hp).toBe(9);
    const hp = Debug.strided(heap, base, "hp");
    expect(hp.view[hp.start + 2 * hp.stride]).toBe(9);
  });

  test("a frame arena cursor works inside its frame", () => {
    const arena = arenaOf();
    arena.frame((a) => {
      const base = Debug.alloc(a, 20);
      const c = Debug.cursor(a);
      for (let i = 0; i < 20; i++) c.index(base, i).pos.y = i;
      expect(Release.read(a, base + 19 * Debug.size).pos.y).toBe(19);
    });
  });
});
