/*
 * compat.c - the seed-compatible API: the jemalloc 3.4.1 private-heap fork's
 * names over one default heap per process.
 *
 * The default heap is only a handle (the region base); all of its state is
 * in the region. ph_malloc_reset keeps it configured, and
 * ph_config_private_heap may be called again to format another region.
 */
#include "internal.h"
#include <errno.h>

static ph_heap_t *default_heap;

ph_heap_t *ph_default_heap(void) { return default_heap; }

int ph_config_private_heap(void *base, size_t size) {
  ph_heap_t *h = ph_heap_init(base, size, 0);
  if (!h) return ph_last_error();
  default_heap = h;
  return 0;
}

void *ph_malloc(size_t size) {
  if (!default_heap) return ph__fail_null(PH_EINVAL);
  return ph_heap_malloc(default_heap, size);
}

void *ph_calloc(size_t n, size_t size) {
  if (!default_heap) return ph__fail_null(PH_EINVAL);
  return ph_heap_calloc(default_heap, n, size);
}

void *ph_realloc(void *p, size_t size) {
  if (!default_heap) return ph__fail_null(PH_EINVAL);
  return ph_heap_realloc(default_heap, p, size);
}

void ph_free(void *p) {
  if (default_heap) ph_heap_free(default_heap, p);
  else if (p) ph__fail(PH_EINVAL);
}

/* The errno value for a PH_E* code, as posix_memalign reports it. */
static int as_errno(int code) { return code == PH_EINVAL ? EINVAL : ENOMEM; }

int ph_posix_memalign(void **out, size_t align, size_t size) {
  if (!out || align < sizeof(void *) || (align & (align - 1))) return as_errno(ph__fail(PH_EINVAL));
  if (!default_heap) {
    ph__fail(PH_EINVAL); /* as ph_malloc records it; the errno value says no memory, as it always has */
    return ENOMEM;
  }
  int64_t r = ph__off_aligned(default_heap, align, size);
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
