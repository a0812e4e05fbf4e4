"""Study results: the table, Pareto fronts with baselines, importances, and export.

* `results_table`: one row per trial, unit-suffixed columns (``accuracy_frac``,
  ``energy_uj``, ``latency_ms``, ``edp_uj_ms``, ``area_mm2``, ``compression_ratio_x``),
  ``param_<name>`` per parameter, ``feasible`` (completed, design fits, every constraint
  met) and ``is_pareto`` (non-dominated among the feasible trials on the objectives).
* `baseline_points`: the study's baselines (dense weights, the float model's accuracy)
  evaluated on the same model, each matched to the study accelerator's budget.
* the figures are in `sedse.study._figures` (each from a plain info object).
* `export_point`: the accelerator YAML and compression config (and compressed
  weights) of one trial, which `sedse eval` / `sedse compare` read back.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from sedse.errors import SpecError
from sedse.study._spec import OBJECTIVE_UNITS, OBJECTIVES, StudySpec

MAPPINGS_FILE = "mappings.yaml"
REPLAYED_FILES = ("accelerator.yaml", MAPPINGS_FILE, "stats.yaml", "compressed/layers.json",
                  "compressed/weights.npz", "compressed/model.pt")


def file_sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
def pareto_mask(values: np.ndarray, directions: list[str]) -> np.ndarray:
    """Non-dominated rows of `values` (n, k) under per-column directions."""
    v = np.array(values, dtype=float)
    for j, d in enumerate(directions):
        if d == "maximize":
            v[:, j] = -v[:, j]
    n = len(v)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        dominated = np.all(v <= v[i], axis=1) & np.any(v < v[i], axis=1)
        keep[i] = not dominated.any()
    return keep


def results_table(study, objectives: list[str] | None = None) -> pd.DataFrame:
    """One row per trial (see the module docstring)."""
    from optuna.trial import TrialState

    objectives = objectives or study.user_attrs.get("objectives")
    rows = []
    for t in study.get_trials(deepcopy=False):
        ua = t.user_attrs
        cons = list(t.constraints.values()) or list(ua.get("constraint_values") or [])
        row = {"trial": t.number, "state": t.state.name,
               "feasible": t.state == TrialState.COMPLETE and bool(ua.get("feasible"))
               and all(c <= 0 for c in cons)}
        for unit in ("accuracy_frac", "test_accuracy_frac", "energy_uj", "latency_ms",
                     "edp_uj_ms", "area_mm2", "compression_ratio_x", "pj_per_mac",
                     "utilisation_frac"):
            row[unit] = ua.get(unit, math.nan)
        for k, v in (ua.get("energy_uj_by_category") or {}).items():
            row[f"{k}_uj"] = v
        for k, v in t.params.items():
            row[f"param_{k}"] = v
        row["reason"] = ua.get("infeasible_reason") or ua.get("error") or (
            f"duplicate of trial {ua['duplicate_of']}" if ua.get("duplicate_of") is not None
            else "surplus" if ua.get("surplus") else "")
        row["duration_s"] = t.duration.total_seconds() if t.duration else math.nan
        rows.append(row)
    df = pd.DataFrame(rows)
    df["is_pareto"] = False
    if len(df) and objectives:
        cols = [OBJECTIVE_UNITS[o] for o in objectives]
        ok = df.feasible & df[cols].notna().all(axis=1)
        if ok.any():
            mask = pareto_mask(df.loc[ok, cols].to_numpy(), [OBJECTIVES[o] for o in objectives])
            df.loc[df.index[ok][mask], "is_pareto"] = True
    return df


def baseline_points(spec: StudySpec, float_accuracy: float | None) -> pd.DataFrame:
    """The spec's baselines on the model with dense weights, matched to the study
    accelerator's budget (MACs, SRAM, clock, precision; one technology)."""
    import sedse_models
    from sedse.compare import load_designs
    from sedse.cost import SearchSettings, evaluate_workload
    from sedse.hardware import (
        Budget,
        area_mm2,
        load_accelerator,
        load_technology,
        match_design,
    )

    if not spec.baselines:
        return pd.DataFrame()
    tech = load_technology(spec.technology)
    budget = Budget.of(load_accelerator(spec.accelerator))
    wl = sedse_models.workload(spec.model, spec.batch)
    rows = []
    for acc in load_designs(list(spec.baselines)):
        m = match_design(acc, budget, tech)
        rep = evaluate_workload(wl.with_precision(m.input_bits, m.weight_bits, m.output_bits),
                                m, settings=SearchSettings(objective=spec.search_objective,
                                                           budget=spec.search_budget))
        e, t = rep.energy_pj / 1e6, rep.latency_s * 1e3
        rows.append({"design": acc.name, "accuracy_frac": float_accuracy or math.nan,
                     "energy_uj": e, "latency_ms": t, "edp_uj_ms": e * t,
                     "area_mm2": area_mm2(m, tech)})
    return pd.DataFrame(rows)


def importances(study, objectives: list[str]) -> pd.DataFrame:
    """Optuna's parameter importances (fANOVA) per objective, over feasible trials."""
    import optuna
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("feasible") and all(np.isfinite(t.values))]
    if len(done) < 3:
        return pd.DataFrame()
    # an in-memory copy holding the feasible trials only (infeasible ones carry inf)
    sub = optuna.create_study(directions=study.directions)
    sub.add_trials(done)
    rows = []
    for i, o in enumerate(objectives):
        try:
            imp = optuna.importance.get_param_importances(
                sub, target=lambda t, i=i: t.values[i],
                evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
        except (RuntimeError, ValueError):
            continue
        for k, v in imp.items():
            rows.append({"objective": o, "param": k, "importance": v})
    out = pd.DataFrame(rows)
    out.attrs["n_trials"] = len(done)     # the feasible trials they come from
    return out


def export_point(study, spec: StudySpec, trial_number: int, out: Path, *,
                 run_dir: Path) -> dict:
    """Write the trial's accelerator YAML, compression config and compressed weights to
    `out`; return the trial's stored values. SpecError if the trial cannot be exported.
    The compressed weights are copied only from the run's own cache (`run_dir`, the
    folder `sedse run` used), at the entry of the trial's compression parameters: no
    path stored in the study is followed."""
    from optuna.trial import TrialState

    from sedse._yaml import dump_yaml, load_yaml
    from sedse.study._evaluate import apply_overrides

    numbers = [t.number for t in study.get_trials(deepcopy=False)]
    if trial_number not in numbers:
        raise SpecError("--trial", f"study {spec.name!r} has no trial {trial_number} "
                        f"(trials 0..{max(numbers) if numbers else -1})")
    t = study.trials[numbers.index(trial_number)]
    if t.state != TrialState.COMPLETE or not t.user_attrs.get("feasible"):
        why = t.user_attrs.get("infeasible_reason") or t.user_attrs.get("error") or t.state.name
        raise SpecError("--trial", f"trial {trial_number} is not a feasible completed trial "
                        f"({why})")
    hw = {k: v for k, v in t.params.items() if k.startswith("hardware.")}
    doc = apply_overrides(load_yaml(spec.accelerator).value, hw, spec)
    header = (f"# exported from study {spec.name} ({spec.file}), trial {trial_number}\n"
              f"# parameters: {json.dumps(t.params)}\n")
    comp = {k.split(".", 1)[1]: v for k, v in t.params.items() if k.startswith("compression.")}
    stored = {k: t.user_attrs.get(k) for k in ("accuracy_frac", "energy_uj", "latency_ms",
                                               "edp_uj_ms", "area_mm2", "compression_ratio_x")
              if k in t.user_attrs}
    mappings = t.user_attrs.get("mappings")
    if not isinstance(mappings, dict) or not mappings:
        raise SpecError("--trial", f"trial {trial_number} stores no mappings (evaluated by an "
                        "older sedse); run the study again to export it")
    info = {"study": spec.name, "trial": trial_number, "model": spec.model,
            "batch": spec.batch, "params": t.params, "values": stored,
            "mapping_search": {"objective": spec.search_objective,
                               "budget": spec.search_budget},
            "files": {"accelerator": "accelerator.yaml", "mappings": MAPPINGS_FILE,
                      "compressed": "compressed" if spec.method != "none" else None}}
    src = None
    if spec.method != "none":
        from sedse.compress import SmartExchangeConfig
        from sedse.study._evaluate import compressed_cache_dir

        fixed = spec.compression_fixed()
        fixed.update(comp)
        try:
            cfg = SmartExchangeConfig(**fixed)
        except (TypeError, ValueError) as exc:
            raise SpecError("--trial", f"trial {trial_number}'s compression parameters are "
                            f"invalid ({exc})") from None
        src = compressed_cache_dir(Path(run_dir), spec, cfg)
        if not (src / "layers.json").is_file():
            raise SpecError(str(src), "the trial's compressed weights are gone (was the run "
                            "folder's cache deleted?)")
    stats_doc = None
    if spec.method == "none":   # the fixed weight statistics every trial was costed with
        from sedse.study._evaluate import Evaluator

        stats_doc = Evaluator(spec, run_dir)._stats({})[0].to_doc()
        info["files"]["stats"] = "stats.yaml"
    # every input checked: now write
    out.mkdir(parents=True, exist_ok=True)
    if stats_doc is not None:
        (out / "stats.yaml").write_text(dump_yaml(stats_doc, sort_keys=False))
    (out / "accelerator.yaml").write_text(header + dump_yaml(doc, sort_keys=False))
    (out / MAPPINGS_FILE).write_text(
        f"# the mappings trial {trial_number} was evaluated with (sedse eval reuses them)\n"
        + dump_yaml(mappings, sort_keys=False))
    if src is not None:
        (out / "compression.yaml").write_text(dump_yaml(
            {"method": "smartexchange", **fixed, "fidelity": spec.fidelity}, sort_keys=False))
        if (out / "compressed").exists():
            shutil.rmtree(out / "compressed")
        shutil.copytree(src, out / "compressed", symlinks=False)
    # content hashes: an edited file is refused on replay (never a silently other number)
    info["sha256"] = {f: file_sha256(out / f) for f in REPLAYED_FILES if (out / f).is_file()}
    (out / "trial.json").write_text(json.dumps(info, indent=1))
    return info
