"""Compressors behind one interface: SmartExchange and the ablations it is compared with.

Each compressor maps one layer's weight tensor to a `CompressedLayer`: the weights it
reproduces (what the network computes with) and a `WeightEncoding` with its own storage
accounting. Ablations (REFERENCE 1, the paper's comparisons):

* `MagnitudePrune`: keep the largest magnitudes, element-wise (bitmap index, 1 bit per
  weight) or vector-wise (rows of S consecutive kernel-row weights, 1 bit per row);
  kept weights at `bits`.
* `LowRank`: truncated SVD of the K x (C R S) matrix to rank r, factors at `bits`.
* `Pow2Quant` (INQ-style): every weight a signed power of two in a `bits` code (sign +
  exponent, one code for zero) under one per-layer 32-bit scale.
* `UniformQuant`: symmetric uniform `bits` quantisation with one 32-bit scale.

SmartExchange decomposes every conv and FC weight at any basis size (kernel rows when
the kernel width is the basis size, flat rows otherwise). A weight a method cannot
handle (neither 2-D nor 4-D) is kept dense at 8 bits and the reason recorded in `note`;
nothing is skipped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

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
    """Base: `compress(name, w)` returns a `CompressedLayer`."""

    method = "base"

    def compress(self, name: str, w: np.ndarray) -> CompressedLayer:  # pragma: no cover
        raise NotImplementedError


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


@dataclass(frozen=True)
class MagnitudePrune(Compressor):
    sparsity: float = 0.5
    granularity: str = "element"   # or "vector"
    bits: int = 8
    vector_size: int = 3
    method = "prune"

    def __post_init__(self) -> None:
        _check("prune.sparsity", 0.0 <= self.sparsity < 1.0, "a fraction in [0, 1)",
               self.sparsity)
        _check("prune.granularity", self.granularity in ("element", "vector"),
               "element or vector", self.granularity)
        _check("prune.bits", self.bits >= 2, "an integer >= 2", self.bits)

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
            flat = w.reshape(w.shape[0], -1)
            pad = (-flat.shape[1]) % v
            rows = np.pad(flat, ((0, 0), (0, pad))).reshape(-1, v)
            keep = rows.shape[0] - int(round(self.sparsity * rows.shape[0]))
            rmask = np.zeros(rows.shape[0], dtype=bool)
            rmask[np.argsort(-np.abs(rows).sum(axis=1), kind="stable")[:keep]] = True
            full = np.repeat(rmask, v).reshape(w.shape[0], -1)[:, :flat.shape[1]]
            mask = full.reshape(w.shape)
            index, stored = rows.shape[0], keep * v * self.bits
            rows_zero = 1.0 - keep / rows.shape[0]
        r = np.where(mask, _uniform(w, self.bits), 0.0).astype(w.dtype)
        enc = WeightEncoding(f"prune/{self.granularity}", float(mask.mean()), rows_zero,
                             float(self.bits), 0, index, 0.0, stored + index + SCALE_BITS, n)
        return CompressedLayer(name, tuple(w.shape), self.method,
                               _density(enc, r), _rel_error(w, r), r)


@dataclass(frozen=True)
class LowRank(Compressor):
    rank: int = 8
    bits: int = 8
    method = "lowrank"

    def __post_init__(self) -> None:
        _check("lowrank.rank", self.rank >= 1, "an integer >= 1", self.rank)
        _check("lowrank.bits", self.bits >= 2, "an integer >= 2", self.bits)

    def compress(self, name: str, w: np.ndarray) -> CompressedLayer:
        m = w.reshape(w.shape[0], -1).astype(np.float64)
        r = min(self.rank, *m.shape)
        u, s, vt = np.linalg.svd(m, full_matrices=False)
        a, b = _uniform(u[:, :r] * s[:r], self.bits), _uniform(vt[:r], self.bits)
        rec = (a @ b).reshape(w.shape).astype(w.dtype)
        stored = r * (m.shape[0] + m.shape[1]) * self.bits + 2 * SCALE_BITS
        enc = WeightEncoding("lowrank", 1.0, 0.0, float(self.bits), 0, 0, 0.0, stored, w.size)
        return CompressedLayer(name, tuple(w.shape), self.method,
                               _density(enc, rec), _rel_error(w, rec), rec)


@dataclass(frozen=True)
class Pow2Quant(Compressor):
    bits: int = 4
    method = "pow2"

    def __post_init__(self) -> None:
        _check("pow2.bits", self.bits >= 2, "an integer >= 2", self.bits)

    def compress(self, name: str, w: np.ndarray) -> CompressedLayer:
        from sedse.compress._smartexchange import quantise_pow2

        cfg = SmartExchangeConfig(ce_bits=self.bits, max_magnitude=2.0 ** 60)
        r = quantise_pow2(w.astype(np.float64).reshape(1, -1, 1), cfg).reshape(w.shape)
        r = r.astype(w.dtype)
        enc = WeightEncoding("pow2", float((r != 0).mean()), 0.0, float(self.bits), 0, 0, 0.0,
                             w.size * self.bits + SCALE_BITS, w.size)
        return CompressedLayer(name, tuple(w.shape), self.method,
                               _density(enc, r), _rel_error(w, r), r)


def _uniform(w: np.ndarray, bits: int) -> np.ndarray:
    """Symmetric uniform quantisation to `bits` with one scale (max |w|)."""
    return uniform_quantise(w, bits)


@dataclass(frozen=True)
class UniformQuant(Compressor):
    bits: int = 8
    method = "uniform"

    def __post_init__(self) -> None:
        _check("uniform.bits", self.bits >= 2, "an integer >= 2", self.bits)

    def compress(self, name: str, w: np.ndarray) -> CompressedLayer:
        r = _uniform(w, self.bits).astype(w.dtype)
        enc = WeightEncoding(f"uniform{self.bits}", float((r != 0).mean()), 0.0,
                             float(self.bits), 0, 0, 0.0, w.size * self.bits + SCALE_BITS,
                             w.size)
        return CompressedLayer(name, tuple(w.shape), self.method,
                               _density(enc, r), _rel_error(w, r), r)
