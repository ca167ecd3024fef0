/*
 * unit_image.c - memory for snapshot images (ph_image_alloc): zeroed and
 * writable at every size, counted while held and uncounted when given
 * back (from any thread), impossible sizes refused with a code, and on
 * Linux large images in transparent huge pages wherever the system gives
 * them on request.
 */
#define _DEFAULT_SOURCE 1
#include "harness.h"
#include "prim.h"

#include <stdint.h>
#if !defined(_WIN32)
#include <pthread.h>
#endif

#define MiB ((size_t)1 << 20)

static const size_t sizes[] = {1, 4095, 4096, 2 * MiB - 1, 2 * MiB, 3 * MiB + 5, 8 * MiB};

TEST(images_are_zeroed_writable_and_counted_at_every_size) {
  uint64_t before = ph_image_live_bytes();
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    unsigned char *p = ph_image_alloc(n, PH_IMAGE_ZERO);
    REQUIRE(p != NULL);
    EXPECT_EQ(ph_image_live_bytes(), before + n);
    size_t nonzero = 0;
    for (size_t k = 0; k < n; k++) nonzero += p[k] != 0;
    EXPECT_EQ(nonzero, 0);
    memset(p, 0xab, n);
    EXPECT(p[0] == 0xab && p[n - 1] == 0xab);
    ph_image_free(p, n);
    EXPECT_EQ(ph_image_live_bytes(), before);
  }
}

TEST(impossible_sizes_are_refused_with_a_code) {
  uint64_t before = ph_image_live_bytes();
  EXPECT(ph_image_alloc(0, 0) == NULL);
  EXPECT_EQ(ph_last_error(), PH_EINVAL);
  EXPECT(ph_image_alloc(4096, 2) == NULL);
  EXPECT_EQ(ph_last_error(), PH_EINVAL);
  const size_t impossible[] = {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2};
  for (size_t i = 0; i < sizeof impossible / sizeof impossible[0]; i++) {
    volatile size_t n = impossible[i]; /* hidden from the alloc_size warning */
    EXPECT(ph_image_alloc(n, PH_IMAGE_ZERO) == NULL);
    EXPECT_EQ(ph_last_error(), PH_ENOMEM);
  }
  EXPECT_EQ(ph_image_live_bytes(), before);
  ph_image_free(NULL, 4096); /* nothing to give back */
  EXPECT_EQ(ph_image_live_bytes(), before);
}

TEST(a_mapping_given_back_serves_the_next_image_of_its_length) {
  (void)ph_image_trim();
  size_t n = 3 * MiB + 4096;
  unsigned char *p = ph_image_alloc(n, 0);
  REQUIRE(p != NULL);
  memset(p, 0x5a, n);
  ph_image_free(p, n);
  EXPECT(ph_image_pooled_bytes() >= n);
  EXPECT_EQ(ph_image_live_bytes(), 0);
  unsigned char *q = ph_image_alloc(n - 4096 + 1, PH_IMAGE_ZERO); /* another size of the same length */
  REQUIRE(q != NULL);
  EXPECT(q == p);
  EXPECT_EQ(ph_image_pooled_bytes(), 0);
  size_t nonzero = 0;
  for (size_t k = 0; k < n - 4096 + 1; k++) nonzero += q[k] != 0;
  EXPECT_EQ(nonzero, 0);
  ph_image_free(q, n - 4096 + 1);
  EXPECT(ph_image_trim() >= n);
  EXPECT_EQ(ph_image_pooled_bytes(), 0);
}

TEST(the_pool_is_bounded_and_follows_the_lengths_in_use) {
  (void)ph_image_trim();
  enum { N = 40 };
  void *held[N];
  for (int i = 0; i < N; i++) {
    held[i] = ph_image_alloc(2 * MiB, 0);
    REQUIRE(held[i] != NULL);
  }
  for (int i = 0; i < N; i++) ph_image_free(held[i], 2 * MiB);
  uint64_t pooled = ph_image_pooled_bytes();
  EXPECT(pooled > 0);
  EXPECT(pooled <= 16 * 2 * MiB); /* at most 16 mappings */
  for (int i = 0; i < 4; i++) {
    held[i] = ph_image_alloc(64 * MiB, 0);
    REQUIRE(held[i] != NULL);
  }
  for (int i = 0; i < 4; i++) ph_image_free(held[i], 64 * MiB);
  /* each miss gave back one mapping of the old length; the new ones came in */
  EXPECT_EQ(ph_image_pooled_bytes(), pooled - 4 * 2 * MiB + 4 * 64 * MiB);
  for (int i = 0; i < N; i++) {
    held[i] = ph_image_alloc(64 * MiB, 0);
    REQUIRE(held[i] != NULL);
  }
  for (int i = 0; i < N; i++) ph_image_free(held[i], 64 * MiB);
  EXPECT(ph_image_pooled_bytes() <= (uint64_t)1 << 30); /* at most 1 GiB */
  EXPECT_EQ(ph_image_live_bytes(), 0);
  /* A full pool makes room for the mapping given back last. */
  unsigned char *last = ph_image_alloc(6 * MiB, 0);
  REQUIRE(last != NULL);
  ph_image_free(last, 6 * MiB);
  EXPECT(ph_image_alloc(6 * MiB, 0) == last);
  ph_image_free(last, 6 * MiB);
  (void)ph_image_trim();
  EXPECT_EQ(ph_image_pooled_bytes(), 0);
}

#if !defined(_WIN32)
typedef struct {
  void *p;
  size_t n;
} held;

static void *free_elsewhere(void *arg) {
  held *h = arg;
  ph_image_free(h->p, h->n);
  return NULL;
}

/* A garbage collector's thread gives images back. */
TEST(an_image_given_back_by_another_thread_is_uncounted) {
  uint64_t before = ph_image_live_bytes();
  held h = {ph_image_alloc(4 * MiB, 0), 4 * MiB};
  REQUIRE(h.p != NULL);
  memset(h.p, 1, h.n);
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, free_elsewhere, &h) == 0);
  pthread_join(t, NULL);
  EXPECT_EQ(ph_image_live_bytes(), before);
}
#endif

#if defined(__linux__)
/* kB of AnonHugePages in the mapping that holds `addr`, or -1. */
static long huge_kb_at(const void *addr) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  char line[512];
  bool inside = false;
  long kb = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
      continue;
    }
    if (inside && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) break;
  }
  fclose(f);
  return kb;
}

/* Whether /sys/kernel/mm/transparent_hugepage/enabled allows huge pages on request. */
static bool huge_pages_on_request(void) {
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (!f) return false;
  char mode[128] = "";
  bool ok = fgets(mode, sizeof mode, f) && (strstr(mode, "[always]") || strstr(mode, "[madvise]"));
  fclose(f);
  return ok;
}

TEST(large_images_are_in_huge_pages_where_the_system_gives_them) {
  if (!huge_pages_on_request()) TEST_SKIP("transparent huge pages are off on this system");
  size_t n = 8 * MiB;
  unsigned char *p = ph_image_alloc(n, PH_IMAGE_ZERO);
  REQUIRE(p != NULL);
  EXPECT_EQ((uintptr_t)p % (2 * MiB), 0);
  memset(p, 1, n);
  long kb = huge_kb_at(p);
  printf("#   %ld kB of 8192 in huge pages\n", kb);
  EXPECT(kb >= 2048);
  ph_image_free(p, n);
}
#endif

TEST_MAIN()
