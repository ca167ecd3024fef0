/*
 * heap.c - the header: formatting a region, attaching to one, O(1) reset,
 * sizes, counters and named roots.
 *
 * Keeps: init writes the magic last, so a region whose init was interrupted
 * is never mistaken for a heap; reset rewrites a constant number of header
 * bytes and never walks pages, whatever the heap holds.
 */
#include "internal.h"

/* log2 of pages per leaf: the smallest that lets the directory index npages. */
static uint32_t lg_chunk_for(uint64_t npages) {
  uint32_t lg = PH_LG_CHUNK_MIN;
  while (((uint64_t)PH_DIR_CAP << lg) < npages) lg++;
  return lg;
}

size_t ph_heap_min_size(void) { return (size_t)PH_MIN_PAGES * PH_PAGE_SIZE; }

size_t ph_heap_overhead(size_t size) {
  uint64_t npages = (uint64_t)size >> PH_LG_PAGE;
  return (size_t)(PH_HEADER_PAGES + ph__leaf_pages(lg_chunk_for(npages))) * PH_PAGE_SIZE;
}

size_t ph_heap_max_alloc(size_t size) {
  uint64_t npages = (uint64_t)size >> PH_LG_PAGE;
  if (npages < PH_MIN_PAGES || npages > PH_MAX_PAGES) return 0;
  uint32_t lg = lg_chunk_for(npages);
  uint64_t leaves = (npages + (1u << lg) - 1) >> lg;
  uint64_t meta = PH_HEADER_PAGES + leaves * ph__leaf_pages(lg);
  return meta < npages ? (size_t)((npages - meta) << PH_LG_PAGE) : 0;
}

ph_heap_t *ph_heap_init(void *base, size_t size, unsigned flags) {
  if (!base || ((uintptr_t)base & (PH_PAGE_SIZE - 1)) != 0) return ph__fail_null(PH_EINVAL);
  if (flags & ~(unsigned)(PH_ZERO_ON_FREE | PH_REGION_ZEROED | PH_LOCKED | PH_PURGE | PH_PURGE_NOW | PH_ZERO_REENTRY)) return ph__fail_null(PH_EINVAL);
  if ((flags & PH_PURGE) && (flags & PH_PURGE_NOW)) return ph__fail_null(PH_EINVAL);
  if ((flags & PH_LOCKED) && !ph__lock_supported()) return ph__fail_null(PH_EINVAL);
  uint64_t npages = (uint64_t)size >> PH_LG_PAGE;
  if (npages < PH_MIN_PAGES || npages > PH_MAX_PAGES) return ph__fail_null(PH_ESIZE);
  uint32_t lg = lg_chunk_for(npages);
  if (lg > PH_LG_CHUNK_MAX) return ph__fail_null(PH_ESIZE);
  uint32_t leaf = ph__leaf_pages(lg);
  if (npages < PH_HEADER_PAGES + leaf + 1u) return ph__fail_null(PH_ESIZE);

  ph_heap_t *h = (ph_heap_t *)base;
  memset(base, 0, (size_t)(PH_HEADER_PAGES + leaf) << PH_LG_PAGE);
  h->abi = PH_ABI_VERSION;
  h->page_size = PH_PAGE_SIZE;
  h->header_pages = PH_HEADER_PAGES;
  h->lg_chunk = lg;
  h->flags = flags & (PH_ZERO_ON_FREE | PH_ZERO_REENTRY);
  h->lock_enabled = (flags & PH_LOCKED) ? 1u : 0u;
  ph__set_purge(h, flags & (PH_PURGE | PH_PURGE_NOW));
  h->npages = (uint32_t)npages;
  h->region_size = size;
  h->generation = 1;
  /* Unless the caller vouches that the region reads as zero, treat it all as touched. */
  h->touched = (flags & PH_REGION_ZEROED) ? 0 : (uint32_t)npages;
  ph__pages_format(h);
  __atomic_store_n(&h->magic, PH_MAGIC, __ATOMIC_RELEASE);
  return h;
}

void ph__adopt_size(ph_heap_t *h, size_t size) {
  uint64_t npages = (uint64_t)size >> PH_LG_PAGE;
  uint64_t cap = (uint64_t)PH_DIR_CAP << h->lg_chunk;
  if (npages > cap) npages = cap;
  if (npages > PH_MAX_PAGES) npages = PH_MAX_PAGES;
  if (npages > h->npages) { /* a larger region: the extra pages become free space */
    h->npages = (uint32_t)npages;
    h->region_size = size;
  }
}

int ph_heap_grow(ph_heap_t *h, size_t size) {
  if (!h) return ph__fail(PH_EINVAL);
  if (h->lock_enabled) return ph__fail(PH_EINVAL); /* others map a locked heap at its size */
  uint64_t npages = (uint64_t)size >> PH_LG_PAGE;
  uint64_t cap = (uint64_t)PH_DIR_CAP << h->lg_chunk;
  if (npages < h->npages || npages > cap || npages > PH_MAX_PAGES) return ph__fail(PH_ESIZE);
  ph__adopt_size(h, size);
  return 0;
}

/* The header fields that never change after init, and the page count the
 * lock's takeover check trusts: enough to find and take a shared lock. */
static int check_lockable(const ph_heap_t *h, size_t size) {
  if (size < sizeof(struct ph_heap) || h->magic != PH_MAGIC) return PH_ECORRUPT;
  if (h->abi != PH_ABI_VERSION) return PH_EVERSION;
  if (h->lock_enabled > 1) return PH_ECORRUPT;
  uint32_t npages = __atomic_load_n(&h->npages, __ATOMIC_RELAXED);
  return npages > (uint64_t)size >> PH_LG_PAGE ? PH_ESIZE : 0;
}

ph_heap_t *ph_heap_attach(void *base, size_t size) {
  if (!base || ((uintptr_t)base & (PH_PAGE_SIZE - 1)) != 0) return ph__fail_null(PH_EINVAL);
  ph_heap_t *h = (ph_heap_t *)base;
  int err = check_lockable(h, size);
  if (err) return ph__fail_null(err);
  /* Others may be changing a locked heap: validate and adopt it under its lock. */
  bool locked = h->lock_enabled && ph__lock_supported();
  if (locked) { /* bounded: the word may name a live thread that never releases it */
    err = ph_heap_lock_timeout(h, PH_ATTACH_WAIT_MS);
    if (err < 0 && err != PH_ECORRUPT) return ph__fail_null(err);
  }
  /* A heap a takeover found broken attaches too: its locks refuse it until a restore or reset. */
  err = ph__check_header(h, size);
  /* A mapping shorter than the heap it holds would let it allocate past the end. */
  if (err == 0 && ((uint64_t)size >> PH_LG_PAGE) < h->npages) err = PH_ESIZE;
  if (err == 0) {
    /* The size stays the header's, whatever `size` is: other processes may
     * map this heap at that size (ph_heap_grow is the explicit way up). */
    /* What the mapping holds above hwm is unknown here: treat it as touched. */
    if (h->touched != h->npages) h->touched = h->npages;
    /* Nor does it know what memory this is (a file's pages read back the
     * file): nothing is given back until the caller says so. */
    if (h->purge_mode != PH__PURGE_OFF) h->purge_mode = PH__PURGE_OFF;
  }
  if (locked) ph_heap_unlock(h);
  return err ? ph__fail_null(err) : h;
}

int ph_heap_reset(ph_heap_t *h) {
  if (!h) return ph__fail(PH_EINVAL);
  memset(h->bins, 0, sizeof h->bins);
  h->roots_used = 0; /* the names stay, unreadable: reset touches one word, not 32 slots */
  h->large_count = h->large_pages = h->small_run_pages = h->free_count = 0;
  h->scratch_next = h->scratch_end = 0;
  h->scratch_chunks = 0;
  h->generation++;
  ph__lock_forget_verdict(h); /* a new, empty heap */
  ph__pages_format(h); /* hwm back to the first leaf; the leaves above it are forgotten */
  h->dirty_head = h->dirty_pages = 0; /* the pages below touched count as dirty, given back at a later free */
  ph__purge_age(h)->old_listed = ph__purge_age(h)->old_top = 0; /* and young: in use until now */
  return 0;
}

/* Getters given a NULL heap fail like every other call: 0, with PH_EINVAL
 * recorded. */
static bool null_heap(const ph_heap_t *h) {
  if (h) return false;
  ph__fail(PH_EINVAL);
  return true;
}

size_t ph_heap_used_bytes(const ph_heap_t *h) { return null_heap(h) ? 0 : (size_t)h->hwm << PH_LG_PAGE; }

uint64_t ph_heap_generation(const ph_heap_t *h) { return null_heap(h) ? 0 : h->generation; }

unsigned ph_heap_flags(const ph_heap_t *h) {
  return null_heap(h) ? 0 : h->flags | (h->lock_enabled ? PH_LOCKED : 0u) | ph__purge_flags(h);
}

/* O(size classes): small counts are kept per bin, off the header's hot lines. */
int ph_heap_stats(const ph_heap_t *h, ph_stats_t *out) {
  if (!h || !out) return ph__fail(PH_EINVAL);
  out->region_bytes = (uint64_t)h->npages << PH_LG_PAGE;
  out->used_bytes = (uint64_t)h->hwm << PH_LG_PAGE;
  out->touched_bytes = (uint64_t)h->touched << PH_LG_PAGE;
  out->meta_bytes = h->meta_pages << PH_LG_PAGE;
  uint64_t small = 0, small_bytes = 0;
  for (unsigned c = 0; c < PH_NCLASSES; c++) {
    small += h->bins[c].live;
    small_bytes += (uint64_t)h->bins[c].live * ph__classes[c].size;
  }
  out->live_bytes = small_bytes + (h->large_pages << PH_LG_PAGE);
  out->live_count = small + h->large_count;
  out->small_count = small;
  out->large_count = h->large_count;
  out->small_run_bytes = h->small_run_pages << PH_LG_PAGE;
  out->free_bytes = h->free_pages << PH_LG_PAGE;
  out->free_runs = h->free_runs;
  out->generation = h->generation;
  out->malloc_count = out->live_count + h->free_count;
  out->free_count = h->free_count;
  out->dirty_bytes = ((uint64_t)h->dirty_pages + (h->touched - h->hwm)) << PH_LG_PAGE;
  return 0;
}

/* ---- named roots -------------------------------------------------------- */

/* Length of a valid root name (1..PH_ROOT_NAME_MAX), or 0. */
static size_t name_len(const char *name) {
  if (!name) return 0;
  size_t n = 0;
  while (n <= PH_ROOT_NAME_MAX && name[n]) n++;
  return n <= PH_ROOT_NAME_MAX ? n : 0;
}

static inline bool root_in_use(const ph_heap_t *h, unsigned i) { return (h->roots_used >> i) & 1u; }

static int find_root(const ph_heap_t *h, const char *name, size_t len) {
  for (unsigned i = 0; i < PH_ROOT_COUNT; i++)
    if (root_in_use(h, i) && memcmp(h->roots[i].name, name, len) == 0 && h->roots[i].name[len] == 0) return (int)i;
  return -1;
}

int ph_heap_set_root(ph_heap_t *h, const char *name, uint64_t off) {
  size_t len = name_len(name);
  if (!h || len == 0) return ph__fail(PH_EINVAL);
  if (off >= ((uint64_t)h->npages << PH_LG_PAGE)) return ph__fail(PH_EINVAL);
  int i = find_root(h, name, len);
  if (off == 0) {
    if (i >= 0) {
      memset(&h->roots[i], 0, sizeof h->roots[i]);
      h->roots_used &= ~(1u << i);
    }
    return 0;
  }
  if (i < 0) {
    if (h->roots_used == 0xFFFFFFFFu) return ph__fail(PH_ENOSPC);
    i = __builtin_ctz(~h->roots_used); /* the lowest free slot */
    memset(h->roots[i].name, 0, sizeof h->roots[i].name);
    memcpy(h->roots[i].name, name, len);
    h->roots_used |= 1u << i;
  }
  h->roots[i].off = off;
  return 0;
}

int ph__get_root(const ph_heap_t *h, const char *name, uint64_t *off) {
  size_t len = name_len(name);
  if (!h || len == 0) return PH_EINVAL;
  int i = find_root(h, name, len);
  *off = i < 0 ? 0 : h->roots[i].off;
  return 0;
}

uint64_t ph_heap_get_root(const ph_heap_t *h, const char *name) {
  uint64_t off;
  int err = ph__get_root(h, name, &off);
  if (err) {
    ph__fail(err);
    return 0;
  }
  return off;
}

uint64_t ph_heap_root_at(const ph_heap_t *h, unsigned i, char *buf) {
  if (!h || i >= PH_ROOT_COUNT) {
    ph__fail(PH_EINVAL);
    return 0;
  }
  bool used = root_in_use(h, i);
  if (buf) {
    if (used) memcpy(buf, h->roots[i].name, PH_ROOT_NAME_MAX + 1);
    else memset(buf, 0, PH_ROOT_NAME_MAX + 1);
    buf[PH_ROOT_NAME_MAX] = 0;
  }
  return used ? h->roots[i].off : 0;
}
