"""Divisors by factorisation (O(sqrt n) once per n, cached), not by scanning 1..n."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def factorise(n: int) -> tuple[tuple[int, int], ...]:
    """((prime, exponent), ...) of n >= 1, primes ascending (trial division by 2, 3 and
    6k +- 1 up to sqrt(n): about 3e5 steps for a prime near 2^40)."""
    if n < 1:
        raise ValueError(f"factorise: expected n >= 1, found {n}")
    out = []
    for p in (2, 3):
        e = 0
        while n % p == 0:
            n //= p
            e += 1
        if e:
            out.append((p, e))
    p = 5
    while p * p <= n:
        for q in (p, p + 2):
            e = 0
            while n % q == 0:
                n //= q
                e += 1
            if e:
                out.append((q, e))
        p += 6
    if n > 1:
        out.append((n, 1))
    return tuple(out)


@lru_cache(maxsize=4096)
def divisors(n: int) -> tuple[int, ...]:
    """Every divisor of n >= 1, ascending."""
    divs = [1]
    for p, e in factorise(n):
        divs = [d * p**k for d in divs for k in range(e + 1)]
    return tuple(sorted(divs))
