"""Invariants of the cost model over random layers and random mappings (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sedse.cost import evaluate, footprint, soa, tile_bytes, tile_extents
from sedse.cost._space import MappingSpace, _dim_options, mapping_space
from sedse.errors import MappingError
from sedse.hardware import load_accelerator
from sedse.mapping import random_candidates, structural_ok
from sedse.workload import DIMS, Layer

from .conftest import HW

ACCS = [load_accelerator(HW / "eyeriss.yaml"), load_accelerator(HW / "diannao.yaml")]

layers = st.builds(
    lambda kind, n, g, k, c, p, r, stride, dil: Layer(
        "l", kind="conv" if kind else "fc", N=n, G=g, K=k, C=c,
        P=p if kind else 1, Q=p if kind else 1, R=r if kind else 1, S=r if kind else 1,
        stride_h=stride, stride_w=stride, dilation_h=dil, dilation_w=dil),
    st.booleans(), st.integers(1, 4), st.sampled_from([1, 2, 3]), st.integers(1, 40),
    st.integers(1, 40), st.integers(1, 20), st.sampled_from([1, 3, 5]),
    st.sampled_from([1, 2]), st.sampled_from([1, 2]))


def _batch(layer, acc, seed):
    cand = random_candidates(layer, acc, 64, np.random.default_rng(seed))
    return cand.take(np.flatnonzero(structural_ok(cand, acc, layer)))


@settings(max_examples=60, deadline=None)
@given(layers, st.integers(0, 2**31), st.sampled_from([0, 1]))
def test_macs_invariant_and_counts_integral(layer, seed, ai):
    acc = ACCS[ai]
    cand = _batch(layer, acc, seed)
    res = evaluate(layer, acc, cand)
    assert (res.counts[("MAC", "-", "mac")] == layer.macs).all()
    assert (res.compute_cycles * acc.num_pes >= layer.macs).all()
    assert ((res.utilisation > 0) & (res.utilisation <= 1)).all()
    for key, n in res.counts.items():
        assert np.issubdtype(n.dtype, np.integer), key
        assert (n >= 0).all(), key


@settings(max_examples=60, deadline=None)
@given(layers, st.integers(0, 2**31), st.sampled_from([0, 1]))
def test_dram_traffic_at_least_compulsory(layer, seed, ai):
    acc = ACCS[ai]
    cand = _batch(layer, acc, seed)
    res = evaluate(layer, acc, cand)
    top = acc.levels[0].name
    assert (res.counts[(top, "W", "read")] >= layer.operand_elements("W")).all()
    assert (res.counts[(top, "I", "read")] >= layer.operand_elements("I")).all()
    assert (res.counts[(top, "O", "update")] >= layer.operand_elements("O")).all()


@settings(max_examples=40, deadline=None)
@given(layers, st.integers(0, 2**31), st.sampled_from([0, 1]), st.integers(0, 10),
       st.floats(0.01, 100.0))
def test_energy_monotone_in_every_per_access_energy(layer, seed, ai, which, extra):
    acc = ACCS[ai]
    cand = _batch(layer, acc, seed)
    base = evaluate(layer, acc, cand).total_energy_pj
    # enumerate the per-access energies: each partition's read/write, network, MAC
    knobs = []
    for li, lvl in enumerate(acc.levels):
        for pi in range(len(lvl.partitions)):
            knobs += [("part", li, pi, "read_energy_pj"), ("part", li, pi, "write_energy_pj")]
        if lvl.network is not None:
            knobs += [("net", li, None, "transfer_energy_pj_per_bit"),
                      ("net", li, None, "reduction_energy_pj_per_bit")]
    knobs.append(("mac", None, None, None))
    kind, li, pi, field = knobs[which % len(knobs)]
    if kind == "mac":
        mac = replace(acc.mac, energy_pj_by_bits=tuple(
            (b, e + extra) for b, e in acc.mac.energy_pj_by_bits))
        bigger = replace(acc, mac=mac)
    else:
        lvl = acc.levels[li]
        if kind == "part":
            parts = list(lvl.partitions)
            parts[pi] = replace(parts[pi], **{field: getattr(parts[pi], field) + extra})
            lvl = replace(lvl, partitions=tuple(parts))
        else:
            lvl = replace(lvl, network=replace(lvl.network,
                                               **{field: getattr(lvl.network, field) + extra}))
        levels = list(acc.levels)
        levels[li] = lvl
        bigger = replace(acc, levels=tuple(levels))
    more = evaluate(layer, bigger, cand).total_energy_pj
    assert (more >= base - 1e-9 * np.abs(base)).all()


@settings(max_examples=30, deadline=None)
@given(layers, st.integers(0, 2**31))
def test_multicast_never_costs_more_reads(layer, seed):
    acc = ACCS[0]
    glb = acc.levels[1]
    no_mc = replace(acc, levels=(acc.levels[0], replace(glb, network=replace(
        glb.network, multicast=False)), acc.levels[2]))
    cand = _batch(layer, acc, seed)
    a, b = evaluate(layer, acc, cand), evaluate(layer, no_mc, cand)
    for x in ("W", "I"):
        assert (a.counts[("GLB", x, "read")] <= b.counts[("GLB", x, "read")]).all()


def _whole_tile_need(cand, acc, layer):
    """Bytes per bounded partition if every level held its whole tile."""
    tf, sf = soa(cand, acc)
    tiles = tile_extents(tf, sf)
    need = np.zeros((len(acc.levels), 4, len(cand)), dtype=np.int64)
    for li, lvl in enumerate(acc.levels):
        for pi, part in enumerate(lvl.partitions):
            if part.capacity_bytes is None:
                continue
            for x in part.operands:
                if cand.keep[li, "WIO".index(x)]:
                    need[li, pi] += footprint(x, tiles[li], layer) * layer.operand_bits(x) // 8
    return need


@settings(max_examples=60, deadline=None)
@given(layers, st.integers(0, 2**31), st.sampled_from([0, 1]))
def test_resident_need_is_at_most_the_whole_tiles(layer, seed, ai):
    """Streaming sub-tiles only ever lowers a level's need, never below one sub-tile,
    and never at the innermost level."""
    acc = ACCS[ai]
    cand = _batch(layer, acc, seed)
    need, _cap = tile_bytes(cand, acc, layer)
    whole = _whole_tile_need(cand, acc, layer)[:, :need.shape[1]]
    assert (need <= whole).all()
    assert (need[-1] == whole[-1]).all()


@settings(max_examples=40, deadline=None)
@given(layers, st.integers(0, 2**31), st.sampled_from([0, 1]))
def test_pruned_options_never_fit(layer, seed, ai):
    """The space drops a dim option before any search when its own factors overflow a
    partition (a level's own factor of a dim it could stream not counted): no fitting
    mapping built from the unpruned options may use a dropped one."""
    acc = ACCS[ai]
    rng = np.random.default_rng(seed)
    try:
        space = mapping_space(layer, acc)
    except MappingError:
        return
    raw = [_dim_options(layer, acc, d) for d in DIMS]
    full = MappingSpace(layer, acc, tuple(raw), space.orders, space.keep)
    digits = full.sample_digits(512, rng)
    cand = full.to_candidates(digits)
    ok = evaluate(layer, acc, cand).fits & structural_ok(cand, acc, layer)
    for di, opts in enumerate(space.options):
        kept = {tuple(r) for r in opts.tolist()}
        used = raw[di][digits[ok, di]]
        assert all(tuple(r) in kept for r in used.tolist()), DIMS[di]


def _same_cost(a, b) -> None:
    assert a.counts.keys() == b.counts.keys()
    for k in a.counts:
        assert np.array_equal(a.counts[k], b.counts[k]), k
        assert np.array_equal(a.energy_pj[k], b.energy_pj[k]), k
    assert np.array_equal(a.cycles, b.cycles)
    assert np.array_equal(a.tile_bytes, b.tile_bytes)
    assert np.array_equal(a.fits, b.fits)


@settings(max_examples=40, deadline=None)
@given(layers, st.integers(0, 2**31), st.sampled_from([0, 1]))
def test_the_search_shortcuts_give_a_full_evaluations_numbers(layer, seed, ai):
    """What the search uses to go faster changes no number: the space's declared
    factor-1 rows (`Candidates.varies`) against rows derived from the factors, and
    `evaluate_fitting` (capacity checked once for the batch) against `evaluate` of the
    fitting candidates alone."""
    from sedse.cost._core import evaluate_fitting, fits
    from sedse.mapping import Candidates

    acc = ACCS[ai]
    try:
        space = mapping_space(layer, acc)
    except MappingError:
        return
    cand = space.to_candidates(space.sample_digits(48, np.random.default_rng(seed)))
    derived = (cand.tf > 1).any(axis=0)
    assert not (derived & ~cand.temporal_varies()).any()   # varies covers every factor > 1
    plain = Candidates(cand.tf.copy(), cand.order.copy(), cand.sf.copy(), cand.keep)
    ok = structural_ok(cand, acc, layer)
    _same_cost(evaluate(layer, acc, cand), evaluate(layer, acc, plain))
    idx, cost = evaluate_fitting(layer, acc, cand, ok)
    assert np.array_equal(idx, np.flatnonzero(ok & fits(layer, acc, cand)))
    if cost is not None:
        _same_cost(cost, evaluate(layer, acc, plain.take(idx)))
