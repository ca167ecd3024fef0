/*
 * small.c - bins of small size classes, served from page runs with per-run
 * bitmaps of freed regions (1 = free).
 *
 * Owns: SMALL / SMALL_BODY entries, run bitmaps, bins. Each bin allocates
 * from its current run (`cur`): first the regions freed back into it, lowest
 * first, then the fresh regions it has never handed out, in address order
 * (a bump, with no bitmap or map access: see ph__small_alloc). The bin's
 * other non-full runs wait in a FIFO list (the run that has waited longest
 * has gathered the most frees), and a new run is made only when the list is
 * empty, so the high-water mark moves only when nothing below has room.
 * Full runs sit in no structure (a free finds them through the map). A run
 * other than `cur` that becomes empty goes back to the page allocator; `cur`
 * is kept even when empty, so a bin that drains and refills each frame does
 * not churn pages, unless it holds hwm up above free space: then it goes,
 * and the used prefix shrinks (ph__pages_fall). Every step is O(1), but
 * for that fall, which is one step per run it takes off the top.
 *
 * A run's head entry holds its class, nfree (for runs other than cur) and
 * either the inline bitmap (runs of at most 32 regions) or the index of the
 * lowest trailing-bitmap word that may have a set bit. A region never handed
 * out has bit 0, like a live one: only cur has such regions, and the bin's
 * fresh count tells them apart.
 *
 * Damage: a run's class, counts, bitmap and list links come from its map
 * entry and pages. A run is bounded (ph__small_run_ok) before its bitmap is
 * touched, list links must point back, and a bitmap that disagrees with the
 * counts is PH_ECORRUPT: no scan runs past a run's bitmap.
 */
#include "internal.h"

static void run_init(ph_heap_t *h, uint32_t run, unsigned c) {
  const ph_class *cl = &ph__classes[c];
  ph_page *e = ph__page(h, run);
  e->info = PH_INFO(PH_PK_SMALL, 0, c, 0);
  e->left = e->right = 0;
  if (cl->bm_words == 0) {
    e->size = 0;
  } else {
    e->size = cl->bm_words; /* no word has a free bit */
    memset(ph__small_trailing_bitmap(h, run, cl), 0, cl->bm_words * sizeof(uint64_t));
  }
  for (uint32_t k = 1; k < cl->run_pages; k++) {
    ph_page *b = ph__page(h, run + k);
    b->info = PH_INFO(PH_PK_SMALL_BODY, 0, c, 0);
    b->size = k;
  }
  h->small_run_pages += cl->run_pages;
}

bool ph__small_run_ok(const ph_heap_t *h, uint32_t run) {
  if (!ph__in_heap(h, run)) return false;
  const ph_page *e = ph__page(h, run);
  unsigned c = PH_INFO_CLASS(e->info);
  return ph__kind(e) == PH_PK_SMALL && c < PH_NCLASSES && ph__classes[c].run_pages != 0 &&
         (uint64_t)run + ph__classes[c].run_pages <= h->hwm;
}

/* Give an empty run's pages back; in zero mode its bitmap is cleared too. */
static int run_release(ph_heap_t *h, uint32_t run, const ph_class *cl) {
  for (uint32_t k = 1; k < cl->run_pages; k++) memset(ph__page(h, run + k), 0, sizeof(ph_page));
  if (cl->bm_words && (h->flags & PH_ZERO_ON_FREE))
    memset(ph__small_trailing_bitmap(h, run, cl), 0, cl->bm_words * sizeof(uint64_t));
  h->small_run_pages -= cl->run_pages;
  return ph__pages_free(h, run, cl->run_pages);
}

void ph__small_give_up_cur(ph_heap_t *h, uint32_t run) {
  unsigned c = PH_INFO_CLASS(ph__page(h, run)->info);
  const ph_class *cl = &ph__classes[c];
  ph_bin *bin = &h->bins[c];
  /* Its entries stay as they are: above hwm they mean nothing, and a page
   * entering the heap again gets its entry cleared. */
  if (cl->bm_words && (h->flags & PH_ZERO_ON_FREE))
    memset(ph__small_trailing_bitmap(h, run, cl), 0, cl->bm_words * sizeof(uint64_t));
  h->small_run_pages -= cl->run_pages;
  bin->cur = 0;
  bin->fresh = bin->freed = 0;
}

static void list_push_back(ph_heap_t *h, ph_bin *bin, uint32_t run) {
  ph_page *e = ph__page(h, run);
  e->left = bin->tail;
  e->right = 0;
  if (bin->tail) ph__page(h, bin->tail)->right = run;
  else bin->head = run;
  bin->tail = run;
}

/* Replace bin c's full cur by a run with room: 0, PH_ENOMEM when the
 * region is full, or PH_ECORRUPT when the bin's list is damaged. */
static int refill(ph_heap_t *h, unsigned c) {
  ph_bin *bin = &h->bins[c];
  uint32_t run = bin->head;
  if (run) { /* its free regions are all in its bitmap */
    ph_page *e = ph__small_run_ok(h, run) ? ph__page(h, run) : NULL;
    uint32_t nfree = e ? PH_INFO_NFREE(e->info) : 0;
    /* a run of this class with 1..nregs free regions, linked both ways */
    if (!e || PH_INFO_CLASS(e->info) != c || nfree == 0 || nfree > ph__classes[c].nregs ||
        !ph__list_unlink(h, &bin->head, &bin->tail, run))
      return PH_ECORRUPT;
    bin->freed = (uint16_t)nfree;
    bin->fresh = 0;
    e->info &= 0xFFFFu; /* a cur run's counts live in the bin */
  } else {
    bool zeroed;
    int64_t got = ph__pages_alloc(h, ph__classes[c].run_pages, 1, &zeroed);
    if (got < 0) return (int)got;
    run = (uint32_t)got;
    run_init(h, run, c);
    bin->freed = 0;
    bin->fresh = ph__classes[c].nregs;
  }
  bin->cur = run; /* the old cur is full: nfree 0 in its entry, in no list */
  return 0;
}

/* Take the lowest set bit of run's bitmap (bin->freed says one is set):
 * its region, or -1 when no valid bit is set (damage). */
static long take_freed(ph_heap_t *h, uint32_t run, ph_page *e, const ph_class *cl) {
  if (cl->bm_words == 0) {
    uint32_t bits = e->size, reg = bits ? (uint32_t)__builtin_ctz(bits) : 32u;
    if (reg >= cl->nregs) return -1;
    e->size = bits & (bits - 1u);
    return reg;
  }
  uint64_t *bm = ph__small_trailing_bitmap(h, run, cl);
  uint32_t w = e->size;
  while (w < cl->bm_words && bm[w] == 0) w++; /* a set bit lies at or above the hint */
  if (w >= cl->bm_words) return -1;
  uint32_t reg = w * 64u + (uint32_t)__builtin_ctzll(bm[w]);
  if (reg >= cl->nregs) return -1;
  bm[w] &= bm[w] - 1u;
  e->size = w;
  return reg;
}

int64_t ph__small_alloc_slow(ph_heap_t *h, unsigned c) {
  ph_bin *bin = &h->bins[c];
  const ph_class *cl = &ph__classes[c];
  if (bin->freed == 0 && bin->fresh == 0) {
    int err = refill(h, c);
    if (err) return err;
    if (bin->freed == 0) return ph__small_alloc(h, c); /* a new run: fresh */
  }
  uint32_t reg;
  if (bin->freed) {
    long got = take_freed(h, bin->cur, ph__page(h, bin->cur), cl);
    if (got < 0) return PH_ECORRUPT;
    reg = (uint32_t)got;
    bin->freed--;
  } else {
    reg = cl->nregs - bin->fresh--;
  }
  bin->live++;
  return ((int64_t)bin->cur << PH_LG_PAGE) + (int64_t)reg * cl->size;
}

long ph__small_region(const ph_heap_t *h, uint32_t run, uint64_t off) {
  const ph_page *e = ph__page(h, run);
  const ph_class *cl = &ph__classes[PH_INFO_CLASS(e->info)];
  uint64_t diff = off - ((uint64_t)run << PH_LG_PAGE);
  uint64_t reg = (diff * cl->div_magic) >> 32;
  if (reg * cl->size != diff || reg >= cl->nregs) return -1;
  return (long)reg;
}

static inline bool bit_is_set(const ph_heap_t *h, const ph_page *e, uint32_t run, const ph_class *cl, long i) {
  if (cl->bm_words == 0) return (e->size >> i) & 1u;
  const uint64_t *bm = ph__small_trailing_bitmap(h, run, cl);
  return (bm[i >> 6] >> (i & 63)) & 1u;
}

bool ph__small_is_live(const ph_heap_t *h, uint32_t run, long i) {
  const ph_page *e = ph__page(h, run);
  unsigned c = PH_INFO_CLASS(e->info);
  const ph_class *cl = &ph__classes[c];
  const ph_bin *bin = &h->bins[c];
  if (run == bin->cur && i >= (long)(cl->nregs - bin->fresh)) return false; /* never handed out */
  return !bit_is_set(h, e, run, cl, i);
}

/* A run other than cur became empty (back to the pages) or stopped being
 * full (onto the list). Kept out of line so the free path stays short. */
__attribute__((noinline)) static int run_changed_state(ph_heap_t *h, ph_bin *bin, uint32_t run, const ph_class *cl,
                                                       uint32_t nfree) {
  if (nfree == cl->nregs) { /* empty: it was waiting on the list */
    if (!ph__list_unlink(h, &bin->head, &bin->tail, run)) return PH_ECORRUPT;
    return run_release(h, run, cl);
  }
  list_push_back(h, bin, run); /* was full: it joins the non-full runs */
  return 0;
}

int ph__small_free(ph_heap_t *h, uint32_t run, ph_page *e, uint64_t off) {
  unsigned c = PH_INFO_CLASS(e->info);
  /* The entry is untrusted: a small head of a real class, its run in the
   * heap (a page-run class has nregs 0: every offset is EBADPTR below). */
  if (PH_UNLIKELY(ph__kind(e) != PH_PK_SMALL || c >= PH_NCLASSES)) return PH_ECORRUPT;
  const ph_class *cl = &ph__classes[c];
  if (PH_UNLIKELY(run + cl->run_pages > h->hwm)) return PH_ECORRUPT;
  ph_bin *bin = &h->bins[c];
  uint64_t diff = off - ((uint64_t)run << PH_LG_PAGE);
  uint64_t reg = (diff * cl->div_magic) >> 32;
  if (reg * cl->size != diff || reg >= cl->nregs) return PH_EBADPTR;
  bool is_cur = run == bin->cur;
  uint32_t first_fresh = is_cur ? cl->nregs - bin->fresh : cl->nregs;
  if (reg >= first_fresh) return PH_EDOUBLEFREE; /* never handed out */
  bool newest = is_cur && reg + 1 == first_fresh;
  if (cl->bm_words == 0) {
    uint32_t bit = 1u << reg;
    if (e->size & bit) return PH_EDOUBLEFREE;
    if (!newest) e->size |= bit;
  } else {
    uint64_t *bm = ph__small_trailing_bitmap(h, run, cl);
    uint32_t w = (uint32_t)(reg >> 6);
    uint64_t bit = 1ull << (reg & 63);
    if (bm[w] & bit) return PH_EDOUBLEFREE;
    if (!newest) {
      bm[w] |= bit;
      if (w < e->size) e->size = w;
    }
  }
  if (h->flags & PH_ZERO_ON_FREE) memset(ph__base(h) + off, 0, cl->size);
  bin->live--;
  h->free_count++;
  if (is_cur) {
    if (newest) bin->fresh++; /* un-bump: it becomes fresh again, its bit stays 0 */
    else bin->freed++;
    /* An empty cur may be what holds hwm up above free space. */
    if (PH_UNLIKELY((uint32_t)bin->fresh + bin->freed == cl->nregs)) return ph__pages_fall(h);
    return 0;
  }
  e->info += 1u << 16; /* nfree++ */
  uint32_t nfree = PH_INFO_NFREE(e->info);
  if (PH_UNLIKELY(nfree == cl->nregs || nfree == 1)) return run_changed_state(h, bin, run, cl, nfree);
  return 0;
}
