"""What the Eyeriss chip's mapping policy would cost a matched Eyeriss.

`eyeriss.yaml` folds a PE set whole whenever the array can hold it
(`unroll_whole_if_fits: [P]`, the chip's policy in JSSC 2017 Table III, stricter than
its hardware). Matched comparisons drop the policy (`sedse.hardware.match_design`).
This prints, per network, the matched Eyeriss's energy and latency with the policy
over without it (default-init weights, dense, the default search):

    python benchmarks/mapping_policy_cost.py [--models resnet50 mobilenetv2 ...]
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace

os.environ.setdefault("OMP_NUM_THREADS", "1")

import sedse_models  # noqa: E402
from sedse.cost import SearchCache, evaluate_workload  # noqa: E402
from sedse.hardware import (  # noqa: E402
    Budget,
    default_technology_file,
    load_designs,
    load_technology,
    match_design,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+",
                    default=["resnet50", "mobilenetv2", "efficientnet_b0", "deeplabv3plus"])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    se, ey = load_designs(["smartexchange", "eyeriss"])
    free = match_design(ey, Budget.of(se), load_technology(default_technology_file()))
    held = replace(free, dataflow=replace(free.dataflow,
                                          unroll_whole_if_fits=ey.dataflow.unroll_whole_if_fits))
    print(f"matched Eyeriss ({free.array_shape}), with unroll_whole_if_fits "
          f"{list(ey.dataflow.unroll_whole_if_fits)} / without it")
    print(f"{'model':18s} {'energy':>8s} {'latency':>8s}")
    for m in args.models:
        wl = sedse_models.workload(m).with_precision(free.input_bits, free.weight_bits,
                                                      free.output_bits)
        with_p, without = (evaluate_workload(wl, a, cache=SearchCache(), workers=args.jobs)
                           for a in (held, free))
        print(f"{m:18s} {with_p.energy_pj / without.energy_pj:7.3f}x "
              f"{with_p.cycles / without.cycles:7.3f}x")


if __name__ == "__main__":
    main()
