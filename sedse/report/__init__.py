"""Results tables, Pareto masks and every figure, each figure from a plain info object.

The top of the library below `cli`: it reads `study` and `compare` (peers, which never
import each other or this package) and draws with matplotlib's object API only
(`_mpl`: no pyplot, no backend switch).
"""

from sedse.report._compare_figures import (
    BreakdownInfo,
    LayerLinesInfo,
    breakdown_info,
    layer_lines_info,
    plot_breakdown,
    plot_layers,
)
from sedse.report._mpl import COLOURS, LABELS
from sedse.report._study_figures import (
    MAX_BREAKDOWN_TRIALS,
    MIN_IMPORTANCE_TRIALS,
    ImportanceInfo,
    LayerBreakdownInfo,
    Panel,
    ParetoInfo,
    fmt_energy_uj,
    importance_info,
    layer_breakdown_info,
    pareto_info,
    plot_importances,
    plot_layer_breakdown,
    plot_pareto,
    spread_picks,
)
from sedse.report._tables import (
    baseline_points,
    comparison_layers_md,
    importances,
    pareto_mask,
    results_table,
    to_markdown,
)

__all__ = ["COLOURS", "LABELS", "MAX_BREAKDOWN_TRIALS", "MIN_IMPORTANCE_TRIALS",
           "BreakdownInfo", "ImportanceInfo", "LayerBreakdownInfo", "LayerLinesInfo", "Panel",
           "ParetoInfo", "baseline_points", "breakdown_info", "comparison_layers_md",
           "fmt_energy_uj", "importance_info", "importances", "layer_breakdown_info",
           "layer_lines_info", "pareto_info", "pareto_mask", "plot_breakdown",
           "plot_importances", "plot_layer_breakdown", "plot_layers", "plot_pareto",
           "results_table", "spread_picks", "to_markdown"]
