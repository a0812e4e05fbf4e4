"""Per-layer and per-network cost reports built from the vectorised core."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass

from sedse._progress import task
from sedse.cost._checks import check_mapping
from sedse.cost._core import NETWORK_KINDS, UNITS, Action, evaluate
from sedse.cost._search import SearchCache, SearchSettings
from sedse.hardware import Accelerator
from sedse.mapping import Candidates, Mapping, to_candidates
from sedse.workload import Layer, Workload


@dataclass(frozen=True)
class LayerCost:
    """Cost of one layer under one mapping."""

    layer: Layer
    mapping: Mapping
    mapping_source: str  # "default mapper" or the file it came from
    energy_pj: float
    cycles: float
    compute_cycles: int
    fill_drain_cycles: float
    utilisation: float
    active_pes: int
    rows: tuple[dict, ...]  # long form: layer, level, operand, action, category, count,
    #                         energy_pj
    mapping_text: str = ""
    rebuild_cycles: float = 0.0  # the rebuild-throughput bound (0 without engines)
    run_macs: int = 0            # MACs executed after skipping zeros
    run_cycles: float = 0.0      # compute cycles after skipping / bit-serial work
    passes: int = 1              # processing passes / weight folds
    pass_cycles: float = 0.0     # passes x the array's fill/drain per pass
    stall_cycles: float = 0.0    # single-buffered refills and write-backs
    binding: str = "compute"     # what sets the latency: compute or a port's name
    port_cycles: tuple[tuple[str, float], ...] = ()  # cycles each port is busy

    def latency_rows(self) -> list[dict]:
        """The latency as its parts: the compute side (work, per-pass fill/drain,
        stalls, prologue) and every port; `cycles` is the larger of the compute side
        and the busiest port, named by `binding`."""
        busy = max(self.run_cycles, self.rebuild_cycles) + self.pass_cycles + \
            self.stall_cycles + self.fill_drain_cycles
        rows = [{"layer": self.layer.name, "part": "compute", "cycles": busy,
                 "binding": self.binding == "compute"}]
        rows += [{"layer": self.layer.name, "part": k, "cycles": v,
                  "binding": self.binding == k} for k, v in self.port_cycles]
        return rows

    def energy_by(self, key: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in self.rows:
            out[r[key]] = out.get(r[key], 0.0) + r["energy_pj"]
        return out


@dataclass(frozen=True)
class NetworkCost:
    workload: str
    accelerator: str
    clock_mhz: float
    layers: tuple[LayerCost, ...]

    @property
    def energy_pj(self) -> float:
        return sum(lc.energy_pj for lc in self.layers)

    @property
    def cycles(self) -> float:
        """Layers run one after another."""
        return sum(lc.cycles for lc in self.layers)

    @property
    def latency_s(self) -> float:
        return self.cycles / (self.clock_mhz * 1e6)

    @property
    def macs(self) -> int:
        return sum(lc.layer.macs for lc in self.layers)

    @property
    def utilisation(self) -> float:
        """MACs / MAC slots over the whole network (slots = compute cycles x PEs)."""
        slots = sum(lc.layer.macs / lc.utilisation for lc in self.layers)
        return self.macs / slots

    def rows(self) -> list[dict]:
        return [r for lc in self.layers for r in lc.rows]

    def energy_by_category(self) -> dict[str, float]:
        """pJ per breakdown category (every category of `CATEGORIES`, zeros included)."""
        out = dict.fromkeys(CATEGORIES, 0.0)
        for r in self.rows():
            out[r["category"]] += r["energy_pj"]
        return out

    def to_dict(self) -> dict:
        """JSON-ready summary: totals, per-layer figures and per-level-per-operand rows."""
        energy_by_level: dict[str, float] = {}
        for r in self.rows():
            energy_by_level[r["level"]] = energy_by_level.get(r["level"], 0.0) + r["energy_pj"]
        return {
            "workload": self.workload,
            "accelerator": self.accelerator,
            "totals": {
                "macs": self.macs,
                "energy_pj": self.energy_pj,
                "energy_uj": self.energy_pj / 1e6,       # as a study stores it
                "latency_ms": self.latency_s * 1e3,      # as a study stores it
                "energy_pj_per_mac": self.energy_pj / self.macs,
                "cycles": self.cycles,
                "latency_s": self.latency_s,
                "utilisation_frac": self.utilisation,
                "energy_pj_by_level": energy_by_level,
                "energy_pj_by_category": self.energy_by_category(),
            },
            "layers": [
                {
                    "layer": lc.layer.name,
                    "kind": lc.layer.kind,
                    "macs": lc.layer.macs,
                    "energy_pj": lc.energy_pj,
                    "cycles": lc.cycles,
                    "compute_cycles": lc.compute_cycles,
                    "fill_drain_cycles": lc.fill_drain_cycles,
                    "passes": lc.passes,
                    "pass_cycles": lc.pass_cycles,
                    "stall_cycles": lc.stall_cycles,
                    "latency_bound": lc.binding,
                    "port_cycles": dict(lc.port_cycles),
                    "utilisation_frac": lc.utilisation,
                    "active_pes": lc.active_pes,
                    "rebuild_cycles": lc.rebuild_cycles,
                    "run_macs": lc.run_macs,
                    "mapping_source": lc.mapping_source,
                    "mapping": lc.mapping_text,
                }
                for lc in self.layers
            ],
            "rows": self.rows(),
        }


CATEGORIES = ("dram", "global_buffer", "noc", "register_file", "mac", "rebuild", "index")


_UNIT_CATEGORY = {"MAC": "mac", "REBUILD": "rebuild", "INDEX": "index"}


def category(acc: Accelerator, action: Action) -> str:
    """The breakdown category of one action (one of `CATEGORIES`): a unit's own, the
    index share of stored weights, a network's (noc), else its level's."""
    if not action.on_level:
        return next(_UNIT_CATEGORY[u] for u, kinds in UNITS.items() if action.kind in kinds)
    if action.operand == "W_index":
        return "index"
    if action.kind in NETWORK_KINDS:
        return "noc"
    return acc.category(acc.level_index(action.where))


def _layer_cost(layer: Layer, acc: Accelerator, cand: Candidates, source: str) -> LayerCost:
    res = evaluate(layer, acc, cand)
    rows = []
    for key, n in res.counts.items():
        rows.append({"layer": layer.name, "level": key.where, "operand": key.operand,
                     "action": key.kind, "category": category(acc, key),
                     "count": int(n[0]), "energy_pj": float(res.energy_pj[key][0])})
    mapping = cand.mapping(0, acc)
    return LayerCost(layer, mapping, source, float(res.total_energy_pj[0]),
                     float(res.cycles[0]), int(res.compute_cycles[0]),
                     float(res.fill_drain_cycles[0]), float(res.utilisation[0]),
                     int(res.active_pes[0]), tuple(rows),
                     mapping.to_text(acc), float(res.rebuild_cycles[0]),
                     res.run_macs, float(res.run_cycles[0]), int(res.passes[0]),
                     float(res.pass_cycles[0]), float(res.stall_cycles[0]), res.binding(0),
                     tuple((k, float(v[0])) for k, v in res.port_cycles.items()))


def evaluate_mapping(layer: Layer, acc: Accelerator, mapping: Mapping,
                     source: str = "user mapping") -> LayerCost:
    """Return the cost of `layer` under `mapping` (MappingError if it does not fit)."""
    check_mapping(mapping, layer, acc)
    return _layer_cost(layer, acc, to_candidates([mapping], acc), source)


def evaluate_workload(workload: Workload, acc: Accelerator,
                      mappings: MappingABC[str, Mapping] | None = None, *,
                      mapping_source: str = "user mapping",
                      settings: SearchSettings | None = None,
                      cache: SearchCache | None = None, workers: int = 1) -> NetworkCost:
    """Return the cost of every layer. Layers without a given mapping get the searched
    best one (`settings`); results are cached per layer shape in `cache` (pass one
    cache to share it across networks and calls). `workers` > 1 searches the distinct
    shapes in that many forked processes first (`SearchCache.prefetch`; same results)."""
    mappings = mappings or {}
    settings = settings or SearchSettings()
    cache = cache if cache is not None else SearchCache()
    if workers > 1:
        cache.prefetch([layer for layer in workload.layers if layer.name not in mappings],
                       acc, settings, workers)
    out = []
    with task(f"{workload.name} on {acc.name}", total=len(workload.layers),
              unit="layers") as progress:
        for layer in workload.layers:
            if layer.name in mappings:
                out.append(evaluate_mapping(layer, acc, mappings[layer.name], mapping_source))
                progress.advance(note=layer.name)
                continue
            key = (layer, acc, settings)
            lc = cache.reports.get(key)
            if lc is None:
                res = cache.get(layer, acc, settings)
                lc = cache.reports[key] = _layer_cost(layer, acc, res.best,
                                                     f"search: {res.summary()}")
            else:
                cache.hits += 1
            out.append(lc)
            progress.advance(note=layer.name)
    return NetworkCost(workload.name, acc.name, acc.clock_mhz, tuple(out))
