"""Training in the decomposed form (SmartDeal, arXiv 2101.01163; REFERENCE 1.3).

Every decomposable Conv2d / Linear weight is replaced, through a torch parametrization,
by W = from_blocks(Q(Ce) * M . B): Ce and B are the trained parameters, Q is the
per-block power-of-two quantiser of `quantise_pow2` with a straight-through estimator
(the backward pass treats Q as the identity), and M is the sparsity mask of the initial
decomposition, frozen. Layers the method does not cover stay ordinary dense weights,
trained with the rest and quantised to 8 bits at the end; the trained B is quantised to
`basis_bits` at the end. `train_decomposed` returns the final `CompressedModel`
(storage from the trained Ce) and leaves the model computing with exactly those weights.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sedse.compress._compressors import CompressedLayer, SmartExchange, _rel_error
from sedse.compress._data import Dataset
from sedse.compress._smartexchange import (
    Blocks,
    SmartExchangeConfig,
    decomposable,
    decompose,
    quantise_pow2,
    uniform_quantise,
)
from sedse.compress._storage import smartexchange_encoding
from sedse.compress._train import CompressedModel, TrainConfig, _weight_modules, train_epochs


def _quantise_torch(c, cfg: SmartExchangeConfig):
    """The numpy quantiser applied to a (detached) tensor: one implementation, so the
    trained Ce uses exactly the rounding the storage accounting assumes."""
    import torch

    q = quantise_pow2(c.detach().cpu().double().numpy(), cfg)
    return torch.from_numpy(q).to(device=c.device, dtype=c.dtype)


class _Rebuild:
    """Factory for the parametrization module (torch imported lazily)."""

    @staticmethod
    def make(ce: np.ndarray, basis: np.ndarray, blocks: Blocks, cfg: SmartExchangeConfig):
        import torch
        from torch import nn

        class Rebuild(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.ce = nn.Parameter(torch.tensor(ce, dtype=torch.float32))
                self.basis = nn.Parameter(torch.tensor(basis, dtype=torch.float32))
                self.register_buffer("mask", torch.tensor(ce != 0, dtype=torch.float32))
                self.blocks = blocks
                self.cfg = cfg

            def quantised(self):
                c = self.ce
                q = c + (_quantise_torch(c.detach(), self.cfg) - c).detach()   # STE
                return q * self.mask

            def forward(self, _w):
                y = self.quantised() @ self.basis
                b = self.blocks
                k = b.shape[0]
                rows = y.reshape(k, -1, y.shape[-1])[:, :b.rows_per_filter].reshape(k, -1)
                if b.pad_cols:
                    rows = rows[:, :rows.shape[1] - b.pad_cols]
                return rows.reshape(b.shape)

        return Rebuild()


def to_decomposed(model, cfg: SmartExchangeConfig) -> list[str]:
    """Parametrize every decomposable weight of `model` in place; return their names."""
    import torch.nn.utils.parametrize as P

    names = []
    for name, mod in list(_weight_modules(model)):
        w = mod.weight.detach().cpu().numpy()
        if not decomposable(tuple(w.shape), cfg.basis_size):
            continue
        d = decompose(w, cfg)
        P.register_parametrization(mod, "weight", _Rebuild.make(d.ce, d.basis, d.blocks, cfg),
                                   unsafe=True)
        names.append(name)
    return names


FINE_TUNE = TrainConfig(lr=0.01)


def train_decomposed(model, data: Dataset, cfg: SmartExchangeConfig, epochs: int,
                     train_cfg: TrainConfig = FINE_TUNE, device: str = "cpu",
                     index: str = "direct", max_steps: int | None = None) -> CompressedModel:
    """Decompose, train Ce and B with the STE for `epochs`, and return the result; the
    model keeps computing with the rebuilt weights."""
    import torch

    original = {n: m.weight.detach().cpu().numpy().copy() for n, m in _weight_modules(model)}
    to_decomposed(model, cfg)
    train_epochs(model, data, train_cfg, epochs, device, seed_offset=2, max_steps=max_steps)
    out = []
    dense = SmartExchange(cfg, index=index)
    for name, mod in _weight_modules(model):
        if not hasattr(mod, "parametrizations"):
            # trained with the rest; stored (and computed with) at 8 bits, as counted
            c = dense.compress(name, mod.weight.detach().cpu().numpy())
            with torch.no_grad():
                mod.weight.copy_(torch.from_numpy(np.asarray(c.weight, dtype=np.float32)))
            out.append(replace(c, rel_error=_rel_error(original[name], c.weight)))
            continue
        reb = mod.parametrizations.weight[0]
        with torch.no_grad():
            # B is stored at basis_bits: quantise the trained basis, compute with it
            reb.basis.copy_(torch.from_numpy(uniform_quantise(
                reb.basis.detach().cpu().double().numpy(), cfg.basis_bits)).float())
            ce = reb.quantised().cpu().numpy().astype(np.float64)
            basis = reb.basis.detach().cpu().numpy().astype(np.float64)
            w = mod.weight.detach().cpu().numpy()
        enc = smartexchange_encoding(ce, reb.blocks.valid, ce_bits=cfg.ce_bits,
                                     basis_bits=cfg.basis_bits, dense_weights=w.size,
                                     index=index)
        out.append(CompressedLayer(name, tuple(w.shape), "smartexchange", enc,
                                   _rel_error(original[name], w), w,
                                   extra={"ce": ce, "basis": basis}))
    return CompressedModel(tuple(out))
