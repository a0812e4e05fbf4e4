"""Per-layer weight and activation statistics for a comparison, and where they came from.

Three sources of weight statistics, in order of preference:

* a `sedse compress` directory (`--compressed DIR`, `stats_from_compressed`): the
  trained model's real Ce, with activation statistics measured on its data;
* a statistics file (`--stats FILE`, YAML, `stats_from_file`): per-layer
  `weight_encoding` fields and activation fields, e.g. from another tool or a paper;
* the decomposition run on the model's weights as they are (`stats_by_decomposition`;
  the shipped ImageNet models have no trained weights here, so: PyTorch's default
  initialisation, seed 0). Cached per (model, configuration) under the cache directory.

The value (`LayerStats`, one `LayerFields` per layer) and its sources live in
`sedse.compress` (torch-free), beside the pipeline that measures them; a comparison
reads them through these names.
"""

from __future__ import annotations

from sedse.compress import (
    ACTIVATION_FIELDS,
    LayerFields,
    LayerStats,
    default_activations,
    stats_by_decomposition,
    stats_from_compressed,
    stats_from_file,
)

__all__ = ["ACTIVATION_FIELDS", "LayerFields", "LayerStats", "default_activations",
           "stats_by_decomposition", "stats_from_compressed", "stats_from_file"]
