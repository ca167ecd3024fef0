/*
 * bigrho.c - a program in the style of mimalloc-bench's cfrac: integer
 * factoring over arbitrary-precision numbers that are immutable heap
 * blocks, so every arithmetic step allocates its result and frees what it
 * no longer needs (many small blocks of mixed sizes, short lives).
 *
 * It factors composites N = p * Q, where p is a prime of 22 to 26 bits and
 * Q a product of 1 to 8 primes of 31 bits, with Pollard's rho (Floyd's
 * cycle, gcd every 32 steps), and prints each smallest factor found and
 * its cofactor in decimal. Everything is derived from fixed seeds, so the
 * output is the same on every run and allocator.
 *
 * Usage: bigrho [count]   (default 40 composites)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* n limbs of 32 bits, least significant first, no leading zero limb
 * (zero has n == 0). */
typedef struct big {
  uint32_t n;
  uint32_t d[];
} big;

static big *make(uint32_t n) {
  big *b = malloc(sizeof(big) + (size_t)(n ? n : 1) * sizeof(uint32_t));
  if (!b) {
    fputs("bigrho: out of memory\n", stderr);
    exit(1);
  }
  b->n = n;
  return b;
}

static big *trim(big *b) {
  while (b->n && !b->d[b->n - 1]) b->n--;
  return b;
}

static big *from_u64(uint64_t v) {
  big *b = make(2);
  b->d[0] = (uint32_t)v;
  b->d[1] = (uint32_t)(v >> 32);
  return trim(b);
}

static big *copy(const big *a) {
  big *b = make(a->n);
  memcpy(b->d, a->d, a->n * sizeof(uint32_t));
  return b;
}

static int cmp(const big *a, const big *b) {
  if (a->n != b->n) return a->n < b->n ? -1 : 1;
  for (uint32_t i = a->n; i-- > 0;)
    if (a->d[i] != b->d[i]) return a->d[i] < b->d[i] ? -1 : 1;
  return 0;
}

static big *add_small(const big *a, uint32_t v) {
  big *r = make(a->n + 1);
  uint64_t carry = v;
  for (uint32_t i = 0; i < a->n; i++) {
    carry += a->d[i];
    r->d[i] = (uint32_t)carry;
    carry >>= 32;
  }
  r->d[a->n] = (uint32_t)carry;
  return trim(r);
}

/* |a - b| */
static big *absdiff(const big *a, const big *b) {
  if (cmp(a, b) < 0) {
    const big *t = a;
    a = b;
    b = t;
  }
  big *r = make(a->n);
  int64_t borrow = 0;
  for (uint32_t i = 0; i < a->n; i++) {
    int64_t t = (int64_t)a->d[i] - (i < b->n ? b->d[i] : 0) - borrow;
    borrow = t < 0;
    r->d[i] = (uint32_t)(t + (borrow << 32));
  }
  return trim(r);
}

static big *mul(const big *a, const big *b) {
  big *r = make(a->n + b->n);
  memset(r->d, 0, r->n * sizeof(uint32_t));
  for (uint32_t i = 0; i < a->n; i++) {
    uint64_t carry = 0;
    for (uint32_t j = 0; j < b->n; j++) {
      carry += (uint64_t)a->d[i] * b->d[j] + r->d[i + j];
      r->d[i + j] = (uint32_t)carry;
      carry >>= 32;
    }
    r->d[i + b->n] = (uint32_t)carry;
  }
  return trim(r);
}

/* a / v for one limb v, the remainder in *rem. */
static big *div_small(const big *a, uint32_t v, uint32_t *rem) {
  big *q = make(a->n);
  uint64_t r = 0;
  for (uint32_t i = a->n; i-- > 0;) {
    r = (r << 32) | a->d[i];
    q->d[i] = (uint32_t)(r / v);
    r %= v;
  }
  *rem = (uint32_t)r;
  return trim(q);
}

/* a mod m (m not zero): long division with one-limb quotient estimates,
 * over two scratch blocks shifted so that m's top limb has its top bit. */
static big *mod(const big *a, const big *m) {
  if (cmp(a, m) < 0) return copy(a);
  if (m->n == 1) {
    uint32_t r;
    free(div_small(a, m->d[0], &r));
    return from_u64(r);
  }
  uint32_t n = m->n, len = a->n;
  int s = __builtin_clz(m->d[n - 1]);
  uint32_t *vn = malloc(n * sizeof(uint32_t));
  uint32_t *un = malloc((len + 1) * sizeof(uint32_t));
  if (!vn || !un) {
    fputs("bigrho: out of memory\n", stderr);
    exit(1);
  }
  for (uint32_t i = n - 1; i > 0; i--)
    vn[i] = (m->d[i] << s) | (s ? m->d[i - 1] >> (32 - s) : 0);
  vn[0] = m->d[0] << s;
  un[len] = s ? a->d[len - 1] >> (32 - s) : 0;
  for (uint32_t i = len - 1; i > 0; i--)
    un[i] = (a->d[i] << s) | (s ? a->d[i - 1] >> (32 - s) : 0);
  un[0] = a->d[0] << s;
  const uint64_t base = (uint64_t)1 << 32;
  for (int64_t j = (int64_t)len - n; j >= 0; j--) {
    uint64_t num = ((uint64_t)un[j + n] << 32) | un[j + n - 1];
    uint64_t qhat = num / vn[n - 1], rhat = num % vn[n - 1];
    while (qhat >= base || qhat * vn[n - 2] > ((rhat << 32) | un[j + n - 2])) {
      qhat--;
      rhat += vn[n - 1];
      if (rhat >= base) break;
    }
    int64_t k = 0, t;
    for (uint32_t i = 0; i < n; i++) {
      uint64_t p = qhat * vn[i];
      t = (int64_t)un[i + j] - k - (int64_t)(p & 0xFFFFFFFFu);
      un[i + j] = (uint32_t)t;
      k = (int64_t)(p >> 32) - (t >> 32);
    }
    t = (int64_t)un[j + n] - k;
    un[j + n] = (uint32_t)t;
    if (t < 0) { /* qhat was one too large: add m back */
      uint64_t c = 0;
      for (uint32_t i = 0; i < n; i++) {
        c += (uint64_t)un[i + j] + vn[i];
        un[i + j] = (uint32_t)c;
        c >>= 32;
      }
      un[j + n] += (uint32_t)c;
    }
  }
  big *r = make(n);
  for (uint32_t i = 0; i < n; i++)
    r->d[i] = (un[i] >> s) | (s ? un[i + 1] << (32 - s) : 0);
  free(un);
  free(vn);
  return trim(r);
}

static big *gcd(const big *a, const big *b) {
  big *x = copy(a), *y = copy(b);
  while (y->n) {
    big *r = mod(x, y);
    free(x);
    x = y;
    y = r;
  }
  free(y);
  return x;
}

/* x * x + c mod n, freeing x. */
static big *step(big *x, uint32_t c, const big *n) {
  big *sq = mul(x, x);
  free(x);
  big *s = add_small(sq, c);
  free(sq);
  big *r = mod(s, n);
  free(s);
  return r;
}

/* A non-trivial factor of n (composite, odd), by Pollard's rho. */
static big *rho(const big *n) {
  for (uint32_t c = 1;; c++) {
    big *x = from_u64(2), *y = from_u64(2), *q = from_u64(1), *g = NULL;
    for (int i = 1; !g; i++) {
      x = step(x, c, n);
      y = step(step(y, c, n), c, n);
      big *d = absdiff(x, y);
      big *qd = mul(q, d);
      free(q);
      free(d);
      q = mod(qd, n);
      free(qd);
      if (i % 32 == 0 || !q->n) {
        g = gcd(q, n);
        if (g->n == 1 && g->d[0] == 1) {
          free(g);
          g = NULL;
        }
      }
    }
    free(x);
    free(y);
    free(q);
    if (cmp(g, n) != 0) return g;
    free(g); /* the whole cycle collapsed at once: another polynomial */
  }
}

static int is_prime(uint64_t v) {
  if (v < 2) return 0;
  for (uint64_t f = 2; f * f <= v; f++)
    if (v % f == 0) return 0;
  return 1;
}

static uint64_t next_prime(uint64_t v) {
  while (!is_prime(v)) v++;
  return v;
}

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005u + 1442695040888963407u;
  return *s >> 33;
}

static void print_big(const big *a) {
  char digits[400];
  int len = 0;
  big *x = copy(a);
  do {
    uint32_t r;
    big *q = div_small(x, 1000000000u, &r);
    free(x);
    x = q;
    for (int i = 0; i < 9 && (x->n || r || i == 0); i++) {
      digits[len++] = (char)('0' + r % 10);
      r /= 10;
    }
  } while (x->n);
  free(x);
  while (len > 1 && digits[len - 1] == '0') len--;
  while (len) putchar(digits[--len]);
}

int main(int argc, char **argv) {
  int count = argc > 1 ? atoi(argv[1]) : 40;
  uint64_t seed = 12345;
  for (int i = 0; i < count; i++) {
    uint64_t small = next_prime(((uint64_t)1 << (22 + i % 5)) + lcg(&seed) % 100000);
    big *n = from_u64(small);
    int parts = 1 + i % 8;
    for (int k = 0; k < parts; k++) {
      big *p = from_u64(next_prime(((uint64_t)1 << 31) + lcg(&seed) % 1000000));
      big *np = mul(n, p);
      free(n);
      free(p);
      n = np;
    }
    big *f = rho(n);
    uint32_t rem = 1;
    big *co = f->n == 1 ? div_small(n, f->d[0], &rem) : NULL;
    big *back = co ? mul(co, f) : NULL;
    if (!co || rem || cmp(back, n) != 0) {
      fprintf(stderr, "bigrho: wrong factor for composite %d\n", i);
      return 1;
    }
    printf("%d: ", i);
    print_big(n);
    printf(" = ");
    print_big(f);
    printf(" * ");
    print_big(co);
    putchar('\n');
    free(back);
    free(co);
    free(f);
    free(n);
  }
  return 0;
}
