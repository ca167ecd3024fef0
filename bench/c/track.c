/*
 * track.c - what the written-page tracker (prim.h) costs: a 64 MiB
 * region, all of it touched first, then rounds in which every k-th page is
 * written once and the pages written are taken. Prints, per share of pages
 * written, the first write's cost per page (the kernel resolving its
 * write-protect fault) and one take's time, for anonymous memory, then a
 * full read of it (what finding the changed pages costs without a
 * tracker), then for MAP_SHARED files on $TMPDIR (default /tmp) and
 * /dev/shm: the heap files, which privheap does not track.
 */
#define _DEFAULT_SOURCE 1
#include "prim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 20

/* The CPU's "model name" line of /proc/cpuinfo into buf (unchanged without one). */
static void cpu_model(char *buf, size_t n) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[256];
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "model name", 10) == 0) {
      snprintf(buf, n, "%s", line);
      break;
    }
  fclose(f);
}

/* One region's table: every k-th page written once per round, then a take. */
static int measure(const char *what, unsigned char *b, uint64_t pages, uint64_t ps, uint32_t *out) {
  memset(b, 1, pages * ps);
  ph__prim_tracker *t;
  int err = ph__prim_track_start(b, pages, &t);
  if (err != 0) {
    printf("%s: the system refused the tracker (error %d)\n", what, err);
    return 0;
  }
  if (ph__prim_track_take(t, 0, pages, out, (uint32_t)pages) < 0) return 1; /* the first take protects every page */
  const int shares[] = {0, 1, 5, 10, 100};
  printf("%s\n%-16s %10s %18s %12s\n", what, "pages written", "pages", "first write us/pg", "take us");
  for (unsigned s = 0; s < sizeof shares / sizeof shares[0]; s++) {
    uint64_t step = shares[s] ? 100 / (uint64_t)shares[s] : 0;
    int64_t write_ns = 0, take_ns = 0, n = 0;
    for (int r = 0; r < ROUNDS; r++) {
      int64_t t0 = ph__prim_now_ns();
      if (step)
        for (uint64_t p = (uint64_t)r % step; p < pages; p += step) b[p * ps] = (unsigned char)r;
      int64_t t1 = ph__prim_now_ns();
      n = ph__prim_track_take(t, 0, pages, out, (uint32_t)pages);
      int64_t t2 = ph__prim_now_ns();
      if (n < 0) return 1;
      write_ns += t1 - t0, take_ns += t2 - t1;
    }
    printf("%15d%% %10lld %18.2f %12.1f\n", shares[s], (long long)n, n ? write_ns / (double)ROUNDS / 1e3 / (double)n : 0.0,
           take_ns / (double)ROUNDS / 1e3);
  }
  ph__prim_track_stop(t);
  return 0;
}

/* A MAP_SHARED file of `size` bytes in `dir` (removed at once: the mapping keeps it), or NULL. */
static unsigned char *file_region(const char *dir, size_t size) {
  char path[512];
  snprintf(path, sizeof path, "%s/privheap-track-bench-%u", dir, ph__prim_process_id());
  ph__prim_file f;
  bool created;
  void *p = NULL;
  if (ph__prim_file_open(path, true, true, 0600, &f, &created) != 0) return NULL;
  int err = ph__prim_file_reserve(f, 0, size);
  if (!err) err = ph__prim_file_map(f, size, 2u << 20, &p);
  ph__prim_file_close(f);
  remove(path);
  return err ? NULL : p;
}

int main(void) {
  char model[256] = "model name: unknown\n";
  cpu_model(model, sizeof model);
  printf("# written-page tracker, 64 MiB regions; %s", model);
  uint64_t ps = ph__prim_track_page_size(), pages = (64u << 20) / ps;
  uint32_t *out = malloc(pages * sizeof *out);
  unsigned char *b = ph__prim_map_anon(pages * ps, ps);
  if (!b || !out) return 1;
  if (measure("anonymous memory (PrivateHeap.create)", b, pages, ps, out)) return 1;
  int64_t t0 = ph__prim_now_ns();
  uint64_t sum = 0;
  for (int r = 0; r < ROUNDS; r++)
    for (uint64_t i = 0; i < pages * ps; i += 8) {
      uint64_t w;
      memcpy(&w, b + i, 8);
      sum += w;
    }
  printf("a full read of the region: %.1f us (sum %llu)\n", (ph__prim_now_ns() - t0) / (double)ROUNDS / 1e3,
         (unsigned long long)sum);
  /* Heap files: why they are not tracked (a MAP_SHARED file's first write costs far more). */
  const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  const char *dirs[] = {tmp, "/dev/shm"};
  for (unsigned i = 0; i < 2; i++) {
    unsigned char *f = file_region(dirs[i], pages * ps);
    char what[600];
    snprintf(what, sizeof what, "a MAP_SHARED file in %s (a heap file)", dirs[i]);
    if (!f) {
      printf("%s: could not be made\n", what);
      continue;
    }
    if (measure(what, f, pages, ps, out)) return 1;
    ph__prim_unmap(f, pages * ps);
  }
  return 0;
}
