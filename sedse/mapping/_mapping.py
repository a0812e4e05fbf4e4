"""Loop-nest mappings and their vectorised form.

A `Mapping` gives, per memory level (outermost first), the temporal tile factors in loop
order (outer loop first) and, for a level with a fan-out, the spatial factors per array
axis. The nest it describes is::

    for <DRAM temporal loops>            # level 0
      for <GLB temporal loops>           # level 1
        parallel-for <spatial loops of the GLB's fan-out axes>
          for <RF temporal loops>        # level 2, one instance per PE
            MAC

The tile a level holds is everything inside its own temporal loops: its temporal
factors, every inner level's temporal factors and every spatial factor at or below it.
Per dim, the product of all factors must cover the layer's size; a product above the
size pads the dim (counted as idle MAC slots and as padded tiles).

YAML notation (one entry per layer name; levels not given have all factors 1)::

    conv1:
      DRAM: {temporal: "K2 P5"}                    # loop order = written order
      GLB:  {temporal: "C3", spatial: {rows: "R11", cols: "P11"}}
      RF:   {temporal: "S11 K48 Q55", keep: [W, I, O]}

`keep` overrides which operands a level holds (bypass the others) for that layer.
`Candidates` is the same information as integer arrays over M candidate mappings; it is
what the cost model evaluates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sedse._yaml import MAX_INT, Node, load_yaml, short_number
from sedse.hardware import Accelerator
from sedse.workload import DIM_INDEX, DIMS, OPERANDS

_FACTOR_RE = re.compile(r"^([A-Z])(\d+)$")


@dataclass(frozen=True)
class LevelMapping:
    """Temporal loops (dim, factor) outer first; spatial (axis, ((dim, factor), ...))."""

    temporal: tuple[tuple[str, int], ...] = ()
    spatial: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()
    keep: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Mapping:
    levels: tuple[LevelMapping, ...]

    def to_text(self, acc: Accelerator) -> str:
        """Return the mapping in the YAML notation's one-line-per-level form."""
        out = []
        for lvl, lm in zip(acc.levels, self.levels, strict=True):
            t = " ".join(f"{d}{f}" for d, f in lm.temporal if f > 1) or "-"
            s = "; ".join(f"{a}: " + " ".join(f"{d}{f}" for d, f in fs if f > 1)
                          for a, fs in lm.spatial if any(f > 1 for _, f in fs))
            keep = "" if lm.keep is None else f" keep={','.join(lm.keep)}"
            out.append(f"{lvl.name}[{t}]" + (f" spatial[{s}]" if s else "") + keep)
        return " | ".join(out)


    def to_doc(self, acc: Accelerator) -> dict:
        """The mapping in the YAML notation (`mapping_from_node` reads it back equal):
        per level with any factor or a keep override, ``temporal`` (loop order as
        written, outer first), ``spatial`` per axis and ``keep``."""
        out: dict = {}
        for lvl, lm in zip(acc.levels, self.levels, strict=True):
            d: dict = {}
            if lm.temporal:
                d["temporal"] = " ".join(f"{dim}{f}" for dim, f in lm.temporal)
            sp = {a: " ".join(f"{dim}{f}" for dim, f in fs) for a, fs in lm.spatial if fs}
            if sp:
                d["spatial"] = sp
            if lm.keep is not None:
                d["keep"] = list(lm.keep)
            if d:
                out[lvl.name] = d
        return out


@dataclass(frozen=True)
class Candidates:
    """M candidate mappings of one layer as arrays (the cost model's input).

    tf: (M, L, 8) temporal factors; order: (M, L, 8) dim index of each loop, outer first;
    sf: (M, A, 8) spatial factors per array axis (axes in the accelerator's order);
    keep: (L, 3) bool, which operands each level holds (shared by the batch).
    """

    tf: np.ndarray
    order: np.ndarray
    sf: np.ndarray
    keep: np.ndarray
    #: (L, 8, M) int8 loop position of each dim (the inverse of `order`); derived on
    #: first use unless the builder already knows it
    positions: np.ndarray | None = field(default=None, compare=False, repr=False)
    #: (L, 8) bool: False only where every candidate's temporal factor of that dim at
    #: that level is 1 (True elsewhere, and may be True where all are 1: a builder that
    #: knows its options passes them; derived on first use otherwise). The cost model
    #: skips the rows that are False.
    varies: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return self.tf.shape[0]

    def take(self, idx) -> Candidates:
        # a subset's factors of 1 stay 1: the batch's `varies` holds for it too
        pos = None if self.positions is None else self.positions[:, :, idx]
        return Candidates(self.tf[idx], self.order[idx], self.sf[idx], self.keep, pos,
                          self.varies)

    def temporal_varies(self) -> np.ndarray:
        """(L, 8) bool: where some candidate may have a temporal factor > 1 (`varies`)."""
        if self.varies is None:
            object.__setattr__(self, "varies", (self.tf > 1).any(axis=0))
        assert self.varies is not None
        return self.varies

    def loop_positions(self) -> np.ndarray:
        """(L, 8, M) position of each dim in its level's loop order (0 = outermost)."""
        if self.positions is not None:
            return self.positions
        M, L, _ = self.order.shape
        pos = np.empty((L, 8, M), dtype=np.int8)
        rank = np.broadcast_to(np.arange(8, dtype=np.int8)[:, None], (8, M))
        for li in range(L):
            np.put_along_axis(pos[li], np.ascontiguousarray(self.order[:, li].T), rank,
                              axis=0)
        object.__setattr__(self, "positions", pos)
        return pos

    def mapping(self, i: int, acc: Accelerator) -> Mapping:
        """Return candidate `i` as a `Mapping` (factor-1 loops dropped)."""
        default_keep = default_keep_mask(acc)
        levels = []
        for li in range(len(acc.levels)):
            temporal = tuple((DIMS[int(d)], int(self.tf[i, li, d])) for d in self.order[i, li]
                             if self.tf[i, li, d] > 1)
            spatial = tuple(
                (a, tuple((DIMS[d], int(self.sf[i, ai, d])) for d in range(len(DIMS))
                          if self.sf[i, ai, d] > 1))
                for ai, a in enumerate(acc.array_axes) if acc.axis_level(a) == li)
            keep = None
            if not np.array_equal(self.keep[li], default_keep[li]):
                keep = tuple(x for xi, x in enumerate(OPERANDS) if self.keep[li, xi])
            levels.append(LevelMapping(temporal, spatial, keep))
        return Mapping(tuple(levels))


def default_keep_mask(acc: Accelerator) -> np.ndarray:
    """(L, 3) every level keeps what it stores; a memory with several tile boundaries
    (`same_memory_as`) keeps its operands at its first one."""
    return np.array([[x in lvl.operands and not lvl.same_memory_as for x in OPERANDS]
                     for lvl in acc.levels], dtype=bool)


def to_candidates(mappings: list[Mapping], acc: Accelerator) -> Candidates:
    """Stack mappings (all with the same keep pattern) into `Candidates`."""
    L, A, D = len(acc.levels), len(acc.array_axes), len(DIMS)
    M = len(mappings)
    tf = np.ones((M, L, D), dtype=np.int64)
    sf = np.ones((M, A, D), dtype=np.int64)
    order = np.tile(np.arange(D, dtype=np.int64), (M, L, 1))
    keep = default_keep_mask(acc)
    axes = {a: i for i, a in enumerate(acc.array_axes)}
    for m, mp in enumerate(mappings):
        for li, lm in enumerate(mp.levels):
            listed = [DIM_INDEX[d] for d, _ in lm.temporal]
            order[m, li] = listed + [d for d in range(D) if d not in listed]
            for d, f in lm.temporal:
                tf[m, li, DIM_INDEX[d]] *= f
            for a, fs in lm.spatial:
                for d, f in fs:
                    sf[m, axes[a], DIM_INDEX[d]] *= f
            if lm.keep is not None:
                k = np.array([x in lm.keep for x in OPERANDS])
                if m and not np.array_equal(keep[li], k):
                    raise ValueError("candidates of one batch must share their keep pattern")
                keep[li] = k
    # an operand kept at a further tile boundary of a memory leaves the memory's first
    # level, unless that level's own keep says otherwise
    for li, lvl in enumerate(acc.levels):
        if lvl.same_memory_as and mappings:
            head = acc.memory_head(li)
            if mappings[0].levels[head].keep is None:
                keep[head] &= ~keep[li]
    return Candidates(tf, order, sf, keep)


# --------------------------------------------------------------------------------------
# parsing the YAML notation

def _parse_factors(node: Node) -> tuple[tuple[str, int], ...]:
    """'K2 P5' or {K: 2, P: 5} -> (('K', 2), ('P', 5))."""
    v = node.value
    out: list[tuple[str, int]] = []
    if isinstance(v, str):
        for tok in v.replace(",", " ").split():
            m = _FACTOR_RE.match(tok)
            if not m or m.group(1) not in DIM_INDEX:
                raise node.error(f"expected factors like 'K4 C2' over dims {''.join(DIMS)}, "
                                 f"found {tok[:40]!r}")
            if len(m.group(2)) > 15:   # beyond any dim (and int() refuses 4300+ digits)
                raise node.error(f"factor of {m.group(1)} must be <= {MAX_INT} (no layer dim is "
                                 f"larger), found a {len(m.group(2))}-digit number")
            out.append((m.group(1), int(m.group(2))))
    elif isinstance(v, dict):
        for d, sub in node.items():
            if d not in DIM_INDEX:
                raise sub.error(f"unknown dim (expected one of {', '.join(DIMS)})")
            out.append((d, sub.as_int()))
    else:
        raise node.error("expected factors as a string 'K4 C2' or a mapping {K: 4, C: 2}")
    dims = [d for d, _ in out]
    if len(set(dims)) != len(dims):
        raise node.error("a dim appears twice at one level")
    for d, f in out:
        if f < 1:
            raise node.error(f"factor of {d} must be >= 1, found {f}")
        if f > MAX_INT:
            raise node.error(f"factor of {d} must be <= {MAX_INT} (no layer dim is larger), "
                             f"found {short_number(f)}")
    return tuple(out)


def mapping_from_node(node: Node, acc: Accelerator) -> Mapping:
    """Return the `Mapping` written at `node` (notation only; `check_structure` and
    `sedse.cost.check_mapping` check it against a layer)."""
    names = [lvl.name for lvl in acc.levels]
    node.check_keys(set(), set(names))
    levels = []
    for li, lvl in enumerate(acc.levels):
        if not node.has(lvl.name):
            levels.append(LevelMapping())
            continue
        ln = node.get(lvl.name)
        ln.check_keys(set(), {"temporal", "spatial", "keep"})
        temporal = _parse_factors(ln.get("temporal")) if ln.has("temporal") else ()
        spatial = []
        if ln.has("spatial"):
            sp = ln.get("spatial")
            for a, sub in sp.items():
                if a not in lvl.fanout_dims:
                    allowed = ", ".join(lvl.fanout_dims) or "none"
                    raise sub.error(f"axis {a!r} does not fan out under level {lvl.name} "
                                    f"(its axes: {allowed})")
                spatial.append((a, _parse_factors(sub)))
        keep = None
        if ln.has("keep"):
            kn = ln.get("keep")
            keep = kn.as_str_list()
            for x in keep:
                if x not in OPERANDS:
                    raise kn.error(f"expected operands among W, I, O, found {x!r}")
            if li == 0 and set(keep) != set(OPERANDS):
                raise kn.error("the outermost level must keep W, I and O")
            stored = set(lvl.operands)
            extra = [x for x in keep if x not in stored]
            if extra:
                raise kn.error(f"level {lvl.name} has no partition for {extra}")
        levels.append(LevelMapping(temporal, tuple(spatial), keep))
    return Mapping(tuple(levels))


def load_mappings(path: str | Path, acc: Accelerator) -> dict[str, tuple[Mapping, Node]]:
    """Return {layer name: (mapping, its YAML node)} from a mapping file."""
    root = load_yaml(path)
    out = {}
    for name, sub in root.items():
        out[name] = (mapping_from_node(sub, acc), sub)
    return out
