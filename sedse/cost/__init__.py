"""The analytical cost model: vectorised action counts, energy and latency."""

from sedse.cost._core import ACTIONS, BatchCost, evaluate
from sedse.cost._report import (
    CATEGORIES,
    LayerCost,
    NetworkCost,
    category,
    evaluate_mapping,
    evaluate_workload,
)
from sedse.cost._search import (
    OBJECTIVES,
    SearchCache,
    SearchResult,
    SearchSettings,
    objective_value,
    search_mapping,
)

__all__ = ["ACTIONS", "CATEGORIES", "OBJECTIVES", "BatchCost", "SearchCache", "SearchResult",
           "category", "SearchSettings", "search_mapping", "LayerCost", "NetworkCost",
           "evaluate", "evaluate_mapping", "evaluate_workload", "objective_value"]
