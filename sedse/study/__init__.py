"""Co-design studies with Optuna: specs, the trial evaluator, running, results, export."""

from sedse.study._evaluate import Evaluator, PointResult, apply_overrides
from sedse.study._figures import (
    ImportanceInfo,
    LayerBreakdownInfo,
    ParetoInfo,
    importance_info,
    layer_breakdown_info,
    pareto_info,
    plot_importances,
    plot_layer_breakdown,
    plot_pareto,
)
from sedse.study._results import (
    baseline_points,
    export_point,
    importances,
    pareto_mask,
    results_table,
)
from sedse.study._run import default_storage, open_study, run_study
from sedse.study._spec import OBJECTIVE_UNITS, OBJECTIVES, Param, StudySpec, load_study

__all__ = ["OBJECTIVES", "OBJECTIVE_UNITS", "Evaluator", "ImportanceInfo",
           "LayerBreakdownInfo", "Param", "ParetoInfo", "PointResult", "StudySpec",
           "apply_overrides", "baseline_points", "default_storage", "export_point",
           "importance_info", "importances", "layer_breakdown_info", "load_study",
           "open_study", "pareto_info", "pareto_mask", "plot_importances",
           "plot_layer_breakdown", "plot_pareto", "results_table", "run_study"]
