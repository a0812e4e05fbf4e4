"""A study's figures, each built from a plain data object first.

Every figure has a builder that returns a frozen info object holding exactly what the
figure shows (Optuna's ``_get_pareto_front_info`` style), and a plot function that
only draws it. Tests check the info objects; the PNGs are their pictures.

* `pareto_info` / `plot_pareto`: the front(s) with the baselines (two objectives: one
  panel; three: the pairwise projections).
* `layer_breakdown_info` / `plot_layer_breakdown`: per-layer energy of up to four
  Pareto points spread evenly along the front, both ends included.
* `importance_info` / `plot_importances`: fANOVA importances per objective, with a
  warning below `MIN_IMPORTANCE_TRIALS` feasible trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sedse.errors import SpecError
from sedse.report._mpl import COLOURS, LABELS, figure, save
from sedse.study import OBJECTIVE_UNITS

LABEL = {"accuracy": "top-1 accuracy (validation split)", "energy": "energy per inference (uJ)",
         "latency": "latency (ms)", "edp": "EDP (uJ x ms)", "area": "area (mm^2)"}
#: fewer feasible trials than this give rough importances (said in the figure)
MIN_IMPORTANCE_TRIALS = 20
#: Pareto points shown in the per-layer figure at most
MAX_BREAKDOWN_TRIALS = 4


def fmt_energy_uj(v: float) -> str:
    """An energy in uJ as a person writes it: 845 uJ, 6.21 mJ, 1.2 J."""
    if not np.isfinite(v):
        return "n/a"
    for scale, unit in ((1e6, "J"), (1e3, "mJ"), (1.0, "uJ"), (1e-3, "nJ")):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v * 1e6:.3g} pJ"


# ------------------------------------------------------------------------ Pareto front

@dataclass(frozen=True)
class Panel:
    """One scatter: objective `y` against objective `x`."""

    x: str
    y: str
    x_label: str
    y_label: str
    log_x: bool
    feasible: tuple[tuple[float, float], ...]        # every feasible trial
    violating: tuple[tuple[float, float], ...]       # completed, breaks a constraint
    front: tuple[tuple[int, float, float], ...]      # (trial, x, y), sorted by x
    front_is_curve: bool     # two objectives: the front is a curve; three: points
    baselines: tuple[tuple[str, float, float], ...]  # (design, x, y)
    title: str


@dataclass(frozen=True)
class ParetoInfo:
    title: str
    panels: tuple[Panel, ...]
    n_completed: int
    n_feasible: int
    n_front: int


def pareto_info(df: pd.DataFrame, base: pd.DataFrame, objectives: list[str],
                title: str) -> ParetoInfo:
    """What `plot_pareto` draws, from `results_table`'s frame and `baseline_points`."""
    if len(objectives) == 2:
        pairs = [(objectives[1], objectives[0])]
    elif len(objectives) == 3:
        pairs = [(objectives[1], objectives[0]), (objectives[2], objectives[0]),
                 (objectives[1], objectives[2])]
    else:
        raise SpecError("objectives", "Pareto figures need two or three objectives")
    panels = []
    for x, y in pairs:
        xu, yu = OBJECTIVE_UNITS[x], OBJECTIVE_UNITS[y]
        feas = df[df.feasible]
        other = df[(~df.feasible) & df[xu].notna() & np.isfinite(df[xu])
                   & df[yu].notna() & np.isfinite(df[yu])]
        front = df[df.is_pareto].sort_values([xu, "trial"])
        log_x = bool(x in ("energy", "edp", "latency") and len(feas)
                     and feas[xu].max() / max(feas[xu].min(), 1e-12) > 20)
        bases = () if not len(base) else tuple(
            (str(r.design), float(r[xu]), float(r[yu])) for _, r in base.iterrows()
            if np.isfinite(r[xu]) and np.isfinite(r[yu]))
        panels.append(Panel(
            x, y, LABEL[x], LABEL[y], log_x,
            tuple(zip(feas[xu].astype(float), feas[yu].astype(float), strict=True)),
            tuple(zip(other[xu].astype(float), other[yu].astype(float), strict=True)),
            tuple((int(r.trial), float(r[xu]), float(r[yu])) for _, r in front.iterrows()),
            len(objectives) == 2, bases, f"{y} vs {x}"))
    return ParetoInfo(title, tuple(panels), int((df.state == "COMPLETE").sum()),
                      int(df.feasible.sum()), int(df.is_pareto.sum()))


def _place_labels(ax, points: list[tuple[str, float, float]], colour: str,
                  fontsize: int, min_pt: float, skip: bool) -> list[str]:
    """Annotate points with their names; a label that would sit within `min_pt` points
    of one already placed is skipped (`skip`, for crowded trial numbers) or moved down
    until clear (for the few baseline names, which must all show). Returns the names
    written."""
    ax.autoscale_view()
    to_pt = 72.0 / ax.figure.dpi
    placed: list[np.ndarray] = []
    written = []
    for name, x, y in points:
        xy = ax.transData.transform((x, y)) * to_pt
        dy = 0.0
        while any(np.hypot(*(xy + (0, dy) - q)) < min_pt for q in placed):
            if skip:
                break
            dy -= min_pt / 2
        else:
            placed.append(xy + (0, dy))
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4 + dy),
                        fontsize=fontsize, color=colour)
            written.append(name)
    return written


def plot_pareto(info: ParetoInfo, path: Path) -> Path:
    fig, axes = figure(1, len(info.panels), figsize=(6.2 * len(info.panels), 4.8),
                       squeeze=False)
    for ax, p in zip(axes[0], info.panels, strict=True):
        if p.feasible:
            ax.scatter(*zip(*p.feasible, strict=True), s=18, c="#9aa5b1",
                       label="feasible trials", zorder=2)
        if p.violating:
            ax.scatter(*zip(*p.violating, strict=True), s=18, marker="x", c="#d62728",
                       alpha=0.6, label="violates a constraint", zorder=2)
        if p.front:
            _, fx, fy = zip(*p.front, strict=True)
            ax.plot(fx, fy, "-o" if p.front_is_curve else "o", c="#1f77b4", ms=6, lw=1.5,
                    label="Pareto front" if p.front_is_curve else
                    "Pareto-optimal (all objectives)", zorder=3)
        if p.baselines:
            _, bx, by = zip(*p.baselines, strict=True)
            ax.scatter(bx, by, marker="D", s=46, c="#ff7f0e", edgecolor="k",
                       label="baselines (dense, matched)", zorder=4)
        ax.set_xlabel(p.x_label)
        ax.set_ylabel(p.y_label)
        if p.log_x:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.set_title(p.title, fontsize=9)
        _place_labels(ax, [(f"#{t}", x, y) for t, x, y in p.front], "#1f77b4", 7, 16.0,
                      skip=True)
        _place_labels(ax, list(p.baselines), "k", 8, 11.0, skip=False)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{info.title}: {info.n_completed} completed trials, {info.n_feasible} "
                 f"feasible, {info.n_front} on the front", fontsize=10)
    return save(fig, path)


# ------------------------------------------------------------------ per-layer energy

@dataclass(frozen=True)
class TrialBars:
    trial: int
    title: str
    layers: tuple[str, ...]
    energy_uj: tuple[tuple[str, tuple[float, ...]], ...]   # category -> per layer


@dataclass(frozen=True)
class LayerBreakdownInfo:
    title: str
    n_front: int
    bars: tuple[TrialBars, ...]


def spread_picks(n: int, k: int = MAX_BREAKDOWN_TRIALS) -> list[int]:
    """Indices of `k` (at most) of `n` items spread evenly, first and last included."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(v)) for v in np.linspace(0, n - 1, k)})


def layer_breakdown_info(study, front_trials: list[int], title: str) -> LayerBreakdownInfo:
    """Up to `MAX_BREAKDOWN_TRIALS` of the front's trials (in the order given, e.g.
    by accuracy), spread evenly with both ends, and their per-layer energy by
    category."""
    from sedse.cost import CATEGORIES

    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    chosen = [front_trials[i] for i in spread_picks(len(front_trials))]
    bars = []
    for n in chosen:
        t = by_number[n]
        layers = t.user_attrs.get("layer_energy_uj") or {}
        names = tuple(layers)
        cats = tuple((c, tuple(float(layers[k].get(c, 0.0)) for k in names))
                     for c in CATEGORIES
                     if any(layers[k].get(c, 0.0) for k in names))
        acc = t.user_attrs.get("accuracy_frac")
        head = f"trial #{n}: {fmt_energy_uj(t.user_attrs.get('energy_uj', float('nan')))}"
        if acc is not None:
            head += f", accuracy {acc:.4f}"
        bars.append(TrialBars(n, head, names, cats))
    shown = (f"all {len(front_trials)} Pareto points" if len(chosen) == len(front_trials)
             else f"{len(chosen)} of the {len(front_trials)} Pareto points, spread along "
                  "the front (both ends included)")
    return LayerBreakdownInfo(f"{title}: per-layer energy of {shown}", len(front_trials),
                              tuple(bars))


def plot_layer_breakdown(info: LayerBreakdownInfo, path: Path) -> Path:

    n = max(len(info.bars), 1)
    fig, axes = figure(n, 1, figsize=(8, 2.6 * n + 0.6), squeeze=False)
    for ax, b in zip(axes[:, 0], info.bars, strict=False):
        bottom = np.zeros(len(b.layers))
        for c, vals in b.energy_uj:
            ax.bar(range(len(b.layers)), vals, bottom=bottom, color=COLOURS[c],
                   label=LABELS[c])
            bottom += np.array(vals)
        ax.set_title(b.title, fontsize=9)
        ax.set_xticks(range(len(b.layers)))
        ax.set_xticklabels(b.layers, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("energy (uJ)")
    axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(info.title, fontsize=10)
    return save(fig, path)


# ------------------------------------------------------------------------ importances

@dataclass(frozen=True)
class ImportanceInfo:
    title: str
    n_trials: int            # feasible trials the importances come from
    warning: str             # "" when there are enough trials
    x_label: str
    per_objective: tuple[tuple[str, tuple[tuple[str, float], ...]], ...]  # smallest first


def importance_info(imp: pd.DataFrame, n_trials: int, title: str) -> ImportanceInfo:
    """From `importances`' frame and the number of feasible trials it used."""
    warning = "" if n_trials >= MIN_IMPORTANCE_TRIALS else (
        f"only {n_trials} feasible trials (fewer than {MIN_IMPORTANCE_TRIALS}): these "
        "importances are rough")
    per = []
    for o in dict.fromkeys(imp.objective):
        d = imp[imp.objective == o].sort_values(["importance", "param"])
        per.append((str(o), tuple((str(p), float(v))
                                  for p, v in zip(d.param, d.importance, strict=True))))
    return ImportanceInfo(title, n_trials, warning,
                          "fANOVA importance (share of variance)", tuple(per))


def plot_importances(info: ImportanceInfo, path: Path) -> Path:
    n = max(len(info.per_objective), 1)
    fig, axes = figure(1, n, figsize=(6.0 * n, 3.6), squeeze=False)
    for ax, (o, rows) in zip(axes[0], info.per_objective, strict=False):
        ax.barh([p for p, _ in rows], [v for _, v in rows], color="#4e79a7")
        ax.set_title(f"importance for {o}", fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_xlabel(info.x_label, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    head = f"{info.title} ({info.n_trials} feasible trials)"
    if info.warning:
        head += f"\n{info.warning}"
    fig.suptitle(head, fontsize=10, color="#b00000" if info.warning else "k")
    return save(fig, path)
