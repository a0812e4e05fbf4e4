"""SmartExchange against its five baselines on trained networks, with every fair ablation.

Three CIFAR-style networks of the paper's families (`vgg11_gray32`: VGG-11 at 1/4 width,
`resnet20_gray32`: CIFAR ResNet-20, `mobilenetv2_gray32`: MobileNetV2's CIFAR layout at
0.5 width; all 32 x 32 grey) are trained on Fashion-MNIST zero-padded to 32 x 32 (cached
under runs/cache), then compressed to one target ratio (vs 32-bit weights) by
SmartExchange and by each fair ablation of `benchmarks/ablation_sweep.py` (same rules:
operating point from storage alone, the same retraining budget for every method; one
epoch by default). Each compressed network (its real encodings and the activation
statistics measured on validation images) runs on the six matched designs of
`sedse compare` (SmartExchange's budget: 168 MACs, ~194 KiB SRAM, 8-bit, 65 nm), and
every row reports accuracy, compression, each baseline's energy and latency over the
SmartExchange design's on that network, and the layer with the largest share of the
SmartExchange design's energy. A collapsed layer (Ce density or error past the guard)
is named and its row marked: no total is carried by one unseen.

    python benchmarks/trained_comparison.py [--models ...] [--target 12] [--epochs 4]
        [--retrain-steps N] [--out runs/trained_comparison]

Writes each compressed network under --out/<model>/<method>/ (a `sedse compress`
directory: `sedse compare --compressed` replays any row), the rows as rows.json and
the table as summary.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ablation_sweep as sweep  # noqa: E402

import sedse_models  # noqa: E402
from sedse._shipped import model_entry  # noqa: E402
from sedse.compare import compare  # noqa: E402
from sedse.compress import (  # noqa: E402
    TrainConfig,
    accuracy,
    compress_and_measure,
    load_dataset,
    save_compressed,
    stats_from_compressed,
    train_float,
)
from sedse.hardware import default_technology_file, load_designs, load_technology  # noqa: E402

MODELS = ("vgg11_gray32", "resnet20_gray32", "mobilenetv2_gray32")
DESIGNS = ["smartexchange", "eyeriss", "diannao", "scnn", "cambricon_x", "bit_pragmatic"]
SOURCE = "measured on fashion-mnist validation images, 8-bit"


def compress_one(model_name: str, model, data, method: str, target: float, steps: int,
                 float_acc: float, out: Path, seed: int = 0) -> dict | None:
    """Compress `model` with `method` at `target`, write the directory, return the row's
    compression facts (None when the method has no point near the target)."""
    from sedse.compress._train import _weight_modules

    weights = [(n, m.weight.detach().numpy()) for n, m in _weight_modules(model)]
    comp = sweep.compressor_for(method, target, weights)
    if comp is None:
        return None
    epochs = max(1, math.ceil(steps * 128 / len(data.train_x)))
    cfg = TrainConfig(lr=0.01, seed=seed)
    t0 = time.perf_counter()
    if method == "SmartExchange":
        m = compress_and_measure(model, comp, data, decomposed_epochs=epochs, from_float=True,
                                 max_steps=steps, train_cfg=cfg, float_accuracy=float_acc)
    else:
        m = compress_and_measure(model, comp, data, retrain_epochs=epochs, retrain_mode="ste",
                                 max_steps=steps, train_cfg=cfg, float_accuracy=float_acc)
    save_compressed(out, {"model": model_name, "dataset": "fashion-mnist (32x32)",
                          "data": {"fingerprint": data.fingerprint},
                          "method": comp.method, "params": {"label": sweep._label(comp),
                                                            "target": target,
                                                            "steps": steps},
                          "float_accuracy": float_acc,
                          "projected_accuracy": m.projected_accuracy,
                          "accuracy": m.accuracy, "test_accuracy": m.test_accuracy,
                          "activations": m.activations, "activations_source": SOURCE},
                    m.compressed, m.model)
    return {"model": model_name, "method": method, "params": sweep._label(comp),
            "float_accuracy": float_acc, "accuracy": m.accuracy,
            "test_accuracy": m.test_accuracy,
            "ratio32": m.compressed.compression_ratio(32),
            "ratio8": m.compressed.compression_ratio(8),
            "compress_s": time.perf_counter() - t0, "dir": str(out)}


def compare_one(row: dict) -> dict:
    """Run the compressed network on the six matched designs; add the ratios."""
    wl = sedse_models.workload(row["model"])
    stats = stats_from_compressed(row["dir"], wl, row["model"])
    t0 = time.perf_counter()
    cmp = compare(wl, load_designs(DESIGNS), tech=load_technology(default_technology_file()),
                  stats=stats)
    table = cmp.table()
    se = table.iloc[0]
    out = dict(row, compare_s=time.perf_counter() - t0, se_energy_uj=float(se.energy_uj),
               se_latency_ms=float(se.latency_ms), se_pj_per_mac=float(se.pj_per_mac))
    for _, r in table.iloc[1:].iterrows():
        name = r.design.replace(" (matched)", "")
        out[f"{name}_energy_x"] = float(r.energy_vs_ref_x)
        out[f"{name}_latency_x"] = float(r.latency_vs_ref_x)
    sh = cmp.shares()
    mine = sh[sh.design == se.design].sort_values("energy_share_frac", ascending=False)
    out["top_layer"] = str(mine.iloc[0].layer)
    out["top_share"] = float(mine.iloc[0].energy_share_frac)
    out["collapsed"] = [name for name, _ in cmp.collapsed]
    out["collapse_lines"] = cmp.collapse_lines()
    Path(row["dir"], "compare.csv").write_text(table.to_csv(index=False))
    return out


_DIR = {m: m.split(" ")[0].lower().replace("-", "") for m in sweep.METHODS}


def rows_from_dirs(out: Path, models) -> list[dict]:
    """The rows' compression facts read back from the compressed directories under
    `out` (what `run` wrote; the directory is the record), in model and method order."""
    rows = []
    for name in models:
        for method, sub in _DIR.items():
            d = out / name / sub
            if not (d / "layers.json").is_file():
                continue
            doc = json.loads((d / "layers.json").read_text())
            rows.append({"model": name, "method": method, "params": doc["params"]["label"],
                         "float_accuracy": doc["float_accuracy"], "accuracy": doc["accuracy"],
                         "test_accuracy": doc["test_accuracy"],
                         "ratio32": doc["ratio_vs_32bit"], "ratio8": doc["ratio_vs_8bit"],
                         "compress_s": float("nan"), "dir": str(d)})
    return rows


def run(models, target: float, float_epochs: int, steps: int | None, out: Path,
        methods=sweep.METHODS, cache_dir: Path = Path("runs") / "cache",
        threads: int = 2) -> list[dict]:
    import torch

    torch.set_num_threads(threads)
    data = load_dataset("fashion-mnist", image_size=32, channels=1)
    steps = steps or math.ceil(len(data.train_x) / 128)       # one epoch
    rows = []
    for name in models:
        t0 = time.perf_counter()
        model = train_float(name, model_entry(name).build, data,
                            TrainConfig(epochs=float_epochs), cache_dir=cache_dir)
        float_acc = accuracy(model, data)
        print(f"{name}: float {100 * float_acc:.2f}% ({time.perf_counter() - t0:.0f} s)",
              flush=True)
        for method in methods:
            row = compress_one(name, model, data, method, target, steps, float_acc,
                               out / name / _DIR[method])
            if row is None:
                print(f"  {method}: no operating point near {target}x", flush=True)
                continue
            row = compare_one(row)
            rows.append(row)
            print(f"  {method:28s} {row['params']:24s} {row['ratio32']:5.1f}x  acc "
                  f"{100 * row['accuracy']:.2f}%  SE design {row['se_energy_uj']:.4g} uJ, "
                  f"eyeriss {row['eyeriss_energy_x']:.2f}x  ({row['compress_s']:.0f} + "
                  f"{row['compare_s']:.0f} s)", flush=True)
            for line in row["collapse_lines"]:
                print("   ", line)
    return rows


def summary(rows: list[dict], steps: int, target: float) -> str:
    base = DESIGNS[1:]
    head = ["model", "method", "acc. %", "float %", "x vs 32-bit", "x vs 8-bit",
            "SE pJ/MAC"] + [f"{b} E / t" for b in base] + ["top layer (SE energy share)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["model"], r["method"], f"{100 * r['accuracy']:.2f}",
                 f"{100 * r['float_accuracy']:.2f}", f"{r['ratio32']:.1f}",
                 f"{r['ratio8']:.2f}", f"{r['se_pj_per_mac']:.3g}"]
        cells += [f"{r[f'{b}_energy_x']:.2f} / {r[f'{b}_latency_x']:.2f}" for b in base]
        top = f"{r['top_layer']} ({100 * r['top_share']:.0f}%)"
        if r["collapsed"]:
            top += " COLLAPSED: " + ", ".join(r["collapsed"])
        cells.append(top)
        lines.append("| " + " | ".join(cells) + " |")
    se = [r for r in rows if r["method"] == "SmartExchange"]
    note = [f"target {target}x vs 32-bit; retraining budget {steps} SGD steps per method; "
            "E / t: baseline energy and latency over the SmartExchange design's on the same "
            "compressed network (> 1: the SmartExchange design is better)"]
    if se:
        geo = {b: float(np.exp(np.mean([np.log(r[f"{b}_energy_x"]) for r in se])))
               for b in base}
        note.append("SmartExchange-compressed networks, geometric mean of baseline energy "
                    "over SmartExchange's: " + ", ".join(f"{b} {v:.2f}x" for b, v in
                                                         geo.items()))
    return "\n".join(lines + [""] + note)


def main() -> None:
    from sedse.cost import keep_heap_pages

    keep_heap_pages()
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--target", type=float, default=12.0)
    ap.add_argument("--epochs", type=int, default=4, help="float training epochs (cached)")
    ap.add_argument("--retrain-steps", type=int, default=None,
                    help="SGD steps per method (default one epoch)")
    ap.add_argument("--out", default="runs/trained_comparison")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--recompare", action="store_true",
                    help="no training: run the comparisons again on the compressed "
                         "directories of the last run (--out/rows.json)")
    args = ap.parse_args()
    out = Path(args.out)
    t0 = time.perf_counter()
    if args.recompare:
        rows = [compare_one(r) for r in rows_from_dirs(out, args.models)]
    else:
        rows = run(args.models, args.target, args.epochs, args.retrain_steps, out,
                   threads=args.threads)
    steps = args.retrain_steps or "one epoch of"
    out.mkdir(parents=True, exist_ok=True)
    (out / "rows.json").write_text(json.dumps(rows, indent=1))
    md = summary(rows, steps, args.target)
    (out / "summary.md").write_text(md + "\n")
    print("\n" + md)
    print(f"\nwrote {out / 'summary.md'} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
