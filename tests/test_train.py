"""Training: cached float baselines, projection, the paper's alternating retraining (digits)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sedse.compress import (
    MagnitudePrune,
    SmartExchange,
    SmartExchangeConfig,
    TrainConfig,
    accuracy,
    compress_model,
    load_dataset,
    project,
    retrain,
    train_float,
)
from sedse.errors import SpecError


def _mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_float_baseline_is_trained_once_and_cached(digits, tmp_path):
    torch.set_num_threads(1)
    cfg = TrainConfig(epochs=8, lr=0.05)
    a = train_float("mlp", _mlp, digits, cfg, cache_dir=tmp_path)
    files = list(tmp_path.glob("float/mlp-*.pt"))
    assert len(files) == 1
    acc = accuracy(a, digits)
    assert acc > 0.9                                   # a real model on real data
    b = train_float("mlp", _mlp, digits, cfg, cache_dir=tmp_path)   # from the cache
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))
    files[0].write_bytes(b"not a checkpoint")
    with pytest.raises(SpecError, match="corrupted checkpoint"):
        train_float("mlp", _mlp, digits, cfg, cache_dir=tmp_path)


def test_projection_and_retraining_keep_the_structure(digits, tmp_path):
    torch.set_num_threads(1)
    model = train_float("mlp", _mlp, digits, TrainConfig(epochs=8), cache_dir=tmp_path)
    float_acc = accuracy(model, digits)
    comp = MagnitudePrune(0.9)
    c = compress_model(model, comp)
    project(model, c)
    projected = accuracy(model, digits)
    final = retrain(model, digits, comp, epochs=3, cfg=TrainConfig(lr=0.01))
    retrained = accuracy(model, digits)
    # after retraining the model holds exactly the last projection: 90% zeros
    w = model[1].weight.detach().numpy()
    assert (w == 0).mean() >= 0.9 - 1e-9
    assert np.array_equal(w, final.layers[0].weight)
    assert retrained >= projected - 0.02 and retrained > 0.5
    assert float_acc > retrained - 0.2


def test_smartexchange_on_a_trained_model_reports_every_layer(digits, tmp_path):
    model = train_float("mlp", _mlp, digits, TrainConfig(epochs=4), cache_dir=tmp_path)
    c = compress_model(model, SmartExchange(SmartExchangeConfig(theta=1e-2)))
    assert [layer.name for layer in c.layers] == ["1", "3"]
    assert c.compression_ratio(32) > 4 and not c.notes()


def test_decomposed_training_keeps_mask_and_powers_of_two(digits, tmp_path):
    from sedse.compress import train_decomposed

    torch.set_num_threads(1)
    model = train_float("mlp", _mlp, digits, TrainConfig(epochs=6), cache_dir=tmp_path)
    cfg = SmartExchangeConfig(theta=2e-2, row_theta=0.1)
    first = compress_model(model, SmartExchange(cfg))
    c = train_decomposed(model, digits, cfg, epochs=2)
    for before, after in zip(first.layers, c.layers, strict=True):
        ce = after.extra["ce"]
        nz = ce[ce != 0]
        assert np.array_equal(np.log2(np.abs(nz)), np.round(np.log2(np.abs(nz))))
        # the mask is frozen: nothing the decomposition zeroed comes back
        assert not ((before.extra["ce"] == 0) & (ce != 0)).any()
        # the model computes with exactly Ce . B
        assert np.allclose(after.weight, (ce @ after.extra["basis"]).reshape(
            after.shape[0], -1)[:, :np.prod(after.shape[1:])].reshape(after.shape), atol=1e-5)
    assert accuracy(model, digits) > 0.8
    assert c.compression_ratio(32) > 4


def _bn_net():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


def test_network_slimming_prunes_channels_by_bn_scale(digits, tmp_path):
    torch.set_num_threads(1)
    model = train_float("bn", _bn_net, digits, TrainConfig(epochs=3), cache_dir=tmp_path)
    c = retrain(model, digits, SmartExchange(SmartExchangeConfig(theta=1e-3, row_theta=None)),
                epochs=2, slim_frac=0.25)
    gammas = torch.cat([model[1].weight, model[4].weight]).detach()
    assert int((gammas == 0).sum()) == 4                   # 25% of 16 channels
    for conv, bn in ((model[0], model[1]), (model[3], model[4])):
        dead = bn.weight.detach() == 0
        assert (conv.weight.detach()[dead] == 0).all() and (bn.bias.detach()[dead] == 0).all()
    # pruned filters are zero Ce rows in the storage accounting
    assert c.layers[1].encoding.zero_row_frac > 0
    with pytest.raises(SpecError, match="slim_frac: expected a fraction"):
        from sedse.compress import slim

        slim(model, 1.5)
