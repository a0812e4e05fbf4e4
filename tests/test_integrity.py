"""Stored numbers replay: saved models reproduce their reported accuracy, caches are keyed
by the data's content and never return a model trained on other data, studies refuse a
dataset that changed under them, and optuna-dashboard sees metric names and constraints."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
import torch

import sedse_models
from sedse.cli import main
from sedse.compress import TrainConfig, accuracy, load_dataset, train_float
from sedse.compress._io import load_compressed_model

from .conftest import HW
from .test_data import _write_idx
from .test_study import needs_fmnist


def _tiny_fmnist(root, seed=0, n=60):
    """A Fashion-MNIST-format folder with `n` training and 20 test images."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, m in (("train", n), ("t10k", 20)):
        _write_idx(root / f"{split}-images-idx3-ubyte.gz", 2051, rng.integers(0, 255, (m, 28, 28)))
        _write_idx(root / f"{split}-labels-idx1-ubyte.gz", 2049, np.arange(m) % 10)
    return root


def test_float_cache_is_keyed_by_the_data_content(tmp_path):
    """Two folders with the same name and shapes but other pixels never share a cached
    model; the same content (a copy elsewhere) does."""
    torch.set_num_threads(1)
    a = load_dataset("fashion-mnist", _tiny_fmnist(tmp_path / "a" / "fm", seed=0))
    b = load_dataset("fashion-mnist", _tiny_fmnist(tmp_path / "b" / "fm", seed=1))
    a2 = load_dataset("fashion-mnist", _tiny_fmnist(tmp_path / "c" / "fm", seed=0))
    assert a.name == b.name and a.input_chw == b.input_chw
    assert a.fingerprint != b.fingerprint and a.fingerprint == a2.fingerprint
    build = sedse_models.MODELS["lenet5"].build
    cfg = TrainConfig(epochs=1)
    cache = tmp_path / "cache"
    ma = train_float("lenet5", build, a, cfg, cache_dir=cache)
    mb = train_float("lenet5", build, b, cfg, cache_dir=cache)
    assert len(list((cache / "float").glob("*.pt"))) == 2      # two entries, not one reused
    assert not all(torch.equal(x, y) for x, y in zip(ma.state_dict().values(),
                                                     mb.state_dict().values(), strict=True))
    train_float("lenet5", build, a2, cfg, cache_dir=cache)
    assert len(list((cache / "float").glob("*.pt"))) == 2      # same content: a hit
    # another thread count is another entry (training is not bit-reproducible across them)
    torch.set_num_threads(2)
    try:
        train_float("lenet5", build, a, cfg, cache_dir=cache)
    finally:
        torch.set_num_threads(1)
    assert len(list((cache / "float").glob("*.pt"))) == 3


def test_cache_info_and_clear(tmp_path, capsys):
    (tmp_path / "c" / "float").mkdir(parents=True)
    (tmp_path / "c" / "float" / "m-1.pt").write_bytes(b"x" * 2048)
    assert main(["cache", "info", "--cache-dir", str(tmp_path / "c")]) == 0
    assert "1 entries" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(tmp_path / "c")]) == 0
    assert not (tmp_path / "c" / "float").exists()


TINY = f"""
name: drift
model: lenet5
dataset: fashion-mnist
data_root: fm
accelerator: {HW / "smartexchange.yaml"}
technology: {HW / "tech" / "65nm.yaml"}
float_epochs: 1
search_space:
  compression.theta: {{low: 0.01, high: 0.05, log: true}}
objectives: [accuracy, energy]
mapping_search: {{budget: 100}}
sampler: {{name: random, seed: 0}}
n_trials: 2
"""


def test_a_study_refuses_data_that_changed_under_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _tiny_fmnist(tmp_path / "fm", seed=0)
    (tmp_path / "drift.yaml").write_text(TINY)
    assert main(["run", "drift.yaml", "--no-progress", "--threads", "1"]) == 0
    capsys.readouterr()
    _tiny_fmnist(tmp_path / "fm", seed=5)                   # the folder's content changes
    cache = tmp_path / "runs" / "drift" / "cache" / "compressed"
    before = sorted(p.name for p in cache.iterdir())
    rc = main(["run", "drift.yaml", "--n-trials", "4", "--no-progress", "--threads", "1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "drift.yaml: dataset: the data read now" in err and "differs" in err
    after = sorted(p.name for p in cache.iterdir())
    assert after == before                                        # nothing new computed
    study = optuna.load_study(study_name="drift",
                              storage=f"sqlite:///{tmp_path}/runs/drift/study.db")
    assert len(study.trials) == 2


def test_a_cache_entry_from_other_data_is_one_line(tmp_path, capsys, monkeypatch):
    """An entry in a run's compressed cache whose provenance is not the current data is
    refused naming the file (never read as if it were this data's)."""
    from sedse.study import Evaluator, load_study

    monkeypatch.chdir(tmp_path)
    _tiny_fmnist(tmp_path / "fm", seed=0)
    (tmp_path / "drift.yaml").write_text(TINY)
    spec = load_study(tmp_path / "drift.yaml")
    ev = Evaluator(spec, tmp_path / "runs" / "drift")
    d = ev.compressed_dir({"compression.theta": 0.02})
    doc = json.loads((d / "layers.json").read_text())
    doc["data"]["fingerprint"] = "0" * 32
    (d / "layers.json").write_text(json.dumps(doc))
    res = None
    with pytest.raises(Exception) as info:
        res = Evaluator(spec, tmp_path / "runs" / "drift").compressed_dir(
            {"compression.theta": 0.02})
    assert res is None and "layers.json: data.fingerprint: this cached entry was computed " \
        "from other data" in str(info.value)


@needs_fmnist
def test_a_saved_model_reproduces_its_reported_accuracy(tmp_path, float_cache, capsys):
    """`sedse compress` with decomposed-form training: reloading model.pt gives the
    reported validation and test accuracy exactly; every layer (each decomposed,
    the 5x5 convs by flat rows, trained in the decomposed form, biases) is in it, stored
    quantised as counted."""
    out = tmp_path / "o"
    assert main(["compress", "--model", "lenet5", "--dataset", "fashion-mnist", "--threads",
                 "1", "--cache-dir", str(float_cache), "--theta", "0.04",
                 "--decomposed-epochs", "1", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    doc = json.loads((out / "layers.json").read_text())
    torch.set_num_threads(1)
    data = load_dataset("fashion-mnist")
    model = load_compressed_model(out, sedse_models.MODELS["lenet5"].build)
    assert accuracy(model, data) == doc["accuracy"]
    assert accuracy(model, data, split="test") == doc["test_accuracy"]
    state = model.state_dict()
    arrays = np.load(out / "weights.npz")
    for layer in doc["layers"]:
        w = state[f"{layer['name']}.weight"].numpy()
        assert np.array_equal(arrays[f"{layer['name']}/weight"], w)
        if layer["method"] == "dense":     # kept dense: 8 bits, one scale
            step = np.abs(w).max() / 127
            assert np.allclose(w / step, np.round(w / step), atol=1e-3)
        else:                              # B at basis_bits (8), one scale per layer
            b = arrays[f"{layer['name']}/basis"].astype(np.float64)
            step = np.abs(b).max() / 127
            assert np.allclose(b / step, np.round(b / step), atol=1e-3)
    # every layer was decomposed and trained: none is the float baseline's weights
    base = train_float("lenet5", sedse_models.MODELS["lenet5"].build, data,
                       TrainConfig(epochs=5), cache_dir=float_cache)
    names = [la["name"] for la in doc["layers"]]
    assert all(la["method"] == "smartexchange" for la in doc["layers"])
    assert all(not np.allclose(state[f"{n}.weight"].numpy(),
                               base.state_dict()[f"{n}.weight"].numpy(), atol=1e-2)
               for n in names)


def test_dashboard_sees_metric_names_and_constraints(tmp_path):
    """Opened with Optuna's API the way optuna-dashboard does: the study's metric names
    are the objectives, each trial's `constraints` list is the design-fits value and the
    spec's constraints (names in the study attribute), and Optuna's own view agrees."""
    from sedse.study import load_study, run_study

    from .test_workers import STUDY

    f = tmp_path / "d.yaml"
    f.write_text(STUDY.format(name="dash", hw=HW, sampler="nsga2")
                 + "constraints: {latency_ms: 1000}\n")
    spec = load_study(f)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    run_study(spec, url, n_trials=4, run_dir=tmp_path / "run", progress=False)
    study = optuna.load_study(study_name="dash", storage=url)
    assert study.metric_names == ["energy", "latency"]
    assert study.user_attrs["constraint_names"] == ["design_fits", "latency_ms"]
    for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        cons = t.system_attrs["constraints"]          # what the dashboard serialises
        assert len(cons) == 2 and cons == t.user_attrs["constraint_values"]
        assert list(t.constraints.values()) == cons   # what Optuna's samplers read
    try:
        from optuna_dashboard._serializer import serialize_frozen_trial
    except ImportError:
        return
    t = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))[0]
    ser = serialize_frozen_trial(study._study_id, t,
                                 study._storage.get_study_system_attrs(study._study_id))
    assert ser["constraints"] == t.system_attrs["constraints"]


def test_cache_clear_touches_only_sedse_entries(tmp_path, capsys):
    root = tmp_path / "proj"
    (root / "float").mkdir(parents=True)
    (root / "float" / "lenet5-abc.pt").write_bytes(b"x")
    (root / "notes.txt").write_text("precious")
    (root / "sub").mkdir()
    (root / "sub" / "a.py").write_text("keep")
    assert main(["cache", "info", "--cache-dir", str(root)]) == 0
    assert "1 entries" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(root)]) == 0
    assert (root / "notes.txt").read_text() == "precious" and (root / "sub" / "a.py").exists()
    assert not (root / "float").exists()


def test_a_resume_with_a_changed_spec_is_refused_before_any_trial(tmp_path, capsys,
                                                                  monkeypatch):
    """Changing what decides a trial's numbers (here the mapping-search budget, then the
    search space) between runs of one study is one line naming the key; no trial runs."""
    from .test_workers import STUDY

    monkeypatch.chdir(tmp_path)
    text = STUDY.format(name="resumed", hw=HW, sampler="random")
    (tmp_path / "s.yaml").write_text(text)
    assert main(["run", "s.yaml", "--n-trials", "2", "--no-progress"]) == 0
    for a, b, key in (("budget: 300", "budget: 20", "mapping_search"),
                      ("[3, 6, 12]", "[3, 6]", "search_space")):
        (tmp_path / "s.yaml").write_text(text.replace(a, b))
        capsys.readouterr()
        assert main(["run", "s.yaml", "--n-trials", "4", "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"s.yaml: {key}: differs from the spec" in err
    study = optuna.load_study(study_name="resumed",
                              storage=f"sqlite:///{tmp_path}/runs/resumed/study.db")
    assert len(study.trials) == 2


def test_an_export_replays_with_its_own_weight_statistics(tmp_path, capsys, monkeypatch):
    """`sedse eval --hw EXPORT/accelerator.yaml` alone (no --stats) uses the export's
    stats.yaml as well as its mappings: the stored numbers, not dense-weight ones."""
    from .test_workers import STUDY

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(STUDY.format(name="hwonly", hw=HW, sampler="random"))
    assert main(["run", "s.yaml", "--n-trials", "2", "--no-progress"]) == 0
    study = optuna.load_study(study_name="hwonly",
                              storage=f"sqlite:///{tmp_path}/runs/hwonly/study.db")
    t = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))[0]
    assert main(["export", "runs/hwonly", "--trial", str(t.number), "--out", "x"]) == 0
    capsys.readouterr()
    assert main(["eval", "--model", "lenet5", "--hw", "x/accelerator.yaml", "--json",
                 "r.json"]) == 0
    assert "x/stats.yaml (the export's" in capsys.readouterr().out
    tot = json.loads((tmp_path / "r.json").read_text())["reports"][0]["totals"]
    assert tot["energy_uj"] == t.user_attrs["energy_uj"]
    assert tot["latency_ms"] == t.user_attrs["latency_ms"]


def test_a_small_cifar_pickle_cannot_expand_into_gigabytes(tmp_path):
    """Shared references in a pickle ([row] * N) would expand a few kB into N x 3072
    values: the loader wants the format's one uint8 array and refuses anything else."""
    import pickle

    from sedse.errors import SpecError

    row = [7] * 3072
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": [row] * 20000, b"labels": [0] * 20000}, f, protocol=2)
    assert (tmp_path / "data_batch_1").stat().st_size < 200_000
    with pytest.raises(SpecError, match="data_batch_1: not a CIFAR-10 batch .*numpy array"):
        load_dataset("cifar10", tmp_path)
