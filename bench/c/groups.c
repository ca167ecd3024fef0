/*
 * groups.c - which backends one binary holds, and why there are three.
 *
 * Debian's libjemalloc.so.2 and libmimalloc.so.2 both export malloc, free,
 * realloc, ... (check: nm -D --defined-only). Linking either one replaces
 * the process malloc, so a glibc baseline in the same process would time
 * jemalloc or mimalloc instead. dlopen(RTLD_LOCAL | RTLD_DEEPBIND) would
 * keep them private, but Debian's jemalloc is built with initial-exec TLS
 * (DT_FLAGS STATIC_TLS, 2.6 KiB) and glibc refuses it after startup
 * ("cannot allocate memory in static TLS block"); loading one allocator
 * with dlopen and the other linked would also time them differently.
 *
 * So the same driver is linked three times (run.sh), one group per binary:
 *   bench-base      privheap, glibc, bump  (no foreign malloc linked)
 *   bench-jemalloc  jemalloc arenas, tcache off and on
 *   bench-mimalloc  mimalloc heaps
 * run.sh runs the binaries in alternating rounds on the same machine in
 * the same run, and report.c takes medians over all samples and computes
 * the ratios. privheap, glibc and bump are in one process, so their ratios
 * are same-process ratios; the others are same-run ratios.
 */
#include "bench.h"

#include <stdio.h>

#if defined(BENCH_GROUP_BASE)
#include "privheap.h"
#include <gnu/libc-version.h>

const char bench_group_name[] = "base";
const bench_backend_t *const bench_group[] = {&be_glibc, &be_privheap, &be_privheap_scratch, &be_bump, NULL};

void bench_group_info(void) {
  emit_info("glibc", "%s", gnu_get_libc_version());
  emit_info("privheap_abi", "%u", PH_ABI_VERSION);
  /* The fixed part of a region (header and first page-map leaf), for the
   * "header <= 64 KiB" target, at a few region sizes. */
  static const struct {
    const char *metric;
    size_t size;
  } sizes[] = {{"ph_overhead.64MiB", (size_t)64 << 20},
               {"ph_overhead.1GiB", (size_t)1 << 30},
               {"ph_overhead.64GiB", (size_t)64 << 30}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    emit_sample(sizes[i].metric, "privheap", (double)ph_heap_overhead(sizes[i].size));
}

#elif defined(BENCH_GROUP_JEMALLOC)
#include <jemalloc/jemalloc.h>

const char bench_group_name[] = "jemalloc";
const bench_backend_t *const bench_group[] = {&be_jemalloc_notc, &be_jemalloc_tc, NULL};

void bench_group_info(void) {
  const char *v = "?";
  size_t sz = sizeof v;
  mallctl("version", &v, &sz, NULL, 0);
  emit_info("jemalloc", "%s", v);
}

#elif defined(BENCH_GROUP_MIMALLOC)
#include <mimalloc.h>

const char bench_group_name[] = "mimalloc";
const bench_backend_t *const bench_group[] = {&be_mimalloc, NULL};

void bench_group_info(void) {
  int v = mi_version();
  emit_info("mimalloc", "%d.%d.%d", v / 100, (v / 10) % 10, v % 10);
}

#else
#error "define one of BENCH_GROUP_BASE, BENCH_GROUP_JEMALLOC, BENCH_GROUP_MIMALLOC"
#endif
