/* unit_runtree.c - AVL trees of runs: order, balance, lower bound, removal. */
#include "internal.h"
#include "harness.h"

/* Height of the subtree, or -1 if out of order or unbalanced. */
static int verify(ph_heap_t *h, uint32_t n, uint64_t lo, uint64_t hi, int *count) {
  if (!n) return 0;
  ph_page *e = ph__page(h, n);
  uint64_t key = ((uint64_t)e->size << 32) | n;
  if (key <= lo || key >= hi) return -1;
  (*count)++;
  int l = verify(h, e->left, lo, key, count), r = verify(h, e->right, key, hi, count);
  if (l < 0 || r < 0 || l - r > 1 || r - l > 1) return -1;
  int ht = 1 + (l > r ? l : r);
  return (int)PH_INFO_HEIGHT(e->info) == ht ? ht : -1;
}

TEST(free_tree_random_inserts_and_removals) {
  size_t size = 64u << 20;
  void *base = ph_region_map_anon(size);
  REQUIRE(base != NULL);
  ph_heap_t *h = ph_heap_init(base, size, 0);
  REQUIRE(h);
  /* Use leaf 0's pages as tree nodes; only their entries matter here (the
   * tree accepts only pages below hwm as nodes). */
  uint32_t lo = h->base_pages, n = 500;
  h->hwm = lo + n;
  static uint8_t in[600];
  memset(in, 0, sizeof in);
  uint64_t s = 99;
  test_seed = s;
  uint32_t root = 0;
  int members = 0;
  for (int step = 0; step < 20000; step++) {
    uint32_t p = lo + (uint32_t)(test_random(&s) % n);
    ph_page *e = ph__page(h, p);
    if (in[p - lo]) {
      EXPECT_EQ(ph__tree_remove(h, &root, p), 0);
      in[p - lo] = 0, members--;
    } else {
      e->info = PH_INFO(PH_PK_FREE, 0, 0, 0);
      e->size = 1 + (uint32_t)(test_random(&s) % 40);
      EXPECT_EQ(ph__tree_insert(h, &root, p), 0);
      in[p - lo] = 1, members++;
    }
    int count = 0;
    if (verify(h, root, 0, UINT64_MAX, &count) < 0 || count != members) {
      printf("#   step %d: tree broken\n", step);
      EXPECT(0);
      break;
    }
    /* lower bound equals a brute-force best fit */
    uint32_t want = 1 + (uint32_t)(test_random(&s) % 45), best = 0;
    for (uint32_t q = 0; q < n; q++) {
      if (!in[q]) continue;
      uint32_t sz = ph__page(h, lo + q)->size;
      if (sz >= want && (!best || sz < ph__page(h, best)->size)) best = lo + q;
    }
    uint32_t got = 1;
    if (ph__tree_lower_bound(h, root, want, &got) != 0 || got != best) {
      EXPECT(!"lower bound is the smallest fit at the lowest address");
      break;
    }
  }
  ph_region_unmap(base, size);
}

/* Nodes 0..k-1 of a valid tree over pages lo.. (sizes 100 + i). */
static uint32_t small_tree(ph_heap_t *h, uint32_t lo, uint32_t k) {
  uint32_t root = 0;
  for (uint32_t i = 0; i < k; i++) {
    ph_page *e = ph__page(h, lo + i);
    e->info = PH_INFO(PH_PK_FREE, 0, 0, 0);
    e->size = 100 + i;
    if (ph__tree_insert(h, &root, lo + i) != 0) return 0;
  }
  return root;
}

TEST(damaged_tree_links_are_ecorrupt_never_a_loop_or_a_stray_write) {
  size_t size = 16u << 20;
  void *base = ph_region_map_anon(size);
  REQUIRE(base != NULL);
  ph_heap_t *h = ph_heap_init(base, size, PH_REGION_ZEROED);
  REQUIRE(h);
  uint32_t lo = h->base_pages;
  h->hwm = h->touched = lo + 64;
  uint32_t root = small_tree(h, lo, 20), got;
  REQUIRE(root);
  /* a node that is its own child: every operation ends, with ECORRUPT */
  ph_page *r = ph__page(h, root);
  uint32_t l = r->left, rr = r->right;
  r->left = r->right = root;
  EXPECT_EQ(ph__tree_lower_bound(h, root, 1, &got), PH_ECORRUPT);
  EXPECT_EQ(ph__tree_lower_bound(h, root, 1000, &got), PH_ECORRUPT);
  EXPECT_EQ(ph__tree_remove(h, &root, lo + 3), PH_ECORRUPT);
  ph_page *e = ph__page(h, lo + 30);
  e->info = PH_INFO(PH_PK_FREE, 0, 0, 0);
  e->size = 130;
  EXPECT_EQ(ph__tree_insert(h, &root, lo + 30), PH_ECORRUPT);
  /* a child far outside the heap, or a node that is not a free run */
  root = small_tree(h, lo, 20);
  r = ph__page(h, root);
  r->left = 0xFFFFFF00u;
  EXPECT_EQ(ph__tree_lower_bound(h, root, 1, &got), PH_ECORRUPT);
  EXPECT_EQ(ph__tree_remove(h, &root, lo), PH_ECORRUPT);
  r->left = 1; /* the header */
  EXPECT_EQ(ph__tree_insert(h, &root, lo + 30), PH_ECORRUPT);
  (void)l, (void)rr;
  /* removing a run that is not in the tree */
  root = small_tree(h, lo, 20);
  e->size = 500;
  EXPECT_EQ(ph__tree_remove(h, &root, lo + 30), PH_ECORRUPT);
  ph_region_unmap(base, size);
}

TEST_MAIN()
