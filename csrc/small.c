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
 * Frees into other runs go first onto the bin's stack of recent regions
 * (internal.h says what they are), which the bin's next allocations that
 * cur's fresh part cannot serve take, newest first; only when the stack is
 * empty does a bin search cur's bitmap or take a run from its list. A free
 * that finds the stack full counts in its run as above.
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

/* ---- recent regions ---- */

static inline unsigned recent_count(const ph_heap_t *h, unsigned c) {
  const ph_recent *r = ph__recent(h);
  return r->generation == h->generation ? r->count[c] : 0;
}

/* The run holding the region at off (a slot's, so untrusted) when off is a
 * region start of a run of class c in the heap, other than cur, whose
 * bitmap says free, with the region's index in *reg and the byte offset of
 * the run's head entry in *head_at; else 0. */
static inline __attribute__((always_inline)) uint32_t recent_locate(const ph_heap_t *h, unsigned c, uint64_t off,
                                                                    uint32_t *reg, uint64_t *head_at) {
  uint64_t p = off >> PH_LG_PAGE;
  if (PH_UNLIKELY(!ph__in_heap(h, p))) return 0;
  const ph_class *cl = &ph__classes[c];
  uint32_t run = (uint32_t)p;
  uint64_t at = ph__page_at(h, run);
  const ph_page *e = (const ph_page *)(ph__base(h) + at);
  if (cl->run_pages > 1 && ph__kind(e) == PH_PK_SMALL_BODY) {
    if (e->size > p - h->base_pages) return 0;
    run -= e->size;
    at = ph__page_at(h, run);
    e = (const ph_page *)(ph__base(h) + at);
  }
  /* the head of a run of class c (kind and class in one compare) that ends below hwm, holds recent regions */
  uint32_t info = e->info;
  if (PH_UNLIKELY((info & 0xFE07u) != PH_INFO(PH_PK_SMALL, 0, c, 0) || PH_INFO_RECENT(info) == 0 ||
                  run + cl->run_pages > h->hwm || run == h->bins[c].cur))
    return 0;
  uint64_t diff = off - ((uint64_t)run << PH_LG_PAGE);
  uint64_t i = (diff * cl->div_magic) >> 32;
  if (PH_UNLIKELY(i * cl->size != diff || i >= cl->nregs)) return 0;
  bool free_bit = cl->bm_words == 0 ? (e->size >> i) & 1u
                                    : (ph__small_trailing_bitmap(h, run, cl)[i >> 6] >> (i & 63)) & 1u;
  if (PH_UNLIKELY(!free_bit)) return 0;
  *reg = (uint32_t)i;
  *head_at = at;
  return run;
}

unsigned ph__small_recent_count(const ph_heap_t *h, unsigned c) { return recent_count(h, c); }

uint32_t ph__small_recent_run(const ph_heap_t *h, unsigned c, unsigned i) {
  uint32_t reg;
  uint64_t head_at;
  return recent_locate(h, c, (uint64_t)ph__recent(h)->slot[c][i] << 3, &reg, &head_at);
}

/* cur has no region left (none freed, none fresh) and the stack is empty,
 * so no run holds a recent region: take a run from the list or a new one,
 * then allocate from it as from any cur. */
__attribute__((noinline)) static int64_t alloc_after_refill(ph_heap_t *h, unsigned c) {
  int err = refill(h, c);
  return err ? err : ph__small_alloc(h, c); /* a listed run has freed regions, a new one fresh ones */
}

/* The newest region of bin c's recent stack, which holds n, validated
 * (its slot may be damaged). */
__attribute__((noinline)) static int64_t alloc_recent(ph_heap_t *h, unsigned c, unsigned n) {
  ph_recent *r = ph__recent(h);
  if (PH_UNLIKELY(n > PH_RECENT_CAP)) return PH_ECORRUPT;
  uint64_t off = (uint64_t)r->slot[c][n - 1] << 3, head_at;
  uint32_t reg, run = recent_locate(h, c, off, &reg, &head_at);
  if (PH_UNLIKELY(!run)) return PH_ECORRUPT;
  const ph_class *cl = &ph__classes[c];
  ph_page *e = (ph_page *)(ph__base(h) + head_at);
  if (cl->bm_words == 0) e->size &= ~(1u << reg);
  else ph__small_trailing_bitmap(h, run, cl)[reg >> 6] &= ~(1ull << (reg & 63)); /* the hint stays right */
  e->info -= PH_INFO_RECENT_ONE;
  r->count[c] = (uint8_t)(n - 1);
  h->bins[c].live++;
  return (int64_t)off;
}

/* Every call but the common one, a region freed back into cur, leaves
 * through a tail call, so that one saves no registers. */
int64_t ph__small_alloc_slow(ph_heap_t *h, unsigned c) {
  unsigned n = recent_count(h, c);
  if (n) return alloc_recent(h, c, n);
  ph_bin *bin = &h->bins[c];
  if (!bin->freed) return alloc_after_refill(h, c); /* then nothing is fresh either: ph__small_alloc bumps */
  const ph_class *cl = &ph__classes[c];
  long reg = take_freed(h, bin->cur, ph__page(h, bin->cur), cl);
  if (PH_UNLIKELY(reg < 0)) return PH_ECORRUPT;
  bin->freed--;
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

/* A run other than cur gains a free region in its count. */
static int run_gains_free(ph_heap_t *h, ph_bin *bin, uint32_t run, ph_page *e, const ph_class *cl) {
  e->info += 1u << 16; /* nfree++ */
  uint32_t nfree = PH_INFO_NFREE(e->info);
  if (PH_UNLIKELY(nfree == cl->nregs || nfree == 1)) return run_changed_state(h, bin, run, cl, nfree);
  return 0;
}

/* The free of the region at off in the current run of bin (class cl),
 * whose head entry e is a small head of that class: cur is bounded by the
 * header check, so only the offset and the bit are validated here. 0,
 * PH_EBADPTR or PH_EDOUBLEFREE, or what the fall returns. A program whose
 * live set fits one run per bin frees here (bigrho under the shim); zero
 * is the heap's zero mode, a constant at each call. */
static inline __attribute__((always_inline)) int free_in_cur(ph_heap_t *h, ph_bin *bin, const ph_class *cl,
                                                             ph_page *e, uint64_t off, bool zero) {
  uint64_t diff = off - ((uint64_t)bin->cur << PH_LG_PAGE);
  uint64_t reg = (diff * cl->div_magic) >> 32;
  uint32_t first_fresh = cl->nregs - bin->fresh;
  if (PH_UNLIKELY(reg * cl->size != diff || reg >= first_fresh)) /* a fresh region was never handed out */
    return reg * cl->size != diff || reg >= cl->nregs ? PH_EBADPTR : PH_EDOUBLEFREE;
  bool newest = reg + 1 == first_fresh;
  if (cl->bm_words == 0) {
    uint32_t bit = 1u << reg;
    if (e->size & bit) return PH_EDOUBLEFREE;
    if (!newest) e->size |= bit;
  } else {
    uint64_t *bm = ph__small_trailing_bitmap(h, bin->cur, cl);
    uint32_t w = (uint32_t)reg >> 6;
    uint64_t bit = 1ull << (reg & 63);
    if (bm[w] & bit) return PH_EDOUBLEFREE;
    if (!newest) {
      bm[w] |= bit;
      if (w < e->size) e->size = w; /* the lowest word that may have a free bit */
    }
  }
  if (zero) memset(ph__base(h) + off, 0, cl->size);
  bin->live--;
  h->free_count++;
  if (newest) bin->fresh++; /* un-bump: it becomes fresh again, its bit stays 0 */
  else bin->freed++;
  /* An empty cur may be what holds hwm up above free space. */
  if (PH_UNLIKELY((uint32_t)bin->fresh + bin->freed == cl->nregs)) return ph__pages_fall(h);
  return 0;
}

int ph__small_free_in_cur(ph_heap_t *h, unsigned c, ph_page *e, uint64_t off) {
  return free_in_cur(h, &h->bins[c], &ph__classes[c], e, off, false);
}

/* Mark region reg of run free in its bitmap (its bit is 0). */
static inline void set_free_bit(ph_heap_t *h, ph_page *e, uint32_t run, const ph_class *cl, uint32_t reg) {
  if (cl->bm_words == 0) {
    e->size |= 1u << reg;
  } else {
    uint32_t w = reg >> 6;
    ph__small_trailing_bitmap(h, run, cl)[w] |= 1ull << (reg & 63);
    if (w < e->size) e->size = w; /* the lowest word that may have a free bit */
  }
}

/* The free of live region reg of a run other than cur when it is the
 * run's last live one (its recent regions leave the stack, and the run goes
 * back to the pages), or the stacks belong to another generation: the
 * first free since a reset, or any free in zero mode, whose stacks stay
 * empty (there a free clears the region, and the one after a reset would
 * be kept waiting on a stack). */
__attribute__((noinline)) static int free_elsewhere_slow(ph_heap_t *h, unsigned c, uint32_t run, ph_page *e,
                                                         uint64_t off, uint32_t reg) {
  ph_bin *bin = &h->bins[c];
  const ph_class *cl = &ph__classes[c];
  ph_recent *r = ph__recent(h);
  unsigned n = recent_count(h, c), recent = PH_INFO_RECENT(e->info);
  uint32_t nfree = PH_INFO_NFREE(e->info);
  if (n > PH_RECENT_CAP || nfree + recent + 1 > cl->nregs) return PH_ECORRUPT; /* more free regions than the run has */
  /* The run's slots, found before anything is written. */
  uint32_t *slot = r->slot[c];
  uint64_t lo = (uint64_t)run << (PH_LG_PAGE - 3), hi = lo + ((uint64_t)cl->run_pages << (PH_LG_PAGE - 3));
  unsigned in_run = 0;
  for (unsigned i = 0; i < n; i++) in_run += slot[i] >= lo && slot[i] < hi;
  if (in_run != recent) return PH_ECORRUPT;
  set_free_bit(h, e, run, cl, reg);
  if (h->flags & PH_ZERO_ON_FREE) memset(ph__base(h) + off, 0, cl->size);
  bin->live--;
  h->free_count++;
  if (r->generation != h->generation && !(h->flags & PH_ZERO_ON_FREE)) { /* the first free since a reset */
    memset(r->count, 0, sizeof r->count); /* the old slots mean nothing */
    r->generation = h->generation;
  }
  if (nfree + recent + 1 == cl->nregs) { /* the run empties */
    unsigned kept = 0;
    for (unsigned i = 0; i < n; i++)
      if (slot[i] < lo || slot[i] >= hi) slot[kept++] = slot[i];
    r->count[c] = (uint8_t)kept;
    if (nfree > 0 && !ph__list_unlink(h, &bin->head, &bin->tail, run)) return PH_ECORRUPT; /* it was listed */
    return run_release(h, run, cl);
  }
  n = r->count[c];
  if (r->generation == h->generation && off < PH_RECENT_LIMIT && n < PH_RECENT_CAP) { /* never in zero mode */
    slot[n] = (uint32_t)(off >> 3);
    r->count[c] = (uint8_t)(n + 1);
    e->info += PH_INFO_RECENT_ONE;
    return 0;
  }
  return run_gains_free(h, bin, run, e, cl);
}

/* Every free that ph__small_free_elsewhere's common case leaves. */
__attribute__((noinline)) static int free_elsewhere_general(ph_heap_t *h, unsigned c, uint32_t run, ph_page *e,
                                                            uint64_t off) {
  const ph_class *cl = &ph__classes[c];
  /* Only in zero mode: callers send every other free into cur to ph__small_free_in_cur. */
  if (run == h->bins[c].cur) return free_in_cur(h, &h->bins[c], cl, e, off, true);
  uint32_t info = e->info, nregs = cl->nregs;
  /* A page-run class has nregs 0: every offset is EBADPTR below. */
  if (PH_UNLIKELY(run + cl->run_pages > h->hwm)) return PH_ECORRUPT;
  uint64_t diff = off - ((uint64_t)run << PH_LG_PAGE);
  uint64_t reg = (diff * cl->div_magic) >> 32;
  if (PH_UNLIKELY(reg * cl->size != diff || reg >= nregs)) return PH_EBADPTR;
  if (bit_is_set(h, e, run, cl, (long)reg)) return PH_EDOUBLEFREE; /* the bit of a live region is 0 */
  /* Unless this is the run's last live region: onto the recent stack, or
   * when it is full, into the run's count. */
  ph_recent *r = ph__recent(h);
  unsigned n = r->count[c];
  if (PH_UNLIKELY(PH_INFO_NFREE(info) + PH_INFO_RECENT(info) + 1 >= nregs || r->generation != h->generation))
    return free_elsewhere_slow(h, c, run, e, off, (uint32_t)reg);
  set_free_bit(h, e, run, cl, (uint32_t)reg);
  h->bins[c].live--;
  h->free_count++;
  if (PH_LIKELY(n < PH_RECENT_CAP && off < PH_RECENT_LIMIT)) {
    r->slot[c][n] = (uint32_t)(off >> 3);
    r->count[c] = (uint8_t)(n + 1);
    e->info += PH_INFO_RECENT_ONE;
    return 0;
  }
  return run_gains_free(h, &h->bins[c], run, e, cl);
}

/* The common case has its own short path, with no call but a tail call:
 * a run inside the heap that keeps a live region after this free, and a
 * stack of this generation (churn: about 30 fewer instructions a free than
 * the general path). The rest goes to the general path, which checks
 * in the same order, so each damage gets the same code either way. */
int ph__small_free_elsewhere(ph_heap_t *h, unsigned c, uint32_t run, ph_page *e, uint64_t off) {
  const ph_class *cl = &ph__classes[c];
  ph_recent *r = ph__recent(h);
  uint32_t info = e->info;
  unsigned n = r->count[c];
  /* Zero mode never gets past the generation (its stacks stay of another one). */
  if (PH_UNLIKELY(run == h->bins[c].cur || run + cl->run_pages > h->hwm || r->generation != h->generation ||
                  PH_INFO_NFREE(info) + PH_INFO_RECENT(info) + 1 >= cl->nregs))
    return free_elsewhere_general(h, c, run, e, off);
  uint64_t diff = off - ((uint64_t)run << PH_LG_PAGE);
  uint64_t reg = (diff * cl->div_magic) >> 32;
  if (PH_UNLIKELY(reg * cl->size != diff || reg >= cl->nregs)) return PH_EBADPTR;
  if (cl->bm_words == 0) {
    uint32_t bit = 1u << reg;
    if (e->size & bit) return PH_EDOUBLEFREE; /* the bit of a live region is 0 */
    e->size |= bit;
  } else {
    uint64_t *word = ph__small_trailing_bitmap(h, run, cl) + (reg >> 6), bit = 1ull << (reg & 63);
    if (*word & bit) return PH_EDOUBLEFREE;
    *word |= bit;
    if (reg >> 6 < e->size) e->size = (uint32_t)(reg >> 6); /* the lowest word that may have a free bit */
  }
  h->bins[c].live--;
  h->free_count++;
  if (PH_LIKELY(n < PH_RECENT_CAP && off < PH_RECENT_LIMIT)) {
    r->slot[c][n] = (uint32_t)(off >> 3);
    r->count[c] = (uint8_t)(n + 1);
    e->info = info + PH_INFO_RECENT_ONE;
    return 0;
  }
  return run_gains_free(h, &h->bins[c], run, e, cl); /* a full stack: into the run's count */
}

int ph__small_free(ph_heap_t *h, uint32_t run, ph_page *e, uint64_t off) {
  uint32_t info = e->info;
  unsigned c = PH_INFO_CLASS(info);
  /* The entry is untrusted: a small head of a real class. */
  if (PH_UNLIKELY(PH_INFO_KIND(info) != PH_PK_SMALL || c >= PH_NCLASSES)) return PH_ECORRUPT;
  ph_bin *bin = &h->bins[c];
  if (run == bin->cur && !(h->flags & PH_ZERO_ON_FREE)) return free_in_cur(h, bin, &ph__classes[c], e, off, false);
  return ph__small_free_elsewhere(h, c, run, e, off);
}
