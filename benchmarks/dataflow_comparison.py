"""Dataflow comparison in the setting of Eyeriss ISCA 2016: 256 PEs, equal storage
area, AlexNet at batch 16, each dataflow's best-energy mappings.

Prints energy per MAC by level for row-stationary (RS), weight-stationary (WS),
output-stationary (OS) and no-local-reuse (NLR), and each one's ratio to RS. The paper
reports RS 1.4x-2.5x more energy-efficient on the CONV layers, at least 1.3x on FC.

    python benchmarks/dataflow_comparison.py [--batch 16]
"""

from __future__ import annotations

import argparse

import sedse_models
from sedse.cost import SearchSettings, evaluate_workload
from sedse.hardware import load_accelerator
from sedse.workload import Workload

DATAFLOWS = ("rs", "ws", "os", "nlr")


def compare(batch: int = 16) -> dict[tuple[str, str], dict]:
    """{(dataflow, 'conv' | 'fc'): {'pj_per_mac': ..., 'by_level': {...}}}."""
    wl = sedse_models.workload("alexnet", batch)
    parts = {kind: Workload(kind, tuple(la for la in wl.layers if la.kind == kind))
             for kind in ("conv", "fc")}
    out = {}
    for df in DATAFLOWS:
        acc = load_accelerator(f"hw_configs/isca2016/{df}.yaml")
        for kind, part in parts.items():
            rep = evaluate_workload(part, acc, settings=SearchSettings(objective="energy"))
            by_level = rep.to_dict()["totals"]["energy_pj_by_level"]
            out[(df, kind)] = {"pj_per_mac": rep.energy_pj / rep.macs,
                               "by_level": {k: v / rep.macs for k, v in by_level.items()}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    res = compare(args.batch)
    print(f"AlexNet batch {args.batch}, 256 PEs, equal storage area; energy in pJ per MAC")
    print(f"{'dataflow':9s} {'layers':6s} {'total':>7s} {'DRAM':>7s} {'GLB':>7s} {'RF':>7s} "
          f"{'MAC':>6s} {'vs RS':>7s}")
    for kind in ("conv", "fc"):
        rs = res[("rs", kind)]["pj_per_mac"]
        for df in DATAFLOWS:
            r = res[(df, kind)]
            lv = r["by_level"]
            print(f"{df.upper():9s} {kind:6s} {r['pj_per_mac']:7.2f} {lv.get('DRAM', 0):7.2f} "
                  f"{lv.get('GLB', 0):7.2f} {lv.get('RF', 0):7.2f} {lv.get('MAC', 0):6.2f} "
                  f"{r['pj_per_mac'] / rs:6.2f}x")


if __name__ == "__main__":
    from sedse.cost import keep_heap_pages

    keep_heap_pages()   # as the CLI does (a process-wide switch: the caller's)
    main()
