"""Compressors behind one interface: SmartExchange and the ablations it is compared with.

Each compressor maps one layer's weight tensor to a `CompressedLayer`: the weights it
reproduces (what the network computes with) and a `WeightEncoding` with its own storage
accounting. Ablations (REFERENCE 1, the paper's comparisons), each in its plain form
(the defaults) and in the fair form a reviewer expects of the state of the art of its
idea (the options):

* `MagnitudePrune`: keep the largest magnitudes, element-wise (bitmap index, 1 bit per
  weight) or vector-wise (rows of S consecutive kernel-row weights, 1 bit per row);
  kept weights at `bits`. The sparsity is one ratio for every layer, or allocated
  across layers by one global magnitude threshold or by LAMP scores (`allocation`).
* `LowRank`: truncated SVD of the K x (C R S) matrix to rank r, factors at `bits`; or
  per-layer rank selection by kept spectral energy (`energy`).
* `Pow2Quant` (INQ-style): every weight a signed power of two in a `bits` code (sign +
  exponent, one code for zero) under a 32-bit scale.
* `UniformQuant`: symmetric uniform `bits` quantisation under a 32-bit scale.

The quantisers' scale is the largest magnitude, or the least-squared-error scale
(`scale="mse"`), per layer or per filter (`per_channel`; every scale is counted). With
`retrain(..., mode="ste")` each gets quantisation- (or sparsity-) aware retraining
with a straight-through estimator.

SmartExchange decomposes every conv and FC weight at any basis size (kernel rows when
the kernel width is the basis size, flat rows otherwise). A weight a method cannot
handle (neither 2-D nor 4-D) is kept dense at 8 bits and the reason recorded in `note`;
nothing is skipped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from sedse.compress._quantisers import SCALES, pow2, pow2_top, uniform, uniform_step
from sedse.compress._smartexchange import (
    SmartExchangeConfig,
    decomposable,
    decompose,
    uniform_quantise,
)
from sedse.compress._storage import INDEX_SCHEMES, smartexchange_encoding
from sedse.errors import SpecError
from sedse.workload import WeightEncoding

SCALE_BITS = 32
DENSE_BITS = 8


@dataclass(frozen=True)
class CompressedLayer:
    name: str
    shape: tuple[int, ...]
    method: str
    encoding: WeightEncoding
    rel_error: float                     # ||W - W'||_F / ||W||_F
    weight: np.ndarray = field(compare=False, repr=False)
    note: str = ""
    extra: dict = field(default_factory=dict, compare=False, repr=False)  # e.g. Ce, B


def _density(enc: WeightEncoding, weight: np.ndarray) -> WeightEncoding:
    """`enc` with the non-zero fraction of the weights the network computes with."""
    return replace(enc, weight_density_frac=float(np.count_nonzero(weight)) / max(weight.size, 1))


def _rel_error(w: np.ndarray, r: np.ndarray) -> float:
    n = float(np.linalg.norm(w))
    return float(np.linalg.norm(w - r)) / n if n > 0 else 0.0


def _dense(name: str, w: np.ndarray, note: str) -> CompressedLayer:
    """A layer kept dense: quantised to DENSE_BITS (one 32-bit scale), as counted."""
    r = _uniform(w, DENSE_BITS).astype(w.dtype)
    enc = replace(WeightEncoding.dense(w.size, DENSE_BITS),
                  total_bits=w.size * DENSE_BITS + SCALE_BITS)
    return CompressedLayer(name, tuple(w.shape), "dense", enc, _rel_error(w, r), r,
                           note + f" (at {DENSE_BITS} bits)" if note else note)


def _check(name: str, ok: bool, expected: str, value) -> None:
    if not ok:
        raise SpecError(name, f"expected {expected}, found {value!r}")


class Compressor:
    """Base: `compress(name, w)` returns a `CompressedLayer`.

    `plan(weights)` gives the compressor each layer is compressed with, from all the
    model's weights at once: itself for every layer by default; a compressor that
    allocates a budget across layers (global or layer-adaptive pruning) returns per-layer
    copies with the allocation resolved. `compress_model` calls it first."""

    method = "base"

    def compress(self, name: str, w: np.ndarray) -> CompressedLayer:  # pragma: no cover
        raise NotImplementedError

    def plan(self, weights: Mapping[str, np.ndarray]) -> dict[str, Compressor]:
        return {name: self for name in weights}


@dataclass(frozen=True)
class SmartExchange(Compressor):
    config: SmartExchangeConfig = SmartExchangeConfig()
    index: str = "direct"
    method = "smartexchange"

    def __post_init__(self) -> None:
        _check("smartexchange.index", self.index in INDEX_SCHEMES,
               f"one of {', '.join(INDEX_SCHEMES)}", self.index)

    def compress(self, name: str, w: np.ndarray) -> CompressedLayer:
        cfg = self.config
        if not decomposable(tuple(w.shape), cfg.basis_size):
            return _dense(name, w, f"kept dense: a weight of shape {tuple(w.shape)} is "
                          "not a conv or FC weight")
        d = decompose(w, cfg)
        r = d.reconstruct().astype(w.dtype)
        enc = smartexchange_encoding(d.ce, d.blocks.valid, ce_bits=cfg.ce_bits,
                                     basis_bits=cfg.basis_bits, dense_weights=w.size,
                                     index=self.index)
        return CompressedLayer(name, tuple(w.shape), self.method,
                               _density(enc, r), _rel_error(w, r), r,
                               extra={"ce": d.ce, "basis": d.basis, "iterations": d.iterations})


ALLOCATIONS = ("uniform", "global", "lamp")


def _check_scale(prefix: str, scale: str) -> None:
    _check(f"{prefix}.scale", scale in SCALES, f"one of {', '.join(SCALES)}", scale)


def _scale_bits(w: np.ndarray, per_channel: bool) -> int:
    return SCALE_BITS * (w.shape[0] if per_channel else 1)


@dataclass(frozen=True)
class MagnitudePrune(Compressor):
    """Magnitude pruning, kept weights uniform at `bits` (a bitmap index, 1 bit per unit).

    granularity: the unit pruned, a weight ("element") or a row of `vector_size`
        consecutive weights of a filter ("vector", ranked by L1 norm);
    allocation: how `sparsity` (the fraction of all the model's units pruned) is spread
        over the layers: "uniform" (every layer at `sparsity`), "global" (one magnitude
        threshold over every layer's units), "lamp" (layer-adaptive magnitude scores,
        Lee et al., ICLR 2021: a unit's squared magnitude over the sum of those not
        smaller in its layer, one threshold over all layers). "global" and "lamp" resolve
        to per-layer sparsities in `plan`; every layer keeps at least one unit;
    scale / per_channel: the kept weights' quantiser scale ("max" or "mse", over the kept
        weights only; see `_quantisers`), one 32-bit scale per layer or per filter.
    """

    sparsity: float = 0.5
    granularity: str = "element"   # or "vector"
    bits: int = 8
    vector_size: int = 3
    allocation: str = "uniform"
    scale: str = "max"
    per_channel: bool = False
    method = "prune"

    def __post_init__(self) -> None:
        _check("prune.sparsity", 0.0 <= self.sparsity < 1.0, "a fraction in [0, 1)",
               self.sparsity)
        _check("prune.granularity", self.granularity in ("element", "vector"),
               "element or vector", self.granularity)
        _check("prune.bits", self.bits >= 2, "an integer >= 2", self.bits)
        _check("prune.allocation", self.allocation in ALLOCATIONS,
               f"one of {', '.join(ALLOCATIONS)}", self.allocation)
        _check_scale("prune", self.scale)

    def _units(self, w: np.ndarray) -> np.ndarray:
        """Each unit's magnitude: |w| per weight, or the L1 norm of each vector."""
        if self.granularity == "element":
            return np.abs(w).reshape(-1).astype(np.float64)
        flat = w.reshape(w.shape[0], -1)
        pad = (-flat.shape[1]) % self.vector_size
        rows = np.pad(flat, ((0, 0), (0, pad))).reshape(-1, self.vector_size)
        return np.abs(rows).astype(np.float64).sum(axis=1)

    def plan(self, weights: Mapping[str, np.ndarray]) -> dict[str, Compressor]:
        if self.allocation == "uniform":
            return super().plan(weights)
        names = list(weights)
        scores = [self._units(weights[n]) for n in names]
        if self.allocation == "lamp":
            lamp = []
            for u in scores:
                sq = u * u
                order = np.argsort(sq, kind="stable")
                tail = np.cumsum(sq[order][::-1])[::-1]      # sum of those not smaller
                s = np.empty_like(sq)
                s[order] = np.divide(sq[order], tail, out=np.zeros_like(tail),
                                     where=tail > 0)
                lamp.append(s)
            scores = lamp
        sizes = np.array([len(u) for u in scores])
        every = np.concatenate(scores)
        pruned = int(round(self.sparsity * every.size))
        owner = np.repeat(np.arange(len(names)), sizes)
        lowest = np.argsort(every, kind="stable")[:pruned]
        counts = np.minimum(np.bincount(owner[lowest], minlength=len(names)), sizes - 1)
        return {n: replace(self, allocation="uniform", sparsity=float(k) / int(size))
                for n, k, size in zip(names, counts, sizes, strict=True)}

    def compress(self, name: str, w: np.ndarray) -> CompressedLayer:
        n = w.size
        if self.granularity == "element":
            keep = n - int(round(self.sparsity * n))
            mask: np.ndarray = np.zeros(n, dtype=bool)
            mask[np.argsort(-np.abs(w).reshape(-1), kind="stable")[:keep]] = True
            mask = mask.reshape(w.shape)
            index, stored = n, keep * self.bits
            rows_zero = 0.0
        else:
            v = self.vector_size
            units = self._units(w)
            keep = units.size - int(round(self.sparsity * units.size))
            rmask = np.zeros(units.size, dtype=bool)
            rmask[np.argsort(-units, kind="stable")[:keep]] = True
            cols = w.reshape(w.shape[0], -1).shape[1]
            full = np.repeat(rmask, v).reshape(w.shape[0], -1)[:, :cols]
            mask = full.reshape(w.shape)
            index, stored = units.size, keep * v * self.bits
            rows_zero = 1.0 - keep / units.size
        m = w.reshape(w.shape[0], -1).astype(np.float64)
        m_mask = mask.reshape(m.shape)
        step = uniform_step(m, self.bits, self.scale, self.per_channel, m_mask)
        r = np.where(m_mask, uniform(m, self.bits, step), 0.0).reshape(w.shape).astype(w.dtype)
        enc = WeightEncoding(f"prune/{self.granularity}", float(mask.mean()), rows_zero,
                             float(self.bits), 0, index, 0.0,
                             stored + index + _scale_bits(w, self.per_channel), n)
        return CompressedLayer(name, tuple(w.shape), self.method,
                               _density(enc, r), _rel_error(w, r), r)


@dataclass(frozen=True)
class LowRank(Compressor):
    """Truncated SVD of the K x (C R S) matrix, both factors uniform at `bits` (one
    32-bit scale each).

    rank: the rank of every layer (capped by the matrix's smaller side); or
    energy: per-layer rank selection (when given, `rank` is not used): each layer's rank
        is the smallest that keeps this fraction of its squared singular values.
    """

    rank: int = 8
    bits: int = 8
    energy: float | None = None
    method = "lowrank"

    def __post_init__(self) -> None:
        _check("lowrank.rank", self.rank >= 1, "an integer >= 1", self.rank)
        _check("lowrank.bits", self.bits >= 2, "an integer >= 2", self.bits)
        _check("lowrank.energy", self.energy is None or 0.0 < self.energy <= 1.0,
               "a fraction in (0, 1] or null", self.energy)

    def compress(self, name: str, w: np.ndarray) -> CompressedLayer:
        m = w.reshape(w.shape[0], -1).astype(np.float64)
        u, s, vt = np.linalg.svd(m, full_matrices=False)
        if self.energy is None:
            r = min(self.rank, *m.shape)
        else:
            kept = np.cumsum(s * s)
            r = int(np.searchsorted(kept, self.energy * kept[-1] * (1 - 1e-12))) + 1 \
                if kept[-1] > 0 else 1
            r = min(r, len(s))
        a, b = _uniform(u[:, :r] * s[:r], self.bits), _uniform(vt[:r], self.bits)
        rec = (a @ b).reshape(w.shape).astype(w.dtype)
        stored = r * (m.shape[0] + m.shape[1]) * self.bits + 2 * SCALE_BITS
        enc = WeightEncoding("lowrank", 1.0, 0.0, float(self.bits), 0, 0, 0.0, stored, w.size)
        return CompressedLayer(name, tuple(w.shape), self.method,
                               _density(enc, rec), _rel_error(w, rec), rec,
                               extra={"rank": r})


@dataclass(frozen=True)
class Pow2Quant(Compressor):
    """INQ-style: every weight a signed power of two in a `bits` code (sign + exponent,
    one code for zero): 2**(bits-1) - 1 magnitudes below a top level.

    scale "max": the top is the largest magnitude rounded to a power of two (per layer,
        or per filter with `per_channel`); "mse": the top (a 32-bit scale) with the least
        squared error on a grid (see `_quantisers`)."""

    bits: int = 4
    scale: str = "max"
    per_channel: bool = False
    method = "pow2"

    def __post_init__(self) -> None:
        _check("pow2.bits", self.bits >= 2, "an integer >= 2", self.bits)
        _check_scale("pow2", self.scale)

    def compress(self, name: str, w: np.ndarray) -> CompressedLayer:
        from sedse.compress._smartexchange import quantise_pow2

        m = w.astype(np.float64).reshape(w.shape[0], -1)
        if self.scale == "max":
            cfg = SmartExchangeConfig(ce_bits=self.bits, max_magnitude=2.0 ** 60)
            blocks = m[:, :, None] if self.per_channel else m.reshape(1, -1, 1)
            q = quantise_pow2(blocks, cfg)
        else:
            q = pow2(m, self.bits, pow2_top(m, self.bits, "mse", self.per_channel))
        r = q.reshape(w.shape).astype(w.dtype)
        enc = WeightEncoding("pow2", float((r != 0).mean()), 0.0, float(self.bits), 0, 0, 0.0,
                             w.size * self.bits + _scale_bits(w, self.per_channel), w.size)
        return CompressedLayer(name, tuple(w.shape), self.method,
                               _density(enc, r), _rel_error(w, r), r)


def _uniform(w: np.ndarray, bits: int) -> np.ndarray:
    """Symmetric uniform quantisation to `bits` with one scale (max |w|)."""
    return uniform_quantise(w, bits)


@dataclass(frozen=True)
class UniformQuant(Compressor):
    """Symmetric uniform `bits` quantisation; scale "max" (the largest magnitude) or
    "mse" (the least squared error on a grid), per layer or per filter (`per_channel`),
    each scale stored at 32 bits."""

    bits: int = 8
    scale: str = "max"
    per_channel: bool = False
    method = "uniform"

    def __post_init__(self) -> None:
        _check("uniform.bits", self.bits >= 2, "an integer >= 2", self.bits)
        _check_scale("uniform", self.scale)

    def compress(self, name: str, w: np.ndarray) -> CompressedLayer:
        m = w.astype(np.float64).reshape(w.shape[0], -1)
        step = uniform_step(m, self.bits, self.scale, self.per_channel)
        r = uniform(m, self.bits, step).reshape(w.shape).astype(w.dtype)
        enc = WeightEncoding(f"uniform{self.bits}", float((r != 0).mean()), 0.0,
                             float(self.bits), 0, 0, 0.0,
                             w.size * self.bits + _scale_bits(w, self.per_channel), w.size)
        return CompressedLayer(name, tuple(w.shape), self.method,
                               _density(enc, r), _rel_error(w, r), r)
