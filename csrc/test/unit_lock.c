/*
 * unit_lock.c - the owner test of the shared lock (lock.c): a lock word
 * naming a thread id that is in use, but by a thread that started at
 * another time (the dead owner's id was reused), is taken over.
 */
#define _DEFAULT_SOURCE 1 /* getppid */
#include "harness.h"
#include "internal.h"

#if defined(__linux__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include <unistd.h>

TEST(an_owner_id_reused_by_another_thread_is_taken_over) {
  size_t size = (size_t)4 << 20;
  void *base = ph_region_map_anon(size);
  REQUIRE(base);
  ph_heap_t *h = ph_heap_init(base, size, PH_LOCKED);
  REQUIRE(h);
  /* The parent process exists, but it did not start at clock tick 1. */
  uint32_t parent = (uint32_t)getppid();
  __atomic_store_n(&h->lock_word, (uint64_t)parent | (uint64_t)1 << 32, __ATOMIC_RELEASE);
  EXPECT_EQ(ph_heap_lock(h), 1); /* taken over (after one sleep), heap consistent */
  EXPECT_EQ(h->lock_recoveries, 1);
  EXPECT_EQ(ph_heap_unlock(h), 0);
  EXPECT_EQ(__atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE), 0);
  /* A word that names another thread is not ours to release. */
  __atomic_store_n(&h->lock_word, (uint64_t)parent | (uint64_t)1 << 32, __ATOMIC_RELEASE);
  EXPECT_EQ(ph_heap_unlock(h), PH_EINVAL);
  __atomic_store_n(&h->lock_word, 0, __ATOMIC_RELEASE);
  ph_region_unmap(base, size);
}
#else
TEST(locked_heaps_are_refused_without_linux_locks) {
  size_t size = (size_t)4 << 20;
  void *base = ph_region_map_anon(size);
  REQUIRE(base);
  EXPECT(ph_heap_init(base, size, PH_LOCKED) == NULL && ph_last_error() == PH_EINVAL);
  ph_region_unmap(base, size);
}
#endif

TEST_MAIN()
