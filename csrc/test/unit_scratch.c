/* unit_scratch.c - frame scratch: the one rule of ph_scratch_refill_with
 * (chunk sizes, big requests, a chunk just big enough when the region is
 * nearly full) and its check of the cursor before it bumps it. */
#include "internal.h"
#include "harness.h"

#define MiB ((size_t)1 << 20)

static ph_heap_t *make(size_t size) {
  void *base = ph_region_map_anon(size);
  return base ? ph_heap_init(base, size, PH_REGION_ZEROED) : NULL;
}

static uint64_t off_of(const ph_heap_t *h, const void *p) { return (uint64_t)((const char *)p - (const char *)h); }

/* Bytes of the chunk under the cursor: its head is 16 bytes below the first
 * allocation made in it. */
static uint64_t chunk_bytes(const ph_heap_t *h, const void *first) { return h->scratch_end - (off_of(h, first) - 16); }

TEST(chunks_double_from_the_callers_first_size_in_whole_pages_up_to_the_max) {
  ph_heap_t *h = make(64 * MiB);
  REQUIRE(h);
  /* 20000 << n bytes rounded up to pages: 20000 is 4.9 pages, 40000 9.8,
   * 80000 19.5, 160000 39.1, 320000 78.1, 640000 156.3; then the max. */
  uint32_t pages[] = {5, 10, 20, 40, 79, 157, 256, 256};
  for (unsigned i = 0; i < sizeof pages / sizeof pages[0]; i++) {
    h->scratch_next = h->scratch_end; /* no room: the next request takes a chunk */
    char *p = ph_scratch_refill_with(h, 100, 20000, 1000);
    REQUIRE(p);
    EXPECT_EQ(chunk_bytes(h, p), (uint64_t)pages[i] * PH_PAGE_SIZE);
    EXPECT_EQ(h->scratch_chunks, i + 1);
    EXPECT_EQ(h->scratch_next, off_of(h, p) + 112);
    EXPECT_EQ(ph_heap_free(h, p), PH_EBADPTR); /* carved, not an allocation */
  }
  EXPECT_EQ(ph_heap_check(h, 64 * MiB), 0);
  /* A first size below a page run is a run of the smallest large size. */
  ph_heap_reset(h);
  char *p = ph_scratch_refill_with(h, 0, 64, 48);
  REQUIRE(p);
  EXPECT_EQ(chunk_bytes(h, p), 16384);
  /* ph_scratch_refill is the same rule with PH_SCRATCH_CHUNK and PH_SCRATCH_BIG. */
  ph_heap_reset(h);
  p = ph_scratch_refill(h, 8);
  REQUIRE(p);
  EXPECT_EQ(chunk_bytes(h, p), PH_SCRATCH_CHUNK);
  EXPECT_EQ(ph_heap_check(h, 64 * MiB), 0);
  ph_region_unmap(h, 64 * MiB);
}

TEST(above_big_a_request_that_does_not_fit_is_an_allocation_of_its_own) {
  ph_heap_t *h = make(16 * MiB);
  REQUIRE(h);
  char *own = ph_scratch_refill_with(h, 1001, 65536, 1000);
  REQUIRE(own);
  EXPECT(ph_heap_usable_size(h, own) >= 1001);
  EXPECT(h->scratch_next == 0 && h->scratch_end == 0 && h->scratch_chunks == 0); /* the cursor did not move */
  char *carved = ph_scratch_refill_with(h, 1000, 65536, 1000);
  REQUIRE(carved);
  EXPECT_EQ(ph_heap_usable_size(h, carved), 0);
  /* Once a chunk has room, anything that fits is carved, big or not (as inline). */
  char *fits = ph_scratch_refill_with(h, 5000, 65536, 1000);
  EXPECT(fits == carved + 1008);
  EXPECT_EQ(ph_heap_free(h, own), 0);
  EXPECT_EQ(ph_heap_check(h, 16 * MiB), 0);
  ph_region_unmap(h, 16 * MiB);
}

TEST(a_nearly_full_region_gets_a_chunk_just_big_enough) {
  ph_heap_t *h = make(1 * MiB);
  REQUIRE(h);
  char *p = ph_scratch_refill_with(h, 3000, PH_SCRATCH_CHUNK_MAX, 4096); /* 1 MiB cannot fit */
  REQUIRE(p);
  EXPECT_EQ(chunk_bytes(h, p), 16384);
  EXPECT_EQ(ph_heap_check(h, 1 * MiB), 0);
  ph_region_unmap(h, 1 * MiB);
}

TEST(bad_shapes_and_a_null_heap_are_einval) {
  ph_heap_t *h = make(4 * MiB);
  REQUIRE(h);
  EXPECT(ph_scratch_refill_with(NULL, 8, 65536, 4096) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_scratch_refill_with(h, 8, 0, 4096) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_scratch_refill_with(h, 8, PH_SCRATCH_CHUNK_MAX + 1, 4096) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_scratch_refill_with(h, 8, 65536, PH_SCRATCH_CHUNK_MAX - 15) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_scratch_refill_with(h, 8, PH_SCRATCH_CHUNK_MAX, PH_SCRATCH_CHUNK_MAX - 16) != NULL);
  EXPECT(h->scratch_chunks == 1);
  EXPECT_EQ(ph_heap_check(h, 4 * MiB), 0);
  ph_region_unmap(h, 4 * MiB);
}

/* A cursor that another writer moved out of its chunk: the refill refuses
 * to bump it (PH_ECORRUPT, nothing changes), and the checker reports it. */
TEST(a_refill_checks_the_cursor_before_it_bumps_it) {
  ph_heap_t *h = make(16 * MiB);
  REQUIRE(h);
  REQUIRE(ph_scratch_alloc(h, 64));
  unsigned char *block = ph_heap_malloc(h, 4096);
  REQUIRE(block);
  memset(block, 0xAB, 4096);
  uint64_t next = h->scratch_next, end = h->scratch_end;
  struct {
    uint64_t next, end;
  } bad[] = {
      {off_of(h, block) + 16, end},                /* next past end, into a live block (room wraps) */
      {64, end},                                   /* next in the header */
      {end - PH_SCRATCH_CHUNK, end},               /* next on the chunk's first 16 bytes */
      {next, end + 4096},                          /* end past the chunk */
      {off_of(h, block), off_of(h, block) + 4096}, /* a whole cursor over a live block */
  };
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    h->scratch_next = bad[i].next, h->scratch_end = bad[i].end;
    EXPECT_EQ(ph_heap_check(h, 16 * MiB), PH_ECORRUPT);
    EXPECT(ph_scratch_refill_with(h, 16, 65536, 4096) == NULL && ph_last_error() == PH_ECORRUPT);
    EXPECT(ph_scratch_refill(h, 0) == NULL && ph_last_error() == PH_ECORRUPT);
    EXPECT(h->scratch_next == bad[i].next && h->scratch_end == bad[i].end);
  }
  h->scratch_next = next, h->scratch_end = end;
  EXPECT_EQ(ph_heap_check(h, 16 * MiB), 0);
  for (int i = 0; i < 4096; i++)
    if (block[i] != 0xAB) {
      EXPECT(!"the block is intact");
      break;
    }
  ph_region_unmap(h, 16 * MiB);
}

TEST_MAIN()
