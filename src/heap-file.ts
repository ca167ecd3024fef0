/**
 * heap-file.ts - mapping a heap file: a region that is a file mapped shared,
 * so unrelated processes (and workers) that open the same path use the same
 * heap, and the heap outlives them all.
 *
 * Invariant: the region handed back holds a heap that passed ph_heap_attach,
 * or one this call formatted in a file it created; anything else is
 * unmapped and reported. (The full check that `check` asks for is
 * PrivateHeap.open's: check() under the heap's lock.)
 */
import type { Pointer } from "bun:ffi";
import { existsSync } from "node:fs";
import { HeapError, nativeFromCode } from "./errors.ts";
import { loadNative } from "./ffi/loader.ts";
import { NATIVE_CONSTANTS } from "./ffi/symbols.ts";

/** Options of {@link PrivateHeap.open}. */
export interface OpenOptions {
  /**
   * Bytes of the region. Required when the file may be created; for an
   * existing file it must be the file's size, or larger with `create` (the
   * file and the heap grow; do that while no other process has it open; a
   * locked heap never grows: `EINVAL`).
   */
  size?: number;
  /** Create the file (sparse, `mode`) and format a heap in it when it does not exist. */
  create?: boolean;
  /** With `create`: fail with `EIO` when the file exists. */
  exclusive?: boolean;
  /** Permission bits of a new file (default 0o600: the owner only). */
  mode?: number;
  /** Validate every invariant before use (ph_heap_check: reads all the heap's metadata). */
  check?: boolean;
  /** For a new heap: zero memory when it is freed (PH_ZERO_ON_FREE). */
  zeroOnFree?: boolean;
  /**
   * For a new heap: several processes and threads may allocate and free at
   * once (PH_LOCKED). Every call then takes the lock in the file's
   * header. A heap created with it is always opened with it; asking for it
   * on a heap created without it is `EINVAL`.
   */
  lock?: boolean;
}

/** A mapped, validated heap file. */
export interface MappedHeapFile {
  base: Pointer;
  size: number;
  created: boolean;
}

function pathBytes(path: string): Uint8Array {
  const bytes = new TextEncoder().encode(`${path}\0`);
  if (bytes.indexOf(0) !== bytes.length - 1) throw new HeapError("EINVAL", "open", "path contains a NUL character");
  return bytes;
}

/**
 * Map an existing heap file at its size, or at `grow` bytes when that is
 * larger (the file grows). A locked heap never grows: other processes have
 * it mapped at its size, and would allocate past the end of their mapping.
 * Null with the native error recorded; EINVAL thrown for a locked heap.
 */
function mapExisting(path: string, cpath: Uint8Array, sizeOut: BigUint64Array, grow: number, mode: number): Pointer | null {
  const S = loadNative().symbols;
  sizeOut[0] = 0n; // the file's size
  const base = S.ph_region_map_file(cpath, sizeOut, 0, mode) as Pointer | null;
  if (base === null || grow <= Number(sizeOut[0])) return base;
  // Whether the heap is locked is in its header, which attach validates.
  const locked = S.ph_heap_attach(base, Number(sizeOut[0])) !== null && (S.ph_heap_flags(base) & NATIVE_CONSTANTS.PH_LOCKED) !== 0;
  S.ph_region_unmap(base, Number(sizeOut[0]));
  if (locked) throw new HeapError("EINVAL", "open", `${path}: a locked heap file keeps the size it was created with (other processes map it at that size)`);
  sizeOut[0] = BigInt(grow);
  return S.ph_region_map_file(cpath, sizeOut, NATIVE_CONSTANTS.PH_MAP_CREATE, mode) as Pointer | null;
}

/** Map `path` (creating it if asked and missing); see {@link OpenOptions}. */
export function mapHeapFile(path: string, options: OpenOptions, maxSize: number): MappedHeapFile {
  if (typeof path !== "string" || path === "") throw new HeapError("EINVAL", "open", "path must be a non-empty string");
  const { size, create = false, exclusive = false, mode = 0o600, zeroOnFree = false, lock = false } = options ?? {};
  if (size !== undefined && (!Number.isSafeInteger(size) || size <= 0))
    throw new HeapError("EINVAL", "open", `size must be a positive integer, got ${String(size)}`);
  if (size !== undefined && size > maxSize) throw new HeapError("ESIZE", "open", `${size} bytes is above the ${maxSize}-byte limit of one ArrayBuffer in this runtime`);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new HeapError("EINVAL", "open", `mode must be permission bits, got ${String(mode)}`);
  if (create && size === undefined) throw new HeapError("EINVAL", "open", "create needs a size");
  const S = loadNative().symbols;
  const cpath = pathBytes(path);
  const pageSize = NATIVE_CONSTANTS.PH_PAGE_SIZE;
  const want = size === undefined ? 0 : size - (size % pageSize);
  const sizeOut = new BigUint64Array(1);

  // First try to create it ourselves (exclusively): only then is it ours to format.
  let created = false;
  let base: Pointer | null = null;
  if (create) {
    sizeOut[0] = BigInt(want);
    base = S.ph_region_map_file(cpath, sizeOut, NATIVE_CONSTANTS.PH_MAP_CREATE | NATIVE_CONSTANTS.PH_MAP_EXCL, mode) as Pointer | null;
    if (base !== null) created = true;
    else if (exclusive || !existsSync(path)) throw HeapError.fromNative(S.ph_last_error(), "open", `${path}: cannot create the file`);
  }
  if (base === null) {
    base = mapExisting(path, cpath, sizeOut, create ? want : 0, mode);
    if (base === null) {
      const rc = S.ph_last_error();
      const why = rc === nativeFromCode("ESIZE") ? `the file is smaller than ${want} bytes (or empty)` : "cannot open or map the file";
      throw HeapError.fromNative(rc, "open", `${path}: ${why}`);
    }
  }
  const mapped = Number(sizeOut[0]);
  const fail = (e: HeapError): never => {
    S.ph_region_unmap(base, mapped);
    throw e;
  };
  if (mapped > maxSize) fail(new HeapError("ESIZE", "open", `${path}: ${mapped} bytes is above the ${maxSize}-byte limit of one ArrayBuffer in this runtime`));
  if (size !== undefined && !create && mapped !== want)
    fail(new HeapError("ESIZE", "open", `${path}: the file has ${mapped} bytes, ${want} were asked (pass create to grow it)`));
  if (created) {
    // Not PH_REGION_ZEROED: every page counts as touched, so a process that
    // attaches later never has to write the header to say so.
    const flags = (zeroOnFree ? NATIVE_CONSTANTS.PH_ZERO_ON_FREE : 0) | (lock ? NATIVE_CONSTANTS.PH_LOCKED : 0);
    const h = S.ph_heap_init(base, mapped, flags);
    if (h === null) {
      fail(HeapError.fromNative(S.ph_last_error(), "open", `${path}: formatting ${mapped} bytes`));
    }
  } else {
    if (S.ph_heap_attach(base, mapped) === null) fail(HeapError.fromNative(S.ph_last_error(), "open", `${path}: not a usable privheap heap file`));
    if (lock && (S.ph_heap_flags(base) & NATIVE_CONSTANTS.PH_LOCKED) === 0)
      fail(new HeapError("EINVAL", "open", `${path}: the heap was created without lock; others may be using it unlocked`));
  }
  return { base, size: mapped, created };
}
