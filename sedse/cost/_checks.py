"""Whether one mapping can run: its structure (`sedse.mapping.check_structure`) and
whether its tiles fit the design's capacities."""

from __future__ import annotations

import numpy as np

from sedse._yaml import Node
from sedse.cost._formats import weight_format
from sedse.cost._tiles import TileGeometry, capacity_need
from sedse.errors import MappingError
from sedse.hardware import Accelerator
from sedse.mapping import (
    Candidates,
    Mapping,
    array_layer,
    check_structure,
    mapping_from_node,
    to_candidates,
)
from sedse.workload import Layer


def check_mapping(mapping: Mapping, layer: Layer, acc: Accelerator, where: str = "") -> None:
    """Raise `MappingError` naming `where` (default: the layer) if the mapping does not
    suit the layer and the design (`check_structure`) or a tile overflows its
    partition's capacity."""
    where = where or layer.name
    check_structure(mapping, layer, acc, where)
    need, cap = tile_bytes(to_candidates([mapping], acc), acc, layer)
    over = need[:, :, 0] > cap
    if over.any():
        li, pi = (int(v) for v in np.argwhere(over)[0])
        lvl = acc.levels[li]
        ops = "+".join(lvl.partitions[pi].operands)
        raise MappingError(where, f"tile of {ops} at level {lvl.name} needs "
                           f"{int(need[li, pi, 0])} bytes > capacity "
                           f"{int(cap[li, pi])} bytes")


def tile_bytes(c: Candidates, acc: Accelerator, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """Bytes each bounded partition needs per instance (L, P, M) and the capacities
    (L, P) for candidates `c` of `layer` (as the array sees it), weights in their
    stored format: `capacity_need` on the candidates' `TileGeometry`."""
    layer = array_layer(layer, acc)
    return capacity_need(TileGeometry.of(c, acc, layer), acc, weight_format(layer, acc).bits_at)


def checked_mapping(node: Node, layer: Layer, acc: Accelerator) -> Mapping:
    """Return the mapping at `node`, checked against `layer` (errors name file and key)."""
    mp = mapping_from_node(node, acc)
    check_mapping(mp, layer, acc, where=f"{node.file}: {node.path}")
    return mp
