"""The compressed-model directory that `sedse compress` writes.

Layout of DIR:

* ``layers.json``: ``{"model", "dataset", "method", "params", "float_accuracy",
  "accuracy", "total_bits", "weights", "ratio_vs_8bit", "ratio_vs_32bit", "layers":
  [{"name", "shape", "method", "rel_error", "note", "encoding": {WeightEncoding
  fields}}]}`` - everything the cost model and the search read;
* ``weights.npz``: per layer ``<name>/weight`` (the reconstructed weights the network
  computes with) and, for SmartExchange layers, ``<name>/ce`` (n_blocks, rows, S;
  signed powers of two or 0) and ``<name>/basis`` (n_blocks, S, S).

`load_compressed` reads it back and checks it (a corrupted or incomplete directory is
a one-line SpecError naming the file).
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

from sedse.errors import SpecError
from sedse.workload import WeightEncoding

_ENC_FIELDS = {f.name for f in fields(WeightEncoding)}
# added later (older directories lack them): the weights' density, the basis size
_REQUIRED = _ENC_FIELDS - {"weight_density_frac", "basis_size", "basis_entry_bits"}


FORMAT = 2   # layers.json "format": 2 adds model.pt (every parameter and buffer)


def _plain_state(model) -> dict:
    """The model's state_dict with parametrized weights replaced by the weights they
    compute (a plain module's keys: what `build()` of the model loads)."""
    import copy

    import torch
    from torch.nn.utils import parametrize

    m = copy.deepcopy(model).cpu()
    for mod in m.modules():
        if parametrize.is_parametrized(mod):
            for name in list(mod.parametrizations):
                parametrize.remove_parametrizations(mod, name, leave_parametrized=True)
    return {k: v.detach().clone() for k, v in m.state_dict().items()
            if isinstance(v, torch.Tensor)}


def save_compressed(out: Path, meta: dict, compressed, model=None) -> None:
    """Write `out/layers.json`, `out/weights.npz` and, with `model`, `out/model.pt`:
    the whole trained state (every weight as the network computes with it, biases,
    batch-norm statistics), so reloading reproduces the reported accuracy exactly."""
    out.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {}   # savez_compressed(**arrays): keys are 'layer/part'
    layers = []
    state = _plain_state(model) if model is not None else None
    for c in compressed.layers:
        w = c.weight if state is None else state[f"{c.name}.weight"].numpy()
        arrays[f"{c.name}/weight"] = np.asarray(w, dtype=np.float32)
        for k in ("ce", "basis"):
            if k in c.extra:
                arrays[f"{c.name}/{k}"] = np.asarray(c.extra[k], dtype=np.float32)
        layers.append({"name": c.name, "shape": list(c.shape), "method": c.method,
                       "rel_error": c.rel_error, "note": c.note,
                       "encoding": asdict(c.encoding)})
    np.savez_compressed(out / "weights.npz", **arrays)
    if state is not None:
        import torch

        torch.save(state, out / "model.pt")
    doc = dict(meta, format=FORMAT, total_bits=compressed.total_bits,
               weights=compressed.weights, ratio_vs_8bit=compressed.compression_ratio(8),
               ratio_vs_32bit=compressed.compression_ratio(32), layers=layers,
               state="model.pt" if state is not None else None)
    (out / "layers.json").write_text(json.dumps(doc, indent=1))


def load_compressed_model(path: Path, build):
    """The compressed directory's whole model (`build()` then `model.pt`, read with
    ``weights_only=True``); SpecError naming the file when it is missing or does not
    fit the model."""
    import pickle

    import torch

    f = Path(path) / "model.pt"
    if not f.is_file():
        raise SpecError(str(f), "not found (written by `sedse compress` and studies since "
                        "format 2; compress the model again)")
    model = build()
    try:
        model.load_state_dict(torch.load(f, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, KeyError) as exc:
        raise SpecError(str(f), f"does not hold this model's state ({str(exc)[:120]})") \
            from None
    return model


MAX_NPZ_BYTES = 2**34   # 16 GiB of declared arrays at most


def _npz_members(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """{array name: (shape, dtype)} of an .npz, read from the .npy headers only (nothing
    is decompressed beyond them; no pickled objects are admitted)."""
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            total = sum(i.file_size for i in z.infolist())
            if total > MAX_NPZ_BYTES:
                raise SpecError(str(path), f"declares {total:,} bytes of arrays (at most "
                                f"{MAX_NPZ_BYTES:,})")
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    raise SpecError(str(path), f"{info.filename}: not an .npy array")
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, _fortran, dtype = read(f, max_header_size=10000)
                if dtype.hasobject:
                    raise SpecError(str(path), f"{info.filename}: object arrays are refused")
                if dtype.kind not in "fiub" or dtype.itemsize > 8:
                    # weights are numbers; a string or void dtype of any item size would
                    # let a small archive declare (and numpy allocate) gigabytes per weight
                    raise SpecError(str(path), f"{info.filename}: dtype {dtype.str} is not a "
                                    "numeric array (float, integer or boolean)")
                n = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if n > info.file_size:
                    raise SpecError(str(path), f"{info.filename}: truncated ({info.file_size:,}"
                                    f" bytes for a {n:,}-byte array)")
                out[info.filename[:-4]] = (tuple(shape), dtype.str)
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError, zlib.error) as exc:
        raise SpecError(str(path), f"not a readable .npz archive ({str(exc)[:120]})") from None
    return out


def load_arrays(path: Path, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of a weights.npz (all, or `names`), each checked finite; SpecError
    naming the file and the array when one is unreadable, truncated or not finite."""
    members = _npz_members(path)
    out = {}
    try:
        with np.load(path, allow_pickle=False) as z:
            for k in (names if names is not None else list(members)):
                if k not in members:
                    raise SpecError(f"{path}: {k}", "missing array")
                a = z[k]
                if a.dtype.kind == "f" and not np.isfinite(a).all():
                    raise SpecError(f"{path}: {k}", "holds NaN or infinite values")
                out[k] = a
    except (ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise SpecError(str(path), f"not a readable .npz archive ({str(exc)[:120]})") from None
    return out


def _check_layers(root, f: str) -> dict[str, WeightEncoding]:
    layers = root.get("layers")
    enc: dict[str, WeightEncoding] = {}
    for node in layers.list():
        node.check_keys({"name", "encoding"}, {"shape", "method", "rel_error", "note"})
        name = node.get("name").as_str()
        if name in enc:
            raise node.get("name").error(f"layer {name!r} listed twice")
        if node.has("shape"):
            shape = [s.as_int(min_value=1) for s in node.get("shape").list()]
            if not 1 <= len(shape) <= 4:
                raise node.get("shape").error("expected 1 to 4 dimensions")
        if node.has("rel_error"):
            node.get("rel_error").as_float(min_value=0.0)
        e = node.get("encoding")
        e.check_keys(_REQUIRED, _ENC_FIELDS)
        try:
            enc[name] = WeightEncoding(**{k: v.value for k, v in e.items()})
        except (TypeError, ValueError) as exc:
            raise e.error(str(exc)) from None
    if not enc:
        raise layers.error("expected at least one layer")
    return enc


def load_compressed(path: Path, workload=None, *, model: str | None = None,
                    check_arrays: bool = True) -> tuple[dict, dict[str, WeightEncoding]]:
    """Return (the layers.json document, {layer name: WeightEncoding}), checked: the
    document's keys and values (finite, in range), against `workload` when given (its
    layer names and weight counts), and weights.npz opened (every layer's weight array
    present, of the recorded shape, finite). A corrupted, truncated or mismatched
    directory is a one-line SpecError naming the file and key. `model`: the shipped
    model name the directory must hold."""
    from sedse._yaml import load_json

    f = Path(path) / "layers.json"
    if not f.is_file():
        raise SpecError(str(f), "not found (is this a `sedse compress` output directory?)")
    root = load_json(f)
    root.check_keys({"model", "layers"}, {
        "dataset", "method", "params", "float_accuracy", "projected_accuracy", "accuracy",
        "total_bits", "weights", "ratio_vs_8bit", "ratio_vs_32bit", "activations",
        "activations_source", "fidelity", "format", "data", "validation_accuracy",
        "test_accuracy", "state"})
    held = root.get("model").as_str()
    if model is not None and held != model:
        raise root.get("model").error(f"the directory holds {held!r}, not {model!r}")
    for k in ("float_accuracy", "projected_accuracy", "accuracy", "validation_accuracy",
              "test_accuracy"):
        if root.has(k) and root.get(k).value is not None:
            root.get(k).as_frac()
    for k in ("ratio_vs_8bit", "ratio_vs_32bit"):
        if root.has(k):
            root.get(k).as_float(positive=True)
    enc = _check_layers(root, str(f))
    if root.has("activations") and root.get("activations").value is not None:
        for lname, an in root.get("activations").items():
            if lname not in enc and workload is None:
                pass
            an.check_keys(set(), {"input_zero_frac", "input_zero_row_frac",
                                  "input_nonzero_bit_frac"})
            for _, v in an.items():
                v.as_frac()
    if workload is not None:
        by_name = {layer.name: layer for layer in workload.layers}
        for i, (name, e) in enumerate(enc.items()):
            if name not in by_name:
                raise SpecError(f"{f}: layers[{i}].name", f"{workload.name} has no layer "
                                f"{name!r}")
            want = by_name[name].operand_elements("W")
            if e.dense_weights != want:
                raise SpecError(f"{f}: layers[{i}].encoding.dense_weights",
                                f"{e.dense_weights:,} weights, but {workload.name}'s layer "
                                f"{name} has {want:,}")
        if root.has("activations") and root.get("activations").value is not None:
            for lname, an in root.get("activations").items():
                if lname not in by_name:
                    raise an.error(f"{workload.name} has no layer {lname!r}")
    npz = Path(path) / "weights.npz"
    if not npz.is_file():
        raise SpecError(str(npz), "not found")
    if check_arrays:
        members = _npz_members(npz)
        for i, node in enumerate(root.get("layers").list()):
            name = node.get("name").value
            key = f"{name}/weight"
            if key not in members:
                raise SpecError(f"{npz}: {key}", f"missing (layers.json lists layer {name})")
            shape = members[key][0]
            if int(np.prod(shape)) != enc[name].dense_weights:
                raise SpecError(f"{npz}: {key}", f"{int(np.prod(shape)):,} weights, but "
                                f"layers[{i}].encoding.dense_weights is "
                                f"{enc[name].dense_weights:,}")
        load_arrays(npz, [f"{n}/weight" for n in enc])
    return root.value, enc
