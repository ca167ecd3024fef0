#!/usr/bin/env python3
"""Print the size-class tables of csrc/sizeclass.c.

Rule (csrc/test/unit_sizeclass.c checks the table against it):
- classes: 8..64 by 8, then four per doubling up to 16 KiB;
- whole-page classes (4, 8, 12, 16 KiB) are page runs, not bins;
- a run of k pages (1..16) holds regions from its start; its bitmap is
  inline (in the head page's map entry) when at most 32 regions fit,
  otherwise it trails the regions (64-bit words at the run's end);
- k is the smallest whose waste (bytes not in regions) is at most 1/64 of
  the run, or else the k with the least waste ratio.
"""
PAGE = 4096

def classes():
    out = [8 * i for i in range(1, 9)]
    base = 64
    while base < 16384:
        step = base // 4
        out += [base + step * j for j in range(1, 5)]
        base *= 2
    return out

def layout(size, k):
    run = k * PAGE
    n = run // size
    if n <= 32:
        return n, 0, run - n * size
    n = min(n, 4096)
    while n * size + ((n + 63) // 64) * 8 > run:
        n -= 1
    return n, (n + 63) // 64, run - n * size

def table():
    rows = []
    for size in classes():
        if size % PAGE == 0:
            rows.append((size, 0, 0, 0))
            continue
        best = None
        for k in range(1, 17):
            n, words, waste = layout(size, k)
            if n == 0:
                continue
            ratio = waste / (k * PAGE)
            if ratio <= 1 / 64:
                best = (k, n, words, ratio)
                break
            if best is None or ratio < best[3]:
                best = (k, n, words, ratio)
        rows.append((size, best[0], best[1], best[2]))
    return rows

LOOKUP_MAX = 3584  # every size up to here is a bin

def main():
    rows = table()
    print("const ph_class ph__classes[PH_NCLASSES] = {")
    for size, k, n, words in rows:
        align = min(size & -size, PAGE)
        magic = -(-(1 << 32) // size)
        bm_off = k * PAGE - words * 8 if words else 0
        print(f"    {{{size}, {k}, {n}, {words}, {align}, {magic}u, {bm_off}}},")
    print("};")
    print()
    print("/* Class of a request of n <= PH_LOOKUP_MAX bytes, at index (n + 7) / 8. */")
    print("const uint8_t ph__lookup[PH_LOOKUP_MAX / 8 + 1] = {")
    sizes = [r[0] for r in rows]
    idx = [next(i for i, sz in enumerate(sizes) if sz >= max(8 * q, 1)) for q in range(LOOKUP_MAX // 8 + 1)]
    for i in range(0, len(idx), 24):
        print("    " + ", ".join(str(x) for x in idx[i:i + 24]) + ",")
    print("};")

main()
