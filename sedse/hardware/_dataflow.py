"""Dataflows as constraints on the mapping space (declared in the accelerator YAML).

A dataflow does not change how costs are counted; it only narrows which mappings the
search may generate (Timeloop's view). Per array axis: which dims may unroll on it and
pinned factors; per memory level: which dims may have a temporal factor > 1, pinned
factors, an optional fixed loop order, and which operands the level keeps (bypass).

YAML (inside an accelerator file)::

    dataflow:
      name: row_stationary
      spatial:
        rows: {allow: [R, K, C, P], pin: {R: full}}
        cols: {allow: [P]}
      maximise_spatial: [P]     # unroll P as far as the free PEs allow (fold, strip-mine)
      unroll_whole_if_fits: [P] # P whole on the array when it fits, else any strip width
      im2col: false             # true: R x S x C flattened onto C (see `Dataflow.im2col`)
      levels:
        RF:  {allow: [S, C, K], pin: {S: full}}
        GLB: {keep: [I, O], order: "N K C P Q R S"}   # or may_bypass: [W] (searched)

``full`` pins a factor to the whole dim (what the spatial and inner factors leave of it).
Dims not listed under ``allow`` keep factor 1 there; omitted ``allow`` allows every dim.
``maximise_spatial`` lists dims whose total spatial factor must be as large as the
array allows after the pinned factors. ``unroll_whole_if_fits`` lists dims that must
unroll whole whenever the array can hold them whole (after the pinned factors; folded
over every axis that allows them), and may be strip-mined at any width only when they
cannot: the Eyeriss chip folds a PE set over more rows when E does not fit the
columns and strip-mines only when it does not fit at all (JSSC 2017 Table III: e = E on
CONV2-5, e = 7 of 55 on CONV1).
"""

from __future__ import annotations

from dataclasses import dataclass

from sedse._yaml import Node
from sedse.workload import DIMS, OPERANDS

FULL = -1  # pin value meaning "the whole remaining dim"


@dataclass(frozen=True)
class SlotConstraint:
    """Constraint on one spatial axis or one level's temporal loops."""

    allow: tuple[str, ...] = DIMS
    pin: tuple[tuple[str, int], ...] = ()   # (dim, factor or FULL)
    order: tuple[str, ...] | None = None    # fixed loop order, outer first (levels only)
    keep: tuple[str, ...] | None = None     # operands kept (levels only)
    # operands the search may also let bypass the level (levels only): keeping and
    # bypassing are both searched
    may_bypass: tuple[str, ...] = ()

    def pinned(self, dim: str) -> int | None:
        for d, f in self.pin:
            if d == dim:
                return f
        return None


@dataclass(frozen=True)
class Dataflow:
    name: str
    spatial: tuple[tuple[str, SlotConstraint], ...] = ()
    levels: tuple[tuple[str, SlotConstraint], ...] = ()
    maximise_spatial: tuple[str, ...] = ()
    unroll_whole_if_fits: tuple[str, ...] = ()
    # the array takes a convolution lowered to a matrix product: R x S x C flattened
    # onto one reduction dim, the input an im2col matrix (one row of R S C values per
    # output pixel, window overlaps duplicated), as a systolic array fed by im2col does
    im2col: bool = False

    def axis(self, name: str) -> SlotConstraint:
        return dict(self.spatial).get(name, SlotConstraint())

    def pinned_pes(self, axis: str, dims: dict[str, int], skip: str = "") -> int:
        """Product of the factors the dims (all but `skip`) are pinned to on `axis`."""
        n = 1
        for d, f in self.axis(axis).pin:
            if d != skip:
                n *= dims[d] if f == FULL else f
        return n

    def free_pes(self, axis: str, size: int, d: str, dims: dict[str, int]) -> int:
        """PEs of `axis` (`size` of them) that dim `d` may take: 1 where the axis does
        not allow it, its pin where pinned, else what the other dims' pins leave
        (`dims`: the layer's dim sizes)."""
        c = self.axis(axis)
        if d not in c.allow:
            return 1
        pin = c.pinned(d)
        if pin is not None:
            return dims[d] if pin == FULL else pin
        return size // self.pinned_pes(axis, dims, skip=d)

    def must_unroll_whole(self, d: str, dims: dict[str, int],
                          axes: tuple[tuple[str, int], ...]) -> bool:
        """True where `d` is listed in `unroll_whole_if_fits` and the array can hold it
        whole (`axes`: (name, PEs) per array axis)."""
        if d not in self.unroll_whole_if_fits:
            return False
        room = 1
        for a, size in axes:
            room *= self.free_pes(a, size, d, dims)
        return room >= dims[d]

    def level(self, name: str) -> SlotConstraint:
        return dict(self.levels).get(name, SlotConstraint())


def _dims(node: Node) -> tuple[str, ...]:
    dims = node.as_str_list()
    for i, d in enumerate(dims):
        if d not in DIMS:
            raise node.child(i).error(f"expected a dim among {' '.join(DIMS)}, found {d!r}")
    if len(set(dims)) != len(dims):
        raise node.error("a dim is listed twice")
    return dims


def _slot(node: Node, *, is_level: bool) -> SlotConstraint:
    node.check_keys(set(), {"allow", "pin", "order", "keep", "may_bypass"} if is_level
                    else {"allow", "pin"})
    allow = _dims(node.get("allow")) if node.has("allow") else SlotConstraint().allow
    pins = []
    if node.has("pin"):
        for d, sub in node.get("pin").items():
            if d not in DIMS:
                raise sub.error(f"unknown dim (expected one of {', '.join(DIMS)})")
            if sub.value == "full":
                pins.append((d, FULL))
            else:
                if isinstance(sub.value, str):
                    raise sub.error(f"expected an integer >= 1 or 'full', found {sub.value!r}")
                pins.append((d, sub.as_int()))
            if d not in allow:
                raise sub.error(f"dim {d} is pinned but not in 'allow'")
    order = None
    if node.has("order"):
        on = node.get("order")
        text = on.as_str()
        toks = tuple(text.replace(",", " ").split())
        for t in toks:
            if t not in DIMS:
                raise on.error(f"expected dims like 'K C P', found {t!r}")
        if len(set(toks)) != len(toks):
            raise on.error("a dim appears twice in the order")
        order = toks + tuple(d for d in DIMS if d not in toks)
    keep = None
    if node.has("keep"):
        kn = node.get("keep")
        keep = kn.as_str_list()
        for x in keep:
            if x not in OPERANDS:
                raise kn.error(f"expected operands among W, I, O, found {x!r}")
    bypass: tuple[str, ...] = ()
    if node.has("may_bypass"):
        bn = node.get("may_bypass")
        bypass = bn.as_str_list()
        for i, x in enumerate(bypass):
            if x not in OPERANDS:
                raise bn.child(i).error(f"expected an operand among W, I, O, found {x!r}")
            if keep is not None and x not in keep:
                raise bn.child(i).error(f"{x} is not kept here ('keep' lists "
                                        f"{', '.join(keep)}): it cannot also bypass")
    return SlotConstraint(tuple(allow), tuple(pins), order,
                          None if keep is None else tuple(keep), tuple(bypass))


def dataflow_from_node(node: Node, axes: dict[str, int], levels: list) -> Dataflow:
    """Return the `Dataflow` at `node`, checked against the array axes and levels."""
    node.check_keys({"name"}, {"spatial", "levels", "maximise_spatial",
                                  "unroll_whole_if_fits", "im2col"})
    name = node.get("name").as_str()
    spatial = []
    if node.has("spatial"):
        for a, sub in node.get("spatial").items():
            if a not in axes:
                raise sub.error(f"unknown array axis {a!r} (pe_array.shape has: "
                                f"{', '.join(axes)})")
            c = _slot(sub, is_level=False)
            for d, f in c.pin:
                if f != FULL and f > axes[a]:
                    raise sub.get("pin").get(d).error(
                        f"pins {d} to {f} but axis {a!r} has only {axes[a]} PEs (the dataflow "
                        "contradicts the array shape)")
            spatial.append((a, c))
    lvls = []
    by_name = {lvl.name: lvl for lvl in levels}
    if node.has("levels"):
        for ln, sub in node.get("levels").items():
            if ln not in by_name:
                raise sub.error(f"unknown level {ln!r} (levels: {', '.join(by_name)})")
            c = _slot(sub, is_level=True)
            mem = by_name[ln].same_memory_as
            if mem and (c.keep is not None or c.may_bypass):
                k = "keep" if c.keep is not None else "may_bypass"
                raise sub.get(k).error(
                    f"level {ln} is a tile boundary of memory {mem}: give {k} on {mem} "
                    f"(which tile boundary of {mem} holds each operand is searched)")
            if c.keep is not None:
                stored = set(by_name[ln].operands)
                extra = [x for x in c.keep if x not in stored]
                if extra:
                    raise sub.get("keep").error(f"level {ln} has no partition for {extra}")
                if ln == levels[0].name and set(c.keep) != set(OPERANDS):
                    raise sub.get("keep").error("the outermost level must keep W, I and O")
            if c.may_bypass:
                bn = sub.get("may_bypass")
                if ln == levels[0].name:
                    raise bn.error("the outermost level holds every operand: none may "
                                   "bypass it")
                stored = set(by_name[ln].operands)
                extra = [x for x in c.may_bypass if x not in stored]
                if extra:
                    raise bn.error(f"level {ln} has no partition for {extra}")
            lvls.append((ln, c))
    maxi = _dims(node.get("maximise_spatial")) if node.has("maximise_spatial") else ()
    whole = _dims(node.get("unroll_whole_if_fits")) if node.has("unroll_whole_if_fits") \
        else ()
    for d in whole:
        if not any(d in dict(spatial).get(a, SlotConstraint()).allow for a in axes):
            raise node.get("unroll_whole_if_fits").error(
                f"{d} may not unroll on any array axis (no axis allows it)")
    im2col = node.get("im2col").as_bool() if node.has("im2col") else Dataflow(name).im2col
    return Dataflow(name, tuple(spatial), tuple(lvls), maxi, im2col=im2col,
                    unroll_whole_if_fits=whole)
