"""Comparisons of one workload across designs (`sedse compare`); its tables and figures
are drawn by `sedse.report`."""

from sedse.compare._compare import Comparison, compare, features
from sedse.compare._stats import (
    LayerFields,
    LayerStats,
    default_activations,
    stats_by_decomposition,
    stats_from_compressed,
    stats_from_file,
)

__all__ = ["Comparison", "LayerFields", "LayerStats", "compare", "default_activations",
           "features", "stats_by_decomposition", "stats_from_compressed", "stats_from_file"]
