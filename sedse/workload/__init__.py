"""Workloads: layers as loop nests, from torch models or YAML layer lists."""

from sedse.workload._encoding import WeightEncoding
from sedse.workload._io import dump_workload, encoding_from_node, load_workload
from sedse.workload._layer import DIMS, KINDS, OPERANDS, RELEVANT, Layer, Workload
from sedse.workload._onnx import from_onnx
from sedse.workload._torch import from_torch

__all__ = ["DIMS", "KINDS", "OPERANDS", "RELEVANT", "Layer", "WeightEncoding", "Workload",
           "dump_workload", "encoding_from_node", "from_onnx", "from_torch", "load_workload"]
