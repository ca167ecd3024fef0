// quickstart.c - the C API in one page: a heap in anonymous memory, the
// allocation calls, errors that change nothing, named roots, a snapshot by
// byte copy restored at another address, frame scratch, O(1) reset, and the
// seed API.
//
// Build and run (from the repository root):
//   cc -O2 -Icsrc examples/c/quickstart.c csrc/*.c -o /tmp/quickstart && /tmp/quickstart
#include "privheap.h"
#include <stdio.h>
#include <string.h>

typedef struct { float x, y, vx, vy; } particle;

int main(void) {
  size_t size = 64u << 20;
  void *base = ph_region_map_anon(size);
  ph_heap_t *h = ph_heap_init(base, size, PH_REGION_ZEROED);
  if (!h) return printf("init: %s\n", ph_strerror(ph_last_error())), 1;

  /* allocate: malloc, calloc, aligned_alloc, realloc */
  particle *ps = ph_heap_calloc(h, 1000, sizeof(particle));
  for (int i = 0; i < 1000; i++) ps[i] = (particle){(float)i, 0, 1, 2};
  char *name = ph_heap_malloc(h, 32);
  strcpy(name, "level-1");
  void *simd = ph_heap_aligned_alloc(h, 64, 256);
  ps = ph_heap_realloc(h, ps, 2000 * sizeof(particle));
  printf("particles at offset %llu, %zu usable bytes; simd block 64-aligned: %s\n",
         (unsigned long long)((char *)ps - (char *)h), ph_heap_usable_size(h, ps),
         ((size_t)simd % 64) == 0 ? "yes" : "no");

  /* bad input is reported and changes nothing */
  int rc = ph_heap_free(h, name + 1);
  printf("free(interior pointer) -> %s\n", ph_strerror(rc));
  ph_heap_free(h, simd);
  printf("second free -> %s\n", ph_strerror(ph_heap_free(h, simd)));

  /* named roots survive snapshots: they hold offsets, not pointers */
  if (ph_heap_set_root(h, "particles", (uint64_t)((char *)ps - (char *)h)) != 0 ||
      ph_heap_set_root(h, "name", (uint64_t)(name - (char *)h)) != 0)
    return printf("set_root: %s\n", ph_strerror(ph_last_error())), 1;

  /* a snapshot is a copy of the used prefix; it works at another address */
  size_t used = ph_heap_used_bytes(h);
  void *copy = ph_region_map_anon(size);
  memcpy(copy, h, used);
  ph_heap_t *g = ph_heap_attach(copy, size);
  printf("snapshot of %zu bytes: check %d, name \"%s\", particle 999 x = %.0f\n", used, ph_heap_check(copy, used),
         (char *)g + ph_heap_get_root(g, "name"),
         ((particle *)((char *)g + ph_heap_get_root(g, "particles")))[999].x);

  /* frame scratch: a bump over chunks of the heap, gone at the next reset */
  for (int i = 0; i < 10000; i++) {
    float *tmp = ph_scratch_alloc(h, 16 * sizeof(float));
    tmp[0] = (float)i;
  }
  printf("10000 scratch blocks: free(one of them) -> %s\n", ph_strerror(ph_heap_free(h, ph_scratch_alloc(h, 64))));

  /* introspection */
  ph_stats_t st;
  if (ph_heap_stats(h, &st) != 0) return printf("stats: %s\n", ph_strerror(ph_last_error())), 1;
  printf("live: %llu allocations, %llu bytes; used %llu bytes; generation %llu\n",
         (unsigned long long)st.live_count, (unsigned long long)st.live_bytes,
         (unsigned long long)st.used_bytes, (unsigned long long)st.generation);

  /* O(1) reset: every allocation and root is gone, the generation moves on */
  ph_heap_reset(h);
  printf("after reset: used %zu bytes, generation %llu, root \"name\" = %llu\n", ph_heap_used_bytes(h),
         (unsigned long long)ph_heap_generation(h), (unsigned long long)ph_heap_get_root(h, "name"));

  /* the seed-compatible API: one default heap, the fork's names */
  if (ph_config_private_heap(copy, size) != 0) return printf("config: %s\n", ph_strerror(ph_last_error())), 1;
  void *p = ph_malloc(100);
  ph_malloc_reset();
  printf("seed API: malloc then reset gives the same block again: %s\n", ph_malloc(100) == p ? "yes" : "no");

  ph_region_unmap(copy, size);
  ph_region_unmap(base, size);
  return 0;
}
