"""Latency as hardware spends it: per-pass fill/drain, stationary reloads, ports, network
widths, access granularity; partial-sum precision and padding generated on chip.

Every case is hand-derived in its docstring and asserted exactly."""

from __future__ import annotations

import pytest

from sedse.cost import evaluate, evaluate_mapping
from sedse.hardware import load_accelerator
from sedse.mapping import LevelMapping, Mapping, to_candidates
from sedse.workload import Layer

from .test_cost_hand import ONE_LEVEL

#: A 4 x 4 weight-stationary array: weights in 1-byte registers, inputs from the left
#: (rows: C), outputs down the columns (cols: K). Unbounded buffer and DRAM ports, so
#: only the array's own mechanisms set the time.
SYSTOLIC = """
name: ws4
clock_mhz: 100
precision: {{input_bits: 8, weight_bits: 8, output_bits: 8{psum}}}
pe_array:
  shape: {{rows: 4, cols: 4}}
  passes: {{stationary: W, fill_drain_cycles: {{rows: 1, cols: 1, const: -2}}}}
mac: {{energy_pj_by_bits: {{8: 1.0}}}}
{padding}
levels:
  - name: DRAM
    operands: [W, I, O]
    word_bits: 8
    read_energy_pj: 10.0
    write_energy_pj: 10.0
  - name: Buffer
    operands: [W, I, O]
    capacity_bytes: 65536
    word_bits: 8
    read_energy_pj: 1.0
    write_energy_pj: 2.0
    fanout_dims: [rows, cols]
    network:
      transfer_energy_pj_per_bit: 0.0
      width_bits: {{W: 32, I: {i_width}, O: 32}}
  - name: WReg
    word_bits: 8
    read_energy_pj: 0.0
    write_energy_pj: 0.0
    bandwidth_bytes_per_cycle: 1
    partitions:
      - {{operands: [W], capacity_bytes: 1, double_buffered: {double}}}
"""


def _acc(write, *, double="false", i_width=32, psum="", padding=""):
    return load_accelerator(write("ws4.yaml", SYSTOLIC.format(
        double=double, i_width=i_width, psum=psum, padding=padding)))


def _ws_mapping(order="K2 C2"):
    """Buffer: K2 C2 (4 weight folds) over rows C4 x cols K4; WReg streams P4 Q4."""
    tm = tuple((t[0], int(t[1:])) for t in order.split())
    return Mapping((LevelMapping(),
                    LevelMapping(temporal=tm, spatial=(("rows", (("C", 4),)),
                                                       ("cols", (("K", 4),)))),
                    LevelMapping(temporal=(("P", 4), ("Q", 4)))))


LAYER = Layer("conv", kind="conv", K=8, C=8, P=4, Q=4, input_bits=8, weight_bits=8,
              output_bits=8)


def test_weight_folds_pay_fill_drain_and_reload(write):
    """SCALE-Sim's weight-stationary fold: 2 Sr + Sc + T - 2 cycles.

    4 folds (K2 x C2 at the buffer: every step changes the array's weights), T = 16
    (P4 Q4 streamed per fold). Per fold: fill/drain rows + cols - 2 = 6 cycles, and the
    single-buffered registers stall while 16 weights x 8 b cross the 32-bit weight
    network: 4 cycles (the register's own 1 B/cycle port: 1 cycle, the slower wins).
    4 x (16 + 6 + 4) = 104 = 4 x (2 x 4 + 4 + 16 - 2). Inputs: 4 distinct words per
    cycle over a 32-bit network, 64 cycles, within the compute side.
    """
    acc = _acc(write)
    res = evaluate(LAYER, acc, to_candidates([_ws_mapping()], acc))
    assert res.passes[0] == 4
    assert res.pass_cycles[0] == 4 * 6
    assert res.stall_cycles[0] == 4 * 4
    assert res.compute_cycles[0] == 64
    assert res.fill_drain_cycles[0] == 0          # unbounded buffer and DRAM ports
    assert res.cycles[0] == 4 * (2 * 4 + 4 + 16 - 2)
    assert res.binding(0) == "compute"
    assert res.port_cycles["Buffer network I down"][0] == 64


def test_double_buffered_registers_hide_the_reload(write):
    """With a shadow weight register the 4-cycle reload overlaps the previous fold:
    only the fill/drain remains, 4 x (16 + 6) = 88 cycles."""
    acc = _acc(write, double="true")
    res = evaluate(LAYER, acc, to_candidates([_ws_mapping()], acc))
    assert res.stall_cycles[0] == 0
    assert res.cycles[0] == 88


def test_stationary_loops_are_one_pass(write):
    """Order C2 K2 vs K2 C2 changes nothing (both index W); a P loop above WReg that
    does not index W keeps the weights: Buffer[K2 C2 P2] with WReg[P2 Q4] is still 4
    folds of T = 16, not 8."""
    acc = _acc(write)
    mp = Mapping((LevelMapping(),
                  LevelMapping(temporal=(("K", 2), ("C", 2), ("P", 2)),
                               spatial=(("rows", (("C", 4),)), ("cols", (("K", 4),)))),
                  LevelMapping(temporal=(("P", 2), ("Q", 4)))))
    res = evaluate(LAYER, acc, to_candidates([mp], acc))
    assert res.passes[0] == 4
    assert res.cycles[0] == 104


def test_narrow_network_binds_and_is_named(write):
    """An 8-bit input network carries one of the 4 distinct inputs per cycle: 64 MAC
    cycles x 4 words = 256 cycles, above the compute side's 104; the latency is the
    network's, and the breakdown names it."""
    acc = _acc(write, i_width=8)
    lc = evaluate_mapping(LAYER, acc, _ws_mapping())
    assert lc.cycles == 256
    assert lc.binding == "Buffer network I down"
    rows = {r["part"]: r for r in lc.latency_rows()}
    assert rows["compute"]["cycles"] == 104
    assert rows["Buffer network I down"]["binding"] is True


def test_partial_sums_at_their_own_precision(write):
    """psum_bits 24 with 8-bit outputs: psums move at 24 bits, each output's last write
    at 8. The buffer holds O for the MAC: 64 updates, 48 read-backs (64 - 16 distinct
    outputs x ... : V = 64 MAC cycles x 4 cols, D = 4 x 4 = 16 x 4), finals = 128
    outputs (K8 P4 Q4). Read energy x 3 exactly; update energy = (n - 128) x 3 x 2 pJ +
    128 x 2 pJ."""
    base = evaluate(LAYER, _acc(write), to_candidates([_ws_mapping()], _acc(write)))
    acc = _acc(write, psum=", psum_bits: 24")
    res = evaluate(LAYER, acc, to_candidates([_ws_mapping()], acc))
    rd, up = ("Buffer", "O", "read"), ("Buffer", "O", "update")
    assert res.counts[rd][0] == base.counts[rd][0]
    assert res.energy_pj[rd][0] == pytest.approx(3 * base.energy_pj[rd][0])
    n = int(res.counts[up][0])
    assert res.energy_pj[up][0] == pytest.approx((n - 128) * 3 * 2.0 + 128 * 2.0)
    assert base.energy_pj[up][0] == pytest.approx(n * 2.0)


PADDED = Layer("conv3", kind="conv", K=4, C=4, P=8, Q=8, R=3, S=3, pad_h=1, pad_w=1,
               input_bits=8, weight_bits=8, output_bits=8)


def _padded_mapping():
    return Mapping((LevelMapping(),
                    LevelMapping(temporal=(("R", 3), ("S", 3)),
                                 spatial=(("rows", (("C", 4),)), ("cols", (("K", 4),)))),
                    LevelMapping(temporal=(("P", 8), ("Q", 8)))))


def test_padding_is_generated_on_chip(write):
    """A 3 x 3 conv with padding 1 on 8 x 8 outputs touches a 10 x 10 padded input
    whose border ring is zeros: generated on chip, only 8 x 8 / 10 x 10 = 64% of the
    DRAM input reads happen; `padding: fetched` reads them all. On-chip counts agree."""
    gen = _acc(write)
    fetched = _acc(write, padding="padding: fetched")
    a = evaluate(PADDED, gen, to_candidates([_padded_mapping()], gen))
    b = evaluate(PADDED, fetched, to_candidates([_padded_mapping()], fetched))
    key = ("DRAM", "I", "read")
    assert b.counts[key][0] == 4 * 10 * 10
    assert a.counts[key][0] == 4 * 8 * 8
    assert a.counts[("Buffer", "I", "fill")][0] == b.counts[("Buffer", "I", "fill")][0]


#: test_cost_hand's one-level design with separate read (4 B) and write (1 B) ports
SEPARATE = ONE_LEVEL.replace("    bandwidth_bytes_per_cycle: 2\n",
                             "    read_bandwidth_bytes_per_cycle: 4\n"
                             "    write_bandwidth_bytes_per_cycle: 1\n")


def test_separate_read_and_write_ports(write):
    """FC K=2, C=3, loops K then C, on DRAM only (see test_cost_hand's one-level case):
    reads 6 W + 6 I + 4 psums = 16 words = 32 B at 4 B/cycle = 8 cycles; writes 6 psum
    updates = 12 B at 1 B/cycle = 12 cycles. The write port binds: 12 cycles (a shared
    2 B/cycle port gave 22)."""
    acc = load_accelerator(write("p.yaml", SEPARATE))
    mp = Mapping((LevelMapping(temporal=(("K", 2), ("C", 3)), spatial=(("x", ()),)),))
    lc = evaluate_mapping(Layer("fc", kind="fc", K=2, C=3), acc, mp)
    ports = dict(lc.port_cycles)
    assert ports["DRAM[W,I,O] read port"] == 8
    assert ports["DRAM[W,I,O] write port"] == 12
    assert lc.cycles == 12
    assert lc.binding == "DRAM[W,I,O] write port"


def test_access_granularity_rounds_narrow_transfers(write):
    """An 8-bit operand in a level of 32-bit words moved one element per transfer takes
    a whole word access each: the same 6 reads + 6 reads + 4 psum reads as above, at 8
    bits, cost 16 x 4 B at 4 B/cycle = 16 read cycles (not 8 x ... packed = 8)."""
    text = SEPARATE.replace("word_bits: 16", "word_bits: 32").replace(
        "{16: 1.0}", "{8: 1.0}")
    text = text.replace("pe_array:", "precision: {input_bits: 8, weight_bits: 8, "
                        "output_bits: 8}\npe_array:")
    acc = load_accelerator(write("g.yaml", text))
    mp = Mapping((LevelMapping(temporal=(("K", 2), ("C", 3)), spatial=(("x", ()),)),))
    layer = Layer("fc", kind="fc", K=2, C=3, input_bits=8, weight_bits=8, output_bits=8)
    lc = evaluate_mapping(layer, acc, mp)
    assert dict(lc.port_cycles)["DRAM[W,I,O] read port"] == 16
