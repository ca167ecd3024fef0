/*
 * fuzz_region.c - libFuzzer target for the "arbitrary bytes never crash"
 * contract of ph_heap_check, ph_heap_attach, ph_snapshot_check and
 * ph_heap_restore.
 *
 * The input is read as (position, xor byte) pairs applied to a valid heap
 * image (built once, with a mix of live and freed allocations), then a
 * length to cut the image at. Whatever the bytes, check must return without
 * a fault; when check reports 0 broken invariants the allocator must be able
 * to run a burst of malloc/free on the image and stay consistent; and a
 * snapshot that ph_snapshot_check accepts must restore into another region
 * that then behaves the same way.
 * Build and run: bash scripts/fuzz.sh [seconds]
 */
#define _GNU_SOURCE 1 /* memfd_create */
#include "privheap.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define IMAGE ((size_t)4 << 20)

static unsigned char *pristine;
static size_t pristine_used;
static unsigned char *work;
static unsigned char *target; /* where accepted snapshots are restored */
static int pristine_fd;       /* the image, mapped privately over work (and target) for each input */

/* A fresh private copy of the image at dst: costs only the pages touched. */
static void fresh_copy(unsigned char *dst) {
  if (mmap(dst, IMAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, pristine_fd, 0) != dst) abort();
}

static void build_image(void) {
  pristine = mmap(NULL, IMAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  work = mmap(NULL, IMAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  target = mmap(NULL, IMAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ph_heap_t *h = ph_heap_init(pristine, IMAGE, PH_REGION_ZEROED);
  void *keep[64];
  for (int i = 0; i < 400; i++) {
    void *p = ph_heap_malloc(h, (size_t)(i * 37 % 9000) + 1);
    if (i % 3 == 0 && i / 3 < 64) keep[i / 3] = p;
    else ph_heap_free(h, p);
  }
  for (int i = 0; i < 64; i += 4) ph_heap_free(h, keep[i]);
  if (ph_heap_set_root(h, "root", 4096 * 8) != 0) abort();
  for (int i = 0; i < 100; i++) /* a scratch cursor to damage too */
    if (!ph_scratch_alloc(h, (size_t)i * 40)) abort();
  pristine_used = ph_heap_used_bytes(h);
  pristine_fd = memfd_create("fuzz_region", 0);
  if (pristine_fd < 0 || write(pristine_fd, pristine, IMAGE) != (ssize_t)IMAGE) abort();
}

/* Allocate, free and scratch-allocate a little on a heap that passed check. */
static void burst(ph_heap_t *h) {
  void *ps[32];
  for (int k = 0; k < 32; k++) ps[k] = ph_heap_malloc(h, (size_t)(k * 311 % 20000) + 1);
  for (int k = 0; k < 32; k += 2) ph_heap_free(h, ps[k]);
  for (int k = 0; k < 64; k++) {
    char *s = ph_scratch_alloc(h, (size_t)(k * 97 % 3000));
    if (s) s[0] = 1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!pristine) build_image();
  fresh_copy(work);
  size_t i = 0;
  for (; i + 4 <= size; i += 4) {
    uint32_t pos = ((uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (uint32_t)data[i + 2] << 16) % pristine_used;
    work[pos] ^= data[i + 3];
  }
  size_t len = pristine_used;
  if (i < size) len = pristine_used - (data[i] * (pristine_used / 256)); /* sometimes truncated */
  int broken = ph_heap_check(work, len);
  int accepted = ph_snapshot_check(work, len, IMAGE, 0) == 0;
  if (accepted && broken != 0) abort(); /* the snapshot check includes the full check */
  if (accepted) {
    fresh_copy(target); /* the target holds another heap (and each run starts the same) */
    ph_heap_t *r = ph_heap_restore(target, IMAGE, work, len, 0);
    if (!r) abort();
    burst(r);
    if (ph_heap_check(target, IMAGE) != 0) abort();
  }
  if (broken != 0) return 0;
  ph_heap_t *h = ph_heap_attach(work, IMAGE);
  if (!h) return 0;
  burst(h);
  if (ph_heap_check(work, IMAGE) != 0) abort(); /* a clean heap stays clean */
  return 0;
}
