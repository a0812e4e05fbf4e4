"""Per-operand tiles in one shared memory (`same_memory_as`): a memory with two tile
boundaries holds each operand's tile at one of them, the tiles share the memory's
capacity and ports, and the search chooses the boundary per operand.

The ZigZag cross-check of the feature (ZigZag's own per-operand allocation in case Z1,
every count equal but rule c) is in `test_peers.py`.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from sedse._yaml import Node
from sedse.cost import (
    SearchSettings,
    check_mapping,
    evaluate,
    evaluate_mapping,
    keep_variants,
    search_mapping,
    tile_bytes,
)
from sedse.errors import MappingError, SpecError
from sedse.hardware import Budget, load_accelerator, load_technology, match_design
from sedse.mapping import mapping_from_node, to_candidates
from sedse.workload import Layer

from .conftest import HW, ROOT

SHARED = ROOT / "examples" / "systolic_shared_buffer.yaml"
ONE = HW / "systolic_ws_32x32.yaml"
# ResNet-18 layer1 conv at 8 bits (the peers' case), as the array sees it: C x R x S
# flattened by im2col onto the rows
L1 = Layer("l1", kind="conv", K=64, C=64, P=56, Q=56, R=3, S=3, pad_h=1, pad_w=1,
           input_bits=8, weight_bits=8, output_bits=8)


def _acc(path=SHARED):
    return load_accelerator(path)


def _mapping(doc: dict, acc):
    return mapping_from_node(Node(doc, "test", ""), acc)


def test_member_inherits_the_memory():
    acc, one = _acc(), _acc(ONE)
    buf, inner = acc.levels[1], acc.levels[2]
    assert (inner.name, inner.memory, buf.memory) == ("Buffer_in", "Buffer", "Buffer")
    assert inner.partitions == buf.partitions == one.levels[1].partitions
    assert (inner.word_bits, inner.fanout_dims, buf.fanout_dims) == (64, ("rows", "cols"), ())
    assert acc.memory_levels(2) == acc.memory_levels(1) == (1, 2)
    assert acc.memory_levels(3) == (3,)
    # one memory: its capacity counts once
    assert acc.onchip_bytes == one.onchip_bytes
    # the same instances and categories as the one-boundary buffer
    assert acc.category(1) == acc.category(2) == "global_buffer"
    assert acc.instances(3) == one.instances(2) == 1024


def test_keep_variants_place_each_operand_at_one_boundary():
    acc = _acc()
    variants = keep_variants(acc)
    assert len(variants) == 2 ** 3      # W, I and O each at Buffer or Buffer_in
    assert np.array_equal(variants[0][1:3], [[True] * 3, [False] * 3])
    for k in variants:
        assert (k[1] ^ k[2]).all()      # every operand at exactly one of the two
    assert len({k.tobytes() for k in variants}) == len(variants)


def test_all_at_the_first_boundary_equals_one_boundary():
    """Everything kept at Buffer: Buffer_in is only more loops of the same memory, so
    the counts, energy and cycles equal the one-boundary design's with those loops at
    its buffer (in the same order)."""
    acc, one = _acc(), _acc(ONE)
    lay = Layer("l", kind="conv", K=64, C=32, P=14, Q=14, R=1, S=1,
                input_bits=8, weight_bits=8, output_bits=8)
    spatial = {"rows": "C32", "cols": "K32"}
    a = evaluate_mapping(lay, acc, _mapping(
        {"Buffer": {"temporal": "K2"}, "Buffer_in": {"temporal": "P14", "spatial": spatial},
         "WReg": {"temporal": "Q14"}}, acc))
    b = evaluate_mapping(lay, one, _mapping(
        {"Buffer": {"temporal": "K2 P14", "spatial": spatial}, "WReg": {"temporal": "Q14"}},
        one))
    assert a.energy_pj == pytest.approx(b.energy_pj, rel=1e-12)
    assert a.cycles == pytest.approx(b.cycles, rel=1e-12)

    def counts(lc):
        out = {}
        for r in lc.rows:
            k = ("Buffer" if r["level"] == "Buffer_in" else r["level"], r["operand"],
                 r["action"])
            out[k] = out.get(k, 0) + r["count"]
        return out
    assert counts(a) == counts(b)
    # one memory, one set of ports: no memory port is named after Buffer_in (its
    # network is the array's, named after the level it fans out under)
    assert not any(k.startswith("Buffer_in[") for k, _ in a.port_cycles)
    renamed = {k.replace("Buffer_in network", "Buffer network"): v for k, v in a.port_cycles}
    assert renamed == pytest.approx(dict(b.port_cycles), rel=1e-12)


def test_tiles_at_both_boundaries_share_the_capacity():
    """ZigZag's case-Z1 allocation of layer1's conv: the inputs' tile spans only the
    Q loop (Buffer_in), the outputs' everything but K (Buffer); together they fit the
    192 kB I/O partition. With one boundary for both the input tile (C64 x 58 x 58 =
    215 kB) alone overflows it."""
    spatial = {"rows": "C32", "cols": "K32"}
    per_operand = {"DRAM": {"temporal": "K2"},
                   "Buffer": {"temporal": "C2 R3 S3 P56", "keep": ["W", "O"]},
                   "Buffer_in": {"temporal": "Q56", "spatial": spatial, "keep": ["I"]}}
    # the example without its dataflow (no im2col lowering), as ZigZag's case
    lay = L1
    doc = yaml.safe_load(SHARED.read_text())
    del doc["dataflow"]
    acc = load_from_doc(doc)
    mp = _mapping(per_operand, acc)
    check_mapping(mp, lay, acc)
    need, cap = tile_bytes(to_candidates([mp], acc), acc, lay)
    io = acc.levels[1].partitions.index(acc.levels[1].partition_of("I"))
    o_tile = 32 * 56 * 56              # K32 x P56 x Q56 outputs, 1 byte each
    i_tile = 32 * 1 * 56               # C32 x 1 row x 56 columns (R, S outside)
    assert need[1, io, 0] == o_tile + i_tile
    assert need[2, io, 0] == 0 and cap[2, io] == np.inf   # counted at the memory's row
    one_boundary = {k: {kk: vv for kk, vv in v.items() if kk != "keep"}
                    for k, v in per_operand.items()}
    with pytest.raises(MappingError, match="tile of I\\+O at level Buffer needs"):
        check_mapping(_mapping(one_boundary, acc), lay, acc)
    # and the sum is what is checked: a larger output tile with the same input tile
    # overflows the shared partition although each tile alone fits
    bigger = copy.deepcopy(per_operand)
    bigger["Buffer"]["temporal"] = "C2"
    bigger["Buffer_in"]["temporal"] = "R3 S3 P56 Q56"
    i_big = 32 * 58 * 58               # C32 x (56 + 2) rows x (56 + 2) columns
    assert o_tile <= 196608 and i_big <= 196608 and o_tile + i_big > 196608
    with pytest.raises(MappingError, match=f"needs {o_tile + i_big} bytes > capacity 196608"):
        check_mapping(_mapping(bigger, acc), lay, acc)


def load_from_doc(doc: dict):
    from sedse._yaml import parse_yaml_text
    from sedse.hardware import accelerator_from_node
    text = yaml.safe_dump(doc)
    return accelerator_from_node(Node(parse_yaml_text(text, "doc"), "doc", ""))


def test_ports_add_both_boundaries():
    """The memory's I/O port moves the accesses at both boundaries: its busy time is the
    bits of all of them over one port's width."""
    doc = yaml.safe_load(SHARED.read_text())
    del doc["dataflow"]
    acc = load_from_doc(doc)
    mp = _mapping({"DRAM": {"temporal": "K2"},
                   "Buffer": {"temporal": "C2 R3 S3 P56", "keep": ["W", "O"]},
                   "Buffer_in": {"temporal": "Q56", "spatial": {"rows": "C32",
                                                                "cols": "K32"},
                                 "keep": ["I"]}}, acc)
    lc = evaluate_mapping(L1, acc, mp)
    bits = sum(r["count"] * 8 for r in lc.rows
               if r["level"] in ("Buffer", "Buffer_in") and r["operand"] in ("I", "O")
               and r["action"] in ("read", "fill", "update", "drain"))
    assert any(r["level"] == "Buffer_in" and r["operand"] == "I" for r in lc.rows)
    ports = dict(lc.port_cycles)
    assert ports["Buffer[I,O] port"] == pytest.approx(bits / (8 * 128), rel=1e-12)


def test_pinned_operand_at_two_boundaries_is_an_error():
    acc = _acc()
    mp = _mapping({"Buffer": {"keep": ["W", "I", "O"]},
                   "Buffer_in": {"spatial": {"rows": "C32", "cols": "K32"}, "keep": ["I"]}},
                  acc)
    with pytest.raises(MappingError, match="memory Buffer: I is kept at two of its tile "
                                           "boundaries \\(Buffer, Buffer_in\\)"):
        check_mapping(mp, Layer("t", kind="fc", K=32, C=32), acc)
    # a boundary's keep alone takes the operand from the memory's first level
    mp = _mapping({"Buffer_in": {"keep": ["I"]}}, acc)
    k = to_candidates([mp], acc).keep
    assert k[1].tolist() == [True, False, True] and k[2].tolist() == [False, True, False]


def test_search_explores_the_boundaries():
    """On layer1's conv under the brief's capacities the default search on the
    two-boundary buffer finds a lower energy than on the one-boundary buffer (measured
    -15% on ZigZag's case-Z1 design, `benchmarks/peer_crosscheck.py`), by keeping some
    operand at the inner boundary."""
    acc, one = _acc(), _acc(ONE)
    st = SearchSettings(objective="energy")
    best = search_mapping(L1, acc, st).best
    ea = evaluate(L1, acc, best).total_energy_pj[0]
    eb = evaluate(L1, one, search_mapping(L1, one, st).best).total_energy_pj[0]
    assert ea < eb
    assert best.keep[2].any()


def test_matched_design_scales_the_memory_once():
    acc, one = _acc(), _acc(ONE)
    tech = load_technology(HW / "tech" / "65nm.yaml")
    budget = Budget(256, 128 * 1024, 700.0, 8)
    ma, mb = match_design(acc, budget, tech), match_design(one, budget, tech)
    assert ma.levels[1].partitions == ma.levels[2].partitions == mb.levels[1].partitions
    assert ma.onchip_bytes == mb.onchip_bytes


@pytest.mark.parametrize("edit, message", [
    (lambda lv: lv[2].update(same_memory_as="SRAM"),
     "levels[2].same_memory_as: unknown level 'SRAM'"),
    (lambda lv: lv.insert(1, {"name": "D2", "same_memory_as": "DRAM"}),
     "levels[1].same_memory_as: 'DRAM' is the outermost level"),
    (lambda lv: lv.append({"name": "X", "same_memory_as": "Buffer"}),
     "levels[4].same_memory_as: level 'Buffer' is not directly above 'X'"),
    (lambda lv: lv.insert(3, {"name": "X", "same_memory_as": "Buffer_in"}),
     "levels[3].same_memory_as: level 'Buffer_in' itself shares 'Buffer''s memory"),
    (lambda lv: lv.insert(3, {"name": "X", "same_memory_as": "Buffer"}),
     "levels[3].same_memory_as: level 'Buffer_in' fans out to the array"),
    (lambda lv: lv[2].update(capacity_bytes=1024),
     "levels[2].capacity_bytes: level 'Buffer_in' shares 'Buffer''s memory: its "
     "capacity_bytes comes from 'Buffer'"),
])
def test_bad_shared_memory(write, edit, message):
    doc = yaml.safe_load(SHARED.read_text())
    edit(doc["levels"])
    path = write("acc.yaml", yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(SpecError) as e:
        load_accelerator(path)
    assert message in str(e.value) and "acc.yaml" in str(e.value)


def test_dataflow_keep_on_a_boundary_is_an_error(write):
    doc = yaml.safe_load(SHARED.read_text())
    doc["dataflow"]["levels"]["Buffer_in"] = {"keep": ["I"]}
    path = write("acc.yaml", yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(SpecError, match="dataflow.levels.Buffer_in.keep: level Buffer_in "
                                        "is a tile boundary of memory Buffer: give keep "
                                        "on Buffer"):
        load_accelerator(path)


def _fc_se():
    from sedse.workload import WeightEncoding

    w = 64 * 64
    enc = WeightEncoding("smartexchange/direct", 0.3, 0.2, 4.0, 512, 300, 1.2,
                         w * 3, w, 0.6)
    return Layer("fc", kind="fc", K=64, C=64, input_bits=8, weight_bits=8, output_bits=8,
                 weight_encoding=enc)


@pytest.mark.parametrize("after", ["Buffer", "Buffer_in"])
def test_rebuild_counted_whichever_boundary_holds_the_weights(after):
    """A rebuild engine after a shared memory rebuilds the weights leaving it, at
    whichever of its boundaries the mapping keeps them (and the stored form is held
    at both)."""
    doc = yaml.safe_load(SHARED.read_text())
    del doc["dataflow"]
    doc["rebuild"] = {"after_level": after, "engines_per_instance": 2}
    acc = load_from_doc(doc)
    lay = _fc_se()
    spatial = {"rows": "C32", "cols": "K32"}
    got = []
    for w_at in ("Buffer", "Buffer_in"):
        keep = {"Buffer": ["W", "I", "O"] if w_at == "Buffer" else ["I", "O"],
                "Buffer_in": ["W"] if w_at == "Buffer_in" else []}
        doc_m = {"Buffer": {"temporal": "K2 C2", "keep": keep["Buffer"]},
                 "Buffer_in": {"spatial": spatial, "keep": keep["Buffer_in"]}}
        lc = evaluate_mapping(lay, acc, _mapping(doc_m, acc))
        rows = {(r["level"], r["action"]): r["count"] for r in lc.rows}
        assert rows.get(("REBUILD", "shift_add"), 0) > 0, (after, w_at)
        assert lc.rebuild_cycles > 0
        # the stored form at either boundary: the weights' buffer bits are the encoding's
        buf = sum(r["energy_pj"] for r in lc.rows if r["operand"] == "W"
                  and r["level"] in ("Buffer", "Buffer_in"))
        got.append((rows[("REBUILD", "shift_add")], buf))
    assert got[0][0] == got[1][0]
    assert got[0][1] == pytest.approx(got[1][1], rel=1e-12)
