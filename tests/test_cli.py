"""The `sedse` command line: eval output, files, and one-line errors without traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from sedse.cli import main

from .conftest import HW, ROOT


def test_eval_prints_tables_and_writes_json_and_csv(tmp_path, capsys):
    js, cs = tmp_path / "o.json", tmp_path / "o.csv"
    rc = main(["eval", "--model", "lenet5", "--hw", str(HW / "eyeriss.yaml"), "--hw",
               str(HW / "diannao.yaml"), "--batch", "2", "--json", str(js), "--csv", str(cs),
               "--show-mapping"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "== lenet5 on eyeriss" in out and "== lenet5 on diannao" in out
    assert "TOTAL" in out and "energy by level:" in out and "active PEs; " in out
    assert "latency bound: " in out and "; search: searched" in out
    data = json.loads(js.read_text())
    assert [r["accelerator"] for r in data["reports"]] == ["eyeriss", "diannao"]
    rep = data["reports"][0]
    assert rep["totals"]["macs"] == 2 * 416_520
    # totals are the sums of the long-form rows
    assert rep["totals"]["energy_pj"] == pytest.approx(sum(r["energy_pj"] for r in rep["rows"]))
    assert {"DRAM", "GLB", "RF", "MAC"} == set(rep["totals"]["energy_pj_by_level"])
    df = pd.read_csv(cs)
    assert list(df.columns[:7]) == ["layer", "level", "operand", "action", "category", "count",
                               "energy_pj"]
    assert df.groupby("accelerator")["energy_pj"].sum()["eyeriss"] == pytest.approx(
        rep["totals"]["energy_pj"])


def test_eval_with_user_mapping(capsys):
    rc = main(["eval", "--model", "alexnet", "--hw", str(HW / "eyeriss.yaml"),
               "--mapping", str(ROOT / "examples" / "alexnet_conv3_eyeriss.yaml"),
               "--show-mapping"])
    out = capsys.readouterr().out
    assert rc == 0
    line = next(s for s in out.splitlines() if s.startswith("features.8 "))
    assert line.split()[-1] == "92.9"  # 156 of 168 PEs
    assert "features.8: DRAM[K24 C4]" in out and "alexnet_conv3_eyeriss.yaml]" in out


def test_eval_workload_yaml(write, capsys):
    path = write("w.yaml", "name: tiny\nlayers:\n  - {name: fc1, kind: fc, K: 10, C: 20}\n")
    assert main(["eval", "--model", str(path), "--hw", str(HW / "diannao.yaml")]) == 0
    assert "== tiny on diannao" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--model", "nonet"], "--model: unknown model 'nonet'"),
    (["--model", "lenet5", "--batch", "0"],
     "argument --batch: expected an integer in [1, 16777216], found 0"),
    (["--model", "lenet5", "--mapping", "MAPPING"], "MAPPING: conv9: no layer named 'conv9'"),
    (["--model", "lenet5", "--hw", "nofile.yaml"], "nofile.yaml: file not found"),
])
def test_eval_errors_are_one_line(tmp_path, args, message):
    mp = tmp_path / "m.yaml"
    mp.write_text("conv9: {DRAM: {temporal: K2}}\n")
    args = [a.replace("MAPPING", str(mp)) for a in args]
    if "--hw" not in args:
        args += ["--hw", str(HW / "eyeriss.yaml")]
    proc = subprocess.run([sys.executable, "-m", "sedse", "eval", *args], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("sedse: error: ")
    assert message.replace("MAPPING", str(mp)) in lines[0]


def test_debug_shows_traceback():
    proc = subprocess.run([sys.executable, "-m", "sedse", "--debug", "eval", "--model", "x",
                           "--hw", str(HW / "eyeriss.yaml")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_models_lists_every_model(capsys):
    import sedse_models

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in sedse_models.MODELS)


def test_cost_core_imports_neither_torch_nor_compressor():
    code = ("import sys, sedse.cost, sedse.mapping, sedse.hardware, sedse.workload; "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith('sedse.compress')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_design_that_does_not_fit_is_one_line(tmp_path):
    text = (HW / "eyeriss.yaml").read_text().replace("capacity_bytes: 24}",
                                                      "capacity_bytes: 1}")
    assert "capacity_bytes: 1}" in text
    hw = tmp_path / "tiny_rf.yaml"
    hw.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "sedse", "eval", "--model", "lenet5", "--hw",
                           str(hw)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line
    assert line.startswith("sedse: error: features.0: no factorisation of")
    assert "level RF partition I (1 B) cannot hold the smallest tile (2 B)" in line


@pytest.mark.parametrize("args, message", [
    (["--model", "nonet", "--dataset", "digits"], "--model: unknown model 'nonet'"),
    (["--model", "lenet5", "--dataset", "digits"], "lenet5 expects (1, 28, 28) inputs but "
     "digits has (1, 8, 8)"),
    (["--model", "lenet5", "--dataset", "digits", "--theta", "0"],
     "smartexchange.theta: expected a number > 0, found 0.0"),
    (["--model", "lenet5", "--dataset", "svhn"], "dataset: unknown dataset 'svhn'"),
    (["--model", "lenet5", "--dataset", "fashion-mnist", "--data-root", "/nonexistent"],
     "/nonexistent/train-images-idx3-ubyte.gz: not found"),
    (["--model", "lenet5_digits", "--dataset", "digits", "--retrain-epochs", "1",
      "--retrain-mode", "ste"], "--retrain-mode: smartexchange trains in the decomposed form"),
    (["--model", "lenet5_digits", "--dataset", "digits", "--method", "prune",
      "--retrain-epochs", "1", "--retrain-mode", "ste", "--slim-frac", "0.2"],
     "--slim-frac: channel pruning is part of --retrain-mode alternate"),
    (["--model", "lenet5_digits", "--dataset", "digits", "--method", "uniform",
      "--quant-scale", "min"], "argument --quant-scale: invalid choice: 'min'"),
])
def test_compress_errors_are_one_line(tmp_path, args, message):
    proc = subprocess.run([sys.executable, "-m", "sedse", "compress", *args, "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_compress_fair_ablation_from_the_cli(tmp_path, capsys):
    """A fair ablation end to end: LAMP-allocated pruning, 4-bit kept weights with
    per-filter MSE scales, straight-through retraining; what is stored is what the
    model computes with, and the per-filter scales are counted."""
    from sedse._shipped import model_entry
    from sedse.compress import accuracy, load_dataset
    from sedse.compress._io import load_compressed, load_compressed_model

    out = tmp_path / "o"
    rc = main(["compress", "--model", "lenet5_digits", "--dataset", "digits", "--epochs", "20",
               "--method", "prune", "--sparsity", "0.8", "--allocation", "lamp", "--bits", "4",
               "--quant-scale", "mse", "--per-channel", "--retrain-epochs", "2",
               "--retrain-mode", "ste", "--threads", "1", "--cache-dir",
               str(tmp_path / "cache"), "--out", str(out), "--quiet"])
    text = capsys.readouterr().out
    assert rc == 0 and "retraining epochs (straight-through)" in text
    doc, enc = load_compressed(out)
    weights = sum(e.dense_weights for e in enc.values())
    kept = sum(round(e.coefficient_density_frac * e.dense_weights) for e in enc.values())
    assert kept == weights - round(0.8 * weights)
    densities = {round(e.coefficient_density_frac, 3) for e in enc.values()}
    assert len(densities) > 1                       # allocated, not one ratio per layer
    model = load_compressed_model(out, model_entry("lenet5_digits").build)
    assert accuracy(model, load_dataset("digits")) == doc["accuracy"] > 0.5


def test_compress_writes_a_readable_directory(tmp_path, capsys):
    from sedse.compress._data import FASHION_MNIST_ROOT
    from sedse.compress._io import load_compressed

    from .test_data import REQUIRE

    if not (FASHION_MNIST_ROOT / "train-images-idx3-ubyte.gz").is_file() and not REQUIRE:
        pytest.skip("apt-get install dataset-fashion-mnist to run")
    out = tmp_path / "o"
    rc = main(["compress", "--model", "lenet5", "--dataset", "fashion-mnist", "--epochs", "1",
               "--theta", "0.04", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "vs 32-bit" in text and "kept dense" not in text
    doc, enc = load_compressed(out)
    assert doc["accuracy"] > 0.7 and doc["float_accuracy"] > 0.8
    assert enc["classifier.1"].method == "smartexchange/direct"
    # the 5x5 convs are decomposed too, by flat rows at the default basis size 3
    assert enc["features.0"].method == "smartexchange/direct"
    assert enc["features.0"].basis_size == 3
    assert doc["ratio_vs_32bit"] == pytest.approx(
        sum(e.dense_weights for e in enc.values()) * 32 / sum(e.total_bits for e in enc.values()))
    (out / "layers.json").write_text("{broken")
    from sedse.errors import SpecError

    with pytest.raises(SpecError, match="layers.json: line 1: malformed JSON"):
        load_compressed(out)
