"""Loop-nest mappings: the readable form, the vectorised form and their checks."""

from sedse.mapping._formats import WeightFormat, weight_format
from sedse.mapping._lowering import array_layer
from sedse.mapping._mapping import (
    Candidates,
    LevelMapping,
    Mapping,
    check_mapping,
    checked_mapping,
    default_keep_mask,
    load_mappings,
    mapping_from_node,
    to_candidates,
)
from sedse.mapping._tiles import capacity_need, footprint, soa, structural_ok, tile_extents

__all__ = ["Candidates", "LevelMapping", "Mapping", "WeightFormat", "array_layer", "capacity_need",
           "check_mapping", "checked_mapping", "default_keep_mask", "footprint",
           "load_mappings", "mapping_from_node", "soa", "structural_ok", "tile_extents",
           "to_candidates", "weight_format"]
