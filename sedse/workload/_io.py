"""Workloads from YAML layer lists, and back.

Format (keys equal `Layer` field names; sizes are element counts, precisions bits)::

    name: my_net
    layers:
      - {name: conv1, kind: conv, K: 64, C: 3, P: 112, Q: 112, R: 7, S: 7, stride_h: 2, stride_w: 2}
      - {name: fc, kind: fc, K: 1000, C: 512}
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

from sedse._yaml import dump_yaml, load_yaml, name_problem
from sedse.workload._encoding import WeightEncoding
from sedse.workload._layer import Layer, Workload

_FRAC_FIELDS = {"input_zero_frac", "output_zero_frac", "input_zero_row_frac",
                "input_nonzero_bit_frac"}
_INT_FIELDS = {f.name for f in fields(Layer)} - {"name", "kind", "weight_is_activation",
                                                  "weight_encoding"} - _FRAC_FIELDS
_ENC_FIELDS = {f.name for f in fields(WeightEncoding)}


def encoding_from_node(node, weights: int | None = None) -> WeightEncoding:
    """The `WeightEncoding` a YAML mapping describes (its keys are the field names);
    with `weights`, its `dense_weights` must equal that layer's weight count."""
    optional = {"weight_density_frac", "basis_size", "basis_entry_bits"}   # added later
    node.check_keys(_ENC_FIELDS - optional, optional)
    try:
        enc = WeightEncoding(**{k: v.value for k, v in node.items()})
    except (TypeError, ValueError) as exc:
        raise node.error(str(exc)) from None
    if weights is not None and enc.dense_weights != weights:
        raise node.get("dense_weights").error(
            f"{enc.dense_weights:,} weights, but the layer has {weights:,}")
    return enc


def load_workload(path: str | Path) -> Workload:
    """Return the workload described by the YAML layer list at `path`."""
    root = load_yaml(path)
    root.check_keys({"layers"}, {"name"})
    if root.has("name"):
        name = root.get("name").as_name()
    else:
        name = Path(path).stem
        if name_problem(name):
            raise root.error(f"the file name {name!r} is not a plain name; give the workload "
                             "a `name:` (letters, digits and . _ - + =)")
    layers = []
    for node in root.get("layers").list():
        node.check_keys({"name"}, _INT_FIELDS | _FRAC_FIELDS
                        | {"kind", "weight_is_activation", "weight_encoding"})
        kw: dict = {"name": node.get("name").as_str()}
        if len(kw["name"]) > 200:
            raise node.get("name").error("expected a layer name of at most 200 characters")
        for key, sub in node.items():
            if key in _INT_FIELDS:
                kw[key] = sub.as_int(min_value=0 if key.startswith("pad") else 1)
            elif key == "kind":
                kind = sub.as_str()
                if kind not in ("conv", "fc", "matmul"):
                    raise sub.error(f"expected one of conv, fc, matmul, found {kind!r}")
                kw[key] = kind
            elif key in _FRAC_FIELDS:
                kw[key] = sub.as_frac()
            elif key == "weight_is_activation":
                kw[key] = sub.as_bool()
            elif key == "weight_encoding":
                kw[key] = encoding_from_node(sub)
        try:
            layer = Layer(**kw)
        except ValueError as exc:
            raise node.error(str(exc)) from None
        if layer.weight_encoding is not None:
            encoding_from_node(node.get("weight_encoding"), layer.operand_elements("W"))
        layers.append(layer)
    if not layers:
        raise root.get("layers").error("expected at least one layer")
    try:
        return Workload(name, tuple(layers))
    except ValueError as exc:
        raise root.get("layers").error(str(exc)) from None


def dump_workload(workload: Workload, path: str | Path) -> None:
    """Write `workload` as a YAML layer list that `load_workload` reads back equal."""
    default = Layer(name="_")
    rows = []
    for layer in workload.layers:
        d = asdict(layer)
        rows.append({k: v for k, v in d.items() if k == "name" or v != getattr(default, k)})
    Path(path).write_text(dump_yaml({"name": workload.name, "layers": rows},
                                         sort_keys=False, default_flow_style=None))
