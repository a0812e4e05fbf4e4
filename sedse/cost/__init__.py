"""What a mapping costs and which mapping is cheapest.

Tiles and footprints (`_tiles`), the weights' storage formats (`_formats`), the
vectorised core as named pure steps (`_core`), fit checks (`_checks`), the mapping
space (`_space`), the search (`_search`) and per-layer/per-network reports
(`_report`). Imports run `workload <- hardware <- mapping <- cost`.
"""

from sedse.cost._alloc import keep_heap_pages
from sedse.cost._checks import check_mapping, checked_mapping, tile_bytes
from sedse.cost._core import ACTIONS, NETWORK_KINDS, UNITS, Action, BatchCost, evaluate
from sedse.cost._formats import WeightFormat, basis_misfit, weight_format
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
from sedse.cost._space import MappingSpace, canonical_orders, keep_variants, mapping_space
from sedse.cost._tiles import TileGeometry, capacity_need, footprint, soa, tile_extents

__all__ = ["ACTIONS", "CATEGORIES", "NETWORK_KINDS", "OBJECTIVES", "UNITS", "Action",
           "BatchCost", "LayerCost", "MappingSpace", "NetworkCost", "SearchCache",
           "basis_misfit",
           "SearchResult", "SearchSettings", "TileGeometry", "WeightFormat",
           "canonical_orders", "capacity_need", "category", "check_mapping",
           "checked_mapping", "evaluate", "evaluate_mapping", "evaluate_workload",
           "footprint", "keep_heap_pages", "keep_variants", "mapping_space", "objective_value",
           "search_mapping", "soa", "tile_bytes", "tile_extents", "weight_format"]
