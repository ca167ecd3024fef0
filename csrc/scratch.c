/*
 * scratch.c - frame scratch: a bump allocator over chunks taken from the
 * heap, emptied by ph_heap_reset (the inline part is ph_scratch_alloc in
 * privheap.h).
 *
 * Owns: the header's scratch cursor and SCRATCH entries. Keeps: a chunk is
 * a page run whose head entry is SCRATCH, not LARGE, so it is no allocation:
 * free, realloc and usable_size of it are PH_EBADPTR, walk skips it, and it
 * is not counted in the large counters. The cursor is empty (0, 0, with no
 * chunk) or lies inside the newest chunk, whose size follows from
 * scratch_chunks (chunk_bytes), so attach can bound it in O(1). A chunk's
 * first 16 bytes are never handed out (no scratch pointer starts a run).
 * All state is in the region, so snapshots keep it.
 */
#include "internal.h"

#define CHUNK_GROWTH_MAX 4u /* chunks double up to 16 x PH_SCRATCH_CHUNK */
#define CHUNK_HEADER 16u   /* kept, unused, at the start of each chunk */

uint64_t ph__scratch_chunk_bytes(uint32_t nth) {
  uint32_t growth = nth < CHUNK_GROWTH_MAX ? nth : CHUNK_GROWTH_MAX;
  return (uint64_t)PH_SCRATCH_CHUNK << growth;
}

void *ph_scratch_refill(ph_heap_t *h, size_t size) {
  if (!h) return ph__fail_null(PH_EINVAL);
  if (size > SIZE_MAX - 15u) return ph__fail_null(PH_ENOMEM);
  uint64_t need = size ? ((uint64_t)size + 15u) & ~(uint64_t)15u : 16u;
  uint64_t chunk = ph__scratch_chunk_bytes(h->scratch_chunks);
  if (need > chunk / 4) { /* big: an allocation of its own, freed by reset or by ph_heap_free */
    uint64_t off = ph__aligned(h, 16, (size_t)need);
    return off ? ph__base(h) + off : NULL;
  }
  _Static_assert(PH_SCRATCH_CHUNK > PH_SMALL_MAX, "a chunk is a page run");
  uint64_t off = ph__malloc(h, (size_t)chunk);
  if (off == 0) return NULL; /* ENOMEM recorded */
  /* From a large allocation to a chunk: marked, and out of the large counters. */
  ph_page *e = ph__page(h, (uint32_t)(off >> PH_LG_PAGE));
  e->info = PH_INFO(PH_PK_SCRATCH, 0, 0, 0);
  h->large_count--;
  h->large_pages -= e->size;
  h->scratch_chunks++;
  h->scratch_next = off + CHUNK_HEADER + need;
  h->scratch_end = off + chunk;
  return ph__base(h) + off + CHUNK_HEADER;
}
