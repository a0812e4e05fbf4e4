"""Hand-computed rebuild, skipping, gating and bit-serial cases, asserted exactly.

All cases reuse the two-level FC mapping of `test_cost_hand.test_two_level_weight_
stationary_outputs` (K=2, C=4 on 2 PEs: DRAM[C2] spatial x: K2, RF[C2]), whose dense
counts are DRAM W read 8, RF W fill 8, RF W read 8, DRAM I read 4, RF I fill 8, RF I
read 8, DRAM O update 2, RF O drain 2, RF O read 6, RF O update 8, network W 8 / I 8 /
O 2 words, 8 MACs; energy 232 pJ, 4 compute cycles.
"""

from __future__ import annotations

import pytest

from sedse.cost import evaluate
from sedse.errors import SpecError
from sedse.hardware import load_accelerator
from sedse.mapping import LevelMapping, Mapping, to_candidates
from sedse.workload import Layer, WeightEncoding

from .test_cost_hand import TWO_LEVEL

MAPPING = Mapping((LevelMapping((("C", 2),), (("x", (("K", 2),)),)),
                   LevelMapping((("C", 2),))))

REBUILD = """
rebuild:
  after_level: DRAM
  engines_per_instance: 2
  ping_pong: true
  weights_per_cycle: {wpc}
  shift_add_energy_pj: 0.5
  basis_load_energy_pj_per_bit: 0.25
  index_energy_pj_per_weight: 0.125
"""

# 8 weights stored in 32 bits (4 per weight): 8 index bits (a quarter), 16 basis bits,
# 3 shift/add operations per rebuilt weight, half the coefficient rows zero
SE = WeightEncoding("smartexchange/direct", 0.5, 0.5, 4.0, 16, 8, 3.0, 32, 8)


def _run(write, extra: str, layer: Layer):
    acc = load_accelerator(write("acc.yaml", TWO_LEVEL + extra))
    res = evaluate(layer, acc, to_candidates([MAPPING], acc))
    return res, {k: int(v[0]) for k, v in res.counts.items() if int(v[0]) != 0}


def _fc(**kw) -> Layer:
    return Layer("fc", kind="fc", K=2, C=4, **kw)


def test_dense_encoding_has_no_rebuild_cost(write):
    """A design with rebuild engines running dense weights is the plain design: 232 pJ."""
    res, counts = _run(write, REBUILD.format(wpc=1), _fc())
    assert res.total_energy_pj[0] == pytest.approx(232.0, abs=1e-9)
    assert not any(k[0] in ("REBUILD", "INDEX") for k in counts)
    assert res.rebuild_cycles[0] == 0


def test_rebuild_traffic_energy_and_throughput(write):
    """Weights cross DRAM -> RF in stored form (4 bits each), dense below.

    DRAM W reads 8 x 4/16 x 10 pJ = 20 pJ, of which the index quarter (5 pJ) is its own
    W_index row; network W 8 words x 4 bit x 0.125 = 4 pJ (was 16); RF fills stay 8
    dense words. Rebuild: 8 delivered weights x 3 ops x 0.5 = 12 pJ; basis 8/8 x 16
    bits x 0.25 = 4 pJ; index 8 x 0.125 = 1 pJ.
    Energy = 232 - (80 - 20) - (16 - 4) + 12 + 4 + 1 = 177 pJ.
    Throughput: 8 weights / (2 PEs x 1 engine at a time (ping-pong) x 0.5 per cycle)
    = 8 cycles > 4 compute cycles: rebuild-bound.
    """
    res, counts = _run(write, REBUILD.format(wpc=0.5), _fc(weight_encoding=SE))
    assert counts[("REBUILD", "W", "shift_add")] == 24
    assert counts[("REBUILD", "W", "basis_load")] == 16
    assert counts[("INDEX", "W", "lookup")] == 8
    assert res.energy_pj[("DRAM", "W", "read")][0] == pytest.approx(15.0)
    assert res.energy_pj[("DRAM", "W_index", "read")][0] == pytest.approx(5.0)
    assert res.energy_pj[("DRAM", "W", "network")][0] == pytest.approx(4.0)
    assert counts[("RF", "W", "fill")] == 8
    assert res.total_energy_pj[0] == pytest.approx(177.0, abs=1e-9)
    assert res.rebuild_cycles[0] == pytest.approx(8.0)
    assert res.cycles[0] == pytest.approx(8.0)


def test_halving_density_halves_weight_traffic_above_the_boundary(write):
    """Half the stored bits -> exactly half the DRAM weight energy and network weight
    energy; nothing below the boundary changes."""
    half = WeightEncoding("smartexchange/direct", 0.25, 0.5, 4.0, 8, 4, 3.0, 16, 8)
    full, _ = _run(write, REBUILD.format(wpc=1), _fc(weight_encoding=SE))
    halved, _ = _run(write, REBUILD.format(wpc=1), _fc(weight_encoding=half))
    for key in (("DRAM", "W", "read"), ("DRAM", "W_index", "read"), ("DRAM", "W", "network")):
        assert halved.energy_pj[key][0] == pytest.approx(full.energy_pj[key][0] / 2)
    for key in (("RF", "W", "fill"), ("RF", "W", "read")):
        assert halved.energy_pj[key][0] == full.energy_pj[key][0]


def test_skipping_zero_coefficient_rows(write):
    """Half the Ce rows are zero and skipped (keep 0.5).

    Inside the array W and I counts halve (RF W fill 4, read 4; RF I fill 4, read 4),
    the MAC's accumulations halve (RF O read 3, update 4), outputs are still drained
    (RF O drain 2, DRAM O update 2); the stored weights are not scaled again. The array
    is fed straight from DRAM here, and off-chip reads are never skipped (DRAM I read 4,
    network I 8 words).
    Energy: DRAM 20 + 40 + 20 = 80; RF 4+4+4+4+3+4+2 = 25; network W 4 + I 16 + O 4 = 24;
    4 MACs; rebuild 12 + 4 + 1 = 17. Total 150 pJ. Cycles ceil(4 x 0.5) = 2; rebuild
    8 x 0.5 / 2 = 2.
    """
    res, counts = _run(write, REBUILD.format(wpc=1) + "sparsity: {weight_rows: skip}\n",
                       _fc(weight_encoding=SE))
    assert {k: v for k, v in counts.items() if k[0] in ("RF", "MAC")} == {
        ("RF", "W", "fill"): 4, ("RF", "W", "read"): 4, ("RF", "I", "fill"): 4,
        ("RF", "I", "read"): 4, ("RF", "O", "read"): 3, ("RF", "O", "update"): 4,
        ("RF", "O", "drain"): 2, ("MAC", "-", "mac"): 4}
    assert counts[("DRAM", "I", "read")] == 4 and counts[("DRAM", "I", "network")] == 8
    assert counts[("DRAM", "W", "network")] == 8 and counts[("DRAM", "O", "update")] == 2
    assert res.total_energy_pj[0] == pytest.approx(150.0, abs=1e-9)
    assert res.cycles[0] == 2


def test_row_skipping_needs_the_rebuild_path(write):
    """Without rebuild engines a SmartExchange layer is dense: no row to skip."""
    res, _ = _run(write, "sparsity: {weight_rows: skip}\n", _fc(weight_encoding=SE))
    assert res.total_energy_pj[0] == pytest.approx(232.0, abs=1e-9)


def test_gating_zero_inputs_saves_energy_not_cycles(write):
    """A quarter of the inputs are zero and gated: MAC energy 8 -> 6, the innermost
    weight reads (RF W read) 8 -> 6; 232 - 2 - 2 = 228 pJ; still 4 cycles."""
    res, counts = _run(write, "sparsity: {inputs: gate}\n", _fc(input_zero_frac=0.25))
    assert counts[("RF", "W", "read")] == 6
    assert res.total_energy_pj[0] == pytest.approx(228.0, abs=1e-9)
    assert res.cycles[0] == 4


def test_element_sparse_weights_with_index(write):
    """A quarter of the weights are non-zero, stored as value + 4-bit index down to
    the RF: 0.25 x 20 = 5 bits per dense weight (index share 4/20) at DRAM and RF;
    skipping keeps 0.25 of the work; one 0.25 pJ index lookup per executed MAC.

    W (compressed, unscaled): DRAM read 8 x 5/16 x 10 = 25; RF fill 8 x 5/16 = 2.5,
    RF read 2.5; network 8 x 5 x 0.125 = 5.
    I: DRAM read 4 (off-chip reads are not skipped) -> 40 pJ; RF fill 2, read 2;
    network 8 words x 2 = 16 pJ.
    O: DRAM update 2 (20 pJ), RF drain 2, RF read ceil(1.5) = 2, update 2; network 4.
    MACs 2 -> 2 pJ; index 2 x 0.25 = 0.5 pJ.
    Total = 25 + 2.5 + 2.5 + 5 + 40 + 2 + 2 + 16 + 20 + 2 + 2 + 2 + 4 + 2 + 0.5 = 127.5.
    """
    enc = WeightEncoding("prune/element", 0.25, 0.0, 16.0, 0, 8, 0.0, 48, 8, 0.25)
    extra = ("sparsity: {weights: skip, weight_index_bits: 4, compressed_down_to: RF,"
             " index_energy_pj_per_weight: 0.25}\n")
    res, counts = _run(write, extra, _fc(weight_encoding=enc))
    assert counts[("MAC", "-", "mac")] == 2 and counts[("INDEX", "W", "lookup")] == 2
    assert counts[("RF", "W", "read")] == 8 and counts[("DRAM", "I", "read")] == 4
    assert res.energy_pj[("DRAM", "W_index", "read")][0] == pytest.approx(5.0)
    assert res.total_energy_pj[0] == pytest.approx(127.5, abs=1e-9)
    assert res.cycles[0] == 1


def test_bit_serial_cycles_follow_nonzero_digits(write):
    """16-bit inputs with a quarter of their digits non-zero: 4 cycles per MAC, so 16
    cycles; MAC energy 8 MACs x 4 digits x 0.25 pJ = 8 pJ (the same 232 pJ total)."""
    res, _ = _run(write, "bit_serial: {term_energy_pj: 0.25}\n",
                  _fc(input_nonzero_bit_frac=0.25))
    assert res.cycles[0] == 16
    assert res.total_energy_pj[0] == pytest.approx(232.0, abs=1e-9)


def test_rebuild_engine_needs_a_weight_buffer(write):
    text = TWO_LEVEL.replace("operands: [W, I, O]\n    capacity_bytes: 64",
                             "operands: [I, O]\n    capacity_bytes: 64")
    text += "rebuild: {after_level: RF}\n"
    with pytest.raises(SpecError, match="rebuild.after_level: level 'RF' holds no weights"):
        load_accelerator(write("bad.yaml", text))


@pytest.mark.parametrize("extra, match", [
    ("sparsity: {inputs: sometimes}\n", "sparsity.inputs: expected one of none, gate, skip"),
    ("rebuild: {after_level: GLB}\n", "rebuild.after_level: unknown level 'GLB'"),
    ("rebuild: {after_level: DRAM, engines_per_instance: 3}\n", "must be even"),
])
def test_bad_sparsity_and_rebuild_blocks(write, extra, match):
    with pytest.raises(SpecError, match=match):
        load_accelerator(write("bad.yaml", TWO_LEVEL + extra))


def test_statistics_outside_unit_interval_are_refused():
    with pytest.raises(ValueError, match="zero_row_frac must be in"):
        WeightEncoding("x", 0.5, 1.5, 4.0, 0, 0, 0.0, 8, 8)
    with pytest.raises(ValueError, match="input_zero_row_frac must be in"):
        _fc(input_zero_row_frac=-0.1)


THREE_LEVEL = """
name: three_level
clock_mhz: 100
pe_array: {shape: {x: 2}}
mac: {energy_pj_by_bits: {16: 1.0}}
levels:
  - {name: DRAM, operands: [W, I, O], word_bits: 16, read_energy_pj: 100.0,
     write_energy_pj: 100.0}
  - name: GLB
    operands: [W, I, O]
    capacity_bytes: 1024
    word_bits: 16
    read_energy_pj: 10.0
    write_energy_pj: 10.0
    fanout_dims: [x]
    network: {transfer_energy_pj_per_bit: 0.125}
  - {name: RF, operands: [W, I, O], capacity_bytes: 64, word_bits: 16, read_energy_pj: 1.0,
     write_energy_pj: 1.0}
sparsity: {inputs: skip}
"""


def test_skipping_scales_the_on_chip_feeder_but_not_dram(write):
    """With an on-chip global buffer feeding the array, skipping half the inputs halves
    its reads and network words of inputs and dense weights (the partners of skipped
    inputs are not fetched either); DRAM traffic and output drains stay."""
    acc = load_accelerator(write("c.yaml", THREE_LEVEL))
    mp = Mapping((LevelMapping(()), LevelMapping((("C", 2),), (("x", (("K", 2),)),)),
                  LevelMapping((("C", 2),))))
    cand = to_candidates([mp], acc)
    full = evaluate(_fc(), acc, cand).counts
    half = evaluate(_fc(input_zero_frac=0.5), acc, cand).counts
    for key in (("GLB", "I", "read"), ("GLB", "I", "network"), ("RF", "I", "fill"),
                ("RF", "I", "read"), ("RF", "W", "read"), ("MAC", "-", "mac"),
                ("GLB", "W", "read"), ("GLB", "W", "network")):
        assert half[key][0] * 2 == full[key][0], key
    for key in (("DRAM", "I", "read"), ("DRAM", "W", "read"), ("GLB", "O", "update"),
                ("RF", "O", "drain")):
        assert half[key][0] == full[key][0], key


@pytest.mark.parametrize("size, entry_bits, rf_bytes, fits", [
    (3, 8, 9, True),      # the paper's 3 x 3 basis at 8 bits fills the 9 B exactly
    (4, 8, 9, False),     # 16 B
    (5, 8, 25, True),
    (5, 8, 24, False),    # 25 B
    (4, 4, 8, True),      # 16 entries at 4 bits = 8 B
])
def test_one_basis_must_fit_the_engine_register_file(write, size, entry_bits, rf_bytes,
                                                     fits):
    """A rebuild engine holds one whole B (S x S entries at the encoding's bits) in
    `basis_rf_bytes`; a basis that does not fit is a one-line error naming the key."""
    from dataclasses import replace

    from sedse.errors import MappingError

    enc = replace(SE, basis_size=size, basis_entry_bits=entry_bits,
                  basis_bits=size * size * entry_bits + 32)   # one basis and its scale
    extra = REBUILD.format(wpc=1) + f"  basis_rf_bytes: {rf_bytes}\n"
    if fits:
        res, _ = _run(write, extra, _fc(weight_encoding=enc))
        assert res.total_energy_pj[0] > 0
    else:
        with pytest.raises(MappingError, match=rf"rebuild\.basis_rf_bytes: layer fc: one "
                           rf"{size}x{size} basis at {entry_bits} bits is "
                           rf"{-(-size * size * entry_bits // 8)} B, more than the "
                           rf"{rf_bytes} B"):
            _run(write, extra, _fc(weight_encoding=enc))


def test_an_unrecorded_basis_size_is_not_checked(write):
    """Encodings written before the basis size was recorded (0) evaluate as before."""
    res, _ = _run(write, REBUILD.format(wpc=1) + "  basis_rf_bytes: 1\n",
                  _fc(weight_encoding=SE))
    assert res.total_energy_pj[0] == pytest.approx(177.0, abs=1e-9)   # as above
