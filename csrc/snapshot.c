/*
 * snapshot.c - restoring a heap from a copy of its used prefix.
 *
 * Owns: the rules a snapshot must meet before a region adopts it.
 * Keeps: a restore that fails writes nothing; one that succeeds leaves
 * exactly the state ph_heap_attach would find in a region holding the copy.
 */
#include "internal.h"

int ph_snapshot_check(const void *src, size_t len, size_t dst_size, unsigned flags) {
  const struct ph_heap *h = src;
  int err = ph__check_header(h, len);
  if (err) return err == PH_ESIZE ? PH_ECORRUPT : err; /* shorter than its header says: truncated */
  if (len != (size_t)h->hwm << PH_LG_PAGE) return PH_ECORRUPT;
  if ((dst_size >> PH_LG_PAGE) < h->npages) return PH_ESIZE;
  if (!(flags & PH_SNAPSHOT_TRUSTED)) {
    int broken = ph_heap_check(src, len);
    if (broken != 0) return broken < 0 ? broken : PH_ECORRUPT;
  }
  return 0;
}

ph_heap_t *ph_heap_restore(void *dst, size_t dst_size, const void *src, size_t len, unsigned flags) {
  if (!dst || ((uintptr_t)dst & (PH_PAGE_SIZE - 1)) != 0 || !src) return ph__fail_null(PH_EINVAL);
  const char *d = dst, *s = src;
  if (s < d + dst_size && d < s + len) return ph__fail_null(PH_EINVAL); /* overlapping copies */
  int err = ph_snapshot_check(src, len, dst_size, flags);
  if (err) return ph__fail_null(err);
  /* Pages [0, dirty) of dst may hold non-zero bytes: up to the old heap's
   * touched mark when dst holds a heap, anywhere otherwise. */
  uint64_t dst_pages = (uint64_t)dst_size >> PH_LG_PAGE;
  const ph_heap_t *old = dst;
  bool known = ph__check_header(old, dst_size) == 0;
  uint64_t dirty = known && old->touched < dst_pages ? old->touched : dst_pages;
  /* The lock belongs to the region, not to the heap in it: a locked heap
   * stays locked (and held by whoever holds it), an unlocked one unlocked. */
  bool locked = known && (old->flags & PH_LOCKED);
  uint64_t lock = locked ? old->lock_word : 0;
  uint32_t depth = locked ? old->lock_depth : 0;
  uint32_t recoveries = locked ? old->lock_recoveries : 0;
  int32_t last_check = locked ? old->lock_check : 0;
  memcpy(dst, src, len);
  ph_heap_t *h = dst;
  h->flags = (h->flags & ~(uint32_t)PH_LOCKED) | (locked ? PH_LOCKED : 0u);
  __atomic_store_n(&h->lock_word, lock, __ATOMIC_RELEASE);
  h->lock_depth = depth;
  h->lock_recoveries = recoveries;
  h->lock_check = last_check;
  ph__adopt_size(h, dst_size);
  if (dirty > h->touched) {
    if (known) /* zero what the old heap used above the snapshot's mark: the bytes then equal the snapshot's */
      memset(ph__base(h) + ((uint64_t)h->touched << PH_LG_PAGE), 0, (size_t)((dirty - h->touched) << PH_LG_PAGE));
    else /* unknown bytes: calloc must clear them */
      h->touched = h->npages;
  }
  return h;
}

int ph_pages_diff(const void *a, const void *b, uint32_t npages, uint32_t *out, uint32_t cap) {
  if (!a || !b || (!out && cap) || npages > INT32_MAX) return ph__fail(PH_EINVAL); /* the count is an int */
  const char *pa = a, *pb = b;
  uint32_t n = 0;
  for (uint32_t p = 0; p < npages; p++) {
    size_t at = (size_t)p << PH_LG_PAGE;
    if (memcmp(pa + at, pb + at, PH_PAGE_SIZE) != 0) {
      if (n < cap) out[n] = p;
      n++;
    }
  }
  return (int)n;
}

int ph_pages_copy(void *dst, const void *src, const uint32_t *dst_pages, const uint32_t *src_pages, uint32_t n) {
  if (n > INT32_MAX || (n && (!dst || !src || !dst_pages || !src_pages))) return ph__fail(PH_EINVAL);
  for (uint32_t i = 0; i < n; i++)
    memcpy((char *)dst + ((size_t)dst_pages[i] << PH_LG_PAGE), (const char *)src + ((size_t)src_pages[i] << PH_LG_PAGE),
           PH_PAGE_SIZE);
  return (int)n;
}
