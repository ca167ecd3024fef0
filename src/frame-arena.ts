/**
 * frame-arena.ts - FrameArena: per-tick scratch memory over private heaps,
 * discarded in O(1) at the end of every frame.
 *
 * How it allocates. The arena is C's frame scratch (csrc/scratch.c) with
 * its inline part written in JavaScript: small requests are bumped from the
 * scratch cursor in the heap's header (two u64 offsets at PH_SCRATCH_CURSOR,
 * next and end, the words ph_scratch_alloc bumps and ph_heap_check
 * validates), with no FFI call. When the cursor has no room the arena calls
 * ph_scratch_refill_with, which applies the one rule for every caller: a
 * new chunk, or above `bumpMax` bytes an allocation of its own. Ending a
 * frame is one `ph_heap_reset`, which empties the cursor (O(1) whatever the
 * frame held).
 *
 * What the fast path trusts. It keeps a copy of the cursor (`#next`, `#end`)
 * that C set or checked, and bumps only while the header's `next` and
 * `end` still equal the copy: a reset (cursor 0, 0), a restore (the
 * snapshot's cursor, which may share `next` with the copy over a shorter
 * chunk) or damage changes them, and the next `alloc` goes to C, which
 * checks the cursor before it bumps it (ECORRUPT when it lies outside its
 * chunk). So the arena never hands out bytes outside a chunk C has shown to
 * be one. Only the low words are compared, so the copy's values stay small
 * integers for the JIT (a region ends at 2^32 at most: the copy is taken
 * only from a cursor whose high words are 0).
 *
 * The arena's heaps are made with `zeroReentry: false`: the pages a frame
 * takes again after the reset keep the previous frame's bytes instead of
 * being written with zeros first (which would cost up to one more write of
 * everything a frame allocates). So a snapshot of an arena's heap, restored
 * and driven the same way, may read differently from it in bytes an
 * allocation never wrote; scratch is not meant to be compared.
 *
 * Double buffering (`buffers: 2`) alternates two heaps: the frame that just
 * ended stays readable through `previous` for one more frame, and its heap is
 * reset when the frame after it ends.
 *
 * What realloc knows. The fast path records nothing, so the arena keeps no
 * sizes: realloc takes the old size from the caller. The slow path records
 * what the frame was handed: the chunks it bumped (from the first offset
 * the arena saw handed out in each to its cursor's last `next`) and the
 * allocations of their own with their sizes. realloc copies only from
 * inside those, so a bad offset or size is an error, never a copy of bytes
 * the frame does not own. The records belong to one heap generation: a
 * reset (the end of a frame, or a reset of `heap`) drops them.
 */
import type { Pointer } from "bun:ffi";
import { HeapError, nativeFromCode } from "./errors.ts";
import { NATIVE_CONSTANTS } from "./ffi/symbols.ts";
import { type HeapOptions, PrivateHeap, symbolsOf } from "./heap.ts";

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
export interface FrameArenaOptions<B extends 1 | 2 = 1 | 2> {
  /** Region size of each heap, in bytes (see {@link PrivateHeap.create}). */
  size: number;
  /** 1 (default): one heap, reset at every frame end. 2: two heaps alternating, so the previous frame stays readable (and `previous` is typed `PrivateHeap`). */
  buffers?: B;
  /** First chunk size for small allocations, in bytes (default 64 KiB); chunks double up to 1 MiB, and are whole pages of at least 16 KiB. */
  chunkSize?: number;
  /** Requests above this many bytes (default 4096) that do not fit the current chunk are heap allocations of their own; the rest are carved from chunks. */
  bumpMax?: number;
  /**
   * The C core of the heaps (see {@link HeapOptions.backend}): "native"
   * (default) or "wasm". The arena reads its views from the heap at each
   * call, so a WebAssembly memory that grows between calls is followed.
   */
  backend?: HeapOptions["backend"];
}

const MAX_CHUNK = NATIVE_CONSTANTS.PH_SCRATCH_CHUNK_MAX;
/** Indexes of the cursor's u32 words in the region: next (low word), end (low, high). next's high word is 0 while end's is. */
const NEXT = NATIVE_CONSTANTS.PH_SCRATCH_CURSOR >>> 2;
const END = NEXT + 2;
const END_HIGH = NEXT + 3;
/** Stands for the header while there is no chunk (the fast path never reads it then). */
const NO_HEADER = new Uint32Array(END_HIGH + 1);
const CORRUPT = nativeFromCode("ECORRUPT");
/** Offsets and sizes are below 2^32; this is above every one (no chunk recorded). */
const NO_CHUNK = 2 ** 32;

/** `size` rounded up as the cursor moves for it: to 16, and 16 for 0. */
function bumped(size: number): number {
  return size === 0 ? 16 : size + 15 - ((size + 15) & 15);
}

/** What `previous` is for an arena of `B` buffers: a heap with two, nothing with one. */
export type PreviousHeap<B extends 1 | 2> = B extends 2 ? PrivateHeap : undefined;

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
export class FrameArena<B extends 1 | 2 = 1 | 2> implements Disposable {
  // Hot fields first (the fast path of alloc reads only these), so they sit
  // in the object's inline storage.
  /** Copy of the header's cursor as C last set or checked it. Without one, next (1) > end (0), so every request takes the slow path. */
  #next = 1;
  #end = 0;
  /** u32 view of the current heap (its header holds the cursor), or NO_HEADER. */
  #header: Uint32Array = NO_HEADER;
  readonly #bumpMax: number;
  readonly #firstChunk: number;
  readonly #heaps: PrivateHeap[];
  /** Region address of each heap, the handle ph_scratch_refill_with takes. */
  readonly #bases: Pointer[];
  #cur = 0;
  #heap: PrivateHeap;
  #inFrame = false;
  #generation = 1;
  #closed = false;
  // What the slow path saw handed out in this heap generation (see "What
  // realloc knows"). Cold: only #slowAlloc, realloc and endFrame touch them.
  /** The heap generation the records below belong to (0: none yet). */
  #recordedGeneration = 0;
  /** The cursor's chunk: its end, and the first offset handed out from it (NO_CHUNK: none). */
  #chunkEnd = 0;
  #chunkLo = NO_CHUNK;
  /** Earlier chunks of the generation, as [lo, hi) pairs: what was handed out from each. */
  readonly #retired: number[] = [];
  /** Allocations of their own (big or aligned requests): offset to size. */
  readonly #own = new Map<number, number>();

  private constructor(heaps: PrivateHeap[], chunkSize: number, bumpMax: number) {
    this.#heaps = heaps;
    this.#bases = heaps.map((h) => h.address as Pointer);
    this.#heap = heaps[0]!;
    this.#firstChunk = chunkSize;
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
  static create<B extends 1 | 2 = 1>(options: FrameArenaOptions<B>): FrameArena<B> {
    const buffers = options?.buffers ?? 1;
    if (buffers !== 1 && buffers !== 2) throw new HeapError("EINVAL", "FrameArena.create", `buffers must be 1 or 2, got ${String(buffers)}`);
    const chunkSize = options.chunkSize ?? NATIVE_CONSTANTS.PH_SCRATCH_CHUNK;
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 64 || chunkSize > MAX_CHUNK)
      throw new HeapError("EINVAL", "FrameArena.create", `chunkSize must be an integer from 64 to ${MAX_CHUNK}, got ${String(chunkSize)}`);
    const bumpMax = options.bumpMax ?? 4096;
    if (!Number.isSafeInteger(bumpMax) || bumpMax < 0 || bumpMax > chunkSize - 16)
      throw new HeapError("EINVAL", "FrameArena.create", `bumpMax must be an integer from 0 to chunkSize - 16, got ${String(bumpMax)}`);
    const heaps: PrivateHeap[] = [];
    try {
      for (let i = 0; i < buffers; i++) heaps.push(PrivateHeap.create({ size: options.size, zeroReentry: false, backend: options.backend }));
    } catch (e) {
      for (const h of heaps) h.close();
      throw e;
    }
    return new FrameArena<B>(heaps, chunkSize, bumpMax);
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
    this.#forget(0);
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
  frame<T>(fn: (arena: FrameArena<B>) => T): T {
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
    // Any request that fits the current chunk is carved from it (as in C's
    // ph_scratch_alloc); bumpMax only decides, in C, between a new chunk and
    // an allocation of its own.
    if (typeof size === "number" && size >>> 0 === size) {
      const off = this.#next;
      // Round up to 16 (a `& ~15` would go negative for sizes of 2^31 and more).
      const next = off + (size === 0 ? 16 : size + 15 - ((size + 15) & 15));
      // Strictly below end, so next fits the low word (a region ends at 2^32
      // at most); the header's next and end still being the copy means
      // nothing else moved the cursor.
      const header = this.#header;
      if (next < this.#end && header[NEXT] === off && header[END] === this.#end) {
        this.#next = next;
        header[NEXT] = next;
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
    this.#header = NO_HEADER;
    this.#next = 1;
    this.#end = 0;
  }

  #slowAlloc(size: number, align: number, op: string): number {
    if (typeof size !== "number" || size >>> 0 !== size) throw new HeapError("EINVAL", op, `size must be an integer from 0 to 2^32 - 1, got ${String(size)}`);
    if (this.#closed) throw new HeapError("ECLOSED", op);
    if (!this.#inFrame) throw new HeapError("EINVAL", op, "allocation outside a frame: call beginFrame() or frame(fn) first");
    const heap = this.#heap;
    this.#syncRecords();
    if (align > 16) {
      const aligned = heap.alignedAlloc(align, size);
      this.#own.set(aligned, size);
      return aligned;
    }
    const S = symbolsOf(heap);
    const base = this.#bases[this.#cur]!;
    const words = heap.u32;
    const before = words[NEXT]!;
    const endBefore = words[END]! + words[END_HIGH]! * 2 ** 32;
    const p = S.ph_scratch_refill_with(base, size, this.#firstChunk, this.#bumpMax);
    if (p === null) {
      const rc = S.ph_last_error();
      throw HeapError.fromNative(rc, op, rc === CORRUPT ? "the scratch cursor or the page map in the heap is damaged (check() reports it)" : `${size} bytes of scratch`);
    }
    const off = (Number(p) - base) >>> 0;
    // C moves next only when it bumped a cursor it checked or took a new
    // chunk; a big request leaves the cursor as it was, unchecked, and the
    // copy stays empty (the next request asks C again).
    if (words[NEXT] === before) {
      this.#noChunk();
      this.#own.set(off, size);
    } else {
      this.#recordChunk(off, before, endBefore, words[END]! + words[END_HIGH]! * 2 ** 32);
      // Copied from the low words so that offsets below 2^31 stay ints for
      // the JIT (an FFI return is a double even when integral; doubles in
      // #next and #end, or as the offsets callers compute with, measured
      // twice as slow). A chunk that ends at 2^32 (the top of a 4 GiB
      // region) is left to C: end 0 is never room.
      this.#header = words;
      this.#next = words[NEXT]!;
      this.#end = words[END_HIGH] === 0 ? words[END]! : 0;
    }
    return off;
  }

  /**
   * Note that the cursor, which ended at `endBefore` with `next` at `before`,
   * now ends at `end` after handing out `off`. A new end is a new chunk: the
   * recorded one is retired with what was handed out from it, unless the
   * cursor had left it without the arena (a restore), when what it handed
   * out is unknown and it is dropped.
   */
  #recordChunk(off: number, before: number, endBefore: number, end: number): void {
    if (end === this.#chunkEnd) return;
    if (this.#chunkLo !== NO_CHUNK && endBefore === this.#chunkEnd) this.#retired.push(this.#chunkLo, before);
    this.#chunkLo = off;
    this.#chunkEnd = end;
  }

  /** Drop the records when the heap's generation is not theirs (it was reset). */
  #syncRecords(): void {
    const generation = this.#heap.generation;
    if (generation !== this.#recordedGeneration) this.#forget(generation);
  }

  #forget(generation: number): void {
    this.#recordedGeneration = generation;
    this.#chunkEnd = 0;
    this.#chunkLo = NO_CHUNK;
    this.#retired.length = 0;
    this.#own.clear();
  }

  /**
   * Resize the allocation at `off` of this frame from `oldSize` bytes (the
   * size it was allocated or last resized with) to `newSize`, keeping its
   * contents up to the smaller size; returns its offset, which moves only
   * when it grows and cannot grow in place. The newest allocation grows or
   * shrinks in place while its chunk has room (O(1), no copy: the common
   * case of a list growing at the end of the frame's scratch); another one
   * keeps its place when it shrinks, and when it grows its bytes are copied
   * into a new allocation (the old bytes stay allocated until the frame
   * ends, as every allocation of the frame does). `realloc(0, 0, n)` is
   * `alloc(n)`. 16-byte aligned, like `alloc`.
   *
   * The arena keeps no sizes (so that `alloc` costs a few nanoseconds),
   * hence `oldSize`; it does record what the frame was handed, and refuses
   * rather than copies: `EBADPTR` for an offset that is not inside this
   * frame's scratch (from an earlier frame, from before a reset of `heap`,
   * or not from the arena), `EINVAL` for an `oldSize` that runs past what
   * the frame holds there or arguments that are not integers in [0, 2^32),
   * `ENOMEM` when the region is full (`off` then stays valid and unchanged).
   * An offset of an earlier frame that the current frame has handed out
   * again is the current frame's allocation and cannot be told apart.
   *
   * @example
   * ```ts
   * import { FrameArena } from "privheap";
   * using arena = FrameArena.create({ size: 1 << 20 });
   * arena.frame((a) => {
   *   let cap = 4;
   *   let list = a.alloc(cap * 4);
   *   for (let i = 0; i < 100; i++) {
   *     if (i === cap) list = a.realloc(list, cap * 4, (cap *= 2) * 4);
   *     a.u32[(list >>> 2) + i] = i;
   *   }
   *   console.log(a.u32[(list >>> 2) + 99]); // 99
   * });
   * ```
   */
  realloc(off: number, oldSize: number, newSize: number): number {
    const op = "FrameArena.realloc";
    if (typeof off !== "number" || off >>> 0 !== off) throw new HeapError("EINVAL", op, `offset must be an integer from 0 to 2^32 - 1, got ${String(off)}`);
    if (typeof oldSize !== "number" || oldSize >>> 0 !== oldSize) throw new HeapError("EINVAL", op, `oldSize must be an integer from 0 to 2^32 - 1, got ${String(oldSize)}`);
    if (typeof newSize !== "number" || newSize >>> 0 !== newSize) throw new HeapError("EINVAL", op, `newSize must be an integer from 0 to 2^32 - 1, got ${String(newSize)}`);
    if (this.#closed) throw new HeapError("ECLOSED", op);
    if (!this.#inFrame) throw new HeapError("EINVAL", op, "realloc outside a frame: call beginFrame() or frame(fn) first");
    if (off === 0 && oldSize === 0) return this.#slowAlloc(newSize, 16, op);
    // The newest allocation of the cursor's chunk, while the header's cursor
    // is still the arena's copy (as alloc's fast path requires).
    const header = this.#header;
    const next = this.#next;
    if (off + bumped(oldSize) === next && off >= this.#chunkLo && header[NEXT] === next && header[END] === this.#end) {
      const moved = off + bumped(newSize);
      if (moved < this.#end) {
        this.#next = moved;
        header[NEXT] = moved;
        return off;
      }
    } else {
      this.#syncRecords();
      this.#checkHeld(off, oldSize, op);
      if (newSize <= oldSize) return off;
    }
    const to = this.#slowAlloc(newSize, 16, op);
    this.#heap.u8.copyWithin(to, off, off + Math.min(oldSize, newSize));
    return to;
  }

  /** The usable size of the heap allocation at `off`, or -1 when there is none. */
  #liveSize(off: number): number {
    try {
      return this.#heap.usableSize(off);
    } catch (e) {
      if (e instanceof HeapError && e.code === "EBADPTR") return -1;
      throw e;
    }
  }

  /** Throw unless [off, off + size) lies inside what this frame was handed at `off`. */
  #checkHeld(off: number, size: number, op: string): void {
    const own = this.#own.get(off);
    let room = -1; // bytes the frame holds from off, or -1 when off is not its
    if (own !== undefined) {
      // Still live (a restore of an earlier snapshot may have freed it).
      if (this.#liveSize(off) >= own) room = own;
    } else if ((off & 15) === 0) {
      const w = this.#heap.u32;
      // The cursor's chunk, handed out up to the header's next, while the cursor is still in it.
      if (off >= this.#chunkLo && w[END]! + w[END_HIGH]! * 2 ** 32 === this.#chunkEnd && off < Math.min(w[NEXT]!, this.#chunkEnd)) {
        room = Math.min(w[NEXT]!, this.#chunkEnd) - off;
      } else {
        const retired = this.#retired;
        for (let i = 0; i < retired.length; i += 2) {
          if (off >= retired[i]! && off < retired[i + 1]!) {
            room = retired[i + 1]! - off;
            break;
          }
        }
      }
    }
    if (room < 0) throw new HeapError("EBADPTR", op, `offset ${off} is not in this frame's scratch (it is an earlier frame's, from before a reset of the heap, or not the arena's)`);
    if (size > room) throw new HeapError("EINVAL", op, `oldSize ${size} runs past the ${room} bytes this frame holds at offset ${off}`);
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
   * arena.frame((a) => console.log(a.previous.u32[off >>> 2])); // 7
   * ```
   */
  get previous(): PreviousHeap<B> {
    if (this.#closed) throw new HeapError("ECLOSED", "FrameArena.previous");
    return (this.#heaps.length === 2 ? this.#heaps[this.#cur ^ 1] : undefined) as PreviousHeap<B>;
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
    this.#forget(0);
    for (const h of this.#heaps) h.close();
  }

  /** `using arena = FrameArena.create(...)` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }
}
