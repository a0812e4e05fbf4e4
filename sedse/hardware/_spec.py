"""Accelerator specs: an ordered memory hierarchy over a PE array, loaded from YAML.

Modelling assumptions (the cost model relies on them):
- Levels are ordered outermost (DRAM) first. A level stores the operands listed in its
  `partitions`; the others bypass it. The outermost level stores all three operands.
- A level with `fanout_dims` sits above that part of the PE array: the named array axes
  fan out beneath it, and every level below it is replicated once per PE of those axes.
  Every array axis fans out under exactly one level. The MAC sits below the last level.
- A level with `same_memory_as` is a further tile boundary of the memory directly above
  it (one physical memory: capacity, ports, energies shared). Each operand the memory
  holds has its tile at exactly one of its levels, so a shared buffer may hold
  different loop sets per operand (ZigZag's per-operand allocation); the mapping
  search chooses where. Only the memory's innermost level may fan out.
- A partition is one physical memory holding one or more operands; its energies and
  bandwidth default to the level's. Energies are per access of `word_bits`; the cost
  model scales them by operand bits / word bits (operands are packed into words).
- Network energies are per bit moved to one destination PE (transfer) or per bit of a
  partial sum added on the way up (spatial reduction, e.g. an adder tree).
- Weight formats are data, not code paths. A design with a `rebuild` block keeps
  weights in the layer's stored form (Ce + B + index of its `WeightEncoding`) at the
  rebuild level and above, and rebuilds dense weights into the levels below; a design
  whose `sparsity.weights` is `skip` or `gate` keeps element-sparse weights (non-zeros
  + `weight_index_bits` each) down to `sparsity.compressed_down_to`; every other design
  stores dense weights. `sparsity` also says which zeros are skipped (no cycle, no
  fetch) or gated (no energy, still a cycle); `bit_serial` makes a MAC take one cycle
  per non-zero Booth digit of the activation.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sedse._yaml import Node, load_yaml, short_number
from sedse.errors import SpecError
from sedse.hardware._dataflow import Dataflow, dataflow_from_node
from sedse.workload import OPERANDS, REDUCTION_DIMS


@dataclass(frozen=True)
class Partition:
    """One physical memory of a level, holding `operands`."""

    operands: tuple[str, ...]
    capacity_bytes: int | None  # None: unbounded (DRAM)
    read_energy_pj: float
    write_energy_pj: float
    bandwidth_bytes_per_cycle: float | None  # per instance, reads + writes; None: unbounded
    # False: refills and write-backs stall the MACs (no second buffer to fill while
    # computing), costing their transfer time on top of compute
    double_buffered: bool = True
    # separate read and write ports (per instance); when given they replace the shared
    # port above (reads: `read` and `drain` actions, writes: `fill` and `update`)
    read_bandwidth_bytes_per_cycle: float | None = None
    write_bandwidth_bytes_per_cycle: float | None = None

    @property
    def separate_ports(self) -> bool:
        return self.read_bandwidth_bytes_per_cycle is not None

    @property
    def bounded(self) -> bool:
        return self.separate_ports or self.bandwidth_bytes_per_cycle is not None


@dataclass(frozen=True)
class Network:
    """The on-chip network beneath a level with a fan-out."""

    transfer_energy_pj_per_bit: float
    multicast: bool = True
    spatial_reduction: bool = True
    reduction_energy_pj_per_bit: float = 0.0
    # bits per cycle the network carries for each operand, per direction (a multicast
    # word counts once however many PEs take it; O's down network (partial sums read
    # back) and up network (write-backs) each have this width); absent: unbounded
    width_bits: tuple[tuple[str, int], ...] = ()

    def width(self, operand: str) -> int | None:
        for x, w in self.width_bits:
            if x == operand:
                return w
        return None


@dataclass(frozen=True)
class Passes:
    """Processing passes (folds) of the PE array.

    A pass ends whenever the array-resident tile of the `stationary` operand changes
    (a new weight fold on a systolic array, a new processing pass on Eyeriss): its
    fill events at the outermost level below the array's fan-out that keeps it. Every
    pass pays `fill_drain_cycles` on top of compute: the pipeline filling as the first
    operands ripple into the array and draining as the last results leave it,
    ``const + sum(per_axis[a] * size of array axis a)`` (a systolic array's skew is
    ``rows + cols - 2``). Reloading the stationary operand is charged by its level's
    ports and network width (a single-buffered level stalls for it).
    """

    stationary: str
    fill_drain_const: float = 0.0
    fill_drain_per_axis: tuple[tuple[str, float], ...] = ()

    def fill_drain_cycles(self, shape: tuple[tuple[str, int], ...]) -> float:
        sizes = dict(shape)
        return self.fill_drain_const + sum(k * sizes[a] for a, k in self.fill_drain_per_axis)


@dataclass(frozen=True)
class RunLengthCoding:
    """Feature maps (inputs, final outputs) stored run-length coded at a level: each
    word of `word_bits` holds floor((word_bits - 1) / (run_bits + value bits)) pairs of
    (zero-run length, non-zero value); Eyeriss uses 5-bit runs in 64-bit words."""

    run_bits: int = 5
    word_bits: int = 64

    def ratio(self, zero_frac: float, value_bits: int) -> float:
        """Coded size / dense size (never above 1: dense is used when RLC is larger)."""
        pairs = (self.word_bits - 1) // (self.run_bits + value_bits)
        if pairs < 1:
            return 1.0
        return min(1.0, (1.0 - zero_frac) * self.word_bits / pairs / value_bits)


LEVEL_CATEGORIES = ("dram", "global_buffer", "register_file")
MAX_AXIS = 2**16      # PEs along one array axis
MAX_PES = 2**24       # PEs in the whole array
MAX_AXES = 8          # array axes (matching a design to a budget searches their sizes)
MAX_UNITS_PER_MAC = 1024   # bit-serial units in the area of one MAC
SKIP_MODES = ("none", "gate", "skip")
PADDING_MODES = ("generated", "fetched")
MAX_WIDTH_BITS = 2**20


@dataclass(frozen=True)
class MemoryLevel:
    name: str
    word_bits: int
    partitions: tuple[Partition, ...]
    fanout_dims: tuple[str, ...] = ()
    network: Network | None = None
    energy_source: str = ""
    run_length_coding: RunLengthCoding | None = None
    category: str = ""  # dram / global_buffer / register_file, for breakdowns
    # True: when this level's input tile slides along P or Q it keeps the overlap and
    # fetches only the new rows/columns (a line buffer); False: every refill fetches
    # the whole tile, halo included (a plain buffer; ZigZag's rule)
    sliding_window_reuse: bool = True
    # a second (third, ...) tile boundary of the memory named here, the level directly
    # above it ("" for a memory's own level): it is the same physical memory (capacity,
    # ports and energies shared, taken from that level), and each operand the memory
    # holds has its tile at exactly one of the memory's levels (per-operand tiles)
    same_memory_as: str = ""

    @property
    def memory(self) -> str:
        """The physical memory this level is a tile boundary of (its own name, or the
        name of the memory's first level)."""
        return self.same_memory_as or self.name

    @property
    def operands(self) -> tuple[str, ...]:
        return tuple(x for x in OPERANDS if any(x in p.operands for p in self.partitions))

    def partition_of(self, operand: str) -> Partition | None:
        for p in self.partitions:
            if operand in p.operands:
                return p
        return None


@dataclass(frozen=True)
class MacUnit:
    """MAC energy per operation at each supported precision (max of input and weight)."""

    energy_pj_by_bits: tuple[tuple[int, float], ...]
    idle_energy_pj: float = 0.0
    energy_source: str = ""

    def energy_pj(self, bits: int) -> float:
        for b, e in self.energy_pj_by_bits:
            if b == bits:
                return e
        known = ", ".join(str(b) for b, _ in self.energy_pj_by_bits)
        raise SpecError("mac.energy_pj_by_bits", f"no MAC energy for {bits}-bit operands "
                        f"(defined for: {known})")


@dataclass(frozen=True)
class RebuildEngine:
    """Engines that rebuild dense weights from the stored form (Ce . B by shift-and-add)
    on the way from level `after_level` to the next level below it holding weights.

    engines_per_instance: engines per instance of that child level (a PE line);
    ping_pong: engines work in pairs, one rebuilding while the other feeds, so half
        of them rebuild at any time;
    weights_per_cycle: dense weights one engine rebuilds per cycle;
    shift_add_energy_pj: one shift or one add (the encoding gives ops per weight);
    basis_rf_bytes: one engine's basis register file;
    basis_load_energy_pj_per_bit: writing the basis register file (B is loaded once per
        rebuild pass over its block: basis bits x passes).
    """

    after_level: str
    engines_per_instance: int = 2
    ping_pong: bool = True
    weights_per_cycle: float = 1.0
    shift_add_energy_pj: float = 0.03
    basis_rf_bytes: int = 9
    basis_load_energy_pj_per_bit: float = 0.01
    index_energy_pj_per_weight: float = 0.0


@dataclass(frozen=True)
class Sparsity:
    """Which zeros a design exploits. Modes: none, gate (the MAC and the partner
    operand's innermost read are switched off: energy saved, cycle spent), skip (neither
    the cycle nor the fetches inside the array happen).

    weights: element-wise zero weights (stored as non-zeros + `weight_index_bits`);
    weight_rows: whole zero coefficient rows (SmartExchange's direct index);
    inputs / input_rows: zero activations / all-zero activation rows;
    index_energy_pj_per_weight: the index logic, per weight delivered below the
        compressed levels;
    compressed_down_to: lowest level storing element-sparse weights ("" = innermost).
    """

    weights: str = "none"
    weight_rows: str = "none"
    inputs: str = "none"
    input_rows: str = "none"
    weight_index_bits: int = 4
    index_energy_pj_per_weight: float = 0.0
    compressed_down_to: str = ""


@dataclass(frozen=True)
class BitSerial:
    """Bit-serial MACs over Booth-encoded activations: a MAC takes one cycle and one
    `term_energy_pj` per non-zero digit of the activation (the layer's statistics);
    lanes that wait for the slowest in their group cost `sync_factor` x the mean;
    `units_per_mac`: serial units that fit in the area of one bit-parallel MAC (what
    `--matched` gives a bit-serial design per budgeted MAC)."""

    term_energy_pj: float
    sync_factor: float = 1.0
    units_per_mac: int = 1


@dataclass(frozen=True)
class Accelerator:
    name: str
    clock_mhz: float
    array_shape: tuple[tuple[str, int], ...]
    levels: tuple[MemoryLevel, ...]
    mac: MacUnit
    input_bits: int = 16
    weight_bits: int = 16
    output_bits: int = 16
    dataflow: Dataflow | None = None
    description: str = ""
    rebuild: RebuildEngine | None = None
    sparsity: Sparsity = Sparsity()
    bit_serial: BitSerial | None = None
    passes: Passes | None = None
    psum_bits: int | None = None   # partial sums (None: output_bits)
    # zero padding of the inputs: generated on chip (never fetched from the outermost
    # level) or stored and fetched like data
    padding: str = "generated"
    source: str = field(default="", compare=False, repr=False)

    @property
    def partial_sum_bits(self) -> int:
        return self.output_bits if self.psum_bits is None else self.psum_bits

    @property
    def num_pes(self) -> int:
        return math.prod(n for _, n in self.array_shape)

    @property
    def array_axes(self) -> tuple[str, ...]:
        return tuple(a for a, _ in self.array_shape)

    def axis_size(self, axis: str) -> int:
        return dict(self.array_shape)[axis]

    def axis_level(self, axis: str) -> int:
        """Index of the level under which `axis` fans out."""
        for i, lvl in enumerate(self.levels):
            if axis in lvl.fanout_dims:
                return i
        raise KeyError(axis)

    def level_index(self, name: str) -> int:
        for i, lvl in enumerate(self.levels):
            if lvl.name == name:
                return i
        raise KeyError(name)

    def memory_levels(self, level: int) -> tuple[int, ...]:
        """Indices of the levels that are tile boundaries of `level`'s memory (outer
        first; just `level` for a memory with one boundary)."""
        mem = self.levels[level].memory
        return tuple(i for i, lvl in enumerate(self.levels) if lvl.memory == mem)

    def memory_head(self, level: int) -> int:
        """Index of the first level of `level`'s memory (the one that declares it)."""
        return self.memory_levels(level)[0]

    def instances(self, level: int) -> int:
        """Physical instances of level `level` (product of the fan-outs above it)."""
        n = 1
        for lvl in self.levels[:level]:
            for a in lvl.fanout_dims:
                n *= self.axis_size(a)
        return n

    @property
    def onchip_bytes(self) -> int:
        """Total on-chip storage (all levels but the outermost, times their instances,
        plus the rebuild engines' basis register files)."""
        total = 0
        for i, lvl in enumerate(self.levels[1:], start=1):
            if lvl.same_memory_as:
                continue      # a further tile boundary of a memory already counted
            for p in lvl.partitions:
                total += (p.capacity_bytes or 0) * self.instances(i)
        if self.rebuild is not None:
            total += self.rebuild.basis_rf_bytes * self.rebuild_engines
        return total

    def category(self, level: int) -> str:
        """The level's breakdown category (declared, else by position: the outermost is
        DRAM, a level feeding the array is a global buffer, the rest register files)."""
        lvl = self.levels[level]
        if lvl.category:
            return lvl.category
        if level == 0:
            return "dram"
        if lvl.fanout_dims or any(x.fanout_dims for x in self.levels[level + 1:]):
            return "global_buffer"
        return "register_file"

    def weight_child(self, level: int) -> int:
        """Index of the next level below `level` holding weights (len(levels): the MAC;
        further tile boundaries of `level`'s own memory are not a level below it)."""
        mem = self.levels[level].memory
        for i in range(level + 1, len(self.levels)):
            if "W" in self.levels[i].operands and self.levels[i].memory != mem:
                return i
        return len(self.levels)

    @property
    def rebuild_engines(self) -> int:
        """Physical rebuild engines (per instance x instances of the child level)."""
        if self.rebuild is None:
            return 0
        child = self.weight_child(self.level_index(self.rebuild.after_level))
        return self.rebuild.engines_per_instance * self.instances(child)

    @property
    def adder_tree_adders(self) -> int:
        """Adders of the adder trees: an array axis on which the dataflow allows only
        reduction dims (C, R, S) under a network with spatial reduction sums its PEs'
        products with (size - 1) adders per tree, one tree per PE of the other axes."""
        if self.dataflow is None:
            return 0
        total = 0
        for a, n in self.array_shape:
            allow = set(self.dataflow.axis(a).allow)
            net = self.levels[self.axis_level(a)].network
            assert net is not None   # a level with fanout_dims has a network
            if allow <= set(REDUCTION_DIMS) and net.spatial_reduction:
                total += (n - 1) * (self.num_pes // n)
        return total

    @property
    def peak_macs_per_s(self) -> float:
        return self.num_pes * self.clock_mhz * 1e6


# --------------------------------------------------------------------------------------
# loading

_LEVEL_KEYS = {"name", "word_bits", "read_energy_pj", "write_energy_pj"}
_PORT_KEYS = {"bandwidth_bytes_per_cycle", "read_bandwidth_bytes_per_cycle",
              "write_bandwidth_bytes_per_cycle"}
_LEVEL_OPT = {"operands", "capacity_bytes", "partitions", "fanout_dims", "network",
              "energy_source", "run_length_coding", "category",
              "sliding_window_reuse"} | _PORT_KEYS


def _default(cls, name: str):
    """A spec dataclass field's own default: the loaders read absent keys from here and
    never restate a default."""
    f = next(f for f in fields(cls) if f.name == name)
    assert f.default is not MISSING, f"{cls.__name__}.{name} has no plain default"
    return f.default


def _opt_float(node: Node, key: str, default, **kw):
    if not node.has(key) or node.get(key).value is None:
        return default
    return node.get(key).as_float(**kw)


def _operands(node: Node) -> tuple[str, ...]:
    ops = node.as_str_list()
    for i, x in enumerate(ops):
        if x not in OPERANDS:
            raise node.child(i).error(f"expected one of W, I, O, found {x!r}")
    if len(set(ops)) != len(ops):
        raise node.error("an operand is listed twice")
    return ops


def _ports(node: Node, default: tuple) -> tuple:
    """(shared, read, write) bandwidths in bytes per cycle at `node`: a shared port, or
    separate read and write ports (both keys), else `default`."""
    sep = [k for k in ("read_bandwidth_bytes_per_cycle", "write_bandwidth_bytes_per_cycle")
           if node.has(k)]
    if not sep:
        if node.has("bandwidth_bytes_per_cycle"):
            return (_opt_float(node, "bandwidth_bytes_per_cycle", None, positive=True),
                    None, None)
        return default
    if node.has("bandwidth_bytes_per_cycle"):
        raise node.get("bandwidth_bytes_per_cycle").error(
            "give either one shared port (bandwidth_bytes_per_cycle) or separate "
            "read_/write_bandwidth_bytes_per_cycle, not both")
    if len(sep) == 1:
        other = ({"read_bandwidth_bytes_per_cycle", "write_bandwidth_bytes_per_cycle"}
                 - set(sep)).pop()
        raise node.get(sep[0]).error(f"separate ports need both keys: {other} is missing")
    return (None, node.get(sep[0]).as_float(positive=True),
            node.get(sep[1]).as_float(positive=True))


def _widths(node: Node) -> tuple[tuple[str, int], ...]:
    """Per-operand network widths: one integer for every operand, or {W: .., I: ..}."""
    if isinstance(node.value, dict):
        out = []
        for x, sub in node.items():
            if x not in OPERANDS:
                raise sub.error(f"expected an operand among W, I, O, found {x!r}")
            out.append((x, sub.as_int(max_value=MAX_WIDTH_BITS)))
        return tuple(out)
    w = node.as_int(max_value=MAX_WIDTH_BITS)
    return tuple((x, w) for x in OPERANDS)


def _passes(node: Node, axes: dict[str, int]) -> Passes:
    node.check_keys({"stationary"}, {"fill_drain_cycles"})
    sn = node.get("stationary")
    x = sn.as_str()
    if x not in OPERANDS:
        raise sn.error(f"expected one of W, I, O, found {x!r}")
    const, per_axis = 0.0, []
    if node.has("fill_drain_cycles"):
        fd = node.get("fill_drain_cycles")
        if isinstance(fd.value, dict):
            for k, sub in fd.items():
                if k == "const":
                    const = sub.as_float()
                elif k in axes:
                    per_axis.append((k, sub.as_float()))
                else:
                    raise sub.error(f"expected an array axis ({', '.join(axes)}) or 'const' "
                                    "(cycles per pass = const + sum of coefficient x axis "
                                    "size)")
        else:
            const = fd.as_float(min_value=0.0)
        p = Passes(x, const, tuple(per_axis))
        if p.fill_drain_cycles(tuple(axes.items())) < 0:
            raise fd.error(f"gives {short_number(p.fill_drain_cycles(tuple(axes.items())))} "
                           "cycles per pass on this array (must be >= 0)")
        return p
    return Passes(x)


_MEMBER_KEYS = {"name", "same_memory_as"}
_MEMBER_OPT = {"fanout_dims", "network"}


def _member_level(node: Node, axes: dict[str, int],
                  levels: list[MemoryLevel]) -> MemoryLevel:
    """A further tile boundary of the memory of the level directly above (key
    ``same_memory_as``): everything but its name, fan-out and network comes from that
    memory's first level."""
    name = node.get("name").as_str() if node.has("name") else "?"
    sn = node.get("same_memory_as")
    mem = sn.as_str()
    names = [lvl.name for lvl in levels]
    if mem not in names:
        raise sn.error(f"unknown level {mem!r}: a level can only share the memory of a "
                       "level listed above it" + (f" (levels so far: {', '.join(names)})"
                                                  if names else ""))
    head = levels[names.index(mem)]
    if head.same_memory_as:
        raise sn.error(f"level {mem!r} itself shares {head.same_memory_as!r}'s memory: name "
                       f"the memory's first level, {head.same_memory_as!r}")
    if levels[-1].memory != mem:
        raise sn.error(f"level {mem!r} is not directly above {name!r}: the tile boundaries "
                       "of one memory are consecutive levels")
    if levels.index(head) == 0:
        raise sn.error(f"{mem!r} is the outermost level, which holds every tile whole: it "
                       "needs no second tile boundary")
    if levels[-1].fanout_dims:
        raise sn.error(f"level {levels[-1].name!r} fans out to the array, so the level below "
                       "it is another memory per PE: give fanout_dims to the innermost level "
                       f"of memory {mem!r} instead")
    inherited = sorted(set(node.value) - _MEMBER_KEYS - _MEMBER_OPT) \
        if isinstance(node.value, dict) else []
    if inherited:
        raise node.get(inherited[0]).error(
            f"level {name!r} shares {mem!r}'s memory: its {inherited[0]} comes from {mem!r} "
            f"(a shared memory may only add fanout_dims and network)")
    node.check_keys(_MEMBER_KEYS, _MEMBER_OPT)
    fanout, net = _fanout(node, axes)
    return replace(head, name=node.get("name").as_str(), fanout_dims=fanout, network=net,
                   same_memory_as=mem)


def _fanout(node: Node, axes: dict[str, int]) -> tuple[tuple[str, ...], Network | None]:
    fanout: tuple[str, ...] = ()
    if node.has("fanout_dims"):
        fanout = node.get("fanout_dims").as_str_list()
        for i, a in enumerate(fanout):
            if a not in axes:
                raise node.get("fanout_dims").child(i).error(
                    f"unknown array axis {a!r} (pe_array.shape has: {', '.join(axes)})")
    net = None
    if node.has("network"):
        nn_ = node.get("network")
        nn_.check_keys({"transfer_energy_pj_per_bit"},
                       {"multicast", "spatial_reduction", "reduction_energy_pj_per_bit",
                        "width_bits"})
        net = Network(
            nn_.get("transfer_energy_pj_per_bit").as_float(min_value=0.0),
            nn_.get("multicast").as_bool() if nn_.has("multicast")
            else _default(Network, "multicast"),
            nn_.get("spatial_reduction").as_bool() if nn_.has("spatial_reduction")
            else _default(Network, "spatial_reduction"),
            _opt_float(nn_, "reduction_energy_pj_per_bit",
                       _default(Network, "reduction_energy_pj_per_bit"), min_value=0.0),
            _widths(nn_.get("width_bits")) if nn_.has("width_bits")
            else _default(Network, "width_bits"))
        if not fanout:
            raise nn_.error("a network needs fanout_dims on the same level")
    elif fanout:
        raise node.error("missing key 'network' (a level with fanout_dims needs one)")
    return fanout, net


def _level(node: Node, axes: dict[str, int]) -> MemoryLevel:
    node.check_keys(_LEVEL_KEYS, _LEVEL_OPT)
    name = node.get("name").as_str()
    word_bits = node.get("word_bits").as_int(max_value=4096)
    read_pj = node.get("read_energy_pj").as_float(min_value=0.0)
    write_pj = node.get("write_energy_pj").as_float(min_value=0.0)
    ports = _ports(node, (None, None, None))
    bw = ports[0]
    if node.has("partitions"):
        for k in ("operands", "capacity_bytes"):
            if node.has(k):
                raise node.get(k).error("give either 'partitions' or operands/capacity_bytes")
        parts = []
        for pn in node.get("partitions").list():
            pn.check_keys({"operands"}, {"capacity_bytes", "read_energy_pj", "write_energy_pj",
                                         "double_buffered"} | _PORT_KEYS)
            cap = pn.get("capacity_bytes").as_int() if pn.has("capacity_bytes") and \
                pn.get("capacity_bytes").value is not None else None
            pbw, prd, pwr = _ports(pn, ports)
            parts.append(Partition(
                _operands(pn.get("operands")), cap,
                _opt_float(pn, "read_energy_pj", read_pj, min_value=0.0),
                _opt_float(pn, "write_energy_pj", write_pj, min_value=0.0),
                pbw,
                pn.get("double_buffered").as_bool() if pn.has("double_buffered")
                else _default(Partition, "double_buffered"),
                prd, pwr))
        seen: list[str] = [x for p in parts for x in p.operands]
        if len(seen) != len(set(seen)):
            raise node.get("partitions").error("an operand appears in two partitions")
        if not parts:
            raise node.get("partitions").error("expected at least one partition")
    else:
        ops = _operands(node.get("operands"))
        cap_node = node.get("capacity_bytes") if node.has("capacity_bytes") else None
        cap = cap_node.as_int() if cap_node is not None and cap_node.value is not None else None
        parts = [Partition(ops, cap, read_pj, write_pj, bw,
                           read_bandwidth_bytes_per_cycle=ports[1],
                           write_bandwidth_bytes_per_cycle=ports[2])]
    fanout, net = _fanout(node, axes)
    src = node.get("energy_source").as_str() if node.has("energy_source") \
        else _default(MemoryLevel, "energy_source")
    rlc = None
    if node.has("run_length_coding"):
        rn = node.get("run_length_coding")
        rn.check_keys(set(), {"run_bits", "word_bits"})
        rlc = RunLengthCoding(**{k: rn.get(k).as_int() for k in ("run_bits", "word_bits")
                                 if rn.has(k)})
    category = _choice(node, "category", LEVEL_CATEGORIES, _default(MemoryLevel, "category"))
    sliding = node.get("sliding_window_reuse").as_bool() \
        if node.has("sliding_window_reuse") else _default(MemoryLevel, "sliding_window_reuse")
    return MemoryLevel(name, word_bits, tuple(parts), fanout, net, src, rlc, category, sliding)


def _choice(node: Node, key: str, choices: tuple[str, ...], default: str) -> str:
    """The value at `key`, one of `choices` (`default` when absent)."""
    if not node.has(key):
        return default
    v = node.get(key).as_str()
    if v not in choices:
        raise node.get(key).error(f"expected one of {', '.join(choices)}, found {v!r}")
    return v


def _mode(node: Node, key: str) -> str:
    return _choice(node, key, SKIP_MODES, _default(Sparsity, key))


def _level_name(node: Node, levels: tuple[MemoryLevel, ...]) -> str:
    name = node.as_str()
    names = [lvl.name for lvl in levels]
    if name not in names:
        raise node.error(f"unknown level {name!r} (levels: {', '.join(names)})")
    return name


def _rebuild(node: Node, levels: tuple[MemoryLevel, ...]) -> RebuildEngine:
    node.check_keys({"after_level"}, {"engines_per_instance", "ping_pong", "weights_per_cycle",
                                      "shift_add_energy_pj", "basis_rf_bytes",
                                      "basis_load_energy_pj_per_bit",
                                      "index_energy_pj_per_weight"})
    after = _level_name(node.get("after_level"), levels)
    lvl = levels[[x.name for x in levels].index(after)]
    if "W" not in lvl.operands:
        raise node.get("after_level").error(
            f"level {after!r} holds no weights: a rebuild engine needs a weight buffer above it")
    d = RebuildEngine(after)
    kw: dict[str, Any] = {}
    for k in ("engines_per_instance", "basis_rf_bytes"):
        if node.has(k):
            kw[k] = node.get(k).as_int(min_value=1 if k == "engines_per_instance" else 0)
    for k in ("weights_per_cycle",):
        if node.has(k):
            kw[k] = node.get(k).as_float(positive=True)
    for k in ("shift_add_energy_pj", "basis_load_energy_pj_per_bit",
              "index_energy_pj_per_weight"):
        if node.has(k):
            kw[k] = node.get(k).as_float(min_value=0.0)
    if node.has("ping_pong"):
        kw["ping_pong"] = node.get("ping_pong").as_bool()
    if kw.get("ping_pong", d.ping_pong) and kw.get("engines_per_instance",
                                                   d.engines_per_instance) % 2:
        raise node.error("ping_pong engines work in pairs: engines_per_instance must be even")
    return RebuildEngine(after, **kw)


def _sparsity(node: Node, levels: tuple[MemoryLevel, ...]) -> Sparsity:
    node.check_keys(set(), {"weights", "weight_rows", "inputs", "input_rows",
                            "weight_index_bits", "index_energy_pj_per_weight",
                            "compressed_down_to"})
    kw: dict = {k: _mode(node, k) for k in ("weights", "weight_rows", "inputs", "input_rows")}
    if node.has("weight_index_bits"):
        kw["weight_index_bits"] = node.get("weight_index_bits").as_int(min_value=0)
    if node.has("index_energy_pj_per_weight"):
        kw["index_energy_pj_per_weight"] = node.get("index_energy_pj_per_weight").as_float(
            min_value=0.0)
    if node.has("compressed_down_to"):
        kw["compressed_down_to"] = _level_name(node.get("compressed_down_to"), levels)
    return Sparsity(**kw)



def resolve_design(name: str | Path, where: str = "--hw") -> Path:
    """A shipped design's name (``eyeriss``) or a YAML path -> the file (SpecError at
    `where` if there is none): the one resolver of design names."""
    from sedse._shipped import design_path, shipped_designs

    shipped = design_path(name)
    if shipped is not None:
        return shipped
    text = str(name)
    p = Path(text)
    if p.is_dir():
        raise SpecError(where, f"{text}: is a folder, not a design (give a design YAML "
                        "file or a shipped name)")
    if p.suffix in (".yaml", ".yml") or p.is_file() or p.name != text:
        if not p.is_file():
            raise SpecError(where, f"{text}: file not found")
        return p
    raise SpecError(where, f"unknown design {text!r} (shipped: "
                    f"{', '.join(shipped_designs())}; or a YAML path)")


def load_accelerator(path: str | Path) -> Accelerator:
    """Return the accelerator described by the YAML file at `path`, or the shipped
    design of that name (``load_accelerator("eyeriss")``); SpecError if bad."""
    from sedse._shipped import design_path

    root = load_yaml(design_path(path) or path)
    return accelerator_from_node(root)


def load_designs(names: list[str]) -> list[Accelerator]:
    """Each design name or path (`resolve_design`) loaded."""
    return [load_accelerator(resolve_design(n)) for n in names]


def default_technology_file() -> Path:
    """The shipped technology file (65 nm) every matched comparison uses by default."""
    from sedse._shipped import default_technology

    return default_technology()


def accelerator_from_node(root: Node) -> Accelerator:
    root.check_keys({"name", "clock_mhz", "pe_array", "mac", "levels"},
                    {"description", "precision", "dataflow", "rebuild", "sparsity",
                     "bit_serial", "padding"})
    name = root.get("name").as_str()
    clock = root.get("clock_mhz").as_float(positive=True)
    pe = root.get("pe_array")
    pe.check_keys({"shape"}, {"passes"})
    shape_node = pe.get("shape")
    axes = {k: v.as_int(max_value=MAX_AXIS) for k, v in shape_node.items()}
    if not axes:
        raise shape_node.error("expected at least one array axis")
    if len(axes) > MAX_AXES:
        raise shape_node.error(f"{len(axes)} array axes: at most {MAX_AXES} are modelled")
    if math.prod(axes.values()) > MAX_PES:
        raise shape_node.error(f"{math.prod(axes.values()):,} PEs: at most {MAX_PES:,} "
                               "are modelled")
    mac_node = root.get("mac")
    mac_node.check_keys({"energy_pj_by_bits"}, {"idle_energy_pj", "energy_source"})
    eb_node = mac_node.get("energy_pj_by_bits")
    if not isinstance(eb_node.value, dict) or not eb_node.value:
        raise eb_node.error("expected a mapping from bits to pJ, e.g. {16: 1.7, 8: 0.45}")
    eb = [(k, sub.as_float(min_value=0.0)) for k, sub in eb_node.int_items("operand bits")]
    mac = MacUnit(tuple(sorted(eb)), _opt_float(mac_node, "idle_energy_pj",
                                                _default(MacUnit, "idle_energy_pj"),
                                                min_value=0.0),
                  mac_node.get("energy_source").as_str() if mac_node.has("energy_source")
                  else _default(MacUnit, "energy_source"))
    passes = _passes(pe.get("passes"), axes) if pe.has("passes") else None
    bits: dict = {k: _default(Accelerator, k) for k in ("input_bits", "weight_bits",
                                                       "output_bits")}
    if root.has("precision"):
        pr = root.get("precision")
        pr.check_keys(set(), set(bits) | {"psum_bits"})
        for k, v in pr.items():
            bits[k] = v.as_int(max_value=64)
    padding = _choice(root, "padding", PADDING_MODES, _default(Accelerator, "padding"))
    lv_node = root.get("levels")
    built: list[MemoryLevel] = []
    for n in lv_node.list():
        member = isinstance(n.value, dict) and "same_memory_as" in n.value
        built.append(_member_level(n, axes, built) if member else _level(n, axes))
    levels = tuple(built)
    if not levels:
        raise lv_node.error("expected at least one level")
    names = [lvl.name for lvl in levels]
    for i, nm in enumerate(names):
        if names.index(nm) != i:
            raise lv_node.child(i).get("name").error(f"level name {nm!r} used twice")
    if set(levels[0].operands) != set(OPERANDS):
        raise lv_node.child(0).error("the outermost level must store W, I and O")
    owner: dict[str, str] = {}
    for i, lvl in enumerate(levels):
        for a in lvl.fanout_dims:
            if a in owner:
                raise lv_node.child(i).get("fanout_dims").error(
                    f"array axis {a!r} already fans out under level {owner[a]!r}")
            owner[a] = lvl.name
    missing = [a for a in axes if a not in owner]
    if missing:
        raise lv_node.error(f"array axes {missing} fan out under no level (add them to a "
                            "level's fanout_dims)")
    for i, lvl in enumerate(levels[1:], start=1):
        for j, p in enumerate(lvl.partitions):
            if p.capacity_bytes is None:
                raise lv_node.child(i).error(
                    f"partition {j}: on-chip memories need capacity_bytes")
    dataflow = dataflow_from_node(root.get("dataflow"), axes, list(levels)) \
        if root.has("dataflow") else None
    rebuild = _rebuild(root.get("rebuild"), levels) if root.has("rebuild") else None
    sparsity = _sparsity(root.get("sparsity"), levels) if root.has("sparsity") else Sparsity()
    bit_serial = None
    if root.has("bit_serial"):
        bn = root.get("bit_serial")
        bn.check_keys({"term_energy_pj"}, {"sync_factor", "units_per_mac"})
        bit_serial = BitSerial(bn.get("term_energy_pj").as_float(min_value=0.0),
                               _opt_float(bn, "sync_factor", _default(BitSerial, "sync_factor"),
                                          min_value=1.0),
                               bn.get("units_per_mac").as_int(max_value=MAX_UNITS_PER_MAC)
                               if bn.has("units_per_mac") else _default(BitSerial,
                                                                        "units_per_mac"))
    acc = Accelerator(name, clock, tuple(axes.items()), levels, mac, dataflow=dataflow,
                      description=root.get("description").as_str()
                      if root.has("description") else _default(Accelerator, "description"),
                      rebuild=rebuild, sparsity=sparsity, bit_serial=bit_serial,
                      passes=passes, padding=padding, source=root.file, **bits)
    if passes is not None:
        feeder = next(i for i, lvl in enumerate(levels) if lvl.fanout_dims)
        if not any(passes.stationary in lvl.operands for lvl in levels[feeder + 1:]):
            raise pe.get("passes").get("stationary").error(
                f"no level below {levels[feeder].name}'s fan-out holds "
                f"{passes.stationary}: a pass is a change of its array-resident tile")
    try:
        mac.energy_pj(max(acc.input_bits, acc.weight_bits))
    except SpecError:
        raise mac_node.get("energy_pj_by_bits").error(
            f"no entry for the accelerator's {max(acc.input_bits, acc.weight_bits)}-bit "
            "precision") from None
    return acc
