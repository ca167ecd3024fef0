/*
 * privheap.h - a private heap that lives entirely inside one memory region.
 *
 * Every byte of allocator state (header, page map, bins, statistics, named
 * roots) is stored inside the region, and every internal link is an offset or
 * a page index. So a byte copy of the region's used prefix is a complete
 * snapshot, and the same bytes work when mapped at another address.
 *
 * Contents
 *   1. Conventions and error codes
 *   2. Heap lifecycle: init, attach, reset, sizes
 *   3. Allocation (pointer API)
 *   4. Allocation by offset (for FFI callers)
 *   5. Named roots
 *   6. Introspection: check, stats, walk
 *   7. Region helpers: anonymous and file-backed mappings
 *   8. Seed-compatible API over one default heap
 *   9. Frame scratch: bump allocation until the next reset
 *  10. Snapshots: restoring a heap from a copy of its used prefix
 *  11. Locking: several writers on one heap (PH_LOCKED)
 *  12. Written pages: which pages changed, as the operating system saw it
 *  13. The heap checksum: a sum of page hashes, kept up to date page by page
 *  14. Memory given back: free pages returned to the operating system
 *  15. Content hashes: XXH3-64, the hash of privheap's file formats
 *
 * Threads: a heap is used by one thread at a time; different heaps are
 * independent. Nothing here keeps allocator state outside the region, and
 * the library never prints.
 */
#ifndef PRIVHEAP_H
#define PRIVHEAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define PH_API __declspec(dllexport)
#else
#define PH_API __attribute__((visibility("default")))
#endif

/*
 * Attributes that let GCC and Clang check the caller; nothing where the
 * compiler lacks them (MSVC). PH_NODISCARD: ignoring the result loses
 * memory, a failure or a verdict (not on the frees, resets and unmaps,
 * whose failures change nothing, as with free()). PH_MALLOC: the result is
 * fresh memory that aliases nothing (not realloc, which may return its
 * argument, nor init, attach and restore, which return the base they were
 * given). PH_ALLOC_SIZE(i[, j]): the result holds argument i (times j)
 * bytes. No alloc_align: alignment is relative to the region's base.
 */
#if defined(__has_attribute)
#define PH__HAS_ATTRIBUTE(x) __has_attribute(x)
#else
#define PH__HAS_ATTRIBUTE(x) 0
#endif
#if PH__HAS_ATTRIBUTE(warn_unused_result)
#define PH_NODISCARD __attribute__((warn_unused_result))
#else
#define PH_NODISCARD
#endif
#if PH__HAS_ATTRIBUTE(malloc)
#define PH_MALLOC __attribute__((malloc))
#else
#define PH_MALLOC
#endif
#if PH__HAS_ATTRIBUTE(alloc_size)
#define PH_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#else
#define PH_ALLOC_SIZE(...)
#endif
#undef PH__HAS_ATTRIBUTE

/* ------------------------------------------------------------------------ */
/* 1. Conventions and error codes                                           */
/* ------------------------------------------------------------------------ */

/*
 * Functions that return int return 0 (or a count) on success and a negative
 * PH_E* code on failure. Functions that return a pointer return NULL on
 * failure. Offset functions (section 4) return a non-negative offset or a
 * negative PH_E* code. Getters that return a size, a count or an offset
 * (ph_heap_used_bytes, ph_heap_generation, ph_heap_flags, roots) return 0
 * for a NULL heap, and their double forms PH_EINVAL. Every call that fails
 * records its code for ph_last_error(), whatever it returns, and changes
 * no byte of the region.
 */
#define PH_OK 0
#define PH_ENOMEM (-1)      /* the region has no room for the request */
#define PH_EINVAL (-2)      /* an argument is out of range (size, alignment, name) */
#define PH_EBADPTR (-3)     /* not the start of a live allocation of this heap */
#define PH_EDOUBLEFREE (-4) /* the allocation was already freed */
#define PH_ECORRUPT (-5)    /* the bytes are not a consistent privheap region */
#define PH_EVERSION (-6)    /* a privheap region of an incompatible version */
#define PH_ESIZE (-7)       /* region too small, too large, or smaller than its header says */
#define PH_EIO (-8)         /* the operating system refused a mapping or file operation */
#define PH_ENOSPC (-9)      /* no free named-root slot */
#define PH_EBUSY (-10)      /* another process has the file mapped or locked: try again later */
#define PH_ECODE_MIN (-10)  /* the lowest code this version returns */

/* A short, static English description of a PH_E* code ("unknown error" otherwise). */
PH_API const char *ph_strerror(int code);

/* The code of the calling thread's most recent failure (0 if none yet).
 * Success does not clear it. */
PH_API int ph_last_error(void);

/* The operating system's error number (errno, or GetLastError on Windows)
 * behind the calling thread's most recent failure, or 0 when that failure
 * did not come from the operating system. */
PH_API int ph_last_os_error(void);

/* Layout version of the region format; a region of another version fails
 * ph_heap_attach with PH_EVERSION. */
#define PH_ABI_VERSION 3u

/* The allocator's page: the unit of large allocations and of the page map.
 * Fixed on every platform, so regions are portable byte for byte. */
#define PH_PAGE_SIZE 4096u

/* Largest request served from a small size class; larger ones are page runs. */
#define PH_SMALL_MAX 14336u

/* The lock block: header bytes [PH_LOCK_BLOCK_OFFSET, PH_LOCK_BLOCK_END)
 * hold the region's state, not the heap's: its lock (section 11) and
 * whether its memory may be given back (section 14). A restore or
 * ph_heap_put_pages leaves them as the destination has them, so checksums
 * that must agree across lock holders leave them out. */
#define PH_LOCK_BLOCK_OFFSET 6480u
#define PH_LOCK_BLOCK_END 6504u

/* Number and length of named roots. */
#define PH_ROOT_COUNT 32u
#define PH_ROOT_NAME_MAX 31u /* bytes, not counting the terminating NUL */

/* Alignment in the handle and offset APIs: an allocation of n bytes is
 * aligned to the largest power of two that divides its size class, up to
 * a page, and page runs (requests above PH_SMALL_MAX, and the 4, 8, 12
 * and 16 KiB classes) are page aligned. So every allocation is 8-byte
 * aligned, a power-of-two size is naturally aligned, and n in 17..24,
 * 33..40 or 49..56 is sure of 8 bytes only (the 24, 40 and 56-byte
 * classes, whose blocks alternate between 0 and 8 mod 16);
 * ph_heap_aligned_alloc asks for more. The seed API (section 8) follows
 * malloc's rule instead. Alignments are relative to the region base; they
 * are absolute when the base is at least that aligned (ph_heap_init takes
 * page-aligned bases; the region helpers below return 2 MiB-aligned ones). */

/* ------------------------------------------------------------------------ */
/* 2. Heap lifecycle                                                        */
/* ------------------------------------------------------------------------ */

/* A heap handle is the region base: the header lives at offset 0. */
typedef struct ph_heap ph_heap_t;

/* Init flags. */
#define PH_ZERO_ON_FREE 1u  /* freed memory is zeroed: free space below
                               used_bytes always reads as 0 */
#define PH_REGION_ZEROED 2u /* the caller vouches that the region reads as 0
                               (a fresh mapping): calloc can skip clearing
                               pages never used. Not stored. */
#define PH_LOCKED 4u        /* a heap shared by several writers: each takes
                               ph_heap_lock around its calls (section 11). */
#define PH_PURGE 8u         /* the region is private anonymous memory: free
                               pages go back to the system as they pile up
                               (section 14) */
#define PH_PURGE_NOW 16u    /* the same, each free run at once (not with
                               PH_PURGE) */
#define PH_ZERO_REENTRY 32u /* pages that re-enter the used prefix (left
                               above used_bytes by a free of the top or a
                               reset, then taken again) are zeroed as they
                               re-enter, so they read as 0 as pages never
                               used do. A heap restored from a copy of the
                               used prefix and the heap it was copied from
                               then hold the same bytes when driven the same
                               way (a copy holds zeros above its used
                               prefix). Without it they keep what they held,
                               as other allocators' reused pages do. The
                               cost is a write of each page that re-enters
                               (a page already zero is only read). */

/*
 * Format `size` bytes at `base` as an empty heap. `base` must be aligned to
 * PH_PAGE_SIZE; `size` is rounded down to whole pages and must be at least
 * ph_heap_min_size(). Only the header and the first page-map leaf are
 * written; the rest of the region is untouched.
 * Returns the handle (== base), or NULL with PH_EINVAL / PH_ESIZE.
 */
PH_NODISCARD PH_API ph_heap_t *ph_heap_init(void *base, size_t size, unsigned flags);

/*
 * Adopt a region formatted earlier, possibly by another process or at
 * another address. Validates the header in O(1): magic (PH_ECORRUPT),
 * version (PH_EVERSION), recorded sizes against `size` (PH_ESIZE) and the
 * header's own offsets (PH_ECORRUPT): every offset and index there that
 * the allocator follows (leaf directory, free-list heads, tree root, bins
 * and their current runs, scratch cursor). It does not scan the page map:
 * call ph_heap_check() before trusting bytes from an untrusted source.
 * Without it, an operation that meets a damaged map entry fails with
 * PH_ECORRUPT; none faults, loops or writes outside the region.
 * The heap keeps the size recorded in its header, even when `size` is
 * larger: other processes may map it at that size (ph_heap_grow raises it).
 * A PH_LOCKED heap is validated under its lock, waiting at most
 * PH_ATTACH_WAIT_MS for a live holder (then PH_EBUSY); one whose lock
 * records a failed takeover attaches, and its locks say PH_ECORRUPT until
 * it is restored or reset (section 11).
 */
PH_NODISCARD PH_API ph_heap_t *ph_heap_attach(void *base, size_t size);

/*
 * Let the heap use `size` bytes: the pages above its recorded size, up to
 * its page-map capacity, become free space. The caller promises that the
 * region has `size` bytes wherever it is mapped (for a heap file: use
 * ph_heap_file_grow, which proves no other process maps it). 0, PH_EINVAL
 * (NULL, or a PH_LOCKED heap, which keeps its size) or PH_ESIZE (smaller
 * than now, or more pages than the heap's page map can index).
 */
PH_NODISCARD PH_API int ph_heap_grow(ph_heap_t *h, size_t size);

/* Discard every allocation and named root in O(1), whatever the heap holds.
 * The generation counter increments. Returns 0 or PH_EINVAL (NULL heap). */
PH_API int ph_heap_reset(ph_heap_t *h);

/* Smallest region ph_heap_init accepts. */
PH_API size_t ph_heap_min_size(void);

/* Bytes at the start of a region that ph_heap_init reserves (header and first
 * page-map leaf) for a region of `size` bytes: the fixed overhead. */
PH_API size_t ph_heap_overhead(size_t size);

/* The largest single allocation an empty heap of `size` bytes can serve:
 * whole pages less the header and the page-map leaves (16 bytes per page). */
PH_API size_t ph_heap_max_alloc(size_t size);

/* Bytes a snapshot must copy: everything below the high-water mark. */
PH_API size_t ph_heap_used_bytes(const ph_heap_t *h);

/* Incremented by every reset; starts at 1. */
PH_API uint64_t ph_heap_generation(const ph_heap_t *h);
/* Where the header keeps it (a little-endian u64), for callers that cache
 * state about the heap and must notice a reset without a call. */
#define PH_GENERATION_OFFSET 232u
/* Where the header keeps the frees since the last reset (a little-endian
 * u64; a realloc that moves frees the old block): with the generation, a
 * caller that cached "this allocation is live" sees when to check again. */
#define PH_FREE_COUNT_OFFSET 296u
/* Bytes of the header at offset 0: no allocation or frame scratch lies
 * below this. */
#define PH_HEADER_BYTES 8192u

/* The flags given to ph_heap_init that it keeps: PH_ZERO_ON_FREE, PH_LOCKED,
 * and the purge mode (PH_PURGE or PH_PURGE_NOW, section 14). */
PH_API unsigned ph_heap_flags(const ph_heap_t *h);

/* ------------------------------------------------------------------------ */
/* 3. Allocation (pointer API)                                              */
/* ------------------------------------------------------------------------ */

/* malloc(0) returns a unique minimal allocation. NULL + PH_ENOMEM on exhaustion. */
PH_NODISCARD PH_MALLOC PH_ALLOC_SIZE(2) PH_API void *ph_heap_malloc(ph_heap_t *h, size_t size);

/* Zeroed; NULL + PH_ENOMEM on overflow of n * size or exhaustion. */
PH_NODISCARD PH_MALLOC PH_ALLOC_SIZE(2, 3) PH_API void *ph_heap_calloc(ph_heap_t *h, size_t n, size_t size);

/*
 * realloc(NULL, n) is malloc(n); realloc(p, 0) keeps a minimal allocation.
 * Large allocations grow in place when the following pages are free, and
 * shrink in place. On failure returns NULL, records PH_ENOMEM or PH_EBADPTR /
 * PH_EDOUBLEFREE, and leaves `p` untouched.
 */
PH_NODISCARD PH_ALLOC_SIZE(3) PH_API void *ph_heap_realloc(ph_heap_t *h, void *p, size_t size);

/* `align` must be a power of two (PH_EINVAL otherwise); any size is allowed. */
PH_NODISCARD PH_MALLOC PH_ALLOC_SIZE(3) PH_API void *ph_heap_aligned_alloc(ph_heap_t *h, size_t align, size_t size);

/* Free NULL: no-op, 0. Otherwise 0, PH_EBADPTR or PH_EDOUBLEFREE; on error
 * nothing changes. */
PH_API int ph_heap_free(ph_heap_t *h, void *p);

/* Usable bytes of a live allocation, or 0 with PH_EBADPTR / PH_EDOUBLEFREE. */
PH_API size_t ph_heap_usable_size(const ph_heap_t *h, const void *p);

/* ------------------------------------------------------------------------ */
/* 4. Allocation by offset (for FFI callers)                                */
/* ------------------------------------------------------------------------ */

/*
 * The same operations with offsets from the region base. Offsets and sizes
 * cross as doubles: exact up to 2^53 and the cheapest type for JS engines to
 * pass. A size or offset that is negative, NaN, not an integer or too large
 * is PH_EINVAL. Offset 0 is the header, so it means "no allocation".
 */
PH_NODISCARD PH_API double ph_off_malloc(ph_heap_t *h, double size);
PH_NODISCARD PH_API double ph_off_calloc(ph_heap_t *h, double n, double size);
PH_NODISCARD PH_API double ph_off_realloc(ph_heap_t *h, double off, double size);
PH_NODISCARD PH_API double ph_off_aligned_alloc(ph_heap_t *h, double align, double size);
PH_API int ph_off_free(ph_heap_t *h, double off);
PH_API double ph_off_usable_size(const ph_heap_t *h, double off);
PH_API double ph_off_used_bytes(const ph_heap_t *h);

/* ------------------------------------------------------------------------ */
/* 5. Named roots                                                           */
/* ------------------------------------------------------------------------ */

/*
 * Up to PH_ROOT_COUNT names of 1..PH_ROOT_NAME_MAX bytes, each holding an
 * offset into the region. They are stored in the header, so they survive
 * snapshots, restores and sharing. Setting offset 0 removes the name.
 * set: 0, PH_EINVAL (bad name or offset outside the region) or PH_ENOSPC.
 * get: the offset, or 0 when the name is not set; a NULL heap or a bad
 * name is PH_EINVAL (ph_heap_get_root: 0 with the code recorded).
 */
PH_NODISCARD PH_API int ph_heap_set_root(ph_heap_t *h, const char *name, uint64_t off);
PH_API uint64_t ph_heap_get_root(const ph_heap_t *h, const char *name);
PH_NODISCARD PH_API int ph_off_set_root(ph_heap_t *h, const char *name, double off);
PH_API double ph_off_get_root(const ph_heap_t *h, const char *name);

/* Name of root slot `i` (0..PH_ROOT_COUNT-1) into buf (at least 32 bytes);
 * returns its offset, or 0 for an empty slot (and, with PH_EINVAL
 * recorded, for a NULL heap or an `i` out of range). */
PH_API uint64_t ph_heap_root_at(const ph_heap_t *h, unsigned i, char *buf);

/* ------------------------------------------------------------------------ */
/* 6. Introspection                                                         */
/* ------------------------------------------------------------------------ */

/*
 * Validate every invariant of the region in `len` readable bytes at `base`
 * (a live heap, or the bytes of an untrusted snapshot: the used prefix is
 * enough). Returns the number of broken invariants (0 = consistent), or
 * PH_ECORRUPT / PH_EVERSION / PH_ESIZE when the header itself is unusable.
 * Never reads outside [base, base + len), never loops, on any input.
 */
PH_NODISCARD PH_API int ph_heap_check(const void *base, size_t len);

typedef struct ph_stats {
  uint64_t region_bytes;    /* pages the heap manages, in bytes */
  uint64_t used_bytes;      /* high-water mark: what a snapshot copies */
  uint64_t touched_bytes;   /* bytes above it read as zero: the highest
                               high-water mark since init, lowered as pages
                               above used_bytes are given back */
  uint64_t meta_bytes;      /* header and page-map leaves */
  uint64_t live_bytes;      /* usable bytes of live allocations */
  uint64_t live_count;      /* live allocations */
  uint64_t small_count;     /* of which from small size classes */
  uint64_t large_count;     /* of which page runs */
  uint64_t small_run_bytes; /* pages held by small-class runs */
  uint64_t free_bytes;      /* free pages below used_bytes */
  uint64_t free_runs;       /* free page runs below used_bytes */
  uint64_t generation;      /* resets since init, plus one */
  uint64_t malloc_count;    /* allocations since the last reset */
  uint64_t free_count;      /* frees since the last reset */
  uint64_t dirty_bytes;     /* free pages that may still hold memory (freed
                               and not given back since), below and above
                               used_bytes (section 14) */
} ph_stats_t;

/* Counters kept in the region (small-class counts per bin, summed here:
 * constant time whatever the heap holds). 0 or PH_EINVAL. */
PH_NODISCARD PH_API int ph_heap_stats(const ph_heap_t *h, ph_stats_t *out);

/* Calls fn(arg, offset, usable_size) for every live allocation in address
 * order. A non-zero return from fn stops the walk and is returned; otherwise
 * 0, or PH_ECORRUPT if the page map is inconsistent. Frame scratch chunks
 * (section 9) are not allocations: the walk skips them, as do the stats'
 * live and large counts (their pages count in used_bytes only). */
typedef int (*ph_walk_fn)(void *arg, uint64_t off, uint64_t size);
PH_NODISCARD PH_API int ph_heap_walk(const ph_heap_t *h, ph_walk_fn fn, void *arg);

/* The same walk in batches, for FFI callers (no callback per allocation):
 * writes up to `max` (offset, usable size) pairs of the live allocations at
 * offsets >= `from` into out[0 .. 2 * max), in address order, and returns
 * how many (0 when there are no more), or PH_EINVAL / PH_ECORRUPT. To go on,
 * call again with `from` = the last offset + 1. */
PH_NODISCARD PH_API int ph_off_walk(const ph_heap_t *h, double from, double *out, int max);

/*
 * The page map of the heap in the `len` readable bytes at `base` (8-byte
 * aligned; a live heap, or a copy of at least its used prefix), for tools
 * that draw it. Untrusted bytes are fine: every index and length followed
 * is bounded first. For each page p < the heap's page count:
 *   kinds[p]   a PH_PAGEMAP_* kind, with PH_PAGEMAP_RUN_HEAD on a run's
 *              first page;
 *   classes[p] the size class of a small run's pages (an index into
 *              ph_size_classes), else PH_PAGEMAP_NO_CLASS;
 *   live[p]    on a run's first page, its live allocations (a small run's
 *              live regions, 1 for a large run), else 0.
 * Returns the heap's page count; when `npages` is less, nothing is written
 * (ask again with arrays that long). PH_EINVAL (NULL or unaligned base,
 * NULL arrays), PH_ECORRUPT / PH_EVERSION / PH_ESIZE from the header check
 * (the bytes must reach its high-water mark), or PH_ECORRUPT for runs that
 * cannot be walked.
 */
#define PH_PAGEMAP_UNTOUCHED 0u   /* above the touched mark: never used, reads as zero */
#define PH_PAGEMAP_TOUCHED 1u     /* above the high-water mark, used before: outside the heap */
#define PH_PAGEMAP_HEADER 2u      /* the header's pages */
#define PH_PAGEMAP_LEAF 3u        /* a leaf of the page map */
#define PH_PAGEMAP_FREE 4u        /* free pages below the high-water mark */
#define PH_PAGEMAP_SMALL 5u       /* a run of small regions of one size class */
#define PH_PAGEMAP_LARGE 6u       /* one large allocation */
#define PH_PAGEMAP_SCRATCH 7u     /* a frame scratch chunk */
#define PH_PAGEMAP_RUN_HEAD 128u  /* or'ed into the kind of a run's first page */
#define PH_PAGEMAP_NO_CLASS 255u
PH_NODISCARD PH_API int64_t ph_heap_page_map(const void *base, size_t len, uint32_t npages, uint8_t *kinds, uint8_t *classes,
                                             uint16_t *live);

/* The size classes: for class c < cap, out[3c] its region size in bytes,
 * out[3c + 1] pages per run (0: served as page runs, never in a small
 * run), out[3c + 2] regions per run. Returns the number of classes, or
 * PH_EINVAL for a NULL out with cap > 0. */
PH_API int ph_size_classes(uint32_t *out, uint32_t cap);

/* ------------------------------------------------------------------------ */
/* 7. Region helpers                                                        */
/* ------------------------------------------------------------------------ */

/* Map `size` bytes of zeroed anonymous memory, 2 MiB aligned, committed
 * lazily. NULL + PH_EIO / PH_EINVAL. */
PH_NODISCARD PH_MALLOC PH_ALLOC_SIZE(1) PH_API void *ph_region_map_anon(size_t size);

/* Region file flags. */
#define PH_MAP_CREATE 1u /* create the file if missing: *size bytes, all reserved */
#define PH_MAP_EXCL 2u   /* with CREATE: fail (PH_EIO) if the path exists */
#define PH_MAP_SPARSE 4u /* with CREATE: leave the new file's blocks unreserved (a full file system is then a SIGBUS on write) */

/*
 * Map a file shared, so unrelated processes see the same bytes.
 * A new file (PH_MAP_CREATE) is created exclusively, never through a
 * symbolic link at `path`, with permission bits `mode` (0600 when 0; bits
 * beyond 0777 are PH_EINVAL), and its `*size` bytes get real blocks
 * (posix_fallocate): a full file system is PH_EIO here (ph_last_os_error()
 * ENOSPC) and the new file is removed, never a SIGBUS later. PH_MAP_SPARSE
 * skips that reservation (a large file in tmpfs then costs only the pages
 * used), at the price of a SIGBUS when a write finds the file system full.
 * An existing file (followed through links) is mapped as it is: `*size` 0
 * means its whole size, written back; a larger `*size` than the file is
 * PH_ESIZE (files never grow here: see ph_heap_file_grow). A directory,
 * FIFO or device is PH_EIO.
 * The mapping holds a shared lock on the file (POSIX flock) for as long as
 * it lives; while another process grows the file, this waits up to about
 * 2 s, then fails with PH_EBUSY. NULL + PH_EIO / PH_ESIZE / PH_EINVAL /
 * PH_EBUSY.
 */
PH_NODISCARD PH_MALLOC PH_API void *ph_region_map_file(const char *path, size_t *size, unsigned flags, unsigned mode);

/*
 * Grow the heap file at `path` to `size` bytes. The file must hold a heap
 * that ph_heap_attach accepts and that is not PH_LOCKED (validated before
 * anything changes), and no process may have it mapped: PH_EBUSY otherwise
 * (on Linux; other systems cannot prove that, and return PH_EINVAL). The new
 * blocks are reserved (PH_EIO with ENOSPC when the file system is full) and
 * the heap's size is raised (ph_heap_grow). A file already that large is
 * left alone. On failure the file is as it was. 0 or PH_E*.
 */
PH_NODISCARD PH_API int ph_heap_file_grow(const char *path, size_t size);

/* Write a file-backed region's dirty pages to the file (msync). 0 or PH_EIO. */
PH_NODISCARD PH_API int ph_region_flush(void *base, size_t size);

/* Unmap a region from either helper. 0, PH_EINVAL or PH_EIO. */
PH_API int ph_region_unmap(void *base, size_t size);

/* ------------------------------------------------------------------------ */
/* 8. Seed-compatible API                                                   */
/* ------------------------------------------------------------------------ */

/*
 * The names of the jemalloc 3.4.1 private-heap fork, over one default heap
 * per process. A C program written for the fork ports by adding the ph_
 * prefix. ph_config_private_heap may be called again to switch regions.
 * Errors follow the C library: NULL, or an errno value from
 * ph_posix_memalign; ph_last_error() has the PH_E* code.
 *
 * Alignment is malloc's: ph_malloc, ph_calloc and ph_realloc return a
 * block of n >= 16 bytes 16-byte aligned (alignof(max_align_t) on 64-bit
 * targets, as glibc and jemalloc), and a smaller one aligned to at least
 * the largest power of two <= n; ph_posix_memalign gives the larger of
 * that and its `align`. A realloc that moves keeps the rule; one that
 * stays in place returns `p`. The price is the 8-byte-aligned classes:
 * 17..24 bytes take 32, 33..40 take 48, 49..56 take 64.
 *
 * The region must read as zero (a fresh mapping, as from
 * ph_region_map_anon or mmap), except for a heap formatted there before:
 * the pages its header says it touched are treated as written. As with
 * ph_heap_init(..., PH_REGION_ZEROED), calloc then clears only pages the
 * heap has used. For a region that may hold other bytes, format it first
 * with ph_heap_init(base, size, 0), which marks every page as written.
 */
PH_NODISCARD PH_API int ph_config_private_heap(void *base, size_t size); /* 0 or PH_E* */
PH_NODISCARD PH_MALLOC PH_ALLOC_SIZE(1) PH_API void *ph_malloc(size_t size);
PH_NODISCARD PH_MALLOC PH_ALLOC_SIZE(1, 2) PH_API void *ph_calloc(size_t n, size_t size);
PH_NODISCARD PH_ALLOC_SIZE(2) PH_API void *ph_realloc(void *p, size_t size);
PH_API void ph_free(void *p);
PH_NODISCARD PH_API int ph_posix_memalign(void **out, size_t align, size_t size);
PH_API size_t ph_malloc_usable_size(void *p);
PH_API void ph_malloc_reset(void); /* keeps the default heap configured */
PH_API ph_heap_t *ph_default_heap(void);

/* ------------------------------------------------------------------------ */
/* 9. Frame scratch                                                         */
/* ------------------------------------------------------------------------ */

/*
 * Scratch memory for allocations that all die at the next ph_heap_reset (a
 * frame's temporaries): a bump allocator over chunks the heap allocates.
 * Its cursor is kept in the header at byte PH_SCRATCH_CURSOR (two offsets:
 * next, end), so it is part of every snapshot and every reset empties it;
 * the common case is inline, a compare and an add (FrameArena does the same
 * in JavaScript over the same two words). Memory is 16-byte aligned and
 * cannot be freed on its own: a chunk is marked in the page map as scratch,
 * not as an allocation, so ph_heap_free, ph_heap_realloc and
 * ph_heap_usable_size of a chunk or of any pointer into it are PH_EBADPTR
 * and ph_heap_walk skips it.
 *
 * One rule for every caller: a request that fits under the cursor is
 * carved there; otherwise a request above `big` bytes is an allocation of
 * its own (walked, and freeable), and a smaller one takes a new chunk of
 * first_chunk << (chunks taken since the reset) bytes, at most
 * PH_SCRATCH_CHUNK_MAX, rounded up to whole pages and to at least what the
 * request needs (just that much when the region has no room for more).
 * ph_scratch_alloc uses first_chunk PH_SCRATCH_CHUNK and big PH_SCRATCH_BIG.
 * NULL + PH_ENOMEM / PH_EINVAL, or PH_ECORRUPT for a cursor outside its
 * chunk (checked before a refill bumps it; the inline part trusts it, as
 * attach and restore have checked it).
 */
#define PH_SCRATCH_CURSOR 16u
#define PH_SCRATCH_CHUNK 65536u       /* first chunk of ph_scratch_alloc */
#define PH_SCRATCH_CHUNK_MAX 1048576u /* chunks double up to this */
#define PH_SCRATCH_BIG 16384u         /* ph_scratch_alloc's `big` */

/* The out-of-line part of ph_scratch_alloc: bump the cursor, a new chunk,
 * or a big request. */
PH_NODISCARD PH_MALLOC PH_ALLOC_SIZE(2) PH_API void *ph_scratch_refill(ph_heap_t *h, size_t size);

/* The same with the caller's first_chunk (1..PH_SCRATCH_CHUNK_MAX) and big
 * (at most PH_SCRATCH_CHUNK_MAX - 16); PH_EINVAL outside those. */
PH_NODISCARD PH_MALLOC PH_ALLOC_SIZE(2) PH_API void *ph_scratch_refill_with(ph_heap_t *h, size_t size, size_t first_chunk, size_t big);

PH_NODISCARD PH_ALLOC_SIZE(2) static inline void *ph_scratch_alloc(ph_heap_t *h, size_t size) {
  if (h) {
    uint64_t *cursor = (uint64_t *)((char *)h + PH_SCRATCH_CURSOR);
    uint64_t next = cursor[0], need = ((uint64_t)size + 15u) & ~(uint64_t)15u;
    if (need - 1u < cursor[1] - next) { /* 0 < need <= room; a size near 2^64 wraps to 0 */
      cursor[0] = next + need;
      return (char *)h + next;
    }
  }
  return ph_scratch_refill(h, size); /* a NULL heap is PH_EINVAL there */
}

/* ------------------------------------------------------------------------ */
/* 10. Snapshots                                                            */
/* ------------------------------------------------------------------------ */

/*
 * A snapshot is a byte copy of a heap's first ph_heap_used_bytes(h) bytes:
 * every byte of allocator state lives there and every link is an offset, so
 * the copy is complete and works at any address. Taking one is a memcpy.
 */

/* Skip the full invariant check of ph_heap_check: for a copy this process
 * took from a live heap and kept where nothing else could change it. */
#define PH_SNAPSHOT_TRUSTED 1u

/*
 * Whether the `len` bytes at `src` are a complete snapshot that a region of
 * `dst_size` bytes can adopt: 0, PH_ECORRUPT (not a privheap region, a
 * length other than the used bytes its header records, or a broken
 * invariant), PH_EVERSION (another layout version) or PH_ESIZE (it needs a
 * larger region than dst_size). Reads only [src, src + len); with
 * PH_SNAPSHOT_TRUSTED the O(n) ph_heap_check pass is skipped.
 */
PH_NODISCARD PH_API int ph_snapshot_check(const void *src, size_t len, size_t dst_size, unsigned flags);

/*
 * Replace the heap in the region [dst, dst + dst_size) by the snapshot at
 * src: ph_snapshot_check, then a copy of the len bytes. A region larger
 * than the snapshot's heap gives the extra pages to the free space.
 * When dst held a heap, the pages that heap had used above the snapshot's
 * touched mark are zeroed, so a restore into a heap of the same size leaves
 * bytes equal to the snapshot's (header included, lock block excepted); the
 * cost is the memory the old heap had used beyond the snapshot. When dst
 * held no heap, its bytes above the copy are treated as dirty (calloc
 * clears them). The lock stays the region's: when dst holds a heap, its
 * lock block is not written (a PH_LOCKED dst stays locked, and a caller
 * holding the lock still holds it; another process may be waiting on it
 * meanwhile), and any other dst ends up without PH_LOCKED, whatever the
 * snapshot's heap had. On failure returns NULL with the code recorded (PH_EINVAL
 * for a NULL or unaligned dst, or a src that overlaps the region) and dst
 * is untouched.
 */
PH_NODISCARD PH_API ph_heap_t *ph_heap_restore(void *dst, size_t dst_size, const void *src, size_t len, unsigned flags);

/*
 * The indices of the pages [0, npages) whose bytes differ between a and b
 * (4096-byte pages; two copies of a region, or a region and a copy), in
 * ascending order: writes the first `cap` to out and returns how many
 * differ (which may exceed cap). For rollback rings and deltas, which keep
 * only the pages that changed. PH_EINVAL for a NULL a or b, a NULL out
 * with a non-zero cap, or npages above INT32_MAX.
 */
PH_NODISCARD PH_API int ph_pages_diff(const void *a, const void *b, uint32_t npages, uint32_t *out, uint32_t cap);

/*
 * Of the n pairs (page a_pages[i] of a, page b_pages[i] of b) of 4096-byte
 * pages, the ones whose bytes differ: their a_pages[i], in the list's
 * order, into out (which may be a_pages itself). For turning a tracker's
 * report of written pages into exactly the changed ones, against a copy
 * laid out page for page (a_pages == b_pages) or kept in slots (a ring's
 * pool). Returns the count, or PH_EINVAL for NULL arguments with n > 0 or
 * n above INT32_MAX.
 */
PH_NODISCARD PH_API int ph_pages_diff_pairs(const void *a, const void *b, const uint32_t *a_pages, const uint32_t *b_pages, uint32_t n, uint32_t *out);

/*
 * Copy n 4096-byte pages: page src_pages[i] of src to page dst_pages[i] of
 * dst (dst_pages may be src_pages). The pages must not overlap. Returns n,
 * or PH_EINVAL for NULL arguments with n > 0 or n above INT32_MAX.
 */
PH_API int ph_pages_copy(void *dst, const void *src, const uint32_t *dst_pages, const uint32_t *src_pages, uint32_t n);

/*
 * ph_pages_copy into the heap h: pages copied from a copy of this heap (a
 * rollback ring's shadow or undo log) go back into the live region, except
 * the bytes of its lock block, which stay as they are (the lock may be held
 * by the caller and waited on by others). PH_EINVAL for a NULL h, NULL
 * arguments with n > 0, n above INT32_MAX, or a destination page at or
 * above the heap's page count (then nothing is copied).
 */
PH_NODISCARD PH_API int ph_heap_put_pages(ph_heap_t *h, const void *src, const uint32_t *dst_pages, const uint32_t *src_pages, uint32_t n);

/*
 * Memory for a snapshot image: `size` bytes, read-write, to be filled at
 * once (a copy of a used prefix, a file read into it). New memory costs a
 * page fault and a clear per 4 KiB page on first write, several times the
 * copy itself. This memory comes in 2 MiB pages where the system gives
 * them on request (Linux transparent huge pages), and images given back
 * are kept (bounded: at most 16 mappings and 1 GiB, which the system may
 * take back while memory is short) for the next image of about the same
 * size, so a copy into it runs at about memcpy speed. A reused image holds
 * an earlier image's bytes; PH_IMAGE_ZERO clears them. NULL + PH_EINVAL
 * (size 0, unknown flags) or PH_ENOMEM.
 */
#define PH_IMAGE_ZERO 1u /* the bytes read as zero */
PH_NODISCARD PH_MALLOC PH_ALLOC_SIZE(1) PH_API void *ph_image_alloc(size_t size, unsigned flags);

/*
 * Give back memory from ph_image_alloc, with the size it was asked for.
 * Callable from any thread; records no error. Its arguments fit a
 * JavaScriptCore ArrayBuffer deallocator (bytes, context) whose context is
 * the size, so an ArrayBuffer made over the memory can own it.
 */
PH_API void ph_image_free(void *image, size_t size);

/* Bytes of images from ph_image_alloc not yet given back, in this process. */
PH_API uint64_t ph_image_live_bytes(void);
/* Bytes of mappings given back and kept for reuse. */
PH_API uint64_t ph_image_pooled_bytes(void);
/* Unmap every mapping kept for reuse; returns their bytes. */
PH_API uint64_t ph_image_trim(void);

/* ------------------------------------------------------------------------ */
/* 11. Locking                                                              */
/* ------------------------------------------------------------------------ */

/*
 * A PH_LOCKED heap has a process-shared lock in its header, for heaps that
 * several processes or threads change at once (a shared heap file). The
 * library does not take it by itself: every caller wraps each call, or each
 * group of calls that must see a consistent heap, in ph_heap_lock /
 * ph_heap_unlock (or uses the *_locked offset calls below). The lock is
 * recursive for its owner thread, and is taken over from an owner that
 * died holding it: the taker then runs ph_heap_check on the heap. A waiter
 * never burns a core: on Linux it sleeps in the kernel (a futex) and is
 * woken on release; on macOS, the BSDs and Windows it sleeps with backoff
 * up to 1 ms (and a thread that exits holding the lock is only detected
 * when its process ends).
 *
 * A failed takeover is remembered. When the check after a takeover finds
 * the heap broken (the owner died halfway through a change), the verdict
 * is kept in the lock block, so every process, now and later, gets
 * PH_ECORRUPT from every ph_heap_lock and *_locked call (nothing done),
 * until a holder replaces the heap: ph_heap_restore or ph_heap_reset
 * (called holding the lock, which ph_heap_lock returned with PH_ECORRUPT),
 * or ph_heap_lock_recheck once the heap is whole again. A snapshot's or
 * checksum's bytes never include the verdict (it is in the lock block).
 *
 * Lock words from files are untrusted. A word naming no thread, or the
 * calling thread while it holds no lock (a stale or forged word), is taken
 * over like a dead owner's. A word naming a live thread is waited on:
 * without bound by ph_heap_lock (a holder may hold it long), for at most
 * PH_ATTACH_WAIT_MS by ph_heap_attach, which then fails with PH_EBUSY.
 * The rest of the block cannot mislead the lock: a new holder resets the
 * depth, the waiters bit only costs a wake-up, and a recorded verdict
 * refuses the heap until it is checked, restored or reset.
 *
 * fork(). A library constructor registers a pthread_atfork child handler
 * before any of the caller's, so in a child every thread of the library
 * has its new identity, in the caller's handlers too. Then:
 *   - a heap in a shared mapping (a heap file, MAP_SHARED) is the same heap
 *     and the same lock in both processes: a child whose parent thread
 *     holds it waits for that release; a hold the forking thread had stays
 *     the parent's (the child's ph_heap_unlock of it is PH_EINVAL);
 *   - a heap in a private mapping (an anonymous region: copy-on-write) is
 *     the child's own copy. A hold the forking thread had is the child's
 *     too (the usual handlers, lock in prepare and unlock in both, work
 *     whenever they were registered); a hold of another thread of the
 *     parent can never be released in the copy, so the child takes it over
 *     and checks its copy (1, or PH_ECORRUPT when the copy was made
 *     mid-change) instead of waiting. Only Linux tells private from shared
 *     mappings (/proc/self/maps); other systems treat a private copy as
 *     shared: a parent thread's hold is waited on until the parent process
 *     ends, and the forking thread's hold stays the parent's.
 */

/* How long ph_heap_attach waits for a locked heap's lock held by an owner
 * that is alive (or cannot be told apart from one) before PH_EBUSY. */
#define PH_ATTACH_WAIT_MS 2000u

/*
 * Take the heap's lock. 0; or 1 when it was taken over from an owner that
 * could not release it and ph_heap_check found the heap consistent; or
 * PH_ECORRUPT when that check, now or in an earlier takeover, found broken
 * invariants (the lock is held then too: restore, reset or unlock it).
 * PH_EINVAL for a NULL heap or one without PH_LOCKED.
 */
PH_NODISCARD PH_API int ph_heap_lock(ph_heap_t *h);

/* ph_heap_lock waiting at most about wait_ms (never less than one look at
 * the owner, 20 ms) for an owner that can still release the lock: then
 * PH_EBUSY, not held. */
PH_NODISCARD PH_API int ph_heap_lock_timeout(ph_heap_t *h, unsigned wait_ms);

/* Release it (once per ph_heap_lock). 0, or PH_EINVAL when the calling
 * thread does not hold it. */
PH_API int ph_heap_unlock(ph_heap_t *h);

/* How many times the lock was taken over since init, and the lock's
 * verdict in *last_check: the last takeover's (or recheck's) ph_heap_check
 * result, 0 when consistent or since a restore or reset. */
PH_API int ph_heap_lock_recoveries(const ph_heap_t *h, int *last_check);

/* Holding the lock: run ph_heap_check on the heap and make its result the
 * lock's verdict (0 lifts a failed takeover's PH_ECORRUPT; broken
 * invariants refuse the heap as a failed takeover does). Returns the
 * result; PH_EINVAL when the calling thread does not hold the lock. */
PH_NODISCARD PH_API int ph_heap_lock_recheck(ph_heap_t *h);

/*
 * The offset API of section 4, each call under the heap's lock: lock, call,
 * unlock, in one crossing for FFI callers (the lock is then held for the
 * allocator's work only, not for the caller's trips across the boundary).
 * The same results and codes as ph_off_*; also PH_EINVAL for a heap
 * without PH_LOCKED, and PH_ECORRUPT (nothing done) while the lock's
 * verdict says the heap is broken (see above). Recursive
 * like ph_heap_lock: callable while this thread holds the lock.
 */
PH_NODISCARD PH_API double ph_off_malloc_locked(ph_heap_t *h, double size);
PH_NODISCARD PH_API double ph_off_calloc_locked(ph_heap_t *h, double n, double size);
PH_NODISCARD PH_API double ph_off_realloc_locked(ph_heap_t *h, double off, double size);
PH_NODISCARD PH_API double ph_off_aligned_alloc_locked(ph_heap_t *h, double align, double size);
PH_API int ph_off_free_locked(ph_heap_t *h, double off);
PH_API double ph_off_usable_size_locked(ph_heap_t *h, double off);

/* ------------------------------------------------------------------------ */
/* 12. Written pages                                                        */
/* ------------------------------------------------------------------------ */

/*
 * Which pages of a region were written since the last look, from the
 * operating system rather than a comparison of bytes, so rollback rings,
 * deltas, checksums and replays cost what changed. On Linux 6.7+ it is
 * userfaultfd write protection in asynchronous mode read by PAGEMAP_SCAN
 * (PH_TRACK_USERFAULTFD); on Windows, the write watch of an anonymous
 * region mapped by ph_region_map_anon (PH_TRACK_WRITE_WATCH). Elsewhere,
 * or where the kernel refuses (a seccomp filter, an older kernel, a file
 * mapping on Windows), ph_tracker_start fails and the caller compares bytes.
 *
 * A tracker sees the writes made through this process's mapping of the
 * region, by any of its threads; not those of another process sharing a
 * file, nor write(2) into the file. It is process-local: in a fork's child
 * every take is PH_EINVAL. Stop it before unmapping the region.
 */
typedef struct ph_tracker ph_tracker_t;
#define PH_TRACK_USERFAULTFD 1
#define PH_TRACK_WRITE_WATCH 2

/* Track writes to the region of `size` bytes at `base` (page-aligned, a
 * mapping made by ph_region_map_anon), in O(1) whatever its size. NULL when
 * there is no tracker here: PH_EIO with the system's reason in
 * ph_last_os_error (ENOSYS where none exists), PH_EINVAL for a bad base. */
PH_NODISCARD PH_API ph_tracker_t *ph_tracker_start(void *base, size_t size);

/* PH_TRACK_USERFAULTFD or PH_TRACK_WRITE_WATCH; PH_EINVAL for NULL. */
PH_API int ph_tracker_kind(const ph_tracker_t *t);

/*
 * The 4096-byte pages of [from, to) written since the take that last
 * reported them (or since the start), ascending, at most `max` of them,
 * into out; each reported page counts as unwritten again, atomically with
 * reading it, and a page not reported keeps its state, so a take that
 * returns `max` is followed by another from the page after the last one.
 * `flags` is 0 or PH_TAKE_KEEP (below).
 * A page no take covered before may be reported though unwritten (the
 * first take over a page is what starts watching it). Returns the count;
 * PH_EINVAL for a bad range, a NULL out with max > 0, a `max` below the
 * pages of one system page (on systems with pages larger than 4096
 * bytes), or a fork's child; PH_EIO when the system refused the scan (the
 * tracker is lost: stop it and compare bytes).
 */
PH_NODISCARD PH_API int ph_tracker_take(ph_tracker_t *t, uint32_t from, uint32_t to, uint32_t *out, uint32_t max, unsigned flags);
/* A take's flag: the pages reported keep their written state (reported
 * again by the next take, and written again at no cost): for a caller that
 * expects most pages to be written before it looks again, where watching
 * each page's first write would cost more than comparing it. */
#define PH_TAKE_KEEP 1u

/* Stop tracking and free the tracker (NULL is allowed). */
PH_API void ph_tracker_stop(ph_tracker_t *t);

/* ------------------------------------------------------------------------ */
/* 13. The heap checksum                                                    */
/* ------------------------------------------------------------------------ */

/*
 * A 64-bit checksum of a heap's used prefix (docs/checksum.md; the
 * definition heads csrc/checksum.c): the keyed hashes of its 4096-byte
 * pages, added up, mixed with the prefix's length. The lock block reads as
 * zero, so holders of a shared heap's lock agree on it. The same on every
 * platform, and equal for a live heap and a copy of its used prefix.
 */

/* The checksum of the `used` bytes at `bytes` into *out. 0, or PH_EINVAL
 * for a NULL out, a NULL bytes with used > 0, or a used that is not a
 * multiple of PH_PAGE_SIZE. */
PH_NODISCARD PH_API int ph_checksum(const void *bytes, size_t used, uint64_t *out);

/*
 * Keep the checksum of a changing region up to date. hashes[i] caches the
 * hash of page i (room for `capacity` pages); state[0] is the running sum,
 * state[1] how many pages it covers, state[2] receives the checksum (start
 * from all zeros). Pages between state[1] and used / PH_PAGE_SIZE are
 * added (the prefix grew) or taken out (it shrank); then each listed page
 * below both is hashed again. Every page that changed since the last call
 * must be listed or outside the old prefix; then state[2] equals
 * ph_checksum of the region's used bytes. `pages` may be NULL when n is 0;
 * a page may be listed twice. 0, or PH_EINVAL, with nothing written, for
 * a NULL state, region (with used > 0), hashes (with capacity > 0) or pages
 * (with n > 0), a used that is not whole pages or has more than `capacity`
 * pages, a state[1] above capacity, or a listed page at or above capacity.
 */
PH_NODISCARD PH_API int ph_checksum_update(const void *region, size_t used, uint64_t *hashes, size_t capacity, uint64_t *state,
                                           const uint32_t *pages, uint32_t n);

/* ------------------------------------------------------------------------ */
/* 14. Memory given back                                                    */
/* ------------------------------------------------------------------------ */

/*
 * A heap whose region is private anonymous memory (ph_region_map_anon, a
 * MAP_PRIVATE | MAP_ANONYMOUS mapping, VirtualAlloc) can give free pages
 * back to the system, so the memory it holds follows its live data. Pages
 * given back read as zero. The heap only knows its memory from the caller:
 * pages of a file's mapping would read back the file, and a shared heap
 * file must keep its bytes, so purging is off unless ph_heap_init's flags
 * or ph_heap_set_purge turn it on. The mode belongs to the region (it is
 * in the lock block): a restore or ring load keeps the destination's (a
 * restore into memory that holds no heap turns it off), and
 * ph_heap_attach, which cannot know what memory it is given, turns it off.
 *
 * Deterministic: what is given back, and when, depends only on the heap's
 * state and the sequence of its operations, never on a clock. Giving back
 * pages below the high-water mark changes their bytes (stale data becomes
 * zero), so it changes snapshots and checksums, the same way in every heap
 * that runs the same operations: a tracked heap and a copy compared byte
 * for byte agree, and so do two runs of a replay.
 *
 * What is given back: free runs of two pages or more below the high-water
 * mark that were freed since they were last given back (one-page runs
 * only by ph_heap_purge and PH_PURGE_NOW), and the pages above it that
 * the heap used before (left by a free of the top or by a reset; these
 * lower touched_bytes). With PH_PURGE, a free of whole pages (a large
 * allocation, or a small run emptied) gives back the oldest of them, down
 * to half a limit, once there are more than the limit: the larger of
 * PH_PURGE_MIN_DIRTY bytes and an eighth of the pages in use. It gives
 * back only old pages: free since before the heap's latest allocation of
 * pages, which left them unused (age counted in allocations, not time), so
 * a loop that frees everything and allocates it again keeps its pages.
 * Small frees that leave a run partly used, frame scratch and reset give
 * nothing back (reset stays O(1); the pages it leaves go at a later free
 * after an allocation of pages, or at ph_heap_purge).
 * With PH_PURGE_NOW every page-level free gives back at once. On Windows
 * the write watch does not see pages given back, so there only pages above
 * the high-water mark (outside every snapshot) are given back.
 */
#define PH_PURGE_MIN_DIRTY ((size_t)4 << 20)

/* Set the purge mode: 0 (off), PH_PURGE or PH_PURGE_NOW. The caller
 * vouches that the region is private anonymous memory (any mode but 0).
 * 0, or PH_EINVAL (NULL heap, unknown mode). Changes no heap byte. */
PH_NODISCARD PH_API int ph_heap_set_purge(ph_heap_t *h, unsigned mode);

/* Give back every free page now (one-page runs and those given back
 * before included). The pages given back (0 when none), PH_EINVAL (NULL
 * heap, or purging off), PH_ECORRUPT (damaged free-run bookkeeping: the
 * pages reached before it are given back) or PH_EIO (the system refused).
 * O(free runs). */
PH_NODISCARD PH_API int64_t ph_heap_purge(ph_heap_t *h);

/* ------------------------------------------------------------------------ */
/* 15. Content hashes                                                       */
/* ------------------------------------------------------------------------ */

/*
 * XXH3-64 (xxHash's XXH3_64bits and XXH3_64bits_withSeed,
 * Bun.hash.xxHash3(bytes, seed)): the 64-bit hash privheap's file formats
 * carry, here so every runtime of the core (the WebAssembly module
 * included) computes it. Equal to the reference for every input and every
 * 64-bit seed, on any host.
 */

/* The hash of the n bytes at p (any alignment; p may be NULL when n is 0)
 * with seed 0, or with `seed`. 0 and PH_EINVAL for a NULL p with n > 0. */
PH_API uint64_t ph_xxh3_64(const void *p, size_t n);
PH_API uint64_t ph_xxh3_64_seeded(const void *p, size_t n, uint64_t seed);

/*
 * The same hash over input given in pieces. A state is
 * ph_xxh3_state_size() bytes aligned to 8, of the caller's memory, with no
 * pointers in it (it may be copied or moved); ph_xxh3_reset starts it
 * with seed 0, ph_xxh3_reset_seeded with `seed` (nothing for a NULL or
 * misaligned state). ph_xxh3_update adds n bytes:
 * 0, or PH_EINVAL for a NULL or misaligned state, one whose counters are
 * out of range, or a NULL p with n > 0 (nothing is added). The digest is
 * ph_xxh3_64_seeded, with the reset's seed, of every byte given since the
 * reset, however they were split, and leaves the state as it was (more
 * bytes may follow); 0 and PH_EINVAL for a state update refuses.
 */
PH_API size_t ph_xxh3_state_size(void);
PH_API void ph_xxh3_reset(void *state);
PH_API void ph_xxh3_reset_seeded(void *state, uint64_t seed);
PH_NODISCARD PH_API int ph_xxh3_update(void *state, const void *p, size_t n);
PH_API uint64_t ph_xxh3_64_digest(const void *state);

#ifdef __cplusplus
}
#endif
#endif /* PRIVHEAP_H */
