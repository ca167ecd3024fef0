/*
 * ffi.c - the allocation API by offset, for callers across an FFI boundary.
 *
 * Offsets and sizes cross as doubles: JS engines pass them without boxing,
 * and every integer up to 2^53 is exact. Each argument is validated here
 * (negative, NaN, fractional or too large is PH_EINVAL) because a JS caller
 * can pass anything; results are an offset/size >= 0 or a negative PH_E* code.
 */
#include "internal.h"

#define MAX_EXACT 9007199254740992.0 /* 2^53 */

/* d as an exact non-negative integer; false for NaN, fractions, < 0, > 2^53.
 * (The signed conversion is one instruction; an unsigned one is a branch.) */
static inline bool exact(double d, uint64_t *out) {
  if (!(d >= 0.0 && d <= MAX_EXACT)) return false;
  int64_t i = (int64_t)d;
  if ((double)i != d) return false;
  *out = (uint64_t)i;
  return true;
}

/* n as a size_t. A 32-bit build (WebAssembly) saturates the sizes its
 * size_t cannot hold, which no heap of it can fit: the core then fails them
 * where it fails any size too large (PH_ENOMEM), as a 64-bit build does,
 * instead of truncating them to small sizes. Nothing on a 64-bit build. */
static inline size_t size_of(uint64_t n) { return n > SIZE_MAX ? SIZE_MAX : (size_t)n; }

/* An offset API result: the offset, or r's code, recorded. */
static inline double result(int64_t r) { return PH_LIKELY(r >= 0) ? (double)r : (double)ph__fail((int)r); }

double ph_off_malloc(ph_heap_t *h, double size) {
  uint64_t n;
  if (!h || !exact(size, &n)) return ph__fail(PH_EINVAL);
  return result(ph__off_malloc(h, size_of(n)));
}

double ph_off_calloc(ph_heap_t *h, double count, double size) {
  uint64_t c, n;
  if (!h || !exact(count, &c) || !exact(size, &n)) return ph__fail(PH_EINVAL);
  return result(ph__off_calloc(h, size_of(c), size_of(n)));
}

double ph_off_realloc(ph_heap_t *h, double off, double size) {
  uint64_t o, n;
  if (!h || !exact(off, &o) || !exact(size, &n)) return ph__fail(PH_EINVAL);
  return result(ph__off_realloc(h, o, size_of(n)));
}

double ph_off_aligned_alloc(ph_heap_t *h, double align, double size) {
  uint64_t a, n;
  if (!h || !exact(align, &a) || !exact(size, &n)) return ph__fail(PH_EINVAL);
  /* An alignment a 32-bit build cannot hold exceeds each of its heaps: the
   * core's answer to that, after its own check of the power of two. */
  if (a > SIZE_MAX) return ph__fail((a & (a - 1)) != 0 ? PH_EINVAL : PH_ENOMEM);
  return result(ph__off_aligned(h, (size_t)a, size_of(n)));
}

int ph_off_free(ph_heap_t *h, double off) {
  uint64_t o;
  if (!h || !exact(off, &o)) return ph__fail(PH_EINVAL);
  int err = o ? ph__off_free(h, o) : 0;
  return PH_LIKELY(err == 0) ? 0 : ph__fail(err);
}

double ph_off_usable_size(const ph_heap_t *h, double off) {
  uint64_t o;
  if (!h || !exact(off, &o)) return ph__fail(PH_EINVAL);
  return result(ph__off_usable(h, o));
}

double ph_off_used_bytes(const ph_heap_t *h) { return h ? (double)ph_heap_used_bytes(h) : ph__fail(PH_EINVAL); }

int ph_off_set_root(ph_heap_t *h, const char *name, double off) {
  uint64_t o;
  if (!exact(off, &o)) return ph__fail(PH_EINVAL);
  return ph_heap_set_root(h, name, o);
}

double ph_off_get_root(const ph_heap_t *h, const char *name) {
  uint64_t off;
  int err = ph__get_root(h, name, &off);
  return err ? ph__fail(err) : (double)off;
}
