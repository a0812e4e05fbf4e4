"""`sedse compare`: one workload on several designs, side by side.

Every design runs the same network with the same per-layer statistics (`LayerStats`):
a design exploits what its spec says it can (rebuild engines, sparse formats, skipping,
bit-serial MACs) and nothing else. In `matched` mode (the default of the CLI) every
design is first rescaled to the reference design's budget (`match_design`).
Ratios are "how many times the reference is better": design energy / reference energy
and design latency / reference latency.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from sedse.cost import CATEGORIES, NetworkCost, SearchCache, SearchSettings, evaluate_workload
from sedse.errors import SpecError
from sedse.hardware import Accelerator, Budget, Technology, match_design
from sedse.workload import Workload


@dataclass(frozen=True)
class Comparison:
    workload: str
    reference: str
    matched: bool
    budget: Budget | None
    designs: tuple[Accelerator, ...]
    reports: tuple[NetworkCost, ...]
    weights_source: str
    activations_source: str
    # layers whose compression collapsed (`WeightEncoding.collapse_reason`): (name, why)
    collapsed: tuple[tuple[str, str], ...] = ()

    def shares(self) -> pd.DataFrame:
        """Per design and layer, the layer's share of the design's total energy (and
        whether the layer's compression collapsed), largest first per design."""
        df = self.layers()[["design", "layer", "energy_uj"]].copy()
        df["energy_share_frac"] = df.energy_uj / df.groupby("design").energy_uj.transform("sum")
        df["collapsed"] = df.layer.isin([n for n, _ in self.collapsed])
        order = {acc.name: i for i, acc in enumerate(self.designs)}
        return df.sort_values(["design", "energy_share_frac"], ascending=[True, False],
                              key=lambda c: c.map(order) if c.name == "design" else c
                              ).reset_index(drop=True)

    def collapse_lines(self) -> list[str]:
        """One warning per collapsed layer: why, and its share of each design's energy."""
        if not self.collapsed:
            return []
        sh = self.shares()
        out = []
        for name, why in self.collapsed:
            parts = ", ".join(f"{r.design} {100 * r.energy_share_frac:.1f}%"
                              for r in sh[sh.layer == name].itertuples())
            out.append(f"warning: layer {name}: the compression collapsed ({why}): its "
                       "weights are nearly all zero, so its cost says nothing about the "
                       f"method; share of each design's energy: {parts}")
        without = self.energy_vs_ref_without_collapsed()
        if without:
            ratios = ", ".join(f"{k} {v:.3g}x" for k, v in without.items())
            out.append(f"energy vs {self._ref_name()} without the collapsed layers: "
                       f"{ratios}")
        else:
            out.append("every layer collapsed: this comparison says nothing about the "
                       "method")
        return out

    def energy_vs_ref_without_collapsed(self) -> dict[str, float]:
        """Each design's energy / the reference's over the layers that did not collapse
        (the comparison a collapsed layer cannot carry); empty when none collapsed."""
        if not self.collapsed:
            return {}
        sh = self.shares()
        kept = sh[~sh.collapsed].groupby("design", sort=False).energy_uj.sum()
        ref = kept.get(self._ref_name(), 0.0)
        if not ref > 0:
            return {}       # every layer collapsed: there is nothing left to compare
        return {acc.name: float(kept.get(acc.name, 0.0) / ref) for acc in self.designs}

    def table(self) -> pd.DataFrame:
        """One row per design: totals, breakdown (uJ) and ratios vs the reference."""
        rows = []
        for acc, rep in zip(self.designs, self.reports, strict=True):
            cat = rep.energy_by_category()
            row = {"design": acc.name, "macs": rep.macs,
                   "pes": acc.num_pes, "onchip_kib": acc.onchip_bytes / 1024,
                   "clock_mhz": acc.clock_mhz, "bits": acc.weight_bits,
                   "energy_uj": rep.energy_pj / 1e6, "latency_ms": rep.latency_s * 1e3,
                   "edp_uj_ms": rep.energy_pj / 1e6 * rep.latency_s * 1e3,
                   "pj_per_mac": rep.energy_pj / rep.macs}
            row.update({f"{c}_uj": cat[c] / 1e6 for c in CATEGORIES})
            row["rebuild_bound_layers"] = sum(rebuild_bound(lc) for lc in rep.layers)
            row["exploits"] = features(acc)
            rows.append(row)
        df = pd.DataFrame(rows)
        ref = df[df.design == self._ref_name()].iloc[0]
        df["energy_vs_ref_x"] = df.energy_uj / ref.energy_uj
        df["latency_vs_ref_x"] = df.latency_ms / ref.latency_ms
        df["edp_vs_ref_x"] = df.edp_uj_ms / ref.edp_uj_ms
        return df

    def layers(self) -> pd.DataFrame:
        rows = []
        for acc, rep in zip(self.designs, self.reports, strict=True):
            for lc in rep.layers:
                cat = dict.fromkeys(CATEGORIES, 0.0)
                for r in lc.rows:
                    cat[r["category"]] += r["energy_pj"]
                rows.append({"design": acc.name, "layer": lc.layer.name,
                             "macs": lc.layer.macs, "energy_uj": lc.energy_pj / 1e6,
                             "latency_ms": lc.cycles / acc.clock_mhz / 1e3,
                             "rebuild_bound": rebuild_bound(lc),
                             "utilisation_frac": lc.utilisation,
                             **{f"{c}_uj": v / 1e6 for c, v in cat.items()}})
        return pd.DataFrame(rows)

    def _ref_name(self) -> str:
        for acc in self.designs:
            if acc.name.split(" ")[0] == self.reference:
                return acc.name
        return self.designs[0].name


def rebuild_bound(lc) -> bool:
    """True when the rebuild engines' throughput set the layer's latency."""
    return lc.rebuild_cycles > 0 and \
        lc.rebuild_cycles >= lc.cycles - lc.fill_drain_cycles - lc.pass_cycles - \
        lc.stall_cycles - 1e-9


def features(acc: Accelerator) -> str:
    """What a design exploits, in words (rebuild engines, skipped / gated zeros, RLC,
    bit-serial MACs)."""
    out = []
    if acc.rebuild is not None:
        out.append(f"rebuild after {acc.rebuild.after_level}")
    sp = acc.sparsity
    for mode in ("skip", "gate"):
        kinds = [k.replace("_", " ") for k in ("weights", "weight_rows", "inputs", "input_rows")
                 if getattr(sp, k) == mode]
        if kinds:
            out.append(f"{mode} zero {', '.join(kinds)}")
    rlc = [lvl.name for lvl in acc.levels if lvl.run_length_coding is not None]
    if rlc:
        out.append(f"RLC at {', '.join(rlc)}")
    if acc.bit_serial is not None:
        out.append("bit-serial")
    return "; ".join(out) or "dense"


def compare(workload: Workload, designs: list[Accelerator], *, reference: str | None = None,
            matched: bool = True, tech: Technology | None = None,
            stats=None, settings: SearchSettings | None = None,
            cache: SearchCache | None = None,
            mappings: dict[int, dict] | None = None, workers: int = 1) -> Comparison:
    """Evaluate `workload` (with `stats` applied) on every design. `mappings`: per
    design index, {layer name: Mapping} to evaluate instead of searching (an exported
    point's; only for native designs, since matching rescales a design). `workers`:
    processes searching each design's shapes (`evaluate_workload`)."""
    if not designs:
        raise SpecError("--hw", "expected at least one design")
    # the tables are keyed by design name: a second design of the same name is #2
    seen: dict[str, int] = {}
    unique = []
    for d in designs:
        seen[d.name] = seen.get(d.name, 0) + 1
        unique.append(d if seen[d.name] == 1 else replace(d, name=f"{d.name}#{seen[d.name]}"))
    designs = unique
    names = [d.name for d in designs]
    reference = reference or names[0]
    if reference not in names:
        raise SpecError("--reference", f"{reference!r} is not among the designs "
                        f"({', '.join(names)})")
    budget = None
    if matched:
        if tech is None:
            raise SpecError("--tech", "matched comparisons need a technology file")
        budget = Budget.of(designs[names.index(reference)])
        designs = [match_design(d, budget, tech) for d in designs]
    wl = stats.apply(workload) if stats is not None else workload
    settings = settings or SearchSettings()
    cache = cache if cache is not None else SearchCache()
    reports = []
    if matched and mappings:
        raise SpecError("--matched", "stored mappings replay native designs only")
    for i, acc in enumerate(designs):
        w = wl.with_precision(acc.input_bits, acc.weight_bits, acc.output_bits)
        pinned = (mappings or {}).get(i)
        reports.append(evaluate_workload(w, acc, pinned, settings=settings, cache=cache,
                                         mapping_source="exported mappings",
                                         workers=workers))
    return Comparison(workload.name, reference, matched, budget, tuple(designs),
                      tuple(reports),
                      stats.weights_source if stats is not None else "dense weights",
                      stats.activations_source if stats is not None else "none",
                      tuple(stats.collapsed().items()) if stats is not None else ())
