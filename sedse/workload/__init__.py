"""Workloads: layers as loop nests, from torch models or YAML layer lists.

The loop-nest vocabulary lives here once: `DIMS` (and `DIM_INDEX`), `OPERANDS`, which
dims index each operand (`RELEVANT`) and the sliding-window extent (`input_extent`).
"""

from sedse.workload._encoding import WeightEncoding
from sedse.workload._io import dump_workload, encoding_from_node, load_workload
from sedse.workload._layer import (
    DIM_INDEX,
    DIMS,
    KINDS,
    OPERANDS,
    REDUCTION_DIMS,
    RELEVANT,
    Layer,
    Workload,
    input_extent,
)
from sedse.workload._onnx import from_onnx
from sedse.workload._torch import from_torch

__all__ = ["DIMS", "DIM_INDEX", "KINDS", "OPERANDS", "REDUCTION_DIMS", "RELEVANT", "Layer",
           "WeightEncoding",
           "Workload", "dump_workload", "encoding_from_node", "from_onnx", "from_torch",
           "input_extent", "load_workload"]
