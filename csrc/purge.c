/*
 * purge.c - memory given back: which free pages may still hold memory
 * (dirty), and when they go back to the system.
 *
 * Owns: the dirty list (dirty_head, dirty_pages, the PH_TAIL_DIRTY bit and
 * the links of FREE_TAIL entries), the purge mode, and touched's fall.
 * Keeps: the list holds exactly the dirty free runs of two pages or more,
 * oldest first, circular (the oldest's left link names the newest);
 * pages at or above touched read as zero and have zero map entries.
 *
 * Deterministic: every decision depends on the heap's bytes and the
 * sequence of its operations, never on a clock, so two heaps that run the
 * same operations hold the same bytes, purged pages included. A purge
 * below hwm changes snapshots and checksums (stale bytes become zero):
 * the same change in a tracked heap and a compared one.
 *
 * Damage: list links come from map entries, untrusted on a heap attached
 * without a full check. Each one is followed only to a dirty FREE_TAIL of
 * a free run inside the heap that points back; otherwise PH_ECORRUPT, and
 * no write leaves [base_pages, hwm) of the map.
 */
#include "internal.h"
#include "prim.h"

/* The pages of the dirty free run whose tail is t, or 0 when t is not the
 * tail of one (a dirty FREE_TAIL inside the heap, its head matching). */
static uint32_t dirty_run_at(const ph_heap_t *h, uint64_t t) {
  if (!ph__in_heap(h, t)) return 0;
  const ph_page *e = ph__page(h, (uint32_t)t);
  uint32_t n = e->size;
  if (e->info != (PH_INFO(PH_PK_FREE_TAIL, 0, 0, 0) | PH_TAIL_DIRTY) || n < 2 || n - 1 > t - h->base_pages) return 0;
  const ph_page *head = ph__page(h, (uint32_t)t - (n - 1));
  return ph__kind(head) == PH_PK_FREE && head->size == n ? n : 0;
}

/* Whether t is a dirty tail inside the heap: a link that may be followed
 * and written. (That its run is sound is ph_heap_check's to say: a link
 * changed here only ever points at such a tail.) */
static inline bool dirty_tail_at(const ph_heap_t *h, uint64_t t) {
  return ph__in_heap(h, t) && ph__page(h, (uint32_t)t)->info == (PH_INFO(PH_PK_FREE_TAIL, 0, 0, 0) | PH_TAIL_DIRTY);
}

int ph__dirty_push(ph_heap_t *h, uint32_t p, uint32_t n) {
  ph_assert(n >= 2 && "one-page runs are not tracked");
  uint32_t t = p + n - 1, oldest = h->dirty_head;
  ph_page *e = ph__page(h, t);
  if (oldest == 0) {
    e->left = e->right = t;
  } else {
    if (!dirty_tail_at(h, oldest)) return PH_ECORRUPT;
    ph_page *first = ph__page(h, oldest);
    uint32_t newest = first->left;
    if (!dirty_tail_at(h, newest) || ph__page(h, newest)->right != oldest) return PH_ECORRUPT;
    e->left = newest;
    e->right = oldest;
    ph__page(h, newest)->right = t;
    first->left = t;
  }
  if (oldest == 0) h->dirty_head = t;
  e->info |= PH_TAIL_DIRTY;
  h->dirty_pages += n;
  return 0;
}

int ph__dirty_unlink(ph_heap_t *h, uint32_t t, uint32_t n) {
  ph_page *e = ph__page(h, t);
  if (!(e->info & PH_TAIL_DIRTY) || n > h->dirty_pages) return PH_ECORRUPT;
  uint32_t l = e->left, r = e->right;
  if (l == t || r == t) { /* the only one */
    if (l != t || r != t || h->dirty_head != t || h->dirty_pages != n) return PH_ECORRUPT;
    h->dirty_head = 0;
  } else {
    if (!dirty_tail_at(h, l) || !dirty_tail_at(h, r)) return PH_ECORRUPT;
    ph_page *le = ph__page(h, l), *re = ph__page(h, r);
    if (le->right != t || re->left != t) return PH_ECORRUPT;
    le->right = r;
    re->left = l;
    if (h->dirty_head == t) h->dirty_head = r;
  }
  e->left = e->right = 0;
  e->info &= ~PH_TAIL_DIRTY;
  h->dirty_pages -= n;
  return 0;
}

/* ---- giving pages back ---------------------------------------------------- */

/* Heap pages per system page (1 where the system's page is 4 KiB). */
static uint32_t system_page_pages(void) {
  uint64_t n = ph__prim_track_page_size() >> PH_LG_PAGE;
  return n > 1 ? (uint32_t)n : 1u;
}

static inline uint64_t round_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Give back the whole system pages inside pages [from, to): 0 or the OS error. */
static int give_back(ph_heap_t *h, uint64_t from, uint64_t to) {
  uint64_t sp = system_page_pages(), lo = round_up(from, sp), hi = to / sp * sp;
  if (lo >= hi) return 0;
  return ph__prim_purge(ph__base(h) + (lo << PH_LG_PAGE), (size_t)((hi - lo) << PH_LG_PAGE));
}

/* Give back the oldest dirty run: its pages, PH_ECORRUPT, or PH_EIO with
 * *os set. Off the list first (which validates it): a run the system did
 * not take stays off it, with its bytes, which nothing takes for zeros. */
static int64_t purge_oldest(ph_heap_t *h, int *os) {
  uint32_t t = h->dirty_head, n = dirty_run_at(h, t);
  if (n == 0 || ph__dirty_unlink(h, t, n) != 0) return PH_ECORRUPT;
  *os = give_back(h, (uint64_t)t - (n - 1), (uint64_t)t + 1);
  return *os ? PH_EIO : (int64_t)n;
}

/* Give back the pages above hwm from the top down, keeping at most `keep`
 * above hwm: touched falls to the first page given back. Its floor: hwm,
 * and the start of the last leaf's chunk (the header check's bound). The
 * pages given back, or PH_EIO with *os set. */
static int64_t purge_top(ph_heap_t *h, uint64_t keep, int *os) {
  uint64_t touched = h->touched, sp = system_page_pages();
  uint64_t floor = ((uint64_t)(h->nleaves - 1) << h->lg_chunk) + 1;
  uint64_t target = (uint64_t)h->hwm + keep;
  if (target < floor) target = floor;
  if (target >= touched) return 0;
  uint64_t lo = round_up(target, sp), hi = round_up(touched, sp);
  if (hi > h->npages) return 0; /* the last system page reaches past the heap (pages above 4 KiB) */
  if (lo >= touched) return 0;
  *os = ph__prim_purge(ph__base(h) + (lo << PH_LG_PAGE), (size_t)((hi - lo) << PH_LG_PAGE));
  if (*os) return PH_EIO;
  /* The map entries of those pages must read as zero too. */
  uint64_t mapped = (uint64_t)h->nleaves << h->lg_chunk, chunk = 1ull << h->lg_chunk;
  for (uint64_t p = lo, end = touched < mapped ? touched : mapped; p < end;) {
    uint64_t stop = (p | (chunk - 1)) + 1;
    if (stop > end) stop = end;
    memset(ph__page(h, (uint32_t)p), 0, (size_t)(stop - p) * sizeof(ph_page));
    p = stop;
  }
  h->touched = (uint32_t)lo;
  return (int64_t)(touched - lo);
}

/* PH_PURGE's limit on dirty pages: PH_PURGE_MIN_DIRTY, or an eighth of
 * the pages in use when that is more. */
static uint64_t dirty_limit(const ph_heap_t *h) {
  uint64_t floor = PH_PURGE_MIN_DIRTY >> PH_LG_PAGE, eighth = (h->large_pages + h->small_run_pages) / 8;
  return eighth > floor ? eighth : floor;
}

static inline uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Give back dirty runs, oldest first, then pages above hwm from the top
 * down, until at most `goal` dirty pages are left; with `old_only`, only
 * pages that are old (see ph_purge_age). The pages given back,
 * PH_ECORRUPT or PH_EIO. */
static int64_t purge_down_to(ph_heap_t *h, uint64_t goal, bool old_only, int *os) {
  ph_purge_age *age = ph__purge_age(h);
  int64_t total = 0;
  if (ph__prim_purge_tracked) {
    while (h->dirty_head && (uint64_t)h->dirty_pages + (h->touched - h->hwm) > goal) {
      if (old_only && min_u64(age->old_listed, h->dirty_pages) < dirty_run_at(h, h->dirty_head)) break;
      int64_t got = purge_oldest(h, os);
      if (got < 0) return got;
      age->old_listed = age->old_listed > got ? age->old_listed - (uint32_t)got : 0;
      total += got;
    }
  }
  uint64_t below = ph__prim_purge_tracked ? h->dirty_pages : 0, above = h->touched - h->hwm;
  uint64_t keep = goal > below ? goal - below : 0, young = above - min_u64(age->old_top, above);
  if (old_only && keep < young) keep = young;
  int64_t got = purge_top(h, keep, os);
  if (got < 0) return got;
  age->old_top = (uint32_t)min_u64(age->old_top > got ? age->old_top - (uint64_t)got : 0, h->touched - h->hwm);
  age->old_listed = (uint32_t)min_u64(age->old_listed, h->dirty_pages);
  return total + got;
}

void ph__purge_after_free(ph_heap_t *h, uint32_t p, uint32_t n) {
  unsigned mode = h->purge_mode;
  if (mode != PH__PURGE_DECAY && mode != PH__PURGE_NOW) return;
  int os = 0;
  if (mode == PH__PURGE_NOW) {
    if (n == 1 && ph__prim_purge_tracked) (void)give_back(h, p, (uint64_t)p + 1); /* not on the list */
    (void)purge_down_to(h, 0, false, &os);
    return;
  }
  uint64_t below = ph__prim_purge_tracked ? h->dirty_pages : 0, limit = dirty_limit(h);
  if (below + (h->touched - h->hwm) > limit) (void)purge_down_to(h, limit / 2, true, &os);
}

/* ---- the public calls --------------------------------------------------- */

int ph_heap_set_purge(ph_heap_t *h, unsigned mode) {
  if (!h || (mode != 0 && mode != PH_PURGE && mode != PH_PURGE_NOW)) return ph__fail(PH_EINVAL);
  ph__set_purge(h, mode);
  return 0;
}

/* The one-page free runs (free list 1), each given back: bounded by the
 * free-run count, every node a one-page FREE head inside the heap. */
static int64_t purge_single_pages(ph_heap_t *h, int *os) {
  int64_t total = 0;
  uint64_t steps = 0;
  for (uint32_t p = h->free_list[1]; p; p = ph__page(h, p)->right) {
    if (!ph__in_heap(h, p) || ++steps > h->free_runs) return PH_ECORRUPT;
    const ph_page *e = ph__page(h, p);
    if (ph__kind(e) != PH_PK_FREE || e->size != 1) return PH_ECORRUPT;
    if ((*os = give_back(h, p, (uint64_t)p + 1)) != 0) return PH_EIO;
    total++;
  }
  return total;
}

int64_t ph_heap_purge(ph_heap_t *h) {
  if (!h || ph__purge_flags(h) == 0) return ph__fail(PH_EINVAL);
  int os = 0;
  int64_t single = ph__prim_purge_tracked ? purge_single_pages(h, &os) : 0;
  int64_t rest = single < 0 ? single : purge_down_to(h, 0, false, &os);
  int64_t err = single < 0 ? single : rest;
  if (err == PH_EIO) return ph__fail_os(PH_EIO, os);
  if (err < 0) return ph__fail((int)err);
  return single + rest;
}
