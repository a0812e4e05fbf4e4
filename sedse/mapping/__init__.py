"""What a mapping is: the readable notation, the vectorised form and structural checks.

No costs here: tile footprints, capacities, storage formats, the mapping space and the
search live in `sedse.cost`, which imports this package (never the other way).
"""

from sedse.mapping._checks import check_structure, structural_ok
from sedse.mapping._generate import random_candidates
from sedse.mapping._lowering import array_layer
from sedse.mapping._mapping import (
    Candidates,
    LevelMapping,
    Mapping,
    default_keep_mask,
    load_mappings,
    mapping_from_node,
    to_candidates,
)

__all__ = ["Candidates", "LevelMapping", "Mapping", "array_layer", "check_structure",
           "default_keep_mask", "load_mappings", "mapping_from_node", "random_candidates",
           "structural_ok", "to_candidates"]
