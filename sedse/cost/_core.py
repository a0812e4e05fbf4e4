"""Vectorised loop-nest action counts, energy and latency.

Given a layer, an accelerator and M candidate mappings (`Candidates`), `evaluate`
returns, for every candidate at once, the number of each action at each (level,
operand), their energy, the latency and the utilisation. One implementation: a single
mapping is a batch of one.

Counting rules (all counts are in operand elements, totals over all instances):

* Tiles. The tile of operand X at level l is the footprint of X over the loops inside
  l's own temporal loops (its temporal factors, all inner temporal factors and every
  spatial factor at or below l). Input footprints follow the sliding window:
  ``(p - 1) * stride + (r - 1) * dilation + 1`` rows for p output rows and r kernel
  rows, so inputs shared by neighbouring windows or by PEs are counted once. Padded
  (imperfect) factors give padded tiles.
* Child. For X held at level p, the child c is the next level below p holding X, or the
  MAC. Spatial factors at levels p..c-1 fan the child out.
* Fill events V_c. A child's tile changes whenever a temporal loop above it advances,
  except for the innermost run of loops (above c, inner to outer) that do not index X:
  those reuse the resident tile (stationarity). After the first loop that indexes X,
  every loop counts. The MAC has no storage, so for it every loop counts: repeated
  reads of the same datum by consecutive MACs ARE counted at the innermost level that
  holds the datum; model an operand register as an explicit 1-word level.
* Distinct tiles D_c = product of the X-indexing temporal factors above c.
* W and I: parent reads = V_c x footprint(child tile extended by the spatial factors
  between p and c) x active parent instances, so data multicast to several children is
  read once (if the network multicasts; otherwise once per child). Child fills =
  V_c x footprint(child tile) x active child instances.
* O (partial sums): the child writes its tile back on every fill event (parent
  `update`, after spatial reduction: children that differ only in C/R/S send one
  reduced word) and, on every event but the first visit of each tile, first reads
  the partial sums back from the parent (parent `read`, child `fill`; the child's
  outgoing write-back is its `drain`). So a read-modify-write of a partial sum is one
  `read` plus one `update` at the level holding it; the very first touch of every
  output element needs no read. With the MAC as the child this is one psum read per
  MAC except the first per output element, and one update per MAC.
* Network: every word that crosses a fan-out to a child is one transfer per receiving
  PE (W, I, psum reads down, psum write-backs up); spatial reduction costs one add per
  partial sum merged.
* MACs: the layer's exact MAC count. MAC slots = compute cycles x PEs; idle slots
  (padding, unused PEs) cost `idle_energy_pj` each.

Energy: count x (operand bits / partition word bits) x energy per access (`read` and
`drain` at read energy, `fill` and `update` at write energy) + network bits x energy
per bit + MACs x MAC energy + idle slots x idle energy.

Latency in cycles: max(compute cycles = product of all temporal factors, every
partition's bandwidth-bound cycles = bytes moved per instance / bytes per cycle), plus
a fill/drain term: the cycles to load the first tile of every on-chip level from its
parent and to write the last output tile back, each at the parent's bandwidth
(compute does not overlap them). Utilisation = MACs / (compute cycles x PEs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sedse.hardware import Accelerator
from sedse.mapping import Candidates
from sedse.mapping._tiles import capacity_need, footprint, spatial_per_level, tile_extents
from sedse.workload import DIMS, OPERANDS, RELEVANT, Layer

ACTIONS = ("read", "fill", "update", "drain")
_REL = {x: np.array([d in RELEVANT[x] for d in DIMS]) for x in OPERANDS}


@dataclass
class BatchCost:
    """Costs of M candidates. Arrays have shape (M,) unless noted."""

    counts: dict[tuple[str, str, str], np.ndarray]   # (level, operand, action) -> count
    energy_pj: dict[tuple[str, str, str], np.ndarray]  # same keys + network/MAC entries
    total_energy_pj: np.ndarray
    cycles: np.ndarray
    compute_cycles: np.ndarray
    bandwidth_cycles: dict[tuple[str, int], np.ndarray]  # (level, partition) -> cycles
    fill_drain_cycles: np.ndarray
    utilisation: np.ndarray
    fits: np.ndarray
    tile_bytes: np.ndarray   # (M, L, max partitions) bytes needed per partition
    capacity_bytes: np.ndarray  # (L, max partitions); inf where unbounded
    macs: int
    idle_mac_slots: np.ndarray
    active_pes: np.ndarray  # PEs that do at least one real (unpadded) MAC

    def first_overflow(self, i: int) -> tuple[int, int, int, int]:
        """(level, partition, needed bytes, capacity) of candidate i's first overflow."""
        over = self.tile_bytes[i] > self.capacity_bytes
        li, pi = np.argwhere(over)[0]
        return int(li), int(pi), int(self.tile_bytes[i, li, pi]), int(self.capacity_bytes[li, pi])


def _ordered_loops(c: Candidates, upto: int) -> tuple[np.ndarray, np.ndarray]:
    """Temporal loops of levels < upto, inner to outer: factors (M, J), dim idx (M, J)."""
    M = len(c)
    if upto == 0:
        return np.ones((M, 0), dtype=np.int64), np.zeros((M, 0), dtype=np.int64)
    order = c.order[:, :upto, :]
    f = np.take_along_axis(c.tf[:, :upto, :], order, axis=2)
    return f.reshape(M, -1)[:, ::-1], order.reshape(M, -1)[:, ::-1]


def evaluate(layer: Layer, acc: Accelerator, c: Candidates) -> BatchCost:
    """Return the `BatchCost` of every candidate mapping of `layer` on `acc`."""
    L = len(acc.levels)
    M = len(c)
    bits = {x: layer.operand_bits(x) for x in OPERANDS}
    sfl = spatial_per_level(c, acc)
    tiles = tile_extents(c, acc, sfl)
    spatial_total = sfl.prod(axis=2)  # (M, L+1) children per instance under each level
    # active instances of level l = product of spatial totals above l
    active = np.ones((M, L + 1), dtype=np.int64)
    active[:, 1:] = np.cumprod(spatial_total[:, :L], axis=1)

    counts: dict[tuple[str, str, str], np.ndarray] = {}
    energy: dict[tuple[str, str, str], np.ndarray] = {}
    zeros = np.zeros(M, dtype=np.int64)

    def add(key, val):
        counts[key] = counts.get(key, zeros) + val

    net_words = {}
    red_words = {}
    all_loops = {}
    for x in OPERANDS:
        rel = _REL[x]
        holders = [li for li in range(L) if c.keep[li, OPERANDS.index(x)]]
        chain = holders + [L]
        for p, ch in zip(chain[:-1], chain[1:], strict=True):
            if ch not in all_loops:
                all_loops[ch] = _ordered_loops(c, ch)
            f, d = all_loops[ch]
            relevant = rel[d] & (f > 1)
            if ch == L:
                started = np.ones_like(relevant)
            else:
                started = np.cumsum(relevant, axis=1) > 0
            V = np.where(started, f, 1).prod(axis=1)
            D = np.where(rel[d], f, 1).prod(axis=1)
            spatial_between = sfl[:, p:ch].prod(axis=1)
            child_tile = tiles[:, ch]
            fp_child = footprint(x, child_tile, layer)
            fp_ext = footprint(x, child_tile * spatial_between, layer)
            n_children = spatial_total[:, p:ch].prod(axis=1)
            inst_p, inst_c = active[:, p], active[:, ch]
            fanouts = [li for li in range(p, ch) if acc.levels[li].fanout_dims]
            multicast = all(acc.levels[li].network.multicast for li in fanouts)
            pname = acc.levels[p].name
            delivered = V * fp_child * inst_c
            if x in ("W", "I"):
                add((pname, x, "read"), V * fp_ext * inst_p if multicast else delivered)
                if ch < L:
                    add((acc.levels[ch].name, x, "fill"), delivered)
                for li in fanouts:
                    net_words[(li, x)] = net_words.get((li, x), zeros) + delivered
            else:
                R = V - D
                add((pname, x, "read"), R * fp_ext * inst_p if multicast else R * fp_child * inst_c)
                add((pname, x, "update"), V * fp_ext * inst_p)
                if ch < L:
                    add((acc.levels[ch].name, x, "fill"), R * fp_child * inst_c)
                    add((acc.levels[ch].name, x, "drain"), V * fp_child * inst_c)
                for li in fanouts:
                    net_words[(li, x)] = net_words.get((li, x), zeros) + (V + R) * fp_child * inst_c
                if fanouts:
                    merged = V * (fp_child * n_children - fp_ext) * inst_p
                    red_words[fanouts[-1]] = red_words.get(fanouts[-1], zeros) + merged

    # ---- energy ------------------------------------------------------------------
    total = np.zeros(M, dtype=np.float64)
    for (lname, x, action), n in counts.items():
        lvl = acc.levels[acc.level_index(lname)]
        part = lvl.partition_of(x)
        e = part.read_energy_pj if action in ("read", "drain") else part.write_energy_pj
        en = n * (bits[x] / lvl.word_bits) * e
        energy[(lname, x, action)] = en
        total += en
    for (li, x), n in net_words.items():
        lvl = acc.levels[li]
        key = (lvl.name, x, "network")
        counts[key] = n
        energy[key] = n * bits[x] * lvl.network.transfer_energy_pj_per_bit
        total += energy[key]
    for li, n in red_words.items():
        lvl = acc.levels[li]
        key = (lvl.name, "O", "spatial_reduce")
        counts[key] = n
        energy[key] = n * bits["O"] * lvl.network.reduction_energy_pj_per_bit
        total += energy[key]
    compute_cycles = c.tf.prod(axis=(1, 2))
    macs = layer.macs
    slots = compute_cycles * acc.num_pes
    idle = slots - macs
    mac_e = acc.mac.energy_pj(max(bits["W"], bits["I"]))
    counts[("MAC", "-", "mac")] = np.full(M, macs, dtype=np.int64)
    counts[("MAC", "-", "idle")] = idle
    energy[("MAC", "-", "mac")] = np.full(M, macs * mac_e)
    energy[("MAC", "-", "idle")] = idle * acc.mac.idle_energy_pj
    total = total + macs * mac_e + idle * acc.mac.idle_energy_pj

    # ---- capacity ----------------------------------------------------------------
    need, cap = capacity_need(c, acc, layer, tiles)
    fits = (need <= cap[None]).all(axis=(1, 2))

    # ---- latency -----------------------------------------------------------------
    bw_cycles: dict[tuple[str, int], np.ndarray] = {}
    cycles = compute_cycles.astype(np.float64)
    for li, lvl in enumerate(acc.levels):
        for pi, part in enumerate(lvl.partitions):
            if part.bandwidth_bytes_per_cycle is None:
                continue
            moved_bits = np.zeros(M)
            for x in part.operands:
                for a in ACTIONS:
                    n = counts.get((lvl.name, x, a))
                    if n is not None:
                        moved_bits += n * bits[x]
            per_inst = moved_bits / np.maximum(active[:, li], 1)
            bwc = per_inst / 8.0 / part.bandwidth_bytes_per_cycle
            bw_cycles[(lvl.name, pi)] = bwc
            cycles = np.maximum(cycles, bwc)
    fill_drain = np.zeros(M)
    for x in OPERANDS:
        xi = OPERANDS.index(x)
        holders = [li for li in range(L) if c.keep[li, xi]]
        for p, ch in zip(holders[:-1], holders[1:], strict=True):
            bw = acc.levels[p].partition_of(x).bandwidth_bytes_per_cycle
            if bw is None:
                continue
            # one child tile per active child instance, through the parent's port
            tile_bytes = footprint(x, tiles[:, ch], layer) * bits[x] / 8.0
            fill_drain += tile_bytes * active[:, ch] / np.maximum(active[:, p], 1) / bw
    cycles = cycles + fill_drain
    util = macs / (compute_cycles * acc.num_pes)
    return BatchCost(counts, energy, total, cycles, compute_cycles, bw_cycles, fill_drain,
                     util, fits, need, cap, macs, idle, _active_pes(layer, tiles, sfl))


def _active_pes(layer: Layer, tiles: np.ndarray, sfl: np.ndarray) -> np.ndarray:
    """PEs with at least one unpadded iteration: per fan-out level and dim, spatial
    position s is live when its first index s x (extent below) is inside the dim."""
    dims = np.array([getattr(layer, d) for d in DIMS])
    active = np.ones(len(tiles), dtype=np.int64)
    for li in range(sfl.shape[1] - 1):
        below = tiles[:, li + 1]
        live = np.minimum(sfl[:, li], -(-dims[None, :] // np.maximum(below, 1)))
        active *= live.prod(axis=1)
    return active


def seconds(cycles: float, acc: Accelerator) -> float:
    return float(cycles) / (acc.clock_mhz * 1e6)


