/* unit_checksum.c - the heap checksum: kernels that agree, the lock block,
 * every bit counting, and the incremental form equal to the full one. */
#include "internal.h"
#include "harness.h"

#define PAGE PH_PAGE_SIZE

/* The generator's state: seeded, printed with a failure. */
static uint64_t rng_state;
static void seed(uint64_t s) {
  rng_state = s;
  test_seed = s;
}
static void fill_random(unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)test_random(&rng_state);
}

/* Word j of a page as the checksum reads it: little endian, on any host. */
static uint64_t get_word(const unsigned char *page, unsigned j) {
  uint64_t w = 0;
  for (int b = 7; b >= 0; b--) w = w << 8 | page[8 * j + (unsigned)b];
  return w;
}
static void put_word(unsigned char *page, unsigned j, uint64_t w) {
  for (unsigned b = 0; b < 8; b++) page[8 * j + b] = (unsigned char)(w >> (8 * b));
}

static uint64_t checksum_of(const void *bytes, size_t used) {
  uint64_t out = 0;
  int rc = ph_checksum(bytes, used, &out);
  if (rc != 0) printf("#   ph_checksum(%zu bytes) = %d\n", used, rc);
  return out;
}

TEST(fold_from_halves_is_the_128_bit_product) {
#if defined(__SIZEOF_INT128__)
  const uint64_t edges[] = {0, 1, 2, 0xffffffffull, 0x100000000ull, 0xffffffffffffffffull, 0x8000000000000000ull, 0x7fffffffffffffffull};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
    for (size_t j = 0; j < sizeof edges / sizeof edges[0]; j++) {
      unsigned __int128 m = (unsigned __int128)edges[i] * edges[j];
      EXPECT(ph__fold_halves(edges[i], edges[j]) == ((uint64_t)m ^ (uint64_t)(m >> 64)));
    }
  seed(0xF01D);
  for (int k = 0; k < 100000; k++) {
    uint64_t a = test_random(&rng_state), b = test_random(&rng_state);
    unsigned __int128 m = (unsigned __int128)a * b;
    REQUIRE(ph__fold_halves(a, b) == ((uint64_t)m ^ (uint64_t)(m >> 64)));
  }
#else
  TEST_SKIP("no 128-bit integer type to compare with");
#endif
}

/* Each vector kernel this CPU runs against the portable one. */
static void expect_kernel_agrees(int kernel, const char *name) {
  enum { PAGES = 40 };
  unsigned char *region = malloc(PAGES * PAGE + 1);
  if (!region) {
    EXPECT(region);
    return;
  }
  seed(0x6E12);
  fill_random(region, PAGES * PAGE);
  memset(region + 2 * PAGE, 0, PAGE);    /* a zero page */
  memset(region + 3 * PAGE, 0xff, PAGE); /* all ones */
  unsigned differ = 0;
  for (uint64_t i = 0; i < PAGES; i++) differ += ph__page_hash(region, i, PH__CHECKSUM_PORTABLE) != ph__page_hash(region, i, kernel);
  /* At an odd address: kernels may not rely on alignment. */
  memmove(region + 1, region, PAGES * PAGE);
  for (uint64_t i = 0; i < PAGES; i++) differ += ph__page_hash(region + 1, i, PH__CHECKSUM_PORTABLE) != ph__page_hash(region + 1, i, kernel);
  if (differ) printf("#   the %s kernel differs from the portable one on %u pages\n", name, differ);
  EXPECT_EQ(differ, 0);
  free(region);
}

TEST(the_avx2_kernel_gives_the_portable_page_hashes) {
  if (!ph__checksum_kernel_runs(PH__CHECKSUM_AVX2)) TEST_SKIP("this CPU does not run AVX2");
  expect_kernel_agrees(PH__CHECKSUM_AVX2, "avx2");
}

TEST(the_avx512_kernel_gives_the_portable_page_hashes) {
  if (!ph__checksum_kernel_runs(PH__CHECKSUM_AVX512)) TEST_SKIP("this CPU does not run AVX-512");
  expect_kernel_agrees(PH__CHECKSUM_AVX512, "avx512");
}

TEST(the_best_kernel_is_one_this_cpu_runs) {
  const char *name = ph__checksum_kernel_name();
  printf("#   checksum kernel: %s\n", name);
  int kernel = strcmp(name, "avx512") == 0 ? PH__CHECKSUM_AVX512 : strcmp(name, "avx2") == 0 ? PH__CHECKSUM_AVX2 : PH__CHECKSUM_PORTABLE;
  EXPECT(ph__checksum_kernel_runs(kernel));
  unsigned char page[PAGE];
  seed(0xBE57);
  fill_random(page, PAGE);
  EXPECT(ph__page_hash(page, 0, PH__CHECKSUM_BEST) == ph__page_hash(page, 0, kernel));
}

TEST(a_page_hash_depends_on_the_page_index) {
  enum { PAGES = 64 };
  unsigned char *region = malloc(PAGES * PAGE);
  REQUIRE(region);
  seed(0x1D3);
  fill_random(region, PAGE);
  for (int i = 1; i < PAGES; i++) memcpy(region + (size_t)i * PAGE, region, PAGE); /* the same bytes everywhere */
  uint64_t h[PAGES];
  for (int i = 0; i < PAGES; i++) h[i] = ph__page_hash(region, (uint64_t)i, PH__CHECKSUM_BEST);
  for (int i = 0; i < PAGES; i++)
    for (int j = i + 1; j < PAGES; j++) EXPECT(h[i] != h[j]);
  free(region);
}

TEST(the_lock_block_reads_as_zero_and_its_neighbours_count) {
  enum { PAGES = 3 };
  unsigned char *region = malloc(PAGES * PAGE);
  REQUIRE(region);
  seed(0x10CB);
  fill_random(region, PAGES * PAGE);
  uint64_t base = checksum_of(region, PAGES * PAGE);
  for (unsigned at = PH_LOCK_BLOCK_OFFSET; at < PH_LOCK_BLOCK_END; at++) {
    region[at] ^= 0x5a;
    EXPECT(checksum_of(region, PAGES * PAGE) == base);
  }
  memset(region + PH_LOCK_BLOCK_OFFSET, 0, PH_LOCK_BLOCK_END - PH_LOCK_BLOCK_OFFSET);
  EXPECT(checksum_of(region, PAGES * PAGE) == base);
  const unsigned outside[] = {PH_LOCK_BLOCK_OFFSET - 1, PH_LOCK_BLOCK_END};
  for (int k = 0; k < 2; k++) {
    region[outside[k]] ^= 1;
    EXPECT(checksum_of(region, PAGES * PAGE) != base);
    region[outside[k]] ^= 1;
  }
  free(region);
}

TEST(every_bit_outside_the_lock_block_changes_the_checksum) {
  enum { PAGES = 3 };
  unsigned char *region = malloc(PAGES * PAGE);
  REQUIRE(region);
  seed(0xB175);
  fill_random(region, PAGES * PAGE);
  uint64_t base = checksum_of(region, PAGES * PAGE);
  unsigned missed = 0;
  for (unsigned at = 0; at < PAGES * PAGE; at++) {
    if (at >= PH_LOCK_BLOCK_OFFSET && at < PH_LOCK_BLOCK_END) continue;
    for (int bit = 0; bit < 8; bit++) {
      region[at] ^= (unsigned char)(1u << bit);
      if (checksum_of(region, PAGES * PAGE) == base) missed++;
      region[at] ^= (unsigned char)(1u << bit);
    }
  }
  EXPECT_EQ(missed, 0);
  free(region);
}

/* A word whose key makes one half of x zero has a zero product whatever
 * its other half holds: the raw sums must still see that half change. */
TEST(a_word_whose_product_is_zero_still_counts) {
  const uint64_t k_word = 0x6a09e667f3bcc909ull; /* K_WORD: sqrt(2)'s first 64 fractional bits, lowest bit set */
  unsigned char *page = malloc(PAGE);
  REQUIRE(page);
  seed(0x2E80);
  fill_random(page, PAGE);
  const unsigned words[] = {0, 7, 300, 511};
  for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
    unsigned j = words[k];
    uint64_t key = (j + 1) * k_word;
    for (int half = 0; half < 2; half++) {
      uint64_t keep = half == 0 ? 0xffffffffull : 0xffffffff00000000ull; /* the half that equals the key's */
      uint64_t w = (get_word(page, j) & ~keep) | (key & keep);
      put_word(page, j, w);
      uint64_t base = checksum_of(page, PAGE);
      for (int bit = 0; bit < 64; bit++) {
        if ((keep >> bit) & 1) continue;
        put_word(page, j, w ^ (1ull << bit));
        EXPECT(checksum_of(page, PAGE) != base);
        put_word(page, j, w);
      }
    }
  }
  free(page);
}

TEST(swapped_pages_and_other_lengths_give_other_checksums) {
  enum { PAGES = 6 };
  unsigned char *region = calloc(PAGES, PAGE), *tmp = malloc(PAGE);
  REQUIRE(region && tmp);
  /* All-zero prefixes of 0..PAGES pages: only the length tells them apart. */
  uint64_t sums[PAGES + 1];
  for (int n = 0; n <= PAGES; n++) sums[n] = checksum_of(region, (size_t)n * PAGE);
  for (int a = 0; a <= PAGES; a++)
    for (int b = a + 1; b <= PAGES; b++) EXPECT(sums[a] != sums[b]);
  seed(0x5A9);
  fill_random(region, PAGES * PAGE);
  uint64_t base = checksum_of(region, PAGES * PAGE);
  for (int a = 0; a < PAGES; a++)
    for (int b = a + 1; b < PAGES; b++) {
      memcpy(tmp, region + a * PAGE, PAGE);
      memcpy(region + a * PAGE, region + b * PAGE, PAGE);
      memcpy(region + b * PAGE, tmp, PAGE);
      EXPECT(checksum_of(region, PAGES * PAGE) != base);
      memcpy(region + b * PAGE, region + a * PAGE, PAGE);
      memcpy(region + a * PAGE, tmp, PAGE);
    }
  EXPECT(checksum_of(region, PAGES * PAGE) == base);
  /* Two words of one lane swapped inside a page. */
  uint64_t w0 = get_word(region + PAGE, 1), w1 = get_word(region + PAGE, 9);
  put_word(region + PAGE, 1, w1);
  put_word(region + PAGE, 9, w0);
  EXPECT(checksum_of(region, PAGES * PAGE) != base);
  free(region);
  free(tmp);
}

TEST(ph_checksum_refuses_what_is_not_whole_pages) {
  unsigned char page[PAGE] = {0};
  uint64_t out = 77;
  EXPECT_EQ(ph_checksum(page, PAGE - 1, &out), PH_EINVAL);
  EXPECT_EQ(ph_last_error(), PH_EINVAL);
  EXPECT_EQ(ph_checksum(page, 1, &out), PH_EINVAL);
  EXPECT_EQ(ph_checksum(NULL, PAGE, &out), PH_EINVAL);
  EXPECT_EQ(ph_checksum(page, PAGE, NULL), PH_EINVAL);
  EXPECT(out == 77);
  EXPECT_EQ(ph_checksum(NULL, 0, &out), 0); /* the empty prefix has a checksum */
  EXPECT(out != 77);
}

/* ---- the incremental form ------------------------------------------------ */

enum { CAP = 48 };

struct tracked {
  unsigned char *region; /* CAP pages */
  uint64_t hashes[CAP];
  uint64_t state[3];
};

static int update(struct tracked *t, size_t used, const uint32_t *pages, uint32_t n) {
  return ph_checksum_update(t->region, used, t->hashes, CAP, t->state, pages, n);
}

TEST(update_equals_the_full_checksum_through_random_changes) {
  for (uint64_t s = 1; s <= 20; s++) {
    seed(0xC4EC0000 + s);
    struct tracked t = {.region = malloc(CAP * PAGE)};
    REQUIRE(t.region);
    fill_random(t.region, CAP * PAGE);
    size_t used = (1 + test_random(&rng_state) % CAP) * PAGE;
    REQUIRE(update(&t, used, NULL, 0) == 0);
    REQUIRE(t.state[2] == checksum_of(t.region, used));
    for (int round = 0; round < 200; round++) {
      uint32_t list[16];
      uint32_t n = 0;
      size_t before = used / PAGE;
      /* Change some pages of the prefix (each listed), and some above it
       * (never listed: the prefix's growth hashes them). */
      unsigned changes = (unsigned)(test_random(&rng_state) % 5);
      for (unsigned c = 0; c < changes; c++) {
        uint32_t p = (uint32_t)(test_random(&rng_state) % CAP);
        size_t at = (size_t)p * PAGE + test_random(&rng_state) % PAGE;
        t.region[at] ^= (unsigned char)(1 + test_random(&rng_state) % 255);
        if (p < before) list[n++] = p;
      }
      /* Pages listed though unchanged, twice, or beyond the prefix. */
      if (test_random(&rng_state) % 3 == 0) list[n++] = (uint32_t)(test_random(&rng_state) % CAP);
      if (n > 0 && test_random(&rng_state) % 4 == 0) list[n++] = list[0];
      /* The prefix grows, shrinks or stays. */
      int move = (int)(test_random(&rng_state) % 3);
      if (move == 1) used = (1 + test_random(&rng_state) % CAP) * PAGE;
      if (move == 2) used = 0;
      REQUIRE(update(&t, used, n ? list : NULL, n) == 0);
      EXPECT(t.state[1] == used / PAGE);
      if (t.state[2] != checksum_of(t.region, used)) {
        printf("#   round %d: incremental checksum differs (used %zu pages)\n", round, used / PAGE);
        test_failed_now = 1;
        break;
      }
    }
    free(t.region);
    if (test_failed_now) return;
  }
}

TEST(a_changed_page_left_unlisted_is_not_seen) {
  struct tracked t = {.region = malloc(CAP * PAGE)};
  REQUIRE(t.region);
  seed(0xDEAD);
  fill_random(t.region, CAP * PAGE);
  REQUIRE(update(&t, 8 * PAGE, NULL, 0) == 0);
  uint64_t old = t.state[2];
  t.region[5 * PAGE + 17] ^= 1;
  REQUIRE(update(&t, 8 * PAGE, NULL, 0) == 0);
  EXPECT(t.state[2] == old); /* the cache answers: the change was not listed */
  EXPECT(t.state[2] != checksum_of(t.region, 8 * PAGE));
  uint32_t five = 5;
  REQUIRE(update(&t, 8 * PAGE, &five, 1) == 0);
  EXPECT(t.state[2] == checksum_of(t.region, 8 * PAGE));
  free(t.region);
}

TEST(update_with_bad_arguments_is_einval_and_changes_nothing) {
  struct tracked t = {.region = malloc(CAP * PAGE)};
  REQUIRE(t.region);
  seed(0xBAD);
  fill_random(t.region, CAP * PAGE);
  REQUIRE(update(&t, 10 * PAGE, NULL, 0) == 0);
  t.region[2 * PAGE] ^= 1; /* a change an accepted call would pick up */
  uint64_t hashes[CAP], state[3];
  memcpy(hashes, t.hashes, sizeof hashes);
  memcpy(state, t.state, sizeof state);
  uint32_t list[3] = {2, 3, CAP}; /* the bad page comes after good ones */
  uint32_t good[1] = {2};
#define UNCHANGED() (memcmp(hashes, t.hashes, sizeof hashes) == 0 && memcmp(state, t.state, sizeof state) == 0)
  EXPECT_EQ(update(&t, 10 * PAGE + 1, good, 1), PH_EINVAL);
  EXPECT_EQ(ph_last_error(), PH_EINVAL);
  EXPECT(UNCHANGED());
  EXPECT_EQ(update(&t, (CAP + 1) * PAGE, good, 1), PH_EINVAL);
  EXPECT(UNCHANGED());
  EXPECT_EQ(update(&t, 12 * PAGE, list, 3), PH_EINVAL);
  EXPECT(UNCHANGED());
  EXPECT_EQ(update(&t, 12 * PAGE, NULL, 1), PH_EINVAL);
  EXPECT(UNCHANGED());
  EXPECT_EQ(ph_checksum_update(NULL, 12 * PAGE, t.hashes, CAP, t.state, good, 1), PH_EINVAL);
  EXPECT(UNCHANGED());
  EXPECT_EQ(ph_checksum_update(t.region, 12 * PAGE, NULL, CAP, t.state, good, 1), PH_EINVAL);
  EXPECT(UNCHANGED());
  EXPECT_EQ(ph_checksum_update(t.region, 12 * PAGE, t.hashes, CAP, NULL, good, 1), PH_EINVAL);
  EXPECT(UNCHANGED());
  t.state[1] = CAP + 1; /* a state that claims more pages than the cache holds */
  state[1] = CAP + 1;
  EXPECT_EQ(update(&t, 12 * PAGE, good, 1), PH_EINVAL);
  EXPECT(UNCHANGED());
  t.state[1] = state[1] = 10;
  /* The same call, with good arguments, is accepted and sees the change. */
  EXPECT_EQ(update(&t, 12 * PAGE, good, 1), 0);
  EXPECT(t.state[2] == checksum_of(t.region, 12 * PAGE));
  /* Nothing to hash: no region needed. */
  struct tracked empty = {0};
  EXPECT_EQ(ph_checksum_update(NULL, 0, NULL, 0, empty.state, NULL, 0), 0);
  EXPECT(empty.state[2] == checksum_of(NULL, 0));
#undef UNCHANGED
  free(t.region);
}

TEST_MAIN()
