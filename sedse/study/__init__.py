"""Co-design studies with Optuna: specs, the trial evaluator, running, and export
(= replay). Tables and figures of a study are in `sedse.report`."""

from sedse.study._evaluate import Evaluator, PointResult
from sedse.study._results import REPLAYED_FILES, export_point, file_sha256
from sedse.study._run import (
    HEARTBEAT_S,
    StopRequest,
    check_same_spec,
    completed_trials,
    default_storage,
    open_study,
    run_study,
    storage_of,
)
from sedse.study._spec import (
    OBJECTIVE_UNITS,
    OBJECTIVES,
    Compression,
    Fidelity,
    Param,
    SamplerSettings,
    StudySpec,
    apply_overrides,
    load_study,
)

__all__ = ["HEARTBEAT_S", "OBJECTIVES", "OBJECTIVE_UNITS", "REPLAYED_FILES", "Compression",
           "Evaluator",
           "Fidelity", "Param", "SamplerSettings",
           "PointResult", "StopRequest", "StudySpec", "apply_overrides", "check_same_spec",
           "completed_trials", "default_storage", "export_point", "file_sha256",
           "load_study", "open_study", "run_study", "storage_of"]
