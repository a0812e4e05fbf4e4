"""sedse: SmartExchange-style algorithm-hardware co-design for energy-efficient DNN inference.

sedse estimates the energy and latency of SmartExchange-style DNN accelerators (and of
Eyeriss/DianNao-style baselines) analytically from loop nests, pairs them with the
accuracy of the compressed model, and searches compression, dataflow and hardware
parameters for Pareto-optimal points. It does not simulate cycles or synthesise RTL.
"""

from sedse.errors import MappingError, SedseError, SpecError

__version__ = "0.1.0"
__all__ = ["MappingError", "SedseError", "SpecError", "__version__"]
