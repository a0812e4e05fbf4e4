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
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from sedse.errors import SpecError
from sedse.workload import WeightEncoding

_ENC_FIELDS = {f.name for f in fields(WeightEncoding)}
_REQUIRED = _ENC_FIELDS - {"weight_density_frac"}  # added later; older directories lack it


def save_compressed(out: Path, meta: dict, compressed) -> None:
    out.mkdir(parents=True, exist_ok=True)
    arrays = {}
    layers = []
    for c in compressed.layers:
        arrays[f"{c.name}/weight"] = np.asarray(c.weight, dtype=np.float32)
        for k in ("ce", "basis"):
            if k in c.extra:
                arrays[f"{c.name}/{k}"] = np.asarray(c.extra[k], dtype=np.float32)
        layers.append({"name": c.name, "shape": list(c.shape), "method": c.method,
                       "rel_error": c.rel_error, "note": c.note,
                       "encoding": asdict(c.encoding)})
    np.savez_compressed(out / "weights.npz", **arrays)
    doc = dict(meta, total_bits=compressed.total_bits, weights=compressed.weights,
               ratio_vs_8bit=compressed.compression_ratio(8),
               ratio_vs_32bit=compressed.compression_ratio(32), layers=layers)
    (out / "layers.json").write_text(json.dumps(doc, indent=1))


def load_compressed(path: Path) -> tuple[dict, dict[str, WeightEncoding]]:
    """Return (the layers.json document, {layer name: WeightEncoding})."""
    f = Path(path) / "layers.json"
    if not f.is_file():
        raise SpecError(str(f), "not found (is this a `sedse compress` output directory?)")
    try:
        doc = json.loads(f.read_text())
        enc = {}
        for i, layer in enumerate(doc["layers"]):
            e = layer["encoding"]
            if not _REQUIRED <= set(e) <= _ENC_FIELDS:
                raise SpecError(str(f), f"layers[{i}].encoding: expected keys "
                                f"{sorted(_ENC_FIELDS)}")
            try:
                enc[layer["name"]] = WeightEncoding(**e)
            except ValueError as exc:
                raise SpecError(str(f), f"layers[{i}].encoding: {exc}") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SpecError(str(f), f"malformed ({type(exc).__name__}: {exc})") from None
    if not (Path(path) / "weights.npz").is_file():
        raise SpecError(str(Path(path) / "weights.npz"), "not found")
    return doc, enc
