"""Accuracy vs total weight bits on Fashion-MNIST (LeNet-5): SmartExchange and every
ablation, after post-training projection and after the paper's retraining (alternating
SGD epochs and projections), plus SmartExchange trained in the decomposed form (STE,
frozen mask, one epoch more than the retraining).

Prints the table (compression counts every stored bit: coefficients, bases, indices,
scales; every layer is decomposed, at basis size 3 and, for LeNet-5, also at 5) and
draws accuracy vs compression ratio (vs 32-bit weights) to docs/compression_quality.png.

    python benchmarks/compression_quality.py [--retrain-epochs 1] [--out docs/...png]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from sedse._shipped import model_entry  # noqa: E402
from sedse.compress import (  # noqa: E402
    LowRank,
    MagnitudePrune,
    Pow2Quant,
    SmartExchange,
    SmartExchangeConfig,
    TrainConfig,
    UniformQuant,
    accuracy,
    compress_and_measure,
    load_dataset,
    train_float,
)

SWEEPS = {
    "SmartExchange": [(f"theta={t}", SmartExchange(SmartExchangeConfig(theta=t,
                                                                      row_theta=5 * t)))
                      for t in (0.01, 0.02, 0.03, 0.04, 0.045, 0.05)],
    # basis size 5: LeNet-5's 5x5 convs by kernel rows with 5 x 5 bases, FC by 5-wide rows
    "SmartExchange (basis 5)": [(f"theta={t}", SmartExchange(SmartExchangeConfig(
        basis_size=5, theta=t, row_theta=5 * t))) for t in (0.01, 0.02, 0.03, 0.04)],
    "prune (element)": [(f"sparsity={s}", MagnitudePrune(s)) for s in (0.5, 0.7, 0.8, 0.9)],
    "prune (vector)": [(f"sparsity={s}", MagnitudePrune(s, "vector"))
                       for s in (0.5, 0.7, 0.8)],
    "low rank": [(f"rank={r}", LowRank(r)) for r in (16, 8, 4)],
    "power-of-2 quant": [(f"bits={b}", Pow2Quant(b)) for b in (5, 4, 3)],
    "uniform quant": [(f"bits={b}", UniformQuant(b)) for b in (8, 4, 3, 2)],
}


#: a shorter sweep for the CIFAR-style ResNet-8 (about 1 min per training epoch here)
SWEEPS_RESNET8 = {
    "SmartExchange": [(f"theta={t}", SmartExchange(SmartExchangeConfig(theta=t,
                                                                      row_theta=5 * t)))
                      for t in (0.02, 0.04, 0.06)],
    "prune (element)": [(f"sparsity={s}", MagnitudePrune(s)) for s in (0.7, 0.9)],
    "prune (vector)": [(f"sparsity={s}", MagnitudePrune(s, "vector")) for s in (0.7,)],
    "low rank": [(f"rank={r}", LowRank(r)) for r in (8, 4)],
    "power-of-2 quant": [(f"bits={b}", Pow2Quant(b)) for b in (3,)],
    "uniform quant": [(f"bits={b}", UniformQuant(b)) for b in (3,)],
}


def run(retrain_epochs: int, cache_dir: Path, model_name: str = "lenet5",
        float_epochs: int = 5) -> tuple[float, list[dict]]:
    """Every sweep point through `compress_and_measure` (each from the float model, which
    the pipeline leaves as it is): projection, then the retraining; then SmartExchange
    trained in the decomposed form from the float weights."""
    sweeps = SWEEPS_RESNET8 if model_name == "resnet8_gray" else SWEEPS
    torch.set_num_threads(2)
    data = load_dataset("fashion-mnist")
    model = train_float(model_name, model_entry(model_name).build, data,
                        TrainConfig(epochs=float_epochs), cache_dir=cache_dir)
    float_acc = accuracy(model, data)
    quick = {"float_accuracy": float_acc, "measure_test": False, "measure_activations": False}
    rows = []
    for method, points in sweeps.items():
        for label, comp in points:
            m = compress_and_measure(model, comp, data, retrain_epochs=retrain_epochs, **quick)
            rows.append({"method": method, "params": label,
                         "ratio32": m.projection.compression_ratio(32),
                         "ratio8": m.projection.compression_ratio(8),
                         "acc_projected": m.projected_accuracy,
                         "ratio32_retrained": m.compressed.compression_ratio(32),
                         "acc_retrained": m.accuracy})
    projected = {r["params"]: r for r in rows if r["method"] == "SmartExchange"}
    for label, comp in sweeps["SmartExchange"]:
        # training in the decomposed form (STE, frozen mask) as the retraining step, from
        # the float weights; its projection is the SmartExchange row's above
        m = compress_and_measure(model, comp, data, decomposed_epochs=max(retrain_epochs, 1) + 1,
                                 from_float=True, **quick)
        p = projected[label]
        rows.append({"method": "SmartExchange (decomposed training)", "params": label,
                     "ratio32": p["ratio32"], "ratio8": p["ratio8"],
                     "acc_projected": p["acc_projected"],
                     "ratio32_retrained": m.compressed.compression_ratio(32),
                     "acc_retrained": m.accuracy})
    return float_acc, rows


def plot(float_acc: float, rows: list[dict], out: Path, model_name: str = "lenet5") -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, (key, rkey, title) in zip(axes, (
            ("acc_projected", "ratio32", "after projection (no retraining)"),
            ("acc_retrained", "ratio32_retrained", "after retraining")), strict=True):
        methods = list(dict.fromkeys(r["method"] for r in rows))
        if key != "acc_retrained":
            methods.remove("SmartExchange (decomposed training)")
        for method in methods:
            pts = sorted((r[rkey], r[key]) for r in rows if r["method"] == method)
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker="o", label=method,
                    lw=2.5 if method.startswith("SmartExchange") else 1.2,
                    ls="--" if "decomposed" in method else "-")
        ax.axhline(100 * float_acc, color="k", ls="--", lw=1, label="float (32-bit)")
        ax.axhline(100 * (float_acc - 0.01), color="grey", ls=":", lw=1,
                   label="float - 1 point")
        ax.set_xscale("log")
        ticks = [4, 6, 8, 10, 15, 20, 30, 40, 60]
        ax.set_xticks(ticks, [f"{t}x" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("compression vs 32-bit weights (all stored bits counted)")
        ax.set_title(title)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Fashion-MNIST validation accuracy (%)")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"{model_name} on Fashion-MNIST: accuracy vs weight storage")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--retrain-epochs", type=int, default=1)
    ap.add_argument("--cache-dir", default=str(Path("runs") / "cache"))
    ap.add_argument("--model", choices=["lenet5", "resnet8_gray"], default="lenet5")
    ap.add_argument("--float-epochs", type=int, default=5)
    ap.add_argument("--out", default=None, help="figure (default docs/compression_quality"
                    "[_MODEL].png)")
    ap.add_argument("--replot", action="store_true",
                    help="redraw the figure from the last run's runs/ JSON, no training")
    args = ap.parse_args()
    out = args.out or ("docs/compression_quality.png" if args.model == "lenet5"
                       else f"docs/compression_quality_{args.model}.png")
    saved = Path("runs") / f"compression_quality_{args.model}.json"
    t0 = time.perf_counter()
    if args.replot:
        doc = json.loads(saved.read_text())
        plot(doc["float_accuracy"], doc["rows"], Path(out), args.model)
        print(f"wrote {out}")
        return
    float_acc, rows = run(args.retrain_epochs, Path(args.cache_dir), args.model,
                          args.float_epochs)
    saved.parent.mkdir(exist_ok=True)
    saved.write_text(json.dumps({"float_accuracy": float_acc, "rows": rows}, indent=1))
    print(f"{args.model} / Fashion-MNIST, float accuracy {100 * float_acc:.2f}%; retraining: "
          f"{args.retrain_epochs} epoch(s) alternating with projection")
    print("| method | params | x vs 32-bit | x vs 8-bit | acc. projected | "
          "x vs 32-bit retrained | acc. retrained |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['params']} | {r['ratio32']:.1f} | {r['ratio8']:.2f} | "
              f"{100 * r['acc_projected']:.2f} | {r['ratio32_retrained']:.1f} | "
              f"{100 * r['acc_retrained']:.2f} |")
    plot(float_acc, rows, Path(out), args.model)
    print(f"wrote {out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
