/*
 * xxh3.c - XXH3-64 (xxHash's XXH3_64bits and XXH3_64bits_withSeed), the
 * content hash of privheap's file formats, so runtimes without
 * Bun.hash.xxHash3 (Node, Deno, browsers, through the WebAssembly core)
 * compute the same 64-bit values, seeded or not (HeapMirror's journal
 * chains seeds). Written from the algorithm's published description;
 * csrc/test/unit_xxh3.c and test/unit/xxh3.test.ts hold it to
 * Bun.hash.xxHash3.
 *
 * A seed enters two ways. Inputs of at most 240 bytes read the default
 * secret with the seed added to (or, for the second word of a pair,
 * subtracted from) the secret words they use. Longer inputs read a secret
 * derived from the seed: each 16-byte chunk of the default secret with the
 * seed added to its first word and subtracted from its second (seed 0
 * derives the default secret itself, so it is not derived then).
 *
 * The paths, by input length n:
 *   0 ........ the secret's words 7 and 8, avalanched
 *   1-3 ...... first, middle and last byte with n, against 8 secret bytes
 *   4-8 ...... first and last 4 bytes as one word, mixed with n
 *   9-16 ..... first and last 8 bytes, a 128-bit product folded
 *   17-128 ... 16-byte pairs taken from both ends inwards, each a folded product
 *   129-240 .. every 16-byte chunk, with an avalanche after the first 8
 *   over 240 . eight 64-bit lanes over 64-byte stripes; the secret advances 8
 *              bytes a stripe, so 16 stripes make a block, after which the
 *              lanes are scrambled; the last 64 bytes are one more stripe
 *              with their own key; the lanes are merged into the result.
 *
 * Long inputs hash a stripe only once a byte follows it (the final stripe
 * is always the input's last 64 bytes, even where it overlaps hashed ones),
 * so the streaming form buffers up to 4 stripes and hashes them only when
 * more input arrives; the digest finishes a copy of the lanes, so a state
 * can take more input after it. Bytes are read little-endian with memcpy
 * (any alignment, any host byte order).
 */
#include "internal.h"

#define SECRET_BYTES 192
#define STRIPE 64                                   /* bytes of a stripe: 8 lanes of 8 */
#define LANES 8
#define KEY_STEP 8                                  /* secret bytes a stripe advances */
#define BLOCK_STRIPES ((SECRET_BYTES - STRIPE) / KEY_STEP) /* 16 stripes, then a scramble */
#define SHORT_MAX 240                               /* longest input of the short paths */
#define BUFFER_BYTES (4 * STRIPE)                   /* the streaming buffer; holds any short input */

#define P32_1 0x9E3779B1u
#define P32_2 0x85EBCA77u
#define P32_3 0xC2B2AE3Du
#define P64_1 0x9E3779B185EBCA87ull
#define P64_2 0xC2B2AE3D27D4EB4Full
#define P64_3 0x165667B19E3779F9ull
#define P64_4 0x85EBCA77C2B2AE63ull
#define P64_5 0x27D4EB2F165667C5ull
#define MX1 0x165667919E3779F9ull
#define MX2 0x9FB21C651E98DF25ull

/* Room for a secret derived from a seed (the long path reads it whole). */
typedef struct {
  unsigned char bytes[SECRET_BYTES];
} derived_secret;

_Static_assert(BUFFER_BYTES >= SHORT_MAX, "a short input fits the buffer whole");
_Static_assert(BUFFER_BYTES % STRIPE == 0, "the buffer is whole stripes");

/* The default secret of XXH3 (its kSecret). */
static const unsigned char secret[SECRET_BYTES] = {
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
};

/* Where the long path's keys start in the secret. */
#define LAST_STRIPE_KEY (SECRET_BYTES - STRIPE - 7) /* the final stripe's */
#define SCRAMBLE_KEY (SECRET_BYTES - STRIPE)        /* the scramble's */
#define MERGE_KEY 11                                /* the merge's */
#define MID_TAIL_KEY (136 - 17)                     /* 129-240: the last 16 bytes' */
#define MID_LATER_KEY 3                             /* 129-240: chunks 8 and on */

/* ---- arithmetic ----------------------------------------------------------- */


static inline uint32_t read32(const unsigned char *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
#else
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

static inline void write64(unsigned char *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(p, &v, 8);
#else
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i);
#endif
}

static inline uint64_t rotl64(uint64_t x, unsigned r) { return x << r | x >> (64 - r); }


/* XXH64's final mix (the 0-3 byte paths). */
static inline uint64_t avalanche64(uint64_t h) {
  h ^= h >> 33;
  h *= P64_2;
  h ^= h >> 29;
  h *= P64_3;
  return h ^ (h >> 32);
}

/* XXH3's final mix (9 bytes and up). */
static inline uint64_t avalanche(uint64_t h) {
  h ^= h >> 37;
  h *= MX1;
  return h ^ (h >> 32);
}

/* The 4-8 byte path's final mix, which takes the length in. */
static inline uint64_t rrmxmx(uint64_t h, uint64_t n) {
  h ^= rotl64(h, 49) ^ rotl64(h, 24);
  h *= MX2;
  h ^= (h >> 35) + n;
  h *= MX2;
  return h ^ (h >> 28);
}

/* 16 input bytes against 16 secret bytes, the seed added to the first
 * secret word and subtracted from the second: their folded product. */
static inline uint64_t mix16(const unsigned char *p, const unsigned char *key, uint64_t seed) {
  return ph__fold(ph__load_le64(p) ^ (ph__load_le64(key) + seed), ph__load_le64(p + 8) ^ (ph__load_le64(key + 8) - seed));
}

/* The long path's secret for `seed`: the default one for 0, else derived into `room`. */
static const unsigned char *secret_for(uint64_t seed, derived_secret *room) {
  if (seed == 0) return secret;
  for (size_t i = 0; i < SECRET_BYTES; i += 16) {
    write64(room->bytes + i, ph__load_le64(secret + i) + seed);
    write64(room->bytes + i + 8, ph__load_le64(secret + i + 8) - seed);
  }
  return room->bytes;
}

/* ---- short inputs (at most SHORT_MAX bytes; the default secret and the seed) --- */

static uint64_t hash_upto16(const unsigned char *p, size_t n, uint64_t seed) {
  if (n > 8) {
    uint64_t lo = ph__load_le64(p) ^ ((ph__load_le64(secret + 24) ^ ph__load_le64(secret + 32)) + seed);
    uint64_t hi = ph__load_le64(p + n - 8) ^ ((ph__load_le64(secret + 40) ^ ph__load_le64(secret + 48)) - seed);
    return avalanche((uint64_t)n + __builtin_bswap64(lo) + hi + ph__fold(lo, hi));
  }
  if (n >= 4) {
    /* The seed's low half, byte-swapped, also goes into its high half. */
    uint64_t mixed = seed ^ (uint64_t)__builtin_bswap32((uint32_t)seed) << 32;
    uint64_t word = (uint64_t)read32(p) << 32 | read32(p + n - 4); /* the two may overlap */
    return rrmxmx(word ^ ((ph__load_le64(secret + 8) ^ ph__load_le64(secret + 16)) - mixed), n);
  }
  if (n > 0) {
    uint32_t packed = (uint32_t)p[0] << 16 | (uint32_t)p[n >> 1] << 24 | (uint32_t)p[n - 1] | (uint32_t)n << 8;
    return avalanche64(packed ^ ((uint64_t)(read32(secret) ^ read32(secret + 4)) + seed));
  }
  return avalanche64(seed ^ ph__load_le64(secret + 56) ^ ph__load_le64(secret + 64));
}

/* 17-128 bytes: pair i is the 16 bytes at 16i and the 16 ending 16i from
 * the end, keyed by secret bytes 32i..32i+31; one pair per 32 bytes. */
static uint64_t hash_upto128(const unsigned char *p, size_t n, uint64_t seed) {
  uint64_t acc = (uint64_t)n * P64_1;
  size_t pairs = (n - 1) / 32 + 1;
  for (size_t i = 0; i < pairs; i++) {
    acc += mix16(p + 16 * i, secret + 32 * i, seed);
    acc += mix16(p + n - 16 * (i + 1), secret + 32 * i + 16, seed);
  }
  return avalanche(acc);
}

/* 129-240 bytes: the first 8 chunks keyed from the secret's start, an
 * avalanche, the later whole chunks keyed from byte 3, and the last 16
 * bytes keyed from byte 119. */
static uint64_t hash_upto240(const unsigned char *p, size_t n, uint64_t seed) {
  uint64_t acc = (uint64_t)n * P64_1;
  for (size_t i = 0; i < 8; i++) acc += mix16(p + 16 * i, secret + 16 * i, seed);
  acc = avalanche(acc);
  for (size_t i = 8; i < n / 16; i++) acc += mix16(p + 16 * i, secret + 16 * (i - 8) + MID_LATER_KEY, seed);
  acc += mix16(p + n - 16, secret + MID_TAIL_KEY, seed);
  return avalanche(acc);
}

static uint64_t hash_short(const unsigned char *p, size_t n, uint64_t seed) {
  if (n <= 16) return hash_upto16(p, n, seed);
  if (n <= 128) return hash_upto128(p, n, seed);
  return hash_upto240(p, n, seed);
}

/* ---- long inputs: lanes over stripes, keyed by `sec` (secret_for's) --------- */

static void lanes_init(uint64_t acc[LANES]) {
  const uint64_t start[LANES] = {P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1};
  memcpy(acc, start, sizeof start);
}

/* One stripe into the lanes: each lane adds its neighbour's input word and
 * the product of the halves of its own word xor key. */
static inline void stripe(uint64_t acc[LANES], const unsigned char *p, const unsigned char *key) {
  for (unsigned i = 0; i < LANES; i++) {
    uint64_t word = ph__load_le64(p + 8 * i);
    uint64_t keyed = word ^ ph__load_le64(key + 8 * i);
    acc[i ^ 1] += word;
    acc[i] += (keyed & 0xffffffffu) * (keyed >> 32);
  }
}

static inline void scramble(uint64_t acc[LANES], const unsigned char *sec) {
  for (unsigned i = 0; i < LANES; i++) {
    uint64_t a = acc[i];
    a ^= a >> 47;
    a ^= ph__load_le64(sec + SCRAMBLE_KEY + 8 * i);
    acc[i] = a * P32_1;
  }
}

/* `count` stripes at p into the lanes, the first being stripe *done of its
 * block; a block's 16th stripe is followed by a scramble. Every stripe
 * given here must have input after it. */
static void stripes(uint64_t acc[LANES], uint32_t *done, const unsigned char *p, size_t count, const unsigned char *sec) {
  while (count > 0) {
    size_t room = BLOCK_STRIPES - *done;
    size_t now = count < room ? count : room;
    const unsigned char *key = sec + (size_t)*done * KEY_STEP;
    for (size_t s = 0; s < now; s++) stripe(acc, p + s * STRIPE, key + s * KEY_STEP);
    p += now * STRIPE;
    count -= now;
    *done += (uint32_t)now;
    if (*done == BLOCK_STRIPES) {
      scramble(acc, sec);
      *done = 0;
    }
  }
}

/* The input's last 64 bytes as the final stripe, then the lanes merged in
 * pairs with the total length. */
static uint64_t finish_long(uint64_t acc[LANES], const unsigned char *last, uint64_t total, const unsigned char *sec) {
  stripe(acc, last, sec + LAST_STRIPE_KEY);
  uint64_t h = total * P64_1;
  for (unsigned i = 0; i < LANES / 2; i++) {
    const unsigned char *key = sec + MERGE_KEY + 16 * i;
    h += ph__fold(acc[2 * i] ^ ph__load_le64(key), acc[2 * i + 1] ^ ph__load_le64(key + 8));
  }
  return avalanche(h);
}

static uint64_t hash_long(const unsigned char *p, size_t n, uint64_t seed) {
  derived_secret room;
  const unsigned char *sec = secret_for(seed, &room);
  uint64_t acc[LANES];
  uint32_t done = 0;
  lanes_init(acc);
  stripes(acc, &done, p, (n - 1) / STRIPE, sec);
  return finish_long(acc, p + n - STRIPE, n, sec);
}

PH_API uint64_t ph_xxh3_64_seeded(const void *p, size_t n, uint64_t seed) {
  if (p == NULL && n > 0) {
    ph__fail(PH_EINVAL);
    return 0;
  }
  return n <= SHORT_MAX ? hash_short(p, n, seed) : hash_long(p, n, seed);
}

PH_API uint64_t ph_xxh3_64(const void *p, size_t n) { return ph_xxh3_64_seeded(p, n, 0); }

/* ---- streaming ----------------------------------------------------------- */

/*
 * Keeps: buffered <= BUFFER_BYTES, done < BLOCK_STRIPES, buffered <= total.
 * While total <= BUFFER_BYTES nothing is hashed and buf holds the whole
 * input. Afterwards buf holds the input's unhashed end (at least one byte);
 * when that is shorter than a stripe, buf's last stripe is the last stripe
 * hashed, so the final 64 bytes are always at hand. The seed's secret is
 * derived again whenever stripes are hashed rather than kept, so a state
 * holds nothing that could disagree with its seed.
 */
typedef struct {
  uint64_t acc[LANES];
  uint64_t seed;
  uint64_t total;    /* bytes given since the reset */
  uint32_t buffered; /* bytes at the start of buf not yet hashed */
  uint32_t done;     /* stripes of the current block hashed */
  unsigned char buf[BUFFER_BYTES];
} xxh3_state;

/* A state whose counters are in range, so no access leaves it. */
static bool state_usable(const void *state) {
  if (state == NULL || (uintptr_t)state % _Alignof(xxh3_state) != 0) return false;
  const xxh3_state *s = state;
  return s->buffered <= BUFFER_BYTES && s->done < BLOCK_STRIPES && s->buffered <= s->total;
}

PH_API size_t ph_xxh3_state_size(void) { return sizeof(xxh3_state); }

PH_API void ph_xxh3_reset_seeded(void *state, uint64_t seed) {
  if (state == NULL || (uintptr_t)state % _Alignof(xxh3_state) != 0) return;
  xxh3_state *s = state;
  memset(s, 0, sizeof *s);
  lanes_init(s->acc);
  s->seed = seed;
}

PH_API void ph_xxh3_reset(void *state) { ph_xxh3_reset_seeded(state, 0); }

PH_API int ph_xxh3_update(void *state, const void *p, size_t n) {
  if (!state_usable(state) || (p == NULL && n > 0)) return ph__fail(PH_EINVAL);
  xxh3_state *s = state;
  const unsigned char *in = p;
  s->total += n;
  if (n <= BUFFER_BYTES - s->buffered) {
    if (n > 0) memcpy(s->buf + s->buffered, in, n);
    s->buffered += (uint32_t)n;
    return 0;
  }
  /* More than the buffer holds, so every stripe before the last byte can
   * be hashed: first the buffer's, topped up... */
  derived_secret room;
  const unsigned char *sec = secret_for(s->seed, &room);
  if (s->buffered > 0) {
    size_t top = BUFFER_BYTES - s->buffered;
    memcpy(s->buf + s->buffered, in, top);
    in += top;
    n -= top;
    stripes(s->acc, &s->done, s->buf, BUFFER_BYTES / STRIPE, sec);
    s->buffered = 0;
  }
  /* ...then the input's in place, leaving more than 3 stripes (at least
   * one stripe and one byte) to buffer, so no earlier bytes are needed. */
  if (n > BUFFER_BYTES) {
    size_t count = (n - 1) / STRIPE - (BUFFER_BYTES / STRIPE - 1);
    stripes(s->acc, &s->done, in, count, sec);
    in += count * STRIPE;
    n -= count * STRIPE;
  }
  memcpy(s->buf, in, n); /* 1..BUFFER_BYTES bytes; short of a stripe only after a top-up */
  s->buffered = (uint32_t)n;
  return 0;
}

PH_API uint64_t ph_xxh3_64_digest(const void *state) {
  if (!state_usable(state)) {
    ph__fail(PH_EINVAL);
    return 0;
  }
  const xxh3_state *s = state;
  if (s->total <= SHORT_MAX) return hash_short(s->buf, (size_t)s->total, s->seed);
  derived_secret room;
  const unsigned char *sec = secret_for(s->seed, &room);
  uint64_t acc[LANES];
  uint32_t done = s->done;
  memcpy(acc, s->acc, sizeof acc);
  unsigned char last[STRIPE];
  if (s->buffered >= STRIPE) {
    stripes(acc, &done, s->buf, (s->buffered - 1) / STRIPE, sec);
    memcpy(last, s->buf + s->buffered - STRIPE, STRIPE);
  } else {
    size_t before = STRIPE - s->buffered; /* from the last stripe hashed */
    memcpy(last, s->buf + BUFFER_BYTES - before, before);
    memcpy(last + before, s->buf, s->buffered);
  }
  return finish_long(acc, last, s->total, sec);
}
