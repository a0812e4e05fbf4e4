"""Accelerator specs: memory hierarchy, PE array, network and MAC energies."""

from sedse.hardware._dataflow import FULL, Dataflow, SlotConstraint
from sedse.hardware._spec import (
    LEVEL_CATEGORIES,
    SKIP_MODES,
    Accelerator,
    BitSerial,
    MacUnit,
    MemoryLevel,
    Network,
    Partition,
    RebuildEngine,
    RunLengthCoding,
    Sparsity,
    accelerator_from_node,
    load_accelerator,
)

__all__ = ["FULL", "LEVEL_CATEGORIES", "SKIP_MODES", "Accelerator", "BitSerial", "Dataflow",
           "MacUnit", "MemoryLevel", "Network", "Partition", "RebuildEngine", "RunLengthCoding",
           "SlotConstraint", "Sparsity", "accelerator_from_node", "load_accelerator"]
