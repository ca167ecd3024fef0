/*
 * ffi_locked.c - the offset API under a PH_LOCKED heap's lock, one FFI
 * crossing per call.
 *
 * Keeps: the lock is released before every return; a call whose lock was
 * taken over from a dead owner and whose heap then failed its check does
 * nothing and returns PH_ECORRUPT.
 */
#include "internal.h"

/* 0 with the lock held, or a code with it not held. */
static inline int take(ph_heap_t *h) {
  int rc = ph_heap_lock(h);
  if (rc == PH_ECORRUPT) ph_heap_unlock(h); /* held, but the heap is broken */
  return rc < 0 ? rc : 0;
}

double ph_off_malloc_locked(ph_heap_t *h, double size) {
  int rc = take(h);
  if (rc) return rc;
  double r = ph_off_malloc(h, size);
  ph_heap_unlock(h);
  return r;
}

double ph_off_calloc_locked(ph_heap_t *h, double n, double size) {
  int rc = take(h);
  if (rc) return rc;
  double r = ph_off_calloc(h, n, size);
  ph_heap_unlock(h);
  return r;
}

double ph_off_realloc_locked(ph_heap_t *h, double off, double size) {
  int rc = take(h);
  if (rc) return rc;
  double r = ph_off_realloc(h, off, size);
  ph_heap_unlock(h);
  return r;
}

double ph_off_aligned_alloc_locked(ph_heap_t *h, double align, double size) {
  int rc = take(h);
  if (rc) return rc;
  double r = ph_off_aligned_alloc(h, align, size);
  ph_heap_unlock(h);
  return r;
}

int ph_off_free_locked(ph_heap_t *h, double off) {
  int rc = take(h);
  if (rc) return rc;
  rc = ph_off_free(h, off);
  ph_heap_unlock(h);
  return rc;
}

double ph_off_usable_size_locked(ph_heap_t *h, double off) {
  int rc = take(h);
  if (rc) return rc;
  double r = ph_off_usable_size(h, off);
  ph_heap_unlock(h);
  return r;
}
