"""Random candidate mappings, generated directly as integer arrays.

Unconstrained random mappings (dataflows ignored) for property tests and benchmarks;
the mapping search draws from `sedse.cost.mapping_space` instead. Per dim, the size
(possibly padded up to a multiple of an array axis) is split into factors over the
spatial axes and the temporal levels, each factor a random divisor of what remains;
slot order and loop orders are random, and half of the spatial picks take the largest
divisor that fits, to favour utilisation.
"""

from __future__ import annotations

import numpy as np

from sedse._numbers import divisors
from sedse.hardware import Accelerator
from sedse.mapping._mapping import Candidates, default_keep_mask
from sedse.workload import DIMS, Layer


def _divisors(n: int) -> np.ndarray:
    return np.array(divisors(n), dtype=np.int64)


def random_candidates(layer: Layer, acc: Accelerator, m: int,
                      rng: np.random.Generator) -> Candidates:
    """Return `m` random candidate mappings of `layer` on `acc` (not yet checked)."""
    L, A, D = len(acc.levels), len(acc.array_axes), len(DIMS)
    tf = np.ones((m, L, D), dtype=np.int64)
    sf = np.ones((m, A, D), dtype=np.int64)
    axis_sizes = np.array([acc.axis_size(a) for a in acc.array_axes], dtype=np.int64)
    cap_left = np.tile(axis_sizes, (m, 1))
    # slots: ("s", axis) then ("t", level); level 0 (outermost) takes the remainder
    slots = [("s", a) for a in range(A)] + [("t", li) for li in range(1, L)]
    for di in rng.permutation(D):
        n = getattr(layer, DIMS[di])
        sizes = {n} | {-(-n // a) * a for a in axis_sizes if -(-n // a) * a <= n * 1.25}
        sizes_arr = np.array(sorted(sizes), dtype=np.int64)
        padded = sizes_arr[rng.integers(0, len(sizes_arr), size=m)]
        remaining = padded.copy()
        all_divs = np.unique(np.concatenate([_divisors(int(s)) for s in sizes_arr]))
        order = rng.permutation(len(slots))
        for si in order:
            kind, idx = slots[si]
            ok = remaining[:, None] % all_divs[None, :] == 0
            if kind == "s":
                ok &= all_divs[None, :] <= cap_left[:, idx][:, None]
                largest = rng.random(m) < 0.5
            else:
                largest = np.zeros(m, dtype=bool)
            score = rng.random((m, len(all_divs))) * ok
            pick_rand = score.argmax(axis=1)
            pick_big = np.where(ok, np.arange(len(all_divs))[None, :], -1).argmax(axis=1)
            f = all_divs[np.where(largest, pick_big, pick_rand)]
            remaining //= f
            if kind == "s":
                sf[:, idx, di] = f
                cap_left[:, idx] //= f
            else:
                tf[:, idx, di] = f
        tf[:, 0, di] = remaining
    order = np.argsort(rng.random((m, L, D)), axis=2).astype(np.int64)
    return Candidates(tf, order, sf, default_keep_mask(acc))
