"""Dataflow constraints, the mapping search, halo reuse and run-length coding."""

from __future__ import annotations

import itertools
import platform
import sys
from dataclasses import replace

import numpy as np
import pytest
import yaml

import sedse_models
from sedse.cost import (
    SearchCache,
    SearchSettings,
    canonical_orders,
    evaluate,
    mapping_space,
    search_mapping,
)
from sedse.errors import MappingError, SpecError
from sedse.hardware import RunLengthCoding, load_accelerator
from sedse.mapping import Candidates, LevelMapping, Mapping, default_keep_mask, to_candidates
from sedse.workload import DIMS, Layer

from .conftest import HW
from .test_cost_hand import ONE_LEVEL, TWO_LEVEL
from .test_cost_sparse import THREE_LEVEL as SPARSE_THREE_LEVEL

EYERISS = load_accelerator(HW / "eyeriss.yaml")
DIANNAO = load_accelerator(HW / "diannao.yaml")


def test_canonical_orders_are_the_distinct_stationarity_patterns():
    orders = canonical_orders()
    assert orders.shape == (12, 8)
    assert all(sorted(o) == list(range(8)) for o in orders.tolist())


# the three-level spec of the sparse-cost tests, without its input skipping
THREE_LEVEL = SPARSE_THREE_LEVEL.replace("sparsity: {inputs: skip}\n", "")


@pytest.mark.parametrize("level", [0, 1])
def test_no_loop_order_beats_the_canonical_ones(write, level):
    """For fixed factors, every one of the 8! loop orders of a level (the others'
    orders fixed) costs at least the best canonical order: the canonical set loses
    nothing, including the sliding-window refills that depend on which loop steps the
    input window. Factors chosen so each level has loops over every operand's dims."""
    acc = load_accelerator(write("t.yaml", THREE_LEVEL))
    layer = Layer("c", N=2, K=4, C=4, P=6, Q=6, R=3, S=3)
    tf = np.ones((1, 3, 8), dtype=np.int64)
    tf[0, 0] = [1, 1, 2, 2, 2, 1, 1, 1]     # DRAM: K2 C2 P2
    tf[0, 1] = [2, 1, 1, 2, 3, 3, 1, 1]     # GLB: N2 C2 P3 Q3 (spatial K2)
    tf[0, 2] = [1, 1, 1, 1, 1, 2, 3, 3]     # RF: Q2 R3 S3
    sf = np.ones((1, 1, 8), dtype=np.int64)
    sf[0, 0, 2] = 2
    perms = np.array(list(itertools.permutations(range(8))), dtype=np.int64)
    base = np.tile(np.arange(8), (1, 3, 1))

    def run(orders):
        m = len(orders)
        order = np.repeat(base, m, axis=0)
        order[:, level] = orders
        c = Candidates(np.repeat(tf, m, axis=0), order, np.repeat(sf, m, axis=0),
                       default_keep_mask(acc))
        res = evaluate(layer, acc, c)
        assert res.fits.all()
        return res.total_energy_pj

    every, canon = run(perms), run(canonical_orders())
    assert canon.min() == pytest.approx(every.min(), rel=1e-12)
    assert every.max() > every.min()  # the order matters here


def test_sliding_window_orders_are_searched():
    """Row-stationary AlexNet CONV3: with the batch loop outside the output-column
    loop the ifmap spad slides (13 + 2 columns per row instead of 13 x 3), which the
    searched mapping must exploit: RF ifmap fills below 2 x the ifmap size x passes."""
    layer = sedse_models.workload("alexnet", 4).layers[2]
    res = search_mapping(layer, EYERISS, SearchSettings(objective="energy", budget=3000))
    cost = evaluate(layer, EYERISS, res.best)
    order = [DIMS[d] for d in res.best.order[0, 1] if res.best.tf[0, 1, d] > 1]
    assert order[-1] == "Q"   # the window steps along Q at the GLB
    fills = cost.counts[("RF", "I", "fill")][0]
    no_slide = evaluate(layer, EYERISS, _with_order(res.best, 1, ["Q", "N"]))
    assert fills < no_slide.counts[("RF", "I", "fill")][0] / 2


def _with_order(c, level: int, inner: list[str]):
    """`c` (one candidate) with `inner` as the innermost loops of `level`."""
    order = [d for d in c.order[0, level].tolist() if DIMS[d] not in inner]
    order += [DIMS.index(d) for d in inner]
    new = c.order.copy()
    new[0, level] = order
    return Candidates(c.tf, new, c.sf, c.keep)


def test_small_space_is_searched_exhaustively_and_beats_every_point(write):
    acc = load_accelerator(write("b.yaml", TWO_LEVEL))
    layer = Layer("fc", kind="fc", K=4, C=6)
    space = mapping_space(layer, acc)
    res = search_mapping(layer, acc, SearchSettings(objective="energy", budget=10**6))
    assert res.exhaustive and res.evaluated == space.size
    every = evaluate(layer, acc, space.to_candidates(space.all_digits()))
    ok = every.fits & (every.compute_cycles > 0)
    best = evaluate(layer, acc, res.best).total_energy_pj[0]
    assert best == pytest.approx(every.total_energy_pj[ok].min())


def test_budget_cut_is_reported_and_search_is_deterministic():
    layer = sedse_models.workload("alexnet").layers[2]
    s = SearchSettings(objective="energy", budget=2000)
    a, b = search_mapping(layer, EYERISS, s), search_mapping(layer, EYERISS, s)
    assert not a.exhaustive and "sampled+refined of" in a.summary()
    assert a.space_size > 2000 and a.evaluated >= 2000
    assert (a.best.tf == b.best.tf).all() and (a.best.order == b.best.order).all()


def test_search_respects_the_row_stationary_constraints():
    for layer in sedse_models.workload("alexnet").layers[:5]:
        best = search_mapping(layer, EYERISS, SearchSettings(objective="energy",
                                                          budget=3000)).best
        rows, cols = best.sf[0]
        assert rows[6] == layer.R  # R pinned whole on the rows
        # cols: K and P only (no channel sets side by side: no horizontal psum path;
        # no images side by side)
        assert set(np.flatnonzero(cols > 1)) <= {2, 4}
        # a PE set that fits folded is never strip-mined (CONV2-5); CONV1's 11 x 55 is
        if layer.P * layer.R <= 12 * 14:
            assert rows[4] * cols[4] >= layer.P
        rf = best.tf[0, 2]
        assert rf[7] == layer.S and set(np.flatnonzero(rf > 1)) <= {2, 3, 7}  # S, C, K
        # whole output rows in every processing pass: Q lives at the GLB only
        assert best.tf[0, 1][5] == layer.Q and best.tf[0, 0][5] == 1


def test_strip_mining_only_where_the_pe_set_does_not_fit():
    """`unroll_whole_if_fits: [P]`: CONV2's space (E = 27: 5 x 27 folds into 10 x 14)
    holds only whole-P unrolls; CONV1's (11 x 55 does not fit folded) any strip width,
    Table III's e = 7 among them."""
    from sedse.cost import mapping_space
    from sedse.workload import DIMS

    layers = sedse_models.workload("alexnet", 4).layers
    p_of = DIMS.index("P")
    for layer, whole in ((layers[1], True), (layers[0], False)):
        space = mapping_space(layer, EYERISS)
        opts = space.options[p_of][:, :2].prod(axis=1)   # spatial P over rows x cols
        if whole:
            assert (opts >= layer.P).all()
        else:
            assert {7, 14} <= set(opts.tolist()) and opts.max() < layer.P


def test_cache_reuses_results_per_shape():
    cache = SearchCache()
    wl = sedse_models.workload("resnet18")
    s = SearchSettings(objective="energy", budget=500, rounds=1)
    for layer in wl.layers[:5]:
        cache.get(layer, DIANNAO, s)
    assert cache.hits == 3  # layer1.0.conv1 repeats three times


def test_halo_reuse_hand_case(write):
    """1-D conv Q=4, S=3, stride 1: DRAM[Q4] over RF[S3].

    The RF holds a 3-input window; each Q step needs the next window of 3 inputs,
    but only 1 is new: first window 3 + 3 steps x 1 = 6 input words (= the 6 distinct
    inputs), instead of 4 x 3 = 12 without halo reuse.
    """
    acc = load_accelerator(write("b.yaml", TWO_LEVEL))
    layer = Layer("c", Q=4, S=3)
    mp = Mapping((LevelMapping((("Q", 4),)), LevelMapping((("S", 3),))))
    res = evaluate(layer, acc, to_candidates([mp], acc))
    assert res.counts[("DRAM", "I", "read")][0] == 6
    assert res.counts[("RF", "I", "fill")][0] == 6
    assert layer.operand_elements("I") == 6


def test_run_length_coding_ratio_and_counts(write):
    """Eyeriss RLC: 3 pairs of (5-bit run, 16-bit value) per 64-bit word, so a non-zero
    costs 64/3 bits: at 50% zeros the map shrinks to 0.5 x 21.33 / 16 = 2/3; at 0 zeros
    RLC would grow it, so the dense form (ratio 1) is kept."""
    rlc = RunLengthCoding(5, 64)
    assert rlc.ratio(0.5, 16) == pytest.approx(2 / 3)
    assert rlc.ratio(0.0, 16) == 1.0
    text = ONE_LEVEL.replace("    fanout_dims: [x]", "    run_length_coding: {}\n"
                             "    fanout_dims: [x]")
    acc = load_accelerator(write("a.yaml", text))
    layer = Layer("fc", kind="fc", K=3, C=6, input_zero_frac=0.5, output_zero_frac=0.5)
    mp = Mapping((LevelMapping((("C", 6), ("K", 3))),))
    res = evaluate(layer, acc, to_candidates([mp], acc))
    # K innermost: 18 input reads x 2/3 = 12; 18 psum updates, the 3 final ones coded: 15 + 2
    assert res.counts[("DRAM", "I", "read")][0] == 12
    assert res.counts[("DRAM", "O", "update")][0] == 15 + 2


def _with_dataflow(write, dataflow: dict):
    data = yaml.safe_load((HW / "eyeriss.yaml").read_text())
    data["dataflow"] = dataflow
    return write("df.yaml", yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize("dataflow, message", [
    ({"spatial": {"rows": {"allow": ["R"]}}}, "dataflow: missing key 'name'"),
    ({"name": "x", "spatial": {"slices": {"allow": ["K"]}}},
     "dataflow.spatial.slices: unknown array axis 'slices'"),
    ({"name": "x", "spatial": {"rows": {"allow": ["Z"]}}},
     "dataflow.spatial.rows.allow[0]: expected a dim among N G K C P Q R S"),
    ({"name": "x", "spatial": {"rows": {"allow": ["K"], "pin": {"K": 16}}}},
     "pins K to 16 but axis 'rows' has only 12 PEs (the dataflow contradicts the array shape)"),
    ({"name": "x", "spatial": {"rows": {"allow": ["K"], "pin": {"C": 2}}}},
     "dataflow.spatial.rows.pin.C: dim C is pinned but not in 'allow'"),
    ({"name": "x", "levels": {"SRAM": {"allow": ["K"]}}},
     "dataflow.levels.SRAM: unknown level 'SRAM'"),
    ({"name": "x", "levels": {"RF": {"order": "K K"}}}, "a dim appears twice in the order"),
    ({"name": "x", "levels": {"RF": {"pin": {"S": "all"}}}},
     "expected an integer >= 1 or 'full', found 'all'"),
    ({"name": "x", "levels": {"DRAM": {"keep": ["W"]}}},
     "the outermost level must keep W, I and O"),
])
def test_bad_dataflows(write, dataflow, message):
    with pytest.raises(SpecError) as exc:
        load_accelerator(_with_dataflow(write, dataflow))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_pinned_dim_too_large_for_the_array_is_a_clear_error():
    layer = Layer("big_kernel", K=4, C=4, P=8, Q=8, R=13, S=13)
    with pytest.raises(MappingError, match=r"big_kernel: dataflow row_stationary: R = 13 is "
                                           r"pinned to array axis 'rows', which has only 12"):
        search_mapping(layer, EYERISS)


def test_empty_space_after_capacity_is_a_clear_error(write):
    tiny = TWO_LEVEL.replace("capacity_bytes: 64", "capacity_bytes: 1")
    acc = load_accelerator(write("t.yaml", tiny))
    with pytest.raises(MappingError, match=r"fc: no factorisation of .* fits two_level: level "
                                           r"RF partition W\+I\+O \(1 B\) cannot hold the "
                                           r"smallest tile \(6 B\)"):
        search_mapping(Layer("fc", kind="fc", K=2, C=2), acc)


def test_user_mapping_outside_the_dataflow_still_evaluates():
    layer = replace(sedse_models.workload("alexnet").layers[2])
    mp = Mapping((LevelMapping((("K", 384), ("C", 256), ("P", 13), ("Q", 13), ("R", 3),
                                ("S", 3))), LevelMapping(), LevelMapping()))
    res = evaluate(layer, EYERISS, to_candidates([mp], EYERISS))
    assert res.fits[0] and res.utilisation[0] == pytest.approx(1 / 168)


def test_heap_padding_is_an_explicit_switch():
    """Keeping freed heap pages (glibc's mallopt M_TOP_PAD, sedse/cost/_alloc.py) is a
    process-wide switch only its caller flips: it takes effect on glibc, refuses a
    non-positive pad, and evaluating mappings never calls it (the CLI does)."""
    import inspect

    from sedse.cost import _core, keep_heap_pages

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_heap_pages(16 << 20) is glibc
    with pytest.raises(ValueError):
        keep_heap_pages(0)
    assert "keep_heap_pages" not in inspect.getsource(_core)


def test_bypass_is_a_searched_choice():
    """eyeriss.yaml lets filters bypass the GLB (`may_bypass: [W]`): the search explores
    both keep patterns and returns the better; without the choice (the same design with
    W always kept) its best is never better. On AlexNet CONV3 at batch 4 the bypass
    wins (the chip's own mappings stream filters past the buffer too)."""
    from dataclasses import replace

    from sedse.cost import keep_variants, objective_value

    variants = keep_variants(EYERISS)
    assert len(variants) == 2 and variants[0][1, 0] and not variants[1][1, 0]
    df = EYERISS.dataflow
    fixed = replace(EYERISS, dataflow=replace(df, levels=tuple(
        (n, replace(c, may_bypass=()) if n == "GLB" else c) for n, c in df.levels)))
    assert len(keep_variants(fixed)) == 1
    layer = sedse_models.workload("alexnet", 4).layers[2]
    s = SearchSettings(objective="edp", budget=3000)
    both = search_mapping(layer, EYERISS, s)
    only = search_mapping(layer, fixed, s)
    e_both = objective_value(evaluate(layer, EYERISS, both.best), "edp")[0]
    e_only = objective_value(evaluate(layer, fixed, only.best), "edp")[0]
    assert e_both <= e_only
    assert not both.best.keep[1, 0]       # W bypasses the GLB


_PARALLEL_CHECK = """
import pickle, sys
from dataclasses import replace
import pytest
import sedse_models
from sedse.cost import SearchCache, SearchSettings, evaluate_workload
from sedse.errors import MappingError
from sedse.hardware import load_accelerator

acc = load_accelerator("eyeriss")
wl = sedse_models.workload("resnet18")
s = SearchSettings(budget=300, rounds=2)
probe = SearchCache()
assert probe.prefetch(list(wl.layers[:3]), acc, s, 2) == 2, "not searched in 2 processes"
serial_cache, parallel_cache = SearchCache(), SearchCache()
serial = evaluate_workload(wl, acc, settings=s, cache=serial_cache)
parallel = evaluate_workload(wl, acc, settings=s, cache=parallel_cache, workers=2)
assert parallel.to_dict() == serial.to_dict()
assert parallel_cache.hits == serial_cache.hits
rf = acc.levels[-1]
small = replace(acc, levels=acc.levels[:-1] + (replace(
    rf, partitions=tuple(replace(p, capacity_bytes=1) for p in rf.partitions)),))
msgs = []
for workers in (1, 2):
    with pytest.raises(MappingError) as e:
        evaluate_workload(wl, small, settings=s, cache=SearchCache(), workers=workers)
    msgs.append(str(e.value))
assert msgs[0] == msgs[1], msgs
# a worker that dies leaves the search to this process (same results, no traceback)
import os
import sedse.cost._search as search_module
def die(*args):
    os._exit(3)
search_module._search_or_error = die
dying = SearchCache()
assert dying.prefetch(list(wl.layers[:3]), acc, s, 2) == 1
assert evaluate_workload(wl, acc, settings=s, cache=dying).to_dict() == serial.to_dict()
print("ok")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers: Linux")
def test_searching_shapes_in_worker_processes_gives_the_serial_results():
    """`evaluate_workload(workers=2)` searches the distinct shapes in forked processes
    (`SearchCache.prefetch`): every number equals the serial run's, the cache counts the
    same hits, a layer that fits nowhere raises the same one-line error (errors pickle
    across processes), and a worker that dies leaves the search to the parent. In a
    fresh interpreter: with torch loaded (as later in this test session) the search
    stays serial by design."""
    import pickle
    import subprocess

    from sedse.errors import MappingError

    err = MappingError("conv1", "no mapping fits")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)
    proc = subprocess.run([sys.executable, "-c", _PARALLEL_CHECK], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


@pytest.mark.parametrize("hw", ["eyeriss", "diannao", "smartexchange"])
def test_scoring_only_fitting_rows_and_recalling_scored_points_change_no_number(hw):
    """The search scores only the rows that pass the structural and capacity checks
    (`cost.fits`) and recalls points it scored before (`_Memo`): both must give
    exactly the numbers of a full evaluation of every row, repeats included."""
    from sedse.cost import evaluate
    from sedse.cost._core import fits
    from sedse.cost._search import _Memo, _score, objective_value
    from sedse.cost._space import keep_variants, mapping_space
    from sedse.mapping import structural_ok

    acc = load_accelerator(HW / f"{hw}.yaml")
    from sedse.workload import Workload

    layer = Workload("w", (Layer("c", "conv", N=1, K=128, C=64, P=28, Q=28, R=3, S=3,
                                 stride_h=1, stride_w=1),)).with_precision(
        acc.input_bits, acc.weight_bits, acc.output_bits).layers[0]
    settings = SearchSettings()
    n_fit = n_all = 0
    for keep in keep_variants(acc):
        space = mapping_space(layer, acc, keep)
        rng = np.random.default_rng(3)
        d = space.sample_digits(600, rng)
        # single-digit changes of a few samples: many overflow, some repeat
        nb = np.repeat(d[:4], 50, axis=0)
        col = rng.integers(0, d.shape[1], len(nb))
        nb[np.arange(len(nb)), col] = (rng.random(len(nb)) * np.array(space.radices)[col]
                                       ).astype(np.int64)
        d = np.concatenate([d, nb, d[:100]])
        cand = space.to_candidates(d)
        full = evaluate(layer, acc, cand)
        ok = full.fits & structural_ok(cand, acc, layer)
        n_fit += int(ok.sum())
        n_all += len(d)
        assert np.array_equal(fits(layer, acc, cand), full.fits)
        want = np.where(ok, objective_value(full, "edp"), np.inf)
        want_tie = np.where(ok, objective_value(full, "latency"), np.inf)
        obj, tie = _score(space, d, settings)
        assert np.array_equal(obj, want) and np.array_equal(tie, want_tie)
        memo = _Memo(space, settings)
        half = len(d) // 2
        o1, t1 = memo.score(d[:half])
        o2, t2 = memo.score(d)                 # half recalled, the rest scored
        assert np.array_equal(o1, want[:half]) and np.array_equal(t1, want_tie[:half])
        assert np.array_equal(o2, want) and np.array_equal(t2, want_tie)
        assert len(memo.keys) == len(np.unique(d, axis=0))
    assert 0 < n_fit < n_all        # fitting and overflowing rows both met: it can fail
