"""Study results: the table, Pareto fronts with baselines, importances, and export.

* `results_table`: one row per trial, unit-suffixed columns (``accuracy_frac``,
  ``energy_uj``, ``latency_ms``, ``edp_uj_ms``, ``area_mm2``, ``compression_ratio_x``),
  ``param_<name>`` per parameter, ``feasible`` (completed, design fits, every constraint
  met) and ``is_pareto`` (non-dominated among the feasible trials on the objectives).
* `baseline_points`: the study's baselines (dense weights, the float model's accuracy)
  evaluated on the same model, each matched to the study accelerator's budget.
* `plot_pareto`: 2-D front, or the three pairwise projections for three objectives.
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
import yaml

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
LABEL = {"accuracy": "top-1 accuracy (validation split)", "energy": "energy per inference (uJ)",
         "latency": "latency (ms)", "edp": "EDP (uJ x ms)", "area": "area (mm^2)"}


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


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scatter(ax, df, base, x: str, y: str, title: str, line: bool = True):
    xu, yu = OBJECTIVE_UNITS[x], OBJECTIVE_UNITS[y]
    feas = df[df.feasible]
    other = df[(~df.feasible) & df[xu].notna() & np.isfinite(df[xu])]
    ax.scatter(feas[xu], feas[yu], s=18, c="#9aa5b1", label="feasible trials", zorder=2)
    if len(other):
        ax.scatter(other[xu], other[yu], s=18, marker="x", c="#d62728", alpha=0.6,
                   label="violates a constraint", zorder=2)
    front = df[df.is_pareto].sort_values(xu)
    # with three objectives a projection of the front is not a curve: points only
    ax.plot(front[xu], front[yu], "-o" if line else "o", c="#1f77b4", ms=6, lw=1.5,
            label="Pareto front" if line else "Pareto-optimal (all objectives)", zorder=3)
    if len(base):
        ax.scatter(base[xu], base[yu], marker="D", s=46, c="#ff7f0e", edgecolor="k",
                   label="baselines (dense, matched)", zorder=4)
        for _, r in base.iterrows():
            ax.annotate(r.design, (r[xu], r[yu]), textcoords="offset points", xytext=(5, -10),
                        fontsize=8)
    ax.set_xlabel(LABEL[x])
    ax.set_ylabel(LABEL[y])
    if x in ("energy", "edp", "latency") and len(feas) and \
            feas[xu].max() / max(feas[xu].min(), 1e-12) > 20:
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    _label_front(ax, front, xu, yu)


def _label_front(ax, front, xu: str, yu: str, min_pt: float = 16.0) -> None:
    """Label front points with their trial numbers, skipping a point whose label would
    sit within `min_pt` points of one already written (crowded fronts stay readable;
    every point is in results.csv)."""
    ax.autoscale_view()
    to_pt = 72.0 / ax.figure.dpi
    placed: list[np.ndarray] = []
    for _, r in front.iterrows():
        xy = ax.transData.transform((r[xu], r[yu])) * to_pt
        if any(np.hypot(*(xy - q)) < min_pt for q in placed):
            continue
        placed.append(xy)
        ax.annotate(f"#{int(r.trial)}", (r[xu], r[yu]), textcoords="offset points",
                    xytext=(4, 4), fontsize=7, color="#1f77b4")


def plot_pareto(df: pd.DataFrame, base: pd.DataFrame, objectives: list[str], path: Path,
                title: str) -> Path:
    """The Pareto front(s) with the baselines; one panel for two objectives, three
    pairwise panels for three."""
    plt = _plt()
    pairs = [(objectives[1], objectives[0])] if len(objectives) == 2 else \
        [(objectives[1], objectives[0]), (objectives[2], objectives[0]),
         (objectives[1], objectives[2])] if len(objectives) == 3 else []
    if not pairs:
        raise SpecError("objectives", "Pareto figures need two or three objectives")
    fig, axes = plt.subplots(1, len(pairs), figsize=(6.2 * len(pairs), 4.8), squeeze=False)
    for ax, (x, y) in zip(axes[0], pairs, strict=True):
        _scatter(ax, df, base, x, y, f"{y} vs {x}", line=len(objectives) == 2)
    axes[0][0].legend(fontsize=7, loc="best")
    n_ok = int(df.feasible.sum())
    n_done = int((df.state == "COMPLETE").sum())
    fig.suptitle(f"{title}: {n_done} completed trials, {n_ok} feasible, "
                 f"{int(df.is_pareto.sum())} on the front", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_layer_breakdown(study, trials: list[int], path: Path, title: str) -> Path:
    """Per-layer energy by category of the chosen trials (stacked bars)."""
    from sedse.compare._plots import COLOURS, LABELS
    from sedse.cost import CATEGORIES

    plt = _plt()
    trials = trials[:4]
    fig, axes = plt.subplots(len(trials), 1, figsize=(8, 2.6 * len(trials) + 0.6),
                             squeeze=False)
    for ax, n in zip(axes[:, 0], trials, strict=True):
        t = study.trials[n]
        layers = t.user_attrs.get("layer_energy_uj") or {}
        names = list(layers)
        bottom = np.zeros(len(names))
        for c in CATEGORIES:
            vals = np.array([layers[k].get(c, 0.0) for k in names])
            if vals.any():
                ax.bar(range(len(names)), vals, bottom=bottom, color=COLOURS[c],
                       label=LABELS[c])
                bottom += vals
        acc = t.user_attrs.get("accuracy_frac")
        ax.set_title(f"trial #{n}: {t.user_attrs.get('energy_uj', 0):.3g} uJ"
                     + (f", accuracy {acc:.4f}" if acc is not None else ""), fontsize=9)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("energy (uJ)")
    axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
    return pd.DataFrame(rows)


def plot_importances(imp: pd.DataFrame, path: Path, title: str) -> Path:
    plt = _plt()
    objs = list(dict.fromkeys(imp.objective))
    fig, axes = plt.subplots(1, len(objs), figsize=(4.6 * len(objs), 3.2), squeeze=False)
    for ax, o in zip(axes[0], objs, strict=True):
        d = imp[imp.objective == o].sort_values("importance")
        ax.barh(d.param, d.importance, color="#4e79a7")
        ax.set_title(f"importance for {o}", fontsize=9)
        ax.set_xlim(0, 1)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def export_point(study, spec: StudySpec, trial_number: int, out: Path, *,
                 run_dir: Path) -> dict:
    """Write the trial's accelerator YAML, compression config and compressed weights to
    `out`; return the trial's stored values. SpecError if the trial cannot be exported.
    The compressed weights are copied only from the run's own cache (`run_dir`, the
    folder `sedse run` used), at the entry of the trial's compression parameters: no
    path stored in the study is followed."""
    from optuna.trial import TrialState

    from sedse._yaml import load_yaml
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
        (out / "stats.yaml").write_text(yaml.safe_dump(stats_doc, sort_keys=False))
    (out / "accelerator.yaml").write_text(header + yaml.safe_dump(doc, sort_keys=False))
    (out / MAPPINGS_FILE).write_text(
        f"# the mappings trial {trial_number} was evaluated with (sedse eval reuses them)\n"
        + yaml.safe_dump(mappings, sort_keys=False))
    if src is not None:
        (out / "compression.yaml").write_text(yaml.safe_dump(
            {"method": "smartexchange", **fixed, "fidelity": spec.fidelity}, sort_keys=False))
        if (out / "compressed").exists():
            shutil.rmtree(out / "compressed")
        shutil.copytree(src, out / "compressed", symlinks=False)
    # content hashes: an edited file is refused on replay (never a silently other number)
    info["sha256"] = {f: file_sha256(out / f) for f in REPLAYED_FILES if (out / f).is_file()}
    (out / "trial.json").write_text(json.dumps(info, indent=1))
    return info
