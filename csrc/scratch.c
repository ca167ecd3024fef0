/*
 * scratch.c - frame scratch: a bump allocator over chunks taken from the
 * heap, emptied by ph_heap_reset (the inline part is ph_scratch_alloc in
 * privheap.h).
 *
 * Owns: the header's scratch cursor. Keeps: the cursor is empty (0, 0) or
 * lies inside the newest chunk, a live large allocation; a chunk's first 16
 * bytes are never handed out, so no scratch pointer is the start of an
 * allocation and ph_heap_free rejects it instead of freeing the chunk under
 * the cursor. All state is offsets in the header, so snapshots keep it.
 */
#include "internal.h"

#define CHUNK_GROWTH_MAX 4u /* chunks double up to 16 x PH_SCRATCH_CHUNK */
#define CHUNK_HEADER 16u   /* kept, unused, at the start of each chunk */

void *ph_scratch_refill(ph_heap_t *h, size_t size) {
  if (!h) return ph__fail_null(PH_EINVAL);
  if (size > SIZE_MAX - 15u) return ph__fail_null(PH_ENOMEM);
  uint64_t need = size ? ((uint64_t)size + 15u) & ~(uint64_t)15u : 16u;
  uint32_t growth = h->scratch_chunks < CHUNK_GROWTH_MAX ? h->scratch_chunks : CHUNK_GROWTH_MAX;
  uint64_t chunk = (uint64_t)PH_SCRATCH_CHUNK << growth;
  if (need > chunk / 4) { /* big: an allocation of its own, freed by reset or by ph_heap_free */
    uint64_t off = ph__aligned(h, 16, (size_t)need);
    return off ? ph__base(h) + off : NULL;
  }
  uint64_t off = ph__malloc(h, (size_t)chunk);
  if (off == 0) return NULL; /* ENOMEM recorded */
  h->scratch_chunks++;
  h->scratch_next = off + CHUNK_HEADER + need;
  h->scratch_end = off + chunk;
  return ph__base(h) + off + CHUNK_HEADER;
}
