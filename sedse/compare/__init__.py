"""Comparisons of one workload across designs (`sedse compare`); its tables and figures
are drawn by `sedse.report`. The per-layer statistics a comparison applies
(`LayerStats` and its sources) belong to `sedse.compress`, which measures them."""

from sedse.compare._compare import Comparison, compare, features

__all__ = ["Comparison", "compare", "features"]
