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
  (imperfect) factors give padded tiles. A dataflow with ``im2col: true`` lowers the
  layer first (`sedse.mapping.array_layer`: R x S x C flattened onto C, the input an
  im2col matrix), as a systolic array fed by im2col sees it.
* Child. For X held at level p, the child c is the next level below p holding X, or the
  MAC. Spatial factors at levels p..c-1 fan the child out.
* Fill events V_c. A child's tile changes whenever a temporal loop above it advances,
  except for the innermost run of loops (above c, inner to outer) that do not index X:
  those reuse the resident tile (stationarity). After the first loop that indexes X,
  every loop counts. The MAC has no storage, so for it every loop counts: repeated
  reads of the same datum by consecutive MACs ARE counted at the innermost level that
  holds the datum; model an operand register as an explicit 1-word level.
* Distinct tiles D_c = product of the X-indexing temporal factors above c.
* Sliding windows: when the loop that refills a child's input tile steps P or Q, only
  the new rows or columns are fetched (the child keeps the overlap), unless the child
  level says ``sliding_window_reuse: false`` (a plain buffer: every refill fetches the
  whole tile, halo included, as ZigZag counts).
* W and I: parent reads = V_c x footprint(child tile extended by the spatial factors
  between p and c) x active parent instances, so data multicast to several children is
  read once (if the network multicasts; otherwise once per child). Child fills =
  V_c x footprint(child tile) x active child instances.
* O (partial sums): the child writes its tile back on every fill event (parent
  `update`, after spatial reduction: children that differ only in C/R/S send one
  reduced word; every child's outgoing write-back is its `drain`) and, on every event
  but the first visit of each tile, first reads the partial sums back from the parent
  (parent `read`, child `fill`: one per distinct partial sum, taken by the head of its
  reduction group; the others start from zero). So a read-modify-write of a partial sum is one
  `read` plus one `update` at the level holding it; the very first touch of every
  output element needs no read. With the MAC as the child this is one psum read per
  MAC except the first per output element, and one update per MAC.
* Network: every weight or input word that crosses a fan-out to a child is one
  transfer per receiving PE. Partial sums cross once per distinct output each way
  (the read into a reduction group and the reduced write-back); inside the group each
  merged partial sum is one forward to a neighbour or adder-tree node at the level's
  reduction energy (children that differ only in C/R/S merge; otherwise nothing
  merges and every child's psums cross).
* Shared memories: a memory with several tile boundaries (levels with
  ``same_memory_as``) is counted level by level like any other, each operand at the
  boundary that keeps it (its tile spans that boundary's loops and everything inside);
  the tiles at all its boundaries share the memory's capacity (`capacity_need` adds
  them up per partition) and all their accesses go through the memory's ports.
* MACs: the layer's exact MAC count. MAC slots = compute cycles x PEs; idle slots
  (padding, unused PEs) cost `idle_energy_pj` each.

Energy: count x (operand bits / partition word bits) x energy per access (`read` and
`drain` at read energy, `fill` and `update` at write energy) + network bits x energy
per bit + MACs x MAC energy + idle slots x idle energy.

Precision per role: partial sums are counted at the design's ``psum_bits`` (default:
output bits) wherever they move (read-backs, spills, psum networks, reductions); each
output's last write into a level, and its last drain out of a child, is a finished
value at output bits. Zero padding of the inputs is generated on chip by default
(``padding: generated``): the outermost level's input reads are scaled by the share of
the padded window that is real data; ``padding: fetched`` reads the zeros too.

Latency in cycles (one layer, stated as the code computes it)::

    latency = max(compute side, every port's busy time)
    compute side = max(run cycles, rebuild cycles) + passes x fill_drain_cycles
                   + single-buffered stalls + prologue

* Run cycles: the product of all temporal factors, scaled by skipping and bit-serial
  work. Rebuild cycles: the rebuild engines' throughput bound (below).
* Passes (`pe_array.passes`): a pass ends whenever the array-resident tile of the
  declared stationary operand changes, i.e. its fill events at the outermost level
  below the first fan-out that keeps it (weight folds on a systolic array, processing
  passes on Eyeriss). Each pass pays the array's declared fill/drain (pipeline fill and
  drain: ``const + sum(coefficient x axis size)``, a systolic array's skew is
  ``rows + cols - 2``).
* Reloads and stalls: a partition declared ``double_buffered: false`` cannot refill
  or write back while its PEs compute, so its fills and drains stop the MACs for the
  longer of their time at its own port(s) and at the network that carries them (a
  pass's reload of the stationary operand is one such refill). Double-buffered
  partitions overlap their refills with compute; they only count in the port bounds.
* Ports: each partition has one shared port (``bandwidth_bytes_per_cycle``: reads and
  writes together) or separate read and write ports (``read_/write_bandwidth_...``;
  reads are ``read`` and ``drain``, writes ``fill`` and ``update``), per instance.
  Each transfer takes whole words of the level: a transfer of f elements of b bits
  costs ceil(f b / word_bits) accesses (ZigZag's rounding), which matters when a
  transfer is narrower than the word. Energy still packs words exactly.
* Networks with ``width_bits`` (per operand): bits of distinct words crossing the
  fan-out per direction / width (a multicast word once; O has a down network for
  read-backs and an up network for write-backs, each that wide).
* Prologue: loading the first tile of every on-chip level from its parent and writing
  the last output tile back, at the parent's read (W, I) or write (O) port.
* The breakdown names the binding term: ``compute`` or the busiest port
  (`BatchCost.binding`, `LayerCost.latency_rows`). Utilisation = MACs / (compute
  cycles x PEs).

Weight formats and zeros (`weight_format`, `_formats.py`): weight counts stay in dense
weight elements; their bits per element are those of the format held at the level
(the stored form down to the rebuild or compressed level, dense below), so energy,
bandwidth and capacity follow the format. On a compressed level the index share of
the weight energy is its own row (operand ``W_index``). Words crossing a fan-out move
in the parent's format (rebuild engines sit on the child side).

* Rebuild: the dense weights delivered into the child of the rebuild level are rebuilt
  (``REBUILD/W/shift_add``: delivered x the encoding's ops per weight; ``basis_load``:
  basis bits x delivered / layer weights, B is loaded once per pass over its block;
  ``INDEX/W/lookup``: one index check per delivered weight). Rebuild-bound cycles =
  delivered weights left after row skipping / (active child instances x engines
  rebuilding at once x weights per cycle); latency is the max of this and the other
  bounds.
* Skipping keeps `keep_frac` of the work: MACs, compute cycles, the input and dense
  weight counts below the array-feeding level (the outermost level with a fan-out),
  the feeder's reads and network transfers of them, and the partial-sum reads and
  updates at the innermost output level (every output is still produced and drained).
  Weights on compressed levels are not scaled again (their format holds only the kept
  part). Gating zero inputs (weights) removes
  that share of the MAC energy and of the innermost weight (input) reads, not cycles.
* Element-sparse weights: one ``INDEX`` lookup per executed MAC.
* Bit-serial MACs: compute cycles x non-zero digits per activation x `sync_factor`;
  MAC energy = executed MACs x digits x `term_energy_pj`.

The steps, each a pure function of its inputs (`evaluate` runs them in this order):
`_traffic` (the access counts above), `_generated_padding`, `_run_length_coding`,
`_skipping`, `_gating`, `_energy`, `_rebuild`, capacity (`capacity_need`) and
`_latency`. Results are keyed by `Action` (where, operand, kind).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import NamedTuple

import numpy as np

from sedse.cost._formats import WeightFormat, weight_format
from sedse.cost._tiles import (
    _C,
    _G,
    _N,
    _P,
    _Q,
    _R,
    _S,
    TileGeometry,
    capacity_need,
    footprint,
    spatial_between,
    window_extents,
)
from sedse.hardware import Accelerator, MemoryLevel, Network
from sedse.mapping import Candidates, array_layer
from sedse.workload import DIMS, OPERANDS, RELEVANT, Layer

#: what a memory level's partition does with an operand's words
ACTIONS = ("read", "fill", "update", "drain")
#: what a fan-out's network does: transfers to children, merges of partial sums
NETWORK_KINDS = ("network", "spatial_reduce")
#: the units that are not memory levels, and their kinds of action
UNITS = {"MAC": ("mac", "idle"), "REBUILD": ("shift_add", "basis_load"), "INDEX": ("lookup",)}


class Action(NamedTuple):
    """One kind of counted work: at `where` (a memory level's name for `ACTIONS` and
    `NETWORK_KINDS`, else a unit of `UNITS`), on `operand` (W, I, O, W_index: the index
    share of stored weights; "-" for the MAC's own work), of `kind`.

    A tuple, so ``counts[("DRAM", "I", "read")]`` finds it."""

    where: str
    operand: str
    kind: str

    @property
    def on_level(self) -> bool:
        """True for a memory level's or its network's action, False for a unit's."""
        return self.kind in ACTIONS or self.kind in NETWORK_KINDS


_REL = {x: np.array([d in RELEVANT[x] for d in DIMS]) for x in OPERANDS}
_REL_IDX = {x: np.flatnonzero(_REL[x]) for x in OPERANDS}
_IRR_IDX = {x: np.flatnonzero(~_REL[x]) for x in OPERANDS}


@dataclass(frozen=True, kw_only=True)
class BatchCost:
    """Costs of M candidates. Arrays have shape (M,) unless noted."""

    counts: dict[Action, np.ndarray]       # every counted action
    energy_pj: dict[Action, np.ndarray]    # the same keys
    total_energy_pj: np.ndarray
    cycles: np.ndarray                     # the latency: max(busy_cycles, every port)
    compute_cycles: np.ndarray             # the product of all temporal factors
    run_cycles: np.ndarray                 # compute cycles after skipping / bit-serial work
    rebuild_cycles: np.ndarray             # rebuild-throughput bound (0 without engines)
    passes: np.ndarray                     # processing passes / folds (1 without `passes`)
    pass_cycles: np.ndarray                # passes x the array's fill/drain per pass
    stall_cycles: np.ndarray               # single-buffered refills and write-backs
    fill_drain_cycles: np.ndarray          # one-time prologue and epilogue
    busy_cycles: np.ndarray                # compute side: run + passes + stalls + prologue
    port_cycles: dict[str, np.ndarray]     # port name -> cycles it is busy (see `binding`)
    utilisation: np.ndarray
    fits: np.ndarray
    tile_bytes: np.ndarray                 # (L, max partitions, M) bytes per partition
    capacity_bytes: np.ndarray             # (L, max partitions); inf where unbounded
    macs: int
    run_macs: int                          # MACs executed after skipping
    idle_mac_slots: np.ndarray
    geometry: TileGeometry = field(repr=False)

    @cached_property
    def active_pes(self) -> np.ndarray:
        """PEs that do at least one real (unpadded) MAC (only reports need it, so it is
        computed on first use rather than for every searched candidate)."""
        return _active_pes(self.geometry)

    def binding(self, i: int = 0) -> str:
        """What sets candidate i's latency: "compute" or the busiest port's name."""
        best, name = self.busy_cycles[i], "compute"
        for k, v in self.port_cycles.items():
            if v[i] > best * (1 + 1e-12):
                best, name = v[i], k
        return name


@dataclass(frozen=True, kw_only=True)
class _Traffic:
    """What moves: the output of `_traffic`, adjusted by the later steps."""

    counts: dict[Action, np.ndarray]
    # per Action of a bounded partition: words per access / words per transfer, >= 1
    # where a transfer is narrower than the level's word (latency only)
    granule: dict[Action, np.ndarray]
    # bits of distinct words crossing a fan-out whose network has a width, per
    # (fan-out level, operand, direction): (bits, child level they refill)
    net_dist: dict[tuple[int, str, str], tuple[np.ndarray, int]]
    net_words: dict[tuple[int, str], np.ndarray]   # words crossing each fan-out
    net_bits: dict[tuple[int, str], float]         # bits per such word
    net_parent: dict[tuple[int, str], int]         # the level they come from
    red_words: dict[int, np.ndarray]               # psums merged at each fan-out
    passes: np.ndarray
    rebuilt: np.ndarray | None      # dense weights delivered across the rebuild boundary
    finals: dict[Action, int] = field(default_factory=dict)  # final-precision writes


@dataclass(frozen=True)
class _Context:
    """The facts every step reads: the layer as the array sees it, the design, the
    candidates' tiles, precisions and the weights' format."""

    layer: Layer
    acc: Accelerator
    cand: Candidates
    geo: TileGeometry
    wf: WeightFormat
    bits: dict[str, int]
    psum_bits: int
    active: np.ndarray          # (L + 1, M) active instances of each level
    compute_cycles: np.ndarray

    @property
    def M(self) -> int:
        return len(self.cand)

    def xbits(self, x: str, li: int) -> float:
        """Bits per element of operand x held at level li (weights in their format)."""
        return self.wf.bits_at[li] if x == "W" else self.bits[x]

    def stored_bits(self, x: str, li: int) -> float:
        """Bits per stored element of x at level li: `xbits`, with outputs counted as
        partial sums (``psum_bits``; a finished output's surplus is added apart)."""
        return self.psum_bits if x == "O" else self.xbits(x, li)


def evaluate(layer: Layer, acc: Accelerator, c: Candidates) -> BatchCost:
    """Return the `BatchCost` of every candidate mapping of `layer` on `acc` (as the
    array sees it: `sedse.mapping.array_layer`)."""
    layer = array_layer(layer, acc)
    geo = TileGeometry.of(c, acc, layer)
    wf = weight_format(layer, acc)
    return _evaluate(layer, acc, geo, wf, *capacity_need(geo, acc, wf.bits_at))


def evaluate_fitting(layer: Layer, acc: Accelerator, c: Candidates,
                     ok: np.ndarray | None = None) -> tuple[np.ndarray, BatchCost | None]:
    """The indices of the candidates that fit (`fits`; among those `ok` marks, when
    given) and their `BatchCost` (None when none fits): what ``evaluate(layer, acc,
    c.take(idx))`` returns, with the capacity check done once for the batch."""
    layer = array_layer(layer, acc)
    geo = TileGeometry.of(c, acc, layer)
    wf = weight_format(layer, acc)
    need, cap = capacity_need(geo, acc, wf.bits_at)
    good = _fitting(need, cap)
    idx = np.flatnonzero(good if ok is None else good & ok)
    if not len(idx):
        return idx, None
    if len(idx) < len(c):
        # a candidate's tiles and needs do not depend on the others in its batch
        geo = TileGeometry.of(c.take(idx), acc, layer)
        need = np.take(need, idx, axis=2)
    return idx, _evaluate(layer, acc, geo, wf, need, cap)


def _evaluate(layer: Layer, acc: Accelerator, geo: TileGeometry, wf: WeightFormat,
              need: np.ndarray, cap: np.ndarray) -> BatchCost:
    """`evaluate`'s steps for a layer already as the array sees it, its candidates'
    tiles and their capacity needs."""
    c = geo.cand
    L, M = len(acc.levels), len(c)
    active = np.ones((L + 1, M), dtype=np.int64)
    for li in range(L):
        active[li + 1] = active[li] * geo.sf[li].prod(axis=0) if li in geo.sf else active[li]
    ctx = _Context(layer, acc, c, geo, wf,
                   {x: layer.operand_bits(x) for x in OPERANDS}, acc.partial_sum_bits,
                   active, geo.tf.prod(axis=(0, 1)))
    t = _traffic(ctx)
    t = _generated_padding(ctx, t)
    t = _run_length_coding(ctx, t)
    t = _skipping(ctx, t)
    t = _gating(ctx, t)
    counts, energy, total = _energy(ctx, t)
    counts, energy, total, rebuild_cycles = _rebuild(ctx, t, counts, energy, total)
    return _latency(ctx, t, counts, energy, total, rebuild_cycles, need, cap)


@dataclass
class _LevelLoops:
    """Per level and operand, the facts about its temporal loops the counts need (the
    innermost level has rel_prod only, the rest None: its only child is the MAC)."""

    all_prod: np.ndarray | None      # product of every factor at the level
    rel_prod: np.ndarray             # product of the factors of dims indexing the operand
    has_rel: np.ndarray | None       # some indexing dim has a factor > 1
    counted: np.ndarray | None       # all_prod without the stationary run (when has_rel)
    step_dim: np.ndarray | None      # inputs only: P or Q when the innermost indexing loop
    step_f: np.ndarray | None        # with a factor > 1 is over P or Q (else -1), its factor


def fits(layer: Layer, acc: Accelerator, c: Candidates) -> np.ndarray:
    """(M,) `evaluate(...).fits` alone: every bounded partition holds its tiles (the
    capacity rule, `capacity_need`), at a fraction of a full evaluation's cost, so a
    search scores only the mappings that fit."""
    layer = array_layer(layer, acc)
    geo = TileGeometry.of(c, acc, layer)
    return _fitting(*capacity_need(geo, acc, weight_format(layer, acc).bits_at))


def _fitting(need: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """(M,) every partition's need (L, P, M) within its capacity (L, P)."""
    return np.asarray((need <= cap[:, :, None]).all(axis=(0, 1)))


def _level_loops(geo: TileGeometry) -> dict[tuple[int, str], _LevelLoops]:
    tf, lps = geo.tf, geo.loops
    L, _, M = tf.shape
    out = {}
    positions = geo.cand.loop_positions()                        # (L, 8, M) int8
    for li in range(L):
        f = tf[li]                                               # (8, M)
        # only the dims whose factor may exceed 1 at this level take part (a factor of
        # 1 multiplies nothing, and its loop position is -1 in `pb`)
        varies = lps.varies[li]
        if li == L - 1:
            # the innermost level's only child is the MAC, for which every loop counts
            for x in OPERANDS:
                out[(li, x)] = _LevelLoops(None, _row_prod(f, _REL_IDX[x], varies, M),
                                           None, None, None, None)
            continue
        all_prod = _row_prod(f, np.arange(8), varies, M)
        pos = positions[li]
        pb = lps.big(li)                                         # -1 where factor 1
        for x in OPERANDS:
            ri = _REL_IDX[x][varies[_REL_IDX[x]]]
            ii = _IRR_IDX[x][varies[_IRR_IDX[x]]]
            if not len(ri):     # no indexing loop with a factor > 1: nothing counts
                one = np.ones(M, dtype=np.int64)
                out[(li, x)] = _LevelLoops(all_prod, one, np.zeros(M, dtype=bool), one,
                                           np.full(M, -1, dtype=np.int64) if x == "I"
                                           else None, one if x == "I" else None)
                continue
            # position of the innermost indexing loop with a factor > 1 (-1: none)
            inner_pos = pb[ri[0]]
            for d in ri[1:]:
                inner_pos = np.maximum(inner_pos, pb[d])
            has = inner_pos >= 0
            rel = _row_prod(f, ri, None, M)
            # the non-indexing loops outside the innermost indexing one count; those
            # inside it are the stationary run
            counted = rel
            for d in ii:
                counted = counted * np.where(pos[d] > inner_pos, 1, f[d])
            step_dim = step_f = None
            if x == "I":
                on_p, on_q = has & (pb[_P] == inner_pos), has & (pb[_Q] == inner_pos)
                step_dim = np.where(on_p, _P, np.where(on_q, _Q, -1))
                step_f = np.where(on_p, f[_P], np.where(on_q, f[_Q], 1))
            out[(li, x)] = _LevelLoops(all_prod, rel, has, np.where(has, counted, 1),
                                       step_dim, step_f)
    return out


def _row_prod(f: np.ndarray, rows: np.ndarray, varies: np.ndarray | None,
              M: int) -> np.ndarray:
    """(M,) product of rows `rows` of f (only those `varies` marks, when given)."""
    if varies is not None:
        rows = rows[varies[rows]]
    if not len(rows):
        return np.ones(M, dtype=np.int64)
    out = f[rows[0]]
    for d in rows[1:]:
        out = out * f[d]
    return out


def _fill_events(loops, x: str, child: int, M: int):
    """Fill events V and distinct tiles D of the child `child` levels down, and for the
    inputs the (dim, factor) of the P or Q loop whose steps cause the events (dim -1
    where the events come from another loop or none; None for W and O)."""
    V = np.ones(M, dtype=np.int64)
    D = np.ones(M, dtype=np.int64)
    going = np.ones(M, dtype=bool)
    track = x == "I"
    step_dim: np.ndarray | None = np.full(M, -1, dtype=np.int64) if track else None
    step_f: np.ndarray | None = np.ones(M, dtype=np.int64) if track else None
    for li in range(child - 1, -1, -1):
        lp = loops[(li, x)]
        D *= lp.rel_prod
        # once an indexing loop has been passed every loop counts; before, the
        # stationary run of non-indexing loops is skipped
        V *= np.where(going, lp.counted, lp.all_prod)
        if track:
            assert step_dim is not None and step_f is not None   # set when tracking
            stop_here = going & lp.has_rel
            step_dim = np.where(stop_here, lp.step_dim, step_dim)
            step_f = np.where(stop_here, lp.step_f, step_f)
        going &= ~lp.has_rel
    return V, D, step_dim, step_f


def _sliding_fills(V, step_dim, step_f, tile, fp, layer: Layer):
    """Input words moved for V fills of a tile when steps along P or Q fetch only the
    new rows/columns of the window (the first step of every sweep fetches it whole)."""
    out = V * fp
    stepping = step_f > 1
    if not stepping.any():
        return out
    base = tile[_N] * tile[_G] * tile[_C]
    h, w = window_extents(tile, layer)
    for d, (sd, dd, ri), ext, other in ((_P, (layer.stride_h, layer.dilation_h, _R), h, w),
                                        (_Q, (layer.stride_w, layer.dilation_w, _S), w, h)):
        sel = (step_dim == d) & stepping
        if not sel.any():
            continue
        t, r = tile[d], tile[ri]
        # only a gap-free window shares rows with its shifted self
        contiguous = (((dd == 1) | (r == 1)) & ((sd <= r) | (t == 1))) | ((sd == 1) & (t >= dd))
        new = np.where(contiguous, np.minimum(ext, t * sd), ext)
        sel &= new < ext
        slab = base * other            # the footprint per row (column) of the window
        halo = (V // step_f) * (fp + (step_f - 1) * slab * new)
        out = np.where(sel, halo, out)
    return out


def _add(store: dict, key, val) -> None:
    store[key] = store[key] + val if key in store else val


def _traffic(ctx: _Context) -> _Traffic:
    """The access counts of every (level, operand, action) and the words crossing every
    fan-out, by the counting rules of the module docstring."""
    layer, acc, geo, wf, active = ctx.layer, ctx.acc, ctx.geo, ctx.wf, ctx.active
    c, M, L = ctx.cand, ctx.M, len(acc.levels)
    bits, psum_bits, sf, tiles = ctx.bits, ctx.psum_bits, geo.sf, geo.tiles
    counts: dict[Action, np.ndarray] = {}
    granule: dict[Action, np.ndarray] = {}
    net_dist: dict[tuple[int, str, str], tuple[np.ndarray, int]] = {}
    net_words: dict[tuple[int, str], np.ndarray] = {}
    net_bits: dict[tuple[int, str], float] = {}
    net_parent: dict[tuple[int, str], int] = {}
    red_words: dict[int, np.ndarray] = {}
    rebuilt = None
    passes = np.ones(M, dtype=np.int64)
    pass_level = _pass_level(acc, c)
    # (with no passes declared pass_level is -1, which no child level equals)
    stationary = acc.passes.stationary if acc.passes is not None else None
    loops = _level_loops(geo)
    ext_cache: dict[tuple[int, int], np.ndarray] = {}
    for x in OPERANDS:
        holders = [li for li in range(L) if c.keep[li, OPERANDS.index(x)]]
        chain = holders + [L]
        for p, ch in zip(chain[:-1], chain[1:], strict=True):
            if ch == L:  # the MAC has no storage: every loop counts
                V = ctx.compute_cycles
                D = np.ones(M, dtype=np.int64)
                for li in range(L):
                    D = D * loops[(li, x)].rel_prod
                step_dim = step_f = None
            else:
                V, D, step_dim, step_f = _fill_events(loops, x, ch, M)
            child_tile = tiles[ch]
            if (p, ch) not in ext_cache:   # shared by the operands with the same pair
                between = spatial_between(sf, p, ch)
                ext_cache[(p, ch)] = child_tile if between is None else child_tile * between
            ext_tile = ext_cache[(p, ch)]
            fp_child = geo.footprint(x, ch)
            same = ext_tile is child_tile     # no fan-out between parent and child
            fp_ext = fp_child if same else footprint(x, ext_tile, layer)
            inst_p, inst_c = active[p], active[ch]
            fanouts = [li for li in range(p, ch) if acc.levels[li].fanout_dims]
            multicast = all(_network(acc.levels[li]).multicast for li in fanouts)
            pname = acc.levels[p].name
            if ch == pass_level and x == stationary:
                passes = V
            xb = ctx.xbits(x, p)
            if x in ("W", "I"):
                if x == "I" and step_dim is not None and (
                        ch == L or acc.levels[ch].sliding_window_reuse):
                    moved_child = _sliding_fills(V, step_dim, step_f, child_tile, fp_child,
                                                 layer)
                    moved_ext = moved_child if same else _sliding_fills(
                        V, step_dim, step_f, ext_tile, fp_ext, layer)
                else:
                    moved_child = V * fp_child
                    moved_ext = moved_child if same else V * fp_ext
                delivered = moved_child * inst_c
                _add(counts, Action(pname, x, "read"),
                     moved_ext * inst_p if multicast else delivered)
                _granule(granule, Action(pname, x, "read"),
                         fp_ext if multicast else fp_child, xb, acc.levels[p])
                if ch < L:
                    _add(counts, Action(acc.levels[ch].name, x, "fill"), delivered)
                    _granule(granule, Action(acc.levels[ch].name, x, "fill"), fp_child,
                             ctx.xbits(x, ch), acc.levels[ch])
                if fanouts:
                    _network_words(net_dist, acc, geo, x, p, ch, fanouts,
                                   (moved_ext * inst_p if multicast else delivered) * xb,
                                   None, active)
                if x == "W" and wf.kind == "rebuild" and wf.compressed_to in \
                        acc.memory_levels(p):   # the rebuild memory, at any boundary
                    rebuilt = delivered
                for li in fanouts:
                    _add(net_words, (li, x), delivered)
                    net_bits[(li, x)] = xb
                    net_parent[(li, x)] = p
            else:
                R = V - D
                # one read per distinct partial sum: children that share it reduce
                # spatially, and only the head of the reduction takes it back
                _add(counts, Action(pname, x, "read"), R * fp_ext * inst_p)
                _add(counts, Action(pname, x, "update"), V * fp_ext * inst_p)
                for a in ("read", "update"):
                    _granule(granule, Action(pname, x, a), fp_ext, psum_bits, acc.levels[p])
                if ch < L:
                    cname = acc.levels[ch].name
                    _add(counts, Action(cname, x, "fill"), R * fp_ext * inst_p)
                    _add(counts, Action(cname, x, "drain"), V * fp_child * inst_c)
                    _granule(granule, Action(cname, x, "fill"), fp_ext, psum_bits,
                             acc.levels[ch])
                    _granule(granule, Action(cname, x, "drain"), fp_child, psum_bits,
                             acc.levels[ch])
                if fanouts:
                    _network_words(net_dist, acc, geo, x, p, ch, fanouts,
                                   R * fp_ext * inst_p * psum_bits,
                                   V * fp_ext * inst_p * psum_bits, active)
                for li in fanouts:
                    _add(net_words, (li, x), (V + R) * fp_ext * inst_p)
                    net_bits[(li, x)] = bits[x]
                    net_parent[(li, x)] = p
                if fanouts:
                    n_children = active[ch] // active[p]
                    merged = V * (fp_child * n_children - fp_ext) * inst_p
                    _add(red_words, fanouts[-1], merged)
    return _Traffic(counts=counts, granule=granule, net_dist=net_dist, net_words=net_words,
                    net_bits=net_bits, net_parent=net_parent, red_words=red_words,
                    passes=passes, rebuilt=rebuilt)



def _scaled(counts: dict[Action, np.ndarray], key: Action, frac: float) -> None:
    counts[key] = np.ceil(counts[key] * frac).astype(np.int64)


def _generated_padding(ctx: _Context, t: _Traffic) -> _Traffic:
    """Zero padding generated on chip: the outermost level's input reads scaled by the
    share of the padded window that is real data."""
    key = Action(ctx.acc.levels[0].name, "I", "read")
    pad = _padding_frac(ctx.layer) if ctx.acc.padding == "generated" else 1.0
    if pad >= 1.0 or key not in t.counts:
        return t
    counts = dict(t.counts)
    _scaled(counts, key, pad)
    return replace(t, counts=counts)


def _run_length_coding(ctx: _Context, t: _Traffic) -> _Traffic:
    """Run-length coded feature maps: a level with `run_length_coding` reads compressed inputs and
    writes finished outputs compressed (partial-sum spills are not)."""
    layer, bits = ctx.layer, ctx.bits
    if all(lvl.run_length_coding is None for lvl in ctx.acc.levels):
        return t
    counts, finals = dict(t.counts), dict(t.finals)
    final_outputs = layer.operand_elements("O")
    for lvl in ctx.acc.levels:
        if lvl.run_length_coding is None:
            continue
        key = Action(lvl.name, "I", "read")
        if key in counts:
            _scaled(counts, key, lvl.run_length_coding.ratio(layer.input_zero_frac, bits["I"]))
        key = Action(lvl.name, "O", "update")
        if key in counts:
            # the last write of every output is a finished feature map
            r = lvl.run_length_coding.ratio(layer.output_zero_frac, bits["O"])
            finals[key] = int(np.ceil(final_outputs * r))
            counts[key] = counts[key] - final_outputs + finals[key]
    return replace(t, counts=counts, finals=finals)


def _skipping(ctx: _Context, t: _Traffic) -> _Traffic:
    """Skipped zeros keep `keep_frac` of the work (the rules in the module docstring)."""
    acc, wf, c = ctx.acc, ctx.wf, ctx.cand
    keep = wf.keep_frac
    if keep >= 1.0:
        return t
    L = len(acc.levels)
    feeder = next((i for i, lvl in enumerate(acc.levels) if lvl.fanout_dims), L)
    # the memory feeding the array, at whichever of its tile boundaries an operand sits
    feeding = set(acc.memory_levels(feeder)) if feeder < L else set()
    o_inner = max(li for li in range(L) if c.keep[li, OPERANDS.index("O")])
    counts = dict(t.counts)
    for key in list(counts):
        li = acc.level_index(key.where)
        x, action = key.operand, key.kind
        if x == "O":  # outputs are all produced; only the MAC's accumulations go
            scaled = li == o_inner and action in ("read", "update")
        elif x == "W" and li <= wf.compressed_to:
            scaled = False  # the stored form already holds only what is kept
        else:
            # off-chip reads are not skipped: compressed feature maps are RLC
            scaled = li > feeder or (0 < li and li in feeding and action == "read")
        if scaled:
            _scaled(counts, key, keep)
    net_words, net_dist = dict(t.net_words), dict(t.net_dist)
    for (li, x), n in t.net_words.items():
        if x != "O" and t.net_parent[(li, x)] > 0 and (x == "I" or (
                x == "W" and t.net_parent[(li, x)] > wf.compressed_to)):
            net_words[(li, x)] = np.ceil(n * keep).astype(np.int64)
            if (li, x, "down") in net_dist:
                b, ch = net_dist[(li, x, "down")]
                net_dist[(li, x, "down")] = (b * keep, ch)
    return replace(t, counts=counts, net_words=net_words, net_dist=net_dist)


def _gating(ctx: _Context, t: _Traffic) -> _Traffic:
    """Gating zero inputs (weights) removes that share of the innermost weight (input)
    reads (and of the MAC energy, in `_energy`), not cycles."""
    acc, wf, c = ctx.acc, ctx.wf, ctx.cand
    counts = t.counts
    for x, frac in (("W", wf.gate_input_frac), ("I", wf.gate_weight_frac)):
        inner = [li for li in range(len(acc.levels)) if c.keep[li, OPERANDS.index(x)]]
        key = Action(acc.levels[inner[-1]].name, x, "read") if inner else None
        if frac < 1.0 and key in counts:
            if counts is t.counts:
                counts = dict(counts)
            _scaled(counts, key, frac)
    return t if counts is t.counts else replace(t, counts=counts)



def _energy(ctx: _Context, t: _Traffic):
    """Energy of every counted action, the MAC's and idle slots' included: (counts with
    the network, MAC and index-share rows added, energy per action, total (M,))."""
    layer, acc, wf, bits, psum_bits = ctx.layer, ctx.acc, ctx.wf, ctx.bits, ctx.psum_bits
    final_outputs = layer.operand_elements("O")
    counts = dict(t.counts)
    energy: dict[Action, np.ndarray] = {}
    total = np.zeros(ctx.M, dtype=np.float64)
    for key, n in t.counts.items():
        lname, x, action = key
        li = acc.level_index(lname)
        lvl = acc.levels[li]
        part = lvl.partition_of(x)
        assert part is not None   # an operand is counted only at a level that stores it
        e = part.read_energy_pj if action in ("read", "drain") else part.write_energy_pj
        xbits = ctx.stored_bits(x, li)
        en = n * ((xbits / lvl.word_bits) * e)
        if x == "O" and action in ("update", "drain") and psum_bits != bits["O"]:
            # every output's last write is a finished value at output precision
            fin = np.minimum(n, t.finals.get(key, final_outputs))
            en = en + fin * ((bits["O"] - psum_bits) / lvl.word_bits * e)
        if x == "W" and li <= wf.compressed_to and wf.index_frac > 0:
            ikey = Action(lname, "W_index", action)
            energy[ikey] = en * wf.index_frac
            counts[ikey] = n
            en = en * (1.0 - wf.index_frac)
            total += energy[ikey]
        energy[key] = en
        total += en
    for (li, x), n in t.net_words.items():
        lvl = acc.levels[li]
        key = Action(lvl.name, x, "network")
        counts[key] = n
        nb = t.net_bits[(li, x)] if x != "O" else psum_bits
        net = _network(lvl)
        energy[key] = n * (nb * net.transfer_energy_pj_per_bit)
        if x == "O" and psum_bits != bits["O"]:
            energy[key] = energy[key] + final_outputs * (
                (bits["O"] - psum_bits) * net.transfer_energy_pj_per_bit)
        total += energy[key]
    for li, n in t.red_words.items():
        lvl = acc.levels[li]
        key = Action(lvl.name, "O", "spatial_reduce")
        counts[key] = n
        energy[key] = n * (psum_bits * _network(lvl).reduction_energy_pj_per_bit)
        total += energy[key]
    macs, keep = layer.macs, wf.keep_frac
    run_macs = int(np.ceil(macs * keep))
    idle = np.ceil((ctx.compute_cycles * acc.num_pes - macs) * keep).astype(np.int64)
    if acc.bit_serial is not None:
        digits = layer.nonzero_bit_frac * bits["I"]
        mac_e = digits * acc.bit_serial.term_energy_pj
    else:
        mac_e = acc.mac.energy_pj(max(bits["W"], bits["I"]))
    mac_e *= wf.gate_frac
    counts[Action("MAC", "-", "mac")] = np.full(ctx.M, run_macs, dtype=np.int64)
    counts[Action("MAC", "-", "idle")] = idle
    energy[Action("MAC", "-", "mac")] = np.full(ctx.M, run_macs * mac_e)
    energy[Action("MAC", "-", "idle")] = idle * acc.mac.idle_energy_pj
    total += run_macs * mac_e + idle * acc.mac.idle_energy_pj
    return counts, energy, total


def _rebuild(ctx: _Context, t: _Traffic, counts, energy, total):
    """The rebuild engines' (or a sparse design's index) work and energy, and the
    rebuild-throughput bound in cycles (0 without engines)."""
    acc, wf, layer = ctx.acc, ctx.wf, ctx.layer
    rebuild_cycles = np.zeros(ctx.M)
    if t.rebuilt is not None:
        counts, energy, total = dict(counts), dict(energy), total.copy()
        rb, enc = acc.rebuild, layer.encoding
        assert rb is not None   # weights are rebuilt only by a design's rebuild engines
        built = t.rebuilt * wf.keep_weight_frac
        for key, n, e in (
                (Action("REBUILD", "W", "shift_add"), t.rebuilt * enc.rebuild_ops_per_weight,
                 rb.shift_add_energy_pj),
                (Action("REBUILD", "W", "basis_load"),
                 t.rebuilt * (enc.basis_bits / max(enc.dense_weights, 1)),
                 rb.basis_load_energy_pj_per_bit),
                (Action("INDEX", "W", "lookup"), t.rebuilt, rb.index_energy_pj_per_weight)):
            counts[key] = np.ceil(n).astype(np.int64)
            energy[key] = n * e
            total += energy[key]
        child = acc.weight_child(wf.compressed_to)
        at_once = rb.engines_per_instance // (2 if rb.ping_pong else 1)
        rebuild_cycles = built / (ctx.active[child] * at_once * rb.weights_per_cycle)
    elif wf.kind == "sparse" and acc.sparsity.index_energy_pj_per_weight > 0:
        counts, energy, total = dict(counts), dict(energy), total.copy()
        run_macs = int(np.ceil(layer.macs * wf.keep_frac))
        key = Action("INDEX", "W", "lookup")
        counts[key] = np.full(ctx.M, run_macs, dtype=np.int64)
        energy[key] = np.full(ctx.M, run_macs * acc.sparsity.index_energy_pj_per_weight)
        total += energy[key]
    return counts, energy, total, rebuild_cycles



def _latency(ctx: _Context, t: _Traffic, counts, energy, total, rebuild_cycles,
             need, cap) -> BatchCost:
    """Latency by the rule of the module docstring, and the finished `BatchCost`."""
    layer, acc, wf, bits = ctx.layer, ctx.acc, ctx.wf, ctx.bits
    compute_cycles = ctx.compute_cycles
    run_cycles = compute_cycles.astype(np.float64)
    if wf.keep_frac < 1.0:
        run_cycles = np.ceil(run_cycles * wf.keep_frac)
    if acc.bit_serial is not None:
        run_cycles = np.ceil(run_cycles * layer.nonzero_bit_frac * bits["I"]
                             * acc.bit_serial.sync_factor)
    pass_cycles = np.zeros(ctx.M) if acc.passes is None else \
        t.passes * acc.passes.fill_drain_cycles(acc.array_shape)
    ports, stall = _port_cycles(ctx, counts, t)
    fill_drain = _prologue(ctx)
    busy = np.maximum(run_cycles, rebuild_cycles) + pass_cycles + stall + fill_drain
    cycles = busy
    for v in ports.values():
        cycles = np.maximum(cycles, v)
    macs = layer.macs
    return BatchCost(
        counts=counts, energy_pj=energy, total_energy_pj=total, cycles=cycles,
        compute_cycles=compute_cycles, run_cycles=run_cycles, rebuild_cycles=rebuild_cycles,
        passes=t.passes, pass_cycles=pass_cycles, stall_cycles=stall,
        fill_drain_cycles=fill_drain, busy_cycles=busy, port_cycles=ports,
        utilisation=macs / (compute_cycles * acc.num_pes),
        fits=_fitting(need, cap), tile_bytes=need,
        capacity_bytes=cap, macs=macs, run_macs=int(np.ceil(macs * wf.keep_frac)),
        idle_mac_slots=counts[Action("MAC", "-", "idle")], geometry=ctx.geo)


def _active_pes(geo: TileGeometry) -> np.ndarray:
    """PEs with at least one unpadded iteration: per fan-out level and dim, spatial
    position s is live when its first index s x (extent below) is inside the dim."""
    tiles, sf = geo.tiles, geo.sf
    dims = np.array([getattr(geo.layer, d) for d in DIMS])[:, None]
    active = np.ones(tiles.shape[2], dtype=np.int64)
    for li in sorted(sf):
        live = np.minimum(sf[li], -(-dims // np.maximum(tiles[li + 1], 1)))
        active *= live.prod(axis=0)
    return active


def _network(lvl: MemoryLevel) -> Network:
    """The network beneath a fan-out level (a level with fanout_dims has one)."""
    assert lvl.network is not None
    return lvl.network


def _pass_level(acc: Accelerator, c: Candidates) -> int:
    """The level whose stationary-operand fill events are the array's passes: the
    outermost level below the first fan-out that keeps it (-1: no passes declared, or
    the mapping keeps it nowhere there, so the whole layer is one pass)."""
    if acc.passes is None:
        return -1
    xi = OPERANDS.index(acc.passes.stationary)
    feeder = next(i for i, lvl in enumerate(acc.levels) if lvl.fanout_dims)
    for li in range(feeder + 1, len(acc.levels)):
        if c.keep[li, xi]:
            return li
    return -1


def _granule(out: dict, key: Action, fp: np.ndarray, xbits: float, lvl) -> None:
    """Access granularity: a transfer of `fp` elements takes whole words of the level
    (ceil(fp x bits / word_bits) accesses); store accesses x word / (fp x bits) >= 1
    under `key` when the level's partition for the operand has a bounded port."""
    part = lvl.partition_of(key.operand)
    if part is None or not part.bounded or xbits <= 0 or xbits % lvl.word_bits == 0:
        return    # whole words per element: no transfer is narrower than a word
    tb = fp * float(xbits)
    out[key] = np.ceil(tb / lvl.word_bits) * lvl.word_bits / np.maximum(tb, 1e-300)


def _network_words(net_dist, acc: Accelerator, geo: TileGeometry, x: str, p: int,
                   ch: int, fanouts: list[int], down_bits: np.ndarray,
                   up_bits: np.ndarray | None, active: np.ndarray) -> None:
    """Record the bits crossing each fan-out between p and ch whose network declares a
    width for `x`: at the first fan-out the words leaving the parent (a multicast word
    once); at a deeper one the same scaled to the distinct footprint at its level."""
    base = None
    sf, tiles, layer = geo.sf, geo.tiles, geo.layer
    for li in fanouts:
        if _network(acc.levels[li]).width(x) is None:
            continue
        scale = 1.0
        if li != fanouts[0]:
            if base is None:
                ext = spatial_between(sf, p, ch)
                base = footprint(x, tiles[ch] * ext, layer) * active[p]
            ext = spatial_between(sf, li, ch)
            scale = footprint(x, tiles[ch] * ext, layer) * active[li] / base
        net_dist[(li, x, "down")] = (down_bits * scale, ch)
        if up_bits is not None:
            net_dist[(li, x, "up")] = (up_bits * scale, ch)


def _padding_frac(layer: Layer) -> float:
    """Share of the touched input window that is real data, not zero padding.

    The window spans ``input_h`` padded rows from the top padding on; the layer does
    not store the unpadded height H, so it is taken as the larger of ``input_h - 2
    pad`` (both paddings touched, exact at stride 1) and ``min(input_h - pad, P x
    stride)`` (a strided window that stops before the bottom padding, exact for the
    usual ``P = ceil(H / stride)``). Real rows touched = min(H, input_h - pad)."""
    def real(extent: int, pad: int, out: int, stride: int) -> int:
        h = max(extent - 2 * pad, min(extent - pad, out * stride))
        return max(min(h, extent - pad), 1)

    h, w = layer.input_h, layer.input_w
    hu = real(h, layer.pad_h, layer.P, layer.stride_h)
    wu = real(w, layer.pad_w, layer.Q, layer.stride_w)
    return min(1.0, (hu * wu) / (h * w))


def _port_cycles(ctx: _Context, counts: dict[Action, np.ndarray],
                 t: _Traffic) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Cycles each port is busy, by name, and the stalls of single-buffered partitions.

    A partition's port moves its accesses' bits (rounded up to whole words per
    transfer, `granule`) per instance: one shared port takes reads and writes together,
    separate ports each their own. A network with a width moves its distinct bits per
    direction. A single-buffered partition cannot refill or write back while its PEs
    compute: those transfers are stalls, each taking the longer of its own port and the
    network that carries it, and are left out of its port's overlapped time.
    """
    acc, M, active = ctx.acc, ctx.M, ctx.active
    ports: dict[str, np.ndarray] = {}
    stall = np.zeros(M)
    refill_net: dict[tuple[int, str], np.ndarray] = {}   # (child level, operand) -> cycles
    for (li, x, direction), (b, ch) in t.net_dist.items():
        lvl = acc.levels[li]
        width = _network(lvl).width(x)
        assert width is not None   # net_dist holds only the networks with a width for x
        tx = b / width
        arrow = "down" if direction == "down" else "up"
        ports[f"{lvl.name} network {x} {arrow}"] = tx
        if ch < len(acc.levels):
            k = (ch, x)
            refill_net[k] = np.maximum(refill_net[k], tx) if k in refill_net else tx
    # per memory partition: bits read, written, and read or written by single-buffered
    # stalls (None until some action adds to it; adding to zeros would give the same)
    moved_bits: dict[tuple[int, int], list[np.ndarray | None]] = {}
    for li, lvl in enumerate(acc.levels):
        # every tile boundary of one memory moves its data through the memory's ports
        head = acc.memory_head(li)
        for pi, part in enumerate(lvl.partitions):
            if not part.bounded:
                continue
            sums = moved_bits.setdefault((head, pi), [None, None, None, None])
            for x in part.operands:
                xb = float(ctx.stored_bits(x, li))
                for a in ACTIONS:
                    key = Action(lvl.name, x, a)
                    n = counts.get(key)
                    if n is None:
                        continue
                    g = t.granule.get(key)
                    moved = n * xb if g is None else n * xb * g
                    stalls = not part.double_buffered and a in ("fill", "drain")
                    i = (0 if a in ("read", "drain") else 1) + (2 if stalls else 0)
                    prev = sums[i]
                    sums[i] = moved if prev is None else prev + moved
    zero = np.zeros(M)
    for (li, pi), sums in moved_bits.items():
        rd, wr, srd, swr = (zero if v is None else v for v in sums)
        lvl, part = acc.levels[li], acc.levels[li].partitions[pi]
        inst = active[li]
        name = f"{lvl.name}[{','.join(part.operands)}]"
        if part.separate_ports:
            # separate ports have both bandwidths (the loader requires both keys)
            assert part.read_bandwidth_bytes_per_cycle is not None
            assert part.write_bandwidth_bytes_per_cycle is not None
            rb = 8.0 * part.read_bandwidth_bytes_per_cycle * inst
            wb = 8.0 * part.write_bandwidth_bytes_per_cycle * inst
            ports[f"{name} read port"] = rd / rb
            ports[f"{name} write port"] = wr / wb
        else:
            assert part.bandwidth_bytes_per_cycle is not None   # only bounded ones are here
            bw = 8.0 * part.bandwidth_bytes_per_cycle * inst
            ports[f"{name} port"] = (rd + wr) / bw
        if not part.double_buffered:
            # its refills and write-backs stop the MACs (only a single-buffered one's)
            own = np.maximum(srd / rb, swr / wb) if part.separate_ports else (srd + swr) / bw
            for gl in acc.memory_levels(li):
                for x in part.operands:
                    if (gl, x) in refill_net:
                        own = np.maximum(own, refill_net[(gl, x)])
            stall += own
    return ports, stall


def _prologue(ctx: _Context) -> np.ndarray:
    """Cycles no compute overlaps: loading the first tile of every on-chip level from
    its parent and writing the last output tile back, at the parent's port (read port
    for W and I, write port for O; one child tile per active child instance)."""
    acc, c, active = ctx.acc, ctx.cand, ctx.active
    out = np.zeros(ctx.M)
    L = len(acc.levels)
    for xi, x in enumerate(OPERANDS):
        holders = [li for li in range(L) if c.keep[li, xi]]
        for p, ch in zip(holders[:-1], holders[1:], strict=True):
            part = acc.levels[p].partition_of(x)
            assert part is not None   # p keeps x, so it stores it
            if part.separate_ports:
                bw = part.write_bandwidth_bytes_per_cycle if x == "O" else \
                    part.read_bandwidth_bytes_per_cycle
            else:
                bw = part.bandwidth_bytes_per_cycle
            if bw is None:
                continue
            xbits = ctx.stored_bits(x, p)
            out += ctx.geo.footprint(x, ch) * (xbits / 8.0 / bw) * active[ch] / active[p]
    return out
