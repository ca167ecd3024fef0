/*
 * pages.c - page runs: best-fit allocation from the free lists and tree, splitting,
 * coalescing, and growth of the high-water mark (hwm).
 *
 * Owns: the free lists and tree, FREE / FREE_TAIL entries (but the dirty
 * state of tails, purge.c's), hwm, touched,
 * the leaf directory. Keeps: free runs are maximal (never adjacent) and none
 * ends at hwm (freeing the top run lowers hwm instead, so the used prefix
 * shrinks, and it keeps falling through map leaves no page needs and
 * empty current runs of bins); allocation takes the best fit below hwm (the smallest free run
 * that holds it: among runs of up to PH_FREE_LISTS pages of one size, the
 * latest freed, which is warm in cache; among longer ones, the lowest) and
 * moves hwm only when nothing fits; map leaves are created at hwm, before
 * the pages they describe enter the heap; with PH_ZERO_REENTRY, pages that
 * enter again below touched read as zero, as pages above it do.
 *
 * Damage: a free run's size, tail and links come from map entries, which
 * are untrusted on a heap attached without a full check. free_run_at
 * bounds a run before it is used, and list and tree changes refuse links
 * that do not point back; a refusal is PH_ECORRUPT, and no write ever
 * leaves [base_pages, hwm) of the map and the region.
 */
#include "internal.h"

static inline void clear_entry(ph_heap_t *h, uint32_t p) {
  memset(ph__page(h, p), 0, sizeof(ph_page));
}

/* Pages of the free run whose head is p, or 0 when p is not the head of a
 * free run inside the heap (a FREE entry, its tail matching, below hwm). */
static uint32_t free_run_at(const ph_heap_t *h, uint64_t p) {
  if (!ph__in_heap(h, p)) return 0;
  const ph_page *e = ph__page(h, (uint32_t)p);
  uint32_t n = e->size;
  if (ph__kind(e) != PH_PK_FREE || n == 0 || p + n > h->hwm) return 0;
  if (n > 1) {
    const ph_page *t = ph__page(h, (uint32_t)p + n - 1);
    if (ph__kind(t) != PH_PK_FREE_TAIL || t->size != n) return 0;
  }
  return n;
}

/* Make [p, p + n) a free run; `dirty`: its pages may hold memory (freed
 * since they were last given back), so a run of two pages or more goes on
 * the dirty list (purge.c). */
static int free_run_insert(ph_heap_t *h, uint32_t p, uint32_t n, bool dirty) {
  ph_page *e = ph__page(h, p);
  e->info = PH_INFO(PH_PK_FREE, 0, 0, 0);
  e->size = n;
  if (n > 1) {
    ph_page *t = ph__page(h, p + n - 1);
    t->info = PH_INFO(PH_PK_FREE_TAIL, 0, 0, 0);
    t->size = n;
    t->left = t->right = 0;
    if (dirty && ph__dirty_push(h, p, n) != 0) return PH_ECORRUPT;
  }
  if (n <= PH_FREE_LISTS) {
    uint32_t next = h->free_list[n];
    e->left = 0;
    e->right = next;
    if (next) ph__page(h, next)->left = p;
    h->free_list[n] = p;
    h->free_mask |= 1u << (n - 1);
  } else if (ph__tree_insert(h, &h->free_root, p) != 0) {
    return PH_ECORRUPT;
  }
  h->free_pages += n;
  h->free_runs++;
  return 0;
}

/* Take free run p off its list or out of the tree (and the dirty list);
 * its head and tail entries become NONE. Returns its pages, or PH_ECORRUPT
 * when p is not a sound free run; *dirty (unless NULL) says whether it was
 * dirty (a one-page run always counts as dirty). */
static int64_t free_run_remove(ph_heap_t *h, uint32_t p, bool *dirty) {
  uint32_t n = free_run_at(h, p);
  if (n == 0) return PH_ECORRUPT;
  bool was_dirty = n == 1 || (ph__page(h, p + n - 1)->info & PH_TAIL_DIRTY);
  if (n > 1 && was_dirty && ph__dirty_unlink(h, p + n - 1, n) != 0) return PH_ECORRUPT;
  if (dirty) *dirty = was_dirty;
  if (n <= PH_FREE_LISTS) {
    if (!ph__list_unlink(h, &h->free_list[n], NULL, p)) return PH_ECORRUPT;
    if (h->free_list[n] == 0) h->free_mask &= ~(1u << (n - 1));
  } else if (ph__tree_remove(h, &h->free_root, p) != 0) {
    return PH_ECORRUPT;
  }
  h->free_pages -= n;
  h->free_runs--;
  if (n > 1) clear_entry(h, p + n - 1);
  clear_entry(h, p);
  return n;
}

static inline uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }

static inline uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* Zero the map entries of pages [from, to) that live in existing leaves. */
static void clear_entries(ph_heap_t *h, uint32_t from, uint32_t to) {
  uint32_t chunk = 1u << h->lg_chunk;
  while (from < to) {
    uint32_t stop = min_u32(to, (from | (chunk - 1)) + 1);
    memset(ph__page(h, from), 0, (size_t)(stop - from) * sizeof(ph_page));
    from = stop;
  }
}

static inline void zero_pages(ph_heap_t *h, uint32_t from, uint32_t to) {
  if (from < to) memset(ph__base(h) + ((uint64_t)from << PH_LG_PAGE), 0, (size_t)(to - from) << PH_LG_PAGE);
}

/* Whether a page reads as zero: an or of 512-byte blocks (a loop the
 * compiler vectorizes), stopping at the first block that is not. */
static bool page_is_zero(const uint64_t *w) {
  enum { BLOCK_WORDS = 64, PAGE_WORDS = PH_PAGE_SIZE / sizeof(uint64_t) };
  for (size_t b = 0; b < PAGE_WORDS; b += BLOCK_WORDS) {
    uint64_t any = 0;
    for (size_t i = 0; i < BLOCK_WORDS; i++) any |= w[b + i];
    if (any) return false;
  }
  return true;
}

/* PH_ZERO_REENTRY: zero pages [from, to) as they re-enter the used prefix.
 * A page that already reads as zero is only read, so a page of a file or of
 * fresh memory that was never written stays unwritten (no dirty file page,
 * no memory committed, no write for a tracker to report). */
static void zero_dirty_pages(ph_heap_t *h, uint32_t from, uint32_t to) {
  for (uint32_t p = from; p < to; p++) {
    uint64_t *w = (uint64_t *)(ph__base(h) + ((uint64_t)p << PH_LG_PAGE));
    if (!page_is_zero(w)) memset(w, 0, PH_PAGE_SIZE);
  }
}

/*
 * Move hwm up to hold n pages at an index that is a multiple of align,
 * creating the map leaves the new pages need at the old hwm first. Returns
 * the run's first page, PH_ENOMEM when the region is full, or PH_ECORRUPT.
 */
static int64_t extend(ph_heap_t *h, uint32_t n, uint32_t align, bool *zeroed) {
  uint32_t lg = h->lg_chunk, leaf = ph__leaf_pages(lg);
  uint32_t old = h->hwm, pos = old, nleaves = h->nleaves;
  uint64_t start;
  for (;;) {
    start = align_up(pos, align);
    uint64_t end = start + n;
    if (end > h->npages || (end > ((uint64_t)nleaves << lg) && nleaves == PH_DIR_CAP)) return PH_ENOMEM;
    if (end <= ((uint64_t)nleaves << lg)) break;
    pos += leaf; /* the next chunk's leaf goes here */
    nleaves++;
  }
  uint32_t new_hwm = (uint32_t)start + n, touched = h->touched;
  /* Pages below `touched` may hold stale entries and data; above it all is
   * 0. The data pages are cleared first: above hwm they hold no heap state,
   * so a writer killed while clearing them (a long while for many pages)
   * leaves the header as it was, which a lock takeover and attach accept. */
  if (h->flags & PH_ZERO_ON_FREE) zero_pages(h, old, min_u32(new_hwm, touched));
  else if (h->flags & PH_ZERO_REENTRY) zero_dirty_pages(h, old, min_u32(new_hwm, touched));
  else zero_pages(h, old, min_u32(pos, touched)); /* new leaves must read as zero */
  uint32_t first_new = h->nleaves;
  for (uint32_t c = first_new, q = old; c < nleaves; c++, q += leaf) h->dir[c] = q;
  h->nleaves = nleaves;
  clear_entries(h, old, min_u32(new_hwm, touched));
  for (uint32_t c = first_new, q = old; c < nleaves; c++, q += leaf) {
    ph_page *e = ph__page(h, q);
    e->info = PH_INFO(PH_PK_META, 0, 0, 0);
    e->size = leaf;
    h->meta_pages += leaf;
  }
  h->hwm = new_hwm;
  if (new_hwm > touched) h->touched = new_hwm;
  if (start > pos && free_run_insert(h, pos, (uint32_t)start - pos, true) != 0) return PH_ECORRUPT; /* alignment gap */
  *zeroed = (h->flags & (PH_ZERO_ON_FREE | PH_ZERO_REENTRY)) || start >= touched;
  return (int64_t)start;
}

int64_t ph__pages_alloc(ph_heap_t *h, uint32_t n, uint32_t align, bool *zeroed) {
  ph_assert(n > 0 && (align & (align - 1)) == 0 && "whole pages, power-of-two alignment");
  ph__purge_age_all(h);
  uint64_t want = (uint64_t)n + align - 1; /* any run this long holds an aligned fit */
  uint32_t p = 0;
  if (want <= PH_FREE_LISTS) {
    uint32_t sizes = h->free_mask & ~((1u << (want - 1)) - 1u); /* lists of >= want pages */
    if (sizes) p = h->free_list[__builtin_ctz(sizes) + 1];
  }
  if (p == 0 && want <= UINT32_MAX && ph__tree_lower_bound(h, h->free_root, (uint32_t)want, &p) != 0) return PH_ECORRUPT;
  if (p == 0) return extend(h, n, align, zeroed);
  if (free_run_at(h, p) < want) return PH_ECORRUPT; /* a list or the tree lied */
  bool dirty;
  int64_t size = free_run_remove(h, p, &dirty);
  if (size < 0) return size;
  uint32_t start = (uint32_t)align_up(p, align);
  /* What is left of the run keeps its state: pages given back stay given back. */
  if (start > p && free_run_insert(h, p, start - p, dirty) != 0) return PH_ECORRUPT;
  uint32_t tail = p + (uint32_t)size - (start + n);
  if (tail && free_run_insert(h, start + n, tail, dirty) != 0) return PH_ECORRUPT;
  *zeroed = (h->flags & PH_ZERO_ON_FREE) != 0;
  return start;
}

/* Whether the newest map leaf ends at page q and no page of the heap would
 * need it with hwm at its first page: it sits below its own chunk. */
static bool droppable_leaf_ends_at(const ph_heap_t *h, uint32_t q) {
  uint32_t c = h->nleaves - 1;
  return c > 0 && h->dir[c] + ph__leaf_pages(h->lg_chunk) == q && ((uint64_t)c << h->lg_chunk) >= h->dir[c];
}

/* The first page of the free run ending at page q (> base_pages), 0 when
 * none ends there, or PH_ECORRUPT when the map says one does but its
 * entries disagree. */
static int64_t free_run_ending_at(const ph_heap_t *h, uint32_t q) {
  const ph_page *l = ph__page(h, q - 1);
  uint32_t k = ph__kind(l), n = l->size;
  if (k != PH_PK_FREE_TAIL && !(k == PH_PK_FREE && n == 1)) return 0;
  if (n > q || free_run_at(h, q - n) != n) return PH_ECORRUPT;
  return q - n;
}

/*
 * Let hwm fall through what holds nothing at the top: free runs, the
 * newest map leaf once no page of its chunk is left, and empty current runs
 * of bins, but those only when a free run or a leaf falls with them: a bin
 * that drains and refills at the top (a malloc and free in a loop) keeps
 * its run, and an emptied heap keeps one run per bin at most. Each round
 * takes a free run or a leaf off the top, looking at most at one empty run
 * per bin, so this ends. The map is read with the bounds a free uses.
 */
int ph__pages_fall(ph_heap_t *h) {
  if (h->free_runs == 0 && h->nleaves == 1) return 0; /* nothing that could fall: a malloc and free in a loop stops here */
  for (;;) {
    uint32_t q = h->hwm, run; /* q: the top without its empty runs */
    unsigned empties = 0;
    while (q > h->base_pages && empties < PH_NCLASSES && (run = ph__small_empty_cur_ending_at(h, q)) != 0) q = run, empties++;
    if (q <= h->base_pages) return 0;
    bool leaf = droppable_leaf_ends_at(h, q);
    int64_t free_start = leaf ? 0 : free_run_ending_at(h, q);
    if (free_start < 0) return PH_ECORRUPT;
    if (!leaf && free_start == 0) return 0; /* the empty runs stay */
    while (h->hwm > q) {
      run = ph__small_empty_cur_ending_at(h, h->hwm);
      ph__small_give_up_cur(h, run);
      h->hwm = run;
    }
    if (leaf) {
      uint32_t c = h->nleaves - 1, pages = ph__leaf_pages(h->lg_chunk);
      const ph_page *e = ph__page(h, h->dir[c]);
      if (ph__kind(e) != PH_PK_META || e->size != pages) return PH_ECORRUPT;
      h->meta_pages -= pages;
      h->nleaves = c;
      h->hwm = h->dir[c];
      h->dir[c] = 0;
    } else {
      if (free_run_remove(h, (uint32_t)free_start, NULL) < 0) return PH_ECORRUPT;
      h->hwm = (uint32_t)free_start;
    }
  }
}

int ph__pages_free(ph_heap_t *h, uint32_t p, uint32_t n) {
  ph_assert(p >= h->base_pages && p + n <= h->hwm && "the run is inside the heap");
  uint32_t start = p, end = p + n;
  /* The free neighbours, bounded before anything is written. */
  const ph_page *l = ph__page(h, p - 1);
  uint32_t lk = ph__kind(l), left = 0, right = 0;
  if (lk == PH_PK_FREE_TAIL || (lk == PH_PK_FREE && l->size == 1)) {
    if (l->size > p || free_run_at(h, p - l->size) != l->size) return PH_ECORRUPT;
    left = l->size;
  }
  if (end < h->hwm && ph__kind(ph__page(h, end)) == PH_PK_FREE) {
    right = free_run_at(h, end);
    if (right == 0) return PH_ECORRUPT;
  }
  clear_entry(h, p);
  if (left) {
    start = p - left;
    if (free_run_remove(h, start, NULL) < 0) return PH_ECORRUPT;
  }
  if (end == h->hwm) { /* the top run: give the pages back above hwm */
    h->hwm = start;
    int err = ph__pages_fall(h);
    if (err == 0) ph__purge_after_free(h, 0, 0);
    return err;
  }
  if (right) {
    if (free_run_remove(h, end, NULL) < 0) return PH_ECORRUPT;
    end += right;
  }
  /* Dirty, whatever its neighbours were: the pages just freed held data. */
  if (free_run_insert(h, start, end - start, true) != 0) return PH_ECORRUPT;
  /* Only empty runs above it: they and it leave the top. */
  int err = end < h->hwm && ph__small_empty_cur_ending_at(h, h->hwm) ? ph__pages_fall(h) : 0;
  if (err == 0) ph__purge_after_free(h, start, start < h->hwm ? end - start : 0);
  return err;
}

int ph__pages_grow(ph_heap_t *h, uint32_t p, uint32_t n, uint32_t m) {
  uint32_t end = p + n, extra = m - n;
  ph__purge_age_all(h);
  if (end == h->hwm) {
    uint64_t top = (uint64_t)end + extra;
    /* Growth into a chunk without a leaf moves instead: its leaf would sit here. */
    if (top > h->npages || top > ((uint64_t)h->nleaves << h->lg_chunk)) return 0;
    clear_entries(h, end, min_u32((uint32_t)top, h->touched));
    if (h->flags & PH_ZERO_ON_FREE) zero_pages(h, end, min_u32((uint32_t)top, h->touched));
    else if (h->flags & PH_ZERO_REENTRY) zero_dirty_pages(h, end, min_u32((uint32_t)top, h->touched));
    h->hwm = (uint32_t)top;
    if (h->hwm > h->touched) h->touched = h->hwm;
    return 1;
  }
  const ph_page *r = ph__page(h, end);
  if (ph__kind(r) != PH_PK_FREE || r->size < extra) return 0;
  bool dirty;
  int64_t size = free_run_remove(h, end, &dirty);
  if (size < 0) return PH_ECORRUPT;
  if (size < extra) return PH_ECORRUPT; /* free_run_remove read it again */
  if (size > extra && free_run_insert(h, end + extra, (uint32_t)size - extra, dirty) != 0) return PH_ECORRUPT;
  return 1;
}

int ph__pages_shrink(ph_heap_t *h, uint32_t p, uint32_t n, uint32_t m) {
  ph_assert(m > 0 && m < n && "shrink keeps at least one page");
  return ph__pages_free(h, p + m, n - m);
}

uint32_t ph__pages_run_head(const ph_heap_t *h, uint32_t p) {
  const ph_page *e = ph__page(h, p);
  uint32_t k = ph__kind(e);
  /* Pages that know their distance to the head (guarded: bytes may be damaged). */
  if (k == PH_PK_SMALL_BODY) return e->size <= p ? p - e->size : 0;
  if (k == PH_PK_FREE_TAIL) return e->size >= 1 && e->size - 1 <= p ? p - (e->size - 1) : 0;
  while (p > 0 && ph__kind(ph__page(h, p)) == PH_PK_NONE) p--; /* body of a free, large or META run */
  return p;
}

void ph__pages_format(ph_heap_t *h) {
  uint32_t leaf = ph__leaf_pages(h->lg_chunk);
  h->dir[0] = h->header_pages;
  h->nleaves = 1;
  h->base_pages = h->header_pages + leaf;
  h->hwm = h->base_pages;
  if (h->touched < h->hwm) h->touched = h->hwm;
  h->free_root = 0;
  h->free_mask = 0;
  memset(h->free_list, 0, sizeof h->free_list);
  h->free_pages = 0;
  h->free_runs = 0;
  h->meta_pages = h->base_pages;
  ph_page *e = ph__page(h, 0);
  e->info = PH_INFO(PH_PK_META, 0, 0, 0);
  e->size = h->header_pages;
  e = ph__page(h, h->header_pages);
  e->info = PH_INFO(PH_PK_META, 0, 0, 0);
  e->size = leaf;
}
