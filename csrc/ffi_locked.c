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

/* NAME_locked: NAME under the lock. The codes are negative, so any result
 * type carries one. */
#define LOCKED(type, name, params, args) \
  type name##_locked params {            \
    int rc = take(h);                    \
    if (rc) return rc;                   \
    type r = name args;                  \
    ph_heap_unlock(h);                   \
    return r;                            \
  }

LOCKED(double, ph_off_malloc, (ph_heap_t *h, double size), (h, size))
LOCKED(double, ph_off_calloc, (ph_heap_t *h, double n, double size), (h, n, size))
LOCKED(double, ph_off_realloc, (ph_heap_t *h, double off, double size), (h, off, size))
LOCKED(double, ph_off_aligned_alloc, (ph_heap_t *h, double align, double size), (h, align, size))
LOCKED(int, ph_off_free, (ph_heap_t *h, double off), (h, off))
LOCKED(double, ph_off_usable_size, (ph_heap_t *h, double off), (h, off))
