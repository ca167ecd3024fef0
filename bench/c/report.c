/*
 * report.c - turns the raw lines of every bench binary of one run into the
 * report: a header (machine, compiler, build mode), one table per workload
 * with medians, spreads and ratios against privheap, then the targets.
 *
 * Usage: report RAWFILE...   (or raw lines on stdin)
 * Always exits 0 when it could read its input: a benchmark is not a test.
 *
 * Ratios are time over time (or bytes over bytes) of medians from the same
 * run. "it/ph" > 1.00 means the backend takes longer (or more bytes) than
 * privheap; "ph/it" is its inverse, privheap measured against the backend.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

/* ------------------------------------------------------------------------ */
/* Input                                                                    */
/* ------------------------------------------------------------------------ */

#define MAX_KEYS 256
#define MAX_INFO 64
#define MAX_ERRS 64

typedef struct series {
  char metric[48];
  char backend[32];
  double *v;
  size_t n, cap;
} series_t;

static series_t series[MAX_KEYS];
static size_t nseries;

static struct {
  char key[48];
  char text[512];
} info[MAX_INFO];
static size_t ninfo;

static char errs[MAX_ERRS][512];
static size_t nerrs, errs_dropped;

static void add_sample(const char *metric, const char *backend, double v) {
  series_t *s = NULL;
  for (size_t i = 0; i < nseries; i++)
    if (!strcmp(series[i].metric, metric) && !strcmp(series[i].backend, backend)) s = &series[i];
  if (!s) {
    if (nseries == MAX_KEYS) return;
    s = &series[nseries++];
    snprintf(s->metric, sizeof s->metric, "%s", metric);
    snprintf(s->backend, sizeof s->backend, "%s", backend);
  }
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 16;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    if (!s->v) exit(1);
  }
  s->v[s->n++] = v;
}

static void add_info(const char *key, const char *text) {
  for (size_t i = 0; i < ninfo; i++)
    if (!strcmp(info[i].key, key)) return; /* first one wins */
  if (ninfo == MAX_INFO) return;
  snprintf(info[ninfo].key, sizeof info[ninfo].key, "%s", key);
  snprintf(info[ninfo].text, sizeof info[ninfo].text, "%s", text);
  ninfo++;
}

static void add_error(const char *text) {
  for (size_t i = 0; i < nerrs; i++)
    if (!strcmp(errs[i], text)) return;
  if (nerrs == MAX_ERRS) {
    errs_dropped++;
    return;
  }
  snprintf(errs[nerrs++], sizeof errs[0], "%s", text);
}

static void read_stream(FILE *f) {
  char line[512];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char a[48], b[32];
    double v;
    int off = 0;
    if (line[0] == 'S' && sscanf(line, "S %47s %31s %lf", a, b, &v) == 3) {
      add_sample(a, b, v);
    } else if (line[0] == 'I' && sscanf(line, "I %47s %n", a, &off) == 1 && off > 0) {
      add_info(a, line + off);
    } else if (line[0] == 'E' && line[1] == ' ') {
      add_error(line + 2);
    }
  }
}

static const char *info_get(const char *key) {
  for (size_t i = 0; i < ninfo; i++)
    if (!strcmp(info[i].key, key)) return info[i].text;
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */
/* ------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static series_t *find(const char *metric, const char *backend) {
  for (size_t i = 0; i < nseries; i++)
    if (!strcmp(series[i].metric, metric) && !strcmp(series[i].backend, backend))
      return &series[i];
  return NULL;
}

/* Median of a series, NAN when there is none. */
static double med(const char *metric, const char *backend) {
  series_t *s = find(metric, backend);
  if (!s || s->n == 0) return NAN;
  qsort(s->v, s->n, sizeof *s->v, cmp_double);
  return s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
}

/* "n=6 ±4%": the sample count, and half the interquartile range over the
 * median (quartiles by nearest rank; robust to the odd interrupted pass). */
static const char *spread(const char *metric, const char *backend) {
  static char buf[8][32];
  static int k;
  char *out = buf[k++ % 8];
  series_t *s = find(metric, backend);
  double m = med(metric, backend); /* sorts the samples */
  if (!s || s->n == 0 || !(m > 0)) return "";
  double q1 = s->v[(s->n - 1) / 4], q3 = s->v[s->n - 1 - (s->n - 1) / 4];
  snprintf(out, 32, "n=%zu ±%.0f%%", s->n, 50.0 * (q3 - q1) / m);
  return out;
}

/* ------------------------------------------------------------------------ */
/* Formatting                                                               */
/* ------------------------------------------------------------------------ */

static const char *const backends[] = {"privheap",    "privheap-scratch", "bump",     "glibc",
                                       "jemalloc-notc", "jemalloc-tc",    "mimalloc", NULL};
#define PH "privheap"

static const char *describe(const char *b) {
  if (!strcmp(b, "privheap")) return "ph_heap_* in one region, ph_heap_reset";
  if (!strcmp(b, "privheap-scratch")) return "ph_scratch_alloc (frame scratch in the same heap), ph_heap_reset";
  if (!strcmp(b, "bump")) return "bump pointer over one region (floor)";
  if (!strcmp(b, "glibc")) return "malloc/free; reset = free each";
  if (!strcmp(b, "jemalloc-notc")) return "arena over a region, tcache off, arena.<i>.reset";
  if (!strcmp(b, "jemalloc-tc")) return "arena over a region, tcache on, flush + reset";
  if (!strcmp(b, "mimalloc")) return "mi_heap_new, mi_heap_destroy + new";
  return "";
}

/* A number in a fixed width, or "-" when missing. */
static const char *num(double v, const char *fmt) {
  static char buf[16][32];
  static int k;
  char *out = buf[k++ % 16];
  if (isnan(v)) return "-";
  snprintf(out, 32, fmt, v);
  return out;
}

static const char *ratio(double a, double b) {
  static char buf[16][32];
  static int k;
  char *out = buf[k++ % 16];
  if (isnan(a) || isnan(b) || b == 0) return "-";
  snprintf(out, 32, "%.2fx", a / b);
  return out;
}

static double mib(double bytes) {
  return bytes / (1024.0 * 1024.0);
}

static const char *size_label(const char *key) {
  static char buf[4][32];
  static int k;
  char *out = buf[k++ % 4];
  const char *t = info_get(key);
  double v = t ? atof(t) : NAN;
  if (isnan(v)) return "?";
  if (v >= 1024.0 * 1024 * 1024)
    snprintf(out, 32, "%.0f GiB", v / (1024.0 * 1024 * 1024));
  else
    snprintf(out, 32, "%.0f MiB", v / (1024.0 * 1024));
  return out;
}

static int have_backend(const char *b) {
  for (size_t i = 0; i < nseries; i++)
    if (!strcmp(series[i].backend, b)) return 1;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Header                                                                   */
/* ------------------------------------------------------------------------ */

static const char *info_or(const char *key, const char *fallback) {
  const char *v = info_get(key);
  return v ? v : fallback;
}

static void header(void) {
  char model[160] = "unknown";
  int cpus = 0, cores = 0;
  double mem_gib = 0;
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) {
      char *colon = strchr(line, ':');
      if (!colon) continue;
      if (!strncmp(line, "processor", 9)) cpus++;
      if (!strncmp(line, "model name", 10) && !strcmp(model, "unknown")) {
        snprintf(model, sizeof model, "%s", colon + 2);
        model[strcspn(model, "\n")] = 0;
      }
      if (!strncmp(line, "cpu cores", 9) && !cores) cores = atoi(colon + 1);
    }
    fclose(f);
  }
  f = fopen("/proc/meminfo", "r");
  if (f) {
    char line[256];
    while (fgets(line, sizeof line, f))
      if (!strncmp(line, "MemTotal:", 9)) mem_gib = atof(line + 9) / (1024.0 * 1024.0);
    fclose(f);
  }
  struct utsname u;
  uname(&u);

  printf("privheap C benchmark\n");
  printf("====================\n");
  printf("machine   %s; %d logical CPUs", model, cpus);
  if (cores) printf(" (%d cores per socket)", cores);
  printf(", %.1f GiB RAM, %s %s %s\n", mem_gib, u.sysname, u.release, u.machine);
  printf("compiler  %s\n", info_or("compiler", "?"));
  printf("build     %s\n", info_or("build", info_or("cflags", "?")));
  printf("privheap  %s\n", info_or("privheap_src", "?"));
  printf("libs      glibc %s; jemalloc %s; mimalloc %s\n", info_or("glibc", "-"),
         info_or("jemalloc", "not run"), info_or("mimalloc", "not run"));
  printf("method    %s mode; %s\n", info_or("mode", "?"), info_or("rounds", "?"));
  printf("          every figure is the median of all its samples; spread: n samples,\n"
         "          ± half the interquartile range over the median\n");
  printf("          seed %s; times from CLOCK_MONOTONIC\n", info_or("seed", "?"));
  if (!strcmp(info_or("mode", ""), "quick"))
    printf("          QUICK: small counts for a smoke test; these are not results\n");
  printf("\nbackends (privheap, glibc and bump share a process; jemalloc and mimalloc\n"
         "replace malloc when linked, so each runs in its own binary in the same run)\n");
  for (int i = 0; backends[i]; i++)
    printf("  %-16s %s%s\n", backends[i], describe(backends[i]),
           have_backend(backends[i]) ? "" : "  [no samples]");
  printf("\nratios: it/ph = backend over privheap (>1: privheap is faster or smaller);\n"
         "        ph/it = privheap over backend (<1: privheap is faster or smaller)\n");
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                   */
/* ------------------------------------------------------------------------ */

/* One metric, one row per backend: value, spread, it/ph, ph/it. */
static void simple_table(const char *title, const char *metric, const char *unit) {
  double ph = med(metric, PH);
  printf("\n%s\n", title);
  printf("  %-16s %10s  %-10s %8s %8s\n", "backend", unit, "spread", "it/ph", "ph/it");
  for (int i = 0; backends[i]; i++) {
    double v = med(metric, backends[i]);
    if (isnan(v)) continue;
    printf("  %-16s %10s  %-10s %8s %8s\n", backends[i], num(v, "%.2f"),
           spread(metric, backends[i]), ratio(v, ph), ratio(ph, v));
  }
}

static void churn_table(void) {
  const char *cfg = info_get("churn");
  char title[256];
  snprintf(title, sizeof title,
           "a. churn: %s; 70%% 16-128 B, 25%% 129 B-4 KiB, 5%% 4-64 KiB\n"
           "   ns per replace (free one random live object, malloc one, touch it)",
           cfg ? cfg : "?");
  simple_table(title, "churn.ns_op", "ns/op");
}

static void frame_table(void) {
  const char *cfg = info_get("frame");
  double phr = med("frame_reset.ns_alloc", PH), phf = med("frame_free.ns_alloc", PH);
  printf("\nb. frame loop: %s; ns per allocation, the frame's end included\n",
         cfg ? cfg : "?");
  printf("   (reset: one reset per frame; free each: one free per allocation)\n");
  printf("  %-16s %10s %-10s %7s %7s | %10s %-10s %7s %7s\n", "backend", "reset", "spread",
         "it/ph", "ph/it", "free each", "spread", "it/ph", "ph/it");
  for (int i = 0; backends[i]; i++) {
    const char *b = backends[i];
    double r = med("frame_reset.ns_alloc", b), f = med("frame_free.ns_alloc", b);
    if (isnan(r) && isnan(f)) continue;
    printf("  %-16s %10s %-10s %7s %7s | %10s %-10s %7s %7s\n", b, num(r, "%.2f"),
           spread("frame_reset.ns_alloc", b), ratio(r, phr), ratio(phr, r), num(f, "%.2f"),
           spread("frame_free.ns_alloc", b), ratio(f, phf), ratio(phf, f));
  }
  printf("  (glibc has no reset; bump's free is a no-op, so its free-each column is the\n"
         "   cost of the loop itself)\n");
}

static void reset_table(void) {
  const char *small = size_label("reset_small"), *big = size_label("reset_big");
  double phb = med("reset_big.us", PH);
  printf("\nc. reset after a fill (half the bytes in 64 B objects, half in 4 KiB ones);\n"
         "   microseconds for the reset call alone (glibc: free each object)\n");
  printf("  %-16s %12s %-10s %12s %-10s %10s %9s %9s\n", "backend", small, "spread", big,
         "spread", "big/small", "it/ph", "ph/it");
  for (int i = 0; backends[i]; i++) {
    const char *b = backends[i];
    double s = med("reset_small.us", b), l = med("reset_big.us", b);
    if (isnan(s) && isnan(l)) continue;
    printf("  %-16s %12s %-10s %12s %-10s %10s %9s %9s\n", b, num(s, "%.2f"),
           spread("reset_small.us", b), num(l, "%.2f"), spread("reset_big.us", b),
           ratio(l, s), ratio(l, phb), ratio(phb, l));
  }
  printf("  (it/ph and ph/it compare the %s reset)\n", big);
}

static void foot_table(void) {
  const char *t = info_get("foot");
  double count = 0, size = 0;
  if (t) sscanf(t, "%lf %lf", &count, &size);
  double payload = count * size;
  double phr = med("foot.rss", PH);
  printf("\nd. footprint: %.0f x %.0f B = %.2f MiB of payload, in a fresh instance\n", count,
         size, mib(payload));
  printf("   region used = high-water of the backend's region (privheap used_bytes, bump\n"
         "   cursor, jemalloc extents carved by the hooks, glibc sbrk+mmap); active = pages\n"
         "   holding objects (privheap used-free, jemalloc pactive, mimalloc committed)\n");
  printf("  %-16s %12s %9s %11s %12s %9s %8s %8s\n", "backend", "region MiB", "/payload",
         "active MiB", "RSS delta", "/payload", "it/ph", "ph/it");
  for (int i = 0; backends[i]; i++) {
    const char *b = backends[i];
    double reg = med("foot.region", b), act = med("foot.active", b), rss = med("foot.rss", b);
    if (isnan(reg) && isnan(act) && isnan(rss)) continue;
    printf("  %-16s %12s %9s %11s %12s %9s %8s %8s\n", b, num(mib(reg), "%.2f"),
           ratio(reg, payload), num(mib(act), "%.2f"), num(mib(rss), "%.2f"),
           ratio(rss, payload), ratio(rss, phr), ratio(phr, rss));
  }
  printf("  (it/ph and ph/it compare RSS deltas, the one measure every backend has)\n");
  printf("  privheap fixed overhead (ph_heap_overhead): %s KiB at 64 MiB, %s KiB at 1 GiB,"
         " %s KiB at 64 GiB\n",
         num(med("ph_overhead.64MiB", PH) / 1024, "%.1f"),
         num(med("ph_overhead.1GiB", PH) / 1024, "%.1f"),
         num(med("ph_overhead.64GiB", PH) / 1024, "%.1f"));
}

static void realloc_table(void) {
  const char *cfg = info_get("realloc");
  char title[256];
  snprintf(title, sizeof title,
           "e. realloc growth: %s, all buffers one step per round;\n"
           "   ns per call (the first malloc and every realloc)",
           cfg ? cfg : "?");
  simple_table(title, "realloc.ns_op", "ns/op");
}

/* ------------------------------------------------------------------------ */
/* Targets                                                                  */
/* ------------------------------------------------------------------------ */

static int met, judged;

static void target(const char *what, double value, const char *shown, int pass) {
  judged++;
  if (isnan(value)) {
    printf("  %-6s %-66s %s\n", "NODATA", what, "-");
    return;
  }
  met += pass;
  printf("  %-6s %-66s %s\n", pass ? "PASS" : "FAIL", what, shown);
}

static void targets(void) {
  char buf[96];
  double v;
  printf("\ntargets (from the issue; the benchmark reports, it does not gate)\n");

  double ph = med("churn.ns_op", PH);
  v = ph / med("churn.ns_op", "mimalloc");
  snprintf(buf, sizeof buf, "ph/mimalloc = %.2fx", v);
  target("churn: privheap <= 1.2x mimalloc heap, every free validated", v, buf, v <= 1.2);
  v = ph / med("churn.ns_op", "jemalloc-notc");
  snprintf(buf, sizeof buf, "ph/jemalloc = %.2fx", v);
  target("churn: privheap faster than jemalloc region arena (tcache off)", v, buf, v < 1.0);
  v = ph / med("churn.ns_op", "jemalloc-tc");
  snprintf(buf, sizeof buf, "ph/jemalloc = %.2fx", v);
  target("churn: privheap faster than jemalloc region arena (tcache on)", v, buf, v < 1.0);

  v = med("frame_reset.ns_alloc", PH) / med("frame_reset.ns_alloc", "bump");
  snprintf(buf, sizeof buf, "ph/bump = %.2fx", v);
  target("frame: ph_heap_malloc with reset <= 1.5x bump per allocation", v, buf, v <= 1.5);
  v = med("frame_reset.ns_alloc", "privheap-scratch") / med("frame_reset.ns_alloc", "bump");
  snprintf(buf, sizeof buf, "scratch/bump = %.2fx", v);
  target("frame: ph_scratch_alloc with reset <= 1.5x bump per allocation", v, buf, v <= 1.5);

  double rs = med("reset_small.us", PH), rb = med("reset_big.us", PH);
  char what[96];
  snprintf(what, sizeof what, "reset: after a %s fill < 5 us", size_label("reset_big"));
  snprintf(buf, sizeof buf, "%.2f us", rb);
  target(what, rb, buf, rb < 5.0);
  snprintf(what, sizeof what, "reset: after a %s fill < 5 us", size_label("reset_small"));
  snprintf(buf, sizeof buf, "%.2f us", rs);
  target(what, rs, buf, rs < 5.0);
  v = rb / rs;
  snprintf(what, sizeof what, "reset: %s / %s time <= 1.5", size_label("reset_big"),
           size_label("reset_small"));
  snprintf(buf, sizeof buf, "%.2fx", v);
  target(what, v, buf, v <= 1.5);

  const char *t = info_get("foot");
  double count = NAN, size = NAN;
  if (t) sscanf(t, "%lf %lf", &count, &size);
  v = med("foot.region", PH) / (count * size);
  snprintf(what, sizeof what, "footprint: high-water <= 1.03x payload (%.0f x %.0f B)", count,
           size);
  snprintf(buf, sizeof buf, "%.4fx", v);
  target(what, v, buf, v <= 1.03);

  double h1 = med("ph_overhead.64MiB", PH), h2 = med("ph_overhead.1GiB", PH);
  v = h1 > h2 ? h1 : h2;
  snprintf(buf, sizeof buf, "%.1f KiB", v / 1024);
  target("footprint: fixed header <= 64 KiB (ph_heap_overhead, 64 MiB..1 GiB)", v, buf,
         v <= 65536);

  printf("  targets met: %d of %d\n", met, judged);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    read_stream(stdin);
  } else {
    for (int i = 1; i < argc; i++) {
      FILE *f = fopen(argv[i], "r");
      if (!f) {
        fprintf(stderr, "report: cannot read %s\n", argv[i]);
        return 1;
      }
      read_stream(f);
      fclose(f);
    }
  }
  header();
  churn_table();
  frame_table();
  reset_table();
  foot_table();
  realloc_table();
  targets();
  if (nerrs) {
    printf("\nerrors reported by the run (figures of a failed backend are left out)\n");
    for (size_t i = 0; i < nerrs; i++) printf("  %s\n", errs[i]);
    if (errs_dropped) printf("  ... and %zu more\n", errs_dropped);
  }
  return 0;
}
