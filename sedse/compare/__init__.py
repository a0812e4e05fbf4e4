"""Comparisons of one workload across designs (`sedse compare`)."""

from sedse.compare._compare import (
    DEFAULT_TECH,
    HW_DIR,
    Comparison,
    compare,
    load_designs,
    resolve_hw,
)
from sedse.compare._plots import plot_breakdown, plot_layers, to_markdown
from sedse.compare._stats import (
    LayerStats,
    default_activations,
    stats_by_decomposition,
    stats_from_compressed,
    stats_from_file,
)

__all__ = ["DEFAULT_TECH", "HW_DIR", "Comparison", "LayerStats", "compare",
           "default_activations", "load_designs", "plot_breakdown", "plot_layers",
           "resolve_hw", "stats_by_decomposition", "stats_from_compressed", "stats_from_file",
           "to_markdown"]
