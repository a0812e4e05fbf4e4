"""The default mapper: best of a fixed, seeded batch of random candidates.

Lives in `cost` because choosing needs the cost model (imports run mapping -> cost).
Deterministic: the random stream is seeded from the layer's shape, the accelerator
and `seed`, so a layer gets the same mapping in every run and process.
"""

from __future__ import annotations

import zlib

import numpy as np

from sedse.cost._core import BatchCost, evaluate
from sedse.errors import MappingError
from sedse.hardware import Accelerator
from sedse.mapping import Candidates, structural_ok
from sedse.mapping._generate import concat, random_candidates, trivial_candidate
from sedse.workload import Layer

OBJECTIVES = ("energy", "latency", "edp")


def objective_value(cost: BatchCost, objective: str) -> np.ndarray:
    if objective == "energy":
        return cost.total_energy_pj
    if objective == "latency":
        return cost.cycles
    if objective == "edp":
        return cost.total_energy_pj * cost.cycles
    raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")


def default_mapping(layer: Layer, acc: Accelerator, *, n_candidates: int = 3000,
                    objective: str = "energy", seed: int = 0) -> Candidates:
    """Return the best valid candidate (a batch of one) among `n_candidates` random ones."""
    key = repr((layer.shape_key(), acc, seed)).encode()
    rng = np.random.default_rng(zlib.crc32(key))
    cand = concat([trivial_candidate(layer, acc),
                   random_candidates(layer, acc, n_candidates, rng)])
    cost = evaluate(layer, acc, cand)
    ok = cost.fits & structural_ok(cand, acc, layer)
    if not ok.any():
        raise MappingError(layer.name, f"no mapping fits {acc.name}: even one-element tiles "
                           "exceed a level's capacity")
    score = np.where(ok, objective_value(cost, objective), np.inf)
    return cand.take([int(np.argmin(score))])
