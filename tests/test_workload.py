"""Workload extraction: MAC counts from the papers, layer kinds, YAML round trip."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import sedse_models
from sedse.errors import SpecError
from sedse.workload import (
    Layer,
    WeightEncoding,
    Workload,
    dump_workload,
    from_torch,
    load_workload,
)


def test_alexnet_conv_macs_match_the_paper():
    """AlexNet at 227 x 227 (grouped CONV2/4/5): MACs per CONV layer as in Eyeriss."""
    wl = sedse_models.workload("alexnet")
    convs = [layer for layer in wl.layers if layer.kind == "conv"]
    assert [c.macs for c in convs] == [105_415_200, 223_948_800, 149_520_384, 112_140_288,
                                       74_760_192]
    assert [c.G for c in convs] == [1, 2, 1, 2, 2]


def test_alexnet_batch4_macs_match_eyeriss_table():
    wl = sedse_models.workload("alexnet", batch=4)
    convs = [layer for layer in wl.layers if layer.kind == "conv"]
    assert [c.macs for c in convs] == [421_660_800, 895_795_200, 598_081_536, 448_561_152,
                                       299_040_768]


def test_resnet18_total_macs():
    wl = sedse_models.workload("resnet18")
    assert wl.macs == 1_814_073_344
    assert wl.layers[-1].kind == "fc" and wl.layers[-1].K == 1000


def test_every_shipped_model_traces():
    for name in sedse_models.MODELS:
        wl = sedse_models.workload(name)
        assert wl.layers and wl.macs > 0, name


def test_depthwise_squeeze_excitation_and_dilation():
    mb = sedse_models.workload("mobilenetv2")
    dw = [layer for layer in mb.layers if layer.G > 1]
    assert dw and all(layer.K == 1 and layer.C == 1 and layer.R == 3 for layer in dw)
    eff = sedse_models.workload("efficientnet_b0")
    se = [layer for layer in eff.layers if "fc1" in layer.name or "fc2" in layer.name]
    assert len(se) == 32 and all(layer.P == layer.Q == 1 for layer in se)
    assert {layer.R for layer in eff.layers if layer.G > 1} == {3, 5}
    dl = sedse_models.workload("deeplabv3plus")
    assert {6, 12, 18} <= {layer.dilation_h for layer in dl.layers}
    aspp6 = next(layer for layer in dl.layers if layer.dilation_h == 6)
    assert (aspp6.P, aspp6.Q) == (32, 32)  # 512 / output stride 16


def test_user_model_with_matmul_and_conv1d():
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(16, 48)
            self.conv = nn.Conv1d(16, 8, 3, padding=1)

        def forward(self, x):  # x: (B, T, 16)
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            a = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
            y = a @ v
            return self.conv(y.transpose(1, 2))

    wl = from_torch(Attn(), (2, 10, 16), name="attn")
    kinds = [(layer.name, layer.kind) for layer in wl.layers]
    assert kinds == [("qkv", "fc"), ("model", "matmul"), ("model#2", "matmul"),
                     ("conv", "conv")]
    qkv, qk, av, conv = wl.layers
    assert qkv.macs == 2 * 10 * 16 * 48
    assert (qk.N, qk.P, qk.C, qk.K) == (2, 10, 16, 10) and qk.weight_is_activation
    assert av.macs == 2 * 10 * 10 * 16
    assert (conv.P, conv.Q, conv.R, conv.S, conv.macs) == (1, 10, 1, 3, 2 * 8 * 16 * 10 * 3)


def test_trained_model_is_not_moved_to_meta():
    model = sedse_models.build("lenet5")
    from_torch(model, (1, 1, 28, 28))
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_yaml_round_trip(tmp_path):
    wl = sedse_models.workload("resnet20")
    path = tmp_path / "w.yaml"
    dump_workload(wl, path)
    assert load_workload(path) == wl


def test_layer_rejects_bad_sizes():
    with pytest.raises(ValueError, match="K must be an integer >= 1"):
        Layer("x", K=0)
    with pytest.raises(ValueError, match="duplicate layer names"):
        Workload("w", (Layer("a"), Layer("a")))


@pytest.mark.parametrize("text, message", [
    ("layers: [{name: a, K: 0}]", "layers[0].K: expected an integer >= 1, found 0"),
    ("layers: [{name: a, K: 64KB}]", "layers[0].K: expected an integer, found the string "
     "'64KB' (write a plain number; the unit belongs in the key name)"),
    ("layers: [{name: a, kernel: 3}]", "layers[0].kernel: unknown key"),
    ("layers: [{K: 3}]", "layers[0]: missing key 'name'"),
    ("layers: [{name: a, kind: pool}]", "layers[0].kind: expected one of conv, fc, matmul"),
    ("layers: []", "layers: expected at least one layer"),
    ("layers: [{name: a}, {name: a}]", "layers: workload w: duplicate layer names"),
    ("layers: [{name: a, K: 2", "malformed YAML"),
])
def test_workload_yaml_errors(write, text, message):
    path = write("w.yaml", text)
    with pytest.raises(SpecError) as exc:
        load_workload(path)
    assert str(exc.value).startswith(str(path))
    assert message in str(exc.value)


@pytest.mark.parametrize("kw, message", [
    ({"basis_size": 3}, "basis_size and basis_entry_bits are both set or both 0"),
    ({"basis_entry_bits": 8}, "basis_size and basis_entry_bits are both set or both 0"),
    ({"basis_size": 1, "basis_entry_bits": 8}, "basis_size must be 0 (not recorded) or >= 2"),
    ({"basis_size": 5, "basis_entry_bits": 8, "basis_bits": 100},
     "basis_bits 100 is less than one 5x5 basis at 8 bits (200)"),
    ({"basis_size": 2000, "basis_entry_bits": 8}, "basis_size must be an integer in [0, 1024]"),
])
def test_basis_fields_of_an_encoding_are_consistent(kw, message):
    from dataclasses import replace

    base = WeightEncoding("smartexchange/direct", 0.5, 0.1, 4.0, 1000, 100, 3.0, 5000, 1000)
    with pytest.raises(ValueError, match=re.escape(message)):
        replace(base, **kw)
    assert replace(base, basis_size=3, basis_entry_bits=8).one_basis_bits == 72
