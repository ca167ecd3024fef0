/*
 * runtree.c - the AVL tree of free page runs, with the nodes stored in the
 * runs' head page entries (left, right, height) and links as page indices.
 *
 * Keyed by (pages, index): the lower bound of a size is the best fit at the
 * lowest address. AVL height is at most 1.44 log2(n) < 63, so the recursion
 * is shallow and the 6-bit height field suffices.
 *
 * Damage: the links come from map entries that may never have been checked.
 * Every node is reached through node(), which accepts only a FREE head in
 * the heap; anything else marks the operation broken and hands out a
 * stand-in entry on the caller's stack, so a damaged link is never followed
 * into memory outside the map. Depth is bounded by TREE_DEPTH_MAX, so a
 * cycle ends too. A broken operation reports PH_ECORRUPT; the tree may then
 * be left half changed, but only in entries of free runs of the heap.
 */
#include "internal.h"

#define TREE_DEPTH_MAX 64 /* an AVL tree of < 2^32 nodes is < 47 deep */

typedef struct tree {
  ph_heap_t *h;
  uint32_t lo, hi;  /* nodes lie in [base_pages, hwm), which a tree operation never changes */
  bool broken;
  ph_page stand_in; /* absorbs the reads and writes aimed at a bad link */
} tree;

/* Node p's entry, or the stand-in (what it holds does not matter: any link
 * read from it is checked here again, and the broken flag and the depth
 * bound end the operation). */
static inline __attribute__((always_inline)) ph_page *node(tree *t, uint32_t p) {
  if (PH_LIKELY(p - t->lo < t->hi - t->lo)) { /* lo <= p < hi */
    ph_page *e = ph__page(t->h, p);
    if (PH_LIKELY(ph__kind(e) == PH_PK_FREE)) return e;
  }
  t->broken = true;
  return &t->stand_in;
}

static inline uint64_t key_of(tree *t, uint32_t p) { return ((uint64_t)node(t, p)->size << 32) | p; }

static inline uint32_t height(tree *t, uint32_t p) { return p ? PH_INFO_HEIGHT(node(t, p)->info) : 0; }

static void update(tree *t, uint32_t p) {
  ph_page *e = node(t, p);
  uint32_t l = height(t, e->left), r = height(t, e->right);
  uint32_t ht = 1 + (l > r ? l : r);
  e->info = (e->info & ~(63u << 3)) | ((ht & 63u) << 3);
}

static uint32_t rotate_right(tree *t, uint32_t p) {
  ph_page *e = node(t, p);
  uint32_t q = e->left;
  ph_page *f = node(t, q);
  e->left = f->right;
  f->right = p;
  update(t, p);
  update(t, q);
  return q;
}

static uint32_t rotate_left(tree *t, uint32_t p) {
  ph_page *e = node(t, p);
  uint32_t q = e->right;
  ph_page *f = node(t, q);
  e->right = f->left;
  f->left = p;
  update(t, p);
  update(t, q);
  return q;
}

/* Restore the AVL balance at p after one child changed height by one. */
static uint32_t rebalance(tree *t, uint32_t p) {
  ph_page *e = node(t, p);
  uint32_t left = e->left, right = e->right;
  int bf = (int)height(t, left) - (int)height(t, right);
  if (bf > 1) {
    ph_page *l = node(t, left);
    if (height(t, l->left) < height(t, l->right)) {
      uint32_t nl = rotate_left(t, left);
      node(t, p)->left = nl;
    }
    return rotate_right(t, p);
  }
  if (bf < -1) {
    ph_page *r = node(t, right);
    if (height(t, r->right) < height(t, r->left)) {
      uint32_t nr = rotate_right(t, right);
      node(t, p)->right = nr;
    }
    return rotate_left(t, p);
  }
  update(t, p);
  return p;
}

static uint32_t insert_at(tree *t, uint32_t at, uint32_t p, uint64_t key, int depth) {
  if (at == 0) {
    ph_page *e = node(t, p);
    e->left = e->right = 0;
    e->info = (e->info & ~(63u << 3)) | (1u << 3);
    return p;
  }
  if (depth > TREE_DEPTH_MAX || t->broken) {
    t->broken = true;
    return at;
  }
  uint64_t k = key_of(t, at);
  if (key == k) { /* a run is in the tree once */
    t->broken = true;
    return at;
  }
  uint32_t sub = key < k ? node(t, at)->left : node(t, at)->right;
  uint32_t got = insert_at(t, sub, p, key, depth + 1);
  if (key < k) node(t, at)->left = got;
  else node(t, at)->right = got;
  return rebalance(t, at);
}

int ph__tree_insert(ph_heap_t *h, uint32_t *root, uint32_t p) {
  tree t = {.h = h, .lo = h->base_pages, .hi = h->hwm};
  uint64_t key = key_of(&t, p);
  uint32_t r = insert_at(&t, *root, p, key, 0);
  if (t.broken) return PH_ECORRUPT;
  *root = r;
  return 0;
}

/* Detach the minimum of the subtree at n into *min; return the new subtree. */
static uint32_t remove_min(tree *t, uint32_t n, uint32_t *min, int depth) {
  ph_page *e = node(t, n);
  if (e->left == 0 || depth > TREE_DEPTH_MAX || t->broken) {
    if (e->left != 0) t->broken = true;
    *min = n;
    return e->right;
  }
  uint32_t got = remove_min(t, e->left, min, depth + 1);
  node(t, n)->left = got;
  return rebalance(t, n);
}

static uint32_t remove_at(tree *t, uint32_t n, uint64_t key, int depth) {
  if (n == 0 || depth > TREE_DEPTH_MAX || t->broken) { /* not in the tree, or a cycle */
    t->broken = true;
    return n;
  }
  uint64_t k = key_of(t, n);
  if (key < k) {
    uint32_t got = remove_at(t, node(t, n)->left, key, depth + 1);
    node(t, n)->left = got;
    return rebalance(t, n);
  }
  if (key > k) {
    uint32_t got = remove_at(t, node(t, n)->right, key, depth + 1);
    node(t, n)->right = got;
    return rebalance(t, n);
  }
  ph_page *e = node(t, n);
  uint32_t left = e->left, right = e->right;
  if (left == 0) return right;
  if (right == 0) return left;
  uint32_t m;
  uint32_t rest = remove_min(t, right, &m, depth + 1);
  ph_page *f = node(t, m);
  f->left = left;
  f->right = rest;
  return rebalance(t, m);
}

int ph__tree_remove(ph_heap_t *h, uint32_t *root, uint32_t p) {
  tree t = {.h = h, .lo = h->base_pages, .hi = h->hwm};
  uint64_t key = key_of(&t, p);
  uint32_t r = remove_at(&t, *root, key, 0);
  if (t.broken) return PH_ECORRUPT;
  *root = r;
  return 0;
}

int ph__tree_lower_bound(const ph_heap_t *h, uint32_t root, uint32_t pages, uint32_t *best) {
  uint64_t want = (uint64_t)pages << 32;
  *best = 0;
  int depth = 0;
  for (uint32_t n = root; n; depth++) {
    if (depth > TREE_DEPTH_MAX || !ph__in_heap(h, n)) return PH_ECORRUPT;
    const ph_page *e = ph__page(h, n);
    if (ph__kind(e) != PH_PK_FREE) return PH_ECORRUPT;
    if ((((uint64_t)e->size << 32) | n) >= want) {
      *best = n;
      n = e->left;
    } else {
      n = e->right;
    }
  }
  return 0;
}
