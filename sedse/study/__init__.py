"""Co-design studies with Optuna: specs, the trial evaluator, running, results, export."""

from sedse.study._evaluate import Evaluator, PointResult, apply_overrides
from sedse.study._results import (
    baseline_points,
    export_point,
    importances,
    pareto_mask,
    plot_importances,
    plot_layer_breakdown,
    plot_pareto,
    results_table,
)
from sedse.study._run import default_storage, open_study, run_study
from sedse.study._spec import OBJECTIVE_UNITS, OBJECTIVES, Param, StudySpec, load_study

__all__ = ["OBJECTIVES", "OBJECTIVE_UNITS", "Evaluator", "Param", "PointResult", "StudySpec",
           "apply_overrides", "baseline_points", "default_storage", "export_point",
           "importances", "load_study", "open_study", "pareto_mask", "plot_importances",
           "plot_layer_breakdown", "plot_pareto", "results_table", "run_study"]
