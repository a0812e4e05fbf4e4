"""Speed of the cost model and the mapping search.

Prints (1) mapping evaluations per second of the vectorised core, batched against the
same candidates evaluated one per call (the baseline, same process); (2) search time
per distinct layer shape; (3) whole-network search time (fresh cache) for ResNet-18 and
ResNet-50 on eyeriss.yaml and systolic_ws_32x32.yaml (8-bit), serial and, as the CLI
runs it by default, in `--jobs` forked processes (default: the CPUs). For reference, the issue
quotes ZigZag at about 170 mappings/s and Timeloop's mapper at about 1e3 on this machine.

    python benchmarks/mapping_speed.py [--budget N]
    python benchmarks/mapping_speed.py --against REV [--repeats N]

``--against REV`` compares the core (1) with another commit in the same run: REV is
checked out into a temporary git worktree, and each tree's own benchmark runs with
``--core-only`` in its own process, alternating, `--repeats` times; the best rate of
each row per tree and their ratio are printed (a re-layout must keep it within 5%).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: numpy's elementwise work is serial

import numpy as np  # noqa: E402

import sedse_models  # noqa: E402
from sedse.cost import (  # noqa: E402
    SearchCache,
    SearchSettings,
    evaluate,
    evaluate_workload,
    keep_heap_pages,
    mapping_space,
)
from sedse.hardware import load_accelerator  # noqa: E402

CONFIGS = {"eyeriss": (16, "hw_configs/eyeriss.yaml"),
           "systolic_ws_32x32": (8, "hw_configs/systolic_ws_32x32.yaml")}


def _best_time(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _core_rates(tree: str, script: str, candidates: int) -> dict[str, float]:
    """Run `script` --core-only inside `tree` (its sedse first on the path): rate per
    (config, layer) row of table (1)."""
    out = subprocess.run([sys.executable, script, "--core-only", "--candidates",
                          str(candidates)], cwd=tree,
                         env={**os.environ, "PYTHONPATH": tree}, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    rates = {}
    for line in out[2:]:
        parts = line.split()
        if len(parts) >= 5 and parts[0] in CONFIGS:
            rates[f"{parts[0]} {parts[1]}"] = float(parts[2].replace(",", ""))
    return rates


def against(rev: str, repeats: int, candidates: int) -> None:
    """Table (1) of this tree and of commit `rev`, best of `repeats` alternating runs."""
    import shutil
    import tempfile

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    old = tempfile.mkdtemp(prefix="sedse-against-")
    subprocess.run(["git", "worktree", "add", "--detach", "-q", old, rev], cwd=here,
                   check=True)
    try:
        best: dict[str, dict[str, float]] = {"old": {}, "new": {}}
        for _ in range(repeats):
            for tag, tree in (("old", old), ("new", here)):
                for k, v in _core_rates(tree, "benchmarks/mapping_speed.py",
                                           candidates).items():
                    best[tag][k] = max(best[tag].get(k, 0.0), v)
        print(f"vectorised core, best of {repeats} alternating runs each: this tree vs {rev}")
        print(f"{'row':42s} {rev[:10]:>12s} {'this tree':>12s} {'ratio':>7s}")
        ratios = []
        for k in best["new"]:
            o, n = best["old"].get(k), best["new"][k]
            if o:
                ratios.append(n / o)
                print(f"{k:42s} {o:12,.0f} {n:12,.0f} {n / o:7.3f}")
        geo = float(np.exp(np.mean(np.log(ratios)))) if ratios else float("nan")
        print(f"geometric mean ratio (this tree / {rev[:10]}): {geo:.3f}")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", old], cwd=here, check=False)
        shutil.rmtree(old, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=SearchSettings().budget)
    ap.add_argument("--batch", type=int, default=SearchSettings().batch,
                    help="candidates per vectorised call (the search's default)")
    ap.add_argument("--candidates", type=int, default=16384)
    ap.add_argument("--core-rows", type=int, default=3, help="layers per config in (1)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="processes for the whole-network searches' second run (the "
                    "CLI's default --jobs: the CPUs)")
    ap.add_argument("--core-only", action="store_true", help="skip (2)+(3) and the "
                    "allocator baseline")
    ap.add_argument("--plain-heap", action="store_true", help="leave glibc's allocator "
                    "as it is (the baseline of the heap-pad ratio); by default this "
                    "benchmark keeps heap pages as the CLI does")
    ap.add_argument("--against", metavar="REV", help="compare table (1) with commit REV "
                    "(alternating runs in separate processes; see the module docstring)")
    ap.add_argument("--repeats", type=int, default=5, help="runs per tree with --against")
    args = ap.parse_args()
    if args.against:
        # longer timings than table (1)'s default: rows of a few ms vary by 20% per run
        against(args.against, args.repeats, max(args.candidates, 65536))
        return
    if not args.plain_heap:
        keep_heap_pages()
    settings = SearchSettings(objective="edp", budget=args.budget)

    print(f"(1) vectorised core: mapping evaluations per second ({args.candidates:,} "
          f"candidates in batches of {args.batch:,}, one core)")
    print(f"{'config':18s} {'layer':14s} {'batched/s':>11s} {'one-by-one/s':>13s} {'ratio':>7s}")
    first = None
    for name, (bits, path) in CONFIGS.items():
        acc = load_accelerator(path)
        wl = sedse_models.workload("resnet18").with_precision(bits, bits, bits)
        for layer in (wl.layers[1], wl.layers[7], wl.layers[-1])[:args.core_rows]:
            space = mapping_space(layer, acc)
            digits = space.sample_digits(args.candidates, np.random.default_rng(0))
            chunks = [space.to_candidates(digits[s:s + args.batch])
                      for s in range(0, len(digits), args.batch)]
            batched = len(digits) / _best_time(lambda cs=chunks, la=layer, a=acc: [
                evaluate(la, a, c) for c in cs])
            few = chunks[0].take(np.arange(200))
            single = 200 / _best_time(lambda c=few, la=layer, a=acc: [
                evaluate(la, a, c.take([i])) for i in range(len(c))], repeat=1)
            print(f"{name:18s} {layer.name:14s} {batched:11,.0f} {single:13,.0f} "
                  f"{batched / single:6.0f}x")
            first = batched if first is None else first
    if args.core_only:
        return
    # baseline: the same first row in a process whose allocator returns freed heap
    # pages to the system after every call (glibc's default; see sedse/cost/_alloc.py)
    out = subprocess.run(
        [sys.executable, __file__, "--core-only", "--core-rows", "1", "--batch",
         str(args.batch), "--candidates", str(args.candidates), "--plain-heap"],
        capture_output=True, text=True, check=True).stdout.splitlines()[2]
    plain = float(out.split()[2].replace(",", ""))
    print(f"heap pages kept between calls (M_TOP_PAD): {first:,.0f}/s vs {plain:,.0f}/s "
          f"returned to the system (first row, separate process): {first / plain:.2f}x")

    print(f"\n(2)+(3) search (objective edp, budget {args.budget} samples + steepest descent)")
    for name, (bits, path) in CONFIGS.items():
        acc = load_accelerator(path)
        for model in ("resnet18", "resnet50"):
            wl = sedse_models.workload(model).with_precision(bits, bits, bits)
            cache = SearchCache()
            t0 = time.perf_counter()
            rep = evaluate_workload(wl, acc, settings=settings, cache=cache)
            dt = time.perf_counter() - t0
            n = len(cache.results)
            evals = sum(r.evaluated for r in cache.results.values())
            print(f"{name:18s} {model:9s} whole network {dt:5.2f} s, {n} distinct shapes, "
                  f"{1e3 * dt / n:5.0f} ms per shape, {evals / dt:9,.0f} mappings/s overall, "
                  f"{rep.energy_pj / rep.macs:.2f} pJ/MAC, utilisation {rep.utilisation:.3f}")
            if args.jobs > 1:
                # the CLI's default: the distinct shapes searched in forked processes
                # (`SearchCache.prefetch`), the same results
                t0 = time.perf_counter()
                par = evaluate_workload(wl, acc, settings=settings, cache=SearchCache(),
                                        workers=args.jobs)
                dp = time.perf_counter() - t0
                same = par.energy_pj == rep.energy_pj and par.cycles == rep.cycles
                print(f"{'':18s} {'':9s} {args.jobs} processes  {dp:5.2f} s "
                      f"({dt / dp:.2f}x the serial search; same result: {same})")


if __name__ == "__main__":
    main()
