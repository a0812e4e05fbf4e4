"""Random accelerator, workload, mapping, study and compressed-directory (`layers.json`)
documents: loading them, and evaluating what loads, raises nothing but sedse's own
errors (SedseError: a one-line message), never a crash. Each document is a shipped,
valid one with random mutations: values replaced by wrong types, units in values,
extremes (NaN, infinities, 10^30, 10^400), keys deleted, added or renamed to non-string
or boolean keys; some are written as YAML (or JSON) text and then mangled as text
(a line repeated, which duplicates a key, a stray byte, a tab, a cut).

Derandomized: CI checks the same examples every run. Counts (at least 5,000 in all):
accelerators 1,500, workloads 1,200, mappings 1,000, studies 600, compressed 1,000.
Evaluation is kept cheap (tiny layers, `SearchSettings(budget=40, rounds=2,
keep_top=1)`) so the whole file runs in a few minutes on two cores."""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sedse_models
from sedse._yaml import Node, load_yaml
from sedse.compress._io import load_compressed
from sedse.cost import SearchSettings, checked_mapping, evaluate_mapping, search_mapping
from sedse.errors import SedseError
from sedse.hardware import accelerator_from_node, load_accelerator
from sedse.study import load_study
from sedse.workload import Layer, load_workload

from .conftest import HW, ROOT

SUPPORT = Path(__file__).parent / "bad_inputs" / "_support"
SEARCH = SearchSettings(objective="energy", budget=40, rounds=2, keep_top=1)
RAN: Counter = Counter()      # examples run per document kind (checked by the last test)
LOADED: Counter = Counter()   # of those, documents that loaded (and were then evaluated)
COUNTS = {"accelerators": 1500, "workloads": 1200, "mappings": 1000, "studies": 600,
          "compressed": 1000}


def _fuzz(kind: str):
    return settings(max_examples=COUNTS[kind], deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck), database=None)


ACC_NAMES = ("smartexchange", "eyeriss", "diannao", "scnn", "cambricon_x", "bit_pragmatic",
             "systolic_ws_32x32")
ACCELERATORS = [yaml.safe_load((HW / f"{n}.yaml").read_text()) for n in ACC_NAMES]
STUDY = yaml.safe_load((ROOT / "studies" / "quickstart.yaml").read_text())
STUDY["accelerator"] = str(HW / "smartexchange.yaml")
STUDY["technology"] = str(HW / "tech" / "65nm.yaml")
HW_STUDY = yaml.safe_load((ROOT / "studies" / "hardware_resnet18.yaml").read_text())
HW_STUDY["accelerator"] = STUDY["accelerator"]
HW_STUDY["technology"] = STUDY["technology"]
NONE_STUDY = {"name": "fixed", "model": "lenet5", "accelerator": STUDY["accelerator"],
              "technology": STUDY["technology"], "compression": {"method": "none"},
              "weights": {"stats": str(SUPPORT / "valid_stats.yaml")},
              "search_space": {"hardware.pe_array.shape.slices": {"choices": [2, 4]},
                               "hardware.levels.GLB.partitions.W.capacity_bytes":
                                   {"low": 2048, "high": 65536, "log": True}},
              "objectives": ["energy", "latency"], "constraints": {"area_mm2": 8.0},
              "mapping_search": {"objective": "edp", "budget": 20},
              "sampler": {"name": "tpe", "seed": 3}, "n_trials": 4, "batch": 2}
LAYERS = [Layer("fc", kind="fc", K=8, C=12),
          Layer("conv", K=4, C=3, P=5, Q=5, R=3, S=3, input_bits=8, weight_bits=8,
                output_bits=8)]
ENC = {"method": "prune", "coefficient_density_frac": 0.5, "zero_row_frac": 0.0,
       "bits_per_nonzero": 8.0, "basis_bits": 0, "index_bits": 96,
       "rebuild_ops_per_weight": 0.0, "total_bits": 500, "dense_weights": 96}
WORKLOADS = [
    {"name": "tiny", "layers": [
        {"name": "conv1", "kind": "conv", "K": 4, "C": 3, "P": 4, "Q": 4, "R": 3, "S": 3},
        {"name": "fc1", "kind": "fc", "K": 8, "C": 12, "weight_encoding": ENC}]},
    {"name": "strided", "layers": [
        {"name": "c", "K": 2, "C": 2, "P": 3, "Q": 3, "R": 3, "S": 3, "stride_h": 2,
         "stride_w": 2, "dilation_h": 2, "pad_h": 1, "pad_w": 1, "input_zero_frac": 0.4,
         "output_zero_frac": 0.1, "input_zero_row_frac": 0.05,
         "input_nonzero_bit_frac": 0.2, "input_bits": 8, "weight_bits": 8,
         "output_bits": 8}]},
    {"name": "attn", "layers": [
        {"name": "qk", "kind": "matmul", "N": 2, "P": 4, "C": 8, "K": 4,
         "weight_is_activation": True},
        {"name": "dw", "G": 4, "K": 1, "C": 1, "P": 4, "Q": 4, "R": 3, "S": 3}]},
]
EYERISS = load_accelerator(HW / "eyeriss.yaml")
SMALL_ACCS = [EYERISS, load_accelerator(HW / "smartexchange.yaml"),
              load_accelerator(HW / "systolic_ws_32x32.yaml")]
LENET = sedse_models.workload("lenet5", 1)
LENET_BY_NAME = {layer.name: layer for layer in LENET.layers}
COMPRESSED = json.loads((SUPPORT / "valid_compressed" / "layers.json").read_text())

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5),
    st.sampled_from([0, 1, 2, 10**12, 2**40, 2**40 + 1, 2**48, 2**63, 10**30, -10**30,
                     10**400]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(
        ["", "8KB", "200MHz", "full", "W", "skip", "gate", "R", "nsga2", "GLB", "x" * 50,
         "K4 C2", "K0", "K99999999999999999999", "../../x", "/etc", "NaN", "1e400"]),
    st.lists(st.sampled_from(["W", "I", "O", "K", "C", 3, None, 1.5]), max_size=4),
    st.dictionaries(st.sampled_from(["a", "name", "low", "high", "choices", "K"]),
                    st.integers(-2, 4), max_size=3))
KEYS = st.sampled_from([1, 0, -1, 16, True, False, None, 1.5, "", "extra", "name", "on",
                        "x" * 300, "K", "DRAM"])


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
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        action = draw(st.sampled_from(["numeric", "numeric", "replace", "delete", "add",
                                       "key"]))
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
        elif action == "key":     # rename: non-string keys, booleans, empty, long
            if isinstance(parent, dict):
                parent[draw(KEYS)] = parent.pop(path[-1])
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "name", "operands", "low", 7, True]))] = \
                draw(VALUES)
    return doc


_JUNK = [b"\xff", b"\xe9", b"\x00", b"\t", b"\x80\x81", b"{", b"]", b": ", b"&a ", b"*a",
         b"!!python/object:os.system ", b"\xef\xbb\xbf"]


@st.composite
def mangled(draw, text: bytes):
    """`text` mangled as text: a line repeated (a duplicate key), junk inserted, a cut."""
    lines = text.splitlines(keepends=True) or [b""]
    for _ in range(draw(st.integers(1, 2))):
        action = draw(st.sampled_from(["dup", "dup", "junk", "cut", "swap"]))
        i = draw(st.integers(0, len(lines) - 1))
        if action == "dup":
            lines.insert(i + 1, lines[i])
        elif action == "junk":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.sampled_from(_JUNK)) + lines[i][at:]
        elif action == "cut":
            lines = lines[:i] + [lines[i][:draw(st.integers(0, len(lines[i])))]]
        elif len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


def _yaml_bytes(doc) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode()


@st.composite
def document(draw, bases, dump=_yaml_bytes):
    """("doc", a mutated document) or ("text", bytes: dumped, sometimes mangled)."""
    doc = draw(mutated(bases))
    if draw(st.integers(0, 4)) > 0:
        return "doc", doc
    text = dump(doc)
    return "text", draw(mangled(text)) if draw(st.booleans()) else text


def _search(layers, acc) -> None:
    for layer in layers:
        try:
            search_mapping(layer, acc, SEARCH)
        except SedseError:
            pass


# ---------------------------------------------------------------- accelerators
@_fuzz("accelerators")
@given(document(ACCELERATORS))
def test_random_accelerators_load_and_evaluate_or_fail_cleanly(item):
    RAN["accelerators"] += 1
    form, doc = item
    try:
        if form == "doc":
            acc = accelerator_from_node(Node(doc, "fuzz.yaml", ""))
        else:
            with tempfile.TemporaryDirectory() as d:
                (Path(d) / "acc.yaml").write_bytes(doc)
                acc = load_accelerator(Path(d) / "acc.yaml")
    except SedseError:
        return
    LOADED["accelerators"] += 1
    _search(LAYERS, acc)


# ---------------------------------------------------------------- workloads
@_fuzz("workloads")
@given(document(WORKLOADS), st.sampled_from(range(len(SMALL_ACCS))))
def test_random_workloads_load_and_evaluate_or_fail_cleanly(item, ai):
    RAN["workloads"] += 1
    form, doc = item
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "w.yaml"
        f.write_bytes(doc if form == "text" else _yaml_bytes(doc))
        try:
            wl = load_workload(f)
        except SedseError:
            return
    LOADED["workloads"] += 1
    acc = SMALL_ACCS[ai]
    try:
        wl = wl.with_precision(acc.input_bits, acc.weight_bits, acc.output_bits)
    except SedseError:
        return
    _search(wl.layers[:2], acc)


# ---------------------------------------------------------------- mappings
def _notation(mapping, acc) -> dict:
    """`Mapping.to_doc`, with spatial factors in the mapping form ({K: 4}) so both
    notations are fuzzed."""
    doc = mapping.to_doc(acc)
    for d in doc.values():
        if "spatial" in d:
            d["spatial"] = {a: {t[0]: int(t[1:]) for t in text.split()}
                            for a, text in d["spatial"].items()}
    return doc


def _mapping_bases() -> list[tuple[Layer, object, dict]]:
    conv3 = next(layer for layer in sedse_models.workload("alexnet").layers
                 if layer.name == "features.8")
    example = load_yaml(ROOT / "examples" / "alexnet_conv3_eyeriss.yaml").value
    bases = [(conv3, EYERISS, example)]
    for layer in LAYERS:
        for acc in SMALL_ACCS:
            layer_ = replace(layer, input_bits=acc.input_bits, weight_bits=acc.weight_bits,
                             output_bits=acc.output_bits)
            res = search_mapping(layer_, acc, SearchSettings(objective="energy", budget=200,
                                                             rounds=2))
            bases.append((layer_, acc, {layer_.name: _notation(res.best.mapping(0, acc),
                                                                 acc)}))
    for layer, acc, doc in bases:   # each base is valid as it is
        for name in doc:
            checked_mapping(Node(doc, "base.yaml", "").get(name), layer, acc)
    return bases


MAPPINGS = _mapping_bases()


@_fuzz("mappings")
@given(st.sampled_from(range(len(MAPPINGS))).flatmap(
    lambda i: st.tuples(st.just(i), document([MAPPINGS[i][2]]))))
def test_random_mappings_check_and_evaluate_or_fail_cleanly(case):
    RAN["mappings"] += 1
    i, (form, doc) = case
    layer, acc, _ = MAPPINGS[i]
    try:
        if form == "doc":
            root = Node(doc, "fuzz.yaml", "")
        else:
            with tempfile.TemporaryDirectory() as d:
                (Path(d) / "m.yaml").write_bytes(doc)
                root = load_yaml(Path(d) / "m.yaml")
        for _name, node in root.items():
            mp = checked_mapping(node, layer, acc)
            LOADED["mappings"] += 1
            evaluate_mapping(layer, acc, mp)
    except SedseError:
        pass


# ---------------------------------------------------------------- studies
@_fuzz("studies")
@given(document([STUDY, HW_STUDY, NONE_STUDY]))
def test_random_studies_load_or_fail_cleanly(item):
    RAN["studies"] += 1
    form, doc = item
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "study.yaml"
        f.write_bytes(doc if form == "text" else _yaml_bytes(doc))
        try:
            load_study(f)
            LOADED["studies"] += 1
        except SedseError:
            pass


# ---------------------------------------------------------------- compressed directories
def _npz_variants() -> list[Path]:
    """weights.npz files: the valid one (most examples) and broken ones."""
    d = Path(tempfile.mkdtemp(prefix="sedse-fuzz-npz-"))
    valid = SUPPORT / "valid_compressed" / "weights.npz"
    out = [valid, valid, valid]
    with np.load(valid) as z:
        arrays = {k: z[k] for k in z.files}
    nan = {k: np.full_like(v, np.nan) for k, v in arrays.items()}
    missing = {k: v for k, v in arrays.items() if not k.startswith("classifier.3")}
    for name, arrs in (("nan", nan), ("missing", missing)):
        np.savez_compressed(d / f"{name}.npz", **arrs)
        out.append(d / f"{name}.npz")
    (d / "cut.npz").write_bytes(valid.read_bytes()[:300])
    out.append(d / "cut.npz")
    return out


NPZ = _npz_variants()


def _json_bytes(doc) -> bytes:
    return json.dumps(doc, indent=1).encode()


@_fuzz("compressed")
@given(document([COMPRESSED], dump=_json_bytes), st.sampled_from(range(len(NPZ))))
def test_random_compressed_directories_load_and_evaluate_or_fail_cleanly(item, ni):
    RAN["compressed"] += 1
    form, doc = item
    with tempfile.TemporaryDirectory() as d:
        try:
            text = doc if form == "text" else _json_bytes(doc)
        except (TypeError, ValueError):   # a key json cannot write: a different document
            return
        (Path(d) / "layers.json").write_bytes(text)
        os.symlink(NPZ[ni], Path(d) / "weights.npz")
        try:
            loaded, encodings = load_compressed(Path(d), LENET, model="lenet5")
        except SedseError:
            return
    LOADED["compressed"] += 1
    per_layer = {name: {"weight_encoding": enc} for name, enc in encodings.items()}
    for name, acts in (loaded.get("activations") or {}).items():
        per_layer.setdefault(name, {}).update(acts)
    wl = LENET.with_layer_fields(per_layer)
    acc = SMALL_ACCS[1]
    wl = wl.with_precision(acc.input_bits, acc.weight_bits, acc.output_bits)
    _search([layer for layer in wl.layers if layer.name in ("features.3", "classifier.1")],
            acc)


def test_the_fuzz_ran_every_example():
    """The counts above are what ran (skipped when the fuzz tests were deselected)."""
    if set(RAN) != set(COUNTS):
        pytest.skip("run the whole file to count the fuzz examples")
    assert dict(RAN) == COUNTS
    assert sum(RAN.values()) >= 5000
    print("fuzz examples run / loaded:", {k: (RAN[k], LOADED[k]) for k in COUNTS})
    for kind, n in COUNTS.items():   # the mutations leave enough documents valid to
        assert LOADED[kind] >= 0.05 * n, (kind, LOADED[kind])   # reach evaluation


def teardown_module(_module) -> None:
    for p in NPZ:
        if p.parent.name.startswith("sedse-fuzz-npz-"):
            shutil.rmtree(p.parent, ignore_errors=True)
            break
