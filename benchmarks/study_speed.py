"""Study speed: trials per second, and the cost of a hardware-only trial on ResNet-18.

Prints:
* one ResNet-18 design point of studies/hardware_resnet18.yaml evaluated cold (every
  layer's mapping searched), with warm per-layer search caches (a fresh network-cost
  memo: what a new trial pays when its layer shapes and design were seen before), and
  fully warm (the same point again); target <= 50 ms with warm caches;
* trials per second of the hardware-only and the quickstart study run for --trials
  trials each on a temporary SQLite storage (the quickstart's float baseline is
  trained first if not cached, and not counted).

    python benchmarks/study_speed.py [--trials 12]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sedse.study import Evaluator, load_study, run_study

ROOT = Path(__file__).resolve().parents[1]


def point_timings() -> None:
    spec = load_study(ROOT / "studies" / "hardware_resnet18.yaml")
    with tempfile.TemporaryDirectory() as d:
        ev = Evaluator(spec, d)
        params = {p.name: (p.choices[0] if p.choices else (p.low if not p.integer
                                                           else int(p.low)))
                  for p in spec.search_space}
        params["hardware.levels.GLB.partitions.W.capacity_bytes"] = 24576
        params["hardware.levels.GLB.partitions.I.capacity_bytes"] = 98304
        params["hardware.levels.GLB.partitions.O.capacity_bytes"] = 65536
        ev.evaluate(params)  # statistics (decomposition, cached on disk) loaded once
        ev.search_cache.results.clear()
        ev.search_cache.reports.clear()
        ev._network_memo.clear()
        t0 = time.perf_counter()
        res = ev.evaluate(params)
        cold = time.perf_counter() - t0
        ev._network_memo.clear()
        t0 = time.perf_counter()
        ev.evaluate(params)
        warm_layers = time.perf_counter() - t0
        t0 = time.perf_counter()
        ev.evaluate(params)
        warm = time.perf_counter() - t0
    print(f"ResNet-18 hardware-only point ({res.values['energy_uj']:.4g} uJ, "
          f"{res.values['latency_ms']:.4g} ms):")
    print(f"  cold (20 layers searched)           {1e3 * cold:8.1f} ms")
    print(f"  warm per-layer search caches        {1e3 * warm_layers:8.1f} ms  (target <= 50)")
    print(f"  same point again (network memo)     {1e3 * warm:8.3f} ms")


def trials_per_second(name: str, trials: int) -> None:
    spec = load_study(ROOT / "studies" / f"{name}.yaml")
    with tempfile.TemporaryDirectory() as d:
        ev = Evaluator(spec, d, threads=1)
        if spec.needs_accuracy:
            ev.float_accuracy  # noqa: B018 - train or load the float baseline first
        storage = f"sqlite:///{Path(d) / 'db.sqlite'}"
        t0 = time.perf_counter()
        study = run_study(spec, storage, n_trials=trials, run_dir=d, progress=False,
                          evaluator=ev)
        secs = time.perf_counter() - t0
    n = len(study.trials)
    print(f"{name:20s} {n:3d} trials in {secs:6.1f} s = {n / secs:5.2f} trials/s "
          f"({1e3 * secs / n:.0f} ms per trial)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=12)
    args = ap.parse_args()
    point_timings()
    for name in ("hardware_resnet18", "quickstart"):
        trials_per_second(name, args.trials)


if __name__ == "__main__":
    from sedse.cost import keep_heap_pages

    keep_heap_pages()   # as the CLI does (a process-wide switch: the caller's)
    main()
