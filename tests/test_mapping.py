"""Mapping notation: parsing, validity checks with file + key errors, round trip."""

from __future__ import annotations

import pytest

import sedse_models
from sedse._yaml import load_yaml
from sedse.cost import checked_mapping, evaluate_mapping
from sedse.errors import MappingError, SpecError
from sedse.hardware import load_accelerator
from sedse.mapping import to_candidates

from .conftest import HW, ROOT

EYERISS = load_accelerator(HW / "eyeriss.yaml")
CONV3 = next(layer for layer in sedse_models.workload("alexnet").layers
             if layer.name == "features.8")


def _load(path):
    return checked_mapping(load_yaml(path).get("features.8"), CONV3, EYERISS)


def test_example_mapping_evaluates():
    mp = _load(ROOT / "examples" / "alexnet_conv3_eyeriss.yaml")
    cost = evaluate_mapping(CONV3, EYERISS, mp)
    # 156 active PEs, perfect factors: utilisation 156/168
    assert cost.utilisation == pytest.approx(156 / 168)
    assert cost.compute_cycles == CONV3.macs // 156
    # weights bypass the GLB: no GLB weight action at all
    assert not any(r["level"] == "GLB" and r["operand"] == "W" and r["action"] != "network"
                   for r in cost.rows)
    assert mp.levels[1].keep == ("I", "O")
    assert "GLB[Q13 C16] spatial[rows: K4 R3; cols: P13] keep=I,O" in cost.mapping_text


def test_candidate_round_trip():
    mp = _load(ROOT / "examples" / "alexnet_conv3_eyeriss.yaml")
    cand = to_candidates([mp], EYERISS)
    again = to_candidates([cand.mapping(0, EYERISS)], EYERISS)
    assert (cand.tf == again.tf).all() and (cand.sf == again.sf).all()
    assert (cand.keep == again.keep).all()


BASE = """features.8:
  DRAM: {temporal: "K24 C4"}
  GLB: {temporal: "Q13 C16", spatial: {rows: "R3 K4", cols: "P13"}, keep: [I, O]}
  RF: {temporal: "C4 K4 S3"}
"""


@pytest.mark.parametrize("old, new, message", [
    ('"K24 C4"', '"K12 C4"',
     "features.8: factors of K multiply to 192, which does not cover the layer's K = 384"),
    ('cols: "P13"', 'cols: "P13 Q2"', "spatial factors on axis 'cols' multiply to 26 > the "
     "array's 14"),
    ('"C4 K4 S3"', '"C4 K4 S3 X2"', "features.8.RF.temporal: expected factors like 'K4 C2'"),
    ('"C4 K4 S3"', '"C4 K4 S3 C2"', "features.8.RF.temporal: a dim appears twice"),
    ("RF:", "PE:", "features.8.PE: unknown key (allowed here: DRAM, GLB, RF)"),
    ('spatial: {rows: "R3 K4", cols: "P13"}, keep', 'spatial: {slices: "R3"}, keep',
     "features.8.GLB.spatial.slices: axis 'slices' does not fan out under level GLB"),
    ("keep: [I, O]", "keep: [I, O, X]", "features.8.GLB.keep: expected operands among W, I, O"),
    ('"K24 C4"}', '"K24 C4"}\n  BAD', "malformed YAML"),
    ("keep: [I, O]", "keep: [W, I, O]",
     "tile of W at level GLB needs 18432 bytes > capacity 8192 bytes"),
    ('"K24 C4"', '"K24 C4 N0"', "features.8.DRAM.temporal: factor of N must be >= 1"),
])
def test_bad_mappings(write, old, new, message):
    assert old in BASE
    path = write("m.yaml", BASE.replace(old, new, 1))
    with pytest.raises(SpecError) as exc:
        _load(path)
    text = str(exc.value)
    assert text.startswith(str(path)) and "\n" not in text
    assert message in text


def test_mapping_error_is_a_spec_error():
    assert issubclass(MappingError, SpecError)
