/**
 * step-context.ts - what a replayable step keeps per heap: struct cursors,
 * scratch arenas and other objects bound to one heap, made once.
 *
 * A step runs on more than one heap: the live game's, the heap a seek or
 * verify rebuilds, and the second heap a failed verify re-runs a tick in.
 * An object bound to a heap (a cursor reads that heap's views) must not be
 * used on another, so a step keeps one per heap. `StepContext.of(heap)` is
 * that heap's context, the same object for every caller until it is closed;
 * Replay passes it to the step as its fourth argument, and a live loop asks
 * for it the same way, so one step serves recording, seek and verify.
 *
 * Invariant: a context holds no state of the simulation, only ways into it.
 * What a step caches must stay right when the heap's contents change under
 * it (a restore, a seek, a snapshot load): a cursor does, once positioned
 * again; an offset read from the heap does not, so read offsets (roots)
 * every tick and cache only the objects that read through them.
 */
import { HeapError } from "../errors.ts";
import { PrivateHeap } from "../heap.ts";
import { StructLayout, type Fields, type StructCursor } from "../struct.ts";

/** The context of each heap; keyed weakly, so a context never keeps its heap alive. */
const contexts = new WeakMap<PrivateHeap, StepContext>();

/** StepContext.of's way to the private constructor (set by its static block). */
let makeContext: (heap: PrivateHeap) => StepContext;

/**
 * Per-heap objects for a step function, made on first use and kept until
 * `close()`. Get one with {@link StepContext.of}.
 *
 * @example
 * ```ts
 * import { PrivateHeap, Replay, StepContext, struct, type StepFn } from "privheap";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const Body = struct({ x: "f32", v: "f32" });
 * // One cursor per heap, made on the first tick the step runs on that heap.
 * // Replay passes ctx; the live loop below leaves it to the default.
 * const step: StepFn = (heap, input, _tick, ctx = StepContext.of(heap)) => {
 *   const b = ctx.cursor(Body).at(heap.getRoot("body"));
 *   b.v += input[0]! - 1;
 *   b.x += b.v;
 * };
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * heap.setRoot("body", Body.alloc(heap));
 * const path = join(mkdtempSync(join(tmpdir(), "ctx-")), "run.phreplay");
 * {
 *   using rec = Replay.record(path, heap, { keyframeEvery: 8 });
 *   for (let t = 0; t < 20; t++) {
 *     const input = Uint8Array.of(t % 3);
 *     step(heap, input, t);
 *     rec.tick(input);
 *   }
 * }
 * using replay = await Replay.open(path);
 * using other = PrivateHeap.create({ size: replay.regionSize });
 * console.log(replay.verify(other, step).ok); // true
 * console.log(StepContext.of(other).cursor(Body) !== StepContext.of(heap).cursor(Body)); // true
 * ```
 */
export class StepContext implements Disposable {
  /** The heap this context's objects are bound to. */
  readonly heap: PrivateHeap;
  // Objects by key in the order made (close disposes them newest first).
  readonly #objects = new Map<unknown, unknown>();
  // Cursors by layout, then by name.
  readonly #cursors = new Map<StructLayout<any>, Map<string, unknown>>();
  #closed = false;

  static {
    makeContext = (heap) => new StepContext(heap);
  }

  private constructor(heap: PrivateHeap) {
    this.heap = heap;
  }

  /**
   * The context of `heap`: the same object on every call until it is
   * closed, then a new one. `ECLOSED` for a closed heap, `EINVAL` for
   * anything but a PrivateHeap. The context is held weakly by the heap: it
   * goes when the heap is collected, and what it made goes with it; close
   * it first to give back what its objects own (a FrameArena's heaps).
   *
   * @example
   * ```ts
   * import { PrivateHeap, StepContext } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * console.log(StepContext.of(heap) === StepContext.of(heap)); // true
   * ```
   */
  static of(heap: PrivateHeap): StepContext {
    if (!(heap instanceof PrivateHeap)) throw new HeapError("EINVAL", "StepContext.of", "heap must be a PrivateHeap");
    if (heap.closed) throw new HeapError("ECLOSED", "StepContext.of", "the heap was closed");
    let ctx = contexts.get(heap);
    if (ctx === undefined) contexts.set(heap, (ctx = makeContext(heap)));
    return ctx;
  }

  /**
   * The object stored under `key` in this context; on the first call for
   * the key, `make(heap)` makes it. Use it for what a step needs once per
   * heap (a FrameArena, a second cursor of a layout, a typed array the
   * size of the heap's entities), never for state of the simulation: that
   * lives in the heap. When the heap is restored the object stays, so it
   * must not hold values read from the heap (see the module comment).
   * `close()` disposes what has `Symbol.dispose`. `ECLOSED` once the
   * context or its heap is closed.
   *
   * @example
   * ```ts
   * import { FrameArena, PrivateHeap, StepContext } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * using ctx = StepContext.of(heap);
   * const scratch = ctx.get("scratch", () => FrameArena.create({ size: 1 << 16 }));
   * console.log(ctx.get("scratch", () => FrameArena.create({ size: 1 << 16 })) === scratch); // true
   * ```
   */
  get<T>(key: unknown, make: (heap: PrivateHeap) => T): T {
    this.#live("StepContext.get");
    if (this.#objects.has(key)) return this.#objects.get(key) as T;
    if (typeof make !== "function") throw new HeapError("EINVAL", "StepContext.get", "make must be a function");
    const made = make(this.heap);
    this.#objects.set(key, made);
    return made;
  }

  /**
   * This heap's cursor of `layout` named `name` (default ""), made on first
   * use with `layout.cursor(heap)` (`EINVAL` for anything but a
   * StructLayout). Two cursors of one layout, walking two
   * structs at once, take two names. The cursor's position is whatever the
   * last user left: position it (`at`, `index`) before reading. `ECLOSED`
   * once the context or its heap is closed.
   *
   * @example
   * ```ts
   * import { PrivateHeap, StepContext, struct } from "privheap";
   * const P = struct({ hp: "i32" });
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const base = P.alloc(heap, 2);
   * const ctx = StepContext.of(heap);
   * const a = ctx.cursor(P).index(base, 0);
   * const b = ctx.cursor(P, "other").index(base, 1);
   * a.hp = 5;
   * b.hp = a.hp + 1;
   * console.log(ctx.cursor(P) === a, ctx.cursor(P, "other").hp); // true 6
   * ```
   */
  cursor<F extends Fields>(layout: StructLayout<F>, name = ""): StructCursor<F> {
    this.#live("StepContext.cursor");
    if (!(layout instanceof StructLayout)) throw new HeapError("EINVAL", "StepContext.cursor", "layout must be a StructLayout (made by struct())");
    let named = this.#cursors.get(layout);
    if (named === undefined) this.#cursors.set(layout, (named = new Map()));
    let c = named.get(name) as StructCursor<F> | undefined;
    if (c === undefined) named.set(name, (c = layout.cursor(this.heap)));
    return c;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Dispose what `get` made that has `Symbol.dispose`, newest first, and
   * forget every object and cursor; `StepContext.of(heap)` then makes a
   * new context. When a dispose throws, the rest are still disposed and
   * the first error is thrown. Idempotent. Replay closes the context of
   * the heap it makes for a failed verify's re-run; the contexts of your
   * heaps are yours to close.
   *
   * @example
   * ```ts
   * import { PrivateHeap, StepContext } from "privheap";
   * using heap = PrivateHeap.create({ size: 1 << 20 });
   * const ctx = StepContext.of(heap);
   * ctx.close();
   * console.log(ctx.closed, StepContext.of(heap) !== ctx); // true true
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (contexts.get(this.heap) === this) contexts.delete(this.heap);
    const objects = [...this.#objects.values()].reverse();
    this.#objects.clear();
    this.#cursors.clear();
    let first: unknown;
    let failed = false;
    for (const o of objects) {
      const dispose = (o as Partial<Disposable> | null)?.[Symbol.dispose];
      if (typeof dispose !== "function") continue;
      try {
        dispose.call(o);
      } catch (e) {
        if (!failed) [first, failed] = [e, true];
      }
    }
    if (failed) throw first;
  }

  /** `using ctx = StepContext.of(heap)` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  #live(op: string): void {
    if (this.#closed) throw new HeapError("ECLOSED", op, "the step context was closed");
    if (this.heap.closed) throw new HeapError("ECLOSED", op, "the context's heap was closed");
  }
}
