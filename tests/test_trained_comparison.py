"""The trained-network comparison (`benchmarks/trained_comparison.py`), reduced: its
compress-then-compare step on LeNet-5 trained on the 8x8 digits (the benchmark runs
three CIFAR-style networks on Fashion-MNIST, about 40 min). Checks that a row replays
from its compressed directory and carries every baseline's ratios and the top layer."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import trained_comparison as tc  # noqa: E402

from sedse._shipped import model_entry  # noqa: E402
from sedse.compress import TrainConfig, accuracy, load_dataset, train_float  # noqa: E402


def test_a_row_compresses_compares_and_replays(tmp_path):
    torch.set_num_threads(1)
    data = load_dataset("digits")
    model = train_float("lenet5_digits", model_entry("lenet5_digits").build, data,
                        TrainConfig(epochs=20), cache_dir=tmp_path / "cache")
    float_acc = accuracy(model, data)
    rows = []
    for method in ("SmartExchange", "uniform quant"):
        row = tc.compress_one("lenet5_digits", model, data, method, 8.0, 10, float_acc,
                              tmp_path / method.split()[0])
        assert row is not None and abs(row["ratio32"] / 8 - 1) < 0.15
        rows.append(tc.compare_one(row))
    se, uq = rows
    for b in tc.DESIGNS[1:]:
        assert se[f"{b}_energy_x"] > 0 and se[f"{b}_latency_x"] > 0
    assert 0 < se["top_share"] <= 1 and se["top_layer"]
    # on a network it cannot rebuild (uniform 4-bit codes: dense 8-bit weights on every
    # design), the SmartExchange design spends more than on its own encoding
    assert uq["se_energy_uj"] > se["se_energy_uj"]
    again = tc.compare_one({k: se[k] for k in ("model", "method", "params", "float_accuracy",
                                              "accuracy", "test_accuracy", "ratio32",
                                              "ratio8", "compress_s", "dir")})
    assert again["se_energy_uj"] == se["se_energy_uj"]          # the directory replays
    assert again["eyeriss_energy_x"] == se["eyeriss_energy_x"]
    text = tc.summary(rows, 10, 8.0)
    assert text.count("| lenet5_digits |") == 2 and "geometric mean" in text
