"""Accelerator specs: memory hierarchy, PE array, network and MAC energies; dataflow
constraints; matched designs; the resolver of shipped design names (`resolve_design`).

YAML keys equal the spec dataclasses' field names, with two groupings kept for
readability of the files: ``pe_array: {shape, passes}`` gives `Accelerator.array_shape`
and `Accelerator.passes`, and ``precision: {input_bits, weight_bits, output_bits,
psum_bits}`` the fields of those names on `Accelerator`. Absent keys take the
dataclasses' own defaults (the loader never restates one)."""

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
