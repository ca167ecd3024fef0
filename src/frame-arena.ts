/**
 * frame-arena.ts - FrameArena: per-tick scratch memory over private heaps,
 * discarded in O(1) at the end of every frame.
 *
 * How it allocates. Small requests are carved from chunks that the arena
 * takes from its heap with one `malloc` each; the chunk's cursor (the next
 * free offset and the chunk's end, two f64s) is stored in the chunk's first
 * 16 bytes, inside the region, so the allocation state stays in the region
 * like every other allocator state (DESIGN.md, invariant 1). The arena keeps
 * a copy of the cursor in two fields and writes `next` through to the region
 * on every allocation (reading it back from the typed array would double the
 * cost of a small `alloc`, measured: ~2.9 vs ~1.4 ns), so a small `alloc` is
 * a comparison and one typed-array store, with no FFI call. Requests above
 * `bumpMax` bytes, or aligned beyond 16, are heap allocations of their own.
 * Ending a frame is one `ph_heap_reset` (O(1) whatever the frame held).
 *
 * A reset the arena did not make (`arena.heap.reset()` inside a frame)
 * frees the chunk under the cursor, and the heap hands its pages out again.
 * So the fast path also compares the heap's generation (read from the
 * region header, where every reset increments it) with the one the chunk
 * was taken in: after any reset the next `alloc` takes a new chunk.
 *
 * Double buffering (`buffers: 2`) alternates two heaps: the frame that just
 * ended stays readable through `previous` for one more frame, and its heap is
 * reset when the frame after it ends.
 */
import { HeapError } from "./errors.ts";
import { NATIVE_CONSTANTS } from "./ffi/symbols.ts";
import { PrivateHeap } from "./heap.ts";

/**
 * Options of {@link FrameArena.create}.
 *
 * @example
 * ```ts
 * import { FrameArena, type FrameArenaOptions } from "privheap";
 * const opts: FrameArenaOptions = { size: 16 << 20, buffers: 2, chunkSize: 256 * 1024 };
 * using arena = FrameArena.create(opts);
 * ```
 */
export interface FrameArenaOptions {
  /** Region size of each heap, in bytes (see {@link PrivateHeap.create}). */
  size: number;
  /** 1 (default): one heap, reset at every frame end. 2: two heaps alternating, so the previous frame stays readable. */
  buffers?: 1 | 2;
  /** First chunk size for small allocations, in bytes (default 64 KiB); chunks double up to 1 MiB. */
  chunkSize?: number;
  /** Requests up to this many bytes are carved from chunks (default 4096); larger ones are heap allocations. */
  bumpMax?: number;
}

const MAX_CHUNK = 1 << 20;
/** Where the cursor is written when there is no chunk (never, in fact: see #next). */
const NO_CHUNK = new Float64Array(2);
/** Index of the low 32 bits of the header's generation in a Uint32Array over the region. */
const GENERATION_WORD = NATIVE_CONSTANTS.PH_GENERATION_OFFSET >>> 2;
/** Stands for the header while there is no chunk (the fast path never reads it then). */
const NO_HEADER = new Uint32Array(GENERATION_WORD + 2);

/**
 * Per-frame scratch memory: allocate by offset during a frame, and every
 * allocation of the frame is gone when it ends.
 *
 * @example
 * ```ts
 * import { FrameArena } from "privheap";
 * using arena = FrameArena.create({ size: 8 << 20 });
 * for (let tick = 0; tick < 3; tick++) {
 *   arena.frame(() => {
 *     const off = arena.alloc(16 * 4); // 16 floats of scratch
 *     arena.f32.fill(tick, off >>> 2, (off >>> 2) + 16);
 *   });
 * }
 * ```
 */
export class FrameArena implements Disposable {
  // Hot fields first (the fast path of alloc reads only these), so they sit
  // in the object's inline storage.
  /** Copy of the cursor: next free offset and chunk end. Without a chunk, next (1) > end (0), so every request takes the slow path. */
  #next = 1;
  #end = 0;
  /** f64 view holding the current chunk cursor, or NO_CHUNK. */
  #cursor: Float64Array = NO_CHUNK;
  /** Index of the cursor's `next` word in #cursor (`end` follows it). */
  #ci = 0;
  /** u32 view of the chunk's heap, and the low word of its generation when the chunk was taken. */
  #header: Uint32Array = NO_HEADER;
  #chunkGeneration = 0;
  readonly #bumpMax: number;
  readonly #heaps: PrivateHeap[];
  #cur = 0;
  #heap: PrivateHeap;
  #inFrame = false;
  #generation = 1;
  #closed = false;
  #nextChunk: number;
  readonly #firstChunk: number;

  private constructor(heaps: PrivateHeap[], chunkSize: number, bumpMax: number) {
    this.#heaps = heaps;
    this.#heap = heaps[0]!;
    this.#firstChunk = chunkSize;
    this.#nextChunk = chunkSize;
    this.#bumpMax = bumpMax;
  }

  /**
   * Make an arena of one heap, or two alternating heaps with `buffers: 2`.
   *
   * @example
   * ```ts
   * import { FrameArena } from "privheap";
   * const arena = FrameArena.create({ size: 4 << 20, buffers: 2 });
   * arena.close();
   * ```
   */
  static create(options: FrameArenaOptions): FrameArena {
    const buffers = options?.buffers ?? 1;
    if (buffers !== 1 && buffers !== 2) throw new HeapError("EINVAL", "FrameArena.create", `buffers must be 1 or 2, got ${String(buffers)}`);
    const chunkSize = options.chunkSize ?? 64 * 1024;
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 64 || chunkSize > MAX_CHUNK)
      throw new HeapError("EINVAL", "FrameArena.create", `chunkSize must be an integer from 64 to ${MAX_CHUNK}, got ${String(chunkSize)}`);
    const bumpMax = options.bumpMax ?? 4096;
    if (!Number.isSafeInteger(bumpMax) || bumpMax < 0 || bumpMax > chunkSize - 16)
      throw new HeapError("EINVAL", "FrameArena.create", `bumpMax must be an integer from 0 to chunkSize - 16, got ${String(bumpMax)}`);
    const heaps: PrivateHeap[] = [];
    try {
      for (let i = 0; i < buffers; i++) heaps.push(PrivateHeap.create({ size: options.size }));
    } catch (e) {
      for (const h of heaps) h.close();
      throw e;
    }
    return new FrameArena(heaps, chunkSize, bumpMax);
  }

  // ---- frames ---------------------------------------------------------------

  /**
   * Start a frame: `alloc` is allowed until `endFrame()`.
   *
   * @example
   * ```ts
   * import { FrameArena } from "privheap";
   * using arena = FrameArena.create({ size: 1 << 20 });
   * arena.beginFrame();
   * const off = arena.alloc(256);
   * arena.endFrame(); // off is gone
   * ```
   */
  beginFrame(): void {
    if (this.#closed) throw new HeapError("ECLOSED", "FrameArena.beginFrame");
    if (this.#inFrame) throw new HeapError("EINVAL", "FrameArena.beginFrame", "a frame is already open: call endFrame() first");
    this.#inFrame = true;
  }

  /**
   * End the frame: its allocations are discarded in O(1) (with `buffers: 2`
   * they stay readable through `previous` until the next frame ends), and
   * `generation` increments.
   *
   * @example
   * ```ts
   * import { FrameArena } from "privheap";
   * using arena = FrameArena.create({ size: 1 << 20 });
   * arena.beginFrame();
   * arena.alloc(100);
   * arena.endFrame();
   * console.log(arena.generation); // 2
   * ```
   */
  endFrame(): void {
    if (this.#closed) throw new HeapError("ECLOSED", "FrameArena.endFrame");
    if (!this.#inFrame) throw new HeapError("EINVAL", "FrameArena.endFrame", "no frame is open: call beginFrame() first");
    this.#inFrame = false;
    this.#noChunk();
    this.#nextChunk = this.#firstChunk;
    if (this.#heaps.length === 2) {
      this.#cur ^= 1;
      this.#heap = this.#heaps[this.#cur]!;
    }
    this.#heap.reset();
    this.#generation++;
  }

  /**
   * Run `fn` inside a frame and end the frame afterwards, even when `fn`
   * throws. Returns what `fn` returns (copy anything you keep out of the
   * arena before returning).
   *
   * @example
   * ```ts
   * import { FrameArena } from "privheap";
   * using arena = FrameArena.create({ size: 1 << 20 });
   * const sum = arena.frame((a) => {
   *   const off = a.alloc(8 * 4);
   *   a.f64.set([1, 2, 3, 4], off >>> 3);
   *   return a.f64.subarray(off >>> 3, (off >>> 3) + 4).reduce((x, y) => x + y);
   * });
   * console.log(sum); // 10
   * ```
   */
  frame<T>(fn: (arena: FrameArena) => T): T {
    this.beginFrame();
    try {
      return fn(this);
    } finally {
      if (!this.#closed) this.endFrame();
    }
  }

  // ---- allocation -------------------------------------------------------------

  /**
   * Allocate `size` bytes of scratch for this frame; returns the offset in
   * the current heap (`arena.heap`, whose views `arena.u8`, `arena.f32`, ...
   * are also here). Every allocation is 16-byte aligned. Memory is not
   * zeroed (see {@link FrameArena.allocZeroed}). Throws `EINVAL` outside a
   * frame or for a size that is not an integer in [0, 2^32), `ENOMEM` when
   * the region is full.
   *
   * @example
   * ```ts
   * import { FrameArena } from "privheap";
   * using arena = FrameArena.create({ size: 1 << 20 });
   * arena.frame((a) => {
   *   const off = a.alloc(12);
   *   a.f32[off >>> 2] = 1;
   * });
   * ```
   */
  alloc(size: number): number {
    // Kept small so the JIT inlines it; every check failure goes to #slowAlloc.
    // Any request that fits the current chunk is carved from it; bumpMax only
    // decides, in #slowAlloc, between a new chunk and an allocation of its own.
    if (typeof size === "number" && size >>> 0 === size) {
      const off = this.#next;
      // Round up to 16 (a `& ~15` would go negative for sizes of 2^31 and more).
      const next = off + (size === 0 ? 16 : size + 15 - ((size + 15) & 15));
      // The chunk is still the heap's only while no reset came in between.
      if (next <= this.#end && this.#header[GENERATION_WORD] === this.#chunkGeneration) {
        this.#next = next;
        this.#cursor[this.#ci] = next;
        return off;
      }
    }
    return this.#slowAlloc(size, 16, "FrameArena.alloc");
  }

  /**
   * Like {@link FrameArena.alloc}, aligned to `align` (a power of two).
   *
   * @example
   * ```ts
   * import { FrameArena } from "privheap";
   * using arena = FrameArena.create({ size: 1 << 20 });
   * arena.frame((a) => console.log(a.allocAligned(256, 100) % 256)); // 0
   * ```
   */
  allocAligned(align: number, size: number): number {
    if (typeof align !== "number" || align >>> 0 !== align || align === 0 || (align & (align - 1)) !== 0)
      throw new HeapError("EINVAL", "FrameArena.allocAligned", `align must be a power of two below 2^32, got ${String(align)}`);
    if (align <= 16) return this.alloc(size);
    return this.#slowAlloc(size, align, "FrameArena.allocAligned");
  }

  /**
   * Like {@link FrameArena.alloc}, with the bytes zeroed.
   *
   * @example
   * ```ts
   * import { FrameArena } from "privheap";
   * using arena = FrameArena.create({ size: 1 << 20 });
   * arena.frame((a) => console.log(a.u8[a.allocZeroed(10) + 9])); // 0
   * ```
   */
  allocZeroed(size: number): number {
    const off = this.alloc(size);
    this.#heap.u8.fill(0, off, off + size);
    return off;
  }

  #noChunk(): void {
    this.#cursor = NO_CHUNK;
    this.#header = NO_HEADER;
    this.#ci = 0;
    this.#next = 1;
    this.#end = 0;
  }

  #slowAlloc(size: number, align: number, op: string): number {
    if (typeof size !== "number" || size >>> 0 !== size) throw new HeapError("EINVAL", op, `size must be an integer from 0 to 2^32 - 1, got ${String(size)}`);
    if (this.#closed) throw new HeapError("ECLOSED", op);
    if (!this.#inFrame) throw new HeapError("EINVAL", op, "allocation outside a frame: call beginFrame() or frame(fn) first");
    const heap = this.#heap;
    if (size > this.#bumpMax || align > 16) return align > 16 ? heap.alignedAlloc(align, size) : heap.malloc(size);
    // A new chunk; the rest of the old one is left unused until the reset.
    const need = (size === 0 ? 16 : (size + 15) & ~15) + 16;
    let bytes = this.#nextChunk > need ? this.#nextChunk : need;
    let chunk: number;
    try {
      chunk = heap.malloc(bytes) >>> 0;
    } catch (e) {
      if (!(e instanceof HeapError) || e.code !== "ENOMEM" || bytes === need) throw e;
      bytes = need; // the region is nearly full: try a chunk just big enough
      chunk = heap.malloc(bytes) >>> 0;
    }
    this.#nextChunk = bytes * 2 < MAX_CHUNK ? bytes * 2 : MAX_CHUNK;
    const f64 = heap.f64;
    this.#header = heap.u32;
    this.#chunkGeneration = this.#header[GENERATION_WORD]!;
    // `>>> 0` above and `>>> 3` here keep offsets int-typed for the JIT (an
    // FFI f64 return is a double even when integral; doubles in the cursor
    // fields measured twice as slow).
    const i = chunk >>> 3;
    const off = chunk + 16;
    f64[i] = off + need - 16;
    f64[i + 1] = chunk + bytes;
    this.#cursor = f64;
    this.#ci = i;
    // The values just stored, computed again rather than read back (they stay ints).
    this.#next = off + need - 16;
    this.#end = chunk + bytes;
    return off;
  }

  // ---- heaps and views ----------------------------------------------------------
  // The views are the current heap's, the same set as PrivateHeap's (a test
  // compares the two lists).

  /**
   * The heap this frame allocates from (alternates with `buffers: 2`).
   *
   * @example
   * ```ts
   * import { FrameArena } from "privheap";
   * using arena = FrameArena.create({ size: 1 << 20 });
   * arena.frame((a) => console.log(a.heap.check())); // 0
   * ```
   */
  get heap(): PrivateHeap {
    if (this.#closed) throw new HeapError("ECLOSED", "FrameArena.heap");
    return this.#heap;
  }

  /**
   * With `buffers: 2`, the heap holding the previous frame's allocations
   * (readable until the current frame ends); `undefined` with one buffer.
   *
   * @example
   * ```ts
   * import { FrameArena } from "privheap";
   * using arena = FrameArena.create({ size: 1 << 20, buffers: 2 });
   * const off = arena.frame((a) => { const o = a.alloc(4); a.u32[o >>> 2] = 7; return o; });
   * arena.frame((a) => console.log(a.previous!.u32[off >>> 2])); // 7
   * ```
   */
  get previous(): PrivateHeap | undefined {
    if (this.#closed) throw new HeapError("ECLOSED", "FrameArena.previous");
    return this.#heaps.length === 2 ? this.#heaps[this.#cur ^ 1] : undefined;
  }

  /**
   * 1 for a new arena, incremented by every `endFrame()`.
   *
   * @example
   * ```ts
   * import { FrameArena } from "privheap";
   * using arena = FrameArena.create({ size: 1 << 20 });
   * arena.frame(() => {});
   * console.log(arena.generation); // 2
   * ```
   */
  get generation(): number {
    return this.#generation;
  }

  /**
   * True between `beginFrame()` and `endFrame()`.
   *
   * @example
   * ```ts
   * import { FrameArena } from "privheap";
   * using arena = FrameArena.create({ size: 1 << 20 });
   * arena.frame((a) => console.log(a.inFrame)); // true
   * ```
   */
  get inFrame(): boolean {
    return this.#inFrame;
  }

  /** Number of heaps: 1, or 2 with double buffering. @example `FrameArena.create({ size: 1 << 20, buffers: 2 }).buffers // 2` */
  get buffers(): number {
    return this.#heaps.length;
  }

  /** Byte view of the current heap. @example `arena.u8[off] = 1;` */
  get u8(): Uint8Array {
    return this.heap.u8;
  }
  /** Int8 view of the current heap. @example `arena.i8[off] = -1;` */
  get i8(): Int8Array {
    return this.heap.i8;
  }
  /** Uint16 view of the current heap. @example `arena.u16[off >>> 1] = 65535;` */
  get u16(): Uint16Array {
    return this.heap.u16;
  }
  /** Int16 view of the current heap. @example `arena.i16[off >>> 1] = -2;` */
  get i16(): Int16Array {
    return this.heap.i16;
  }
  /** Int32 view of the current heap. @example `arena.i32[off >>> 2] = -1;` */
  get i32(): Int32Array {
    return this.heap.i32;
  }
  /** Uint32 view of the current heap. @example `arena.u32[off >>> 2] = 1;` */
  get u32(): Uint32Array {
    return this.heap.u32;
  }
  /** Float32 view of the current heap. @example `arena.f32[off >>> 2] = 0.5;` */
  get f32(): Float32Array {
    return this.heap.f32;
  }
  /** Float64 view of the current heap. @example `arena.f64[off >>> 3] = 0.5;` */
  get f64(): Float64Array {
    return this.heap.f64;
  }
  /** BigUint64 view of the current heap. @example `arena.u64[off / 8] = 1n;` */
  get u64(): BigUint64Array {
    return this.heap.u64;
  }
  /** BigInt64 view of the current heap. @example `arena.i64[off / 8] = -1n;` */
  get i64(): BigInt64Array {
    return this.heap.i64;
  }
  /** DataView of the current heap. @example `arena.view.getUint8(off);` */
  get view(): DataView {
    return this.heap.view;
  }

  // ---- lifetime -------------------------------------------------------------------

  /** True after `close()`. @example `arena.close(); arena.closed // true` */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Close every heap of the arena (their views are emptied first; see
   * {@link PrivateHeap.close}). Idempotent.
   *
   * @example
   * ```ts
   * import { FrameArena } from "privheap";
   * const arena = FrameArena.create({ size: 1 << 20 });
   * arena.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#inFrame = false;
    this.#noChunk();
    for (const h of this.#heaps) h.close();
  }

  /** `using arena = FrameArena.create(...)` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }
}
