/*
 * track.c - the written-page tracker of a region, in heap pages, on top of
 * prim.h's tracker (which counts in system pages).
 *
 * Owns: the mapping between the two page sizes. A system page larger than
 * a heap page reports every heap page it holds (within the range asked);
 * a smaller one reports the heap page it belongs to once. Either way a
 * written heap page is reported: the system cannot tell which part of its
 * page was written, and a report too many costs a comparison, never a
 * wrong result.
 */
#include "prim.h"

#include <stdlib.h>

struct ph_tracker {
  ph__prim_tracker *prim;
  uint64_t sys_page; /* bytes per system page */
  uint32_t pages;    /* heap pages of the region */
  int kind;
};

ph_tracker_t *ph_tracker_start(void *base, size_t size) {
  uint64_t sp = ph__prim_track_page_size();
  if (!base || size < PH_PAGE_SIZE || sp == 0 || (uintptr_t)base % sp != 0 || (uintptr_t)base % PH_PAGE_SIZE != 0 ||
      size / PH_PAGE_SIZE > UINT32_MAX)
    return ph__fail_null(PH_EINVAL);
  ph_tracker_t *t = calloc(1, sizeof *t);
  if (!t) return ph__fail_null(PH_ENOMEM);
  t->sys_page = sp;
  t->pages = (uint32_t)(size / PH_PAGE_SIZE);
  /* The system pages that hold the heap's pages, the last one whole
   * (regions are mapped in whole system pages). */
  uint64_t sys_pages = ((uint64_t)t->pages * PH_PAGE_SIZE + sp - 1) / sp;
  int err = ph__prim_track_start(base, sys_pages, &t->prim);
  if (err != 0) {
    free(t);
    return err > 0 ? (ph__fail_os(PH_EIO, err), NULL) : ph__fail_null(err);
  }
#if defined(_WIN32)
  t->kind = PH_TRACK_WRITE_WATCH;
#else
  t->kind = PH_TRACK_USERFAULTFD;
#endif
  return t;
}

int ph_tracker_kind(const ph_tracker_t *t) { return t ? t->kind : ph__fail(PH_EINVAL); }

int ph_tracker_take(ph_tracker_t *t, uint32_t from, uint32_t to, uint32_t *out, uint32_t max, unsigned flags) {
  if (!t || from > to || to > t->pages || (max && !out) || max > INT32_MAX || (flags & ~PH_TAKE_KEEP)) return ph__fail(PH_EINVAL);
  int64_t (*scan)(ph__prim_tracker *, uint64_t, uint64_t, uint32_t *, uint32_t) =
      (flags & PH_TAKE_KEEP) ? ph__prim_track_peek : ph__prim_track_take;
  uint64_t sp = t->sys_page;
  if (sp <= PH_PAGE_SIZE) {
    /* k system pages per heap page: reports of one heap page are adjacent
     * (ascending), so keeping the first of each run dedups them. At most
     * `max` system pages are taken, so at most `max` heap pages result. */
    uint64_t k = PH_PAGE_SIZE / sp;
    int64_t n = scan(t->prim, (uint64_t)from * k, (uint64_t)to * k, out, max);
    if (n < 0) return ph__fail((int)n);
    uint32_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
      uint32_t p = (uint32_t)(out[i] / k);
      if (kept == 0 || out[kept - 1] != p) out[kept++] = p;
    }
    return (int)kept;
  }
  /* Each system page holds k heap pages: take at most max / k system
   * pages, then widen each to its heap pages within [from, to), last
   * first so the list is widened in place. */
  uint64_t k = sp / PH_PAGE_SIZE;
  if (max < k) return ph__fail(PH_EINVAL);
  uint64_t sys_from = from / k, sys_to = (to + k - 1) / k;
  int64_t n = scan(t->prim, sys_from, sys_to, out, (uint32_t)(max / k));
  if (n < 0) return ph__fail((int)n);
  uint64_t total = 0;
  for (int64_t i = 0; i < n; i++) {
    uint64_t lo = out[i] * k, hi = lo + k;
    total += (hi < to ? hi : to) - (lo > from ? lo : from);
  }
  uint64_t at = total;
  for (int64_t i = n - 1; i >= 0; i--) {
    uint64_t lo = out[i] * k, hi = lo + k;
    if (lo < from) lo = from;
    if (hi > to) hi = to;
    for (uint64_t p = hi; p > lo; p--) out[--at] = (uint32_t)(p - 1);
  }
  return (int)total;
}

void ph_tracker_stop(ph_tracker_t *t) {
  if (!t) return;
  ph__prim_track_stop(t->prim);
  free(t);
}
