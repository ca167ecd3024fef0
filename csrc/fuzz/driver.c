/*
 * driver.c - runs a libFuzzer target on seeded random inputs, without
 * libFuzzer: no coverage bookkeeping, so long campaigns put many more
 * inputs through the same checks (build it with ASan + UBSan like the
 * fuzzers). A hang is an alarm: each input gets `timeout` seconds.
 *
 * Build: clang-14 -O1 -g -fsanitize=address,undefined -Icsrc <the library's
 *          csrc .c files> csrc/fuzz/fuzz_ops.c csrc/fuzz/driver.c -o fuzz_ops_driver
 * Run:   ./fuzz_ops_driver SECONDS [SEED [MAXLEN [TIMEOUT]]]
 * Prints the inputs run and the seed; exits non-zero (abort, signal) on
 * the first failure, naming the input's index so it can be replayed with
 * the same seed.
 */
#define _DEFAULT_SOURCE 1
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long long current;

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "driver: an input ran past its timeout (a hang)\n";
  if (write(2, msg, sizeof msg - 1) < 0) _exit(3);
  _exit(3);
}

static uint64_t next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SECONDS [SEED [MAXLEN [TIMEOUT]]]\n", argv[0]);
    return 2;
  }
  double secs = atof(argv[1]);
  uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1, s = seed | 1;
  size_t maxlen = argc > 3 ? (size_t)atol(argv[3]) : 600;
  unsigned timeout = argc > 4 ? (unsigned)atoi(argv[4]) : 10;
  signal(SIGALRM, on_alarm);
  static uint8_t buf[1 << 16];
  if (maxlen > sizeof buf) maxlen = sizeof buf;
  time_t end = time(NULL) + (time_t)secs;
  while (time(NULL) < end) {
    for (int k = 0; k < 256; k++, current++) {
      size_t len = (size_t)(next(&s) % (maxlen + 1));
      for (size_t i = 0; i < len; i += 8) {
        uint64_t r = next(&s);
        for (size_t j = 0; j < 8 && i + j < len; j++) buf[i + j] = (uint8_t)(r >> (8 * j));
      }
      alarm(timeout);
      LLVMFuzzerTestOneInput(buf, len);
    }
  }
  alarm(0);
  printf("driver: %llu inputs (seed %llu)\n", current, (unsigned long long)seed);
  return 0;
}
