/*
 * lock_fork.c - what a forked child inherits from the shared lock, for both
 * locks (lock.c, lock_portable.c).
 *
 * A child gets the parent's memory: a region mapped shared (a heap file, a
 * MAP_SHARED mapping) is the same heap, and its lock the same lock; a
 * private region (an anonymous heap) is a copy, whose lock word may name a
 * thread of the parent that will never release this copy. So the locks ask
 * whether a region is private (ph__prim_region_is_private), and each
 * thread's identity is renewed in the child (its id changed) while
 * remembering the one it had.
 * Keeps: no allocator state.
 */
#include "internal.h"

void ph__lock_self_forked(ph__lock_self *self) {
  if (self->word) self->forked_from = self->word; /* else it still is the one it had before */
  self->word = 0;
  self->holds = 0;
}
