/*
 * small.c - bins of small size classes, served from page runs with per-run
 * allocation bitmaps (1 = free).
 *
 * Owns: SMALL / SMALL_BODY entries, run bitmaps, bins. Each bin allocates
 * from its current run (`cur`), lowest free region first; its other
 * non-full runs wait in a FIFO list (the run that has waited longest has
 * gathered the most frees), and a new run is made only when the list is
 * empty. Full runs sit in no structure (a free finds them through the map).
 * A run other than `cur` that becomes empty goes back to the page allocator;
 * `cur` is kept even when empty, so a bin that drains and refills each frame
 * does not churn pages. Every step is O(1): an address-ordered tree here
 * cost three times glibc's time in small-object churn.
 *
 * A run's head entry holds its class, nfree and either the inline bitmap
 * (runs of at most 32 regions) or the index of the lowest trailing-bitmap
 * word that may have a free bit.
 */
#include "internal.h"

static void run_init(ph_heap_t *h, uint32_t run, unsigned c) {
  const ph_class *cl = &ph__classes[c];
  ph_page *e = ph__page(h, run);
  e->info = PH_INFO(PH_PK_SMALL, 0, c, cl->nregs);
  e->left = e->right = 0;
  if (cl->bm_words == 0) {
    e->size = cl->nregs == 32 ? 0xFFFFFFFFu : (1u << cl->nregs) - 1u;
  } else {
    e->size = 0;
    uint64_t *bm = ph__small_trailing_bitmap(h, run, cl);
    unsigned full = cl->nregs / 64u, rest = cl->nregs % 64u;
    for (unsigned i = 0; i < full; i++) bm[i] = ~0ull;
    if (rest) bm[full] = (1ull << rest) - 1u;
  }
  for (uint32_t k = 1; k < cl->run_pages; k++) {
    ph_page *b = ph__page(h, run + k);
    b->info = PH_INFO(PH_PK_SMALL_BODY, 0, c, 0);
    b->size = k;
  }
  h->small_run_pages += cl->run_pages;
}

/* Give an empty run's pages back; in zero mode its bitmap is cleared too. */
static void run_release(ph_heap_t *h, uint32_t run, const ph_class *cl) {
  for (uint32_t k = 1; k < cl->run_pages; k++) memset(ph__page(h, run + k), 0, sizeof(ph_page));
  if (cl->bm_words && (h->flags & PH_ZERO_ON_FREE))
    memset(ph__small_trailing_bitmap(h, run, cl), 0, cl->bm_words * sizeof(uint64_t));
  h->small_run_pages -= cl->run_pages;
  ph__pages_free(h, run, cl->run_pages);
}

static void list_push_back(ph_heap_t *h, ph_bin *bin, uint32_t run) {
  ph_page *e = ph__page(h, run);
  e->left = bin->tail;
  e->right = 0;
  if (bin->tail) ph__page(h, bin->tail)->right = run;
  else bin->head = run;
  bin->tail = run;
  bin->nonfull++;
}

static void list_remove(ph_heap_t *h, ph_bin *bin, uint32_t run) {
  ph_page *e = ph__page(h, run);
  if (e->left) ph__page(h, e->left)->right = e->right;
  else bin->head = e->right;
  if (e->right) ph__page(h, e->right)->left = e->left;
  else bin->tail = e->left;
  e->left = e->right = 0;
  bin->nonfull--;
}

/* Make bin c's cur a run with a free region; 0 when the region is full. */
static uint32_t refill(ph_heap_t *h, unsigned c) {
  ph_bin *bin = &h->bins[c];
  uint32_t run = bin->head;
  if (run) {
    list_remove(h, bin, run);
  } else {
    bool zeroed;
    run = ph__pages_alloc(h, ph__classes[c].run_pages, 1, &zeroed);
    if (run == 0) return 0;
    run_init(h, run, c);
  }
  bin->cur = run; /* the old cur is full: it leaves every structure */
  return run;
}

uint64_t ph__small_alloc(ph_heap_t *h, unsigned c) {
  const ph_class *cl = &ph__classes[c];
  uint32_t run = h->bins[c].cur;
  ph_page *e;
  if (PH_UNLIKELY(run == 0 || PH_INFO_NFREE((e = ph__page(h, run))->info) == 0)) {
    run = refill(h, c);
    if (run == 0) return 0;
    e = ph__page(h, run);
  }
  uint32_t reg;
  if (cl->bm_words == 0) {
    uint32_t bits = e->size;
    ph_assert(bits != 0 && "nfree > 0 means a free bit");
    reg = (uint32_t)__builtin_ctz(bits);
    e->size = bits & (bits - 1u);
  } else {
    uint64_t *bm = ph__small_trailing_bitmap(h, run, cl);
    uint32_t w = e->size;
    while (bm[w] == 0) w++; /* ends: nfree > 0 means a free bit at or above the hint */
    reg = w * 64u + (uint32_t)__builtin_ctzll(bm[w]);
    bm[w] &= bm[w] - 1u;
    e->size = w;
  }
  e->info -= 1u << 16; /* nfree-- */
  h->live_count++;
  h->small_count++;
  h->live_bytes += cl->size;
  h->malloc_count++;
  return ((uint64_t)run << PH_LG_PAGE) + (uint64_t)reg * cl->size;
}

long ph__small_region(const ph_heap_t *h, uint32_t run, uint64_t off) {
  const ph_page *e = ph__page(h, run);
  const ph_class *cl = &ph__classes[PH_INFO_CLASS(e->info)];
  uint64_t diff = off - ((uint64_t)run << PH_LG_PAGE);
  uint64_t reg = (diff * cl->div_magic) >> 32;
  if (reg * cl->size != diff || reg >= cl->nregs) return -1;
  return (long)reg;
}

bool ph__small_is_live(const ph_heap_t *h, uint32_t run, long i) {
  const ph_page *e = ph__page(h, run);
  const ph_class *cl = &ph__classes[PH_INFO_CLASS(e->info)];
  if (cl->bm_words == 0) return ((e->size >> i) & 1u) == 0;
  const uint64_t *bm = ph__small_trailing_bitmap(h, run, cl);
  return ((bm[i >> 6] >> (i & 63)) & 1u) == 0;
}

int ph__small_free(ph_heap_t *h, uint32_t run, uint64_t off) {
  ph_page *e = ph__page(h, run);
  unsigned c = PH_INFO_CLASS(e->info);
  const ph_class *cl = &ph__classes[c];
  uint64_t diff = off - ((uint64_t)run << PH_LG_PAGE);
  uint64_t reg = (diff * cl->div_magic) >> 32;
  if (reg * cl->size != diff || reg >= cl->nregs) return ph__fail(PH_EBADPTR);
  if (cl->bm_words == 0) {
    uint32_t bit = 1u << reg;
    if (e->size & bit) return ph__fail(PH_EDOUBLEFREE);
    e->size |= bit;
  } else {
    uint64_t *bm = ph__small_trailing_bitmap(h, run, cl);
    uint32_t w = (uint32_t)(reg >> 6);
    uint64_t bit = 1ull << (reg & 63);
    if (bm[w] & bit) return ph__fail(PH_EDOUBLEFREE);
    bm[w] |= bit;
    if (w < e->size) e->size = w;
  }
  if (h->flags & PH_ZERO_ON_FREE) memset(ph__base(h) + off, 0, cl->size);
  e->info += 1u << 16; /* nfree++ */
  uint32_t nfree = PH_INFO_NFREE(e->info);
  h->live_count--;
  h->small_count--;
  h->live_bytes -= cl->size;
  h->free_count++;

  ph_bin *bin = &h->bins[c];
  if (run == bin->cur) return 0;
  if (nfree == cl->nregs) { /* empty: it was waiting on the list */
    list_remove(h, bin, run);
    run_release(h, run, cl);
  } else if (nfree == 1) { /* was full: it joins the non-full runs */
    list_push_back(h, bin, run);
  }
  return 0;
}
