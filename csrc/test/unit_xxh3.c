/* unit_xxh3.c - XXH3-64 (csrc/xxh3.c): known answers of the reference,
 * streaming equal to the one-shot hash under any chunking, and bad input. */
#include "privheap.h"
#include "harness.h"

/* The generator's state: seeded, printed with a failure. */
static uint64_t rng_state;
static void seed(uint64_t s) {
  rng_state = s;
  test_seed = s;
}
static void fill_random(unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)test_random(&rng_state);
}

/* The known-answer input: byte i is (i * 131 + 7) mod 256. */
static void fill_pattern(unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 131 + 7);
}

/* A state the hash may use (8-aligned), from malloc. */
static void *new_state(void) {
  void *s = malloc(ph_xxh3_state_size());
  if (s) ph_xxh3_reset(s);
  return s;
}

/* The digest of p[0..n) given in pieces of the sizes `chunk` returns. */
static uint64_t streamed(void *state, const unsigned char *p, size_t n, size_t (*chunk)(size_t at)) {
  ph_xxh3_reset(state);
  for (size_t at = 0; at < n;) {
    size_t k = chunk(at);
    if (k > n - at) k = n - at;
    if (ph_xxh3_update(state, p + at, k) != 0) return 0;
    at += k;
  }
  return ph_xxh3_64_digest(state);
}

static size_t fixed_chunk;
static size_t chunk_fixed(size_t at) {
  (void)at;
  return fixed_chunk;
}
/* Sizes from 0 to 300 bytes, or now and then up to 3 KiB (past a block). */
static size_t chunk_random(size_t at) {
  (void)at;
  uint64_t r = test_random(&rng_state);
  return (r & 7) == 0 ? (size_t)(r >> 8) % 3000 : (size_t)(r >> 8) % 301;
}

/*
 * Bun.hash.xxHash3 (Bun 1.4.4, an implementation independent of this one)
 * of the pattern input at each length, printed by
 *   bun -e 'const pat = (n) => { const b = new Uint8Array(n);
 *     for (let i = 0; i < n; i++) b[i] = (i * 131 + 7) & 255; return b; };
 *     for (const n of [...]) console.log(n, Bun.hash.xxHash3(pat(n)).toString(16))'
 * The lengths cover every path and the edges between them: 0, 1-3, 4-8,
 * 9-16, 17-128 (each pair count), 129-240, and long inputs around a stripe
 * and a block (1024 bytes) and past several blocks. 0x2d06800538d394c2 is
 * also the reference's published hash of the empty input.
 */
static const struct { size_t n; uint64_t hash; } known[] = {
    {0, 0x2d06800538d394c2ull},    {1, 0x4c5cca45d0f4811full},    {2, 0x29c60963cbfa4e6eull},
    {3, 0x6e3e2670e61106acull},    {4, 0x5c4c63133443d03full},    {5, 0x49f5eb3111280b63ull},
    {8, 0xf9fd4dd0b04d78f5ull},    {9, 0x7c20df9712c26edfull},    {16, 0x86abf6baccea0858ull},
    {17, 0xb58bf5dc5022d071ull},   {32, 0xe3712ed84c04a66eull},   {33, 0xa4dee99b093e1f73ull},
    {64, 0x1291d2d4042330ddull},   {65, 0x97c6bf83217e5ec9ull},   {96, 0x81296929fc063365ull},
    {97, 0xf145a45b658ab9ddull},   {128, 0x10d17f72c0ccba41ull},  {129, 0x1648bdc3db49d1a2ull},
    {200, 0xc0fbc0f4e181c826ull},  {240, 0xb6cfaf343fab81e6ull},  {241, 0x956cae592c67279eull},
    {256, 0xb15e550733c5dfacull},  {257, 0x87b3bf2d941cf085ull},  {1024, 0x70bd377d9574f4bbull},
    {1025, 0x66c4487c41e127a7ull}, {1087, 0x3a3888860f73973full}, {1088, 0xf43dc77e28a9acbcull},
    {1089, 0x313bc7ee32bbfa2eull}, {2048, 0x8b46caa67dab3a30ull}, {4096, 0x9ddd66c14af0daffull},
    {100000, 0x14ce8d6fc2c4868bull},
};

TEST(known_answers_of_the_reference) {
  enum { MAX = 100000 };
  unsigned char *buf = malloc(MAX + 1);
  void *state = new_state();
  REQUIRE(buf && state);
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    size_t n = known[i].n;
    /* At an aligned and an odd address. */
    for (size_t shift = 0; shift < 2; shift++) {
      fill_pattern(buf + shift, n);
      uint64_t h = ph_xxh3_64(buf + shift, n);
      if (h != known[i].hash) printf("#   n=%zu shift=%zu: 0x%016llx, expected 0x%016llx\n", n, shift, (unsigned long long)h,
                                     (unsigned long long)known[i].hash);
      EXPECT(h == known[i].hash);
      fixed_chunk = 100;
      EXPECT(streamed(state, buf + shift, n, chunk_fixed) == known[i].hash);
    }
  }
  free(state);
  free(buf);
}

TEST(streaming_equals_one_shot_for_every_length_to_2100) {
  enum { MAX = 2100 };
  unsigned char *buf = malloc(MAX + 1);
  void *state = new_state();
  REQUIRE(buf && state);
  /* Pieces of one byte, and sizes about a stripe, the buffer and a block. */
  const size_t sizes[] = {1, 3, 63, 64, 65, 191, 255, 256, 257, 1000, 1024, 4096};
  seed(0x3C3);
  fill_random(buf, MAX + 1);
  unsigned differ = 0;
  for (size_t n = 0; n <= MAX; n++) {
    const unsigned char *p = buf + (n & 1); /* odd addresses too */
    uint64_t want = ph_xxh3_64(p, n);
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
      fixed_chunk = sizes[c];
      if (streamed(state, p, n, chunk_fixed) != want && differ++ < 5) printf("#   n=%zu in pieces of %zu\n", n, sizes[c]);
    }
    for (int r = 0; r < 3; r++)
      if (streamed(state, p, n, chunk_random) != want && differ++ < 5) printf("#   n=%zu in random pieces\n", n);
  }
  EXPECT_EQ(differ, 0);
  free(state);
  free(buf);
}

TEST(a_digest_leaves_the_state_going_on) {
  enum { MAX = 2100 };
  unsigned char *buf = malloc(MAX);
  void *state = new_state();
  REQUIRE(buf && state);
  seed(0xD16E);
  fill_random(buf, MAX);
  /* A digest after every piece is the hash of the prefix so far. */
  unsigned differ = 0;
  for (size_t at = 0; at < MAX;) {
    size_t k = chunk_random(at) % 97;
    if (k > MAX - at) k = MAX - at;
    REQUIRE(ph_xxh3_update(state, buf + at, k) == 0);
    at += k;
    if (ph_xxh3_64_digest(state) != ph_xxh3_64(buf, at) && differ++ < 5) printf("#   prefix of %zu\n", at);
  }
  EXPECT_EQ(differ, 0);
  free(state);
  free(buf);
}

TEST(long_inputs_in_random_pieces) {
  enum { MAX = 3 << 20 };
  unsigned char *buf = malloc(MAX);
  void *state = new_state();
  REQUIRE(buf && state);
  seed(0x1096);
  fill_random(buf, MAX);
  for (int r = 0; r < 12; r++) {
    size_t n = (size_t)(test_random(&rng_state) % MAX);
    uint64_t want = ph_xxh3_64(buf, n);
    EXPECT(streamed(state, buf, n, chunk_random) == want);
    fixed_chunk = 65536;
    EXPECT(streamed(state, buf, n, chunk_fixed) == want);
  }
  free(state);
  free(buf);
}

TEST(every_byte_and_the_length_count) {
  /* Flipping any bit of an input changes its hash, at lengths of each path. */
  const size_t lengths[] = {1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1100};
  unsigned char buf[1100];
  seed(0xB17);
  unsigned same = 0;
  for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
    size_t n = lengths[l];
    fill_random(buf, n);
    uint64_t h = ph_xxh3_64(buf, n);
    for (size_t i = 0; i < n; i++)
      for (unsigned b = 0; b < 8; b++) {
        buf[i] ^= (unsigned char)(1u << b);
        same += ph_xxh3_64(buf, n) == h;
        buf[i] ^= (unsigned char)(1u << b);
      }
    if (n > 1) same += ph_xxh3_64(buf, n - 1) == h;
  }
  EXPECT_EQ(same, 0);
}

TEST(bad_input_is_einval_and_changes_nothing) {
  EXPECT(ph_xxh3_64(NULL, 0) == 0x2d06800538d394c2ull);
  EXPECT(ph_xxh3_64(NULL, 5) == 0 && ph_last_error() == PH_EINVAL);

  size_t size = ph_xxh3_state_size();
  EXPECT(size >= 64 && size % 8 == 0);
  unsigned char *mem = malloc(size + 8);
  unsigned char *copy = malloc(size);
  REQUIRE(mem && copy);
  void *state = mem;
  ph_xxh3_reset(state);
  EXPECT_EQ(ph_xxh3_update(NULL, "abc", 3), PH_EINVAL);
  EXPECT_EQ(ph_xxh3_update(state, "abc", 3), 0);
  memcpy(copy, state, size);
  EXPECT_EQ(ph_xxh3_update(state, NULL, 1), PH_EINVAL);
  EXPECT(memcmp(copy, state, size) == 0);
  EXPECT_EQ(ph_xxh3_update(state, NULL, 0), 0);
  EXPECT(ph_xxh3_64_digest(state) == ph_xxh3_64("abc", 3));
  EXPECT(ph_xxh3_64_digest(NULL) == 0 && ph_last_error() == PH_EINVAL);
  ph_xxh3_reset(NULL); /* nothing */

  /* A misaligned state is refused, and reset leaves it alone. */
  void *odd = mem + 4;
  memset(mem, 0x5A, size + 8);
  ph_xxh3_reset(odd);
  EXPECT(mem[4] == 0x5A && mem[size + 3] == 0x5A);
  EXPECT_EQ(ph_xxh3_update(odd, "abc", 3), PH_EINVAL);
  EXPECT(ph_xxh3_64_digest(odd) == 0 && ph_last_error() == PH_EINVAL);

  /* Counters out of range (every byte 0xFF: more buffered than the buffer)
   * are refused, never followed outside the state. */
  memset(state, 0xFF, size);
  EXPECT_EQ(ph_xxh3_update(state, "abc", 3), PH_EINVAL);
  EXPECT(ph_xxh3_64_digest(state) == 0 && ph_last_error() == PH_EINVAL);
  ph_xxh3_reset(state);
  EXPECT(ph_xxh3_64_digest(state) == 0x2d06800538d394c2ull);
  free(copy);
  free(mem);
}

TEST_MAIN()
