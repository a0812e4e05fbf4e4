"""Accelerator specs: memory hierarchy, PE array, network and MAC energies."""

from sedse.hardware._dataflow import FULL, Dataflow, SlotConstraint
from sedse.hardware._matched import (
    Budget,
    Technology,
    area_mm2,
    load_technology,
    match_design,
)
from sedse.hardware._spec import (
    LEVEL_CATEGORIES,
    SKIP_MODES,
    Accelerator,
    BitSerial,
    MacUnit,
    MemoryLevel,
    Network,
    Partition,
    Passes,
    RebuildEngine,
    RunLengthCoding,
    Sparsity,
    accelerator_from_node,
    load_accelerator,
)

__all__ = ["FULL", "LEVEL_CATEGORIES", "SKIP_MODES", "Accelerator", "BitSerial", "Budget",
           "Dataflow", "MacUnit", "MemoryLevel", "Network", "Partition", "Passes", "RebuildEngine",
           "RunLengthCoding", "SlotConstraint", "Sparsity", "Technology", "accelerator_from_node",
           "area_mm2", "load_accelerator", "load_technology", "match_design"]
