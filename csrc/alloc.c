/*
 * alloc.c - malloc, calloc, aligned_alloc, realloc, free and usable_size at
 * the offset level, and the pointer API over them.
 *
 * Owns: LARGE entries and the dispatch between small classes and page runs.
 * Keeps: a call that fails changes no byte of the region; every pointer is
 * classified through the page map before anything is written, so a wrong or
 * stale pointer is reported (EBADPTR, EDOUBLEFREE) instead of trusted.
 * The map itself is untrusted too (a heap attached without a full check):
 * a run is bounded inside [base_pages, hwm) before anything follows its
 * entry, and an entry that cannot be what it says is PH_ECORRUPT.
 */
#include "internal.h"

static inline bool is_large_size(size_t size) {
  return size > PH_SMALL_MAX || ph__classes[ph__size2class(size)].run_pages == 0;
}

/* Pages for a large request (a page for 0 bytes: an aligned minimal
 * allocation), or 0 when it cannot fit any region. */
static inline uint32_t pages_for(const ph_heap_t *h, size_t size) {
  uint64_t n = ((uint64_t)size + PH_PAGE_SIZE - 1) >> PH_LG_PAGE;
  return (size > ((uint64_t)h->npages << PH_LG_PAGE)) ? 0 : n ? (uint32_t)n : 1u;
}

/* Offset of a new large run, or PH_ENOMEM / PH_ECORRUPT. */
static int64_t large_alloc(ph_heap_t *h, size_t size, uint32_t align_pages, bool *zeroed) {
  uint32_t n = pages_for(h, size);
  if (n == 0) return PH_ENOMEM;
  int64_t got = ph__pages_alloc(h, n, align_pages, zeroed);
  if (got < 0) return got;
  uint32_t p = (uint32_t)got;
  ph_page *e = ph__page(h, p);
  e->info = PH_INFO(PH_PK_LARGE, 0, 0, 0);
  e->size = n;
  h->large_count++;
  h->large_pages += n;
  return (int64_t)p << PH_LG_PAGE;
}

/* Requests above PH_LOOKUP_MAX: the upper small classes, or a page run. */
int64_t ph__off_malloc_slow(ph_heap_t *h, size_t size) {
  if (size <= PH_SMALL_MAX) {
    unsigned c = ph__size2class(size);
    if (ph__classes[c].run_pages) return ph__small_alloc(h, c);
  }
  bool zeroed;
  return large_alloc(h, size, 1, &zeroed);
}

int64_t ph__off_calloc(ph_heap_t *h, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) return PH_ENOMEM;
  bool zeroed = (h->flags & PH_ZERO_ON_FREE) != 0;
  int64_t off = is_large_size(total) ? large_alloc(h, total, 1, &zeroed) : ph__small_alloc(h, ph__size2class(total));
  if (off < 0) return off;
  if (!zeroed) memset(ph__base(h) + off, 0, total);
  return off;
}

int64_t ph__off_aligned(ph_heap_t *h, size_t align, size_t size) {
  if (align == 0 || (align & (align - 1)) != 0) return PH_EINVAL;
  if (align <= 8) return ph__off_malloc(h, size);
  if (align > ((uint64_t)h->npages << PH_LG_PAGE)) return PH_ENOMEM;
  if (align <= PH_PAGE_SIZE && size <= PH_SMALL_MAX) {
    /* The smallest class that holds size and is aligned enough. */
    for (unsigned c = ph__size2class(size); c < PH_NCLASSES; c++) {
      const ph_class *cl = &ph__classes[c];
      if (cl->run_pages == 0) break; /* a whole page: a page run is as good */
      if (cl->align >= align) return ph__small_alloc(h, c);
    }
  }
  bool zeroed;
  uint32_t align_pages = align > PH_PAGE_SIZE ? (uint32_t)(align >> PH_LG_PAGE) : 1u;
  return large_alloc(h, size, align_pages, &zeroed);
}

/*
 * Classify off: the head page of its small run (*run, *region >= 0) or of its
 * large run (*region = -1). Returns 0, or PH_EBADPTR / PH_EDOUBLEFREE /
 * PH_ECORRUPT without recording it. Off inside memory the heap has released
 * (a free run, or pages above hwm that were in use) is a double free; a
 * scratch chunk or anything else is a bad pointer; an entry whose run cannot
 * be inside the heap is damage.
 */
static int classify(const ph_heap_t *h, uint64_t off, uint32_t *run, long *region) {
  if (off & 7u) return PH_EBADPTR; /* every allocation is 8-byte aligned */
  uint64_t p64 = off >> PH_LG_PAGE;
  if (p64 < h->base_pages || p64 >= h->npages) return PH_EBADPTR;
  uint32_t p = (uint32_t)p64;
  if (p >= h->hwm) return p < h->touched ? PH_EDOUBLEFREE : PH_EBADPTR;
  const ph_page *e = ph__page(h, p);
  switch (ph__kind(e)) {
  case PH_PK_SMALL_BODY:
    if (e->size > p) return PH_ECORRUPT;
    p -= e->size;
    /* fall through */
  case PH_PK_SMALL: {
    if (!ph__small_run_ok(h, p)) return PH_ECORRUPT;
    long i = ph__small_region(h, p, off);
    if (i < 0) return PH_EBADPTR;
    if (!ph__small_is_live(h, p, i)) return PH_EDOUBLEFREE;
    *run = p;
    *region = i;
    return 0;
  }
  case PH_PK_LARGE:
    if (off & (PH_PAGE_SIZE - 1)) return PH_EBADPTR;
    if (e->size == 0 || (uint64_t)p + e->size > h->hwm) return PH_ECORRUPT;
    *run = p;
    *region = -1;
    return 0;
  case PH_PK_FREE:
  case PH_PK_FREE_TAIL:
    return PH_EDOUBLEFREE;
  case PH_PK_NONE: {
    uint32_t head = ph__pages_run_head(h, p);
    return ph__kind(ph__page(h, head)) == PH_PK_FREE ? PH_EDOUBLEFREE : PH_EBADPTR;
  }
  default:
    return PH_EBADPTR;
  }
}

static int large_free(ph_heap_t *h, uint32_t p) {
  uint32_t n = ph__page(h, p)->size;
  if ((h->flags & PH_ZERO_ON_FREE) && p + n < h->hwm) /* the top run leaves the heap: zeroed on return */
    memset(ph__base(h) + ((uint64_t)p << PH_LG_PAGE), 0, (size_t)n << PH_LG_PAGE);
  h->large_count--;
  h->large_pages -= n;
  h->free_count++;
  return ph__pages_free(h, p, n);
}

/* Everything ph__off_free's inline fast path (a small run's region) leaves. */
int ph__off_free_slow(ph_heap_t *h, uint64_t off) {
  uint32_t run;
  long region;
  int err = classify(h, off, &run, &region);
  if (err) return err;
  if (region >= 0) return ph__small_free(h, run, ph__page(h, run), off);
  return large_free(h, run);
}

int64_t ph__off_usable(const ph_heap_t *h, uint64_t off) {
  uint32_t run;
  long region;
  int err = classify(h, off, &run, &region);
  if (err) return err;
  const ph_page *e = ph__page(h, run);
  if (region >= 0) return ph__classes[PH_INFO_CLASS(e->info)].size;
  return (int64_t)e->size << PH_LG_PAGE;
}

int64_t ph__off_realloc(ph_heap_t *h, uint64_t off, size_t size) {
  if (off == 0) return ph__off_malloc(h, size);
  uint32_t run;
  long region;
  int err = classify(h, off, &run, &region);
  if (err) return err;
  ph_page *e = ph__page(h, run);
  size_t old;
  if (region >= 0) {
    unsigned c = PH_INFO_CLASS(e->info);
    old = ph__classes[c].size;
    if (!is_large_size(size) && ph__size2class(size) == c) return (int64_t)off;
  } else {
    uint32_t n = e->size, m = pages_for(h, size);
    old = (size_t)n << PH_LG_PAGE;
    if (m != 0 && is_large_size(size)) {
      if (m == n) return (int64_t)off;
      if (m < n) {
        if (h->flags & PH_ZERO_ON_FREE)
          memset(ph__base(h) + off + ((uint64_t)m << PH_LG_PAGE), 0, (size_t)(n - m) << PH_LG_PAGE);
        err = ph__pages_shrink(h, run, n, m);
        if (err) return err;
        e = ph__page(h, run);
        e->size = m;
        h->large_pages -= n - m;
        return (int64_t)off;
      }
      int grown = ph__pages_grow(h, run, n, m);
      if (grown < 0) return grown;
      if (grown) {
        e->size = m;
        h->large_pages += m - n;
        return (int64_t)off;
      }
    }
  }
  int64_t moved = ph__off_malloc(h, size);
  if (moved < 0) return moved;
  memcpy(ph__base(h) + moved, ph__base(h) + off, old < size ? old : size);
  err = ph__off_free(h, off);
  if (err) return err; /* damage found on the way: moved stays allocated */
  return moved;
}

/* ---- pointer API -------------------------------------------------------- */

void *ph_heap_malloc(ph_heap_t *h, size_t size) {
  if (!h) return ph__fail_null(PH_EINVAL);
  return ph__ptr_result(h, ph__off_malloc(h, size));
}

void *ph_heap_calloc(ph_heap_t *h, size_t n, size_t size) {
  if (!h) return ph__fail_null(PH_EINVAL);
  return ph__ptr_result(h, ph__off_calloc(h, n, size));
}

void *ph_heap_aligned_alloc(ph_heap_t *h, size_t align, size_t size) {
  if (!h) return ph__fail_null(PH_EINVAL);
  return ph__ptr_result(h, ph__off_aligned(h, align, size));
}

void *ph_heap_realloc(ph_heap_t *h, void *p, size_t size) {
  if (!h) return ph__fail_null(PH_EINVAL);
  return ph__ptr_result(h, ph__off_realloc(h, p ? ph__to_off(h, p) : 0, size));
}

int ph_heap_free(ph_heap_t *h, void *p) {
  if (!h) return ph__fail(PH_EINVAL);
  if (!p) return 0;
  int err = ph__off_free(h, ph__to_off(h, p));
  return PH_LIKELY(err == 0) ? 0 : ph__fail(err);
}

size_t ph_heap_usable_size(const ph_heap_t *h, const void *p) {
  int64_t r = h ? ph__off_usable(h, p ? ph__to_off(h, p) : 1u) : PH_EINVAL;
  if (r < 0) {
    ph__fail((int)r);
    return 0;
  }
  return (size_t)r;
}
