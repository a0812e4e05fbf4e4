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


@pytest.fixture(scope="module")
def lenet_digits(digits, tmp_path_factory):
    from sedse._shipped import model_entry

    torch.set_num_threads(1)
    entry = model_entry("lenet5_digits")
    model = train_float("lenet5_digits", entry.build, digits, TrainConfig(epochs=2),
                        cache_dir=tmp_path_factory.mktemp("cache"))
    return entry, model


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_compress_and_measure_is_the_steps_it_replaces(digits, lenet_digits):
    """The pipeline gives exactly what its steps give run by hand on a copy of the float
    model (projection; decomposed-form training from the float weights with max_steps),
    and leaves the float model as it was."""
    import copy

    from sedse.compress import activation_stats, compress_and_measure, train_decomposed

    torch.set_num_threads(1)
    _, model = lenet_digits
    before = _state(model)
    cfg = SmartExchangeConfig(theta=0.03)
    m = compress_and_measure(model, SmartExchange(cfg), digits)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    ref = copy.deepcopy(model)
    float_acc = accuracy(ref, digits)
    c = compress_model(ref, SmartExchange(cfg))
    project(ref, c)
    assert (m.float_accuracy, m.projected_accuracy, m.accuracy) == (
        float_acc, accuracy(ref, digits), accuracy(ref, digits))
    assert m.test_accuracy == accuracy(ref, digits, split="test")
    assert m.activations == activation_stats(ref, digits)
    assert m.compressed == c and m.projection == c
    assert all(np.array_equal(a.weight, b.weight)
               for a, b in zip(m.compressed.layers, c.layers, strict=True))

    ft = compress_and_measure(model, SmartExchange(cfg), digits, decomposed_epochs=1,
                              from_float=True, max_steps=3, float_accuracy=0.5,
                              measure_test=False, measure_activations=False)
    ref = copy.deepcopy(model)
    c = train_decomposed(ref, digits, cfg, 1, max_steps=3)
    assert ft.compressed == c and ft.accuracy == accuracy(ref, digits)
    assert ft.float_accuracy == 0.5 and ft.projected_accuracy is None and ft.projection is None
    assert ft.test_accuracy is None and ft.activations is None
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_compress_and_measure_equals_its_directory_round_trip(digits, lenet_digits, tmp_path):
    """The statistics from memory are the value the saved directory gives back: same
    encodings (plain numbers, as layers.json holds them), activations, errors and
    provenance; the saved model.pt reproduces the measured accuracy."""
    from dataclasses import replace

    from sedse.compress import (
        compress_and_measure,
        load_compressed,
        load_compressed_model,
        save_compressed,
        stats_from_compressed,
    )
    from sedse.workload import Workload

    torch.set_num_threads(1)
    entry, model = lenet_digits
    comp = MagnitudePrune(0.7)
    m = compress_and_measure(model, comp, digits, retrain_epochs=1)
    assert m.projection is not None and m.projection != m.compressed
    out = tmp_path / "c"
    src = "measured on digits validation images, 8-bit"
    save_compressed(out, {"model": "lenet5_digits", "dataset": "digits", "method": "prune",
                          "float_accuracy": m.float_accuracy, "accuracy": m.accuracy,
                          "test_accuracy": m.test_accuracy, "activations": m.activations,
                          "activations_source": src}, m.compressed, m.model)
    wl = entry.workload()
    doc, encodings = load_compressed(out, wl, model="lenet5_digits")
    assert encodings == m.encodings
    for name, e in encodings.items():
        assert [type(getattr(e, f)) for f in e.__dataclass_fields__] == \
            [type(getattr(m.encodings[name], f)) for f in e.__dataclass_fields__]
    assert doc["accuracy"] == m.accuracy and doc["activations"] == m.activations
    mem = m.layer_stats(wl, source=out, method="prune", activations_source=src)
    disk = stats_from_compressed(out, wl, "lenet5_digits")
    assert mem == disk and hash(mem) == hash(disk)
    assert mem.apply(wl) == disk.apply(wl) and mem.to_doc() == disk.to_doc()
    assert mem.weights_source.startswith(f"compressed weights from {out} (prune, accuracy ")
    assert accuracy(load_compressed_model(out, entry.build), digits) == m.accuracy
    other = Workload("other", tuple(replace(layer, name=f"x{layer.name}") for layer in wl.layers))
    with pytest.raises(SpecError, match="other has no layer"):
        m.layer_stats(other, source=out, method="prune", activations_source=src)


@pytest.mark.parametrize("kw, message", [
    ({"decomposed_epochs": 1, "retrain_epochs": 1}, "either retrain_epochs or"),
    ({"slim_frac": 0.5}, "channel pruning needs retrain_epochs"),
    ({"from_float": True}, "decomposed_epochs >= 1"),
    ({"max_steps": 3}, "max_steps bounds training"),
])
def test_compress_and_measure_refuses_what_it_cannot_do(digits, kw, message):
    from sedse.compress import compress_and_measure

    with pytest.raises(SpecError, match=message):
        compress_and_measure(_mlp(), SmartExchange(), digits, **kw)
    with pytest.raises(SpecError, match="decomposed-form training is for SmartExchange"):
        compress_and_measure(_mlp(), MagnitudePrune(0.5), digits, decomposed_epochs=1)
