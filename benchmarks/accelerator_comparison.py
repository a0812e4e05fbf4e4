"""SmartExchange vs five baselines on several models (`sedse compare` in a loop).

For each model: matched designs (the SmartExchange budget: 168 MACs, ~194 KiB SRAM,
200 MHz, 8-bit, hw_configs/tech/65nm.yaml), weight statistics from a `sedse compress`
directory when given (`--compressed lenet5=runs/compressed/lenet5`), else from the
decomposition of the model's weights as they are. Prints, per model, each baseline's
energy and latency over SmartExchange's (>1: SmartExchange is better) and the
breakdown shares; writes every comparison's files under --out/<model>/ and a summary
Markdown table.

    python benchmarks/accelerator_comparison.py [--models vgg19 resnet50 ...]
        [--compressed lenet5=DIR ...] [--out runs/accelerator_comparison]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import sedse_models
from sedse.compare import compare
from sedse.compress import stats_by_decomposition, stats_from_compressed
from sedse.hardware import default_technology_file, load_designs, load_technology
from sedse.report import (
    breakdown_info,
    layer_lines_info,
    plot_breakdown,
    plot_layers,
    to_markdown,
)

DESIGNS = ["smartexchange", "eyeriss", "diannao", "scnn", "cambricon_x", "bit_pragmatic"]
MODELS = ["vgg19", "resnet50", "mobilenetv2", "efficientnet_b0", "deeplabv3plus"]


def run(model: str, compressed: str | None, out: Path) -> pd.DataFrame:
    wl = sedse_models.workload(model)
    if compressed:
        stats = stats_from_compressed(compressed, wl, model)
    else:
        stats = stats_by_decomposition(model, wl, Path("runs") / "cache")
    t0 = time.perf_counter()
    cmp = compare(wl, load_designs(DESIGNS), tech=load_technology(default_technology_file()),
                  stats=stats)
    secs = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    table = cmp.table()
    table.to_csv(out / "compare.csv", index=False)
    cmp.layers().to_csv(out / "layers.csv", index=False)
    plot_breakdown(breakdown_info(cmp), out / "breakdown.png")
    plot_layers(layer_lines_info(cmp), out / "per_layer.png")
    print(f"\n== {model} ({wl.macs:,} MACs; {secs:.1f} s) ==\nweights: {stats.weights_source}"
          f"\nactivations: {stats.activations_source}")
    cols = ["design", "energy_uj", "latency_ms", "pj_per_mac", "dram_uj", "noc_uj",
            "rebuild_uj", "index_uj", "energy_vs_ref_x", "latency_vs_ref_x"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for line in cmp.collapse_lines():
        print(line)
    without = cmp.energy_vs_ref_without_collapsed()
    sh = cmp.shares()
    collapsed = "; ".join(
        f"{name} (up to {100 * sh[sh.layer == name].energy_share_frac.max():.0f}% of a "
        "design's energy)" for name, _ in cmp.collapsed)
    return table.assign(model=model, energy_without_collapsed_x=table.design.map(without),
                        collapsed=collapsed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--compressed", nargs="*", default=[],
                    help="MODEL=DIR pairs of `sedse compress` outputs")
    ap.add_argument("--out", default="runs/accelerator_comparison")
    args = ap.parse_args()
    runs = [(m, None) for m in args.models]
    for pair in args.compressed:
        m, _, d = pair.partition("=")
        runs.append((m, d))
    tables = [run(m, d, Path(args.out) / m) for m, d in runs]
    rows = []
    for t in tables:
        row = {"model": t.model.iloc[0]}
        se = t.iloc[0]
        row["SE pJ/MAC"] = se.pj_per_mac
        row["SE DRAM share"] = f"{se.dram_uj / se.energy_uj:.0%}"
        for _, r in t.iloc[1:].iterrows():
            name = r.design.replace(" (matched)", "")
            wo = r.energy_without_collapsed_x
            e = f"{r.energy_vs_ref_x:.2f}" + (f" ({wo:.2f})" if wo == wo else "")
            row[f"{name} E/t"] = f"{e} / {r.latency_vs_ref_x:.2f}"
        row["collapsed layers"] = se.collapsed or "none"
        rows.append(row)
    summary = pd.DataFrame(rows)
    md = to_markdown(summary, ".3g")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.md").write_text(md + "\n")
    print("\nbaseline energy / SmartExchange energy and latency / SmartExchange latency "
          "(matched designs; in brackets the energy ratio without the layers whose "
          "compression collapsed):\n" + md)


if __name__ == "__main__":
    from sedse.cost import keep_heap_pages

    keep_heap_pages()   # as the CLI does (a process-wide switch: the caller's)
    main()
