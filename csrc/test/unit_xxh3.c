/* unit_xxh3.c - XXH3-64 (csrc/xxh3.c), unseeded and seeded: known answers
 * of the reference, streaming equal to the one-shot hash under any
 * chunking, every seed bit counting, and bad input. */
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

/* The digest of a reset `state` fed p[0..n) in pieces of the sizes `chunk` returns. */
static uint64_t fed(void *state, const unsigned char *p, size_t n, size_t (*chunk)(size_t at)) {
  for (size_t at = 0; at < n;) {
    size_t k = chunk(at);
    if (k > n - at) k = n - at;
    if (ph_xxh3_update(state, p + at, k) != 0) return 0;
    at += k;
  }
  return ph_xxh3_64_digest(state);
}

/* The digest of p[0..n) given in pieces of the sizes `chunk` returns. */
static uint64_t streamed(void *state, const unsigned char *p, size_t n, size_t (*chunk)(size_t at)) {
  ph_xxh3_reset(state);
  return fed(state, p, n, chunk);
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

/* The digest of p[0..n) with `seed`, given in pieces of the sizes `chunk` returns. */
static uint64_t streamed_seeded(void *state, const unsigned char *p, size_t n, uint64_t seed, size_t (*chunk)(size_t at)) {
  ph_xxh3_reset_seeded(state, seed);
  return fed(state, p, n, chunk);
}

/*
 * XXH3_64bits_withSeed of the pattern input, printed by the reference
 * library (libxxhash 0.8.1, through Python's ctypes):
 *   ref.XXH3_64bits_withSeed(bytes((i * 131 + 7) & 255 for i in range(n)), n, seed)
 * at the edges of every path, for seeds below 2^32 (where Bun 1.4's
 * Bun.hash.xxHash3(bytes, seed) prints the same values) and above (where
 * Bun's differs: it keeps only a seed's low 32 bits, oven-sh/bun#32833).
 * 0x9E3779B1 sets bit 31; 2^32 + 5 and UINT64_MAX need the high half.
 */
static const struct { uint64_t seed; size_t n; uint64_t hash; } known_seeded[] = {
    {1, 0, 0x4dc5b0cc826f6703ull}, {1, 1, 0x0a187bf012eca100ull}, {1, 3, 0x09b2077206b1496dull},
    {1, 4, 0x16d938bf1343226dull}, {1, 8, 0xd1129f0bf6e39a1dull}, {1, 9, 0xf495c810d169a686ull},
    {1, 16, 0x216fe4ca42fef4ffull}, {1, 17, 0x426160e58ecd06d5ull}, {1, 128, 0x172ec533a3e1041cull},
    {1, 129, 0x955a5a636a9b3fceull}, {1, 240, 0x2d3a9751eda787aeull}, {1, 241, 0xc4ea650f07c84b7cull},
    {1, 1024, 0xf740a79b90c1bfedull}, {1, 1025, 0x1a123faa74e9cd4bull}, {1, 100000, 0xe2f6dce00a2d9b62ull},
    {0x9E3779B1ull, 0, 0xf702ca3814de2125ull}, {0x9E3779B1ull, 1, 0x98b2647a1f47f3a7ull}, {0x9E3779B1ull, 3, 0x22eb02a067d1182aull},
    {0x9E3779B1ull, 4, 0xb9c80094af54526cull}, {0x9E3779B1ull, 8, 0xff815d2d1480cbe3ull}, {0x9E3779B1ull, 9, 0x77a001c728b8f3eeull},
    {0x9E3779B1ull, 16, 0x06444640cb66c6dcull}, {0x9E3779B1ull, 17, 0x9690e1070a6260a7ull}, {0x9E3779B1ull, 128, 0x36659f44e558f8d0ull},
    {0x9E3779B1ull, 129, 0xea6e466d0e3efa61ull}, {0x9E3779B1ull, 240, 0x1bcdef0672e73d9cull}, {0x9E3779B1ull, 241, 0xb5242b6cb3492877ull},
    {0x9E3779B1ull, 1024, 0x95369fae4b4ab07full}, {0x9E3779B1ull, 1025, 0xcb0f8a717643d66full}, {0x9E3779B1ull, 100000, 0xeef86c85bd03a620ull},
    {(1ull << 32) + 5, 0, 0x8a1e29d29b8bb1a2ull}, {(1ull << 32) + 5, 1, 0x801104fdbeb3daa0ull}, {(1ull << 32) + 5, 3, 0x17b2444d608618b4ull},
    {(1ull << 32) + 5, 4, 0x5ac690603ab5e265ull}, {(1ull << 32) + 5, 8, 0x078abc575f19cb6cull}, {(1ull << 32) + 5, 9, 0xd415676dda817574ull},
    {(1ull << 32) + 5, 16, 0xfd2b7253f0498874ull}, {(1ull << 32) + 5, 17, 0x305a950d6226ac01ull}, {(1ull << 32) + 5, 128, 0x8e883aa1cf6908a7ull},
    {(1ull << 32) + 5, 129, 0xcdd69595cfa24d39ull}, {(1ull << 32) + 5, 240, 0x23e0106d2947a124ull}, {(1ull << 32) + 5, 241, 0x9b9abdb312505c03ull},
    {(1ull << 32) + 5, 1024, 0x59f6f50e9083db73ull}, {(1ull << 32) + 5, 1025, 0xe74a84c5c82cbcf3ull}, {(1ull << 32) + 5, 100000, 0x2c7cc040a37e517eull},
    {UINT64_MAX, 0, 0x4c093276ae47a555ull}, {UINT64_MAX, 1, 0x36ce6de3f8ce2550ull}, {UINT64_MAX, 3, 0x4e704406273a2f10ull},
    {UINT64_MAX, 4, 0x7d3c976072267e11ull}, {UINT64_MAX, 8, 0xcdb415eadb92d8c2ull}, {UINT64_MAX, 9, 0xdaa24bb15e66f8c7ull},
    {UINT64_MAX, 16, 0x3f0451510585cff3ull}, {UINT64_MAX, 17, 0x397bbd722a5d5277ull}, {UINT64_MAX, 128, 0x8ceb4f7c4cebff08ull},
    {UINT64_MAX, 129, 0x7706f67ef1f6cba6ull}, {UINT64_MAX, 240, 0x44c6095d221569f6ull}, {UINT64_MAX, 241, 0xc895ed9e580244d6ull},
    {UINT64_MAX, 1024, 0xcbb7e3e786ba8e7dull}, {UINT64_MAX, 1025, 0x48b8f100bc047e95ull}, {UINT64_MAX, 100000, 0xd9a81e6fea82b465ull},
};

TEST(known_answers_with_seeds) {
  enum { MAX = 100000 };
  unsigned char *buf = malloc(MAX + 1);
  void *state = new_state();
  REQUIRE(buf && state);
  for (size_t i = 0; i < sizeof known_seeded / sizeof known_seeded[0]; i++) {
    size_t n = known_seeded[i].n;
    uint64_t seed = known_seeded[i].seed, want = known_seeded[i].hash;
    for (size_t shift = 0; shift < 2; shift++) {
      fill_pattern(buf + shift, n);
      uint64_t h = ph_xxh3_64_seeded(buf + shift, n, seed);
      if (h != want)
        printf("#   seed=0x%llx n=%zu shift=%zu: 0x%016llx, expected 0x%016llx\n", (unsigned long long)seed, n, shift, (unsigned long long)h,
               (unsigned long long)want);
      EXPECT(h == want);
      fixed_chunk = 100;
      EXPECT(streamed_seeded(state, buf + shift, n, seed, chunk_fixed) == want);
      fixed_chunk = 1;
      if (n <= 2048) EXPECT(streamed_seeded(state, buf + shift, n, seed, chunk_fixed) == want);
    }
  }
  /* Seed 0 is the unseeded hash, one-shot and streamed. */
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    fill_pattern(buf, known[i].n);
    EXPECT(ph_xxh3_64_seeded(buf, known[i].n, 0) == known[i].hash);
    fixed_chunk = 77;
    EXPECT(streamed_seeded(state, buf, known[i].n, 0, chunk_fixed) == known[i].hash);
  }
  free(state);
  free(buf);
}

TEST(seeded_streaming_equals_one_shot_for_every_length_to_1200) {
  enum { MAX = 1200 };
  unsigned char *buf = malloc(MAX + 1);
  void *state = new_state();
  REQUIRE(buf && state);
  seed(0x5EED);
  fill_random(buf, MAX + 1);
  const uint64_t seeds[] = {1, 0x80000000ull, (1ull << 32) + 5, UINT64_MAX, test_random(&rng_state)};
  const size_t sizes[] = {1, 63, 64, 65, 256, 257};
  unsigned differ = 0;
  for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++)
    for (size_t n = 0; n <= MAX; n++) {
      const unsigned char *p = buf + (n & 1);
      uint64_t want = ph_xxh3_64_seeded(p, n, seeds[s]);
      for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        fixed_chunk = sizes[c];
        if (streamed_seeded(state, p, n, seeds[s], chunk_fixed) != want && differ++ < 5) printf("#   seed %zu, n=%zu in pieces of %zu\n", s, n, sizes[c]);
      }
      if (streamed_seeded(state, p, n, seeds[s], chunk_random) != want && differ++ < 5) printf("#   seed %zu, n=%zu in random pieces\n", s, n);
    }
  EXPECT_EQ(differ, 0);
  /* Long inputs, past many blocks, in random pieces. */
  enum { LONG = 1 << 20 };
  unsigned char *big = malloc(LONG);
  REQUIRE(big);
  fill_random(big, LONG);
  for (int r = 0; r < 6; r++) {
    size_t n = (size_t)(test_random(&rng_state) % LONG);
    uint64_t sd = test_random(&rng_state);
    EXPECT(streamed_seeded(state, big, n, sd, chunk_random) == ph_xxh3_64_seeded(big, n, sd));
  }
  free(big);
  free(state);
  free(buf);
}

TEST(every_bit_of_the_seed_counts_on_every_path) {
  /* Seeds one bit apart (any of the 64) hash an input differently, at a
   * length of each path: a seed cut to 32 bits fails this. */
  const size_t lengths[] = {0, 2, 6, 12, 100, 200, 1100};
  unsigned char buf[1100];
  seed(0x5EB1);
  fill_random(buf, sizeof buf);
  unsigned same = 0;
  for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
    uint64_t base = test_random(&rng_state);
    uint64_t h = ph_xxh3_64_seeded(buf, lengths[l], base);
    for (unsigned b = 0; b < 64; b++)
      if (ph_xxh3_64_seeded(buf, lengths[l], base ^ 1ull << b) == h && same++ < 5) printf("#   n=%zu, bit %u of the seed\n", lengths[l], b);
  }
  EXPECT_EQ(same, 0);
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
  ph_xxh3_reset_seeded(NULL, 7);
  EXPECT(ph_xxh3_64_seeded(NULL, 0, 7) == ph_xxh3_64_seeded("", 0, 7));
  EXPECT(ph_xxh3_64_seeded(NULL, 5, 7) == 0 && ph_last_error() == PH_EINVAL);

  /* A misaligned state is refused, and reset leaves it alone. */
  void *odd = mem + 1; /* misaligned for any target's state alignment */
  memset(mem, 0x5A, size + 8);
  ph_xxh3_reset(odd);
  ph_xxh3_reset_seeded(odd, 7);
  EXPECT(mem[1] == 0x5A && mem[size] == 0x5A);
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
