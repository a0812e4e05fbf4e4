"""Per-layer weight and activation statistics the cost model reads, and where they came
from (`LayerStats`, a frozen value; one `LayerFields` per layer). Torch-free: torch is
imported only when a decomposition has to be computed.

Four sources of statistics:

* a compression measured in memory (`CompressionOutcome.layer_stats`): the trained
  model's real Ce and the activation statistics measured on its data;
* a `sedse compress` directory (`stats_from_compressed`): the same, read back from disk;
* a statistics file (`stats_from_file`, YAML): per-layer `weight_encoding` fields and
  activation fields, e.g. from another tool or a paper (`LayerStats.to_doc` writes one);
* the decomposition run on a shipped model's weights as they are
  (`stats_by_decomposition`; the shipped ImageNet models have no trained weights here,
  so: PyTorch's default initialisation, seed 0). Cached per (model, configuration)
  under the cache directory.

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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sedse.compress._activations import ACTIVATION_FIELDS
from sedse.workload import WeightEncoding, Workload

log = logging.getLogger(__name__)
DEFAULT_ZERO_FRAC = 0.5
DEFAULT_ACTIVATIONS_SOURCE = f"default ({DEFAULT_ZERO_FRAC:.0%} zeros after the first layer)"


@dataclass(frozen=True)
class LayerFields:
    """The `Layer` fields one layer's statistics set (None: the layer keeps its own)."""

    weight_encoding: WeightEncoding | None = None
    input_zero_frac: float | None = None
    input_zero_row_frac: float | None = None
    input_nonzero_bit_frac: float | None = None

    def __post_init__(self) -> None:
        if self.weight_encoding is not None and \
                not isinstance(self.weight_encoding, WeightEncoding):
            raise TypeError(f"weight_encoding must be a WeightEncoding, found "
                            f"{type(self.weight_encoding).__name__}")
        for k in ACTIVATION_FIELDS:
            v = getattr(self, k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise TypeError(f"{k} must be a number or None, found {v!r}")

    @classmethod
    def of(cls, d: Mapping | LayerFields) -> LayerFields:
        """From a mapping of field names (``{"weight_encoding": enc, ...}``); TypeError
        naming an unknown key."""
        if isinstance(d, LayerFields):
            return d
        return cls(**d)

    def with_activations(self, acts: Mapping[str, float]) -> LayerFields:
        """These fields with the activation fields of `acts` set."""
        changes: Mapping[str, Any] = acts   # activation fields only
        return replace(self, **changes)

    def layer_fields(self) -> dict:
        """{Layer field: value} of the fields set (what `Workload.with_layer_fields`
        takes)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}

    def to_doc(self) -> dict:
        """The statistics-file entry: the activation fields set, then the encoding."""
        row: dict = {k: getattr(self, k) for k in ACTIVATION_FIELDS
                     if getattr(self, k) is not None}
        if self.weight_encoding is not None:
            row["weight_encoding"] = asdict(self.weight_encoding)
        return row


@dataclass(frozen=True)
class LayerStats:
    """Layer field overrides per layer name (`LayerFields`, in layer order), and their
    provenance (shown in outputs)."""

    per_layer: Mapping[str, LayerFields] = field(default_factory=dict)
    weights_source: str = "dense weights"
    activations_source: str = "default"
    accuracy_frac: float | None = None   # a compressed model's reported accuracy
    rel_errors: Mapping[str, float] = field(default_factory=dict)  # where the source has them

    def __post_init__(self) -> None:
        # own copies (the value never changes under its holder); mappings become fields
        object.__setattr__(self, "per_layer", {str(k): LayerFields.of(v)
                                               for k, v in self.per_layer.items()})
        object.__setattr__(self, "rel_errors", dict(self.rel_errors))

    def __hash__(self) -> int:
        return hash((tuple(self.per_layer.items()), self.weights_source,
                     self.activations_source, self.accuracy_frac,
                     tuple(self.rel_errors.items())))

    @classmethod
    def merged(cls, workload: Workload, weights: Mapping[str, WeightEncoding],
               activations: Mapping[str, Mapping[str, float]] | None, *,
               weights_source: str, activations_source: str,
               accuracy_frac: float | None = None,
               rel_errors: Mapping[str, float] | None = None) -> LayerStats:
        """Encodings per layer over activation statistics per layer; without
        `activations`, the stated defaults (`default_activations`)."""
        per: dict[str, LayerFields] = {}
        acts = default_activations(workload) if activations is None else activations
        for name, d in acts.items():
            per[name] = per.get(name, LayerFields()).with_activations(d)
        for name, enc in weights.items():
            per[name] = replace(per.get(name, LayerFields()), weight_encoding=enc)
        return cls(per, weights_source, activations_source, accuracy_frac, rel_errors or {})

    def apply(self, workload: Workload) -> Workload:
        return workload.with_layer_fields({name: f.layer_fields()
                                           for name, f in self.per_layer.items()})

    def collapsed(self) -> dict[str, str]:
        """Layers whose compression collapsed (`WeightEncoding.collapse_reason`), with
        the reason, in layer order."""
        out = {}
        for name, f in self.per_layer.items():
            if f.weight_encoding is not None:
                why = f.weight_encoding.collapse_reason(self.rel_errors.get(name))
                if why:
                    out[name] = why
        return out

    def to_doc(self) -> dict:
        """The statistics file (`stats_from_file`) that gives these statistics back."""
        return {"source": self.weights_source,
                "layers": {name: f.to_doc() for name, f in self.per_layer.items()}}


def default_activations(workload: Workload) -> dict[str, dict]:
    """The stated default activation statistics: {layer name: {"input_zero_frac": ...}}."""
    return {layer.name: {"input_zero_frac": 0.0 if i == 0 else DEFAULT_ZERO_FRAC}
            for i, layer in enumerate(workload.layers)}


def compressed_stats(workload: Workload, source: str | Path, method: str | None,
                     accuracy: float | None, encodings: Mapping[str, WeightEncoding],
                     activations: Mapping[str, Mapping[str, float]] | None,
                     activations_source: str,
                     rel_errors: Mapping[str, float]) -> LayerStats:
    """The statistics of a compressed model (`source`: where it is kept, shown), on
    disk or in memory: one construction for both, so they give the same value."""
    return LayerStats.merged(
        workload, encodings, activations,
        weights_source=f"compressed weights from {source} ({method}, accuracy "
        + (f"{accuracy:.4f})" if accuracy is not None else "not given)"),
        activations_source=activations_source if activations is not None
        else DEFAULT_ACTIVATIONS_SOURCE,
        accuracy_frac=accuracy, rel_errors=rel_errors)


def stats_from_compressed(path: str | Path, workload: Workload, model: str) -> LayerStats:
    """Statistics of a `sedse compress` directory (SpecError if it does not match)."""
    from sedse.compress._io import load_compressed

    doc, encodings = load_compressed(Path(path), workload, model=model)
    errors = {r["name"]: float(r["rel_error"]) for r in doc.get("layers", [])
              if isinstance(r, dict) and isinstance(r.get("rel_error"), (int, float))}
    return compressed_stats(workload, path, doc.get("method"), doc.get("accuracy"),
                            encodings, doc.get("activations"),
                            doc.get("activations_source", "measured"), errors)


def stats_from_file(path: str | Path, workload: Workload) -> LayerStats:
    """Statistics from a YAML file: ``{source: text, layers: {name: {weight_encoding:
    {...}, input_zero_frac: ..., ...}}}`` (layers not listed stay dense, default
    activations)."""
    from sedse._yaml import load_yaml
    from sedse.workload import encoding_from_node

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
    return LayerStats.merged(workload, weights, acts,
                             weights_source=f"statistics file {path} ({src})",
                             activations_source=f"statistics file {path}")


def stats_by_decomposition(model: str, workload: Workload, cache_dir: str | Path,
                           config=None) -> LayerStats:
    """Decompose the shipped model's weights as they are (default init, seed 0); cached."""
    import torch

    from sedse._shipped import model_entry
    from sedse.compress._compressors import SmartExchange
    from sedse.compress._smartexchange import DECOMPOSITION_VERSION, SmartExchangeConfig
    from sedse.compress._train import CACHE_VERSION, compress_model, publish

    config = config or SmartExchangeConfig()
    # default initialisation depends on torch's version; the entry's meaning on ours
    key = hashlib.sha256(repr((model, config, CACHE_VERSION, DECOMPOSITION_VERSION,
                                       torch.__version__))
                         .encode()).hexdigest()[:16]
    cache = Path(cache_dir) / "stats" / f"{model}-{key}.json"
    source = (f"SmartExchange decomposition of {model}'s default-initialised weights "
              f"(seed 0, theta {config.theta:g})")
    if cache.is_file():
        try:
            doc = json.loads(cache.read_text())
            encodings = {k: WeightEncoding(**v) for k, v in doc.items()}
            return LayerStats.merged(workload, encodings, None,
                                     weights_source=source + " [cached]",
                                     activations_source=DEFAULT_ACTIVATIONS_SOURCE)
        except (ValueError, TypeError, json.JSONDecodeError):
            log.warning("ignoring unreadable statistics cache %s", cache)
    entry = model_entry(model)
    torch.manual_seed(0)
    net = entry.build()
    compressed = compress_model(net, SmartExchange(config))
    encodings = {c.name: c.encoding for c in compressed.layers}
    cache.parent.mkdir(parents=True, exist_ok=True)
    # atomic, first writer wins: concurrent workers never see a half-written file and an
    # entry is never replaced
    with tempfile.NamedTemporaryFile("w", dir=cache.parent, delete=False,
                                     suffix=".tmp") as tmp:
        json.dump({k: asdict(v) for k, v in encodings.items()}, tmp)
    publish(Path(tmp.name), cache)
    return LayerStats.merged(workload, encodings, None, weights_source=source,
                             activations_source=DEFAULT_ACTIVATIONS_SOURCE)
