/*
 * snapshot.c - restoring a heap from a copy of its used prefix.
 *
 * Owns: the rules a snapshot must meet before a region adopts it.
 * Keeps: a restore that fails writes nothing; one that succeeds leaves
 * exactly the state ph_heap_attach would find in a region holding the copy,
 * but for the lock block, which belongs to the region (never written while
 * the region holds a heap).
 */
#include "internal.h"

/* ph_snapshot_check's verdict: 0 or a code. */
static int snapshot_verdict(const void *src, size_t len, size_t dst_size, unsigned flags) {
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

int ph_snapshot_check(const void *src, size_t len, size_t dst_size, unsigned flags) {
  int err = snapshot_verdict(src, len, dst_size, flags);
  return err ? ph__fail(err) : 0;
}

/* Copy bytes [at, at + len) of src to the same offsets of the region dst,
 * leaving its lock block alone: other processes may change it meanwhile. */
static void copy_around_lock_block(void *dst, const void *src, size_t at, size_t len) {
  char *d = (char *)dst + at;
  const char *s = (const char *)src;
  size_t end = at + len;
  if (end <= PH_LOCK_BLOCK_OFFSET || at >= PH_LOCK_BLOCK_END) {
    memcpy(d, s, len);
    return;
  }
  if (at < PH_LOCK_BLOCK_OFFSET) memcpy(d, s, PH_LOCK_BLOCK_OFFSET - at);
  if (end > PH_LOCK_BLOCK_END) memcpy((char *)dst + PH_LOCK_BLOCK_END, s + (PH_LOCK_BLOCK_END - at), end - PH_LOCK_BLOCK_END);
}

ph_heap_t *ph_heap_restore(void *dst, size_t dst_size, const void *src, size_t len, unsigned flags) {
  if (!dst || ((uintptr_t)dst & (PH_PAGE_SIZE - 1)) != 0 || !src) return ph__fail_null(PH_EINVAL);
  /* Overlapping copies. Addresses, not pointers: these are two objects,
   * which C does not let `<` compare. */
  uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
  if (s < d + dst_size && d < s + len) return ph__fail_null(PH_EINVAL);
  int err = snapshot_verdict(src, len, dst_size, flags);
  if (err) return ph__fail_null(err);
  /* Pages [0, dirty) of dst may hold non-zero bytes: up to the old heap's
   * touched mark when dst holds a heap, anywhere otherwise. */
  uint64_t dst_pages = (uint64_t)dst_size >> PH_LG_PAGE;
  const ph_heap_t *old = dst;
  bool known = ph__check_header(old, dst_size) == 0;
  uint64_t dirty = known && old->touched < dst_pages ? old->touched : dst_pages;
  ph_heap_t *h = dst;
  /* The lock block stays the region's: it may be held, and waited on from
   * elsewhere, even when the heap around it is broken (a failed takeover). */
  if (ph__has_lock_block(old, dst_size)) {
    copy_around_lock_block(dst, src, 0, len);
    ph__lock_forget_verdict(h); /* the heap a takeover judged is gone */
  } else {
    memcpy(dst, src, len);
    memset(ph__base(h) + PH_LOCK_BLOCK_OFFSET, 0, PH_LOCK_BLOCK_END - PH_LOCK_BLOCK_OFFSET); /* unlocked */
    ph__set_purge(h, 0); /* memory it was not told about: never given back */
  }
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

int ph_pages_diff_pairs(const void *a, const void *b, const uint32_t *a_pages, const uint32_t *b_pages, uint32_t n, uint32_t *out) {
  if (n > INT32_MAX || (n && (!a || !b || !a_pages || !b_pages || !out))) return ph__fail(PH_EINVAL);
  const char *pa = a, *pb = b;
  uint32_t kept = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t p = a_pages[i]; /* read before out[kept] may overwrite it (kept <= i) */
    if (memcmp(pa + ((size_t)p << PH_LG_PAGE), pb + ((size_t)b_pages[i] << PH_LG_PAGE), PH_PAGE_SIZE) != 0) out[kept++] = p;
  }
  return (int)kept;
}

int ph_pages_copy(void *dst, const void *src, const uint32_t *dst_pages, const uint32_t *src_pages, uint32_t n) {
  if (n > INT32_MAX || (n && (!dst || !src || !dst_pages || !src_pages))) return ph__fail(PH_EINVAL);
  for (uint32_t i = 0; i < n; i++)
    memcpy((char *)dst + ((size_t)dst_pages[i] << PH_LG_PAGE), (const char *)src + ((size_t)src_pages[i] << PH_LG_PAGE),
           PH_PAGE_SIZE);
  return (int)n;
}

int ph_heap_put_pages(ph_heap_t *h, const void *src, const uint32_t *dst_pages, const uint32_t *src_pages, uint32_t n) {
  if (!h || n > INT32_MAX || (n && (!src || !dst_pages || !src_pages))) return ph__fail(PH_EINVAL);
  for (uint32_t i = 0; i < n; i++)
    if (dst_pages[i] >= h->npages) return ph__fail(PH_EINVAL);
  for (uint32_t i = 0; i < n; i++)
    copy_around_lock_block(h, (const char *)src + ((size_t)src_pages[i] << PH_LG_PAGE), (size_t)dst_pages[i] << PH_LG_PAGE,
                           PH_PAGE_SIZE);
  return (int)n;
}
