// Snapshot.diff with a LayoutMap: changed bytes named by field path. Offsets
// below are worked out by hand from the C layout rules (each field at the
// next multiple of its alignment, the size rounded up to the largest one),
// and the bytes are written through the heap's raw views, not cursors.
import { describe, expect, test } from "bun:test";
import { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { formatDiffField, type DiffField } from "../../../src/snapshot/diff.ts";
import { LayoutMap } from "../../../src/snapshot/layout-map.ts";
import { struct } from "../../../src/struct.ts";
import { expectCode } from "../../support/expect.ts";
import { heapsClosedAfterEach } from "../../support/heaps.ts";

const MiB = 1 << 20;
const heapOf = heapsClosedAfterEach(4 * MiB);

// Vec3: x@0 y@4 z@8, size 12. Entity: id@0 pos@4 vel@16 hp@28 tags@30..33, size 34 -> 36 (align 4).
const Vec3 = struct({ x: "f32", y: "f32", z: "f32" });
const Entity = struct({ id: "u32", pos: Vec3, vel: Vec3, hp: "i16", tags: ["u8", 4] });
// Item: id@0 qty@4, size 6 -> 8. Inventory: items@0 len@4, size 8. Player: hp@0 inv@4 (items@4 len@8) friend@12, size 16.
const Item = struct({ id: "u32", qty: "u16" });
const Inventory = struct({ items: "u32", len: "u32" });
const Player = struct({ hp: "i32", inv: Inventory, friend: "u32" });

describe("Snapshot.diff with layouts", () => {
  test("an array of structs under a root: fields, nested structs, array elements and padding by path", () => {
    const heap = heapOf();
    const base = heap.calloc(100, 36);
    heap.setRoot("entities", base);
    const layouts = LayoutMap.create().root("entities", Entity, { count: 100 });
    const before = heap.snapshot();
    heap.f32[(base + 7 * 36 + 16) / 4] = 2.5; // entities[7].vel.x
    heap.u8[base + 3 * 36 + 32] = 9; // entities[3].tags[2]
    heap.u8[base + 1 * 36 + 35] = 1; // padding after entities[1].tags
    heap.i16[(base + 99 * 36 + 28) / 2] = -5; // entities[99].hp
    heap.u8[base + 50 * 36] = 1; // bytes 0 and 2 of entities[50].id: two ranges, one field
    heap.u8[base + 50 * 36 + 2] = 1;
    const d = Snapshot.diff(before, heap.snapshot(), { layouts });
    expect(d.paths).toEqual({
      fields: [
        { path: "entities[1]", offset: base + 36 + 34, length: 2, type: null, before: null, after: null },
        { path: "entities[3].tags[2]", offset: base + 3 * 36 + 32, length: 1, type: "u8", before: 0, after: 9 },
        { path: "entities[7].vel.x", offset: base + 7 * 36 + 16, length: 4, type: "f32", before: 0, after: 2.5 },
        { path: "entities[50].id", offset: base + 50 * 36, length: 4, type: "u32", before: 0, after: 0x10001 },
        { path: "entities[99].hp", offset: base + 99 * 36 + 28, length: 2, type: "i16", before: 0, after: -5 },
      ],
      unnamed: [],
      truncated: false,
      complete: true,
    });
    // Without layouts the diff is as before: no paths.
    expect(Snapshot.diff(before, heap.snapshot()).paths).toBeUndefined();
  });

  test("pointer fields are followed: counts from a field, single structs with ->, nested pointer fields, a cycle visited once", () => {
    const heap = heapOf();
    const me = heap.calloc(1, 16);
    const friend = heap.calloc(1, 16);
    const myItems = heap.calloc(3, 8);
    const friendItems = heap.calloc(2, 8);
    heap.setRoot("me", me);
    const u32 = (off: number, v: number): void => void (heap.u32[off / 4] = v);
    u32(me + 4, myItems); // me.inv.items
    u32(me + 8, 3); // me.inv.len
    u32(me + 12, friend); // me.friend
    u32(friend + 4, friendItems);
    u32(friend + 8, 2);
    u32(friend + 12, me); // friend.friend: back to me
    const layouts = LayoutMap.create()
      .root("me", Player)
      .pointer(Inventory, "items", Item, { count: { field: "len" } })
      .pointer(Player, "friend", Player);
    const before = heap.snapshot();
    heap.i32[me / 4] = 50; // me.hp
    heap.u16[(myItems + 8 + 4) / 2] = 7; // me.inv.items[1].qty
    heap.i32[friend / 4] = -1; // me.friend->hp
    heap.u32[(friendItems + 8) / 4] = 42; // me.friend->inv.items[1].id
    const d = Snapshot.diff(before, heap.snapshot(), { layouts });
    const byOffset = ([
      { path: "me.hp", offset: me, length: 4, type: "i32", before: 0, after: 50 },
      { path: "me.friend->hp", offset: friend, length: 4, type: "i32", before: 0, after: -1 },
      { path: "me.inv.items[1].qty", offset: myItems + 12, length: 2, type: "u16", before: 0, after: 7 },
      { path: "me.friend->inv.items[1].id", offset: friendItems + 8, length: 4, type: "u32", before: 0, after: 42 },
    ] as DiffField[]).sort((x, y) => x.offset - y.offset);
    expect(d.paths).toEqual({ fields: byOffset, unnamed: [], truncated: false, complete: true });
  });

  test("a struct reached through a root array and through a pointer keeps the array's name; a changed pointer names its field", () => {
    // Unit: hp@0 target@4, size 8.
    const Unit = struct({ hp: "i32", target: "u32" });
    const heap = heapOf();
    const units = heap.calloc(10, 8);
    const other = heap.calloc(1, 8);
    heap.setRoot("units", units);
    heap.u32[(units + 2 * 8 + 4) / 4] = units + 5 * 8; // units[2].target -> units[5]
    heap.u32[(units + 8 * 8 + 4) / 4] = units + 5 * 8; // units[8].target -> units[5], in both images
    const layouts = LayoutMap.create().root("units", Unit, { count: 10 }).pointer(Unit, "target", Unit);
    const before = heap.snapshot();
    heap.i32[(units + 5 * 8) / 4] = 3;
    heap.u32[(units + 2 * 8 + 4) / 4] = other; // retarget
    heap.i32[other / 4] = 8; // other, reached only through the new target
    const d = Snapshot.diff(before, heap.snapshot(), { layouts });
    expect(d.paths!.fields).toEqual([
      { path: "units[2].target", offset: units + 20, length: 4, type: "u32", before: units + 40, after: other },
      { path: "units[5].hp", offset: units + 40, length: 4, type: "i32", before: 0, after: 3 },
      { path: "units[2].target->hp", offset: other, length: 4, type: "i32", before: 0, after: 8 },
    ]);
  });

  test('count "allocation" fills the allocation; bytes outside every registered struct stay unnamed', () => {
    const P = struct({ x: "f32" });
    const heap = heapOf();
    const loose = heap.malloc(16);
    const base = heap.calloc(10, 4);
    const fit = Math.floor(heap.usableSize(base) / 4);
    heap.setRoot("particles", base);
    const layouts = LayoutMap.create().root("particles", P, { count: "allocation" });
    const before = heap.snapshot();
    heap.f32[(base + (fit - 1) * 4) / 4] = 1;
    heap.u8[loose + 5] = 1;
    const d = Snapshot.diff(before, heap.snapshot(), { layouts });
    expect(d.paths!.fields).toEqual([{ path: `particles[${fit - 1}].x`, offset: base + (fit - 1) * 4, length: 4, type: "f32", before: 0, after: 1 }]);
    expect(d.paths!.unnamed).toContainEqual({ offset: loose + 5, length: 1 });
  });

  test("u64 fields report BigInt values; a struct nested in an array inside a struct carries its pointer fields", () => {
    // Slot: item@0 (pointer), stamp@8 (u64), size 16. Bag: n@0, slots@8 (2 x 16), size 40.
    const Slot = struct({ item: "u32", stamp: "u64" });
    const Bag = struct({ n: "u32", slots: [Slot, 2] });
    const heap = heapOf();
    const bag = heap.calloc(1, 40);
    const item = heap.calloc(1, 8);
    heap.setRoot("bag", bag);
    heap.u32[(bag + 8 + 16) / 4] = item; // bag.slots[1].item
    const layouts = LayoutMap.create().root("bag", Bag).pointer(Slot, "item", Item);
    const before = heap.snapshot();
    heap.u64[(bag + 8 + 8) / 8] = 5n; // bag.slots[0].stamp
    heap.u16[(item + 4) / 2] = 9; // bag.slots[1].item->qty
    const d = Snapshot.diff(before, heap.snapshot(), { layouts });
    expect(d.paths!.fields).toEqual(
      ([
        { path: "bag.slots[0].stamp", offset: bag + 16, length: 8, type: "u64", before: 0n, after: 5n },
        { path: "bag.slots[1].item->qty", offset: item + 4, length: 2, type: "u16", before: 0, after: 9 },
      ] as DiffField[]).sort((x, y) => x.offset - y.offset),
    );
  });

  test("a long chain of pointers: a repeated step is written (step)*n, and past 32 runs the middle is left out", () => {
    // Node: v@0 next@4, size 8.
    const Node = struct({ v: "i32", next: "u32" });
    const heap = heapOf();
    const n = 10_000;
    const nodes = Array.from({ length: n }, () => heap.calloc(1, 8));
    for (let i = 0; i + 1 < n; i++) heap.u32[(nodes[i]! + 4) / 4] = nodes[i + 1]!;
    heap.setRoot("list", nodes[0]!);
    const layouts = LayoutMap.create().root("list", Node).pointer(Node, "next", Node);
    const before = heap.snapshot();
    heap.i32[nodes[3]! / 4] = 1;
    heap.i32[nodes[5000]! / 4] = 1;
    const d = Snapshot.diff(before, heap.snapshot(), { layouts });
    expect(d.paths!.fields.map((f) => f.path)).toEqual(["list.next->next->next->v", "list.next(->next)*4999->v"]);

    // Alternating fields: no run repeats. Pair: v@0 a@4 b@8, size 12; node k+1 hangs off a (k even) or b (k odd).
    const Pair = struct({ v: "i32", a: "u32", b: "u32" });
    const pairs = Array.from({ length: 41 }, () => heap.calloc(1, 12));
    for (let k = 0; k < 40; k++) heap.u32[(pairs[k]! + (k % 2 === 0 ? 4 : 8)) / 4] = pairs[k + 1]!;
    heap.setRoot("x", pairs[0]!);
    const alt = LayoutMap.create().root("x", Pair).pointer(Pair, "a", Pair).pointer(Pair, "b", Pair);
    const before2 = heap.snapshot();
    heap.i32[pairs[40]! / 4] = 1;
    // Runs: "x", then step k = 1..40: ".a" (k = 1), "->a" (k odd), "->b" (k even). Kept: the first 16 runs and the last 16.
    const step = (k: number): string => (k === 1 ? ".a" : k % 2 === 1 ? "->a" : "->b");
    let want = "x";
    for (let k = 1; k <= 15; k++) want += step(k);
    want += "...(9 steps)...";
    for (let k = 25; k <= 40; k++) want += step(k);
    const d2 = Snapshot.diff(before2, heap.snapshot(), { layouts: alt });
    expect(d2.paths!.fields.map((f) => f.path)).toEqual([`${want}->v`]);
  });

  test("maxFields bounds the list and says so", () => {
    const heap = heapOf();
    const base = heap.calloc(100, 36);
    heap.setRoot("entities", base);
    const before = heap.snapshot();
    for (let i = 0; i < 20; i++) heap.u32[(base + i * 36) / 4] = i + 1;
    const d = Snapshot.diff(before, heap.snapshot(), { layouts: LayoutMap.create().root("entities", Entity, { count: 100 }), maxFields: 5 });
    expect(d.paths!.fields.map((f) => f.path)).toEqual(["entities[0].id", "entities[1].id", "entities[2].id", "entities[3].id", "entities[4].id"]);
    expect(d.paths!.truncated).toBe(true);
  });
});

describe("formatDiffField", () => {
  test("a scalar with both values, padding with its size", () => {
    expect(formatDiffField({ path: "units[3].hp", offset: 100, length: 4, type: "i32", before: 5, after: -2 })).toBe("units[3].hp (i32 at 100): 5 -> -2");
    expect(formatDiffField({ path: "a.t", offset: 8, length: 8, type: "u64", before: 1n, after: 2n })).toBe("a.t (u64 at 8): 1 -> 2");
    expect(formatDiffField({ path: "units[1]", offset: 70, length: 2, type: null, before: null, after: null })).toBe("units[1] (2 bytes of padding at 70)");
  });
});

describe("damaged images", () => {
  // World: a@0 an@4 b@8 c@12 cn@16, size 20.
  const World = struct({ a: "u32", an: "u32", b: "u32", c: "u32", cn: "u32" });
  const layouts = LayoutMap.create()
    .root("w", World)
    .pointer(World, "a", Entity, { count: { field: "an" } })
    .pointer(World, "b", Entity)
    .pointer(World, "c", Entity, { count: { field: "cn" } });
  /** A heap whose root w is a World, with the words given, and an array of 4 entities (returned). */
  function world(words: (arr: number, lone: number) => number[]): { heap: ReturnType<typeof heapOf>; w: number; arr: number; lone: number } {
    const heap = heapOf();
    const w = heap.calloc(1, 20);
    const arr = heap.calloc(4, 36);
    const lone = heap.calloc(1, 128);
    heap.setRoot("w", w);
    words(arr, lone).forEach((v, i) => (heap.u32[w / 4 + i] = v));
    return { heap, w, arr, lone };
  }

  test("a sound image is complete", () => {
    const { heap, arr } = world((arr) => [arr, 4, 0, 0, 0]);
    const before = heap.snapshot();
    heap.f32[(arr + 36 + 4) / 4] = 1;
    const d = Snapshot.diff(before, heap.snapshot(), { layouts });
    expect(d.paths!.complete).toBe(true);
    expect(d.paths!.fields.map((f) => f.path)).toEqual(["w.a[1].pos.x"]);
  });

  test("a count far past the image is clamped to what fits and the walk says it is not complete", () => {
    const { heap, arr } = world((arr) => [arr, 0xffffffff, 0, 0, 0]);
    const before = heap.snapshot();
    heap.f32[(arr + 36 + 4) / 4] = 1;
    const d = Snapshot.diff(before, heap.snapshot(), { layouts });
    expect(d.paths!.complete).toBe(false);
    expect(d.paths!.fields.map((f) => f.path)).toEqual(["w.a[1].pos.x"]);
  });

  test("a pointer outside the image is skipped", () => {
    const { heap, w } = world(() => [0, 0, 0xfffffff0, 0, 0]);
    const before = heap.snapshot();
    heap.u32[w / 4] = 0; // no change there; change w.an
    heap.u32[(w + 4) / 4] = 2;
    const d = Snapshot.diff(before, heap.snapshot(), { layouts });
    expect(d.paths!.complete).toBe(false);
    expect(d.paths!.fields.map((f) => f.path)).toEqual(["w.an"]);
  });

  test("a misaligned pointer is skipped: the bytes it would name stay unnamed", () => {
    const { heap, lone } = world((_arr, lone) => [0, 0, 0, lone + 2, 3]);
    const before = heap.snapshot();
    heap.u8[lone + 10] = 1;
    const d = Snapshot.diff(before, heap.snapshot(), { layouts });
    expect(d.paths!.complete).toBe(false);
    expect(d.paths!.fields).toEqual([]);
    expect(d.paths!.unnamed).toContainEqual({ offset: lone + 10, length: 1 });
  });

  test("overlapping self-referential arrays stop at the work bound", () => {
    // Each Link's `next` points 4 bytes further with an array to the end of
    // the allocation: without a bound the walk would scan about n^2/3 structs.
    const Link = struct({ next: "u32", pad: "u32", v: "u32" }); // size 12
    const heap = heapOf(16 * MiB);
    const n = 20_000;
    const base = heap.calloc(n, 12);
    for (let i = 0; i < n; i++) heap.u32[(base + 12 * i) / 4] = base + 4 * (i + 1);
    heap.setRoot("links", base);
    const layouts = LayoutMap.create().root("links", Link, { count: n }).pointer(Link, "next", Link, { count: "allocation" });
    const before = heap.snapshot();
    heap.u32[(base + 8) / 4] = 1;
    const d = Snapshot.diff(before, heap.snapshot(), { layouts });
    expect(d.paths!.complete).toBe(false);
    expect(d.paths!.fields).toEqual([{ path: "links[0].v", offset: base + 8, length: 4, type: "u32", before: 0, after: 1 }]);
  });
});

describe("LayoutMap registration", () => {
  test("wrong layouts, fields and counts are EINVAL", () => {
    const m = LayoutMap.create();
    expectCode(() => m.root("", Entity), "EINVAL");
    expectCode(() => m.root("e", {} as typeof Entity), "EINVAL");
    expectCode(() => m.root("e", Entity, { count: -1 }), "EINVAL");
    expectCode(() => m.root("e", Entity, { count: 1.5 }), "EINVAL");
    expectCode(() => m.pointer(Player, "nope", Item), "EINVAL");
    expectCode(() => m.pointer(Player, "inv", Item), "EINVAL"); // a struct, not a scalar
    expectCode(() => m.pointer(Entity, "pos.x", Item), "EINVAL"); // f32 cannot hold an offset
    expectCode(() => m.pointer(Entity, "tags.1", Item), "EINVAL"); // u8 neither
    expectCode(() => m.pointer(Player, "friend", Item, { count: { field: "missing" } }), "EINVAL");
    expectCode(() => m.pointer(Player, "friend", {} as typeof Item), "EINVAL");
    expect(m.pointer(Player, "inv.items", Item, { count: { field: "inv.len" } })).toBe(m);
  });
});
