"""Accelerator specs: the shipped configs, and one-line errors for every kind of bad input."""

from __future__ import annotations

import pytest
import yaml

from sedse.errors import SpecError
from sedse.hardware import load_accelerator

from .conftest import HW


def test_eyeriss_matches_the_chip():
    acc = load_accelerator(HW / "eyeriss.yaml")
    assert acc.num_pes == 168 and acc.array_shape == (("rows", 12), ("cols", 14))
    glb, rf = acc.levels[1], acc.levels[2]
    assert sum(p.capacity_bytes for p in glb.partitions) == 108 * 1024
    assert [p.capacity_bytes for p in rf.partitions] == [448, 24, 48]
    assert acc.instances(2) == 168 and acc.clock_mhz == 200
    assert acc.peak_macs_per_s == pytest.approx(33.6e9)  # REFERENCE 2: 33.6 GMAC/s
    mac = acc.mac.energy_pj(16)
    # normalised energies 200 / 6 / 2 / 1 x a 16-bit MAC
    assert acc.levels[0].partitions[0].read_energy_pj / mac == pytest.approx(200)
    assert glb.partitions[0].read_energy_pj / mac == pytest.approx(6)
    assert glb.network.transfer_energy_pj_per_bit * 16 / mac == pytest.approx(2)
    assert rf.partitions[0].read_energy_pj / mac == pytest.approx(1)


def test_diannao_peak():
    acc = load_accelerator(HW / "diannao.yaml")
    assert acc.num_pes == 256
    # 256 multipliers + 240 adders (16 trees of 15) at 0.98 GHz = 486 GOP/s
    assert (256 + 16 * 15) * acc.clock_mhz / 1e3 == pytest.approx(486.08)
    assert [p.capacity_bytes for p in acc.levels[1].partitions] == [2048, 2048, 32768]


def _mutate(path, fn):
    data = yaml.safe_load(path.read_text())
    fn(data)
    return data


CASES = [
    # (mutation, expected message fragment)
    (lambda d: d.update(colour="red"), "colour: unknown key"),
    (lambda d: d.pop("clock_mhz"), "<top>: missing key 'clock_mhz'"),
    (lambda d: d.update(clock_mhz="fast"), "clock_mhz: expected a finite number, found the string"),
    (lambda d: d.update(clock_mhz="200MHz"), "the unit belongs in the key name"),
    (lambda d: d.update(clock_mhz=0), "clock_mhz: expected a number > 0, found 0"),
    (lambda d: d["pe_array"]["shape"].update(rows=-3),
     "pe_array.shape.rows: expected an integer >= 1, found -3"),
    (lambda d: d["levels"][1]["partitions"][0].update(capacity_bytes="8KB"),
     "levels[1].partitions[0].capacity_bytes: expected an integer, found the string '8KB' "
     "(write a plain number; the unit belongs in the key name)"),
    (lambda d: d["levels"][1]["partitions"][0].update(capacity_bytes=0),
     "levels[1].partitions[0].capacity_bytes: expected an integer >= 1, found 0"),
    (lambda d: d["levels"][2].update(read_energy_pj=-1.0),
     "levels[2].read_energy_pj: expected a number >= 0.0, found -1.0"),
    (lambda d: d["levels"][2]["partitions"][0].update(operands=["X"]),
     "levels[2].partitions[0].operands[0]: expected one of W, I, O, found 'X'"),
    (lambda d: d["levels"][0].update(operands=["W", "I"]),
     "levels[0]: the outermost level must store W, I and O"),
    (lambda d: d["levels"][1].update(fanout_dims=["rows"]),
     "levels: array axes ['cols'] fan out under no level"),
    (lambda d: d["levels"][1].update(fanout_dims=["rows", "cols", "slices"]),
     "levels[1].fanout_dims[2]: unknown array axis 'slices'"),
    (lambda d: d["levels"][1].pop("network"), "levels[1]: missing key 'network'"),
    (lambda d: d["levels"][2].update(name="GLB"), "levels[2].name: level name 'GLB' used twice"),
    (lambda d: d["mac"].update(energy_pj_by_bits={8: 0.45}),
     "mac.energy_pj_by_bits: no entry for the accelerator's 16-bit precision"),
    (lambda d: d["levels"][2]["partitions"][1].update(operands=["W"]),
     "levels[2].partitions: an operand appears in two partitions"),
    (lambda d: d["levels"][1]["network"].update(multicast="yes"),
     "levels[1].network.multicast: expected true or false"),
    (lambda d: d.update(levels={}), "levels: expected a list, found a mapping"),
]


@pytest.mark.parametrize("mutation, message", CASES)
def test_bad_accelerator_yaml(write, mutation, message):
    data = _mutate(HW / "eyeriss.yaml", mutation)
    path = write("bad.yaml", yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SpecError) as exc:
        load_accelerator(path)
    text = str(exc.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    assert message in text


def test_missing_and_malformed_files(write, tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load_accelerator(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match=r"line 2: malformed YAML"):
        load_accelerator(write("m.yaml", "name: x\n  bad: [1,\n"))
    with pytest.raises(SpecError, match="the file is empty"):
        load_accelerator(write("e.yaml", ""))
