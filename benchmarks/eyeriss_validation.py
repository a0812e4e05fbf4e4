"""Eyeriss v1 silicon vs sedse: AlexNet CONV1-5, batch 4, 16-bit, 200 MHz.

Published figures: Chen et al., JSSC 2017 (REFERENCE.md section 2). Zero fractions of
the input feature maps (measured on the chip) drive run-length coding of DRAM traffic;
each layer's output zero fraction is taken as the next layer's input fraction (CONV5's
output: CONV5's input fraction), an assumption.

    python benchmarks/eyeriss_validation.py
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

import sedse_models
from sedse.cost import NetworkCost, SearchSettings, evaluate, evaluate_workload, search_mapping
from sedse.hardware import load_accelerator
from sedse.mapping import structural_ok
from sedse.mapping._space import mapping_space
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


def _traffic_mb(cost, level: str) -> np.ndarray:
    """Bytes read or written at `level` (16-bit words x 2), per candidate."""
    total = 0
    for (lname, x, action), n in cost.counts.items():
        if lname == level and x in "WIO" and action in ("read", "fill", "update", "drain"):
            total = total + n
    return total * 2 / 1e6


def near_optimal(layer, acc, pub: Published, settings: SearchSettings = THOROUGH,
                 tol: float = 0.03, clock_mhz: float = 200.0) -> dict:
    """Mappings within `tol` of the best energy found that use the chip's active PEs,
    among the searched best and every point one or two digits away from it (digit =
    one dim's factorisation or one level's loop order). Returns their count, their
    global-buffer traffic range and the one closest to the chip on all three measured
    figures at once (largest error relative to the tolerances 20% / 15% / 10%).

    The chip's own mapping is not in REFERENCE (only its PE-set shapes), and mappings
    within a few percent of the optimal energy move very different global-buffer
    traffic; this asks whether the model's counts can reproduce the chip's with a
    near-optimal mapping, separately from which one the search picks."""
    space = mapping_space(layer, acc)
    best = search_mapping(layer, acc, settings).digits
    radices = np.array(space.radices)
    pos = np.repeat(np.arange(len(radices)), radices)
    val = np.concatenate([np.arange(r) for r in radices])
    a, b = np.triu_indices(len(pos), k=1)
    a, b = a[pos[a] < pos[b]], b[pos[a] < pos[b]]
    pts = np.repeat(best[None, :], 1 + len(pos) + len(a), axis=0)
    one = np.arange(1, 1 + len(pos))
    pts[one, pos] = val
    two = np.arange(1 + len(pos), len(pts))
    pts[two, pos[a]] = val[a]
    pts[two, pos[b]] = val[b]
    pts = np.unique(pts, axis=0)
    cols = {k: [] for k in ("energy", "glb", "dram", "latency", "pes")}
    for s in range(0, len(pts), settings.batch):
        cand = space.to_candidates(pts[s:s + settings.batch])
        cost = evaluate(layer, acc, cand)
        ok = cost.fits & structural_ok(cand, acc, layer)
        cols["energy"].append(np.where(ok, cost.total_energy_pj, np.inf))
        cols["glb"].append(_traffic_mb(cost, "GLB"))
        cols["dram"].append(_traffic_mb(cost, "DRAM"))
        cols["latency"].append(cost.cycles / clock_mhz / 1e3)
        cols["pes"].append(cost.active_pes)
    c = {k: np.concatenate(v) for k, v in cols.items()}
    near = (c["energy"] <= c["energy"].min() * (1 + tol)) & (c["pes"] == pub.active_pes)
    err = {"glb": (c["glb"] - pub.glb_mb) / pub.glb_mb,
           "dram": (c["dram"] - pub.dram_mb) / pub.dram_mb,
           "latency": (c["latency"] - pub.latency_ms) / pub.latency_ms}
    score = np.maximum.reduce([abs(err["glb"]) / 0.20, abs(err["dram"]) / 0.15,
                               abs(err["latency"]) / 0.10])
    k = int(np.argmin(np.where(near, score, np.inf)))
    return {"layer": layer.name, "neighbours": len(pts), "near": int(near.sum()),
            "glb_range": (float(c["glb"][near].min()), float(c["glb"][near].max())),
            "closest": {"energy_above_best": float(c["energy"][k] / c["energy"].min() - 1),
                        **{e: float(v[k]) for e, v in err.items()},
                        "within": bool(score[k] <= 1.0),
                        "mapping": space.to_candidates(pts[[k]]).mapping(0, acc).to_text(acc)}}


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
    print("\nNear-optimal mappings (energy <= best + 3%, the chip's active PEs; the best and "
          "all points 1-2 digits from it): global-buffer MB range, and the one closest to "
          "the chip on global buffer, DRAM and latency at once")
    acc = load_accelerator("hw_configs/eyeriss.yaml")
    for layer, pub in zip(alexnet_conv_batch4().layers, PUBLISHED, strict=True):
        r = near_optimal(layer, acc, pub)
        lo, hi = r["glb_range"]
        k = r["closest"]
        print(f"  {r['layer']:12s} {r['near']:5d} of {r['neighbours']:7,d}  GLB {lo:6.1f}-"
              f"{hi:6.1f} vs {pub.glb_mb:5.1f}   closest (+{100 * k['energy_above_best']:.1f}% "
              f"energy): GLB {100 * k['glb']:+5.1f}%, DRAM {100 * k['dram']:+5.1f}%, latency "
              f"{100 * k['latency']:+5.1f}%  {'all within' if k['within'] else 'NOT within'}")
        print(f"  {'':12s} {k['mapping']}")


if __name__ == "__main__":
    main()
