"""How a layer's weights are held at each level of a design, and which zeros it skips.

The cost core asks one question per (layer, accelerator): `weight_format`. The answer
is data; no design is special-cased:

* ``rebuild``: the design has rebuild engines and the layer's `WeightEncoding` needs a
  rebuild (Ce . B). Levels down to the rebuild level hold the stored form at
  `encoding.bits_per_weight` bits per dense weight (Ce non-zeros + B + index); levels
  below hold dense rebuilt weights at `weight_bits`.
* ``sparse``: the design stores element-sparse weights (`sparsity.weights` gate or
  skip). Levels down to `sparsity.compressed_down_to` hold non-zeros plus
  `weight_index_bits` each: density x (weight_bits + index bits) per dense weight, or
  dense when that is larger.
  Each rebuild engine holds one basis B in its register file: a layer whose basis
  (S x S entries at the encoding's bits) exceeds `rebuild.basis_rf_bytes` cannot be
  rebuilt on the design (a MappingError naming the key; a study records the trial as
  infeasible).
* ``dense``: everything else, including a SmartExchange encoding on a design without
  rebuild engines (it stores the rebuilt weights).

Skipped work (independent zero patterns assumed; no load imbalance modelled):
``keep_frac`` = product of the kept fractions of every zero kind the design skips
(weights: density; weight rows: 1 - zero_row_frac, only on the rebuild path where the
rows exist; inputs: 1 - input_zero_frac; input rows: 1 - input_zero_row_frac).
``gate_frac`` is the same product over the gated kinds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sedse.errors import MappingError
from sedse.hardware import Accelerator
from sedse.workload import Layer


@dataclass(frozen=True)
class WeightFormat:
    kind: str                  # rebuild / sparse / dense
    bits_at: np.ndarray        # (L + 1,) bits per dense weight held at each level (L: MAC)
    compressed_to: int         # lowest level holding the compressed form (-1: none)
    index_frac: float          # share of compressed bits that are index bits
    keep_frac: float           # work left after skipping
    keep_weight_frac: float    # the weight-side part of keep_frac
    gate_input_frac: float     # MAC energy left after gating zero inputs
    gate_weight_frac: float    # MAC energy left after gating zero weights

    @property
    def gate_frac(self) -> float:
        return self.gate_input_frac * self.gate_weight_frac


def basis_misfit(acc: Accelerator, basis_size: int, entry_bits: int) -> str:
    """Why one basis_size x basis_size basis at `entry_bits` does not fit `acc`'s rebuild
    engines' register file ("" when it does, or without engines)."""
    need = basis_size * basis_size * entry_bits
    if acc.rebuild is None or need <= 8 * acc.rebuild.basis_rf_bytes:
        return ""
    return (f"one {basis_size}x{basis_size} basis at {entry_bits} bits is {-(-need // 8)} B, "
            f"more than the {acc.rebuild.basis_rf_bytes} B a rebuild engine holds")


def weight_format(layer: Layer, acc: Accelerator) -> WeightFormat:
    """Return how `layer`'s weights are held on `acc` and which of its zeros are skipped."""
    L = len(acc.levels)
    enc = layer.encoding
    dense = float(layer.weight_bits)
    bits = np.full(L + 1, dense)
    sp = acc.sparsity
    kind, lowest, index_frac = "dense", -1, 0.0
    # a memory with several tile boundaries holds one form at all of them: the stored
    # form reaches down to its last boundary, wherever the mapping keeps W in it
    if acc.rebuild is not None and enc.needs_rebuild:
        why = basis_misfit(acc, enc.basis_size, enc.basis_entry_bits)
        if why:
            raise MappingError(f"{acc.source or acc.name}: rebuild.basis_rf_bytes",
                               f"layer {layer.name}: {why}")
        kind = "rebuild"
        lowest = acc.memory_levels(acc.level_index(acc.rebuild.after_level))[-1]
        bits[:lowest + 1] = enc.bits_per_weight
        index_frac = enc.index_frac
    elif sp.weights != "none":
        per_nz = layer.weight_bits + sp.weight_index_bits
        sparse_bits = enc.weight_density_frac * per_nz
        if sparse_bits < dense:
            kind = "sparse"
            lowest = acc.memory_levels(acc.level_index(sp.compressed_down_to))[-1] \
                if sp.compressed_down_to else L - 1
            bits[:lowest + 1] = sparse_bits
            index_frac = sp.weight_index_bits / per_nz

    def use(mode: str, frac_left: float) -> tuple[float, float]:
        return (frac_left if mode == "skip" else 1.0, frac_left if mode == "gate" else 1.0)

    kw_w, gw_w = use(sp.weights, enc.weight_density_frac)
    if kind == "rebuild":
        kr, gr = use(sp.weight_rows, 1.0 - enc.zero_row_frac)
        kw_w, gw_w = kw_w * kr, gw_w * gr
    ki, gi = use(sp.inputs, 1.0 - layer.input_zero_frac)
    kir, gir = use(sp.input_rows, 1.0 - layer.input_zero_row_frac)
    return WeightFormat(kind, bits, lowest, index_frac, kw_w * ki * kir, kw_w,
                        gi * gir, gw_w)
