/*
 * checksum.c - the heap checksum: a sum of keyed page hashes, so that it can
 * be kept up to date one changed page at a time.
 *
 * Owns: the checksum's definition (docs/checksum.md states it for readers,
 * test/support/checksum-reference.ts computes it from that text), its full
 * form ph_checksum and its incremental form ph_checksum_update.
 * Keeps: every kernel gives the same page hash on every platform and byte
 * order (words are read little endian); a failed update changes nothing.
 *
 * Definition. Arithmetic is modulo 2^64. lo(x) and hi(x) are the low and
 * high 32 bits of x. fold(a, b) is the low 64 bits of the 128-bit product
 * a * b, xor its high 64 bits. mix(x) is the bijection
 *     x ^= x >> 32; x *= M1; x ^= x >> 29; x *= M2; x ^= x >> 32.
 * The constants K_WORD, K_P, K_W, K_INDEX, K_LENGTH, M1, M2 are the first
 * 64 bits of the fractional parts of the square roots of 2, 3, 5, 7, 11,
 * 13 and 17, with the lowest bit set.
 *
 * Page hash H(i) of page i, bytes [4096 i, 4096 i + 4096) of the region,
 * where the region's bytes [PH_LOCK_BLOCK_OFFSET, PH_LOCK_BLOCK_END) read
 * as zero (the lock block is the region's, not the heap's):
 *     w_j  = bytes 8j .. 8j + 7 of the page as a little-endian u64 (j < 512)
 *     x_j  = w_j ^ ((j + 1) * K_WORD)
 *     P_l  = sum of lo(x_j) * hi(x_j) over j = l mod 8      (l = 0 .. 7)
 *     W_l  = sum of w_j over j = l mod 8
 *     s    = sum over l of fold(P_l ^ ((l + 1) * K_P), W_l ^ ((l + 1) * K_W))
 *     H(i) = mix(s ^ ((i + 1) * K_INDEX))
 * Checksum of a used prefix of n pages (u = 4096 n bytes):
 *     S = sum of H(i) over i < n
 *     C = mix(S ^ mix(u ^ K_LENGTH))
 * A length that is not whole pages has no checksum (PH_EINVAL): every used
 * prefix of a heap, and so every snapshot image, is whole pages.
 *
 * Why this shape. The products lo * hi are 32 x 32 -> 64-bit multiplies,
 * which vector units do four or eight at a time (SSE2 pmuludq, AVX2,
 * NEON umull), so a page costs about what reading it costs; one 64 x 64 ->
 * 128-bit product per 16 bytes measured 1.5x the time of xxHash3 on 64 MiB
 * on this project's machine. The keys make a word's place count; the raw
 * sums W_l catch a change in a word whose product is zero (one half equal
 * to its key's). The eight lanes are folded with 128-bit products once per
 * page, so a change can hide another only within one lane of one page. The
 * sum over pages is what makes the checksum incremental: a changed page's
 * term is subtracted and its new term added.
 *
 * Not a cryptographic hash: it tells states apart, it does not resist
 * someone who crafts collisions.
 */
#include "internal.h"

#define K_WORD 0x6a09e667f3bcc909ull   /* sqrt(2), lowest bit set */
#define K_P 0xbb67ae8584caa73bull      /* sqrt(3) */
#define K_W 0x3c6ef372fe94f82bull      /* sqrt(5) */
#define K_INDEX 0xa54ff53a5f1d36f1ull  /* sqrt(7) */
#define K_LENGTH 0x510e527fade682d1ull /* sqrt(11) */
#define M1 0x9b05688c2b3e6c1full       /* sqrt(13) */
#define M2 0x1f83d9abfb41bd6bull       /* sqrt(17) */

#define LANES 8u
#define PAGE_WORDS (PH_PAGE_SIZE / 8u)
#define LOCK_PAGE (PH_LOCK_BLOCK_OFFSET / PH_PAGE_SIZE)

_Static_assert(LOCK_PAGE == (PH_LOCK_BLOCK_END - 1u) / PH_PAGE_SIZE, "the lock block lies in one page");
_Static_assert(PAGE_WORDS % LANES == 0, "a page is whole rows of lanes");

/* ---- arithmetic --------------------------------------------------------- */


/* fold from 32-bit halves, for targets without a 128-bit type (32-bit
 * ones): the schoolbook product, the same 128 bits. Built everywhere so the
 * tests can compare it with the compiler's product. */
uint64_t ph__fold_halves(uint64_t a, uint64_t b) {
  uint64_t al = a & 0xffffffffu, ah = a >> 32, bl = b & 0xffffffffu, bh = b >> 32;
  uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu); /* < 3 * 2^32: no overflow */
  uint64_t low = (mid << 32) | (ll & 0xffffffffu);
  uint64_t high = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
  return low ^ high;
}


static inline uint64_t mix(uint64_t x) {
  x ^= x >> 32;
  x *= M1;
  x ^= x >> 29;
  x *= M2;
  x ^= x >> 32;
  return x;
}

/* ---- page kernels: the sum s of one page ---------------------------------- */
/* Each kernel computes the lane sums P_l and W_l of a page and returns s,
 * their folds added up. */

static inline uint64_t fold_lane(uint64_t p, uint64_t w, unsigned l) {
  return ph__fold(p ^ ((l + 1) * K_P), w ^ ((l + 1) * K_W));
}

/* Plain C, for every target; compilers may vectorise it. */
static uint64_t page_sum_portable(const unsigned char *page) {
  uint64_t p[LANES] = {0}, w[LANES] = {0}, key[LANES];
  for (unsigned l = 0; l < LANES; l++) key[l] = (l + 1) * K_WORD;
  for (size_t at = 0; at < PH_PAGE_SIZE; at += 8 * LANES) {
    for (unsigned l = 0; l < LANES; l++) {
      uint64_t word = ph__load_le64(page + at + 8 * l), x = word ^ key[l];
      p[l] += (x & 0xffffffffu) * (x >> 32);
      w[l] += word;
      key[l] += LANES * K_WORD;
    }
  }
  uint64_t s = 0;
  for (unsigned l = 0; l < LANES; l++) s += fold_lane(p[l], w[l], l);
  return s;
}

/*
 * x86-64 kernels, built for any x86-64 (the library's baseline CPU) and
 * chosen at run time by what the CPU and the OS support. An instruction
 * set, not a platform: the same on every x86-64 system. AVX-512 does a
 * whole row of eight lanes per instruction: 4 MiB in cache measured 78 us
 * against 100 us with AVX2 (and 75 us for xxHash3) on this project's AMD
 * EPYC. The lanes leave the vector registers by extraction, not through
 * memory, whose reload cost about 10 ns a page.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PH_CHECKSUM_X86 1
#include <cpuid.h>
#include <immintrin.h>

/* The folds of lanes 0-3 (p, w) and 4-7 (q, v). */
__attribute__((target("avx2"))) static inline uint64_t fold_vectors(__m256i p, __m256i w, __m256i q, __m256i v) {
  return fold_lane((uint64_t)_mm256_extract_epi64(p, 0), (uint64_t)_mm256_extract_epi64(w, 0), 0) +
         fold_lane((uint64_t)_mm256_extract_epi64(p, 1), (uint64_t)_mm256_extract_epi64(w, 1), 1) +
         fold_lane((uint64_t)_mm256_extract_epi64(p, 2), (uint64_t)_mm256_extract_epi64(w, 2), 2) +
         fold_lane((uint64_t)_mm256_extract_epi64(p, 3), (uint64_t)_mm256_extract_epi64(w, 3), 3) +
         fold_lane((uint64_t)_mm256_extract_epi64(q, 0), (uint64_t)_mm256_extract_epi64(v, 0), 4) +
         fold_lane((uint64_t)_mm256_extract_epi64(q, 1), (uint64_t)_mm256_extract_epi64(v, 1), 5) +
         fold_lane((uint64_t)_mm256_extract_epi64(q, 2), (uint64_t)_mm256_extract_epi64(v, 2), 6) +
         fold_lane((uint64_t)_mm256_extract_epi64(q, 3), (uint64_t)_mm256_extract_epi64(v, 3), 7);
}

/* Lanes 0-3 and 4-7 in two vectors, 64 bytes a step. */
__attribute__((target("avx2"))) static uint64_t page_sum_avx2(const unsigned char *page) {
  __m256i p0 = _mm256_setzero_si256(), p1 = p0, w0 = p0, w1 = p0;
  __m256i k0 = _mm256_setr_epi64x((long long)(1 * K_WORD), (long long)(2 * K_WORD), (long long)(3 * K_WORD), (long long)(4 * K_WORD));
  __m256i k1 = _mm256_setr_epi64x((long long)(5 * K_WORD), (long long)(6 * K_WORD), (long long)(7 * K_WORD), (long long)(8 * K_WORD));
  const __m256i step = _mm256_set1_epi64x((long long)(LANES * K_WORD));
  for (size_t at = 0; at < PH_PAGE_SIZE; at += 64) {
    __m256i v0 = _mm256_loadu_si256((const __m256i *)(const void *)(page + at));
    __m256i v1 = _mm256_loadu_si256((const __m256i *)(const void *)(page + at + 32));
    __m256i x0 = _mm256_xor_si256(v0, k0), x1 = _mm256_xor_si256(v1, k1);
    p0 = _mm256_add_epi64(p0, _mm256_mul_epu32(x0, _mm256_srli_epi64(x0, 32))); /* lo(x) * hi(x) per lane */
    p1 = _mm256_add_epi64(p1, _mm256_mul_epu32(x1, _mm256_srli_epi64(x1, 32)));
    w0 = _mm256_add_epi64(w0, v0);
    w1 = _mm256_add_epi64(w1, v1);
    k0 = _mm256_add_epi64(k0, step);
    k1 = _mm256_add_epi64(k1, step);
  }
  return fold_vectors(p0, w0, p1, w1);
}

/* The eight lanes in one vector; two rows (128 bytes) a step, summed at the end. */
__attribute__((target("avx512f,avx2"))) static uint64_t page_sum_avx512(const unsigned char *page) {
  __m512i p0 = _mm512_setzero_si512(), p1 = p0, w0 = p0, w1 = p0;
  __m512i k0 = _mm512_setr_epi64((long long)(1 * K_WORD), (long long)(2 * K_WORD), (long long)(3 * K_WORD), (long long)(4 * K_WORD),
                                 (long long)(5 * K_WORD), (long long)(6 * K_WORD), (long long)(7 * K_WORD), (long long)(8 * K_WORD));
  const __m512i step = _mm512_set1_epi64((long long)(2 * LANES * K_WORD));
  __m512i k1 = _mm512_add_epi64(k0, _mm512_set1_epi64((long long)(LANES * K_WORD)));
  for (size_t at = 0; at < PH_PAGE_SIZE; at += 128) {
    __m512i v0 = _mm512_loadu_si512((const void *)(page + at));
    __m512i v1 = _mm512_loadu_si512((const void *)(page + at + 64));
    __m512i x0 = _mm512_xor_si512(v0, k0), x1 = _mm512_xor_si512(v1, k1);
    p0 = _mm512_add_epi64(p0, _mm512_mul_epu32(x0, _mm512_srli_epi64(x0, 32)));
    p1 = _mm512_add_epi64(p1, _mm512_mul_epu32(x1, _mm512_srli_epi64(x1, 32)));
    w0 = _mm512_add_epi64(w0, v0);
    w1 = _mm512_add_epi64(w1, v1);
    k0 = _mm512_add_epi64(k0, step);
    k1 = _mm512_add_epi64(k1, step);
  }
  __m512i p = _mm512_add_epi64(p0, p1), w = _mm512_add_epi64(w0, w1);
  return fold_vectors(_mm512_castsi512_si256(p), _mm512_castsi512_si256(w), _mm512_extracti64x4_epi64(p, 1), _mm512_extracti64x4_epi64(w, 1));
}

/* The best kernel the CPU runs and the OS saves the registers of (XCR0:
 * bits 1-2 for AVX, also 5-7 for AVX-512): PH__CHECKSUM_PORTABLE,
 * PH__CHECKSUM_AVX2 or PH__CHECKSUM_AVX512. */
static int cpu_kernel(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX)) return PH__CHECKSUM_PORTABLE;
  unsigned xcr0, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0), "=d"(xcr0_hi) : "c"(0));
  (void)xcr0_hi;
  if ((xcr0 & 0x6u) != 0x6u || !__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & bit_AVX2)) return PH__CHECKSUM_PORTABLE;
  if ((xcr0 & 0xe6u) == 0xe6u && (b & bit_AVX512F)) return PH__CHECKSUM_AVX512;
  return PH__CHECKSUM_AVX2;
}
#else
static int cpu_kernel(void) { return PH__CHECKSUM_PORTABLE; }
#endif

typedef uint64_t (*page_sum_fn)(const unsigned char *page);

/* What PH__CHECKSUM_BEST is here. Looked up once per process (cpuid can
 * cost microseconds in a virtual machine); a race only repeats it. */
static int best_kernel(void) {
  static int best = -1; /* -1: not looked up yet */
  int known = __atomic_load_n(&best, __ATOMIC_RELAXED);
  if (known < 0) {
    known = cpu_kernel();
    __atomic_store_n(&best, known, __ATOMIC_RELAXED);
  }
  return known;
}

bool ph__checksum_kernel_runs(int kernel) {
  return kernel == PH__CHECKSUM_BEST || kernel == PH__CHECKSUM_PORTABLE || (kernel <= best_kernel() && kernel >= 0);
}

/* The kernel `kernel` names, when it runs here (the portable one otherwise). */
static page_sum_fn kernel_of(int kernel) {
  if (kernel == PH__CHECKSUM_BEST) kernel = best_kernel();
  if (!ph__checksum_kernel_runs(kernel)) kernel = PH__CHECKSUM_PORTABLE;
#if PH_CHECKSUM_X86
  if (kernel == PH__CHECKSUM_AVX512) return page_sum_avx512;
  if (kernel == PH__CHECKSUM_AVX2) return page_sum_avx2;
#endif
  return page_sum_portable;
}

const char *ph__checksum_kernel_name(void) {
  switch (best_kernel()) {
  case PH__CHECKSUM_AVX512: return "avx512";
  case PH__CHECKSUM_AVX2: return "avx2";
  default: return "portable";
  }
}

/* ---- page hash and checksum --------------------------------------------- */

/* The lock page with its lock block zeroed, hashed from a copy (out of
 * line: its 4 KiB buffer stays off the common path's stack). */
__attribute__((noinline)) static uint64_t lock_page_sum(page_sum_fn page_sum, const unsigned char *page) {
  unsigned char masked[PH_PAGE_SIZE];
  memcpy(masked, page, PH_PAGE_SIZE);
  memset(masked + (PH_LOCK_BLOCK_OFFSET - LOCK_PAGE * PH_PAGE_SIZE), 0, PH_LOCK_BLOCK_END - PH_LOCK_BLOCK_OFFSET);
  return page_sum(masked);
}

static inline uint64_t page_hash_with(page_sum_fn page_sum, const unsigned char *region, uint64_t i) {
  const unsigned char *page = region + i * PH_PAGE_SIZE;
  uint64_t s = PH_UNLIKELY(i == LOCK_PAGE) ? lock_page_sum(page_sum, page) : page_sum(page);
  return mix(s ^ ((i + 1) * K_INDEX));
}

uint64_t ph__page_hash(const void *region, uint64_t i, int kernel) {
  return page_hash_with(kernel_of(kernel), region, i);
}

static uint64_t checksum_of_sum(uint64_t sum, uint64_t used) {
  return mix(sum ^ mix(used ^ K_LENGTH));
}

int ph_checksum(const void *bytes, size_t used, uint64_t *out) {
  if (!out || used % PH_PAGE_SIZE != 0 || (!bytes && used > 0)) return ph__fail(PH_EINVAL);
  page_sum_fn page_sum = kernel_of(PH__CHECKSUM_BEST);
  uint64_t sum = 0, n = used / PH_PAGE_SIZE;
  for (uint64_t i = 0; i < n; i++) sum += page_hash_with(page_sum, bytes, i);
  *out = checksum_of_sum(sum, used);
  return 0;
}

int ph_checksum_update(const void *region, size_t used, uint64_t *hashes, size_t capacity, uint64_t *state, const uint32_t *pages, uint32_t n) {
  /* Everything is checked before anything is written. */
  if (!state || used % PH_PAGE_SIZE != 0 || (!region && used > 0) || (!hashes && capacity > 0) || (!pages && n > 0))
    return ph__fail(PH_EINVAL);
  size_t now = used / PH_PAGE_SIZE;
  uint64_t before = state[1];
  if (now > capacity || before > capacity) return ph__fail(PH_EINVAL);
  for (uint32_t k = 0; k < n; k++)
    if (pages[k] >= capacity) return ph__fail(PH_EINVAL);

  page_sum_fn page_sum = kernel_of(PH__CHECKSUM_BEST);
  uint64_t sum = state[0];
  for (uint64_t i = before; i < now; i++) { /* the prefix grew: pages new to it */
    hashes[i] = page_hash_with(page_sum, region, i);
    sum += hashes[i];
  }
  for (uint64_t i = now; i < before; i++) sum -= hashes[i]; /* it shrank */
  for (uint32_t k = 0; k < n; k++) {
    uint64_t p = pages[k];
    if (p >= now || p >= before) continue; /* outside the prefix, or hashed just now */
    sum -= hashes[p];
    hashes[p] = page_hash_with(page_sum, region, p);
    sum += hashes[p];
  }
  state[0] = sum;
  state[1] = now;
  state[2] = checksum_of_sum(sum, used);
  return 0;
}
