/*
 * pagemap.c - what each page of a region is, for tools that draw a heap:
 * one byte of kind and one of size class per page, and the live regions
 * of each run, in one pass over the run heads below hwm.
 *
 * The bytes are untrusted (a snapshot file, a heap file another process
 * writes): the O(1) header check bounds hwm and every map leaf inside the
 * readable bytes, so each entry read is of a page below hwm; a run's length
 * is bounded by hwm before its pages are written, a small run's class by
 * the class table before its bitmap is read (the bitmap lies in the run),
 * and the loop advances at least one page per run. A layout that cannot be
 * walked is PH_ECORRUPT. Nothing is written to the region.
 */
#include "internal.h"

/* Live regions of the small run at p (class c, bounded by the caller):
 * handed-out regions whose bitmap bit (1 = free) is clear. The bin's
 * current run has never handed out its last `fresh` regions. */
static uint32_t small_live(const ph_heap_t *h, uint32_t p, const ph_page *e, unsigned c) {
  const ph_class *cl = &ph__classes[c];
  const ph_bin *bin = &h->bins[c];
  uint32_t handed = cl->nregs - (p == bin->cur ? bin->fresh : 0u); /* fresh <= nregs: header check */
  uint32_t free_bits = 0;
  if (cl->bm_words == 0) {
    uint32_t valid = handed >= 32 ? 0xFFFFFFFFu : (1u << handed) - 1u;
    free_bits = (uint32_t)__builtin_popcount(e->size & valid);
  } else {
    const uint64_t *bm = ph__small_trailing_bitmap(h, p, cl);
    for (uint32_t w = 0; w < cl->bm_words && w * 64u < handed; w++) {
      uint64_t valid = (w + 1u) * 64u <= handed ? ~0ull : (1ull << (handed % 64u)) - 1u;
      free_bits += (uint32_t)__builtin_popcountll(bm[w] & valid);
    }
  }
  return handed - free_bits; /* free_bits counts only bits below handed */
}

int64_t ph_heap_page_map(const void *base, size_t len, uint32_t npages, uint8_t *kinds, uint8_t *classes, uint16_t *live) {
  const ph_heap_t *h = (const ph_heap_t *)base;
  if (!h || ((uintptr_t)base & 7u) || (npages && (!kinds || !classes || !live))) return ph__fail(PH_EINVAL);
  int err = ph__check_header(h, len);
  if (err) return ph__fail(err);
  if (npages < h->npages) return h->npages; /* too small: the size to ask with */
  for (uint32_t p = 0; p < h->hwm;) {
    const ph_page *e = ph__page(h, p);
    uint32_t k = ph__kind(e), n, cls = PH_PAGEMAP_NO_CLASS, count = 0;
    uint8_t kind;
    switch (k) {
    case PH_PK_SMALL: {
      unsigned c = PH_INFO_CLASS(e->info);
      if (c >= PH_NCLASSES || ph__classes[c].run_pages == 0) return ph__fail(PH_ECORRUPT);
      n = ph__classes[c].run_pages;
      if ((uint64_t)p + n > h->hwm) return ph__fail(PH_ECORRUPT); /* before its bitmap is read */
      kind = PH_PAGEMAP_SMALL;
      cls = c;
      count = small_live(h, p, e, c);
      break;
    }
    case PH_PK_FREE: kind = PH_PAGEMAP_FREE, n = e->size; break;
    case PH_PK_LARGE: kind = PH_PAGEMAP_LARGE, n = e->size, count = 1; break;
    case PH_PK_SCRATCH: kind = PH_PAGEMAP_SCRATCH, n = e->size; break;
    case PH_PK_META: kind = p == 0 ? PH_PAGEMAP_HEADER : PH_PAGEMAP_LEAF, n = e->size; break;
    default: return ph__fail(PH_ECORRUPT); /* not a run head where one must be */
    }
    if (n == 0 || (uint64_t)p + n > h->hwm) return ph__fail(PH_ECORRUPT);
    memset(kinds + p, kind, n);
    kinds[p] = (uint8_t)(kind | PH_PAGEMAP_RUN_HEAD);
    memset(classes + p, (int)cls, n);
    memset(live + p, 0, (size_t)n * sizeof *live);
    live[p] = (uint16_t)count; /* at most PH_MAX_RUN_REGS */
    p += n;
  }
  memset(kinds + h->hwm, PH_PAGEMAP_TOUCHED, h->touched - h->hwm);
  memset(kinds + h->touched, PH_PAGEMAP_UNTOUCHED, h->npages - h->touched);
  memset(classes + h->hwm, PH_PAGEMAP_NO_CLASS, h->npages - h->hwm);
  memset(live + h->hwm, 0, (size_t)(h->npages - h->hwm) * sizeof *live);
  return h->npages;
}

int ph_size_classes(uint32_t *out, uint32_t cap) {
  if (!out && cap) return ph__fail(PH_EINVAL);
  for (unsigned c = 0; c < PH_NCLASSES && c < cap; c++) {
    const ph_class *cl = &ph__classes[c];
    out[3 * c] = cl->size;
    out[3 * c + 1] = cl->run_pages; /* 0: served as page runs */
    out[3 * c + 2] = cl->nregs;
  }
  return (int)PH_NCLASSES;
}
