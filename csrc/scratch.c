/*
 * scratch.c - frame scratch: a bump allocator over chunks taken from the
 * heap, emptied by ph_heap_reset. The inline part is ph_scratch_alloc in
 * privheap.h; FrameArena (src/frame-arena.ts) has the same inline part in
 * JavaScript, over the same cursor, and calls ph_scratch_refill_with.
 *
 * Owns: the header's scratch cursor and SCRATCH entries. Keeps: a chunk is
 * a page run whose head entry is SCRATCH, not LARGE, so it is no allocation:
 * free, realloc and usable_size of it are PH_EBADPTR, walk skips it, and it
 * is not counted in the large counters. The cursor is empty (0, 0, with no
 * chunk) or lies inside the newest chunk, past its first 16 bytes (so no
 * scratch pointer starts a run); chunks are at most PH_SCRATCH_CHUNK_MAX
 * bytes, so the cursor's chunk is found in a bounded number of map entries.
 * All state is in the region, so snapshots keep it.
 */
#include "internal.h"

#define CHUNK_HEADER 16u /* kept, unused, at the start of each chunk */
#define CHUNK_MAX_PAGES (PH_SCRATCH_CHUNK_MAX >> PH_LG_PAGE)
#define LG_GROWTH_MAX 20u /* first_chunk << 20 is past PH_SCRATCH_CHUNK_MAX for any first_chunk >= 1 */

int ph__scratch_cursor_check(const ph_heap_t *h) {
  uint64_t next = h->scratch_next, end = h->scratch_end;
  if (next == 0 && end == 0 && h->scratch_chunks == 0) return 0;
  uint64_t base = (uint64_t)h->base_pages << PH_LG_PAGE;
  if (h->scratch_chunks == 0 || next > end || (next & 15u) || (end & (PH_PAGE_SIZE - 1)) || end <= base ||
      end > ((uint64_t)h->hwm << PH_LG_PAGE))
    return PH_ECORRUPT;
  /* The chunk's head: the first entry below end that is not a body page
   * (NONE), looked for among at most CHUNK_MAX_PAGES entries. */
  uint32_t last = (uint32_t)(end >> PH_LG_PAGE); /* one past the chunk */
  uint32_t lowest = last - h->base_pages > CHUNK_MAX_PAGES ? last - CHUNK_MAX_PAGES : h->base_pages;
  uint32_t head = last - 1;
  while (head > lowest && ph__kind(ph__page(h, head)) == PH_PK_NONE) head--;
  const ph_page *e = ph__page(h, head);
  if (ph__kind(e) != PH_PK_SCRATCH || (uint64_t)head + e->size != last) return PH_ECORRUPT;
  return next < ((uint64_t)head << PH_LG_PAGE) + CHUNK_HEADER ? PH_ECORRUPT : 0;
}

/* Round up to whole pages. */
static uint64_t page_ceil(uint64_t n) { return (n + PH_PAGE_SIZE - 1) & ~(uint64_t)(PH_PAGE_SIZE - 1); }

/* A new chunk for a request of `need` bytes, which becomes the cursor's:
 * the offset of the request in it, or PH_ENOMEM when the region has no room
 * even for a chunk just big enough (or PH_ECORRUPT). */
static int64_t take_chunk(ph_heap_t *h, uint64_t need, size_t first_chunk) {
  uint32_t n = h->scratch_chunks;
  uint64_t bytes = (uint64_t)first_chunk << (n < LG_GROWTH_MAX ? n : LG_GROWTH_MAX);
  if (bytes > PH_SCRATCH_CHUNK_MAX) bytes = PH_SCRATCH_CHUNK_MAX;
  /* A chunk is a page run: above the small sizes, whole pages. */
  uint64_t least = need + CHUNK_HEADER > PH_SMALL_MAX ? need + CHUNK_HEADER : PH_SMALL_MAX + 1u;
  least = page_ceil(least);
  bytes = bytes > least ? page_ceil(bytes) : least;
  int64_t got = ph__off_malloc(h, (size_t)bytes);
  if (got == PH_ENOMEM && bytes > least) got = ph__off_malloc(h, (size_t)least); /* the region is nearly full */
  if (got < 0) return got;
  uint64_t off = (uint64_t)got;
  /* From a large allocation to a chunk: marked, and out of the large counters. */
  ph_page *e = ph__page(h, (uint32_t)(off >> PH_LG_PAGE));
  e->info = PH_INFO(PH_PK_SCRATCH, 0, 0, 0);
  h->large_count--;
  h->large_pages -= e->size;
  h->scratch_chunks = n + 1;
  h->scratch_next = off + CHUNK_HEADER + need;
  h->scratch_end = off + ((uint64_t)e->size << PH_LG_PAGE);
  return (int64_t)(off + CHUNK_HEADER);
}

/* Scratch of `need` bytes (a multiple of 16) for a request of `size`: an
 * offset, or a negative PH_E* code. */
static int64_t scratch_alloc(ph_heap_t *h, size_t size, uint64_t need, size_t first_chunk, size_t big) {
  /* Room under the cursor (a damaged next > end wraps to room too): used
   * only once the cursor is shown to lie in its chunk. */
  if (need <= h->scratch_end - h->scratch_next) {
    int err = ph__scratch_cursor_check(h);
    if (err) return err;
    uint64_t off = h->scratch_next;
    h->scratch_next = off + need;
    return (int64_t)off;
  }
  if (size > big) return ph__off_aligned(h, 16, (size_t)need); /* its own allocation, freed by reset or ph_heap_free */
  _Static_assert(PH_SCRATCH_BIG <= PH_SCRATCH_CHUNK_MAX - CHUNK_HEADER, "a request up to big fits a chunk");
  return take_chunk(h, need, first_chunk);
}

void *ph_scratch_refill_with(ph_heap_t *h, size_t size, size_t first_chunk, size_t big) {
  if (!h || first_chunk == 0 || first_chunk > PH_SCRATCH_CHUNK_MAX || big > PH_SCRATCH_CHUNK_MAX - CHUNK_HEADER)
    return ph__fail_null(PH_EINVAL);
  if (size > SIZE_MAX - 15u) return ph__fail_null(PH_ENOMEM);
  uint64_t need = size ? ((uint64_t)size + 15u) & ~(uint64_t)15u : 16u;
  int64_t r = scratch_alloc(h, size, need, first_chunk, big);
  return r < 0 ? ph__fail_null((int)r) : ph__base(h) + r;
}

void *ph_scratch_refill(ph_heap_t *h, size_t size) {
  return ph_scratch_refill_with(h, size, PH_SCRATCH_CHUNK, PH_SCRATCH_BIG);
}
