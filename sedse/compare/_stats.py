"""Per-layer weight and activation statistics for a comparison, and where they came from.

Three sources of weight statistics, in order of preference:

* a `sedse compress` directory (`--compressed DIR`): the trained model's real Ce, with
  activation statistics measured on its test data;
* a statistics file (`--stats FILE`, YAML): per-layer `weight_encoding` fields and
  activation fields, e.g. from another tool or a paper;
* the decomposition run on the model's weights as they are (the shipped ImageNet models
  have no trained weights here, so: PyTorch's default initialisation, seed 0). Cached
  per (model, configuration) under the cache directory.

Activation statistics without data are a stated default: no zeros in the first layer's
input (an image), half the values zero elsewhere (typical after ReLU; SiLU networks such
as EfficientNet have fewer), no all-zero rows, and the non-zero-digit default of
`Layer.nonzero_bit_frac`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sedse._yaml import load_yaml
from sedse.workload import WeightEncoding, Workload, encoding_from_node

log = logging.getLogger(__name__)
ACTIVATION_FIELDS = ("input_zero_frac", "input_zero_row_frac", "input_nonzero_bit_frac")
DEFAULT_ZERO_FRAC = 0.5


@dataclass
class LayerStats:
    """Layer field overrides per layer name, and their provenance (shown in outputs)."""

    per_layer: dict[str, dict] = field(default_factory=dict)
    weights_source: str = "dense weights"
    activations_source: str = "default"
    accuracy_frac: float | None = None   # a compressed directory's reported accuracy
    rel_errors: dict[str, float] = field(default_factory=dict)  # where the source has them

    def apply(self, workload: Workload) -> Workload:
        return workload.with_layer_fields(self.per_layer)

    def collapsed(self) -> dict[str, str]:
        """Layers whose compression collapsed (`WeightEncoding.collapse_reason`), with
        the reason, in layer order."""
        out = {}
        for name, d in self.per_layer.items():
            enc = d.get("weight_encoding")
            if enc is not None:
                why = enc.collapse_reason(self.rel_errors.get(name))
                if why:
                    out[name] = why
        return out

    def to_doc(self) -> dict:
        """The statistics file (`stats_from_file`) that gives these statistics back."""
        layers = {}
        for name, d in self.per_layer.items():
            row = {k: v for k, v in d.items() if k != "weight_encoding"}
            if "weight_encoding" in d:
                row["weight_encoding"] = asdict(d["weight_encoding"])
            layers[name] = row
        return {"source": self.weights_source, "layers": layers}


def default_activations(workload: Workload) -> dict[str, dict]:
    return {layer.name: {"input_zero_frac": 0.0 if i == 0 else DEFAULT_ZERO_FRAC}
            for i, layer in enumerate(workload.layers)}


def _merge(workload: Workload, weights: dict[str, WeightEncoding],
           acts: dict[str, dict] | None) -> dict[str, dict]:
    out = default_activations(workload) if acts is None else {}
    for name, d in (acts or {}).items():
        out.setdefault(name, {}).update(d)
    for name, enc in weights.items():
        out.setdefault(name, {})["weight_encoding"] = enc
    return out


def stats_from_compressed(path: str | Path, workload: Workload, model: str) -> LayerStats:
    """Statistics of a `sedse compress` directory (SpecError if it does not match)."""
    from sedse.compress._io import load_compressed

    doc, encodings = load_compressed(Path(path), workload, model=model)
    acts = doc.get("activations")
    errors = {r["name"]: float(r["rel_error"]) for r in doc.get("layers", [])
              if isinstance(r, dict) and isinstance(r.get("rel_error"), (int, float))}
    return LayerStats(
        _merge(workload, encodings, acts),
        f"compressed weights from {path} ({doc.get('method')}, accuracy "
        + (f"{doc['accuracy']:.4f})" if doc.get("accuracy") is not None else "not given)"),
        doc.get("activations_source", "measured") if acts is not None else
        f"default ({DEFAULT_ZERO_FRAC:.0%} zeros after the first layer)",
        doc.get("accuracy"), errors)


def stats_from_file(path: str | Path, workload: Workload) -> LayerStats:
    """Statistics from a YAML file: ``{source: text, layers: {name: {weight_encoding:
    {...}, input_zero_frac: ..., ...}}}`` (layers not listed stay dense, default
    activations)."""
    root = load_yaml(path)
    root.check_keys({"layers"}, {"source"})
    by_name = {layer.name: layer for layer in workload.layers}
    weights: dict[str, WeightEncoding] = {}
    acts = default_activations(workload)
    for name, node in root.get("layers").items():
        if name not in by_name:
            raise node.error(f"{workload.name} has no layer {name!r}")
        node.check_keys(set(), {"weight_encoding", *ACTIVATION_FIELDS})
        for key, sub in node.items():
            if key == "weight_encoding":
                weights[name] = encoding_from_node(sub, by_name[name].operand_elements("W"))
            else:
                acts[name][key] = sub.as_frac()
    src = root.get("source").as_str() if root.has("source") else str(path)
    return LayerStats(_merge(workload, weights, acts), f"statistics file {path} ({src})",
                      f"statistics file {path}")


def stats_by_decomposition(model: str, workload: Workload, cache_dir: str | Path,
                           config=None) -> LayerStats:
    """Decompose the model's weights as they are (default init, seed 0); cached."""
    import torch

    from sedse.compress import SmartExchange, SmartExchangeConfig, compress_model
    from sedse.compress._train import CACHE_VERSION

    config = config or SmartExchangeConfig()
    # default initialisation depends on torch's version; the entry's meaning on ours
    key = hashlib.sha256(repr((model, config, CACHE_VERSION, torch.__version__))
                         .encode()).hexdigest()[:16]
    cache = Path(cache_dir) / "stats" / f"{model}-{key}.json"
    source = (f"SmartExchange decomposition of {model}'s default-initialised weights "
              f"(seed 0, theta {config.theta:g})")
    if cache.is_file():
        try:
            doc = json.loads(cache.read_text())
            encodings = {k: WeightEncoding(**v) for k, v in doc.items()}
            return LayerStats(_merge(workload, encodings, None), source + " [cached]",
                              f"default ({DEFAULT_ZERO_FRAC:.0%} zeros after the first "
                              "layer)")
        except (ValueError, TypeError, json.JSONDecodeError):
            log.warning("ignoring unreadable statistics cache %s", cache)
    import sedse_models

    torch.manual_seed(0)
    net = sedse_models.build(model)
    compressed = compress_model(net, SmartExchange(config))
    encodings = {c.name: c.encoding for c in compressed.layers}
    cache.parent.mkdir(parents=True, exist_ok=True)
    # atomic, first writer wins: concurrent workers never see a half-written file and an
    # entry is never replaced
    from sedse.compress._train import publish

    with tempfile.NamedTemporaryFile("w", dir=cache.parent, delete=False,
                                     suffix=".tmp") as tmp:
        json.dump({k: asdict(v) for k, v in encodings.items()}, tmp)
    publish(Path(tmp.name), cache)
    return LayerStats(_merge(workload, encodings, None), source,
                      f"default ({DEFAULT_ZERO_FRAC:.0%} zeros after the first layer)")
