"""Hand-computed cost cases, asserted exactly (derivations in the docstrings)."""

from __future__ import annotations

import numpy as np
import pytest

from sedse.cost import check_mapping, evaluate, evaluate_mapping, mapping_space
from sedse.errors import MappingError
from sedse.hardware import load_accelerator
from sedse.mapping import LevelMapping, Mapping, to_candidates
from sedse.workload import DIMS, Layer

ONE_LEVEL = """
name: one_level
clock_mhz: 100
pe_array: {shape: {x: 1}}
mac: {energy_pj_by_bits: {16: 1.0}}
levels:
  - name: DRAM
    operands: [W, I, O]
    word_bits: 16
    read_energy_pj: 2.0
    write_energy_pj: 3.0
    bandwidth_bytes_per_cycle: 2
    fanout_dims: [x]
    network: {transfer_energy_pj_per_bit: 0.0}
"""

TWO_LEVEL = """
name: two_level
clock_mhz: 100
pe_array: {shape: {x: 2}}
mac: {energy_pj_by_bits: {16: 1.0}}
levels:
  - name: DRAM
    operands: [W, I, O]
    word_bits: 16
    read_energy_pj: 10.0
    write_energy_pj: 10.0
    fanout_dims: [x]
    network: {transfer_energy_pj_per_bit: 0.125, reduction_energy_pj_per_bit: 0.0625}
  - name: RF
    operands: [W, I, O]
    capacity_bytes: 64
    word_bits: 16
    read_energy_pj: 1.0
    write_energy_pj: 1.0
"""


def _counts(res) -> dict:
    return {k: int(v[0]) for k, v in res.counts.items() if int(v[0]) != 0}


def test_one_level_fc(write):
    """FC layer K=2, C=3 on DRAM only, loops K (outer) then C, one PE.

    The MAC has no storage, so every MAC reads W and I from DRAM: 6 + 6 reads.
    Psums: 6 updates; D = 2 distinct outputs (the K loop), so 6 - 2 = 4 psum reads.
    Energy = (6 + 6 + 4) x 2 pJ + 6 x 3 pJ + 6 MACs x 1 pJ = 32 + 18 + 6 = 56 pJ.
    Cycles: compute 6; DRAM moves (6 + 6 + 4 + 6) x 2 B = 44 B at 2 B/cycle = 22 cycles;
    no on-chip level, so no fill/drain term: latency 22 cycles.
    """
    acc = load_accelerator(write("a.yaml", ONE_LEVEL))
    layer = Layer("fc", kind="fc", K=2, C=3)
    mp = Mapping((LevelMapping(temporal=(("K", 2), ("C", 3)), spatial=(("x", ()),)),))
    res = evaluate(layer, acc, to_candidates([mp], acc))
    counts = _counts(res)
    assert counts == {
        ("DRAM", "W", "read"): 6, ("DRAM", "I", "read"): 6,
        ("DRAM", "O", "read"): 4, ("DRAM", "O", "update"): 6,
        ("DRAM", "W", "network"): 6, ("DRAM", "I", "network"): 6, ("DRAM", "O", "network"): 10,
        ("MAC", "-", "mac"): 6,
    }
    assert res.total_energy_pj[0] == pytest.approx(56.0, abs=1e-12)
    assert res.compute_cycles[0] == 6
    assert res.cycles[0] == pytest.approx(22.0)
    assert res.utilisation[0] == 1.0


def test_two_level_weight_stationary_outputs(write):
    """FC K=2, C=4 on 2 PEs: DRAM[C2] spatial x: K2, RF[C2].

    RF tile per PE: W 2 (one k, two c), I 2, O 1.
    W: DRAM loop C2 indexes W, V = 2 fills; extended tile K2 x C2 = 4 -> 8 DRAM reads,
       RF fills 2 x 2 x 2 PEs = 8; MAC reads V = 4 per PE -> 8 RF reads.
    I: V = 2, K does not index I so both PEs share it: DRAM reads 2 x 2 = 4 (multicast),
       RF fills 8, RF reads 8.
    O: the DRAM C2 loop does not index O, so the RF keeps its output: V = 1, D = 1, no
       psum read from DRAM; 2 DRAM updates (one per k), RF drains 2. MAC: V = 4, D = 1 per
       PE -> RF psum reads 3 x 2 = 6, updates 4 x 2 = 8.
    Network: W 8 + I 8 + O 2 words x 16 bit x 0.125 pJ = 36 pJ; no reduction.
    Energy = DRAM (8 + 4 + 2) x 10 + RF (8+8+8+8+2+6+8) x 1 + 36 + 8 MACs = 140+48+36+8 = 232.
    """
    acc = load_accelerator(write("b.yaml", TWO_LEVEL))
    layer = Layer("fc", kind="fc", K=2, C=4)
    mp = Mapping((LevelMapping((("C", 2),), (("x", (("K", 2),)),)),
                  LevelMapping((("C", 2),))))
    res = evaluate(layer, acc, to_candidates([mp], acc))
    assert _counts(res) == {
        ("DRAM", "W", "read"): 8, ("RF", "W", "fill"): 8, ("RF", "W", "read"): 8,
        ("DRAM", "I", "read"): 4, ("RF", "I", "fill"): 8, ("RF", "I", "read"): 8,
        ("DRAM", "O", "update"): 2, ("RF", "O", "drain"): 2,
        ("RF", "O", "read"): 6, ("RF", "O", "update"): 8,
        ("DRAM", "W", "network"): 8, ("DRAM", "I", "network"): 8, ("DRAM", "O", "network"): 2,
        ("MAC", "-", "mac"): 8,
    }
    assert res.total_energy_pj[0] == pytest.approx(232.0, abs=1e-9)
    assert res.compute_cycles[0] == 4 and res.utilisation[0] == 1.0


def test_two_level_spatial_reduction_and_input_stationarity(write):
    """FC K=2, C=4 on 2 PEs: DRAM[K2] spatial x: C2, RF[C2].

    I: the DRAM K2 loop does not index I, so each PE keeps its inputs: V = 1, DRAM reads
       4 (each input once), RF fills 1 x 2 x 2 = 4, RF reads 8 (one per MAC).
    W: V = 2, DRAM reads 2 x 4 = 8, RF fills 8, RF reads 8.
    O: V = 2 (K indexes O), D = 2: no psum reads. The two PEs hold different c for the
       same k, so their partial sums are reduced on the way up: per event 2 words drain,
       1 word reaches DRAM -> DRAM updates 2, RF drains 4, spatial_reduce 2.
       MAC: V = 4, D = 2 per PE -> RF psum reads 2 x 2 = 4, updates 8.
    Network: W 8 + I 4 + O 2 (one reduced word per event; the other PE's partial sum
    is the merge) = 14 words x 2 pJ = 28 pJ; reduction 2 x 16 x 0.0625 = 2 pJ.
    Energy = DRAM (8 + 4 + 2) x 10 + RF (8+8+4+8+4+4+8) x 1 + 28 + 2 + 8 = 140+44+38 = 222.
    """
    acc = load_accelerator(write("b.yaml", TWO_LEVEL))
    layer = Layer("fc", kind="fc", K=2, C=4)
    mp = Mapping((LevelMapping((("K", 2),), (("x", (("C", 2),)),)),
                  LevelMapping((("C", 2),))))
    res = evaluate(layer, acc, to_candidates([mp], acc))
    assert _counts(res) == {
        ("DRAM", "W", "read"): 8, ("RF", "W", "fill"): 8, ("RF", "W", "read"): 8,
        ("DRAM", "I", "read"): 4, ("RF", "I", "fill"): 4, ("RF", "I", "read"): 8,
        ("DRAM", "O", "update"): 2, ("RF", "O", "drain"): 4,
        ("RF", "O", "read"): 4, ("RF", "O", "update"): 8,
        ("DRAM", "W", "network"): 8, ("DRAM", "I", "network"): 4, ("DRAM", "O", "network"): 2,
        ("DRAM", "O", "spatial_reduce"): 2,
        ("MAC", "-", "mac"): 8,
    }
    assert res.total_energy_pj[0] == pytest.approx(222.0, abs=1e-9)


def test_reduced_partial_sums_cross_once_per_output(write):
    """FC K=2, C=8 on 2 PEs: DRAM[C2 K2] spatial x: C2, RF[C2].

    Both PEs work on the same output k (different c), so their partial sums merge.
    RF psum tile = 1 word; events V = 4 (K2 indexes O; then C2 counts), distinct D = 2,
    so R = 2 revisits. Per event the reduced word goes up once (DRAM update 4); on a
    revisit the old partial sum comes down once, to the head of the reduction (DRAM read
    2, RF fill 2 - not 2 x 2: the other PE starts from zero); every PE drains its partial
    sum (RF drain 4 x 2 = 8), one of the two merges (spatial_reduce 4). Network: one
    word per distinct output each way: (4 + 2) x 1 = 6.
    """
    acc = load_accelerator(write("b.yaml", TWO_LEVEL))
    layer = Layer("fc", kind="fc", K=2, C=8)
    mp = Mapping((LevelMapping((("C", 2), ("K", 2)), (("x", (("C", 2),)),)),
                  LevelMapping((("C", 2),))))
    c = _counts(evaluate(layer, acc, to_candidates([mp], acc)))
    assert {k: v for k, v in c.items() if k[1] == "O"} == {
        ("DRAM", "O", "update"): 4, ("DRAM", "O", "read"): 2,
        ("RF", "O", "fill"): 2, ("RF", "O", "drain"): 8,
        ("DRAM", "O", "network"): 6, ("DRAM", "O", "spatial_reduce"): 4,
        ("RF", "O", "read"): 12, ("RF", "O", "update"): 16,
    }


def test_sliding_window_footprint_and_padding(write):
    """1-D conv P=3, R=3, stride 1 on one level: the input tile is (3-1)+(3-1)+1 = 5 rows.

    Loops DRAM[P4 R3] with P padded from 3 to 4: compute cycles 12, MACs 9, so 3 idle
    slots and utilisation 0.75; the padded input extent is (4-1)+(3-1)+1 = 6.
    """
    acc = load_accelerator(write("a.yaml", ONE_LEVEL))
    layer = Layer("c", K=1, C=1, P=3, Q=1, R=3, S=1)
    mp = Mapping((LevelMapping((("P", 4), ("R", 3))),))
    res = evaluate(layer, acc, to_candidates([mp], acc))
    assert res.compute_cycles[0] == 12
    assert res.counts[("MAC", "-", "idle")][0] == 3
    assert res.utilisation[0] == pytest.approx(0.75)
    assert layer.operand_elements("I") == 5
    # every MAC reads its input: 12 reads over the padded nest
    assert res.counts[("DRAM", "I", "read")][0] == 12


def test_capacity_overflow_is_reported(write):
    acc = load_accelerator(write("b.yaml", TWO_LEVEL))
    layer = Layer("fc", kind="fc", K=2, C=64)
    mp = Mapping((LevelMapping(), LevelMapping((("K", 2), ("C", 64)))))
    from sedse.errors import MappingError

    with pytest.raises(MappingError, match=r"tile of W\+I\+O at level RF needs 388 bytes > "
                                           r"capacity 64 bytes"):
        evaluate_mapping(layer, acc, mp)
    cand = to_candidates([mp], acc)
    assert not evaluate(layer, acc, cand).fits[0]
    assert np.all(evaluate(layer, acc, cand).tile_bytes[1, 0, 0] == 2 * 128 + 2 * 64 + 2 * 2)


THREE_D = """
name: two_fanouts
clock_mhz: 100
pe_array: {shape: {slices: 2, macs: 2}}
mac: {energy_pj_by_bits: {16: 1.0}}
levels:
  - {name: DRAM, operands: [W, I, O], word_bits: 16, read_energy_pj: 10, write_energy_pj: 10}
  - name: GLB
    operands: [W, I, O]
    capacity_bytes: 1024
    word_bits: 16
    read_energy_pj: 2
    write_energy_pj: 2
    fanout_dims: [slices]
    network: {transfer_energy_pj_per_bit: 0.0625}
  - name: LB
    operands: [I]
    capacity_bytes: 16
    word_bits: 16
    read_energy_pj: 1
    write_energy_pj: 1
    fanout_dims: [macs]
    network: {transfer_energy_pj_per_bit: 0.0625, reduction_energy_pj_per_bit: 0.0625}
"""


def test_two_fanout_levels(write):
    """Fan-out at two levels (slices under GLB, MACs under a per-slice line buffer LB that
    holds only inputs), FC K=2 C=2, everything spatial: slices K2, macs C2; 1 cycle.

    W (bypasses LB): DRAM reads 4, GLB fills 4, GLB reads 4 (no sharing); the 4 words
       cross both networks (4 transfers each).
    I: DRAM reads 2, GLB fills 2; GLB reads 2 (multicast to both slices), LB fills
       2 x 2 slices = 4, LB reads 4 (one per MAC); transfers 4 at GLB and 4 at LB.
    O (bypasses LB): the 4 MAC results are reduced over C in the LB's adder tree
       (2 merges), 2 GLB updates, 2 GLB drains, 2 DRAM updates, no psum reads; the 2
       reduced words cross each network once (2 transfers each).
    """
    acc = load_accelerator(write("c.yaml", THREE_D))
    assert acc.instances(2) == 2 and acc.num_pes == 4
    layer = Layer("fc", kind="fc", K=2, C=2)
    mp = Mapping((LevelMapping(), LevelMapping(spatial=(("slices", (("K", 2),)),)),
                  LevelMapping(spatial=(("macs", (("C", 2),)),))))
    res = evaluate(layer, acc, to_candidates([mp], acc))
    assert _counts(res) == {
        ("DRAM", "W", "read"): 4, ("GLB", "W", "fill"): 4, ("GLB", "W", "read"): 4,
        ("DRAM", "I", "read"): 2, ("GLB", "I", "fill"): 2, ("GLB", "I", "read"): 2,
        ("LB", "I", "fill"): 4, ("LB", "I", "read"): 4,
        ("DRAM", "O", "update"): 2, ("GLB", "O", "drain"): 2, ("GLB", "O", "update"): 2,
        ("GLB", "W", "network"): 4, ("LB", "W", "network"): 4,
        ("GLB", "I", "network"): 4, ("LB", "I", "network"): 4,
        ("GLB", "O", "network"): 2, ("LB", "O", "network"): 2,
        ("LB", "O", "spatial_reduce"): 2, ("MAC", "-", "mac"): 4,
    }
    assert res.compute_cycles[0] == 1 and res.utilisation[0] == 1.0


STREAM = """
name: stream
clock_mhz: 100
pe_array: {shape: {x: 1}}
mac: {energy_pj_by_bits: {16: 1.0}}
levels:
  - {name: DRAM, operands: [W, I, O], word_bits: 16, read_energy_pj: 10.0,
     write_energy_pj: 10.0}
  - {name: GLB, operands: [W, I, O], word_bits: 16, read_energy_pj: 2.0,
     write_energy_pj: 2.0, capacity_bytes: 20, fanout_dims: [x],
     network: {transfer_energy_pj_per_bit: 0.0}}
  - {name: RF, operands: [W, I, O], word_bits: 16, read_energy_pj: 1.0,
     write_energy_pj: 1.0, capacity_bytes: 64}
"""


def test_streamed_sub_tiles_need_only_one_resident(write):
    """FC K=4, C=4 as DRAM[C2] | GLB[K2] | RF[K2 C2]; GLB holds 20 B = 10 words.

    The GLB's whole tile is W 4x2 + I 2 + O 4 = 14 words. The loop above it (C2)
    moves to new weights and inputs, so nothing reuses the GLB's weights: its own
    outer K2 loop streams two 2x2 weight sub-tiles through, one resident at a time
    (4 words). Inputs are reused across K2 (2 words) and psums stay across C2 (4):
    10 words fit. Counts are those of the whole tile: every weight filled once (16).
    """
    acc = load_accelerator(write("s.yaml", STREAM))
    layer = Layer("fc", kind="fc", K=4, C=4)
    mp = Mapping((LevelMapping((("C", 2),)), LevelMapping((("K", 2),)),
                  LevelMapping((("K", 2), ("C", 2)))))
    check_mapping(mp, layer, acc)
    res = evaluate(layer, acc, to_candidates([mp], acc))
    assert res.fits[0] and res.tile_bytes[1, 0, 0] == 20
    assert _counts(res)[("GLB", "W", "fill")] == 16
    assert _counts(res)[("DRAM", "I", "read")] == 4


def test_reused_tiles_must_be_whole(write):
    """Same layer with N=2 as DRAM[C2 N2] | GLB[K2] | RF[K2 C2]: the innermost loop
    above the GLB (N2) does not index the weights, so the GLB reuses its whole weight
    tile (8 words); the psums stream (N2 moves to new outputs: 2 of 4 words resident);
    8 + 2 + 2 words = 24 B > 20 B."""
    acc = load_accelerator(write("s.yaml", STREAM))
    layer = Layer("fc", kind="fc", N=2, K=4, C=4)
    mp = Mapping((LevelMapping((("C", 2), ("N", 2))), LevelMapping((("K", 2),)),
                  LevelMapping((("K", 2), ("C", 2)))))
    with pytest.raises(MappingError, match=r"^fc: tile of W\+I\+O at level GLB needs 24 "
                                           r"bytes > capacity 20 bytes$"):
        check_mapping(mp, layer, acc)


def test_space_keeps_options_that_fit_only_by_streaming(write):
    """GLB holds one weight (2 B). FC K=4, C=4 as DRAM[C4] | GLB[K4] | RF[-]: the loop
    above the GLB (C4) moves to new weights, so the GLB's K4 loop streams its four
    weights through one at a time and the mapping fits. The space's pruning must keep
    the K option with factor 4 at the GLB (a whole-tile bound would drop it: 8 B)."""
    text = STREAM.replace(
        "operands: [W, I, O], word_bits: 16, read_energy_pj: 2.0,\n"
        "     write_energy_pj: 2.0, capacity_bytes: 20,",
        "word_bits: 16, read_energy_pj: 2.0, write_energy_pj: 2.0,\n"
        "     partitions: [{operands: [W], capacity_bytes: 2},\n"
        "                  {operands: [I, O], capacity_bytes: 64}],")
    assert "capacity_bytes: 2}" in text
    acc = load_accelerator(write("s.yaml", text))
    layer = Layer("fc", kind="fc", K=4, C=4)
    mp = Mapping((LevelMapping((("C", 4),)), LevelMapping((("K", 4),)), LevelMapping()))
    check_mapping(mp, layer, acc)
    space = mapping_space(layer, acc)
    k_opts = space.options[DIMS.index("K")]
    A = len(acc.array_axes)
    assert any((row[A:] == [1, 4, 1]).all() for row in k_opts)
