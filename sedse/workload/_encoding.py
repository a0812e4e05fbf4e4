"""How a layer's weights are stored: the value the compressor hands the cost model.

The cost model never imports the compressor (or torch); it reads this small frozen
value instead. A dense layer is `WeightEncoding.dense(bits)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sedse._yaml import short_number

MAX_ENCODING_INT = 2**40   # bits and weights of one layer; far below int64 overflow
MAX_PER_WEIGHT = 1024.0    # bits or rebuild operations per weight
MAX_BASIS = 1024           # basis size S, and bits of one basis entry
#: a compressed layer keeping fewer non-zero coefficients than this share has collapsed:
#: the compressor zeroed it, so its cost (and what it computes) says nothing about the
#: method, and one such layer can carry a whole network's comparison unseen
COLLAPSE_DENSITY_FRAC = 1e-3
#: ... as has one whose relative error ||W - W'|| / ||W|| is within this of 1: the
#: compressed weights W' nearly vanish (W' = 0 gives exactly 1). An error well beyond 1
#: is not a collapse: after training (decomposed form, straight-through) the weights
#: move away from the float ones they are compared with, most where batch norm follows
COLLAPSE_REL_ERROR = 0.99


@dataclass(frozen=True)
class WeightEncoding:
    """Per-layer storage statistics of the weights (all fractions in 0..1).

    coefficient_density_frac: non-zero coefficients / coefficient slots (Ce for
        SmartExchange, the weights themselves for pruning);
    zero_row_frac: coefficient rows that are entirely zero (skippable rows);
    bits_per_nonzero: bits of one stored coefficient (sign + exponent code for Ce);
    basis_bits: bits of all bases B of the layer (0 without a basis);
    index_bits: bits of the sparsity index (1 per Ce row for direct indexing);
    rebuild_ops_per_weight: shift and add operations to rebuild one dense weight
        (0 when weights are stored dense);
    total_bits: everything stored for the layer's weights;
    dense_weights: the layer's number of weights (for ratios);
    weight_density_frac: non-zeros of the weights the network computes with (the
        rebuilt W = Ce . B for SmartExchange), what an element-sparse design stores;
    basis_size: S of each S x S basis B (0 without a basis, or not recorded: files
        written before it was);
    basis_entry_bits: bits of one entry of B (0 likewise); one basis, what a rebuild
        engine's register file must hold, is S * S * basis_entry_bits bits.
    """

    method: str
    coefficient_density_frac: float
    zero_row_frac: float
    bits_per_nonzero: float
    basis_bits: int
    index_bits: int
    rebuild_ops_per_weight: float
    total_bits: int
    dense_weights: int
    weight_density_frac: float = 1.0
    basis_size: int = 0
    basis_entry_bits: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not self.method:
            raise ValueError(f"method must be a non-empty string, found {self.method!r}")
        for f in ("coefficient_density_frac", "zero_row_frac", "weight_density_frac",
                  "bits_per_nonzero", "rebuild_ops_per_weight"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                    (isinstance(v, float) and not math.isfinite(v)):
                raise ValueError(f"{f} must be a finite number, found {v!r}")
        for f in ("coefficient_density_frac", "zero_row_frac", "weight_density_frac"):
            v = getattr(self, f)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{f} must be in [0, 1], found "
                                 f"{short_number(v) if abs(v) > 10**15 else repr(v)}")
        for f in ("bits_per_nonzero", "rebuild_ops_per_weight"):
            v = getattr(self, f)
            if not 0.0 <= v <= MAX_PER_WEIGHT:
                raise ValueError(f"{f} must be in [0, {MAX_PER_WEIGHT}], found "
                                 f"{short_number(v) if abs(v) > 10**15 else repr(v)}")
        for f in ("basis_size", "basis_entry_bits"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_BASIS:
                raise ValueError(f"{f} must be an integer in [0, {MAX_BASIS}], found "
                                 f"{repr(v)[:60]}")
        if (self.basis_size == 0) != (self.basis_entry_bits == 0):
            raise ValueError("basis_size and basis_entry_bits are both set or both 0, found "
                             f"{self.basis_size} and {self.basis_entry_bits}")
        if self.basis_size == 1:
            raise ValueError("basis_size must be 0 (not recorded) or >= 2, found 1")
        for f in ("basis_bits", "index_bits", "total_bits", "dense_weights"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                shown = short_number(v) if isinstance(v, int) and v < -10**15 else repr(v)
                raise ValueError(f"{f} must be an integer >= 0, found {shown[:60]}")
            if v > MAX_ENCODING_INT:
                raise ValueError(f"{f} must be <= 2^40 (a bound that keeps every count "
                                 f"within 64 bits), found {short_number(v)}")
        if self.one_basis_bits > self.basis_bits:
            raise ValueError(f"basis_bits {self.basis_bits} is less than one "
                             f"{self.basis_size}x{self.basis_size} basis at "
                             f"{self.basis_entry_bits} bits ({self.one_basis_bits})")

    @property
    def bits_per_weight(self) -> float:
        """Stored bits per dense weight (everything: coefficients, bases, indices)."""
        return self.total_bits / max(self.dense_weights, 1)

    @property
    def index_frac(self) -> float:
        """Share of the stored bits that are index bits."""
        return self.index_bits / max(self.total_bits, 1)

    @property
    def one_basis_bits(self) -> int:
        """Bits of one basis B (S x S entries): what a rebuild engine holds (0: none or
        not recorded)."""
        return self.basis_size * self.basis_size * self.basis_entry_bits

    @property
    def needs_rebuild(self) -> bool:
        """True when the stored form must be rebuilt (Ce . B) before a MAC can use it."""
        return self.rebuild_ops_per_weight > 0

    def collapse_reason(self, rel_error: float | None = None) -> str:
        """Why this layer's compression collapsed ("" when it did not): fewer non-zero
        coefficients than `COLLAPSE_DENSITY_FRAC`, or a relative error (when known)
        between `COLLAPSE_REL_ERROR` and 2 - `COLLAPSE_REL_ERROR` (the weights nearly
        vanish). Dense layers never collapse."""
        if self.method == "dense":
            return ""
        why = []
        if self.coefficient_density_frac < COLLAPSE_DENSITY_FRAC:
            why.append(f"coefficient density {self.coefficient_density_frac:.2g} < "
                       f"{COLLAPSE_DENSITY_FRAC:g}")
        if rel_error is not None and \
                COLLAPSE_REL_ERROR <= rel_error <= 2.0 - COLLAPSE_REL_ERROR:
            why.append(f"relative error {rel_error:.3f}, within "
                       f"{1 - COLLAPSE_REL_ERROR:g} of 1: the weights nearly vanish")
        return " and ".join(why)

    @classmethod
    def dense(cls, weights: int, bits: int) -> WeightEncoding:
        return cls("dense", 1.0, 0.0, float(bits), 0, 0, 0.0, weights * bits, weights)

    def compression_ratio(self, dense_bits: int = 8) -> float:
        """Dense storage at `dense_bits` per weight / this encoding's total bits."""
        return self.dense_weights * dense_bits / max(self.total_bits, 1)
