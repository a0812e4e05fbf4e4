"""Figures and Markdown for a `Comparison` (matplotlib, Agg backend; nothing shown)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sedse.cost import CATEGORIES

COLOURS = {"dram": "#4e79a7", "global_buffer": "#f28e2b", "noc": "#76b7b2",
           "register_file": "#59a14f", "mac": "#edc948", "rebuild": "#e15759",
           "index": "#b07aa1"}
LABELS = {"dram": "DRAM", "global_buffer": "global buffer", "noc": "NoC",
          "register_file": "register file", "mac": "MAC", "rebuild": "rebuild (shift-add)",
          "index": "index"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _subtitle(cmp) -> str:
    if cmp.matched and cmp.budget is not None:
        b = cmp.budget
        return (f"matched: {b.macs} MACs, {b.onchip_bytes / 1024:.0f} KiB on chip, "
                f"{b.clock_mhz:g} MHz, {b.bits}-bit, one technology")
    return "native configurations (each with its own resources)"


def plot_breakdown(cmp, path: Path) -> Path:
    """Stacked energy breakdown per design, annotated with energy and speed ratios."""
    plt = _plt()
    df = cmp.table()
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(df), 4.6))
    bottom = [0.0] * len(df)
    for c in CATEGORIES:
        vals = df[f"{c}_uj"].tolist()
        if not any(vals):
            continue
        ax.bar(range(len(df)), vals, bottom=bottom, color=COLOURS[c], label=LABELS[c],
               width=0.65)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    for i, r in df.iterrows():
        ax.text(i, r.energy_uj, f"{r.energy_vs_ref_x:.2f}x E\n{r.latency_vs_ref_x:.2f}x t",
                ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(df)))
    ax.set_xticklabels([d.replace(" (matched)", "") for d in df.design], rotation=20,
                       ha="right")
    ax.set_ylabel("energy per inference (uJ)")
    ax.set_ylim(0, max(bottom) * 1.18)
    ax.set_title(f"{cmp.workload}: energy breakdown (ratios vs {cmp.reference})\n"
                 f"{_subtitle(cmp)}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_layers(cmp, path: Path) -> Path:
    """Per-layer energy and latency of every design (log scale), layers in order."""
    plt = _plt()
    lf = cmp.layers()
    layers = list(dict.fromkeys(lf.layer))
    fig, axes = plt.subplots(2, 1, figsize=(max(7.0, 0.22 * len(layers) + 3), 6.4),
                             sharex=True)
    for design, g in lf.groupby("design", sort=False):
        g = g.set_index("layer").loc[layers]
        label = design.replace(" (matched)", "")
        axes[0].plot(range(len(layers)), g.energy_uj, marker="o", ms=3, label=label)
        axes[1].plot(range(len(layers)), g.latency_ms, marker="o", ms=3, label=label)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[0].set_ylabel("energy (uJ)")
    axes[1].set_ylabel("latency (ms)")
    axes[0].set_title(f"{cmp.workload}: per-layer energy and latency\n{_subtitle(cmp)}",
                      fontsize=9)
    axes[0].legend(fontsize=7, ncol=3)
    axes[1].set_xticks(range(len(layers)))
    axes[1].set_xticklabels(layers, rotation=90, fontsize=6 if len(layers) > 30 else 8)
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
