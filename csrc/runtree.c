/*
 * runtree.c - the AVL tree of free page runs, with the nodes stored in the
 * runs' head page entries (left, right, height) and links as page indices.
 *
 * Keyed by (pages, index): the lower bound of a size is the best fit at the
 * lowest address. AVL height is at most 1.44 log2(n) < 63, so the recursion
 * is shallow and the 6-bit height field suffices.
 */
#include "internal.h"

static inline uint64_t key_of(const ph_heap_t *h, uint32_t p) {
  return ((uint64_t)ph__page(h, p)->size << 32) | p;
}

static inline uint32_t height(const ph_heap_t *h, uint32_t p) {
  return p ? PH_INFO_HEIGHT(ph__page(h, p)->info) : 0;
}

static void update(ph_heap_t *h, uint32_t p) {
  ph_page *e = ph__page(h, p);
  uint32_t l = height(h, e->left), r = height(h, e->right);
  uint32_t ht = 1 + (l > r ? l : r);
  e->info = (e->info & ~(63u << 3)) | (ht << 3);
}

static uint32_t rotate_right(ph_heap_t *h, uint32_t p) {
  ph_page *e = ph__page(h, p);
  uint32_t q = e->left;
  ph_page *f = ph__page(h, q);
  e->left = f->right;
  f->right = p;
  update(h, p);
  update(h, q);
  return q;
}

static uint32_t rotate_left(ph_heap_t *h, uint32_t p) {
  ph_page *e = ph__page(h, p);
  uint32_t q = e->right;
  ph_page *f = ph__page(h, q);
  e->right = f->left;
  f->left = p;
  update(h, p);
  update(h, q);
  return q;
}

/* Restore the AVL balance at p after one child changed height by one. */
static uint32_t rebalance(ph_heap_t *h, uint32_t p) {
  ph_page *e = ph__page(h, p);
  int bf = (int)height(h, e->left) - (int)height(h, e->right);
  if (bf > 1) {
    ph_page *l = ph__page(h, e->left);
    if (height(h, l->left) < height(h, l->right)) e->left = rotate_left(h, e->left);
    return rotate_right(h, p);
  }
  if (bf < -1) {
    ph_page *r = ph__page(h, e->right);
    if (height(h, r->right) < height(h, r->left)) e->right = rotate_right(h, e->right);
    return rotate_left(h, p);
  }
  update(h, p);
  return p;
}

static uint32_t insert_at(ph_heap_t *h, uint32_t node, uint32_t p, uint64_t key) {
  if (node == 0) {
    ph_page *e = ph__page(h, p);
    e->left = e->right = 0;
    e->info = (e->info & ~(63u << 3)) | (1u << 3);
    return p;
  }
  ph_page *n = ph__page(h, node);
  ph_assert(key != key_of(h, node) && "a run is in a tree once");
  if (key < key_of(h, node)) n->left = insert_at(h, n->left, p, key);
  else n->right = insert_at(h, n->right, p, key);
  return rebalance(h, node);
}

void ph__tree_insert(ph_heap_t *h, uint32_t *root, uint32_t p) {
  *root = insert_at(h, *root, p, key_of(h, p));
}

/* Detach the minimum of the subtree at node into *min; return the new subtree. */
static uint32_t remove_min(ph_heap_t *h, uint32_t node, uint32_t *min) {
  ph_page *n = ph__page(h, node);
  if (n->left == 0) {
    *min = node;
    return n->right;
  }
  n->left = remove_min(h, n->left, min);
  return rebalance(h, node);
}

static uint32_t remove_at(ph_heap_t *h, uint32_t node, uint64_t key) {
  ph_assert(node != 0 && "the run to remove is in the tree");
  if (node == 0) return 0;
  ph_page *n = ph__page(h, node);
  uint64_t k = key_of(h, node);
  if (key < k) {
    n->left = remove_at(h, n->left, key);
    return rebalance(h, node);
  }
  if (key > k) {
    n->right = remove_at(h, n->right, key);
    return rebalance(h, node);
  }
  if (n->left == 0) return n->right;
  if (n->right == 0) return n->left;
  uint32_t m;
  uint32_t right = remove_min(h, n->right, &m);
  ph_page *e = ph__page(h, m);
  e->left = n->left;
  e->right = right;
  return rebalance(h, m);
}

void ph__tree_remove(ph_heap_t *h, uint32_t *root, uint32_t p) {
  *root = remove_at(h, *root, key_of(h, p));
}

uint32_t ph__tree_lower_bound(const ph_heap_t *h, uint32_t root, uint32_t pages) {
  uint64_t want = (uint64_t)pages << 32;
  uint32_t best = 0;
  for (uint32_t n = root; n;) {
    const ph_page *e = ph__page(h, n);
    if ((((uint64_t)e->size << 32) | n) >= want) {
      best = n;
      n = e->left;
    } else {
      n = e->right;
    }
  }
  return best;
}
