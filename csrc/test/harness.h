/*
 * harness.h - the C tests' minimal runner.
 *
 * A test file defines cases with TEST(name) { ... } and ends with
 * TEST_MAIN() (or TEST_MAIN_OR(child), to be its own helper process). Each case prints "ok - name" or "not ok - name"; the program
 * ends with the line "# N passed, M failed" and exits non-zero on any
 * failure, which scripts/test.sh adds up across suites. EXPECT records a failure and
 * goes on; REQUIRE ends the case. Seeds are printed with failures.
 * TEST_SKIP(reason) ends a case that cannot run on this machine: it prints
 * "ok - name # SKIP reason", is counted as skipped, never as passed, and
 * the last line becomes "# N passed, M failed, K skipped".
 */
#ifndef PH_TEST_HARNESS_H
#define PH_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);
typedef struct { const char *name; test_fn fn; } test_case;

/* The table's size; a program may define a smaller one to see the overflow
 * check fail. A case registered past it is not run: it counts as one failed
 * case, so a full table never passes in silence. */
#ifndef TEST_MAX
#define TEST_MAX 256
#endif
static test_case test_cases[TEST_MAX];
static int test_count;
static int test_dropped; /* cases registered past TEST_MAX */
static int test_failed_now;
static const char *test_skipped_now; /* the reason, when the case skipped */
static unsigned long long test_seed; /* set by randomized cases, printed on failure */

/* xorshift64*: the seeded generator of randomized cases (a state of 0
 * stays 0: seed with something else). */
static inline uint64_t test_random(uint64_t *state) {
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  return *state * 0x2545F4914F6CDD1Dull;
}

#define TEST(name)                                                        \
  static void name(void);                                                 \
  __attribute__((constructor)) static void register_##name(void) {        \
    if (test_count < TEST_MAX) test_cases[test_count++] = (test_case){#name, name}; \
    else test_dropped++;                                                  \
  }                                                                       \
  static void name(void)

#define EXPECT(cond)                                                      \
  do {                                                                    \
    if (!(cond)) {                                                        \
      printf("#   %s:%d: expected %s\n", __FILE__, __LINE__, #cond);      \
      test_failed_now = 1;                                                \
    }                                                                     \
  } while (0)

#define REQUIRE(cond)                                                     \
  do {                                                                    \
    if (!(cond)) {                                                        \
      printf("#   %s:%d: required %s\n", __FILE__, __LINE__, #cond);      \
      test_failed_now = 1;                                                \
      return;                                                             \
    }                                                                     \
  } while (0)

#define EXPECT_EQ(a, b)                                                   \
  do {                                                                    \
    long long a_ = (long long)(a), b_ = (long long)(b);                   \
    if (a_ != b_) {                                                       \
      printf("#   %s:%d: %s == %lld, expected %s == %lld\n", __FILE__,    \
             __LINE__, #a, a_, #b, b_);                                   \
      test_failed_now = 1;                                                \
    }                                                                     \
  } while (0)

#define TEST_SKIP(reason)                                                 \
  do {                                                                    \
    test_skipped_now = (reason);                                          \
    return;                                                               \
  } while (0)

/* Runs every case; the program's exit status. */
static int test_run_all(void) {
  int passed = 0, failed = 0, skipped = 0;
  for (int i = 0; i < test_count; i++) {
    test_failed_now = 0;
    test_skipped_now = NULL;
    test_seed = 0;
    test_cases[i].fn();
    if (test_failed_now) {
      failed++;
      printf("not ok - %s", test_cases[i].name);
      if (test_seed) printf(" (seed %llu)", test_seed);
      printf("\n");
    } else if (test_skipped_now) {
      skipped++;
      printf("ok - %s # SKIP %s\n", test_cases[i].name, test_skipped_now);
    } else {
      passed++;
      printf("ok - %s\n", test_cases[i].name);
    }
    fflush(stdout);
  }
  if (test_dropped) {
    failed++;
    printf("not ok - %d more cases than TEST_MAX (%d) were not run\n", test_dropped, TEST_MAX);
  }
  if (skipped) printf("# %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  else printf("# %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

#define TEST_MAIN() \
  int main(void) { return test_run_all(); }

/* A test program that is also its own helper process: child(argc, argv)
 * returns -1 to run the cases, or the helper's exit status. */
#define TEST_MAIN_OR(child)                             \
  int main(int argc, char **argv) {                     \
    int child_status_ = child(argc, argv);              \
    return child_status_ >= 0 ? child_status_ : test_run_all(); \
  }

#endif
