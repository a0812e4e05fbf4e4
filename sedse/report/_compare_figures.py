"""Figures of a `Comparison`, each built from a plain data object first.

* `breakdown_info` / `plot_breakdown`: the stacked energy breakdown per design with the
  energy and latency ratios to the reference.
* `layer_lines_info` / `plot_layers`: per-layer energy and latency of every design.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sedse.compare import Comparison
from sedse.cost import CATEGORIES
from sedse.report._mpl import COLOURS, LABELS, figure, save


def _subtitle(cmp: Comparison) -> str:
    if cmp.matched and cmp.budget is not None:
        b = cmp.budget
        return (f"matched: {b.macs} MACs, {b.onchip_bytes / 1024:.0f} KiB on chip, "
                f"{b.clock_mhz:g} MHz, {b.bits}-bit, one technology")
    return "native configurations (each with its own resources)"


@dataclass(frozen=True)
class BreakdownInfo:
    """Per design (in order): its label, energy (uJ) per category and the ratios."""

    title: str
    designs: tuple[str, ...]
    energy_uj: tuple[float, ...]
    by_category_uj: tuple[tuple[str, tuple[float, ...]], ...]  # non-empty categories only
    energy_vs_ref_x: tuple[float, ...]
    latency_vs_ref_x: tuple[float, ...]


def breakdown_info(cmp: Comparison) -> BreakdownInfo:
    df = cmp.table()
    cats = tuple((c, tuple(float(v) for v in df[f"{c}_uj"])) for c in CATEGORIES
                 if any(df[f"{c}_uj"]))
    return BreakdownInfo(
        f"{cmp.workload}: energy breakdown (ratios vs {cmp.reference})\n{_subtitle(cmp)}",
        tuple(d.replace(" (matched)", "") for d in df.design),
        tuple(float(v) for v in df.energy_uj), cats,
        tuple(float(v) for v in df.energy_vs_ref_x),
        tuple(float(v) for v in df.latency_vs_ref_x))


def plot_breakdown(info: BreakdownInfo, path: Path) -> Path:
    """Stacked energy breakdown per design, annotated with energy and speed ratios."""
    n = len(info.designs)
    fig, ax = figure(figsize=(max(5.8, 1.6 + 1.3 * n), 4.6))   # wide enough for the title
    bottom = [0.0] * n
    for c, vals in info.by_category_uj:
        ax.bar(range(n), vals, bottom=bottom, color=COLOURS[c], label=LABELS[c], width=0.65)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    for i in range(n):
        ax.text(i, info.energy_uj[i],
                f"{info.energy_vs_ref_x[i]:.2f}x E\n{info.latency_vs_ref_x[i]:.2f}x t",
                ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(n))
    ax.set_xticklabels(info.designs, rotation=20, ha="right")
    ax.set_ylabel("energy per inference (uJ)")
    ax.set_ylim(0, max(bottom) * 1.18)
    ax.set_title(info.title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return save(fig, path)


@dataclass(frozen=True)
class LayerLinesInfo:
    """Per design (in order): its label and per-layer energy (uJ) and latency (ms)."""

    title: str
    layers: tuple[str, ...]
    lines: tuple[tuple[str, tuple[float, ...], tuple[float, ...]], ...]


def layer_lines_info(cmp: Comparison) -> LayerLinesInfo:
    lf = cmp.layers()
    layers = tuple(dict.fromkeys(lf.layer))
    lines = []
    for design, g in lf.groupby("design", sort=False):
        g = g.set_index("layer").loc[list(layers)]
        lines.append((design.replace(" (matched)", ""),
                      tuple(float(v) for v in g.energy_uj),
                      tuple(float(v) for v in g.latency_ms)))
    return LayerLinesInfo(f"{cmp.workload}: per-layer energy and latency\n{_subtitle(cmp)}",
                          layers, tuple(lines))


def plot_layers(info: LayerLinesInfo, path: Path) -> Path:
    """Per-layer energy and latency of every design (log scale), layers in order."""
    n = len(info.layers)
    fig, axes = figure(2, 1, figsize=(max(7.0, 0.22 * n + 3), 6.4), sharex=True)
    for label, energy, latency in info.lines:
        axes[0].plot(range(n), energy, marker="o", ms=3, label=label)
        axes[1].plot(range(n), latency, marker="o", ms=3, label=label)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[0].set_ylabel("energy (uJ)")
    axes[1].set_ylabel("latency (ms)")
    axes[0].set_title(info.title, fontsize=9)
    axes[0].legend(fontsize=7, ncol=3)
    axes[1].set_xticks(range(n))
    axes[1].set_xticklabels(info.layers, rotation=90, fontsize=6 if n > 30 else 8)
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    return save(fig, path)
