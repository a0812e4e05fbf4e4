"""Co-design studies: spec errors, running and resuming, infeasible and failing trials,
export round trip, determinism, and the run/pareto/export commands."""

from __future__ import annotations

import json
import os
import re

import optuna
import pandas as pd
import pytest

from sedse.cli import main
from sedse.compress import stats_from_compressed
from sedse.compress._data import FASHION_MNIST_ROOT
from sedse.cost import SearchSettings, evaluate_workload
from sedse.errors import SpecError
from sedse.hardware import load_accelerator
from sedse.report import results_table
from sedse.study import Evaluator, export_point, load_study, run_study

from .conftest import HW

REQUIRE = os.environ.get("SEDSE_REQUIRE_DATASETS") == "1"
needs_fmnist = pytest.mark.skipif(
    not (FASHION_MNIST_ROOT / "train-images-idx3-ubyte.gz").is_file() and not REQUIRE,
    reason="apt-get install dataset-fashion-mnist to run")

STUDY = f"""
name: tiny
model: lenet5
dataset: fashion-mnist
accelerator: {HW / "smartexchange.yaml"}
technology: {HW / "tech" / "65nm.yaml"}
compression: {{method: smartexchange}}
search_space:
  compression.theta: {{low: 0.01, high: 0.05, log: true}}
  compression.ce_bits: {{choices: [3, 4]}}
  hardware.pe_array.shape.slices: {{choices: [2, 4]}}
  hardware.levels.LINE.partitions.W.capacity_bytes: {{choices: [32, 64]}}
objectives: [accuracy, energy]
mapping_search: {{budget: 200}}
sampler: {{name: nsga2, seed: 3, population_size: 4}}
n_trials: 4
baselines: [eyeriss]
"""


def _study(write, text=STUDY, name="s.yaml"):
    return load_study(write(name, text))


@pytest.mark.parametrize("edit, message", [
    (("compression.theta: {low: 0.01, high: 0.05, log: true}",
      "compression.theta: {low: 0.05, high: 0.01}"),
     "search_space.compression.theta: empty range: low 0.05 must be below high 0.01"),
    (("compression.ce_bits:", "compression.ce_width:"),
     "search_space.compression.ce_width: unknown compression parameter 'ce_width'"),
    (("hardware.pe_array.shape.slices:", "hardware.pe_array.shape.rows:"),
     "search_space.hardware.pe_array.shape.rows: no value at 'pe_array.shape.rows'"),
    (("objectives: [accuracy, energy]", "objectives: [accuracy, joules]"),
     "objectives[1]: unknown objective 'joules'"),
    (("dataset: fashion-mnist", "dataset: cifar10\ndata_root: /no/such/folder"),
     "data_root: /no/such/folder does not exist"),
    (("compression.ce_bits: {choices: [3, 4]}", "compression.ce_bits: {choices: []}"),
     "search_space.compression.ce_bits.choices: expected a non-empty list"),
    (("n_trials: 4", "n_trials: 4\nsurprise: 1"), "surprise: unknown key"),
    (("sampler: {name: nsga2", "sampler: {name: cmaes"),
     "sampler.name: expected one of nsga2, tpe, random"),
])
def test_bad_study_files_fail_before_any_trial(write, edit, message):
    text = STUDY.replace(*edit)
    assert text != STUDY
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        _study(write, text)


def test_cli_run_on_a_bad_study_is_one_line(write, capsys):
    f = write("bad.yaml", STUDY.replace("accuracy, energy", "accuracy, joules"))
    rc = main(["run", str(f)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "unknown objective" in err


@needs_fmnist
def test_run_resume_export_and_reevaluate_exactly(write, tmp_path, float_cache):
    spec = _study(write)
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    study = run_study(spec, storage, n_trials=3, run_dir=tmp_path / "run", progress=False,
                      cache_dir=float_cache)
    first = [(t.params, t.values) for t in study.trials]
    assert len(first) == 3
    study = run_study(spec, storage, n_trials=5, run_dir=tmp_path / "run", progress=False,
                      cache_dir=float_cache)
    df = results_table(study, ["accuracy", "energy"])
    assert (df.state == "COMPLETE").sum() == 5
    assert [(t.params, t.values) for t in study.trials[:3]] == first   # resumed, kept
    assert {"accuracy_frac", "energy_uj", "latency_ms", "area_mm2", "compression_ratio_x",
            "is_pareto", "feasible", "param_compression.theta"} <= set(df.columns)
    done = df[df.state == "COMPLETE"]   # a sampled duplicate is pruned, not evaluated
    assert done.is_pareto.any() and done.accuracy_frac.between(0.1, 1.0).all()
    # export the best-accuracy point, reload, re-evaluate: the same numbers exactly
    best = int(done.sort_values("accuracy_frac").trial.iloc[-1])
    out = tmp_path / "export"
    info = export_point(study, spec, best, out, run_dir=tmp_path / "run")
    acc = load_accelerator(out / "accelerator.yaml")
    stats = stats_from_compressed(out / "compressed", spec_workload(spec), spec.model)
    wl = stats.apply(spec_workload(spec)).with_precision(acc.input_bits, acc.weight_bits,
                                                         acc.output_bits)
    rep = evaluate_workload(wl, acc, settings=SearchSettings(objective="edp", budget=200))
    assert rep.energy_pj / 1e6 == info["values"]["energy_uj"]
    assert rep.latency_s * 1e3 == info["values"]["latency_ms"]
    doc = json.loads((out / "compressed" / "layers.json").read_text())
    assert doc["accuracy"] == info["values"]["accuracy_frac"]


def spec_workload(spec):
    import sedse_models

    return sedse_models.workload(spec.model, spec.batch)


@needs_fmnist
def test_design_that_does_not_fit_is_an_infeasible_trial(write, tmp_path, float_cache):
    # a 2-byte rebuilt-weight buffer cannot hold one 3-weight kernel row (S is pinned)
    text = STUDY.replace("{choices: [32, 64]}", "{choices: [2]}")
    spec = _study(write, text)
    study = run_study(spec, f"sqlite:///{tmp_path / 'db.sqlite'}", n_trials=1,
                      run_dir=tmp_path / "run", progress=False,
                      cache_dir=float_cache)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.COMPLETE
    assert t.user_attrs["feasible"] is False
    assert "does not fit" in t.user_attrs["infeasible_reason"]
    assert "LINE" in t.user_attrs["infeasible_reason"]
    df = results_table(study, ["accuracy", "energy"])
    assert not df.feasible.any() and not df.is_pareto.any()


@needs_fmnist
def test_a_basis_the_rebuild_engines_cannot_hold_is_an_infeasible_trial(write, tmp_path,
                                                                        float_cache):
    """Basis size 5 (25 B per basis at 8 bits) on the shipped 9 B register files: the
    trial is recorded as infeasible with the key; with 25 B it fits."""
    text = STUDY.replace("compression: {method: smartexchange}",
                         "compression: {method: smartexchange, basis_size: 5}")
    study = run_study(_study(write, text), f"sqlite:///{tmp_path / 'a.sqlite'}", n_trials=1,
                      run_dir=tmp_path / "a", progress=False, cache_dir=float_cache)
    t = study.trials[0]
    assert t.user_attrs["feasible"] is False
    assert "rebuild.basis_rf_bytes" in t.user_attrs["infeasible_reason"]
    assert "one 5x5 basis at 8 bits is 25 B" in t.user_attrs["infeasible_reason"]
    text = text.replace("objectives:", "  hardware.rebuild.basis_rf_bytes: {choices: [25]}\n"
                        "objectives:")
    study = run_study(_study(write, text, "b.yaml"), f"sqlite:///{tmp_path / 'b.sqlite'}",
                      n_trials=1, run_dir=tmp_path / "b", progress=False,
                      cache_dir=float_cache)
    assert study.trials[0].user_attrs["feasible"] is True


class _Flaky(Evaluator):
    """Raises on every second call: the study must record and go on."""

    calls = 0

    def evaluate(self, params):
        type(self).calls += 1
        if type(self).calls % 2 == 0:
            raise RuntimeError("simulated crash in the cost model")
        return super().evaluate(params)


@needs_fmnist
def test_a_raising_trial_is_recorded_failed_and_the_study_goes_on(write, tmp_path,
                                                                  float_cache):
    spec = _study(write)
    ev = _Flaky(spec, tmp_path / "run", cache_dir=float_cache)
    study = run_study(spec, f"sqlite:///{tmp_path / 'db.sqlite'}", n_trials=3,
                      run_dir=tmp_path / "run", progress=False, evaluator=ev)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all("simulated crash" in t.user_attrs["error"] for t in failed)


@needs_fmnist
def test_same_seed_same_trials(write, tmp_path, float_cache):
    spec = _study(write)
    runs = []
    for i in range(2):
        s = run_study(spec, f"sqlite:///{tmp_path / f'db{i}.sqlite'}", n_trials=4,
                      run_dir=tmp_path / "run", progress=False,
                      cache_dir=float_cache)
        df = results_table(s, ["accuracy", "energy"])
        runs.append((df.filter(like="param_").to_dict("records"),
                     df[["accuracy_frac", "energy_uj"]].to_dict("records"),
                     df.is_pareto.tolist()))
    assert runs[0] == runs[1]


@needs_fmnist
def test_cli_run_pareto_export(write, tmp_path, float_cache, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = write("tiny.yaml", STUDY)
    assert main(["run", str(f), "--n-trials", "3", "--no-progress", "--threads", "1",
                 "--cache-dir", str(float_cache)]) == 0
    assert main(["pareto", "runs/tiny"]) == 0
    out = capsys.readouterr().out
    assert "Pareto front (" in out and "baselines (dense weights" in out and "eyeriss" in out
    # the same run again: nothing to do, nothing loaded or trained
    assert main(["run", str(f), "--n-trials", "3", "--no-progress", "--threads", "1",
                 "--cache-dir", str(float_cache)]) == 0
    assert "study tiny: already holds 3 completed trials" in capsys.readouterr().out
    for name in ("results.csv", "pareto.png", "pareto_layers.png", "baselines.csv"):
        assert (tmp_path / "runs" / "tiny" / name).stat().st_size > 0
    # nothing changed: the figures are not recomputed, the front is printed again
    png = tmp_path / "runs" / "tiny" / "pareto.png"
    before = png.stat().st_mtime_ns
    assert main(["pareto", "runs/tiny"]) == 0
    out = capsys.readouterr().out
    assert "figures up to date" in out and "Pareto front (" in out and "eyeriss" in out
    assert png.stat().st_mtime_ns == before
    # one more trial: redrawn
    assert main(["run", str(f), "--n-trials", "4", "--no-progress", "--threads", "1",
                 "--cache-dir", str(float_cache)]) == 0
    assert main(["pareto", "runs/tiny"]) == 0
    out = capsys.readouterr().out
    assert "figures up to date" not in out and "note: replacing results.csv" in out
    df = pd.read_csv(tmp_path / "runs" / "tiny" / "results.csv")
    trial = int(df[df.is_pareto].trial.iloc[0])
    assert main(["export", "runs/tiny", "--trial", str(trial), "--out", "exp"]) == 0
    assert (tmp_path / "exp" / "accelerator.yaml").is_file()
    rc = main(["export", "runs/tiny", "--trial", "99", "--out", "exp2"])
    assert rc == 2 and "--trial: study 'tiny' has no trial 99" in capsys.readouterr().err
    rc = main(["pareto", "nowhere"])
    assert rc == 2 and "not a run folder" in capsys.readouterr().err


@needs_fmnist
def test_exported_points_replay_bit_for_bit_through_the_printed_command(
        write, tmp_path, float_cache, capsys, monkeypatch):
    """Export = replay: for 5 trials, `sedse export` then the `sedse eval` command it
    prints give the stored energy, latency and accuracy exactly (==), with the mappings
    the trial was evaluated with; --research searches again."""
    import shlex

    monkeypatch.chdir(tmp_path)
    f = write("s.yaml", STUDY.replace("n_trials: 4", "n_trials: 5"))
    assert main(["run", str(f), "--no-progress", "--threads", "1",
                 "--cache-dir", str(float_cache)]) == 0
    capsys.readouterr()
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path}/runs/tiny/study.db")
    done = [t for t in study.trials if t.state.name == "COMPLETE" and t.user_attrs["feasible"]]
    assert len(done) == 5
    for t in done:
        out = f"chosen{t.number}"
        assert main(["export", "runs/tiny", "--trial", str(t.number), "--out", out]) == 0
        text = capsys.readouterr().out
        cmd = next(line.split(": ", 1)[1] for line in text.splitlines()
                   if line.startswith("replay"))
        argv = shlex.split(cmd)
        assert argv[0] == "sedse"
        assert main([*argv[1:], "--json", f"{out}.json"]) == 0
        assert "the exported trial's" in capsys.readouterr().out
        doc = json.loads((tmp_path / f"{out}.json").read_text())
        tot = doc["reports"][0]["totals"]
        assert tot["energy_uj"] == t.user_attrs["energy_uj"]
        assert tot["latency_ms"] == t.user_attrs["latency_ms"]
        assert doc["accuracy_frac"] == t.user_attrs["accuracy_frac"]
    # `sedse compare --native` replays the exported design too; --matched rescales it
    assert main(["compare", "--model", "lenet5", "--hw", f"{out}/accelerator.yaml,eyeriss",
                 "--compressed", f"{out}/compressed", "--native", "--out", "cmp"]) == 0
    capsys.readouterr()
    row = pd.read_csv(tmp_path / "cmp" / "compare.csv").iloc[0]
    assert row.energy_uj == pytest.approx(done[-1].user_attrs["energy_uj"], rel=1e-12)
    assert row.latency_ms == pytest.approx(done[-1].user_attrs["latency_ms"], rel=1e-12)
    # an export is never overwritten; a missing mapping file is one line, not a new search
    assert main(["export", "runs/tiny", "--trial", str(done[-1].number), "--out", out]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    # an edited mapping (still valid) would give another number: refused in one line
    m = tmp_path / out / "mappings.yaml"
    text = m.read_text()
    m.write_text(text + "\n# edited\n")
    assert main(argv[1:]) == 2
    assert f"{out}/mappings.yaml: edited since the export" in capsys.readouterr().err
    m.write_text(text)
    assert main(argv[1:]) == 0
    capsys.readouterr()
    (tmp_path / out / "mappings.yaml").unlink()
    assert main(argv[1:]) == 2
    assert f"{out}/mappings.yaml: not found" in capsys.readouterr().err
    assert main([*argv[1:], "--research", "--budget", "200"]) == 0


DIGITS_STUDY = f"""
name: dig
model: lenet5_digits
dataset: digits
accelerator: {HW / "smartexchange.yaml"}
float_epochs: 1
compression: {{method: smartexchange, basis_size: 3}}
fidelity: FIDELITY
search_space:
  compression.theta: {{low: 0.01, high: 0.05, log: true}}
  hardware.bit_serial: {{choices: [false, true]}}
objectives: [accuracy, energy]
mapping_search: {{budget: 100}}
n_trials: 2
"""


@pytest.mark.parametrize("fidelity", ["{kind: projection}", "{kind: finetune, steps: 2}"])
def test_a_point_computed_now_is_costed_from_memory_as_its_cache_reads(
        write, tmp_path, monkeypatch, fidelity):
    """The evaluator that computes a compressed entry costs it from the encodings in
    memory (the directory it writes is not read back); an evaluator reading that entry
    later gives the very same numbers."""
    import torch

    import sedse.compress

    torch.set_num_threads(1)
    spec = _study(write, DIGITS_STUDY.replace("FIDELITY", fidelity))
    points = [{"compression.theta": 0.02, "hardware.bit_serial": False},
              {"compression.theta": 0.02, "hardware.bit_serial": True}]
    real = sedse.compress.stats_from_compressed

    def refuse(*_a, **_k):
        raise AssertionError("read back from disk")

    monkeypatch.setattr(sedse.compress, "stats_from_compressed", refuse)
    ev = Evaluator(spec, tmp_path / "run", cache_dir=tmp_path / "cache")
    now = [ev.evaluate(p) for p in points]
    monkeypatch.setattr(sedse.compress, "stats_from_compressed", real)
    assert (ev.compressed_dir(points[0]) / "layers.json").is_file()
    later = [Evaluator(spec, tmp_path / "run", cache_dir=tmp_path / "cache").evaluate(p)
             for p in points]
    for a, b in zip(now, later, strict=True):
        assert a.feasible and (a.values, a.attrs) == (b.values, b.attrs)
    stats_now = ev._stats(points[0])[0]
    again = Evaluator(spec, tmp_path / "run", cache_dir=tmp_path / "cache")
    assert stats_now == again._stats(points[0])[0]


def test_shipped_models_resolve_through_the_entry_point_group():
    """Model names come from the `sedse.models` entry points (sedse_models registers
    itself in the package metadata); an unknown name is one SpecError naming them."""
    from importlib.metadata import entry_points

    import sedse_models
    from sedse._shipped import MODEL_GROUP, model_entry, model_names

    assert "sedse_models" in {ep.name for ep in entry_points(group=MODEL_GROUP)}
    assert model_names() == list(sedse_models.MODELS)
    m = model_entry("resnet20")
    assert m.input_chw == sedse_models.MODELS["resnet20"].input_chw
    assert m.workload(2) == sedse_models.workload("resnet20", 2)
    with pytest.raises(SpecError) as info:
        model_entry("gpt5", "--model")
    assert str(info.value) == ("--model: unknown model 'gpt5' (shipped: "
                               + ", ".join(sedse_models.MODELS) + ")")


def test_unknown_model_in_a_study_names_the_shipped_ones(write):
    with pytest.raises(SpecError, match=r"s.yaml: model: unknown model 'gpt5' \(shipped: "
                       r"lenet5, lenet5_digits, "):
        _study(write, STUDY.replace("model: lenet5", "model: gpt5"))


@pytest.mark.parametrize("entry, message", [
    ("compression.basis_size: {choices: [1, 3]}",
     "search_space.compression.basis_size: value 1: smartexchange.basis_size: expected an "
     "integer >= 2"),
    ("compression.basis_bits: {low: 1, high: 8}",
     "search_space.compression.basis_bits: value 1: smartexchange.basis_bits"),
])
def test_searched_compression_values_are_checked_before_any_trial(write, entry, message):
    text = STUDY.replace("search_space:\n", f"search_space:\n  {entry}\n")
    with pytest.raises(SpecError, match=re.escape(message)):
        _study(write, text)


def test_a_study_made_by_the_older_decomposition_is_not_resumed_or_exported(write, tmp_path):
    """Studies created before DECOMPOSITION_VERSION entered the fingerprint kept 5x5/7x7
    kernels dense: resuming or exporting one is a one-line error saying why; a study
    that does not decompose (hardware with fixed weights) is unaffected."""
    from sedse.study import check_same_spec, export_point
    from sedse.study._run import spec_fingerprint

    spec = _study(write)
    old = {k: v for k, v in spec_fingerprint(spec).items() if k != "decomposition"}
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", study_name="tiny",
                                directions=["maximize", "minimize"])
    study.set_user_attr("spec_fingerprint", old)
    with pytest.raises(SpecError, match=r"changed: decomposition\).*5x5 and 7x7 kernels"):
        check_same_spec(study, spec)
    with pytest.raises(SpecError, match=r"changed: decomposition"):
        export_point(study, spec, 0, tmp_path / "out", run_dir=tmp_path / "run")
    assert not (tmp_path / "out").exists()
    fresh = optuna.create_study(directions=["maximize", "minimize"])
    check_same_spec(fresh, spec)                   # a new study records the fingerprint
    assert fresh.user_attrs["spec_fingerprint"]["decomposition"] == "2"
    check_same_spec(fresh, spec)                   # and resumes
    # an export compares what decided the numbers, not the sampler
    reseeded = _study(write, STUDY.replace("seed: 3", "seed: 4"), "r.yaml")
    check_same_spec(fresh, reseeded, record=False, ignore=("sampler",))
    with pytest.raises(SpecError, match=r"changed: sampler"):
        check_same_spec(fresh, reseeded)
