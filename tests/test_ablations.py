"""The fair ablations: least-squared-error and per-channel quantiser scales, pruning
allocated across layers (global threshold, LAMP), per-layer rank selection, and
straight-through (quantisation- / sparsity-aware) retraining on real data (digits)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sedse.compress import (
    LowRank,
    MagnitudePrune,
    Pow2Quant,
    SmartExchange,
    TrainConfig,
    UniformQuant,
    accuracy,
    compress_and_measure,
    compress_model,
    load_dataset,
    retrain,
    train_float,
)
from sedse.compress._quantisers import pow2, pow2_top, uniform, uniform_step
from sedse.errors import SpecError


def _weights(seed: int, shape=(24, 3, 3, 3)) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("seed", [0, 1])
def test_mse_scale_never_loses_to_the_largest_magnitude(bits, seed):
    w = _weights(seed) * np.random.default_rng(seed + 9).uniform(0.1, 3, (24, 1, 1, 1))
    w = w.astype(np.float32)
    for cls in (UniformQuant, Pow2Quant):
        plain = cls(bits).compress("l", w).rel_error
        mse = cls(bits, scale="mse").compress("l", w).rel_error
        per_channel = cls(bits, scale="mse", per_channel=True).compress("l", w).rel_error
        assert mse <= plain + 1e-12 and per_channel <= mse + 1e-12, cls


def test_two_bit_uniform_with_the_mse_scale_keeps_weights():
    """The weak 2-bit quantiser (scale by the largest weight) zeroes almost everything:
    levels -s, 0, s with s = max |w|; the MSE scale keeps a real share."""
    w = _weights(3, (64, 32, 3, 3))
    plain = UniformQuant(2).compress("l", w)
    fair = UniformQuant(2, scale="mse", per_channel=True).compress("l", w)
    assert plain.encoding.weight_density_frac < 0.05
    assert 0.3 < fair.encoding.weight_density_frac < 0.9
    assert fair.rel_error < 0.7 * plain.rel_error
    # every stored scale counted: 64 per-filter scales instead of one
    assert fair.encoding.total_bits - plain.encoding.total_bits == 63 * 32


@pytest.mark.parametrize("bits", [2, 3, 5])
def test_quantisers_give_the_nearest_level(bits):
    m = np.random.default_rng(bits).standard_normal((6, 200))
    top = np.abs(m).max(axis=1, keepdims=True) * 0.7
    levels = np.concatenate([[0.0], 2.0 ** -np.arange(2 ** (bits - 1) - 1)])  # x top
    q = pow2(m, bits, top)
    cand = np.sign(m)[..., None] * top[..., None] * levels
    best = np.abs(cand - np.clip(m, -top, top)[..., None]).min(axis=-1)
    assert np.allclose(np.abs(q - np.clip(m, -top, top)), best)
    step = uniform_step(m, bits, "mse", per_channel=True)
    u = uniform(m, bits, step)
    k = np.arange(-(2 ** (bits - 1) - 1), 2 ** (bits - 1))
    grid = step[..., None] * k
    assert np.allclose(np.abs(u - m), np.abs(grid - m[..., None]).min(axis=-1))
    assert pow2_top(m, bits, "max").shape == (1, 1)


def _model_weights():
    rng = np.random.default_rng(5)
    return {"conv1": rng.standard_normal((6, 1, 5, 5)).astype(np.float32),
            "conv2": 0.2 * rng.standard_normal((16, 6, 5, 5)).astype(np.float32),
            "fc1": 0.05 * rng.standard_normal((120, 400)).astype(np.float32),
            "fc2": 0.5 * rng.standard_normal((10, 120)).astype(np.float32)}


@pytest.mark.parametrize("allocation", ["global", "lamp"])
@pytest.mark.parametrize("granularity", ["element", "vector"])
def test_pruning_allocated_across_layers(allocation, granularity):
    ws = _model_weights()
    comp = MagnitudePrune(0.9, granularity, allocation=allocation)
    plan = comp.plan(ws)
    layers = {n: plan[n].compress(n, w) for n, w in ws.items()}
    units = {n: comp._units(w).size for n, w in ws.items()}
    pruned = sum(round(plan[n].sparsity * units[n]) for n in ws)
    assert pruned == round(0.9 * sum(units.values()))          # the model's budget
    assert len({round(plan[n].sparsity, 3) for n in ws}) > 1   # not one ratio
    assert all(plan[n].allocation == "uniform" for n in ws)
    for c in layers.values():
        assert c.encoding.coefficient_density_frac > 0       # every layer keeps a unit
    if allocation == "global" and granularity == "element":
        kept = np.concatenate([np.abs(ws[n])[layers[n].weight != 0] for n in ws])
        gone = np.concatenate([np.abs(ws[n])[layers[n].weight == 0] for n in ws])
        assert gone.max() <= kept.min()                       # one threshold
    if allocation == "lamp":
        # LAMP keeps the small first layer denser than the uniform ratio would
        assert plan["conv1"].sparsity < 0.9
    assert MagnitudePrune(0.9).plan(ws) == {n: MagnitudePrune(0.9) for n in ws}


def test_low_rank_picks_each_layers_rank_by_kept_energy():
    ws = _model_weights()
    for n, w in ws.items():
        m = w.reshape(w.shape[0], -1).astype(np.float64)
        s = np.linalg.svd(m, compute_uv=False)
        c = LowRank(energy=0.8).compress(n, w)
        r = c.extra["rank"]
        frac = np.cumsum(s * s) / (s * s).sum()
        assert frac[r - 1] >= 0.8 - 1e-12 and (r == 1 or frac[r - 2] < 0.8)
        assert c.encoding.total_bits == r * sum(m.shape) * 8 + 64
    with pytest.raises(SpecError, match="lowrank.energy"):
        LowRank(energy=1.5)


@pytest.mark.parametrize("make, message", [
    (lambda: MagnitudePrune(0.5, allocation="best"), "prune.allocation: expected one of"),
    (lambda: UniformQuant(4, scale="min"), "uniform.scale: expected one of max, mse"),
    (lambda: Pow2Quant(4, scale="x"), "pow2.scale"),
])
def test_bad_ablation_settings_name_the_key(make, message):
    with pytest.raises(SpecError, match=message):
        make()


def _mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    data = load_dataset("digits")
    model = train_float("mlp", _mlp, data, TrainConfig(epochs=8),
                        cache_dir=tmp_path_factory.mktemp("cache"))
    return data, model


class _Counting(UniformQuant):
    """UniformQuant that counts how often the model is projected."""

    calls: list

    def plan(self, weights):
        type(self).calls.append(1)
        return super().plan(weights)


def test_straight_through_retraining_computes_with_the_projection(trained):
    """STE: the final weights are exactly the compressor's projection of the latent
    weights (what is counted), one projection per step, and the accuracy it recovers
    beats the projection alone at 2 bits."""
    data, model = trained
    comp = UniformQuant(2, scale="mse", per_channel=True)
    m = compress_and_measure(model, comp, data, retrain_epochs=2, retrain_mode="ste",
                             float_accuracy=accuracy(model, data), measure_test=False,
                             measure_activations=False)
    for c, (_, mod) in zip(m.compressed.layers, [x for x in m.model.named_modules()
                                                  if isinstance(x[1], nn.Linear)],
                           strict=True):
        w = mod.weight.detach().numpy()
        assert np.array_equal(w, c.weight)
        assert all(len(np.unique(row)) <= 3 for row in w)       # 2-bit levels per filter
    assert m.accuracy > m.projected_accuracy + 0.02
    _Counting.calls = []
    net = _mlp()
    net.load_state_dict(model.state_dict())
    retrain(net, data, _Counting(2), epochs=3, mode="ste", max_steps=5)
    assert len(_Counting.calls) == 5 + 1                       # 5 steps + the final one


def test_pruning_with_ste_keeps_the_budget_and_lets_masks_move(trained):
    data, model = trained
    comp = MagnitudePrune(0.8, allocation="lamp", bits=4, scale="mse", per_channel=True)
    net = _mlp()
    net.load_state_dict(model.state_dict())
    start = compress_model(net, comp)
    final = retrain(net, data, comp, epochs=2, mode="ste")
    zeros = sum(int((c.weight == 0).sum()) for c in final.layers)
    total = sum(c.weight.size for c in final.layers)
    assert zeros >= round(0.8 * total)
    moved = sum(int(((a.weight != 0) != (b.weight != 0)).sum())
                for a, b in zip(start.layers, final.layers, strict=True))
    assert moved > 0                                          # masks follow the weights
    assert accuracy(net, data) > 0.8


def test_ste_refuses_what_it_cannot_do(trained):
    data, model = trained
    with pytest.raises(SpecError, match="SmartExchange trains in the decomposed form"):
        compress_and_measure(model, SmartExchange(), data, retrain_epochs=1,
                             retrain_mode="ste")
    with pytest.raises(SpecError, match="retrain_mode: expected one of alternate, ste"):
        compress_and_measure(model, UniformQuant(4), data, retrain_epochs=1,
                             retrain_mode="qat")
    with pytest.raises(SpecError, match="channel pruning is part of the alternating"):
        retrain(model, data, UniformQuant(4), epochs=1, mode="ste", slim_frac=0.2)
