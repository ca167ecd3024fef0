/*
 * image.c - memory for snapshot images: bytes written whole right after
 * they are made (a copy of a heap's used prefix, a file read into them, a
 * delta rebuilt over its base).
 *
 * Owns: the pool of image mappings given back and kept for reuse, and the
 * counts of image bytes held and pooled. New memory costs the system a
 * fault and a clear per page on its first write; where memory given back
 * is handed to a hypervisor at once (free page reporting), it costs the
 * hypervisor's faults on top, several times the copy into it. So a
 * mapping given back waits in the pool, marked idle (the system may take
 * its pages while memory is short), and an image of the same bulk length
 * reuses it without a fault. The pool is bounded (POOL_SLOTS mappings,
 * POOL_MAX_BYTES) and holds the mappings given back last (the oldest make
 * room); a request it cannot serve gives back its oldest mapping too, so
 * lengths no longer asked for drain away. The pages come from
 * prim.h's bulk memory (huge pages where the system gives them on request).
 *
 * Process-wide (images belong to no heap) and thread-safe: ph_image_free
 * may run on a garbage collector's thread. The pool's lock is held only to
 * move entries, never across a system call.
 */
#include "prim.h"

#define POOL_SLOTS 16
#define POOL_MAX_BYTES ((uint64_t)1 << 30)

typedef struct {
  void *base; /* NULL: a free slot */
  size_t len; /* the bulk length of the mapping */
  uint64_t seq; /* when it entered the pool: the oldest goes first */
} pooled;

static pooled pool[POOL_SLOTS];
static uint64_t pool_seq;
static uint64_t pool_bytes;
static uint64_t live_bytes; /* atomic: read without the lock */
static bool pool_locked;

static void lock_pool(void) {
  while (__atomic_exchange_n(&pool_locked, true, __ATOMIC_ACQUIRE)) ph__prim_yield();
}

static void unlock_pool(void) { __atomic_store_n(&pool_locked, false, __ATOMIC_RELEASE); }

/* Under the lock: take slot i's mapping out of the pool. */
static void *take_slot(int i) {
  void *p = pool[i].base;
  pool[i].base = NULL;
  __atomic_fetch_sub(&pool_bytes, (uint64_t)pool[i].len, __ATOMIC_RELAXED);
  return p;
}

/* Under the lock: the slot of the oldest pooled mapping, or -1. */
static int oldest_slot(void) {
  int oldest = -1;
  for (int i = 0; i < POOL_SLOTS; i++)
    if (pool[i].base && (oldest < 0 || pool[i].seq < pool[oldest].seq)) oldest = i;
  return oldest;
}

/* A pooled mapping of length `len`, or NULL; on a miss the oldest pooled
 * mapping (any length) is unmapped, so the pool follows the lengths in use. */
static void *reuse(size_t len) {
  void *found = NULL, *evicted = NULL;
  size_t evicted_len = 0;
  lock_pool();
  for (int i = 0; i < POOL_SLOTS && !found; i++)
    if (pool[i].base && pool[i].len == len) found = take_slot(i);
  int old = found ? -1 : oldest_slot();
  if (old >= 0) {
    evicted_len = pool[old].len;
    evicted = take_slot(old);
  }
  unlock_pool();
  if (evicted) (void)ph__prim_unmap_bulk(evicted, evicted_len);
  return found;
}

/* Keep the mapping in the pool, giving back the oldest ones to make room:
 * the pool holds the mappings given back last. False: it is too large to
 * keep. */
static bool keep(void *base, size_t len) {
  if ((uint64_t)len > POOL_MAX_BYTES) return false;
  pooled out[POOL_SLOTS];
  int n_out = 0, free_slot = -1;
  lock_pool();
  for (;;) {
    free_slot = -1;
    for (int i = 0; i < POOL_SLOTS && free_slot < 0; i++)
      if (!pool[i].base) free_slot = i;
    if (free_slot >= 0 && __atomic_load_n(&pool_bytes, __ATOMIC_RELAXED) + len <= POOL_MAX_BYTES) break;
    int old = oldest_slot(); /* never -1 here: an empty pool has a free slot and room */
    out[n_out] = pool[old];
    out[n_out++].base = take_slot(old);
  }
  pool[free_slot] = (pooled){base, len, ++pool_seq};
  __atomic_fetch_add(&pool_bytes, (uint64_t)len, __ATOMIC_RELAXED);
  unlock_pool();
  for (int i = 0; i < n_out; i++) (void)ph__prim_unmap_bulk(out[i].base, out[i].len);
  return true;
}

void *ph_image_alloc(size_t size, unsigned flags) {
  if (size == 0 || (flags & ~PH_IMAGE_ZERO)) return ph__fail_null(PH_EINVAL);
  size_t len = ph__prim_bulk_length(size);
  if (len == 0) return ph__fail_null(PH_ENOMEM);
  void *p = reuse(len);
  if (p && (flags & PH_IMAGE_ZERO)) memset(p, 0, size); /* it holds an earlier image */
  if (!p) p = ph__prim_map_bulk(len);
  if (!p) return ph__fail_null(PH_ENOMEM);
  __atomic_fetch_add(&live_bytes, (uint64_t)size, __ATOMIC_RELAXED);
  return p;
}

void ph_image_free(void *image, size_t size) {
  if (!image) return;
  size_t len = ph__prim_bulk_length(size);
  __atomic_fetch_sub(&live_bytes, (uint64_t)size, __ATOMIC_RELAXED);
  ph__prim_bulk_idle(image, len);
  /* Unmapping memory mapped here with its length fails only for bad arguments. */
  if (!keep(image, len)) (void)ph__prim_unmap_bulk(image, len);
}

uint64_t ph_image_live_bytes(void) { return __atomic_load_n(&live_bytes, __ATOMIC_RELAXED); }

uint64_t ph_image_pooled_bytes(void) { return __atomic_load_n(&pool_bytes, __ATOMIC_RELAXED); }

uint64_t ph_image_trim(void) {
  uint64_t freed = 0;
  for (;;) {
    void *p = NULL;
    size_t len = 0;
    lock_pool();
    for (int i = 0; i < POOL_SLOTS && !p; i++)
      if (pool[i].base) {
        len = pool[i].len;
        p = take_slot(i);
      }
    unlock_pool();
    if (!p) return freed;
    (void)ph__prim_unmap_bulk(p, len);
    freed += len;
  }
}
