"""Technology tables and `--matched` comparisons: every design at the same resources.

Comparing a 16-bit 168-PE chip with a 1024-multiplier one says little about dataflows.
`match_design` rescales a design to a `Budget` (MAC count, on-chip SRAM bytes, clock,
precision) and re-derives every per-access energy from one `Technology`, so designs
differ only in their organisation (hierarchy, dataflow, formats, skipping):

* PE array: the axes are rescaled to the integer shape whose product is exactly the
  budget's MAC count (times `bit_serial.units_per_mac` for bit-serial designs, whose
  serial units are that much smaller than a parallel MAC) and whose per-axis ratios are
  closest (in log space) to the design's own. The dataflow's axis constraints carry
  over; pins on an axis larger than the new axis are dropped. Mapping policies
  (`unroll_whole_if_fits`: Eyeriss's choice to fold a PE set whole whenever it fits,
  stricter than its hardware) are dropped too: a matched design is searched over every
  mapping its hardware can run.
* SRAM: register files keep their per-PE size (the design's character); the global
  buffer partitions are scaled by one factor so the total on-chip bytes equal the
  budget (if the register files alone exceed it, every level scales).
* Precision and clock: set to the budget's.
* Energies (Accelergy-style, per bit): DRAM `dram_pj_per_bit`; every on-chip partition
  from its capacity per instance by log-log interpolation of `sram_pj_per_bit`; network
  transfers `network_pj_per_bit` below a global buffer or DRAM, and
  `local_network_pj_per_bit` below a register-file level (a broadcast inside a PE or a
  line); a reduction keeps the design's own energy (an adder tree's adds and Eyeriss's
  psum forwarding are different circuits); MACs from `mac_pj_by_bits`; bit-serial
  terms = MAC energy / operand bits; rebuild shift/add `shift_add_pj`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sedse._numbers import divisors as _divisors
from sedse._yaml import MAX_INT, Node, load_yaml
from sedse.errors import SpecError
from sedse.hardware._dataflow import FULL, Dataflow, SlotConstraint
from sedse.hardware._spec import MAX_PES, Accelerator, MacUnit, Network


@dataclass(frozen=True)
class Technology:
    name: str
    dram_pj_per_bit: float
    sram_pj_per_bit: tuple[tuple[int, float], ...]  # (capacity bytes, pJ per bit), sorted
    network_pj_per_bit: float
    local_network_pj_per_bit: float
    mac_pj_by_bits: tuple[tuple[int, float], ...]
    shift_add_pj: float
    source: str = ""
    # area [A]: mm^2 per MAC at each precision, per KiB of SRAM, per rebuild engine
    mac_mm2_by_bits: tuple[tuple[int, float], ...] = ()
    sram_mm2_per_kib: float = 0.0
    rebuild_engine_mm2: float = 0.0

    def sram(self, capacity_bytes: float) -> float:
        """pJ per bit of an SRAM of `capacity_bytes` (log-log interpolation, flat beyond
        the table's ends)."""
        caps = np.log([c for c, _ in self.sram_pj_per_bit])
        e = np.log([v for _, v in self.sram_pj_per_bit])
        return float(np.exp(np.interp(math.log(max(capacity_bytes, 1)), caps, e)))

    def mac(self, bits: int) -> float:
        for b, e in self.mac_pj_by_bits:
            if b == bits:
                return e
        raise SpecError(f"technology {self.name}", f"no MAC energy for {bits}-bit operands")


def load_technology(path: str | Path) -> Technology:
    root = load_yaml(path)
    root.check_keys({"name", "dram_pj_per_bit", "sram_pj_per_bit", "network_pj_per_bit",
                     "local_network_pj_per_bit", "mac_pj_by_bits", "shift_add_pj"},
                    {"source", "area"})

    def pairs(node: Node, key_name: str) -> tuple:
        if not isinstance(node.value, dict) or not node.value:
            raise node.error(f"expected a mapping from {key_name} to pJ")
        return tuple(sorted((k, sub.as_float(positive=True))
                            for k, sub in node.int_items(key_name, max_key=MAX_INT)))

    return Technology(
        root.get("name").as_str(), root.get("dram_pj_per_bit").as_float(positive=True),
        pairs(root.get("sram_pj_per_bit"), "capacity bytes"),
        root.get("network_pj_per_bit").as_float(min_value=0.0),
        root.get("local_network_pj_per_bit").as_float(min_value=0.0),
        pairs(root.get("mac_pj_by_bits"), "operand bits"),
        root.get("shift_add_pj").as_float(min_value=0.0),
        root.get("source").as_str() if root.has("source") else "",
        **_area(root.get("area")) if root.has("area") else {})


def _area(node: Node) -> dict:
    node.check_keys({"mac_mm2_by_bits", "sram_mm2_per_kib", "rebuild_engine_mm2"})
    macs = [(k, sub.as_float(positive=True))
            for k, sub in node.get("mac_mm2_by_bits").int_items("operand bits")]
    return {"mac_mm2_by_bits": tuple(sorted(macs)),
            "sram_mm2_per_kib": node.get("sram_mm2_per_kib").as_float(positive=True),
            "rebuild_engine_mm2": node.get("rebuild_engine_mm2").as_float(min_value=0.0)}


def area_mm2(acc: Accelerator, tech: Technology) -> float:
    """Silicon area of `acc` in `tech` (mm^2): MACs (bit-serial units at 1/units_per_mac
    of a MAC each), on-chip SRAM (basis register files included) and rebuild engines.
    Wires, control and the NoC are not counted."""
    if not tech.mac_mm2_by_bits:
        raise SpecError(f"technology {tech.name}", "no area block (area.mac_mm2_by_bits)")
    bits = max(acc.input_bits, acc.weight_bits)
    table = dict(tech.mac_mm2_by_bits)
    if bits not in table:
        raise SpecError(f"technology {tech.name}", f"no MAC area for {bits}-bit operands")
    per = acc.bit_serial.units_per_mac if acc.bit_serial is not None else 1
    return (acc.num_pes / per * table[bits] + acc.onchip_bytes / 1024 * tech.sram_mm2_per_kib
            + acc.rebuild_engines * tech.rebuild_engine_mm2)


@dataclass(frozen=True)
class Budget:
    """The resources every matched design gets."""

    macs: int
    onchip_bytes: int
    clock_mhz: float
    bits: int

    @classmethod
    def of(cls, acc: Accelerator) -> Budget:
        """The budget of an existing design (MAC units, SRAM, clock, weight precision)."""
        per = acc.bit_serial.units_per_mac if acc.bit_serial is not None else 1
        return cls(acc.num_pes // per, acc.onchip_bytes, acc.clock_mhz, acc.weight_bits)


def _shape(axes: tuple[tuple[str, int], ...], target: int) -> tuple[tuple[str, int], ...]:
    """Integer axis sizes with product `target`, ratios closest to `axes` (log space).

    The first best of all factorisations in lexicographic order (divisors ascending per
    axis), found by a depth-first search that skips every branch whose error cannot
    come within 1e-9 of the best known one (the bound: the error so far plus the
    continuous optimum of the rest, the remaining log-size spread evenly). Enumerating
    every combination is exponential in the number of axes (9 axes of 2 PEs took 30 s,
    10 hung `sedse compare`)."""
    n = len(axes)
    own = np.log([s for _, s in axes])
    scale = (math.log(target) - own.sum()) / n
    want = own + scale
    divisors = _divisors(target)
    logs = {d: math.log(d) for d in divisors}
    rest_want = [float(want[i:].sum()) for i in range(n)]

    def err_of(sizes: tuple[int, ...]) -> float:
        return float(((np.log(sizes) - want) ** 2).sum())

    # a good leaf first (each axis the divisor nearest its wanted size), to prune with
    greedy, left = [], target
    for i in range(n - 1):
        d = min((d for d in divisors if left % d == 0), key=lambda d: abs(logs[d] - want[i]))
        greedy.append(d)
        left //= d
    bound = err_of((*greedy, left))
    best: tuple[int, ...] | None = None
    best_err = math.inf

    def visit(prefix: list[int], left: int, err: float) -> None:
        nonlocal best, best_err
        i = len(prefix)
        if i == n - 1:
            sizes = (*prefix, left)
            e = err_of(sizes)
            if e < best_err:
                best, best_err = sizes, e
            return
        for d in divisors:
            if d > left:
                break
            if left % d:
                continue
            e = err + (logs[d] - want[i]) ** 2
            rest = (math.log(left // d) - rest_want[i + 1]) ** 2 / (n - i - 1)
            if e + rest > min(bound, best_err) + 1e-9:
                continue
            prefix.append(d)
            visit(prefix, left // d, e)
            prefix.pop()

    visit([], target, 0.0)
    # the greedy leaf is never pruned (the bound is its error), so some leaf was reached
    assert best is not None
    return tuple((a, s) for (a, _), s in zip(axes, best, strict=True))


def _dataflow(df: Dataflow | None, shape: dict[str, int]) -> Dataflow | None:
    if df is None:
        return None
    spatial = []
    for axis, sc in df.spatial:
        pins = tuple((d, f) for d, f in sc.pin if f == FULL or f <= shape[axis])
        spatial.append((axis, SlotConstraint(sc.allow, pins, sc.order, sc.keep)))
    # a chip's mapping policy (which of the mappings its hardware can run it chose) is
    # not its hardware: a matched design is searched over everything the hardware can
    # run, so no baseline is held to one chip's choices on another array and network
    return replace(df, spatial=tuple(spatial), unroll_whole_if_fits=())


def match_design(acc: Accelerator, budget: Budget, tech: Technology) -> Accelerator:
    """Return `acc` rescaled to `budget` with every energy from `tech`."""
    per = acc.bit_serial.units_per_mac if acc.bit_serial is not None else 1
    if budget.macs * per > MAX_PES:
        raise SpecError(acc.source or acc.name, f"matched to {budget.macs:,} MACs x {per} "
                        f"bit-serial units per MAC = {budget.macs * per:,} PEs: at most "
                        f"{MAX_PES:,} are modelled")
    shape = _shape(acc.array_shape, budget.macs * per)
    sized = replace(acc, array_shape=shape)
    # global buffers absorb the SRAM difference; register files keep their size
    rf = sum((p.capacity_bytes or 0) * sized.instances(i)
             for i, lvl in enumerate(acc.levels[1:], start=1)
             if sized.category(i) == "register_file" and not lvl.same_memory_as
             for p in lvl.partitions)
    extra = sized.rebuild.basis_rf_bytes * sized.rebuild_engines if sized.rebuild else 0
    gb = sized.onchip_bytes - rf - extra
    room = budget.onchip_bytes - extra
    scale_gb, scale_rf = ((room - rf) / gb, 1.0) if room > rf and gb > 0 else \
        (room / max(gb + rf, 1), room / max(gb + rf, 1))
    levels = []
    scaled: dict[str, tuple] = {}    # memory -> its rescaled partitions
    for i, lvl in enumerate(acc.levels):
        parts = []
        for p in () if lvl.same_memory_as else lvl.partitions:
            if i == 0:
                e = tech.dram_pj_per_bit * lvl.word_bits
                parts.append(replace(p, read_energy_pj=e, write_energy_pj=e))
                continue
            f = scale_rf if sized.category(i) == "register_file" else scale_gb
            assert p.capacity_bytes is not None   # on-chip partitions are bounded
            cap = max(1, int(p.capacity_bytes * f))
            e = tech.sram(cap) * lvl.word_bits
            parts.append(replace(p, capacity_bytes=cap, read_energy_pj=e, write_energy_pj=e))
        if lvl.same_memory_as:
            parts = list(scaled[lvl.memory])   # one memory: the same partitions
        scaled[lvl.memory] = tuple(parts)
        net = None
        if lvl.network is not None:
            local = sized.category(i) == "register_file"
            net = Network(tech.local_network_pj_per_bit if local else tech.network_pj_per_bit,
                          lvl.network.multicast, lvl.network.spatial_reduction,
                          lvl.network.reduction_energy_pj_per_bit)
        levels.append(replace(lvl, partitions=tuple(parts), network=net,
                              energy_source=f"matched: {tech.name}"))
    bits = budget.bits
    mac = MacUnit(((bits, tech.mac(bits)),), 0.0, f"matched: {tech.name}")
    rebuild = replace(acc.rebuild, shift_add_energy_pj=tech.shift_add_pj) \
        if acc.rebuild is not None else None
    bit_serial = replace(acc.bit_serial, term_energy_pj=tech.mac(bits) / bits) \
        if acc.bit_serial is not None else None
    out = replace(acc, name=f"{acc.name} (matched)", clock_mhz=budget.clock_mhz,
                  array_shape=shape, levels=tuple(levels), mac=mac, input_bits=bits,
                  weight_bits=bits, output_bits=bits, rebuild=rebuild, bit_serial=bit_serial,
                  dataflow=_dataflow(acc.dataflow, dict(shape)))
    return out

