"""Structural checks of mappings: what a mapping may be on a layer and a design.

`check_structure` checks one `Mapping` and names the problem; `structural_ok` is its
vectorised subset over `Candidates` (coverage, array sizes, spatial reduction) that the
search needs. Capacity is not checked here: tile sizes are cost-model facts
(`sedse.cost.check_mapping` = structure + capacity).
"""

from __future__ import annotations

import math

import numpy as np

from sedse._yaml import short_number
from sedse.errors import MappingError
from sedse.hardware import FULL, Accelerator
from sedse.mapping._lowering import array_layer
from sedse.mapping._mapping import Candidates, Mapping, to_candidates
from sedse.workload import DIM_INDEX, DIMS, OPERANDS, REDUCTION_DIMS, Layer


def check_structure(mapping: Mapping, layer: Layer, acc: Accelerator, where: str = "") -> None:
    """Raise `MappingError` naming `where` if the mapping's structure does not suit the
    layer or the hardware.

    Checks: factors cover every dim (padding allowed, capped), an operand is kept at one
    tile boundary of a memory, the dataflow's keep/bypass rules, spatial products fit
    each array axis, reduction dims are not unrolled under a network without spatial
    reduction, and the dataflow's slots and loop orders. Whether the tiles fit the
    capacities is a cost question (`sedse.cost.check_mapping` adds it).
    """

    where = where or layer.name
    layer = array_layer(layer, acc)
    cand = to_candidates([mapping], acc)
    # products as Python integers: factors of up to 2^40 at every level would wrap int64
    total = [math.prod(int(f) for f in cand.tf[0, :, di]) *
             math.prod(int(f) for f in cand.sf[0, :, di]) for di in range(len(DIMS))]
    for di, d in enumerate(DIMS):
        size = getattr(layer, d)
        if total[di] < size:
            raise MappingError(where, f"factors of {d} multiply to {total[di]}, which does "
                               f"not cover the layer's {d} = {size}")
        if total[di] > 2 * size and total[di] > size + 1:
            shown = short_number(total[di]) if total[di] > 10**15 else total[di]
            raise MappingError(where, f"factors of {d} multiply to {shown}, more than "
                               f"twice the layer's {d} = {size} (padding is capped there)")
    df = acc.dataflow
    for li, lvl in enumerate(acc.levels):
        group = acc.memory_levels(li)
        if len(group) > 1 and li == group[0]:
            for xi, x in enumerate(OPERANDS):
                at = [acc.levels[g].name for g in group if cand.keep[g, xi]]
                if len(at) > 1:
                    raise MappingError(where, f"memory {lvl.name}: {x} is kept at two of "
                                       f"its tile boundaries ({', '.join(at)}); keep it at "
                                       "one of them")
        if df is None:
            continue
        c = df.level(lvl.name)
        if c.keep is None and not c.may_bypass:
            continue
        kept = set(lvl.operands if c.keep is None else c.keep)
        # a memory with several tile boundaries holds what any of them keeps
        held = {x for xi, x in enumerate(OPERANDS) if cand.keep[list(group), xi].any()}
        dropped = sorted(kept - held - set(c.may_bypass), key=OPERANDS.index)
        added = sorted(held - kept, key=OPERANDS.index)
        if dropped or added:
            what = (f"{', '.join(dropped)} may not bypass it" if dropped else
                    f"it does not keep {', '.join(added)}")
            raise MappingError(where, f"level {lvl.name}: dataflow {df.name}: {what} "
                               f"(keeps {', '.join(sorted(kept, key=OPERANDS.index))}"
                               + (f"; may bypass {', '.join(c.may_bypass)})"
                                  if c.may_bypass else ")"))
    for ai, a in enumerate(acc.array_axes):
        used = math.prod(int(f) for f in cand.sf[0, ai])
        if used > acc.axis_size(a):
            raise MappingError(where, f"spatial factors on axis {a!r} multiply to {used} > "
                               f"the array's {acc.axis_size(a)}")
    for lvl in acc.levels:
        if lvl.network is not None and not lvl.network.spatial_reduction:
            for ai, a in enumerate(acc.array_axes):
                if a in lvl.fanout_dims:
                    for d in REDUCTION_DIMS:
                        if cand.sf[0, ai, DIM_INDEX[d]] > 1:
                            raise MappingError(where, f"level {lvl.name}: its network has no "
                                               f"spatial reduction, so {d} cannot be unrolled "
                                               f"on axis {a!r}")
    if df is not None:
        problem = _dataflow_violation(cand, acc, layer)
        if problem:
            raise MappingError(where, f"dataflow {df.name}: {problem}")


def _dataflow_violation(cand: Candidates, acc: Accelerator, layer: Layer) -> str:
    """Why the first candidate breaks its accelerator's dataflow ("" when it does not):
    a factor > 1 of a dim a slot does not allow, a pinned factor not met (``full``: no
    factor of that dim outside the slot), a level's fixed loop order not kept, or a
    dim of ``unroll_whole_if_fits`` strip-mined although the array holds it whole."""
    df = acc.dataflow
    assert df is not None   # called only for a design with a dataflow
    tf, sf, order = cand.tf[0], cand.sf[0], cand.order[0]

    def outside(d: int, level: int, spatial: bool, axis: int = -1) -> bool:
        """A factor > 1 of dim d in a slot that encloses the given one."""
        upto = level + 1 if spatial else level
        if (tf[:upto, d] > 1).any():
            return True
        for ai, a in enumerate(acc.array_axes):
            la = acc.axis_level(a)
            if ai != axis and la < level and sf[ai, d] > 1:
                return True
        return False

    def slot(what: str, verb: str, c, factors: np.ndarray, full_outside) -> str:
        for di, d in enumerate(DIMS):
            if factors[di] > 1 and d not in c.allow:
                return f"{what} may not {verb} {d} (allows {' '.join(c.allow)})"
        for d, f in c.pin:
            di = DIM_INDEX[d]
            if f == FULL:
                if full_outside(di):
                    return f"{what} must {verb} all of {d} (pinned full), but {d} also " \
                           "has factors outside it"
            elif factors[di] != f:
                return f"{what} must {verb} {d} by {f} (pinned), found {int(factors[di])}"
        return ""

    for ai, a in enumerate(acc.array_axes):
        li = acc.axis_level(a)
        problem = slot(f"axis {a!r}", "unroll", df.axis(a), sf[ai],
                       lambda di, li=li, ai=ai: outside(di, li, True, ai))
        if problem:
            return problem
    for li, lvl in enumerate(acc.levels):
        c = df.level(lvl.name)
        problem = slot(f"level {lvl.name}", "loop over", c, tf[li],
                       lambda di, li=li: outside(di, li, False))
        if problem:
            return problem
        if c.order is not None:
            used = [DIMS[int(d)] for d in order[li] if tf[li, int(d)] > 1]
            fixed = [d for d in c.order if d in used]
            if used != fixed:
                return f"level {lvl.name} must keep the loop order {' '.join(c.order)}, " \
                       f"found {' '.join(used)}"
    for d in df.unroll_whole_if_fits:
        if df.must_unroll_whole(d, layer.dims, acc.array_shape):
            s = math.prod(int(f) for f in sf[:, DIM_INDEX[d]])
            if s < layer.dims[d]:
                return (f"{d} = {layer.dims[d]} fits the array whole, so it must unroll whole "
                        f"(unroll_whole_if_fits), but it unrolls over {s} PEs")
    return ""


def structural_ok(c: Candidates, acc: Accelerator, layer: Layer) -> np.ndarray:
    """(M,) True where factors cover the layer, spatial factors fit the array and no
    reduction dim is unrolled under a network without spatial reduction."""
    # dims first, candidates last ((8, M) rows): the layout `to_candidates` builds, in
    # which every product below runs over contiguous rows
    tf, sf = c.tf.transpose(1, 2, 0), c.sf.transpose(1, 2, 0)    # (L, 8, M), (A, 8, M)
    total = tf[0]
    for f in (*tf[1:], *sf):
        total = total * f
    dims = np.array([getattr(layer, d) for d in DIMS])
    ok = (total >= dims[:, None]).all(axis=0)
    reduce = [DIM_INDEX[d] for d in REDUCTION_DIMS]
    for ai, a in enumerate(acc.array_axes):
        ok &= sf[ai].prod(axis=0) <= acc.axis_size(a)
        net = acc.levels[acc.axis_level(a)].network
        assert net is not None   # a level with fanout_dims has a network
        if not net.spatial_reduction:
            ok &= (sf[ai][reduce] == 1).all(axis=0)
    return ok
