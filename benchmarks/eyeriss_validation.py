"""Eyeriss v1 silicon vs sedse: AlexNet CONV1-5, batch 4, 16-bit, 200 MHz.

Published figures: Chen et al., JSSC 2017 (REFERENCE.md section 2). Zero fractions of
the input feature maps (measured on the chip) drive run-length coding of DRAM traffic;
each layer's output zero fraction is taken as the next layer's input fraction (CONV5's
output: CONV5's input fraction), an assumption.

    python benchmarks/eyeriss_validation.py
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sedse_models
from sedse.cost import NetworkCost, SearchSettings, evaluate_workload
from sedse.hardware import load_accelerator
from sedse.workload import Workload

INPUT_ZERO_FRAC = (0.0001, 0.387, 0.725, 0.793, 0.776)


@dataclass(frozen=True)
class Published:
    active_pes: int
    latency_ms: float
    power_mw: float
    dram_mb: float
    glb_mb: float


PUBLISHED = (
    Published(154, 16.5, 332, 5.0, 18.5),
    Published(135, 39.2, 288, 4.0, 77.6),
    Published(156, 21.8, 266, 3.0, 50.2),
    Published(156, 16.0, 235, 2.1, 37.4),
    Published(156, 10.0, 236, 1.3, 24.9),
)


def alexnet_conv_batch4() -> Workload:
    wl = sedse_models.workload("alexnet", 4)
    convs = [layer for layer in wl.layers if layer.kind == "conv"]
    out_zero = INPUT_ZERO_FRAC[1:] + INPUT_ZERO_FRAC[-1:]
    return Workload("alexnet_conv", tuple(
        replace(layer, input_zero_frac=zi, output_zero_frac=zo)
        for layer, zi, zo in zip(convs, INPUT_ZERO_FRAC, out_zero, strict=True)))


#: The chip's mappings minimise energy; a thorough search (many samples, many descent
#: starts) so that the near-equal mappings a quick search may return do not decide
#: the DRAM and buffer traffic.
THOROUGH = SearchSettings(objective="energy", budget=50000, keep_top=20, rounds=30)


def run(path: str = "hw_configs/eyeriss.yaml",
        settings: SearchSettings = THOROUGH) -> NetworkCost:
    acc = load_accelerator(path)
    return evaluate_workload(alexnet_conv_batch4(), acc, settings=settings)


def table(rep: NetworkCost, clock_mhz: float = 200.0) -> list[dict]:
    rows = []
    for lc, pub in zip(rep.layers, PUBLISHED, strict=True):
        bytes_at = {}
        for r in lc.rows:
            if r["action"] in ("read", "fill", "update", "drain"):
                bytes_at[r["level"]] = bytes_at.get(r["level"], 0) + r["count"] * 2
        chip_pj = sum(r["energy_pj"] for r in lc.rows if r["level"] != "DRAM")
        rows.append({
            "layer": lc.layer.name,
            "active_pes": (lc.active_pes, pub.active_pes),
            "latency_ms": (lc.cycles / clock_mhz / 1e3, pub.latency_ms),
            "dram_mb": (bytes_at.get("DRAM", 0) / 1e6, pub.dram_mb),
            "glb_mb": (bytes_at.get("GLB", 0) / 1e6, pub.glb_mb),
            "chip_pj_per_mac": (chip_pj / lc.layer.macs,
                                pub.power_mw * 1e-3 * pub.latency_ms * 1e-3 / lc.layer.macs
                                * 1e12),
        })
    return rows


def main() -> None:
    rep = run()
    rows = table(rep)
    cols = ["active_pes", "latency_ms", "dram_mb", "glb_mb", "chip_pj_per_mac"]
    print("Eyeriss (JSSC 2017) vs sedse, AlexNet CONV1-5, batch 4; each cell: "
          "sedse / published (error)")
    print(f"{'layer':12s}" + "".join(f"{c:>30s}" for c in cols))
    for r in rows:
        cells = []
        for c in cols:
            ours, pub = r[c]
            cells.append(f"{ours:9.2f} / {pub:7.2f} ({100 * (ours - pub) / pub:+6.1f}%)")
        print(f"{r['layer']:12s}" + "".join(f"{x:>30s}" for x in cells))
    print("chip_pj_per_mac published = power x latency / MACs (chip without DRAM).")
    for lc in rep.layers:
        print(f"  {lc.layer.name}: {lc.mapping_text}")


if __name__ == "__main__":
    main()
