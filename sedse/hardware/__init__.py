"""Accelerator specs: memory hierarchy, PE array, network and MAC energies."""

from sedse.hardware._dataflow import FULL, Dataflow, SlotConstraint, dataflow_from_node
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
    default_technology_file,
    load_accelerator,
    load_designs,
    resolve_design,
)

__all__ = ["FULL", "LEVEL_CATEGORIES", "SKIP_MODES", "Accelerator", "BitSerial", "Budget",
           "Dataflow", "MacUnit", "MemoryLevel", "Network", "Partition", "Passes",
           "RebuildEngine", "RunLengthCoding", "SlotConstraint", "Sparsity", "Technology",
           "accelerator_from_node", "area_mm2", "dataflow_from_node",
           "default_technology_file", "load_accelerator", "load_designs", "load_technology",
           "match_design", "resolve_design"]
