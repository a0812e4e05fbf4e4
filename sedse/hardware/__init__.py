"""Accelerator specs: memory hierarchy, PE array, network and MAC energies."""

from sedse.hardware._dataflow import FULL, Dataflow, SlotConstraint
from sedse.hardware._spec import (
    Accelerator,
    MacUnit,
    MemoryLevel,
    Network,
    Partition,
    RunLengthCoding,
    accelerator_from_node,
    load_accelerator,
)

__all__ = ["FULL", "Accelerator", "Dataflow", "MacUnit", "MemoryLevel", "Network", "Partition",
           "RunLengthCoding", "SlotConstraint", "accelerator_from_node", "load_accelerator"]
