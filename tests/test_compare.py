"""Matched designs, per-layer statistics and `sedse compare` (tables, figures, errors)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pytest

import sedse_models
from sedse.cli import main
from sedse.compare import compare
from sedse.compress import stats_from_compressed, stats_from_file
from sedse.compress._activations import naf_digits
from sedse.cost import CATEGORIES, SearchSettings, evaluate_workload
from sedse.errors import SpecError
from sedse.hardware import Budget, load_accelerator, load_designs, load_technology, match_design
from sedse.hardware._matched import _shape
from sedse.workload import WeightEncoding, Workload

from .conftest import HW

TECH = HW / "tech" / "65nm.yaml"
SE = WeightEncoding("smartexchange/direct", 0.3, 0.4, 4.0, 512, 300, 1.2, 4000, 9000, 0.6)


def test_shape_keeps_the_aspect_ratio_and_the_exact_count():
    assert _shape((("rows", 12), ("cols", 14)), 256) == (("rows", 16), ("cols", 16))
    assert _shape((("a", 4), ("b", 6), ("c", 7)), 168) == (("a", 4), ("b", 6), ("c", 7))
    shape = _shape((("f", 16), ("w", 16), ("l", 16)), 168 * 16)
    assert np.prod([s for _, s in shape]) == 168 * 16


@pytest.mark.parametrize("name", ["eyeriss", "diannao", "scnn", "cambricon_x", "bit_pragmatic",
                                  "smartexchange", "systolic_ws_32x32"])
def test_matched_designs_get_the_budget(name):
    """Same MACs (x16 serial units for bit-serial), SRAM within 1% (integer rounding of
    scaled partitions), clock, precision, and every energy from the technology."""
    tech = load_technology(TECH)
    budget = Budget.of(load_accelerator(HW / "smartexchange.yaml"))
    assert budget == Budget(168, 198_864, 200.0, 8)
    acc = match_design(load_accelerator(HW / f"{name}.yaml"), budget, tech)
    per = acc.bit_serial.units_per_mac if acc.bit_serial else 1
    assert acc.num_pes == 168 * per
    assert acc.onchip_bytes == pytest.approx(budget.onchip_bytes, rel=0.01)
    assert acc.clock_mhz == 200 and acc.weight_bits == acc.input_bits == 8
    dram = acc.levels[0]
    assert dram.partitions[0].read_energy_pj == pytest.approx(21.25 * dram.word_bits)
    for lvl in acc.levels[1:]:
        for p in lvl.partitions:
            assert p.read_energy_pj == pytest.approx(tech.sram(p.capacity_bytes) * lvl.word_bits)
    assert acc.mac.energy_pj(8) == 0.45


def test_sram_energy_interpolates_between_anchors():
    tech = load_technology(TECH)
    assert tech.sram(512) == pytest.approx(0.10625)
    assert tech.sram(110592) == pytest.approx(0.6375)
    assert 0.10625 < tech.sram(8192) < 0.6375
    assert tech.sram(1) == pytest.approx(0.0422)  # flat below the table


def _stats_file(write, zero=0.5):
    wl = sedse_models.workload("lenet5")
    def enc(layer):   # SE's 4000/9000 bits per weight at the layer's own weight count
        w = layer.operand_elements("W")
        return asdict(replace(SE, total_bits=w * 4000 // 9000, dense_weights=w))

    layers = {layer.name: {"weight_encoding": enc(layer), "input_zero_frac": zero,
                           "input_zero_row_frac": 0.1} for layer in wl.layers}
    return write("stats.yaml", json.dumps({"source": "test", "layers": layers}))


def test_compare_breakdown_sums_and_ratios(write):
    wl = sedse_models.workload("lenet5")
    stats = stats_from_file(_stats_file(write), wl)
    cmp = compare(wl, load_designs(["smartexchange", "eyeriss", "cambricon_x"]),
                  tech=load_technology(TECH), stats=stats)
    t = cmp.table()
    assert list(t.design) == ["smartexchange (matched)", "eyeriss (matched)",
                              "cambricon_x (matched)"]
    parts = t[[f"{c}_uj" for c in CATEGORIES]].sum(axis=1)
    assert np.allclose(parts, t.energy_uj, rtol=1e-9)
    assert t.energy_vs_ref_x.iloc[0] == 1.0 and t.latency_vs_ref_x.iloc[0] == 1.0
    # only SmartExchange rebuilds; only the designs with indices pay for them
    assert t.rebuild_uj.iloc[0] > 0 and t.rebuild_uj.iloc[1] == 0 == t.rebuild_uj.iloc[2]
    assert t.index_uj.iloc[0] > 0 and t.index_uj.iloc[1] == 0 and t.index_uj.iloc[2] > 0
    # the stored weights are 4000/9000 bits per weight: SE's DRAM traffic is lower
    assert t.dram_uj.iloc[0] < t.dram_uj.iloc[1]
    lf = cmp.layers()
    assert len(lf) == 3 * len(wl.layers)
    assert np.allclose(lf.groupby("design", sort=False).energy_uj.sum().values, t.energy_uj)


def test_more_zero_activations_help_the_skipping_design(write):
    wl = sedse_models.workload("lenet5")
    acc = load_designs(["smartexchange"])
    tech = load_technology(TECH)
    lo = compare(wl, acc, tech=tech, stats=stats_from_file(_stats_file(write, 0.1), wl))
    # input_zero_row_frac is what SmartExchange skips; element zeros only change defaults
    assert lo.table().energy_uj.iloc[0] > 0


def test_naf_digit_counts():
    # 0 -> 0; 1 -> 1; 3 = 4 - 1 -> 2; 7 = 8 - 1 -> 2; 5 = 4 + 1 -> 2; 255 = 256 - 1 -> 2;
    # 85 = 1010101b -> 4
    assert naf_digits(np.array([0, 1, 3, 7, 5, 255, 85])).tolist() == [0, 1, 2, 2, 2, 2, 4]


def _compressed_dir(tmp_path, model="lenet5"):
    import torch

    from sedse.compress import SmartExchange, compress_model
    from sedse.compress._io import save_compressed

    torch.manual_seed(0)
    comp = compress_model(sedse_models.build(model), SmartExchange())
    out = tmp_path / "comp"
    save_compressed(out, {"model": model, "method": "smartexchange", "accuracy": 0.5}, comp)
    return out, comp


def test_compressed_directory_gives_real_encodings(tmp_path):
    out, comp = _compressed_dir(tmp_path)
    wl = sedse_models.workload("lenet5")
    stats = stats_from_compressed(out, wl, "lenet5")
    for c in comp.layers:
        assert stats.per_layer[c.name].weight_encoding == c.encoding
    assert "compressed weights from" in stats.weights_source
    assert stats.activations_source.startswith("default")
    with pytest.raises(SpecError, match="layers.json: model: the directory holds 'lenet5'"):
        stats_from_compressed(out, sedse_models.workload("resnet8_gray"), "resnet8_gray")


def test_compare_cli_writes_tables_and_figures(tmp_path, write, capsys):
    out = tmp_path / "cmp"
    rc = main(["compare", "--model", "lenet5", "--hw", "smartexchange,eyeriss",
               "--hw", "diannao", "--stats", str(_stats_file(write)), "--out", str(out),
               "--budget", "300"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "matched designs" in text and "budget (from smartexchange): 168 MACs" in text
    assert "weights: statistics file" in text
    for f in ("compare.csv", "compare.md", "layers.csv", "breakdown.png", "per_layer.png"):
        assert (out / f).stat().st_size > 0
    df = pd.read_csv(out / "compare.csv")
    assert len(df) == 3 and df.energy_vs_ref_x[0] == 1.0
    md = (out / "compare.md").read_text()
    first = md.split("\n\n")[1]          # the designs' table
    assert first.count("\n|") == 4 and "| smartexchange (matched) |" in first
    # the per-layer part: each design's largest layers (lenet5 has 5, so all), no
    # collapsed layer in these statistics
    assert "Largest layers by share of each design's energy (top 5)" in md
    assert "Collapsed layers" not in md and "warning" not in text
    lf = pd.read_csv(out / "layers.csv")
    assert np.allclose(lf.groupby("design").energy_share_frac.sum(), 1.0)
    assert "note: replacing" not in text
    # a second run into the same folder says what it replaces
    rc = main(["compare", "--model", "lenet5", "--hw", "smartexchange", "--stats",
               str(_stats_file(write)), "--out", str(out), "--budget", "300"])
    assert rc == 0
    assert f"note: replacing compare.csv, compare.md, layers.csv, breakdown.png, " \
           f"per_layer.png in {out}" in capsys.readouterr().out


def _collapsed_stats_file(write, victim: str):
    """The stats of `_stats_file` with `victim`'s coefficients all but gone."""
    doc = json.loads(_stats_file(write).read_text())
    enc = doc["layers"][victim]["weight_encoding"]
    enc.update(coefficient_density_frac=1e-7, weight_density_frac=1e-7)
    return write("collapsed.yaml", json.dumps(doc))


def test_collapse_reason():
    assert SE.collapse_reason() == ""
    assert WeightEncoding.dense(100, 8).collapse_reason(rel_error=1.0) == ""
    low = replace(SE, coefficient_density_frac=1.2e-7)
    assert low.collapse_reason() == "coefficient density 1.2e-07 < 0.001"
    assert replace(SE, coefficient_density_frac=1e-3).collapse_reason() == ""
    assert SE.collapse_reason(rel_error=0.995) == \
        "relative error 0.995, within 0.01 of 1: the weights nearly vanish"
    assert SE.collapse_reason(rel_error=1.004) != ""
    assert SE.collapse_reason(rel_error=0.5) == ""
    # trained weights that moved far from the float ones (a 16-filter stem followed by
    # batch norm, after decomposed-form training: 2.3) did not collapse
    assert SE.collapse_reason(rel_error=2.304) == ""


def test_collapsed_layer_is_named_with_its_share(write, tmp_path, capsys):
    """A layer whose decomposition collapsed is a warning naming it and its share of
    every design's energy, compare.md lists it, and the energy ratio without it is
    the ratio over the other layers."""
    wl = sedse_models.workload("lenet5")
    victim = wl.layers[2].name
    stats = stats_from_file(_collapsed_stats_file(write, victim), wl)
    assert list(stats.collapsed()) == [victim]
    cmp = compare(wl, load_designs(["smartexchange", "eyeriss"]), tech=load_technology(TECH),
                  stats=stats, settings=SearchSettings(budget=300))   # the CLI's below
    assert cmp.collapsed == ((victim, "coefficient density 1e-07 < 0.001"),)
    sh = cmp.shares()
    assert np.allclose(sh.groupby("design").energy_share_frac.sum(), 1.0)
    assert sh.collapsed.sum() == 2 and set(sh[sh.collapsed].layer) == {victim}
    lf = cmp.layers()
    kept = lf[lf.layer != victim].groupby("design", sort=False).energy_uj.sum()
    ratio = cmp.energy_vs_ref_without_collapsed()
    assert ratio["eyeriss (matched)"] == pytest.approx(kept.iloc[1] / kept.iloc[0], rel=1e-12)
    assert ratio["smartexchange (matched)"] == 1.0
    out = tmp_path / "cmp"
    rc = main(["compare", "--model", "lenet5", "--hw", "smartexchange,eyeriss", "--stats",
               str(_collapsed_stats_file(write, victim)), "--out", str(out),
               "--budget", "300"])
    text = capsys.readouterr().out
    assert rc == 0
    share = sh[(sh.layer == victim) & (sh.design == "eyeriss (matched)")].energy_share_frac
    assert f"warning: layer {victim}: the compression collapsed (coefficient density " \
           "1e-07 < 0.001)" in text
    assert f"eyeriss (matched) {100 * share.iloc[0]:.1f}%" in text
    assert f"eyeriss (matched) {ratio['eyeriss (matched)']:.3g}x" in text
    md = (out / "compare.md").read_text()
    assert "Collapsed layers" in md and f"layer {victim}" in md


@pytest.mark.parametrize("args, message", [
    (["--hw", "nosuchdesign"], "--hw: unknown design 'nosuchdesign'"),
    (["--hw", "eyeriss", "--reference", "diannao"], "--reference: 'diannao' is not among"),
    (["--hw", "eyeriss", "--stats", "a.yaml", "--compressed", "b"], "either --compressed"),
])
def test_compare_errors_are_one_line(args, message, capsys):
    rc = main(["compare", "--model", "lenet5", *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1


def test_stats_file_errors_name_file_and_key(write, capsys):
    bad = write("s.yaml", "layers:\n  features.0: {input_zero_frac: 1.5}\n")
    rc = main(["compare", "--model", "lenet5", "--hw", "eyeriss", "--stats", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and "s.yaml: layers.features.0.input_zero_frac: expected a fraction" in err
    bad = write("t.yaml", "layers:\n  nosuch: {input_zero_frac: 0.5}\n")
    rc = main(["compare", "--model", "lenet5", "--hw", "eyeriss", "--stats", str(bad)])
    assert "t.yaml: layers.nosuch: lenet5 has no layer 'nosuch'" in capsys.readouterr().err


def test_compressed_dir_of_another_model_is_refused(tmp_path, capsys):
    out, _ = _compressed_dir(tmp_path)
    rc = main(["compare", "--model", "resnet8_gray", "--hw", "eyeriss", "--compressed",
               str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "layers.json: model: the directory holds 'lenet5'" in err


def test_compressed_dir_with_a_statistic_out_of_range(tmp_path, capsys):
    out, _ = _compressed_dir(tmp_path)
    doc = json.loads((out / "layers.json").read_text())
    doc["layers"][2]["encoding"]["zero_row_frac"] = 1.7
    (out / "layers.json").write_text(json.dumps(doc))
    rc = main(["compare", "--model", "lenet5", "--hw", "eyeriss", "--compressed", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "layers.json: layers[2].encoding: zero_row_frac must be in [0, 1]" in err


def test_decomposed_training_flag_needs_smartexchange(capsys):
    rc = main(["compress", "--model", "lenet5", "--dataset", "digits", "--method", "prune",
               "--decomposed-epochs", "1", "--out", "/tmp/unused"])
    err = capsys.readouterr().err
    assert rc == 2 and "--decomposed-epochs: decomposed-form training is for" in err


def test_slow_rebuild_engines_bound_the_latency(write):
    """With engines rebuilding 1/1024 weight per cycle the rebuild-throughput bound sets
    every layer's latency (and the table counts them); at the shipped rate it sets
    fewer."""
    import yaml

    from sedse._yaml import Node
    from sedse.hardware import accelerator_from_node

    doc = yaml.safe_load((HW / "smartexchange.yaml").read_text())
    wl = sedse_models.workload("lenet5")
    stats = stats_from_file(_stats_file(write), wl)
    fast = compare(wl, [accelerator_from_node(Node(doc, "se.yaml", ""))], matched=False,
                   stats=stats)
    doc["rebuild"]["weights_per_cycle"] = 1 / 1024
    slow = compare(wl, [accelerator_from_node(Node(doc, "se.yaml", ""))], matched=False,
                   stats=stats)
    assert slow.table().rebuild_bound_layers.iloc[0] == len(wl.layers)
    assert fast.table().rebuild_bound_layers.iloc[0] < len(wl.layers)
    assert slow.table().latency_ms.iloc[0] > fast.table().latency_ms.iloc[0]
    assert slow.layers().rebuild_bound.all()


def test_matching_keeps_what_a_design_is_made_of():
    """Only sizes and energies change: buffering, sparsity, rebuild engines, RLC and
    the dataflow survive matching."""
    tech = load_technology(TECH)
    budget = Budget.of(load_accelerator(HW / "smartexchange.yaml"))
    for name in ("eyeriss", "smartexchange", "scnn"):
        native = load_accelerator(HW / f"{name}.yaml")
        m = match_design(native, budget, tech)
        assert m.sparsity == native.sparsity and m.dataflow.spatial[0][0] == \
            native.dataflow.spatial[0][0]
        assert (m.rebuild is None) == (native.rebuild is None)
        for a, b in zip(m.levels, native.levels, strict=True):
            assert [p.double_buffered for p in a.partitions] == \
                [p.double_buffered for p in b.partitions]
            assert [p.operands for p in a.partitions] == [p.operands for p in b.partitions]
            assert (a.run_length_coding is None) == (b.run_length_coding is None)


def test_matching_drops_a_chips_mapping_policy_not_its_hardware():
    """Eyeriss folds a PE set whole whenever it fits (`unroll_whole_if_fits`, the
    chip's choice, stricter than its hardware): a matched Eyeriss is searched without
    that policy, keeps the hardware's limits (channel sets on the rows only) and so
    never costs more than with the policy on the same matched array."""
    tech = load_technology(TECH)
    budget = Budget.of(load_accelerator(HW / "smartexchange.yaml"))
    native = load_accelerator(HW / "eyeriss.yaml")
    assert native.dataflow.unroll_whole_if_fits == ("P",)
    m = match_design(native, budget, tech)
    assert m.dataflow.unroll_whole_if_fits == ()
    assert dict(m.dataflow.spatial)["cols"].allow == dict(native.dataflow.spatial)["cols"].allow
    held = replace(m, dataflow=replace(m.dataflow, unroll_whole_if_fits=("P",)))
    layer = sedse_models.workload("resnet18").with_precision(8, 8, 8).layers[1]
    free, policy = (evaluate_workload(Workload("one", (layer,)), a) for a in (m, held))
    assert free.energy_pj * free.cycles <= policy.energy_pj * policy.cycles


def test_every_layer_collapsed_says_so(write):
    wl = sedse_models.workload("lenet5")
    doc = json.loads(_stats_file(write).read_text())
    for d in doc["layers"].values():
        d["weight_encoding"].update(coefficient_density_frac=1e-7, weight_density_frac=1e-7)
    stats = stats_from_file(write("all.yaml", json.dumps(doc)), wl)
    cmp = compare(wl, load_designs(["smartexchange", "eyeriss"]), tech=load_technology(TECH),
                  stats=stats)
    assert len(cmp.collapsed) == len(wl.layers)
    assert cmp.energy_vs_ref_without_collapsed() == {}
    assert cmp.collapse_lines()[-1].startswith("every layer collapsed")


def test_designs_of_the_same_name_stay_apart():
    wl = sedse_models.workload("lenet5")
    cmp = compare(wl, load_designs(["eyeriss", "eyeriss"]), matched=False)
    assert list(cmp.table().design) == ["eyeriss", "eyeriss#2"]
    assert len(cmp.layers()) == 2 * len(wl.layers)


def test_layer_stats_is_a_typed_frozen_value(tmp_path):
    """Per layer a frozen `LayerFields`; the statistics file `to_doc` writes reads back
    to the same value, and `apply` sets exactly the fields given."""
    import dataclasses

    import yaml

    from sedse.compress import LayerFields, LayerStats

    out, comp = _compressed_dir(tmp_path)
    wl = sedse_models.workload("lenet5")
    stats = stats_from_compressed(out, wl, "lenet5")
    assert isinstance(stats, LayerStats) and hash(stats) == hash(stats)
    assert all(isinstance(f, LayerFields) for f in stats.per_layer.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.weights_source = "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.per_layer["features.0"].input_zero_frac = 0.9
    first = stats.per_layer["features.0"]
    assert first.input_zero_frac == 0.0 and first.input_zero_row_frac is None
    assert stats.rel_errors == {c.name: c.rel_error for c in comp.layers}
    # to_doc -> a statistics file -> the same per-layer value
    f = tmp_path / "stats.yaml"
    f.write_text(yaml.safe_dump(stats.to_doc(), sort_keys=False))
    back = stats_from_file(f, wl)
    assert back.per_layer == stats.per_layer and back.apply(wl) == stats.apply(wl)
    applied = stats.apply(wl)
    for layer in applied.layers:
        assert layer.weight_encoding == stats.per_layer[layer.name].weight_encoding
    # a plain mapping per layer is typed on the way in; unknown fields are refused
    typed = LayerStats({"features.0": {"input_zero_frac": 0.25}})
    assert typed.per_layer["features.0"] == LayerFields(input_zero_frac=0.25)
    with pytest.raises(TypeError):
        LayerStats({"features.0": {"weight_bits": 4}})
