"""Mapping search: enumerate or sample the constrained space, then refine.

Lives in `cost` because choosing needs the cost model (`cost` imports `mapping`, never
the other way).

1. The space (`mapping_space`, `_space.py`) is the product of per-dim factor options
   and per-level canonical loop orders under the accelerator's dataflow. If its size is
   at most `budget` every point is evaluated (exhaustive); otherwise the budget, rounded
   up to whole chunks of `CHUNK` points, is drawn uniformly, chunk by chunk, and the
   result says the budget cut the space.
2. Refinement by steepest descent from the best `keep_top` fitting points of the first
   chunk and, after each later chunk, from the best sampled point so far (if it is not
   a start yet), all descents run together in shared batches: evaluate every single
   change (one dim's option or one level's order) in one batch, move to the best, and
   repeat for at most `rounds` steps or until no change improves (a local optimum of
   the one-digit neighbourhood). Then `kicks` rounds of perturbation: from every
   descent's end, `kick_digits` random digits change (from a stream seeded by that
   point, so a start's chain never depends on the budget) and the descent reruns; a
   better end replaces the start's point. Kicks make the moves a one-digit descent
   cannot: several dims at once (C from DRAM into the buffer while K leaves it), which
   capacity couples. A larger budget repeats a smaller one's work and adds to it, so
   results are monotone in the budget.
3. The best fitting point by the objective wins; ties break on the other objective
   and then on the lowest digit vector, so the search is deterministic (the random
   stream is seeded from the layer shape, the accelerator and `seed`).

Evaluation runs in vectorised batches of `batch` candidates.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import numpy as np

from sedse._progress import task
from sedse.cost._core import BatchCost, evaluate, evaluate_fitting
from sedse.cost._space import MappingSpace, keep_variants, mapping_space
from sedse.errors import MappingError
from sedse.hardware import Accelerator
from sedse.mapping import Candidates, structural_ok
from sedse.workload import Layer

log = logging.getLogger(__name__)
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
    """How one layer's mapping is searched (the one place these defaults live: the CLI,
    studies' ``mapping_search:`` and every caller read them from here)."""

    objective: str = "edp"  # energy | latency | edp: what the search minimises
    budget: int = 5000      # sampled points (whole chunks of CHUNK); exhaustive if smaller
    keep_top: int = 3
    rounds: int = 8
    batch: int = 8192   # candidates per vectorised call (measured fastest, see mapping_speed)
    seed: int = 0
    kicks: int = 1        # perturb-and-descend rounds from every descent's end
    kick_digits: int = 3  # digits a kick changes

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
    # the report of each (layer, accelerator, settings) built from its result: the
    # same inputs exactly (the whole layer, not only its shape), so never another's
    reports: dict = field(default_factory=dict)

    # keys `prefetch` searched that no `get` has asked for yet (not hits), and the
    # MappingError a prefetched search raised (re-raised by `get`, in layer order)
    _fresh: set = field(default_factory=set)
    _errors: dict = field(default_factory=dict)

    def get(self, layer: Layer, acc: Accelerator, settings: SearchSettings) -> SearchResult:
        key = (layer.shape_key(), acc, settings)
        if key in self._errors:
            raise self._errors[key]
        if key in self._fresh:
            self._fresh.discard(key)
        elif key in self.results:
            self.hits += 1
        else:
            self.results[key] = search_mapping(layer, acc, settings)
        return self.results[key]

    def prefetch(self, layers: list[Layer], acc: Accelerator, settings: SearchSettings,
                 workers: int) -> int:
        """Search the distinct shapes of `layers` not cached yet in up to `workers`
        forked processes (each search is seeded by its layer, so the results equal a
        serial run's; `get` then finds them). Nothing happens where forking is unsafe
        or pointless: one worker or shape, not Linux (fork after macOS's system
        libraries is unsafe), or torch loaded (its threads do not survive a fork); `get`
        then searches serially. Returns the number of processes used (1: none)."""
        todo: dict = {}
        for layer in layers:
            key = (layer.shape_key(), acc, settings)
            if key not in self.results and key not in self._errors and key not in todo:
                todo[key] = layer
        n = min(workers, len(todo))
        if n < 2 or not sys.platform.startswith("linux") or "torch" in sys.modules:
            return 1
        ctx = multiprocessing.get_context("fork")
        # the longest searches first (the most factor options: large K and C), so no
        # process is left with a long one at the end while the others idle
        keys = sorted(todo, key=lambda k: -todo[k].K * todo[k].C)
        try:
            with task(f"searching {len(todo)} layer shapes on {acc.name} ({n} processes)"), \
                    ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
                outs = list(pool.map(_search_or_error, [todo[k] for k in keys],
                                     [acc] * len(todo), [settings] * len(todo)))
        except BrokenProcessPool:      # a worker died (memory, a signal): search serially
            log.warning("a mapping-search worker process died; searching in this one")
            return 1
        for key, out in zip(keys, outs, strict=True):
            if isinstance(out, MappingError):
                self._errors[key] = out
            else:
                self.results[key] = out
                self._fresh.add(key)
        return n


def _search_or_error(layer: Layer, acc: Accelerator,
                     settings: SearchSettings) -> SearchResult | MappingError:
    try:
        return search_mapping(layer, acc, settings)
    except MappingError as exc:
        return exc


def _score(space: MappingSpace, digits: np.ndarray, settings: SearchSettings):
    """Objective per digit row (inf where the mapping does not fit) and the tie-break
    (inf too where it does not fit: only fitting rows are ever ranked by it). Only the
    rows that pass the structural and capacity checks are evaluated in full (most
    neighbours and samples overflow a buffer); the numbers equal a full evaluation's."""
    obj = np.full(len(digits), np.inf)
    tie = np.full(len(digits), np.inf)
    other = "latency" if settings.objective != "latency" else "energy"
    for s in range(0, len(digits), settings.batch):
        d = digits[s:s + settings.batch]
        cand = space.to_candidates(d)
        ok, cost = evaluate_fitting(space.layer, space.acc, cand,
                                    structural_ok(cand, space.acc, space.layer))
        if cost is None:
            continue
        obj[s + ok] = objective_value(cost, settings.objective)
        tie[s + ok] = objective_value(cost, other)
    return obj, tie


def _top(digits: np.ndarray, obj: np.ndarray, tie: np.ndarray, k: int) -> np.ndarray:
    """The indices of the `k` best rows in `_rank`'s order, sorting only the rows whose
    objective is within the k smallest (the same answer as ``_rank(...)[:k]``)."""
    if len(obj) > 4 * k:
        kth = np.partition(obj, k - 1)[k - 1]
        if not np.isnan(kth):      # NaN sorts last: fewer than k numbers, sort them all
            sel = np.flatnonzero(obj <= kth)
            if len(sel) < len(obj):
                return sel[_rank(digits[sel], obj[sel], tie[sel])[:k]]
    return _rank(digits, obj, tie)[:k]


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


#: samples per chunk: a search draws whole chunks, each from its own seeded stream, so
#: a larger budget evaluates a superset of a smaller one's points (monotone in budget)
CHUNK = 1000


class _Memo:
    """The objective and tie-break of every point a search has scored, keyed by the
    point's mixed-radix number, so a descent never scores a point twice (a step along
    one dim revisits that dim's whole previous neighbourhood, a kick's descent much of
    its start's). Scores do not depend on the batch, so recalled values equal fresh
    ones. Spaces too large for int64 keys score every point."""

    def __init__(self, space: MappingSpace, settings: SearchSettings) -> None:
        self.space, self.settings = space, settings
        radices = np.array(space.radices, dtype=np.int64)
        self.on = space.size < 2**62
        self.weights = np.concatenate([[1], np.cumprod(radices[:0:-1])])[::-1] \
            if self.on else None
        self.keys = np.empty(0, dtype=np.int64)
        self.obj = np.empty(0)
        self.tie = np.empty(0)

    def score(self, digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.on:
            return _score(self.space, digits, self.settings)
        keys = digits @ self.weights
        at = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        hit = self.keys[at] == keys if len(self.keys) else np.zeros(len(keys), bool)
        obj, tie = np.empty(len(keys)), np.empty(len(keys))
        obj[hit], tie[hit] = self.obj[at[hit]], self.tie[at[hit]]
        miss = np.flatnonzero(~hit)
        if len(miss):
            new, first, inverse = np.unique(keys[miss], return_index=True,
                                            return_inverse=True)
            o, t = _score(self.space, digits[miss[first]], self.settings)
            obj[miss], tie[miss] = o[inverse], t[inverse]
            keys_all = np.concatenate([self.keys, new])
            order = np.argsort(keys_all, kind="stable")
            self.keys = keys_all[order]
            self.obj = np.concatenate([self.obj, o])[order]
            self.tie = np.concatenate([self.tie, t])[order]
        return obj, tie


def _descend_all(space: MappingSpace, starts: list[tuple[np.ndarray, float]],
                 settings: SearchSettings, out: list, memo: _Memo) -> int:
    """Steepest descents over single-digit changes from every start, in lockstep: each
    round evaluates every active descent's neighbourhood in one batch and moves each to
    its best neighbour (stopping a descent when none improves). Appends every batch to
    `out` as (digits, obj, tie); returns the number of points visited (points scored
    before are recalled from `memo`, not scored again)."""
    radices = np.array(space.radices)
    pos = np.repeat(np.arange(len(radices)), radices)
    val = np.concatenate([np.arange(r) for r in radices])
    n_nb = len(pos)
    points = [p.copy() for p, _ in starts]
    best = [o for _, o in starts]
    active = list(range(len(points)))
    n = 0
    for _ in range(settings.rounds):
        if not active:
            break
        nb = np.repeat(np.stack([points[a] for a in active]), n_nb, axis=0)
        rows = np.arange(len(nb))
        nb[rows, np.tile(pos, len(active))] = np.tile(val, len(active))
        o, t = memo.score(nb)
        n += len(nb)
        out.append((nb, o, t))
        still = []
        for k, a in enumerate(active):
            seg = o[k * n_nb:(k + 1) * n_nb]
            j = int(np.argmin(seg))
            if seg[j] < best[a]:
                points[a], best[a] = nb[k * n_nb + j], seg[j]
                still.append(a)
        active = still
    for i, (pt, ob) in enumerate(zip(points, best, strict=True)):
        starts[i] = (pt, ob)
    return n


def _search_space(space: MappingSpace, settings: SearchSettings, key: bytes):
    """Enumerate one space, or sample it in chunks and refine: (digits, obj, tie,
    evaluated, fitting, exhaustive) of every point evaluated.

    Sampling: ceil(budget / CHUNK) chunks of CHUNK points, chunk k from its own stream
    (seeded by `key` and k). Descent starts: the `keep_top` best points of the first
    chunk, and after each later chunk the best sampled point so far if it is not a
    start yet; the descents then run together. The starts after chunk k depend on
    chunks 1..k only, so a larger budget does everything a smaller one did and more:
    its best is never worse.
    """
    exhaustive = space.size <= settings.budget
    if exhaustive:
        digits = space.all_digits()
        obj, tie = _score(space, digits, settings)
        return digits, obj, tie, len(digits), int(np.isfinite(obj).sum()), True
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    starts: list[tuple[np.ndarray, float]] = []
    tags: set[bytes] = set()
    evaluated = 0
    n_chunks = -(-settings.budget // CHUNK)
    # every chunk from its own stream, all scored in one call (a point's cost does not
    # depend on the batch it is in)
    chunks = [space.sample_digits(CHUNK, np.random.default_rng(zlib.crc32(key + b"/%d" % k)))
              for k in range(n_chunks)]
    memo = _Memo(space, settings)
    o_all, t_all = memo.score(np.concatenate(chunks))
    for k, d in enumerate(chunks):
        o, t = o_all[k * CHUNK:(k + 1) * CHUNK], t_all[k * CHUNK:(k + 1) * CHUNK]
        evaluated += len(d)
        found.append((d, o, t))
        ranked = _top(d, o, t, max(settings.keep_top, 1))
        if k == 0:
            picks = [(d[i], o[i], t[i]) for i in ranked[:settings.keep_top]]
            best = picks[0]
        else:
            # the best sampled point so far (ties: lower tie-break, then lower digits)
            i = ranked[0]
            pair = [best, (d[i], o[i], t[i])]
            j = _rank(np.stack([p[0] for p in pair]), np.array([p[1] for p in pair]),
                      np.array([p[2] for p in pair]))[0]
            best = pair[j]
            picks = [best]
        for pd, po, _ in picks:
            tag = pd.tobytes()
            if np.isfinite(po) and tag not in tags:
                tags.add(tag)
                starts.append((pd.copy(), po))
    evaluated += _descend_all(space, starts, settings, found, memo)
    # kicks: from every descent's end, change `kick_digits` random digits (a stream of
    # its own per start, so a start's chain does not depend on the budget) and descend
    # again; a better end replaces the start's point
    radices = np.array(space.radices)
    for j in range(settings.kicks):
        kicked = []
        for p, _ in starts:
            rng = np.random.default_rng(zlib.crc32(key + b"/kick/%d/" % j + p.tobytes()))
            q = p.copy()
            at = rng.choice(len(radices), size=min(settings.kick_digits, len(radices)),
                            replace=False)
            q[at] = (rng.random(len(at)) * radices[at]).astype(np.int64)
            kicked.append(q)
        if not kicked:
            break
        kd = np.stack(kicked)
        ko, kt = memo.score(kd)
        evaluated += len(kd)
        found.append((kd, ko, kt))
        trial = [(kd[i].copy(), ko[i]) for i in range(len(kd))]
        evaluated += _descend_all(space, trial, settings, found, memo)
        starts = [t if t[1] < s0[1] else s0 for t, s0 in zip(trial, starts, strict=True)]
    digits = np.concatenate([f[0] for f in found])
    obj = np.concatenate([f[1] for f in found])
    tie = np.concatenate([f[2] for f in found])
    return digits, obj, tie, evaluated, int(np.isfinite(obj).sum()), False


def search_mapping(layer: Layer, acc: Accelerator,
                   settings: SearchSettings = SearchSettings()) -> SearchResult:
    """Return the best mapping of `layer` on `acc` found under `settings`.

    Every keep pattern the dataflow allows (`may_bypass`) is its own space, searched
    with the same settings; the best point over all of them wins (ties: the dataflow's
    own pattern first). Raises MappingError naming the layer when no mapping fits.
    """
    best = None          # (obj, tie, variant, space, digits)
    total_size, evaluated, fitting, exhaustive = 0, 0, 0, True
    first_error: MappingError | None = None
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
        digits, obj, tie, n_eval, n_fit, exh = _search_space(space, settings, key)
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
        i = _top(digits, obj, tie, 1)[0]
        if best is None or (obj[i], tie[i]) < (best[0], best[1]):
            best = (obj[i], tie[i], vi, space, digits[i].copy())
    if best is None:
        # keep_variants is never empty, and a variant without a best point sets the error
        assert first_error is not None
        raise first_error
    _, _, _, space, d = best
    return SearchResult(space.to_candidates(d[None, :]), total_size, evaluated, fitting,
                        exhaustive, d)
