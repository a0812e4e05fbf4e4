"""Results as tables: a study's trials, its Pareto front and baselines, parameter
importances, and Markdown for a comparison.

* `results_table`: one row per trial, unit-suffixed columns (``accuracy_frac``,
  ``energy_uj``, ``latency_ms``, ``edp_uj_ms``, ``area_mm2``, ``compression_ratio_x``),
  ``param_<name>`` per parameter, ``feasible`` (completed, design fits, every constraint
  met) and ``is_pareto`` (non-dominated among the feasible trials on the objectives,
  `pareto_mask`).
* `baseline_points`: the study's baselines (dense weights, the float model's accuracy)
  evaluated on the same model, each matched to the study accelerator's budget.
* `importances`: Optuna's fANOVA importances per objective.
* `to_markdown`, `comparison_layers_md`: a table, and compare.md's per-layer part.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sedse.compare import Comparison
from sedse.study import OBJECTIVE_UNITS, OBJECTIVES, StudySpec


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
    from sedse._shipped import model_entry
    from sedse.cost import evaluate_workload
    from sedse.hardware import (
        Budget,
        area_mm2,
        load_accelerator,
        load_designs,
        load_technology,
        match_design,
    )

    if not spec.baselines:
        return pd.DataFrame()
    tech = load_technology(spec.technology)
    budget = Budget.of(load_accelerator(spec.accelerator))
    wl = model_entry(spec.model).workload(spec.batch)
    rows = []
    for acc in load_designs(list(spec.baselines)):
        m = match_design(acc, budget, tech)
        rep = evaluate_workload(wl.with_precision(m.input_bits, m.weight_bits, m.output_bits),
                                m, settings=spec.mapping_search)
        e, t = rep.energy_pj / 1e6, rep.latency_s * 1e3
        rows.append({"design": acc.name, "accuracy_frac": float_accuracy or math.nan,
                     "energy_uj": e, "latency_ms": t, "edp_uj_ms": e * t,
                     "area_mm2": area_mm2(m, tech)})
    return pd.DataFrame(rows)


def importances(study, objectives: list[str]) -> pd.DataFrame:
    """Optuna's parameter importances (fANOVA) per objective, over feasible trials, of
    the parameters that take more than one value."""
    import optuna
    from optuna.trial import FrozenTrial, TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("feasible") and all(np.isfinite(t.values))]
    if len(done) < 3:
        return pd.DataFrame()
    # an in-memory copy holding the feasible trials only (infeasible ones carry inf)
    sub = optuna.create_study(directions=study.directions)
    sub.add_trials(done)
    rows = []
    for i, o in enumerate(objectives):
        def target(t: FrozenTrial, i: int = i) -> float:
            return t.values[i]

        # a parameter with one value (a fixed choice) explains nothing: left out
        varied = sorted({k for t in done for k, d in t.distributions.items() if not d.single()})
        try:
            imp = optuna.importance.get_param_importances(
                sub, target=target, params=varied or None,
                evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
        except (RuntimeError, ValueError):
            continue
        for k, v in imp.items():
            rows.append({"objective": o, "param": k, "importance": v})
    out = pd.DataFrame(rows)
    out.attrs["n_trials"] = len(done)     # the feasible trials they come from
    return out


def to_markdown(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """A GitHub Markdown table (no extra dependency)."""
    def cell(v):
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) and
                         not pd.api.types.is_bool_dtype(df[c]) else "---"
                         for c in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def comparison_layers_md(cmp: Comparison, top: int = 5) -> str:
    """compare.md's per-layer part: the collapsed layers, and each design's largest
    layers by share of its energy (so one layer cannot carry a total unseen)."""
    out = []
    if cmp.collapsed:
        out.append("Collapsed layers (compression left them nearly all zero):\n")
        out += [f"- {line.removeprefix('warning: ')}" for line in cmp.collapse_lines()]
        out.append("")
    sh = cmp.shares()
    out.append(f"Largest layers by share of each design's energy (top {top}):\n")
    rows = sh.groupby("design", sort=False).head(top).assign(
        energy_share_pct=lambda d: 100 * d.energy_share_frac)
    out.append(to_markdown(rows[["design", "layer", "energy_uj", "energy_share_pct",
                                 "collapsed"]]))
    return "\n".join(out)
