// What FrameArena's results look like to the type checker under the
// project's strict settings (noUncheckedIndexedAccess included). The
// expectTypeOf lines are checked by `tsc --noEmit -p .`, which fails when a
// type drifts; the runtime expectations check that the values match them.
import { expect, expectTypeOf, test } from "bun:test";
import { FrameArena, type PreviousHeap } from "../../src/frame-arena.ts";
import { PrivateHeap } from "../../src/heap.ts";
import type { StructSource } from "../../src/struct.ts";
import { expectCode } from "../support/expect.ts";

const MiB = 1 << 20;

test("previous is a PrivateHeap with buffers: 2, undefined with one, and either when the count is not known", () => {
  using one = FrameArena.create({ size: MiB });
  using oneSaid = FrameArena.create({ size: MiB, buffers: 1 });
  using two = FrameArena.create({ size: MiB, buffers: 2 });
  const count: 1 | 2 = Math.random() < 2 ? 2 : 1;
  using either = FrameArena.create({ size: MiB, buffers: count });
  expectTypeOf(one.previous).toEqualTypeOf<undefined>();
  expectTypeOf(oneSaid.previous).toEqualTypeOf<undefined>();
  expectTypeOf(two.previous).toEqualTypeOf<PrivateHeap>();
  expectTypeOf(either.previous).toEqualTypeOf<PrivateHeap | undefined>();
  expectTypeOf<PreviousHeap<1 | 2>>().toEqualTypeOf<PrivateHeap | undefined>();
  expect(one.previous).toBeUndefined();
  expect(oneSaid.previous).toBeUndefined();
  expect(two.previous).toBeInstanceOf(PrivateHeap);
  expect(either.previous).toBeInstanceOf(PrivateHeap);
  // frame(fn) hands fn the arena with its buffer count, and returns fn's type.
  const held = two.frame((a) => {
    expectTypeOf(a).toEqualTypeOf<FrameArena<2>>();
    const off = a.alloc(4);
    a.u32[off >>> 2] = 7;
    return off;
  });
  expectTypeOf(held).toEqualTypeOf<number>();
  expect(two.frame((a) => a.previous.u32[held >>> 2])).toBe(7); // no `!`
});

test("every arena of any buffer count is a FrameArena, and a struct source", () => {
  using two = FrameArena.create({ size: MiB, buffers: 2 });
  expectTypeOf(two).toMatchTypeOf<FrameArena>();
  expectTypeOf(two).toMatchTypeOf<StructSource>();
  const arenas: FrameArena[] = [two, FrameArena.create({ size: MiB })];
  expect(arenas[1]!.buffers).toBe(1);
  arenas[1]!.close();
});

test("allocation results are numbers and views have the heap's types", () => {
  using arena = FrameArena.create({ size: MiB });
  expectTypeOf(arena.alloc).returns.toEqualTypeOf<number>();
  expectTypeOf(arena.allocAligned).returns.toEqualTypeOf<number>();
  expectTypeOf(arena.allocZeroed).returns.toEqualTypeOf<number>();
  expectTypeOf(arena.realloc).parameters.toEqualTypeOf<[off: number, oldSize: number, newSize: number]>();
  expectTypeOf(arena.realloc).returns.toEqualTypeOf<number>();
  expectTypeOf(arena.heap).toEqualTypeOf<PrivateHeap>();
  type Views = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64" | "u64" | "i64" | "view";
  expectTypeOf<Pick<FrameArena, Views>>().toEqualTypeOf<Pick<PrivateHeap, Views>>();
  expectTypeOf(arena.u64).toEqualTypeOf<BigUint64Array>();
  expectTypeOf(arena.f32).toEqualTypeOf<Float32Array>();
  arena.frame((a) => {
    const off = a.alloc(8);
    // @ts-expect-error realloc takes the old size: the arena keeps none (heap.realloc's two arguments are EINVAL at run time too)
    expectCode(() => a.realloc(off, 16), "EINVAL");
    const x = a.realloc(0, 0, 8);
    expect(typeof x).toBe("number");
  });
});
