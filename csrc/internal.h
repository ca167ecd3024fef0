/*
 * internal.h - the region layout and the index of functions shared between
 * the core's files (ph__ prefix). Nothing here is public.
 *
 * Map of a region (PH_PAGE_SIZE pages, numbered from the base):
 *
 *   page 0 ......... header (struct ph_heap): scratch cursor, counters, bins,
 *                    free lists, roots, leaf directory
 *   header_pages ... leaf 0 of the page map
 *   ...              page runs: free, large, small-class, or further map leaves
 *   hwm ............ high-water mark: every page at or above it is outside
 *                    the heap's state (a snapshot copies pages below it only)
 *
 * Page map. Each page has a 16-byte entry (struct ph_page). Entries live in
 * leaves of 2^lg_chunk entries; leaf c describes pages [c << lg_chunk,
 * (c + 1) << lg_chunk) and sits at page dir[c]. Leaves are ordinary META runs
 * allocated at the high-water mark as it first reaches each chunk, so the map
 * grows with the used prefix and a large allocation can span chunks; the
 * newest leaf leaves again when hwm falls to it (pages.c).
 *
 * Runs. Pages are grouped in runs; only a run's first page (its head) says
 * what the run is and how long. Body pages of free, large and META runs have
 * kind NONE; the last page of a free run of two or more pages is a FREE_TAIL
 * (so a neighbour being freed can find the run's start); every page of a
 * small run is SMALL or SMALL_BODY (so an interior pointer finds its run).
 *
 * Links. A free run of at most PH_FREE_LISTS pages is on the list of its
 * exact size (a bitmask finds the smallest non-empty size that fits, so best
 * fit is O(1)); longer free runs form an AVL tree keyed by (pages, page
 * index), where best fit is a lower-bound search that also prefers the
 * lowest address. The non-full runs of each small bin form a FIFO list.
 * Links are page indices kept in the head entry (lists: left = prev, right =
 * next); 0 is the null link (page 0 is the header, never a node).
 *
 * Invariants every function keeps (ph_heap_check verifies them all):
 *   - no two free runs are adjacent, and no free run ends at hwm;
 *   - map entries of pages >= hwm are meaningless; a page entering the heap
 *     gets its entry zeroed (unless it was never touched: then it is zero),
 *     and with PH_ZERO_REENTRY (or PH_ZERO_ON_FREE) its bytes too;
 *   - the header's counters equal what a walk of the map finds.
 */
#ifndef PH_INTERNAL_H
#define PH_INTERNAL_H

#include "privheap.h"
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#ifndef PH_DEBUG
#define PH_DEBUG 0
#endif

#if PH_DEBUG
#include <stdio.h>
#include <stdlib.h>
/* Assertions carry their reason: ph_assert(x && "why"). Debug builds only. */
#define ph_assert(cond)                                                              \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "privheap assertion failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      abort();                                                                       \
    }                                                                                \
  } while (0)
#else
#define ph_assert(cond) ((void)0)
#endif

/* Everything declared in this file stays inside the library: the compiler
 * then reaches tables and functions directly, not through the GOT or PLT. */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

#define PH_LIKELY(x) __builtin_expect(!!(x), 1)
#define PH_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define PH_LG_PAGE 12
#define PH_MAGIC 0x5041454856495250ull /* "PRIVHEAP" read as little-endian bytes */
#define PH_DIR_CAP 1024u                /* leaves the header can index */
#define PH_LG_CHUNK_MIN 9u              /* 512 pages (2 MiB) per leaf at least */
#define PH_LG_CHUNK_MAX 22u
#define PH_HEADER_PAGES 2u
#define PH_MAX_PAGES 0xFFFFFFF0u        /* page indices are u32 */
#define PH_MIN_PAGES (PH_HEADER_PAGES + 2u + 4u)
#define PH_FREE_LISTS 32u /* free runs up to this many pages live on exact-size lists */

/* ---- size classes (sizeclass.c) ---------------------------------------- */

/* Small bins are the classes 8..64 by 8, then four per doubling up to 16 KiB;
 * the classes that are whole pages (4 KiB, 8 KiB, 12 KiB, 16 KiB) are served
 * as page runs instead, so PH_NCLASSES indices include a few "large" ones. */
#define PH_NCLASSES 40u
#define PH_MAX_RUN_REGS 4096u /* fits nfree's 16 bits and a bin's u16 counts */

typedef struct ph_class {
  uint32_t size;      /* region size in bytes */
  uint16_t run_pages; /* pages per run; 0: served as a page run, not a bin */
  uint16_t nregs;     /* regions per run */
  uint16_t bm_words;  /* 64-bit words of the trailing bitmap; 0 = inline bitmap */
  uint16_t align;     /* guaranteed alignment: largest power of two dividing size, <= page */
  uint32_t div_magic; /* ceil(2^32 / size): region index = (diff * magic) >> 32 */
  uint32_t bm_off;    /* byte offset of the trailing bitmap in its run */
} ph_class;

extern const ph_class ph__classes[PH_NCLASSES];

/* Requests up to PH_LOOKUP_MAX bytes always take a bin, found by a table
 * (a branch-free lookup: random request sizes would mispredict a branch). */
#define PH_LOOKUP_MAX 3584u
extern const uint8_t ph__lookup[PH_LOOKUP_MAX / 8 + 1];

/* Index of the smallest class holding n bytes (1 <= n <= 16 KiB). */
static inline unsigned ph__size2class(size_t n) {
  if (n <= 64) return n == 0 ? 0 : (unsigned)((n - 1) >> 3);
  unsigned lg = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1));
  return 8u + (lg - 6u) * 4u + (unsigned)((n - 1) >> (lg - 2u)) - 4u;
}

/* ---- the header and the page map ---------------------------------------- */

enum ph_page_kind {
  PH_PK_NONE = 0,       /* body of a run */
  PH_PK_FREE = 1,       /* head of a free run; size = pages */
  PH_PK_FREE_TAIL = 2,  /* last page of a free run of >= 2 pages; size = pages */
  PH_PK_LARGE = 3,      /* head of a large allocation; size = pages */
  PH_PK_SMALL = 4,      /* head of a small run; size = inline bitmap or search hint */
  PH_PK_SMALL_BODY = 5, /* other page of a small run; size = pages back to the head */
  PH_PK_META = 6,       /* head of the header or of a map leaf; size = pages */
  PH_PK_SCRATCH = 7,    /* head of a frame scratch chunk (a page run, not an allocation); size = pages */
};

typedef struct ph_page {
  uint32_t info;  /* kind:3 | height:6 | class:7 | nfree:16 */
  uint32_t size;
  uint32_t left;  /* links (page indices) of the free tree or a list, head pages only */
  uint32_t right;
} ph_page;

#define PH_INFO_KIND(i) ((i) & 7u)
#define PH_INFO_HEIGHT(i) (((i) >> 3) & 63u)
#define PH_INFO_CLASS(i) (((i) >> 9) & 127u)
#define PH_INFO_NFREE(i) ((i) >> 16)
/* A small run's head has no height: those bits count its regions on its
 * bin's recent stack (small.c). */
#define PH_INFO_RECENT(i) PH_INFO_HEIGHT(i)
#define PH_INFO_RECENT_ONE (1u << 3)
/* A FREE_TAIL's state (purge.c): its run was freed since its pages were
 * last given back. Tails have no height, class or count of their own. */
#define PH_TAIL_DIRTY (1u << 16)
#define PH_INFO(kind, height, cls, nfree) \
  ((uint32_t)(kind) | ((uint32_t)(height) << 3) | ((uint32_t)(cls) << 9) | ((uint32_t)(nfree) << 16))

/*
 * A bin's current run keeps its counts here, not in its map entry (whose
 * nfree stays 0 while it is cur): its regions [nregs - fresh, nregs) were
 * never handed out, and `freed` regions below them are free in its bitmap.
 * So the common allocation, from the fresh part, reads and writes only this
 * struct. Every other run of the bin has fresh = 0 and its nfree in its entry.
 */
typedef struct ph_bin {
  uint32_t cur;   /* run allocations come from; 0 = none */
  uint32_t head;  /* FIFO list of the other non-full runs (links: left = prev, right = next) */
  uint32_t tail;
  uint32_t live;  /* live regions in all of the bin's runs */
  uint16_t fresh; /* regions of cur never handed out */
  uint16_t freed; /* regions of cur freed back into its bitmap */
} ph_bin;

/*
 * Recently freed regions (small.c). Per bin, a stack of the regions freed
 * lately in runs other than cur, newest on top; the bin's allocations that
 * the fresh part of cur cannot serve take them first. The lines a free just
 * touched are reused while they are still cached, and neither side walks a
 * bitmap or a run list. A recent region is free in its run's bitmap, so
 * every check of a pointer sees it as free, but its run's nfree leaves it
 * out (the run's head entry counts them apart, PH_INFO_RECENT): a run that
 * holds one is on the bin's list only for its other free regions. No recent
 * region lies in cur (a run becomes cur only when its bin's stack is
 * empty), and every run holding one holds a live region too: the free of a
 * run's last live region takes its recent regions off the stack, and the
 * run goes back to the pages as before.
 *
 * The stacks sit in the header's second page, after the struct, and belong
 * to one generation of the heap: a reset, which changes the generation,
 * empties them all without writing them. In zero mode they stay empty.
 * Slots hold offset / 8, so regions at PH_RECENT_LIMIT or above are never
 * recent.
 */
#define PH_RECENT_CAP 8u
#define PH_RECENT_LIMIT ((uint64_t)1 << 35)
typedef struct ph_recent {
  uint64_t generation;                       /* the stacks are empty unless this is the heap's generation */
  uint8_t count[PH_NCLASSES];                /* slots in use per bin, <= PH_RECENT_CAP */
  uint32_t slot[PH_NCLASSES][PH_RECENT_CAP]; /* region offset / 8, oldest first */
} ph_recent;
#define PH_RECENT_AT 6848u /* byte offset in the header: room for the struct to grow before it */

/*
 * Decay's sense of age (purge.c): a dirty page may go back to the system
 * only once the heap has taken pages (a page-level allocation) since it
 * became dirty, and did not take it. So a loop that frees everything and
 * allocates it again reuses its pages before they count as old, and never
 * faults them in again; memory that stays free goes at the first free of
 * pages after the next allocation. Counts, not clocks: at each page-level
 * allocation, the pages then dirty become old (the list's oldest first, the
 * highest above hwm first); using or merging pages makes fewer old. In the
 * header's second page, after the struct: restored with the heap, zero in
 * a heap made before it existed (nothing old yet).
 */
typedef struct ph_purge_age {
  uint32_t old_listed; /* of the dirty list's pages, the oldest this many are old (at most dirty_pages) */
  uint32_t old_top;    /* of the pages in [hwm, touched), the highest this many are old */
} ph_purge_age;
#define PH_PURGE_AGE_AT 6784u

typedef struct ph_root {
  char name[PH_ROOT_NAME_MAX + 1]; /* NUL-terminated; meaningful only while the slot is in use */
  uint64_t off;
} ph_root;

struct ph_heap {
  uint64_t magic;
  uint32_t abi;          /* PH_ABI_VERSION */
  uint32_t page_size;    /* PH_PAGE_SIZE */
  uint64_t scratch_next; /* at PH_SCRATCH_CURSOR: offsets into the current scratch chunk, */
  uint64_t scratch_end;  /* read and bumped by the inline ph_scratch_alloc; 0, 0 = none */
  uint32_t scratch_chunks; /* chunks taken since the last reset (sizes double) */
  uint32_t header_pages; /* PH_HEADER_PAGES */
  uint32_t lg_chunk;     /* log2 of pages per map leaf */
  uint32_t flags;        /* init flags */
  uint32_t npages;       /* pages the heap may use */
  uint32_t base_pages;   /* hwm of an empty heap: header + leaf 0 */
  uint32_t hwm;          /* high-water mark (pages) */
  uint32_t touched;      /* highest hwm since init: pages above it are zero */
  uint32_t nleaves;      /* leaves in use: cover pages [0, nleaves << lg_chunk) */
  uint32_t free_root;    /* AVL tree of free runs longer than PH_FREE_LISTS pages */
  uint32_t free_mask;    /* bit k - 1: free_list[k] is not empty */
  uint32_t free_list[PH_FREE_LISTS + 1]; /* [k]: free runs of exactly k pages (0 unused) */
  uint32_t dirty_head;   /* oldest dirty free run (its tail page), 0 = none (purge.c) */
  uint32_t newest_class; /* class of the latest bump allocation, at newest_off: */
  uint64_t newest_off;   /* a hint for ph__off_free, checked against that bin before use */
  uint32_t roots_used;   /* bit i: roots[i] holds a name (reset clears this word only) */
  uint32_t dirty_pages;  /* pages of the runs on the dirty list */
  uint64_t generation;
  uint64_t region_size;  /* bytes given to init (or attach, when larger) */
  /* counters, equal to what a walk finds (small ones are per bin) */
  uint64_t small_run_pages;
  uint64_t large_count;
  uint64_t large_pages;
  uint64_t free_pages;
  uint64_t free_runs;
  uint64_t meta_pages;
  uint64_t free_count;   /* since the last reset; mallocs = live + frees */
  ph_bin bins[PH_NCLASSES];
  ph_root roots[PH_ROOT_COUNT];
  uint32_t dir[PH_DIR_CAP]; /* page index of each map leaf */
  /* The lock block (lock.c): the region's, not the heap's. Restores and
   * ring loads leave it as it is, checksums skip it, so a snapshot taken by
   * one lock holder equals one taken by another. Last in the header. */
  uint64_t lock_word;       /* 0 free; else owner thread id | waiters bit 31 | owner start time << 32 */
  uint32_t lock_depth;      /* recursion of the owner beyond its first lock */
  uint32_t lock_recoveries; /* locks taken over from a dead owner */
  int32_t lock_check;       /* ph_heap_check after the last takeover */
  uint16_t lock_enabled;    /* 1: a PH_LOCKED heap (ph_heap_flags reports it); else 0 */
  uint16_t purge_mode;      /* whether this memory may be given back: a PH__PURGE_* (purge.c) */
};
_Static_assert(offsetof(struct ph_heap, lock_word) % 8 == 0, "the lock word is one aligned 64-bit word");
_Static_assert(offsetof(struct ph_heap, lock_word) == PH_LOCK_BLOCK_OFFSET, "privheap.h names the lock block");
_Static_assert(sizeof(struct ph_heap) == PH_LOCK_BLOCK_END, "the lock block ends the header");
_Static_assert(offsetof(struct ph_heap, purge_mode) == PH_LOCK_BLOCK_OFFSET + 22, "heap-mirror.test.ts finds the purge mode");

_Static_assert(sizeof(struct ph_heap) <= PH_HEADER_PAGES * PH_PAGE_SIZE, "header fits its pages");
_Static_assert(sizeof(struct ph_heap) <= PH_RECENT_AT && PH_RECENT_AT % 64 == 0, "the recent stacks follow the struct");
_Static_assert(PH_RECENT_AT + sizeof(ph_recent) <= PH_HEADER_PAGES * PH_PAGE_SIZE, "and end in the header");
_Static_assert(sizeof(struct ph_heap) <= PH_PURGE_AGE_AT && PH_PURGE_AGE_AT + sizeof(ph_purge_age) <= PH_RECENT_AT,
               "decay's ages sit between the struct and the recent stacks");
_Static_assert(offsetof(struct ph_heap, scratch_next) == PH_SCRATCH_CURSOR, "the inline scratch path finds its cursor");
_Static_assert(offsetof(struct ph_heap, scratch_end) == PH_SCRATCH_CURSOR + 8, "next, then end");
_Static_assert(offsetof(struct ph_heap, generation) == PH_GENERATION_OFFSET, "privheap.h names the generation");
_Static_assert(offsetof(struct ph_heap, free_count) == PH_FREE_COUNT_OFFSET, "privheap.h names the free count");
_Static_assert(PH_HEADER_PAGES * PH_PAGE_SIZE == PH_HEADER_BYTES, "privheap.h names the header's size");
_Static_assert(sizeof(ph_page) == 16, "page entries are 16 bytes");

/* Pointers into the region are as writable as the handle they come from:
 * ph__base, ph__page and ph__small_trailing_bitmap of a const heap are
 * const (one name for both, chosen by _Generic, so no caller casts). */
#define PH__CONST_OR_NOT(h, const_fn, fn) _Generic((h), const ph_heap_t *: const_fn, ph_heap_t *: fn)

static inline const char *ph__base_const(const ph_heap_t *h) { return (const char *)h; }
static inline char *ph__base_mut(ph_heap_t *h) { return (char *)h; }
#define ph__base(h) PH__CONST_OR_NOT(h, ph__base_const, ph__base_mut)(h)

static inline uint32_t ph__leaf_pages(uint32_t lg_chunk) {
  return (uint32_t)(((uint64_t)sizeof(ph_page) << lg_chunk) >> PH_LG_PAGE);
}

/* Entry of page p. p must be below nleaves << lg_chunk. */
static inline uint64_t ph__page_at(const ph_heap_t *h, uint32_t p) {
  uint64_t leaf = h->dir[p >> h->lg_chunk];
  return (leaf << PH_LG_PAGE) + (uint64_t)(p & ((1u << h->lg_chunk) - 1u)) * sizeof(ph_page);
}
static inline const ph_page *ph__page_const(const ph_heap_t *h, uint32_t p) {
  return (const ph_page *)(ph__base_const(h) + ph__page_at(h, p));
}
static inline ph_page *ph__page_mut(ph_heap_t *h, uint32_t p) { return (ph_page *)(ph__base_mut(h) + ph__page_at(h, p)); }
#define ph__page(h, p) PH__CONST_OR_NOT(h, ph__page_const, ph__page_mut)(h, p)

static inline uint32_t ph__kind(const ph_page *e) { return PH_INFO_KIND(e->info); }

/* The recent stacks of a heap (readable once the header check has passed:
 * hwm is at least base_pages, so both header pages are in the region). */
static inline const ph_recent *ph__recent_const(const ph_heap_t *h) {
  return (const ph_recent *)(ph__base_const(h) + PH_RECENT_AT);
}
static inline ph_recent *ph__recent_mut(ph_heap_t *h) { return (ph_recent *)(ph__base_mut(h) + PH_RECENT_AT); }
#define ph__recent(h) PH__CONST_OR_NOT(h, ph__recent_const, ph__recent_mut)(h)
static inline ph_purge_age *ph__purge_age(ph_heap_t *h) { return (ph_purge_age *)(ph__base_mut(h) + PH_PURGE_AGE_AT); }
/* A page-level allocation: the pages dirty now are old (purge.c). */
static inline void ph__purge_age_all(ph_heap_t *h) {
  ph_purge_age *a = ph__purge_age(h);
  a->old_listed = h->dirty_pages;
  a->old_top = h->touched - h->hwm;
}

/* Whether page p is in the heap's used pages, where a run head may be. A
 * link or a size read from a map entry is untrusted (the heap may have been
 * attached without a full check) until a test like this one bounds it. */
static inline bool ph__in_heap(const ph_heap_t *h, uint64_t p) { return p >= h->base_pages && p < h->hwm; }

/* Take run p off a doubly-linked list of run heads (left = prev, right =
 * next); tail is NULL for a list kept without one. p's links become 0.
 * Refused (false, nothing written) unless both neighbours, or the list's
 * ends, point back at p: damaged links are never followed. */
static inline bool ph__list_unlink(ph_heap_t *h, uint32_t *head, uint32_t *tail, uint32_t p) {
  ph_page *e = ph__page(h, p), *l = NULL, *r = NULL;
  if (e->left) {
    if (!ph__in_heap(h, e->left) || (l = ph__page(h, e->left))->right != p) return false;
  } else if (*head != p) {
    return false;
  }
  if (e->right) {
    if (!ph__in_heap(h, e->right) || (r = ph__page(h, e->right))->left != p) return false;
  } else if (tail && *tail != p) {
    return false;
  }
  if (l) l->right = e->right;
  else *head = e->right;
  if (r) r->left = e->left;
  else if (tail) *tail = e->left;
  e->left = e->right = 0;
  return true;
}

/* ---- errors (error.c) ---------------------------------------------------- */
/* Results. A ph__ function that can fail says so in its result: a negative
 * PH_E* code, or (an offset or page index, which is never negative) the
 * thing it made. It records nothing: each public entry point records the
 * code of its own failure, once, where it returns (ph__fail), so the
 * thread's last error is always the failing call's and never a stale one. */

/* Record code for ph_last_error and return it (or NULL). Cold: failures are
 * rare, and keeping them out of line keeps the fast paths short. */
__attribute__((cold)) int ph__fail(int code);
__attribute__((cold)) void *ph__fail_null(int code);
/* ph__fail, also recording the operating system's error number behind it. */
__attribute__((cold)) int ph__fail_os(int code, int os_error);

/* ---- the free-run tree (runtree.c) -------------------------------------- */
/* AVL tree keyed by (pages, index); p's size must not change while in it.
 * Every node reached is checked (a FREE head in the heap) and the depth is
 * bounded, so a damaged tree gives PH_ECORRUPT, never a fault or a loop.
 * insert and remove return 0 or PH_ECORRUPT. */
int ph__tree_insert(ph_heap_t *h, uint32_t *root, uint32_t p);
int ph__tree_remove(ph_heap_t *h, uint32_t *root, uint32_t p);
/* *best = the smallest run of at least `pages` pages, lowest first (0 if
 * none); 0 or PH_ECORRUPT. */
int ph__tree_lower_bound(const ph_heap_t *h, uint32_t root, uint32_t pages, uint32_t *best);

/* ---- page runs (pages.c) ------------------------------------------------- */
/* Allocate n pages whose index is a multiple of align_pages (a power of two).
 * Returns the first page, or PH_ENOMEM / PH_ECORRUPT. *zeroed (set on
 * success) says whether all bytes are known 0. */
int64_t ph__pages_alloc(ph_heap_t *h, uint32_t n, uint32_t align_pages, bool *zeroed);
/* Return run [p, p + n) (inside [base_pages, hwm)) to the free space (its
 * head entry is overwritten). 0, or PH_ECORRUPT when a neighbour's entries
 * are damaged. */
int ph__pages_free(ph_heap_t *h, uint32_t p, uint32_t n);
/* Lower hwm through whatever no longer needs to be in the heap at its top
 * (as ph__pages_free does after freeing the top run): 0 or PH_ECORRUPT. */
int ph__pages_fall(ph_heap_t *h);
/* Grow the run [p, p + n) in place to m pages, if the pages after it are
 * free: 1 grown, 0 not, or PH_ECORRUPT. */
int ph__pages_grow(ph_heap_t *h, uint32_t p, uint32_t n, uint32_t m);
/* Shrink the run [p, p + n) in place to m pages (0 < m < n): 0 or PH_ECORRUPT. */
int ph__pages_shrink(ph_heap_t *h, uint32_t p, uint32_t n, uint32_t m);
/* The head of the run containing page p (p < hwm), from any of its pages;
 * O(run length) for free, large and META runs. */
uint32_t ph__pages_run_head(const ph_heap_t *h, uint32_t p);
/* Set up the first leaf and an empty page space (used by init and reset). */
void ph__pages_format(ph_heap_t *h);

/* ---- memory given back (purge.c) --------------------------------------- */
/* Dirty free runs (of two pages or more) are on a circular FIFO list
 * linked through their tail entries (left = older, right = newer; the
 * header names the oldest). Pages above hwm up to touched count as dirty
 * too. Each link followed is checked (a dirty FREE_TAIL inside the heap
 * pointing back); a broken one is PH_ECORRUPT. */
/* The purge mode as the lock block stores it. Decay, the mode of heaps
 * made by PrivateHeap.create, is 0: their lock block stays zero, so the
 * header's second page of a heap with few map leaves stays a zero page,
 * which snapshot files and replay keyframes do not store. Whatever formats
 * or adopts a region writes the mode it means (off for memory it does not
 * know). */
enum { PH__PURGE_DECAY = 0, PH__PURGE_OFF = 1, PH__PURGE_NOW = 2 };
/* The mode as ph_heap_flags reports it: 0, PH_PURGE or PH_PURGE_NOW. */
static inline unsigned ph__purge_flags(const ph_heap_t *h) {
  return h->purge_mode == PH__PURGE_DECAY ? PH_PURGE : h->purge_mode == PH__PURGE_NOW ? PH_PURGE_NOW : 0u;
}
/* Set it from one of those three. */
static inline void ph__set_purge(ph_heap_t *h, unsigned flags) {
  h->purge_mode = flags == PH_PURGE ? PH__PURGE_DECAY : flags == PH_PURGE_NOW ? PH__PURGE_NOW : PH__PURGE_OFF;
}
/* Put free run [p, p + n) (n >= 2, its tail entry written, clean) on the
 * list as its newest, marking it dirty: 0 or PH_ECORRUPT. */
int ph__dirty_push(ph_heap_t *h, uint32_t p, uint32_t n);
/* Take the dirty run of n pages whose tail is t (a sound free run, its
 * tail marked dirty) off the list: 0 or PH_ECORRUPT. */
int ph__dirty_unlink(ph_heap_t *h, uint32_t t, uint32_t n);
/* After a page-level free left run [p, p + n) (n 0: the top fell): give
 * back what the heap's purge mode asks for. Never fails: the free is done,
 * and damage is left for ph_heap_check and ph_heap_purge to report. */
void ph__purge_after_free(ph_heap_t *h, uint32_t p, uint32_t n);

/* ---- small size classes (small.c) --------------------------------------- */
/* Offset of a new region of class c from anywhere but cur's fresh part, or
 * PH_ENOMEM / PH_ECORRUPT. ph__small_alloc below is the inlined common case. */
int64_t ph__small_alloc_slow(ph_heap_t *h, unsigned c);
/* Free the region at off inside small run `run` (a page of the heap), whose
 * head entry is e; the entry is validated first. 0, PH_EBADPTR,
 * PH_EDOUBLEFREE or PH_ECORRUPT. */
int ph__small_free(ph_heap_t *h, uint32_t run, ph_page *e, uint64_t off);
/* The same when e is a small head of class c (< PH_NCLASSES): when it is
 * the head of the bin's cur and the heap is not in zero mode; and when it
 * is not, or the heap is. Called by ph__off_free's inline part, which has
 * told the two apart already. */
int ph__small_free_in_cur(ph_heap_t *h, unsigned c, ph_page *e, uint64_t off);
int ph__small_free_elsewhere(ph_heap_t *h, unsigned c, uint32_t run, ph_page *e, uint64_t off);
/* The head of the small run ending at page q (base_pages < q <= hwm) when
 * it is the current run of its bin and holds no live region, else 0. Inline:
 * the fall after a malloc and free in a loop asks it twice per free. */
static inline uint32_t ph__small_empty_cur_ending_at(const ph_heap_t *h, uint32_t q) {
  uint32_t run = q - 1;
  const ph_page *e = ph__page(h, run);
  if (ph__kind(e) == PH_PK_SMALL_BODY) {
    if (e->size > run - h->base_pages) return 0;
    run -= e->size;
    e = ph__page(h, run);
  }
  unsigned c = PH_INFO_CLASS(e->info);
  if (ph__kind(e) != PH_PK_SMALL || c >= PH_NCLASSES) return 0;
  const ph_bin *bin = &h->bins[c];
  const ph_class *cl = &ph__classes[c]; /* a page-run class has run_pages 0: no match below */
  return bin->cur == run && run + cl->run_pages == q && (uint32_t)bin->fresh + bin->freed == cl->nregs ? run : 0;
}
/* The bin of such a run lets it go (cur 0): its pages are the caller's. */
void ph__small_give_up_cur(ph_heap_t *h, uint32_t run);
/* Regions on bin c's recent stack (0 when the stacks are of another
 * generation; a damaged count may exceed PH_RECENT_CAP). */
unsigned ph__small_recent_count(const ph_heap_t *h, unsigned c);
/* The run holding the region of bin c's recent slot i, when the slot names
 * a region start of a small run of class c in the heap, other than cur,
 * whose bitmap says free and whose head counts recent regions; else 0. */
uint32_t ph__small_recent_run(const ph_heap_t *h, unsigned c, unsigned i);
/* Whether run is the head of a small run that lies inside the heap. */
bool ph__small_run_ok(const ph_heap_t *h, uint32_t run);
/* Region index of off inside run, or -1 if off is not a region start. */
long ph__small_region(const ph_heap_t *h, uint32_t run, uint64_t off);
/* Whether region i of run is allocated. */
bool ph__small_is_live(const ph_heap_t *h, uint32_t run, long i);
/* Offset of a new region of class c, or PH_ENOMEM / PH_ECORRUPT. */
static inline int64_t ph__small_alloc(ph_heap_t *h, unsigned c) {
  ph_bin *bin = &h->bins[c];
  if (PH_LIKELY(bin->freed == 0 && bin->fresh != 0)) {
    const ph_class *cl = &ph__classes[c];
    uint32_t reg = cl->nregs - bin->fresh--;
    bin->live++;
    uint64_t off = ((uint64_t)bin->cur << PH_LG_PAGE) + (uint64_t)reg * cl->size;
    h->newest_class = c;
    h->newest_off = off;
    return (int64_t)off;
  }
  return ph__small_alloc_slow(h, c);
}

/* Pointer to the first bitmap word of a run with a trailing bitmap. */
static inline const uint64_t *ph__small_trailing_bitmap_const(const ph_heap_t *h, uint32_t run, const ph_class *cl) {
  return (const uint64_t *)(ph__base_const(h) + ((uint64_t)run << PH_LG_PAGE) + cl->bm_off);
}
static inline uint64_t *ph__small_trailing_bitmap_mut(ph_heap_t *h, uint32_t run, const ph_class *cl) {
  return (uint64_t *)(ph__base_mut(h) + ((uint64_t)run << PH_LG_PAGE) + cl->bm_off);
}
#define ph__small_trailing_bitmap(h, run, cl) \
  PH__CONST_OR_NOT(h, ph__small_trailing_bitmap_const, ph__small_trailing_bitmap_mut)(h, run, cl)

/* ---- frame scratch (scratch.c) ------------------------------------------ */
/* 0 when the scratch cursor is empty or lies in its chunk (the newest
 * SCRATCH run, past its first 16 bytes), else PH_ECORRUPT. O(1): at most
 * PH_SCRATCH_CHUNK_MAX / PH_PAGE_SIZE map entries. Needs a header that
 * ph__check_header has bounded up to the scratch cursor. */
int ph__scratch_cursor_check(const ph_heap_t *h);

/* ---- allocation entry points (alloc.c) ---------------------------------- */
/* The operations of ph_off_* (section 4 of privheap.h) on a non-NULL heap,
 * shared by the pointer, offset and seed APIs: an offset (> 0), or PH_ENOMEM,
 * PH_EINVAL, PH_EBADPTR, PH_EDOUBLEFREE or PH_ECORRUPT, recorded by the
 * entry point. */
int64_t ph__off_malloc_slow(ph_heap_t *h, size_t size);
static inline int64_t ph__off_malloc(ph_heap_t *h, size_t size) {
  if (PH_LIKELY(size <= PH_LOOKUP_MAX)) return ph__small_alloc(h, ph__lookup[(size + 7) >> 3]);
  return ph__off_malloc_slow(h, size);
}
int64_t ph__off_calloc(ph_heap_t *h, size_t n, size_t size);
int64_t ph__off_aligned(ph_heap_t *h, size_t align, size_t size);
int64_t ph__off_realloc(ph_heap_t *h, uint64_t off, size_t size);
int ph__off_free_slow(ph_heap_t *h, uint64_t off);
/* Free the allocation at off: 0, PH_EBADPTR, PH_EDOUBLEFREE or PH_ECORRUPT.
 * Always inlined: called out of line, its result would cost a call and a
 * test in the entry point that records it (ph_heap_free: 6-9% per
 * malloc+free pair in an A/B run); inlined, the fast path returns 0 there. */
static inline __attribute__((always_inline)) int ph__off_free(ph_heap_t *h, uint64_t off) {
  /* Stack-like use: off is the newest region of the bin that bumped last.
   * The hint is only trusted once that bin confirms it: with no freed regions
   * in its run, every region below the bump is live, so off is live. */
  if (off == h->newest_off) {
    unsigned c = h->newest_class;
    if (c < PH_NCLASSES && !(h->flags & PH_ZERO_ON_FREE)) {
      ph_bin *bin = &h->bins[c];
      const ph_class *cl = &ph__classes[c];
      uint32_t handed = cl->nregs - bin->fresh;
      if (bin->freed == 0 && handed != 0 && handed <= cl->nregs && bin->cur &&
          off == ((uint64_t)bin->cur << PH_LG_PAGE) + (uint64_t)(handed - 1) * cl->size) {
        bin->fresh++;
        bin->live--;
        h->free_count++;
        h->newest_off = handed > 1 ? off - cl->size : 0; /* the next one down, for a LIFO run */
        /* The run is empty now: it may be what holds hwm up. */
        return PH_LIKELY(handed > 1) ? 0 : ph__pages_fall(h);
      }
    }
  }
  uint64_t p = off >> PH_LG_PAGE;
  if (PH_LIKELY((off & 7u) == 0 && p >= h->base_pages && p < h->hwm)) {
    /* A one-page run's trailing bitmap is its page's last line: start that
     * (likely) miss while the map entry is read. A hint; a wrong guess costs
     * nothing (churn: about 5% faster in an A/B run). */
    __builtin_prefetch(ph__base(h) + (off | (PH_PAGE_SIZE - 1)) - 63, 1);
    /* And the region's own line: a region freed into a bin's recent stack
     * is the next one the bin hands out, and its caller writes it at once. */
    __builtin_prefetch(ph__base(h) + off, 1);
    ph_page *e = ph__page(h, (uint32_t)p);
    uint32_t info = e->info, k = PH_INFO_KIND(info);
    if (k == PH_PK_SMALL) {
      /* A region in the first page of its bin's cur run: freed here, without a call. */
      unsigned c = PH_INFO_CLASS(info);
      if (PH_UNLIKELY(c >= PH_NCLASSES)) return PH_ECORRUPT;
      if (h->bins[c].cur == p && !(h->flags & PH_ZERO_ON_FREE)) return ph__small_free_in_cur(h, c, e, off);
      return ph__small_free_elsewhere(h, c, (uint32_t)p, e, off);
    }
    if (k == PH_PK_SMALL_BODY && e->size <= p - h->base_pages) { /* else: damage, classified by the slow path */
      uint32_t run = (uint32_t)p - e->size; /* its head may sit in the previous leaf */
      return ph__small_free(h, run, ph__page(h, run), off);
    }
  }
  return ph__off_free_slow(h, off);
}
/* Usable size of the live allocation at off, or a negative PH_E* code. */
int64_t ph__off_usable(const ph_heap_t *h, uint64_t off);

/* The pointer APIs over the offset operations (alloc.c, compat.c). */
/* A pointer API result: the allocation at offset r, or NULL with r's code
 * recorded. */
static inline void *ph__ptr_result(ph_heap_t *h, int64_t r) {
  return PH_LIKELY(r >= 0) ? ph__base(h) + r : ph__fail_null((int)r);
}
/* Offset of p in h, or 1 (never an allocation: not 8-aligned) when p is
 * outside the region or is its base (offset 0 would read as NULL). */
static inline uint64_t ph__to_off(const ph_heap_t *h, const void *p) {
  uintptr_t b = (uintptr_t)h, q = (uintptr_t)p;
  return q > b && q - b < ((uint64_t)h->npages << PH_LG_PAGE) ? (uint64_t)(q - b) : 1u;
}

/* ---- lifecycle (heap.c) -------------------------------------------------- */
/* Grow a validated heap's page count to a region of `size` bytes (capped by
 * its map directory; never shrinks): the extra pages become free space. */
void ph__adopt_size(ph_heap_t *h, size_t size);
/* The offset of root `name` in *off (0 when it is not set): 0, or
 * PH_EINVAL for a NULL heap or a name that no root can have. */
int ph__get_root(const ph_heap_t *h, const char *name, uint64_t *off);

/* ---- the shared lock (lock.c) ------------------------------------------- */
/* A spinning waiter's pause: lets the other hyperthread run, saves power. */
#if defined(__x86_64__) || defined(__i386__)
#define ph__cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define ph__cpu_relax() __asm__ __volatile__("yield")
#else
#define ph__cpu_relax() ((void)0)
#endif

/* lock_depth, the owner's recursion: only the owner writes it, but an
 * unlock reads it before it knows whether its caller owns the lock, so
 * every access is a relaxed atomic (a plain load or store on the targets
 * we build), never a data race. */
static inline uint32_t ph__lock_depth(const ph_heap_t *h) { return __atomic_load_n(&h->lock_depth, __ATOMIC_RELAXED); }
static inline void ph__lock_set_depth(ph_heap_t *h, uint32_t depth) {
  __atomic_store_n(&h->lock_depth, depth, __ATOMIC_RELAXED);
}

/* The first try of both locks: a free word taken with one CAS and no read
 * before it (a read, then a write, of a line another core last wrote moves
 * the line twice), or one more recursive hold by its owner `me` (compared
 * under `owner_mask`, which strips a lock's flag bits) when the caller
 * holds some lock (`holding`: else a word naming it is stale or forged).
 * True when the caller holds the lock now; else *seen is the word found. */
static inline bool ph__lock_first_try(ph_heap_t *h, uint64_t me, uint64_t owner_mask, bool holding, uint64_t *seen) {
  uint64_t cur = 0;
  if (__atomic_compare_exchange_n(&h->lock_word, &cur, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    ph__lock_set_depth(h, 0);
    return true;
  }
  if (holding && (cur & owner_mask) == me) {
    ph__lock_set_depth(h, ph__lock_depth(h) + 1);
    return true;
  }
  *seen = cur;
  return false;
}

/* Whether PH_LOCKED heaps work on this platform. */
bool ph__lock_supported(void);
/* After a takeover from an owner that cannot release the lock: count it,
 * check the heap, and keep the result as the lock's verdict; returns 1. */
int ph__lock_taken_over(ph_heap_t *h);
/* Whether the `size` bytes at h hold a lock block of this layout: a heap's
 * magic and version, however damaged the rest of its header. */
static inline bool ph__has_lock_block(const ph_heap_t *h, size_t size) {
  return size >= sizeof(struct ph_heap) && h->magic == PH_MAGIC && h->abi == PH_ABI_VERSION && h->lock_enabled <= 1;
}
/* The heap was replaced (restore, reset): a takeover's verdict on the old
 * one no longer applies. */
static inline void ph__lock_forget_verdict(ph_heap_t *h) { h->lock_check = 0; }
/* The lock without futex (lock_portable.c): the acquire and release of
 * non-Linux systems, after their argument checks: 0, 1 after a takeover, or
 * PH_EBUSY after limit_ns (> 0) with an owner that can release it; unlock
 * returns PH_EINVAL unrecorded. Built on Linux too, for its tests. */
int ph__portable_lock(ph_heap_t *h, int64_t limit_ns);
int ph__portable_unlock(ph_heap_t *h);
bool ph__portable_held(const ph_heap_t *h);

/* ---- the lock across fork() (lock_fork.c) -------------------------------- */
/* A thread as both locks know it. */
typedef struct ph__lock_self {
  uint64_t word;        /* its lock word when it holds a lock (0: not made yet) */
  uint64_t forked_from; /* in a forked child: the word it had in the parent */
  uint32_t holds;       /* locks it holds on any heap, recursion included */
} ph__lock_self;
/* In a forked child (an atfork handler): the thread gets a new word; the
 * holds it had are its own again only in a private copy (see adopt_carried). */
void ph__lock_self_forked(ph__lock_self *self);

/* ---- the heap checksum (checksum.c) -------------------------------------- */
/* Page-hash kernels: the plain C one, the x86-64 vector ones, and the
 * best this CPU runs (the one ph_checksum and ph_checksum_update use).
 * Every kernel gives the same hashes; the tests compare them. */
#define PH__CHECKSUM_PORTABLE 0
#define PH__CHECKSUM_AVX2 1
#define PH__CHECKSUM_AVX512 2
#define PH__CHECKSUM_BEST 3
/* Whether this CPU runs that kernel (PORTABLE and BEST always do). */
bool ph__checksum_kernel_runs(int kernel);
/* H(i), the hash of page i of region (see checksum.c), by that kernel
 * (the portable one when this CPU does not run it). */
uint64_t ph__page_hash(const void *region, uint64_t i, int kernel);
/* "avx512", "avx2" or "portable": the kernel PH__CHECKSUM_BEST is here. */
const char *ph__checksum_kernel_name(void);
/* The 128-bit product's fold (low ^ high) from 32-bit halves: what targets
 * without a 128-bit integer type use. */
uint64_t ph__fold_halves(uint64_t a, uint64_t b);
/* The 8 bytes at p as a little-endian u64, whatever the host's byte order
 * and p's alignment: how the page hash and XXH3 read their input. */
static inline uint64_t ph__load_le64(const unsigned char *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
#else
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
         (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
#endif
}
/* The low 64 bits of a * b xor its high 64 bits: the multiply-fold the page
 * hash (checksum.c) and XXH3 (xxh3.c) share. */
static inline uint64_t ph__fold(uint64_t a, uint64_t b) {
#if defined(__SIZEOF_INT128__)
  unsigned __int128 m = (unsigned __int128)a * b;
  return (uint64_t)m ^ (uint64_t)(m >> 64);
#else
  return ph__fold_halves(a, b);
#endif
}

/* ---- validation (check.c) ----------------------------------------------- */
/* O(1) header validation for attach and check; 0 or a PH_E* code. len is the
 * number of readable bytes (the used prefix is enough). */
int ph__check_header(const struct ph_heap *h, size_t len);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif
#endif
