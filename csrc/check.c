/*
 * check.c - validation of a region's bytes, and the walk over live
 * allocations.
 *
 * ph_heap_check is the validator for untrusted snapshots and files: after
 * the O(1) header check has bounded every leaf inside the readable bytes,
 * each later read is of a page below hwm (so inside them), each loop is
 * bounded by hwm, and tree recursion is bounded by depth and by strictly
 * narrowing key intervals (a cycle or a shared subtree cannot pass). Each
 * broken invariant counts once; a broken run layout ends the walk, because
 * nothing after it can be located.
 *
 * Aliasing: every structure the header reaches is shown to be made of
 * distinct runs. Leaves: the directory is strictly increasing (distinct,
 * non-overlapping), each entry a META run of the walk, and the walk finds no
 * other leaf. Free lists, the tree and bin lists: nodes are run heads of the
 * walk of the kind and size or class their structure holds (so no node is
 * in two structures), lists have back links (so no node twice, no cycle),
 * the tree has narrowing keys, and each structure holds exactly as many
 * nodes as the walk finds runs of its kind. Bins' current runs: one per
 * class, never on a list. Scratch: the cursor's chunk is the newest SCRATCH
 * run, and there are as many as scratch_chunks.
 */
#include "internal.h"

/* The header links the allocator follows without a full check, bounded in
 * O(1) (O(size classes + leaves)): list heads, the tree root, bins with
 * their counts and current runs, the scratch cursor and the newest hint. */
static int check_header_links(const struct ph_heap *h) {
  if (h->free_list[0] != 0) return PH_ECORRUPT; /* sizes start at 1 */
  for (uint32_t k = 1; k <= PH_FREE_LISTS; k++) {
    uint32_t p = h->free_list[k];
    if ((p != 0) != ((h->free_mask >> (k - 1)) & 1u)) return PH_ECORRUPT;
    if (p && !ph__in_heap(h, p)) return PH_ECORRUPT;
  }
  if (h->free_root && !ph__in_heap(h, h->free_root)) return PH_ECORRUPT;
  if (h->dirty_head ? !ph__in_heap(h, h->dirty_head) || h->dirty_pages < 2 : h->dirty_pages != 0) return PH_ECORRUPT;
  if (h->dirty_pages > h->hwm) return PH_ECORRUPT;
  for (unsigned c = 0; c < PH_NCLASSES; c++) {
    const ph_bin *bin = &h->bins[c];
    const ph_class *cl = &ph__classes[c];
    if (cl->run_pages == 0) {
      if (bin->cur || bin->head || bin->tail || bin->fresh || bin->freed) return PH_ECORRUPT;
      continue;
    }
    if ((bin->head == 0) != (bin->tail == 0)) return PH_ECORRUPT;
    if ((bin->head && !ph__in_heap(h, bin->head)) || (bin->tail && !ph__in_heap(h, bin->tail))) return PH_ECORRUPT;
    if ((uint32_t)bin->fresh + bin->freed > cl->nregs) return PH_ECORRUPT;
    if (bin->cur == 0) {
      if (bin->fresh || bin->freed) return PH_ECORRUPT;
      continue;
    }
    /* The inline allocation trusts cur: a run of this class inside the heap. */
    if (!ph__in_heap(h, bin->cur) || (uint64_t)bin->cur + cl->run_pages > h->hwm) return PH_ECORRUPT;
    const ph_page *e = ph__page(h, bin->cur);
    if (ph__kind(e) != PH_PK_SMALL || PH_INFO_CLASS(e->info) != c) return PH_ECORRUPT;
  }
  if (h->newest_class >= PH_NCLASSES) return PH_ECORRUPT;
  /* The allocator bounds a recent stack's count before it reads a slot, and
   * validates each slot where it takes one; a page class has no stack. */
  for (unsigned c = 0; c < PH_NCLASSES; c++) {
    unsigned n = ph__small_recent_count(h, c);
    if (n > PH_RECENT_CAP || (n && ph__classes[c].run_pages == 0)) return PH_ECORRUPT;
  }
  /* Zero mode's stacks stay of another generation: the short path of a
   * free relies on it to leave zero mode (and its clearing) to the general
   * one. */
  if ((h->flags & PH_ZERO_ON_FREE) && ph__recent(h)->generation == h->generation) return PH_ECORRUPT;
  /* The inline scratch allocation (C's and FrameArena's) trusts the cursor. */
  return ph__scratch_cursor_check(h);
}

int ph__check_header(const struct ph_heap *h, size_t len) {
  if (!h || len < sizeof(struct ph_heap)) return PH_ECORRUPT;
  if (h->magic != PH_MAGIC) return PH_ECORRUPT;
  if (h->abi != PH_ABI_VERSION) return PH_EVERSION;
  if (h->page_size != PH_PAGE_SIZE || h->header_pages != PH_HEADER_PAGES) return PH_ECORRUPT;
  if ((h->flags & ~(uint32_t)(PH_ZERO_ON_FREE | PH_ZERO_REENTRY)) != 0 || h->lock_enabled > 1) return PH_ECORRUPT;
  if (h->purge_mode > PH__PURGE_NOW) return PH_ECORRUPT;
  if (h->lg_chunk < PH_LG_CHUNK_MIN || h->lg_chunk > PH_LG_CHUNK_MAX) return PH_ECORRUPT;
  uint32_t leaf = ph__leaf_pages(h->lg_chunk);
  if (h->npages < PH_MIN_PAGES || h->npages > PH_MAX_PAGES) return PH_ECORRUPT;
  if ((uint64_t)h->npages > ((uint64_t)PH_DIR_CAP << h->lg_chunk)) return PH_ECORRUPT;
  if (h->base_pages != PH_HEADER_PAGES + leaf || h->base_pages >= h->npages) return PH_ECORRUPT;
  if (h->hwm < h->base_pages || h->hwm > h->npages) return PH_ECORRUPT;
  if (h->touched < h->hwm || h->touched > h->npages) return PH_ECORRUPT;
  if (h->nleaves < 1 || h->nleaves > PH_DIR_CAP) return PH_ECORRUPT;
  if (((uint64_t)h->nleaves << h->lg_chunk) < h->hwm) return PH_ECORRUPT;
  if (((uint64_t)(h->nleaves - 1) << h->lg_chunk) >= h->touched) return PH_ECORRUPT;
  if (h->dir[0] != PH_HEADER_PAGES) return PH_ECORRUPT;
  /* Leaves are made in chunk order, each at hwm: strictly increasing and
   * apart, so no leaf is named twice and no two overlap. */
  for (uint32_t c = 1; c < h->nleaves; c++)
    if (h->dir[c] < h->dir[c - 1] + leaf || (uint64_t)h->dir[c] + leaf > h->hwm) return PH_ECORRUPT;
  if (((uint64_t)h->hwm << PH_LG_PAGE) > len) return PH_ESIZE;
  return check_header_links(h);
}

typedef struct tally {
  uint32_t free_by_size[PH_FREE_LISTS + 1]; /* free runs of k <= PH_FREE_LISTS pages */
  uint64_t free_tree_runs;                  /* longer free runs */
  uint64_t large_count, large_pages;
  uint64_t small_run_pages, free_pages, free_runs, meta_pages;
  uint64_t live[PH_NCLASSES];    /* live regions per bin */
  uint32_t nonfull[PH_NCLASSES]; /* non-full runs other than cur, per bin */
  uint32_t leaves;               /* META runs other than the header */
  uint64_t dirty_runs, dirty_pages; /* free runs whose tail says dirty */
  uint32_t scratch_chunks;       /* SCRATCH runs */
} tally;

/* Whether n entries after p, (p, p + n), are all NONE. */
static bool body_is_none(const ph_heap_t *h, uint32_t p, uint32_t n) {
  for (uint32_t q = p + 1; q < p + n; q++)
    if (ph__page(h, q)->info != 0) return false;
  return true;
}

/* Slots of bin c's recent stack naming an offset inside run p (the header
 * check bounded the count). */
static uint32_t recent_in_run(const ph_heap_t *h, unsigned c, uint32_t p) {
  const ph_recent *r = ph__recent(h);
  uint64_t lo = (uint64_t)p << PH_LG_PAGE, hi = lo + ((uint64_t)ph__classes[c].run_pages << PH_LG_PAGE);
  uint32_t n = 0, count = ph__small_recent_count(h, c);
  for (uint32_t i = 0; i < count; i++) {
    uint64_t off = (uint64_t)r->slot[c][i] << 3;
    n += off >= lo && off < hi;
  }
  return n;
}

/* Check a small run's entries and bitmap; add its live regions to t. The
 * current run's counts are in its bin (fresh regions have bit 0, like live
 * ones); any other run's are in its entry, but for its recent regions,
 * which are free in its bitmap only. */
static int check_small_run(const ph_heap_t *h, uint32_t p, tally *t) {
  int broken = 0;
  const ph_page *e = ph__page(h, p);
  unsigned c = PH_INFO_CLASS(e->info);
  const ph_class *cl = &ph__classes[c];
  const ph_bin *bin = &h->bins[c];
  bool is_cur = p == bin->cur;
  uint32_t fresh = is_cur ? bin->fresh : 0;
  uint32_t nfree = is_cur ? bin->freed : PH_INFO_NFREE(e->info);
  if (is_cur && PH_INFO_NFREE(e->info) != 0) broken++;
  if (nfree + fresh > cl->nregs) return broken + 1;
  for (uint32_t k = 1; k < cl->run_pages; k++) {
    const ph_page *b = ph__page(h, p + k);
    if (ph__kind(b) != PH_PK_SMALL_BODY || b->size != k || PH_INFO_CLASS(b->info) != c) broken++;
  }
  uint32_t counted = 0, first_fresh = cl->nregs - fresh;
  if (cl->bm_words == 0) {
    uint32_t valid = first_fresh == 32 ? 0xFFFFFFFFu : (1u << first_fresh) - 1u;
    if (e->size & ~valid) broken++;
    counted = (uint32_t)__builtin_popcount(e->size & valid);
  } else {
    const uint64_t *bm = ph__small_trailing_bitmap(h, p, cl);
    if (e->size > cl->bm_words) broken++;
    for (uint32_t w = 0; w < cl->bm_words; w++) {
      uint64_t valid = (w + 1u) * 64u <= first_fresh ? ~0ull
                     : w * 64u >= first_fresh       ? 0
                                                    : (1ull << (first_fresh % 64u)) - 1u;
      if (bm[w] & ~valid) broken++;
      if (w < e->size && bm[w] != 0) broken++; /* the hint skips no free bit */
      counted += (uint32_t)__builtin_popcountll(bm[w] & valid);
    }
  }
  uint32_t recent = is_cur ? 0 : recent_in_run(h, c, p); /* a slot in cur is broken (check_recent) */
  if (PH_INFO_RECENT(e->info) != recent) broken++; /* the head counts them */
  if (counted != nfree + recent) broken++;
  if (nfree + recent + fresh > cl->nregs) return broken + 1;
  t->live[c] += cl->nregs - nfree - recent - fresh;
  t->small_run_pages += cl->run_pages;
  if (!is_cur) {
    if (nfree == cl->nregs) broken++; /* empty runs other than cur go back to the pages (while recent regions keep them) */
    else if (nfree > 0) t->nonfull[c]++;
  }
  return broken;
}

/* Walk the runs below hwm; returns broken invariants, *complete = reached hwm. */
static int check_runs(const ph_heap_t *h, tally *t, bool *complete) {
  int broken = 0;
  bool prev_free = false;
  uint32_t leaf = ph__leaf_pages(h->lg_chunk);
  *complete = false;
  for (uint32_t p = 0; p < h->hwm;) {
    const ph_page *e = ph__page(h, p);
    uint32_t k = ph__kind(e), n;
    if (k == PH_PK_SMALL) {
      unsigned c = PH_INFO_CLASS(e->info);
      if (c >= PH_NCLASSES || ph__classes[c].run_pages == 0) return broken + 1;
      n = ph__classes[c].run_pages;
    } else if (k == PH_PK_FREE || k == PH_PK_LARGE || k == PH_PK_META || k == PH_PK_SCRATCH) {
      n = e->size;
    } else {
      return broken + 1; /* not a run head where one must be */
    }
    if (n == 0 || (uint64_t)p + n > h->hwm) return broken + 1;
    switch (k) {
    case PH_PK_FREE:
      if (prev_free) broken++; /* free runs coalesce */
      if (p + n == h->hwm) broken++; /* the top free run gives its pages back */
      if (n > 1) {
        const ph_page *tl = ph__page(h, p + n - 1);
        bool dirty = tl->info & PH_TAIL_DIRTY;
        if ((tl->info & ~PH_TAIL_DIRTY) != PH_INFO(PH_PK_FREE_TAIL, 0, 0, 0) || tl->size != n) broken++;
        if (!dirty && (tl->left || tl->right)) broken++; /* only the dirty list links tails */
        t->dirty_runs += dirty;
        t->dirty_pages += dirty ? n : 0;
        if (!body_is_none(h, p, n - 1)) broken++;
      }
      t->free_pages += n;
      t->free_runs++;
      if (n <= PH_FREE_LISTS) t->free_by_size[n]++;
      else t->free_tree_runs++;
      break;
    case PH_PK_LARGE:
      if (!body_is_none(h, p, n)) broken++;
      t->large_count++;
      t->large_pages += n;
      break;
    case PH_PK_SCRATCH:
      if (!body_is_none(h, p, n)) broken++;
      t->scratch_chunks++;
      break;
    case PH_PK_SMALL:
      broken += check_small_run(h, p, t);
      break;
    case PH_PK_META:
      if (p == 0 ? n != h->header_pages : n != leaf) broken++;
      if (p != 0) t->leaves++;
      if (!body_is_none(h, p, n)) broken++;
      t->meta_pages += n;
      break;
    }
    prev_free = k == PH_PK_FREE;
    p += n;
  }
  *complete = true;
  return broken;
}

/*
 * Validate the free subtree at node: every node a FREE head below hwm longer
 * than PH_FREE_LISTS pages, keys
 * (pages, index) strictly inside (lo, hi), AVL heights right. Returns the
 * subtree's height, or -1 when broken; counts nodes in *count.
 */
static int check_tree(const ph_heap_t *h, uint32_t node, uint64_t lo, uint64_t hi, int depth, uint64_t *count) {
  if (node == 0) return 0;
  if (depth > 63 || node >= h->hwm || node < h->base_pages) return -1;
  const ph_page *e = ph__page(h, node);
  if (ph__kind(e) != PH_PK_FREE || e->size <= PH_FREE_LISTS) return -1;
  uint64_t key = ((uint64_t)e->size << 32) | node;
  if (key <= lo || key >= hi) return -1;
  if (++*count > h->hwm) return -1;
  int l = check_tree(h, e->left, lo, key, depth + 1, count);
  if (l < 0) return -1;
  int r = check_tree(h, e->right, key, hi, depth + 1, count);
  if (r < 0) return -1;
  int ht = 1 + (l > r ? l : r);
  if ((int)PH_INFO_HEIGHT(e->info) != ht || l - r > 1 || r - l > 1) return -1;
  return ht;
}

/* A list of run heads: `expect` distinct nodes below hwm, each accepted by
 * ok(h, p, e, arg), with consistent back links. Bounded by expect + 1 steps.
 * Returns whether it is sound; *last is its last node. */
typedef bool (*node_ok)(const ph_heap_t *h, uint32_t p, const ph_page *e, unsigned arg);

static bool list_sound(const ph_heap_t *h, uint32_t head, uint32_t expect, node_ok ok, unsigned arg, uint32_t *last) {
  uint32_t prev = 0, n = 0;
  for (uint32_t p = head; p; p = ph__page(h, p)->right) {
    if (++n > expect || p < h->base_pages || p >= h->hwm) return false;
    const ph_page *e = ph__page(h, p);
    if (e->left != prev || !ok(h, p, e, arg)) return false;
    prev = p;
  }
  *last = prev;
  return n == expect;
}

/* Free list k holds FREE heads of k pages; its mask bit says whether it is empty. */
static bool free_node_ok(const ph_heap_t *h, uint32_t p, const ph_page *e, unsigned k) {
  (void)h, (void)p;
  return ph__kind(e) == PH_PK_FREE && e->size == k;
}

static int check_free_list(const ph_heap_t *h, uint32_t k, uint32_t expect) {
  uint32_t last;
  bool bit = (h->free_mask >> (k - 1)) & 1u;
  return list_sound(h, h->free_list[k], expect, free_node_ok, k, &last) && bit == (expect > 0) ? 0 : 1;
}

/* A bin's list holds its runs other than cur that are neither full nor empty. */
static bool bin_node_ok(const ph_heap_t *h, uint32_t p, const ph_page *e, unsigned c) {
  uint32_t nfree = PH_INFO_NFREE(e->info);
  return ph__kind(e) == PH_PK_SMALL && PH_INFO_CLASS(e->info) == c && p != h->bins[c].cur && nfree > 0 &&
         nfree < ph__classes[c].nregs;
}

static int check_bin_list(const ph_heap_t *h, unsigned c, uint32_t expect) {
  uint32_t last;
  return list_sound(h, h->bins[c].head, expect, bin_node_ok, c, &last) && h->bins[c].tail == last ? 0 : 1;
}

/* The dirty list: a circle through the tails of exactly the dirty runs the
 * walk found, oldest first, with back links, and the header's page count.
 * Bounded by their number: each step goes to a dirty tail below hwm. */
static int check_dirty_list(const ph_heap_t *h, const tally *t) {
  if (h->dirty_pages != t->dirty_pages) return 1;
  if (h->dirty_head == 0 || t->dirty_runs == 0) return h->dirty_head != 0 || t->dirty_runs != 0;
  uint32_t prev = ph__page(h, h->dirty_head)->left, p = h->dirty_head;
  for (uint64_t n = 0; n < t->dirty_runs; n++) {
    if (p < h->base_pages || p >= h->hwm || (n > 0 && p == h->dirty_head)) return 1; /* a shorter circle */
    const ph_page *e = ph__page(h, p);
    if (ph__kind(e) != PH_PK_FREE_TAIL || !(e->info & PH_TAIL_DIRTY) || e->left != prev) return 1;
    prev = p;
    p = e->right;
  }
  return p != h->dirty_head || ph__page(h, p)->left != prev; /* back at the oldest after exactly that many */
}

/* The scratch cursor (bounded by the header check to the newest chunk's
 * pages, with a SCRATCH head) and the chunks: as many as the header counts,
 * and the newest the run that ends at the cursor's end. */
static int check_scratch(const ph_heap_t *h, const tally *t) {
  if (t->scratch_chunks != h->scratch_chunks) return 1;
  if (h->scratch_chunks == 0) return 0;
  uint32_t head = ph__pages_run_head(h, (uint32_t)((h->scratch_end - 1) >> PH_LG_PAGE));
  const ph_page *e = ph__page(h, head);
  uint64_t end = ((uint64_t)head + e->size) << PH_LG_PAGE;
  return ph__kind(e) != PH_PK_SCRATCH || end != h->scratch_end;
}

/* Every recent slot names a free region of its class outside cur, no two
 * the same, and a bin with no live region has none. */
static int check_recent(const ph_heap_t *h) {
  int broken = 0;
  const ph_recent *r = ph__recent(h);
  for (unsigned c = 0; c < PH_NCLASSES; c++) {
    unsigned n = ph__small_recent_count(h, c);
    if (n && h->bins[c].live == 0) broken++;
    for (unsigned i = 0; i < n; i++) {
      if (ph__small_recent_run(h, c, i) == 0) broken++;
      for (unsigned j = 0; j < i; j++)
        if (r->slot[c][j] == r->slot[c][i]) broken++;
    }
  }
  return broken;
}

/* Roots in use: a name of 1..PH_ROOT_NAME_MAX bytes, unique, and an offset
 * inside the region. Slots not in use may hold anything (reset leaves them). */
static int check_roots(const ph_heap_t *h) {
  int broken = 0;
  _Static_assert(PH_ROOT_COUNT == 32, "one bit per root in roots_used");
  for (unsigned i = 0; i < PH_ROOT_COUNT; i++) {
    if (!((h->roots_used >> i) & 1u)) continue;
    const ph_root *r = &h->roots[i];
    if (r->name[0] == 0 || memchr(r->name, 0, sizeof r->name) == NULL) {
      broken++;
      continue;
    }
    if (r->off == 0 || r->off >= ((uint64_t)h->npages << PH_LG_PAGE)) broken++;
    for (unsigned j = 0; j < i; j++)
      if (((h->roots_used >> j) & 1u) && strncmp(r->name, h->roots[j].name, sizeof r->name) == 0) broken++;
  }
  return broken;
}

/* Pages never touched read as zero, their map entries included (a page
 * that enters the heap above `touched` keeps the entry it has): so every
 * entry of a page at or above touched must be zero. */
static int check_untouched_entries(const ph_heap_t *h) {
  uint64_t end = (uint64_t)h->nleaves << h->lg_chunk;
  for (uint64_t p = h->touched; p < end; p++) {
    const ph_page *e = ph__page(h, (uint32_t)p);
    if (e->info | e->size | e->left | e->right) return 1;
  }
  return 0;
}

int ph_heap_check(const void *base, size_t len) {
  const ph_heap_t *h = (const ph_heap_t *)base;
  int err = ph__check_header(h, len);
  if (err) return ph__fail(err); /* unusable: a failure; a count of broken invariants is a verdict */
  tally t;
  memset(&t, 0, sizeof t);
  bool complete;
  int broken = check_runs(h, &t, &complete);
  broken += check_roots(h);
  if (!complete) return broken + (h->scratch_next || h->scratch_end ? 1 : 0);
  broken += check_scratch(h, &t);
  broken += check_recent(h);

  for (uint32_t c = 0; c < h->nleaves; c++) {
    const ph_page *e = ph__page(h, h->dir[c]);
    if (ph__kind(e) != PH_PK_META || e->size != ph__leaf_pages(h->lg_chunk)) broken++;
  }
  if (t.leaves != h->nleaves) broken++;
  broken += check_untouched_entries(h);

  uint64_t nodes = 0;
  if (check_tree(h, h->free_root, 0, UINT64_MAX, 0, &nodes) < 0 || nodes != t.free_tree_runs)
    broken++;
  for (uint32_t k = 1; k <= PH_FREE_LISTS; k++) broken += check_free_list(h, k, t.free_by_size[k]);
  broken += check_dirty_list(h, &t);
  for (unsigned c = 0; c < PH_NCLASSES; c++) {
    const ph_bin *bin = &h->bins[c];
    if (ph__classes[c].run_pages == 0) {
      if (bin->cur || bin->head || bin->tail || bin->fresh || bin->freed) broken++;
      continue;
    }
    /* cur, fresh and freed are bounded by the header check; cur may be 0
     * with runs on the list (an empty cur left the top): the next
     * allocation takes the list's head. */
    broken += check_bin_list(h, c, t.nonfull[c]);
  }

  for (unsigned c = 0; c < PH_NCLASSES; c++)
    if (t.live[c] != h->bins[c].live) broken++;
  if (t.large_count != h->large_count) broken++;
  if (t.large_pages != h->large_pages) broken++;
  if (t.small_run_pages != h->small_run_pages) broken++;
  if (t.free_pages != h->free_pages) broken++;
  if (t.free_runs != h->free_runs) broken++;
  if (t.meta_pages != h->meta_pages) broken++;
  return broken;
}

static int walk_damaged(bool *damaged) {
  *damaged = true;
  return PH_ECORRUPT;
}

/* Visit every live allocation at an offset >= from, in address order, until
 * visit returns non-zero (returned). 0 at the end; PH_ECORRUPT, with
 * *damaged set, on a broken map. Seeking to `from` walks back at most one
 * run. */
static int walk_from(const ph_heap_t *h, uint64_t from, ph_walk_fn visit, void *arg, bool *damaged) {
  *damaged = false;
  uint64_t first = from >> PH_LG_PAGE;
  uint32_t p = h->base_pages;
  if (first >= h->hwm) p = h->hwm;
  else if (first > h->base_pages) p = ph__pages_run_head(h, (uint32_t)first);
  if (p < h->base_pages) p = h->base_pages;
  while (p < h->hwm) {
    const ph_page *e = ph__page(h, p);
    uint32_t k = ph__kind(e), n = e->size;
    const ph_class *cl = NULL;
    if (k == PH_PK_SMALL) {
      unsigned c = PH_INFO_CLASS(e->info);
      if (c >= PH_NCLASSES) return walk_damaged(damaged);
      cl = &ph__classes[c];
      n = cl->run_pages;
    } else if (k != PH_PK_LARGE && k != PH_PK_FREE && k != PH_PK_META && k != PH_PK_SCRATCH) {
      return walk_damaged(damaged);
    }
    if (n == 0 || (uint64_t)p + n > h->hwm) return walk_damaged(damaged);
    uint64_t start = (uint64_t)p << PH_LG_PAGE;
    if (cl) {
      for (long i = 0; i < cl->nregs; i++) {
        uint64_t off = start + (uint64_t)i * cl->size;
        if (off < from || !ph__small_is_live(h, p, i)) continue;
        int r = visit(arg, off, cl->size);
        if (r) return r;
      }
    } else if (k == PH_PK_LARGE && start >= from) {
      int r = visit(arg, start, (uint64_t)n << PH_LG_PAGE);
      if (r) return r;
    }
    p += n;
  }
  return 0;
}

int ph_heap_walk(const ph_heap_t *h, ph_walk_fn fn, void *arg) {
  if (!h || !fn) return ph__fail(PH_EINVAL);
  bool damaged;
  int rc = walk_from(h, 0, fn, arg, &damaged);
  return damaged ? ph__fail(rc) : rc; /* else what fn returned, which is no code of ours */
}

typedef struct batch {
  double *out;
  int max, n;
} batch;

static int batch_visit(void *arg, uint64_t off, uint64_t size) {
  batch *b = arg;
  b->out[2 * b->n] = (double)off;
  b->out[2 * b->n + 1] = (double)size;
  return ++b->n == b->max; /* full: stop */
}

int ph_off_walk(const ph_heap_t *h, double from, double *out, int max) {
  if (!h || !out || max <= 0 || !(from >= 0.0 && from <= 9007199254740992.0)) return ph__fail(PH_EINVAL);
  batch b = {out, max, 0};
  bool damaged;
  int rc = walk_from(h, (uint64_t)from, batch_visit, &b, &damaged);
  return damaged ? ph__fail(rc) : b.n;
}
