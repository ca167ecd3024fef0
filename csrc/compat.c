/*
 * compat.c - the seed-compatible API: the jemalloc 3.4.1 private-heap fork's
 * names over one default heap per process.
 *
 * The default heap is only a handle (the region base); all of its state is
 * in the region. ph_malloc_reset keeps it configured, and
 * ph_config_private_heap may be called again to format another region.
 *
 * Keeps malloc's alignment: a block of n >= 16 bytes is 16-byte aligned
 * (alignof(max_align_t) on 64-bit targets, as glibc and jemalloc give),
 * and a smaller one is aligned to the largest power of two <= n. Requests
 * above 16 bytes are rounded up to a multiple of 16: every size class that
 * is a multiple of 16 starts its regions at a page (runs are whole pages,
 * the region base is page aligned) and steps by its size, and page runs are
 * page aligned. Requests of 1..16 bytes take the 8- or 16-byte class. The
 * handle API keeps its own classes (24, 40, 56 are 8-byte aligned).
 */
#include "internal.h"
#include <errno.h>

static ph_heap_t *default_heap;

_Static_assert(_Alignof(max_align_t) <= 16, "malloc's alignment is at most the seed API's 16 bytes");

/* The request the heap is asked for: n rounded up to a multiple of 16 above
 * 16 bytes (a size too large to round fails as ENOMEM either way). */
static inline size_t malloc_size(size_t n) {
  return n > 16 && n <= SIZE_MAX - 15 ? (n + 15) & ~(size_t)15 : n;
}

ph_heap_t *ph_default_heap(void) { return default_heap; }

/* Pages at the start of the region that may hold non-zero bytes: the pages
 * a heap formatted here before touched (its header says, when it passes
 * the header check), all of them when the header looks like a heap's but
 * does not pass, none otherwise (the caller's region reads as zero). */
static uint64_t pages_written_before(const void *base, size_t size) {
  if (!base || ((uintptr_t)base & (PH_PAGE_SIZE - 1)) != 0 || size < sizeof(struct ph_heap)) return 0;
  const ph_heap_t *old = base;
  if (old->magic != PH_MAGIC) return 0;
  return ph__check_header(old, size) == 0 ? old->touched : UINT64_MAX;
}

int ph_config_private_heap(void *base, size_t size) {
  uint64_t dirty = pages_written_before(base, size);
  ph_heap_t *h = ph_heap_init(base, size, PH_REGION_ZEROED);
  if (!h) return ph_last_error();
  if (dirty > h->touched) h->touched = dirty < h->npages ? (uint32_t)dirty : h->npages;
  default_heap = h;
  return 0;
}

/* These call the offset operations themselves, not ph_heap_*: a program
 * linked against this API calls them for each of its allocations, and a
 * second exported call costs a PLT jump (bigrho under the shim: about 20
 * instructions per malloc and free). */
void *ph_malloc(size_t size) {
  ph_heap_t *h = default_heap;
  if (!h) return ph__fail_null(PH_EINVAL);
  return ph__ptr_result(h, ph__off_malloc(h, malloc_size(size)));
}

void *ph_calloc(size_t n, size_t size) {
  ph_heap_t *h = default_heap;
  if (!h) return ph__fail_null(PH_EINVAL);
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) return ph__fail_null(PH_ENOMEM);
  return ph__ptr_result(h, ph__off_calloc(h, 1, malloc_size(total)));
}

void *ph_realloc(void *p, size_t size) {
  ph_heap_t *h = default_heap;
  if (!h) return ph__fail_null(PH_EINVAL);
  return ph__ptr_result(h, ph__off_realloc(h, p ? ph__to_off(h, p) : 0, malloc_size(size)));
}

void ph_free(void *p) {
  ph_heap_t *h = default_heap;
  if (!h) {
    if (p) ph__fail(PH_EINVAL);
    return;
  }
  if (!p) return;
  int err = ph__off_free(h, ph__to_off(h, p));
  if (PH_UNLIKELY(err)) ph__fail(err);
}

/* The errno value for a PH_E* code, as posix_memalign reports it. */
static int as_errno(int code) { return code == PH_EINVAL ? EINVAL : ENOMEM; }

int ph_posix_memalign(void **out, size_t align, size_t size) {
  if (!out || align < sizeof(void *) || (align & (align - 1))) return as_errno(ph__fail(PH_EINVAL));
  if (!default_heap) {
    ph__fail(PH_EINVAL); /* as ph_malloc records it; the errno value says no memory, as it always has */
    return ENOMEM;
  }
  int64_t r = ph__off_aligned(default_heap, align, malloc_size(size));
  if (r < 0) return as_errno(ph__fail((int)r));
  *out = (char *)default_heap + r;
  return 0;
}

size_t ph_malloc_usable_size(void *p) {
  if (!p) return 0;
  if (!default_heap) {
    ph__fail(PH_EINVAL);
    return 0;
  }
  return ph_heap_usable_size(default_heap, p);
}

void ph_malloc_reset(void) {
  if (default_heap) ph_heap_reset(default_heap);
}
