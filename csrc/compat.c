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

int ph_posix_memalign(void **out, size_t align, size_t size) {
  if (!out || align < sizeof(void *) || (align & (align - 1))) return EINVAL;
  if (!default_heap) return ENOMEM;
  void *p = ph_heap_aligned_alloc(default_heap, align, size);
  if (!p) return ph_last_error() == PH_EINVAL ? EINVAL : ENOMEM;
  *out = p;
  return 0;
}

size_t ph_malloc_usable_size(void *p) {
  if (!default_heap || !p) return 0;
  return ph_heap_usable_size(default_heap, p);
}

void ph_malloc_reset(void) {
  if (default_heap) ph_heap_reset(default_heap);
}
