"""SmartExchange against fair ablations at matched compression: accuracy vs weight storage.

Each method is the state of the art of its idea, as far as it fits a CPU budget:

* pruning: LAMP layer-adaptive allocation (Lee et al., ICLR 2021) of one model-wide
  sparsity, kept weights uniform with a per-filter least-squared-error scale, bitmap
  index; 8-bit kept weights below 8x, 4-bit from 8x;
* low rank: per-layer rank by kept spectral energy (one energy for the model), 8-bit
  factors;
* power-of-two and uniform quantisation: per-filter least-squared-error scale;
* all three retrained with a straight-through estimator: every step computes with the
  projection of latent float weights (masks and scales follow the weights), from the
  float weights;
* SmartExchange: decomposition (row threshold 5 x theta, as the paper) of the float
  weights, then training of Ce and B in the decomposed form (straight-through on the
  power-of-two Ce, frozen mask); its projection (no training) is measured apart.

Every method gets the same retraining budget: `--steps` SGD steps (batch 128, lr 0.01,
momentum 0.9, cosine schedule over the epochs they span). Operating points are chosen
from storage alone, never from accuracy: for each target compression ratio T (vs 32-bit
weights, every stored bit counted) each method's knob is set by a fixed rule (bisection
on the float weights for SmartExchange's theta, pruning's sparsity and low rank's
energy, the nearest bit width for the quantisers); a method that cannot
reach T has no point there. Seeds change the float model and the retraining order.

Prints the table (mean and spread over seeds), a verdict per target (SmartExchange
"wins" / "ties" / "loses" against the best ablation: beyond, or within, two spreads),
and draws docs/ablation_sweep.png; the rows go to runs/ablation_sweep_MODEL.json.

    python benchmarks/ablation_sweep.py [--model lenet5] [--seeds 0 1 2] [--steps 469]
    python benchmarks/ablation_sweep.py --model vgg11_gray32 --seeds 0 --steps 150

The CIFAR-style grey nets (vgg11_gray32, resnet20_gray32) train on Fashion-MNIST padded
to 32 x 32 for 3 epochs, the float models `benchmarks/trained_comparison.py` caches.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from sedse._shipped import model_entry
from sedse.compress import (
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
from sedse.compress._train import compress_weights

TARGETS = (4, 8, 12, 16, 20, 30)
METHODS = ("SmartExchange", "prune (LAMP)", "low rank (per-layer energy)",
           "power-of-2 quant", "uniform quant")
DATASET = {"lenet5": "fashion-mnist", "lenet5_digits": "digits",
           "vgg11_gray32": "fashion-mnist", "resnet20_gray32": "fashion-mnist"}
#: the CIFAR-style grey nets read Fashion-MNIST zero-padded to 32 x 32 and are trained for
#: 3 epochs, as `benchmarks/trained_comparison.py` trains them (the same cached models)
IMAGE_SIZE = {"vgg11_gray32": 32, "resnet20_gray32": 32}
FLOAT_EPOCHS = {"vgg11_gray32": 3, "resnet20_gray32": 3}


def _ratio(comp, weights) -> float:
    return compress_weights(weights, comp).compression_ratio(32)


def _bisect(make, weights, target: float, lo: float, hi: float, *, log: bool,
            steps: int = 14):
    """make(x) for the x in [lo, hi] whose ratio is nearest `target` (ratio increasing
    in x); None when even `hi` falls short by more than 10% or `lo` is 10% beyond."""
    f = (lambda x: math.log(x)) if log else (lambda x: x)
    g = (lambda y: math.exp(y)) if log else (lambda y: y)
    if _ratio(make(hi), weights) < 0.9 * target or _ratio(make(lo), weights) > 1.1 * target:
        return None
    a, b = f(lo), f(hi)
    for _ in range(steps):
        mid = (a + b) / 2
        if _ratio(make(g(mid)), weights) < target:
            a = mid
        else:
            b = mid
    best = min((g(a), g(b)), key=lambda x: abs(_ratio(make(x), weights) - target))
    return make(best)


def _quant_bits(target: float) -> int | None:
    """The bit width whose 32 / bits is nearest the target (>= 2 bits), if within 15%."""
    bits = max(2, round(32 / target))
    return bits if abs(32 / bits - target) <= 0.15 * target else None


def compressor_for(method: str, target: float, weights):
    """The method's operating point nearest `target` x (vs 32-bit), by its fixed rule;
    None when it has none within 10-15% of the target."""
    if method == "SmartExchange":
        for ce_bits in (4, 5, 6, 8):      # the fewest Ce bits that can still reach the target
            comp = _bisect(lambda t, cb=ce_bits: SmartExchange(SmartExchangeConfig(
                theta=t, row_theta=5 * t, ce_bits=cb)), weights, target, 1e-4, 0.3, log=True)
            if comp is not None and _ratio(comp, weights) >= 0.9 * target:
                return comp
        return None
    if method == "prune (LAMP)":
        bits = 8 if target < 8 else 4
        return _bisect(lambda s: MagnitudePrune(s, bits=bits, allocation="lamp", scale="mse",
                                                per_channel=True),
                       weights, target, 0.0, 0.999, log=False)
    if method == "low rank (per-layer energy)":
        return _bisect(lambda e: LowRank(energy=1 - e), weights, target, 1e-5, 0.99, log=True)
    bits = _quant_bits(target)
    if bits is None:
        return None
    cls = Pow2Quant if method == "power-of-2 quant" else UniformQuant
    return cls(bits, scale="mse", per_channel=True)


def _label(comp) -> str:
    if isinstance(comp, SmartExchange):
        c = comp.config
        return f"theta={c.theta:.3g}, Ce {c.ce_bits} b"
    if isinstance(comp, MagnitudePrune):
        return f"sparsity={comp.sparsity:.3f}, {comp.bits} b"
    if isinstance(comp, LowRank):
        return f"energy={comp.energy:.4g}"
    return f"{comp.bits} b"


def run(model_name: str, seeds, steps: int, targets=TARGETS, methods=METHODS,
        cache_dir: Path = Path("runs") / "cache", float_epochs: int | None = None,
        threads: int = 2) -> list[dict]:
    import torch

    from sedse.compress._train import _weight_modules

    torch.set_num_threads(threads)
    float_epochs = float_epochs or FLOAT_EPOCHS.get(model_name, 5)
    data = load_dataset(DATASET[model_name], image_size=IMAGE_SIZE.get(model_name),
                        channels=1)
    epochs = max(1, math.ceil(steps * 128 / len(data.train_x)))
    rows = []
    for seed in seeds:
        model = train_float(model_name, model_entry(model_name).build, data,
                            TrainConfig(epochs=float_epochs, seed=seed), cache_dir=cache_dir)
        float_acc = accuracy(model, data)
        weights = [(n, m.weight.detach().numpy()) for n, m in _weight_modules(model)]
        cfg = TrainConfig(lr=0.01, seed=seed)
        for method in methods:
            for target in targets:
                comp = compressor_for(method, target, weights)
                if comp is None:
                    rows.append({"method": method, "target": target, "seed": seed,
                                 "skipped": True})
                    continue
                t0 = time.perf_counter()
                quick = {"float_accuracy": float_acc, "measure_test": False,
                         "measure_activations": False}
                if method == "SmartExchange":   # from the float weights, as the others
                    projected = compress_and_measure(model, comp, data, **quick)
                    m = compress_and_measure(model, comp, data, decomposed_epochs=epochs,
                                             from_float=True, max_steps=steps,
                                             train_cfg=cfg, **quick)
                    proj_acc = projected.accuracy
                else:
                    m = compress_and_measure(model, comp, data, retrain_epochs=epochs,
                                             retrain_mode="ste", max_steps=steps,
                                             train_cfg=cfg, **quick)
                    proj_acc = m.projected_accuracy
                rows.append({"method": method, "target": target, "seed": seed,
                             "params": _label(comp), "float_accuracy": float_acc,
                             "ratio32": m.compressed.compression_ratio(32),
                             "ratio8": m.compressed.compression_ratio(8),
                             "acc_projected": proj_acc, "accuracy": m.accuracy,
                             "seconds": time.perf_counter() - t0})
                print(f"seed {seed} {method:28s} {target:>3}x: {rows[-1]['params']:24s} "
                      f"{rows[-1]['ratio32']:6.2f}x  projected {100 * proj_acc:6.2f}%"
                      f"  retrained {100 * m.accuracy:6.2f}%  ({rows[-1]['seconds']:.0f} s)",
                      flush=True)
    return rows


def summarise(rows: list[dict]) -> tuple[dict, list[str]]:
    """{(method, target): (mean ratio, mean acc, spread acc, n)} and one verdict line per
    target. Spread: the sample standard deviation over seeds (0 with one seed)."""
    cells: dict = {}
    for r in rows:
        if r.get("skipped"):
            continue
        cells.setdefault((r["method"], r["target"]), []).append(r)
    table = {}
    for key, rs in cells.items():
        acc = np.array([r["accuracy"] for r in rs])
        table[key] = (float(np.mean([r["ratio32"] for r in rs])), float(acc.mean()),
                      float(acc.std(ddof=1)) if len(acc) > 1 else 0.0, len(rs))
    verdicts = []
    for target in sorted({t for _, t in table}):
        se = table.get(("SmartExchange", target))
        others = {m: v for (m, t), v in table.items() if t == target and m != "SmartExchange"}
        if se is None or not others:
            verdicts.append(f"{target}x: no comparison (SmartExchange "
                            f"{'has no point' if se is None else 'alone'})")
            continue
        best_m, best = max(others.items(), key=lambda kv: kv[1][1])
        spread = max(se[2], best[2])
        gap = se[1] - best[1]
        if min(se[3], best[3]) < 2:     # one seed: no spread to judge by
            word = "ahead (1 seed, no spread)" if gap > 0 else "behind (1 seed, no spread)"
        else:
            word = "wins" if gap > 2 * spread else "loses" if gap < -2 * spread else "ties"
        verdicts.append(f"{target}x: SmartExchange {word} ({100 * se[1]:.2f}% at "
                        f"{se[0]:.1f}x vs {best_m} {100 * best[1]:.2f}% at {best[0]:.1f}x; "
                        f"gap {100 * gap:+.2f} points, spread {100 * spread:.2f})")
    return table, verdicts


def plot(rows: list[dict], out: Path, title: str) -> None:
    import matplotlib.pyplot as plt

    table, _ = summarise(rows)
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    fl = float(np.mean([r["float_accuracy"] for r in rows if not r.get("skipped")]))
    floor = 100 * fl - 12          # points below are drawn on the floor, labelled
    for method in METHODS:
        pts = sorted(v for (m, _), v in table.items() if m == method)
        if not pts:
            continue
        line = ax.errorbar([p[0] for p in pts], [max(100 * p[1], floor) for p in pts],
                           yerr=[100 * p[2] if 100 * p[1] > floor else 0 for p in pts],
                           marker="o", capsize=3, label=method,
                           lw=2.5 if method == "SmartExchange" else 1.2)
        for p in pts:
            if 100 * p[1] <= floor:
                ax.plot(p[0], floor, marker="v", ms=10, color=line[0].get_color())
                ax.annotate(f"{100 * p[1]:.0f}% (off scale)", (p[0], floor),
                            textcoords="offset points", xytext=(-70, 8), fontsize=8,
                            color=line[0].get_color())
    ax.axhline(100 * fl, color="k", ls="--", lw=1, label="float (32-bit), mean")
    ax.set_xscale("log")
    ticks = [4, 6, 8, 12, 16, 20, 30]
    ax.set_xticks(ticks, [f"{t}x" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("compression vs 32-bit weights (all stored bits counted)")
    ax.set_ylabel("validation accuracy (%), mean ± std over seeds")
    ax.set_ylim(floor - 1, 100 * fl + 1.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def report(rows: list[dict], steps: int) -> str:
    table, verdicts = summarise(rows)
    seeds = sorted({r["seed"] for r in rows})
    lines = [f"retraining budget: {steps} SGD steps per method (batch 128, lr 0.01); "
             f"seeds {seeds}; accuracy = validation, mean ± std over seeds",
             "| method | target | params (seed 0) | x vs 32-bit | acc. projected | "
             "acc. retrained |", "|---|---|---|---|---|---|"]
    for method in METHODS:
        for target in TARGETS:
            v = table.get((method, target))
            if v is None:
                continue
            rs = [r for r in rows if r["method"] == method and r["target"] == target
                  and not r.get("skipped")]
            proj = np.mean([r["acc_projected"] for r in rs])
            lines.append(f"| {method} | {target}x | {rs[0]['params']} | {v[0]:.1f} | "
                         f"{100 * proj:.2f} | {100 * v[1]:.2f} ± {100 * v[2]:.2f} |")
    missing = sorted({f"{r['method']} {r['target']}x" for r in rows if r.get("skipped")})
    if missing:
        lines.append("no operating point within 10-15% of the target: " + ", ".join(missing))
    return "\n".join(lines + ["verdicts:"] + verdicts)


def main() -> None:
    from sedse.cost import keep_heap_pages

    keep_heap_pages()
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(DATASET), default="lenet5")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=469, help="retraining SGD steps per method")
    ap.add_argument("--cache-dir", default=str(Path("runs") / "cache"))
    ap.add_argument("--out", default=None, help="figure (default docs/ablation_sweep.png)")
    ap.add_argument("--replot", action="store_true", help="redraw from the last run's JSON")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = ap.parse_args()
    out = Path(args.out or ("docs/ablation_sweep.png" if args.model == "lenet5"
                            else f"runs/ablation_sweep_{args.model}.png"))
    saved = Path("runs") / f"ablation_sweep_{args.model}.json"
    t0 = time.perf_counter()
    if args.replot:
        doc = json.loads(saved.read_text())
        rows, steps = doc["rows"], doc["steps"]
    else:
        rows, steps = run(args.model, args.seeds, args.steps, cache_dir=Path(args.cache_dir),
                          threads=args.threads), args.steps
        saved.parent.mkdir(exist_ok=True)
        saved.write_text(json.dumps({"steps": steps, "rows": rows}, indent=1))
    print(report(rows, steps))
    plot(rows, out, f"{args.model} on {DATASET[args.model]}: fair ablations, "
         f"{steps} retraining steps each")
    print(f"wrote {out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()


__all__ = ["METHODS", "TARGETS", "compressor_for", "report", "run", "summarise"]
