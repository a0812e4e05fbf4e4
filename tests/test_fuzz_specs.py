"""Random accelerator and study specs: loading and evaluating them raises nothing but
sedse's own errors (SedseError: a one-line message), never a crash. Each spec is a
shipped, valid document with random mutations (values replaced by wrong types, units
in values, extremes, keys deleted or added)."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sedse._yaml import Node
from sedse.cost import SearchSettings, search_mapping
from sedse.errors import SedseError
from sedse.hardware import accelerator_from_node
from sedse.study import load_study
from sedse.workload import Layer

from .conftest import HW, ROOT

ACCELERATORS = [yaml.safe_load((HW / f"{n}.yaml").read_text()) for n in
                ("smartexchange", "eyeriss", "diannao", "scnn", "cambricon_x", "bit_pragmatic",
                 "systolic_ws_32x32")]
STUDY = yaml.safe_load((ROOT / "studies" / "quickstart.yaml").read_text())
STUDY["accelerator"] = str(HW / "smartexchange.yaml")
STUDY["technology"] = str(HW / "tech" / "65nm.yaml")
HW_STUDY = yaml.safe_load((ROOT / "studies" / "hardware_resnet18.yaml").read_text())
HW_STUDY["accelerator"] = STUDY["accelerator"]
HW_STUDY["technology"] = STUDY["technology"]
LAYERS = [Layer("fc", kind="fc", K=8, C=12),
          Layer("conv", K=4, C=3, P=5, Q=5, R=3, S=3, input_bits=8, weight_bits=8,
                output_bits=8)]

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from([0, 1, 2, 10**12, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(
        ["", "8KB", "200MHz", "full", "W", "skip", "gate", "R", "nsga2", "GLB", "x" * 50]),
    st.lists(st.sampled_from(["W", "I", "O", "K", "C", 3, None]), max_size=4),
    st.dictionaries(st.sampled_from(["a", "name", "low", "high", "choices"]),
                    st.integers(-2, 4), max_size=3))


def _paths(doc, prefix=()):
    """Every (path to a value) in a nested document."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw, bases):
    doc = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        action = draw(st.sampled_from(["numeric", "numeric", "replace", "delete", "add"]))
        old = parent[path[-1]]
        if action == "numeric":   # keep the type valid so more designs reach evaluation
            if isinstance(old, bool) or not isinstance(old, (int, float)):
                continue
            parent[path[-1]] = draw(st.integers(0, 10**7)) if isinstance(old, int) else \
                draw(st.floats(0.0, 1e6, allow_nan=False))
        elif action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "delete":
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, list) and parent:
                parent.pop(path[-1])
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "name", "operands", "low"]))] = draw(VALUES)
    return doc


# derandomize: CI checks the same 700 examples every run (larger random runs were
# done by hand: 6,000 accelerators and 2,500 studies, no crash after the 2^40 bound)
@settings(max_examples=700, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(mutated(ACCELERATORS))
def test_random_accelerators_load_and_evaluate_or_fail_cleanly(doc):
    try:
        acc = accelerator_from_node(Node(doc, "fuzz.yaml", ""))
    except SedseError:
        return
    for layer in LAYERS:
        try:
            search_mapping(layer, acc, SearchSettings(budget=40, rounds=2, keep_top=1))
        except SedseError:
            pass


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(mutated([STUDY, HW_STUDY]))
def test_random_studies_load_or_fail_cleanly(doc):
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "study.yaml"
        f.write_text(yaml.safe_dump(doc))
        try:
            load_study(f)
        except SedseError:
            pass
