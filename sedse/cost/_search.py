"""Mapping search: enumerate or sample the constrained space, then refine.

Lives in `cost` because choosing needs the cost model (imports run mapping -> cost).

1. The space (`sedse.mapping.mapping_space`) is the product of per-dim factor options
   and per-level canonical loop orders under the accelerator's dataflow. If its size is
   at most `budget` every point is evaluated (exhaustive); otherwise `budget` points
   are drawn uniformly and the result says the budget cut the space.
2. Refinement by steepest descent: from each of the best `keep_top` distinct fitting
   points, evaluate every single change (one dim's option or one level's order) in one
   batch, move to the best, and repeat for at most `rounds` steps or until no change
   improves (a local optimum of the one-digit neighbourhood).
3. The best fitting point by the objective wins; ties break on the other objective
   and then on the lowest digit vector, so the search is deterministic (the random
   stream is seeded from the layer shape, the accelerator and `seed`).

Evaluation runs in vectorised batches of `batch` candidates.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from sedse.cost._core import BatchCost, evaluate
from sedse.errors import MappingError
from sedse.hardware import Accelerator
from sedse.mapping import Candidates, structural_ok
from sedse.mapping._space import MappingSpace, keep_variants, mapping_space
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


@dataclass(frozen=True)
class SearchSettings:
    objective: str = "energy"
    budget: int = 5000
    keep_top: int = 3
    rounds: int = 8
    batch: int = 8192   # candidates per vectorised call (measured fastest, see mapping_speed)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")


@dataclass(frozen=True)
class SearchResult:
    best: Candidates          # a batch of one
    space_size: int
    evaluated: int
    fitting: int
    exhaustive: bool          # False: the budget cut the space (sampled)
    digits: np.ndarray | None = None   # (n_digits,) the best point of the mapping space

    def summary(self) -> str:
        how = "all" if self.exhaustive else f"{self.evaluated:,} sampled+refined of"
        return f"searched {how} {self.space_size:.3g} mappings, {self.fitting:,} fit"


@dataclass
class SearchCache:
    """Search results per (layer shape, accelerator, settings); share it across calls."""

    results: dict = field(default_factory=dict)
    hits: int = 0

    def get(self, layer: Layer, acc: Accelerator, settings: SearchSettings) -> SearchResult:
        key = (layer.shape_key(), acc, settings)
        if key in self.results:
            self.hits += 1
        else:
            self.results[key] = search_mapping(layer, acc, settings)
        return self.results[key]


def _score(space: MappingSpace, digits: np.ndarray, settings: SearchSettings):
    """Objective per digit row (inf where the mapping does not fit) and the tie-break."""
    obj = np.empty(len(digits))
    tie = np.empty(len(digits))
    other = "latency" if settings.objective != "latency" else "energy"
    for s in range(0, len(digits), settings.batch):
        d = digits[s:s + settings.batch]
        cand = space.to_candidates(d)
        cost = evaluate(space.layer, space.acc, cand)
        ok = cost.fits & structural_ok(cand, space.acc, space.layer)
        obj[s:s + len(d)] = np.where(ok, objective_value(cost, settings.objective), np.inf)
        tie[s:s + len(d)] = objective_value(cost, other)
    return obj, tie


def _rank(digits: np.ndarray, obj: np.ndarray, tie: np.ndarray) -> np.ndarray:
    keys = [digits[:, i] for i in range(digits.shape[1] - 1, -1, -1)] + [tie, obj]
    return np.lexsort(keys)


def _binding_constraint(space: MappingSpace, digits: np.ndarray) -> str:
    """The partition that most candidates overflow, as text."""
    cand = space.to_candidates(digits)
    cost = evaluate(space.layer, space.acc, cand)
    over = (cost.tile_bytes > cost.capacity_bytes[:, :, None]).mean(axis=2)
    li, pi = np.unravel_index(int(np.argmax(over)), over.shape)
    if over[li, pi] == 0:
        return "the spatial factors do not fit the array"
    lvl = space.acc.levels[li]
    part = lvl.partitions[pi]
    return (f"level {lvl.name} partition {'+'.join(part.operands)} "
            f"({part.capacity_bytes} B) overflows in {100 * over[li, pi]:.0f}% of candidates")


def _search_space(space: MappingSpace, settings: SearchSettings,
                  rng: np.random.Generator):
    """Sample (or enumerate) one space and refine: (digits, obj, tie, evaluated,
    fitting, exhaustive) of every point evaluated."""
    exhaustive = space.size <= settings.budget
    # samples may repeat a point (rare in spaces larger than the budget): harmless
    digits = space.all_digits() if exhaustive else space.sample_digits(settings.budget, rng)
    obj, tie = _score(space, digits, settings)
    evaluated = len(digits)
    fitting = int(np.isfinite(obj).sum())
    if not exhaustive and fitting:
        radices = np.array(space.radices)
        # all single-digit changes of one point: (sum(radices), n_digits)
        pos = np.repeat(np.arange(len(radices)), radices)
        val = np.concatenate([np.arange(r) for r in radices])
        starts = [i for i in _rank(digits, obj, tie)[:settings.keep_top] if np.isfinite(obj[i])]
        found_d, found_o, found_t = [digits], [obj], [tie]
        for i in starts:
            point, best_o = digits[i].copy(), obj[i]
            for _ in range(settings.rounds):
                nb = np.repeat(point[None, :], len(pos), axis=0)
                nb[np.arange(len(pos)), pos] = val
                o, t = _score(space, nb, settings)
                evaluated += len(nb)
                fitting += int(np.isfinite(o).sum())
                found_d.append(nb)
                found_o.append(o)
                found_t.append(t)
                j = int(np.argmin(o))
                if not o[j] < best_o:
                    break
                point, best_o = nb[j], o[j]
        digits = np.concatenate(found_d)
        obj = np.concatenate(found_o)
        tie = np.concatenate(found_t)
    return digits, obj, tie, evaluated, fitting, exhaustive


def search_mapping(layer: Layer, acc: Accelerator,
                   settings: SearchSettings = SearchSettings()) -> SearchResult:
    """Return the best mapping of `layer` on `acc` found under `settings`.

    Every keep pattern the dataflow allows (`may_bypass`) is its own space, searched
    with the same settings; the best point over all of them wins (ties: the dataflow's
    own pattern first). Raises MappingError naming the layer when no mapping fits.
    """
    best = None          # (obj, tie, variant, space, digits)
    total_size, evaluated, fitting, exhaustive = 0, 0, 0, True
    first_error = None
    for vi, keep in enumerate(keep_variants(acc)):
        try:
            space = mapping_space(layer, acc, keep)
        except MappingError as e:
            first_error = first_error or e
            continue
        # the stream depends on the layer, the design name, the seed and the keep
        # pattern only, so adding spec fields does not reshuffle every sampled search
        key = repr((layer.shape_key(), acc.name, settings.seed) + ((vi,) if vi else ())
                   ).encode()
        rng = np.random.default_rng(zlib.crc32(key))
        digits, obj, tie, n_eval, n_fit, exh = _search_space(space, settings, rng)
        total_size += space.size
        evaluated += n_eval
        fitting += n_fit
        exhaustive &= exh
        if not np.isfinite(obj).any():
            if first_error is None:
                first_error = MappingError(
                    layer.name, f"no mapping of the {space.size:.3g} searched fits "
                    f"{acc.name}: {_binding_constraint(space, digits[:4096])}")
            continue
        i = _rank(digits, obj, tie)[0]
        if best is None or (obj[i], tie[i]) < (best[0], best[1]):
            best = (obj[i], tie[i], vi, space, digits[i].copy())
    if best is None:
        raise first_error
    _, _, _, space, d = best
    return SearchResult(space.to_candidates(d[None, :]), total_size, evaluated, fitting,
                        exhaustive, d)
