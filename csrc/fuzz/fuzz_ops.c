/*
 * fuzz_ops.c - libFuzzer target: a real heap with chosen header fields, map
 * entries and bitmap words overwritten, attached with ph_heap_attach alone
 * (no full check), then a chosen sequence of operations.
 *
 * The contract under test: whatever the bytes, every call returns, in
 * bounded time, either a result inside the region (then written in full) or
 * a code, and nothing outside the region is written (guard pages surround
 * it; ASan and UBSan watch the rest).
 *
 * Input: byte 0 picks the image (plain, PH_ZERO_ON_FREE or PH_ZERO_REENTRY); byte 1 the
 * number of damages (0..15), each 7 bytes (what, which, how, value:4); the
 * rest are operations of 3 bytes (op, a, b), followed by BURST more drawn
 * from a generator seeded with the input (so a short input still runs many
 * operations on its damage, deterministically). Damage values are raw or
 * made from the image (another run head, hwm, a neighbour), so they reach
 * the links the allocator follows rather than only random bytes.
 * Build and run: bash scripts/fuzz.sh [seconds]
 */
#define _GNU_SOURCE 1 /* memfd_create */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define IMAGE ((size_t)6 << 20) /* three map chunks */
#define NIMAGES 3
#define MAX_LIVE 64
#define BURST 48 /* generated operations after the input's own */

static unsigned char *pristine[NIMAGES];
static int pristine_fd[NIMAGES]; /* the same bytes, mapped privately over work for each input */
static size_t pristine_used[NIMAGES];
static uint32_t heads[NIMAGES][4096]; /* run heads of each image, for damage values */
static uint32_t nheads[NIMAGES];
static unsigned char *work; /* IMAGE bytes between two PROT_NONE guard pages */
static unsigned long long ops_run, images_run;

static void report(void) {
  fprintf(stderr, "fuzz_ops: %llu images attached, %llu operations\n", images_run, ops_run);
}

static uint32_t load32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A heap with every structure in use: free lists and tree, bins with cur and
 * listed runs, a scratch cursor, three leaves. */
static void build(int k) {
  pristine[k] = mmap(NULL, IMAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  static const unsigned modes[NIMAGES] = {0, PH_ZERO_ON_FREE, PH_ZERO_REENTRY};
  ph_heap_t *h = ph_heap_init(pristine[k], IMAGE, PH_REGION_ZEROED | modes[k]);
  static void *ps[4000];
  int n = 0;
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 900; i++) ps[n++] = ph_heap_malloc(h, (size_t)(i * 37 % 1800) + 1);
  for (int i = 0; i < n; i += 3) ph_heap_free(h, ps[i]);
  void *l[10];
  for (int i = 0; i < 10; i++) l[i] = ph_heap_malloc(h, (size_t)(i * 17 % 70 + 1) << PH_LG_PAGE);
  for (int i = 0; i < 10; i += 2) ph_heap_free(h, l[i]);
  if (!ph_heap_malloc(h, (size_t)700 << PH_LG_PAGE) || ph_heap_set_root(h, "root", 4096 * 9) != 0) abort();
  int scratch = 0; /* the image fills up: later requests fail, as they always did here */
  for (int i = 0; i < 300; i++) scratch += ph_scratch_alloc(h, (size_t)i * 29) != NULL;
  if (scratch == 0 || h->scratch_chunks == 0) abort(); /* a cursor to damage */
  if (ph_heap_check(h, IMAGE) != 0) abort();
  pristine_used[k] = ph_heap_used_bytes(h);
  for (uint32_t p = h->base_pages; p < h->hwm && nheads[k] < 4096; p++) {
    uint32_t kind = ph__kind(ph__page(h, p));
    if (kind != PH_PK_NONE && kind != PH_PK_SMALL_BODY && kind != PH_PK_FREE_TAIL) heads[k][nheads[k]++] = p;
  }
  if (h->nleaves < 2 || nheads[k] == 0) abort();
  pristine_fd[k] = memfd_create("fuzz_ops", 0);
  if (pristine_fd[k] < 0 || write(pristine_fd[k], pristine[k], IMAGE) != (ssize_t)IMAGE) abort();
}

static void setup(void) {
  for (int k = 0; k < NIMAGES; k++) build(k);
  unsigned char *m = mmap(NULL, IMAGE + 2 * PH_PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  work = m + PH_PAGE_SIZE;
  mprotect(work, IMAGE, PROT_READ | PROT_WRITE);
  atexit(report);
}

/* A damage value: raw, or derived from the image so it passes the first
 * plausibility tests a random one would fail. */
static uint32_t value(const ph_heap_t *h, int k, uint8_t how, uint32_t raw, uint32_t old) {
  switch (how % 8) {
  case 0: return raw;
  case 1: return heads[k][raw % nheads[k]];
  case 2: return old + (raw % 16) - 8;
  case 3: return h->hwm - (raw % 4);
  case 4: return raw % 64;
  case 5: return 0;
  case 6: return old ^ (1u << (raw % 32));
  default: return heads[k][raw % nheads[k]] + (raw >> 24) % 8;
  }
}

static void damage(ph_heap_t *h, int k, const uint8_t *d) {
  uint8_t what = d[0], which = d[1], how = d[2];
  uint32_t raw = load32(d + 3);
  uint32_t *field = NULL;
  switch (what % 9) {
  case 8: { /* a bin's recent stack: four of its counts, or a slot (offset / 8) */
    ph_recent *r = ph__recent(h);
    unsigned c = which % PH_NCLASSES;
    if (which & 0x80) {
      field = (uint32_t *)(void *)&r->count[c & ~3u];
      break;
    }
    uint32_t *slot = &r->slot[c][(which >> 3) & (PH_RECENT_CAP - 1)];
    uint32_t v = value(h, k, how, raw, *slot >> (PH_LG_PAGE - 3)); /* a page, as the values are made */
    *slot = how % 8 == 0 || how % 8 == 6 ? v : (v << (PH_LG_PAGE - 3)) | ((raw >> 20) & 0x1F8u) >> 3;
    return;
  }
  case 0: field = &h->free_list[which % (PH_FREE_LISTS + 1)]; break;
  case 1: field = which & 1 ? &h->free_mask : &h->free_root; break;
  case 2: { /* a bin: cur, head, tail, or the fresh/freed counts */
    ph_bin *bin = &h->bins[which % PH_NCLASSES];
    uint32_t *f[4] = {&bin->cur, &bin->head, &bin->tail, (uint32_t *)(void *)&bin->fresh};
    field = f[(which >> 6) & 3];
    break;
  }
  case 3: { /* header scalars the allocator follows */
    uint32_t *f[8] = {&h->hwm, &h->nleaves, &h->touched, &h->newest_class,
                      (uint32_t *)(void *)&h->scratch_next, (uint32_t *)(void *)&h->scratch_end, &h->scratch_chunks,
                      &h->dir[1 + which % 2]};
    field = f[(which >> 5) & 7];
    break;
  }
  case 4: case 5: case 6: { /* a map entry word of a run head or a page next to one */
    const ph_heap_t *image = (const ph_heap_t *)(const void *)pristine[k]; /* h's header may be damaged already */
    uint32_t p = heads[k][raw % nheads[k]] + (which >> 6) % 3;
    if (p >= image->hwm) return;
    ph_page *e = (ph_page *)(void *)(work + ((const char *)ph__page(image, p) - (const char *)pristine[k]));
    uint32_t *f[4] = {&e->info, &e->size, &e->left, &e->right};
    field = f[which & 3];
    raw >>= 12; /* the low bits chose the page */
    break;
  }
  default: { /* a word anywhere in the used prefix: bitmaps, leaves, data */
    size_t at = ((size_t)raw * 4) % (pristine_used[k] - 4);
    field = (uint32_t *)(void *)(work + (at & ~(size_t)3));
    raw = load32(d + 1);
    break;
  }
  }
  *field = value(h, k, how, raw, *field);
}

/* Whether a result is a code or bytes inside the region. */
static void expect_in_region(const void *p, size_t n) {
  if (!p) {
    int e = ph_last_error();
    if (e != PH_ENOMEM && e != PH_ECORRUPT && e != PH_EBADPTR && e != PH_EDOUBLEFREE && e != PH_EINVAL) abort();
    return;
  }
  unsigned char *q = (unsigned char *)(uintptr_t)p;
  if (q < work + PH_PAGE_SIZE || q > work + IMAGE || n > (size_t)(work + IMAGE - q)) abort();
  if (n) q[0] = q[n - 1] = 0xC3; /* both ends writable (guard pages watch the region's ends) */
}

static void expect_code(int rc) {
  if (rc != 0 && rc != PH_ECORRUPT && rc != PH_EBADPTR && rc != PH_EDOUBLEFREE) abort();
}

static size_t size_of(uint8_t a, uint8_t b) {
  switch (a & 3) {
  case 0: return b;                               /* tiny */
  case 1: return (size_t)b * 29;                  /* small classes */
  case 2: return (size_t)b << 10;                 /* up to 256 KiB */
  default: return (size_t)(b % 8) << 20;          /* whole MiBs, beyond the region too */
  }
}

static int walk_visit(void *arg, uint64_t off, uint64_t size) {
  (void)arg;
  if (off < PH_PAGE_SIZE || off > IMAGE || size > IMAGE - off) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!work) setup();
  if (size < 2) return 0;
  int k = data[0] % NIMAGES;
  /* A private mapping of the image: a fresh copy that costs only the pages touched. */
  if (mmap(work, IMAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, pristine_fd[k], 0) != work) abort();
  ph_heap_t *h = (ph_heap_t *)(void *)work;
  size_t i = 2;
  for (unsigned d = 0; d < (data[1] & 15u) && i + 7 <= size; d++, i += 7) damage(h, k, data + i);
  images_run++;
  if (ph_heap_attach(work, IMAGE) == NULL) {
    int e = ph_last_error();
    if (e != PH_ECORRUPT && e != PH_ESIZE && e != PH_EVERSION && e != PH_EBUSY) {
      fprintf(stderr, "attach: %s\n", ph_strerror(e));
      abort();
    }
    return 0;
  }
  void *live[MAX_LIVE] = {0};
  uint64_t gen = 0xcbf29ce484222325ull; /* FNV-1a of the input seeds the burst */
  for (size_t j = 0; j < size; j++) gen = (gen ^ data[j]) * 0x100000001b3ull;
  size_t nops = (size - i) / 3 + BURST;
  for (size_t n = 0; n < nops; n++, i += 3) {
    uint8_t op, a, b;
    if (i + 3 <= size) {
      op = data[i], a = data[i + 1], b = data[i + 2];
    } else {
      gen ^= gen >> 12, gen ^= gen << 25, gen ^= gen >> 27;
      uint64_t r = gen * 2685821657736338717ull;
      op = (uint8_t)(r >> 40), a = (uint8_t)(r >> 48), b = (uint8_t)(r >> 56);
    }
    void **slot = &live[a % MAX_LIVE];
    ops_run++;
    switch (op % 12) {
    case 0: case 1: {
      size_t n = size_of(a, b);
      void *p = ph_heap_malloc(h, n);
      expect_in_region(p, n);
      if (p) *slot = p;
      break;
    }
    case 2: {
      size_t n = size_of(a, b);
      void *p = ph_heap_calloc(h, 1, n);
      expect_in_region(p, n);
      if (p) *slot = p;
      break;
    }
    case 3: {
      size_t n = size_of(b, a), align = (size_t)1 << (b % 20);
      void *p = ph_heap_aligned_alloc(h, align, n);
      expect_in_region(p, n);
      if (p && (((unsigned char *)p - work) & (align - 1))) abort(); /* offsets are aligned (the base only to a page) */
      if (p) *slot = p;
      break;
    }
    case 4: {
      size_t n = size_of(b, a);
      void *p = ph_heap_realloc(h, *slot, n);
      expect_in_region(p, n);
      if (p) *slot = p;
      break;
    }
    case 5: case 6:
      expect_code(ph_heap_free(h, *slot));
      *slot = NULL;
      break;
    case 7: { /* a pointer the program never got: a run head of the image, moved a little */
      uint64_t off = ((uint64_t)heads[k][((uint32_t)a << 8 | b) % nheads[k]] << PH_LG_PAGE) + (uint64_t)(b % 4) * 8 * a;
      if (off < IMAGE) expect_code(ph_heap_free(h, work + off));
      break;
    }
    case 8: {
      uint64_t off = ((uint64_t)heads[k][((uint32_t)a << 8 | b) % nheads[k]] << PH_LG_PAGE) + (uint64_t)b * 16;
      size_t n = off < IMAGE ? ph_heap_usable_size(h, work + off) : 0;
      if (n > IMAGE) abort();
      if (*slot) ph_heap_usable_size(h, *slot);
      break;
    }
    case 9: {
      size_t n = size_of(a, b) / 8;
      void *p = ph_scratch_alloc(h, n);
      expect_in_region(p, n);
      break;
    }
    case 10: {
      if (b > 16) break; /* a walk reads the whole map: now and then */
      int rc = ph_heap_walk(h, walk_visit, NULL);
      if (rc != 0 && rc != PH_ECORRUPT) abort();
      double out[32];
      rc = ph_off_walk(h, (double)((size_t)a << 14), out, 16);
      if (rc < 0 && rc != PH_ECORRUPT) abort();
      break;
    }
    default:
      if (a == 0 && b < 8) { /* a reset now and then: everything becomes sound again */
        ph_heap_reset(h);
        memset(live, 0, sizeof live);
      } else {
        ph_stats_t st;
        if (ph_heap_stats(h, &st) != 0) abort(); /* fails only for NULL arguments */
      }
      break;
    }
  }
  int broken = ph_heap_check(work, IMAGE); /* never faults, whatever the operations left */
  (void)broken;
  return 0;
}
