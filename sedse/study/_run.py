"""Running a study on an Optuna storage: create or resume, sample, evaluate, record.

* Storage: a SQLite file ``runs/<study>/study.db`` by default, or any Optuna database
  URL (PostgreSQL for many workers). The study is created or loaded by name, so
  rerunning the same command resumes it, and any number of workers can share it.
* Objectives follow the spec's directions; a design that is invalid or does not fit
  is recorded through Optuna's constraint mechanism (``trial.set_constraint``) with the
  reason in the ``infeasible_reason`` user attribute, and gets the worst values (0
  accuracy, infinite costs), so samplers rank it last. Constraints from the spec
  (latency, area ...) are constraint values too (value - limit > 0 means violated).
* A trial that raises anything else is recorded as failed with its message (user
  attribute ``error``) and the study goes on; `n_trials` counts completed trials (ten
  failures in a row stop the run with the last error).
* The study records the spec file, float accuracy and objectives as study attributes,
  which `sedse pareto` and `sedse export` read back.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
import warnings
from pathlib import Path

from sedse.errors import SedseError, SpecError
from sedse.study._evaluate import Evaluator
from sedse.study._spec import OBJECTIVE_UNITS, StudySpec

log = logging.getLogger(__name__)
MAX_FAILED_IN_A_ROW = 10
HEARTBEAT_S = 10.0
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def default_storage(spec: StudySpec, runs_dir: str | Path = "runs") -> str:
    d = Path(runs_dir) / spec.name
    d.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(d / 'study.db').resolve()}"


def make_sampler(spec: StudySpec):
    import optuna

    if spec.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=spec.seed,
                                             population_size=spec.population_size)
    if spec.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=spec.seed, multivariate=True)
    return optuna.samplers.RandomSampler(seed=spec.seed)


def storage_of(url: str, heartbeat_s: float = HEARTBEAT_S):
    """An Optuna RDB storage for `url` with heartbeats (a worker killed mid-trial leaves
    a RUNNING trial whose heartbeat stops; after 3 intervals the next worker marks it
    failed). SpecError naming the URL when it cannot be opened."""
    import optuna
    import sqlalchemy.exc

    kw = {"engine_kwargs": {"connect_args": {"timeout": 60}}} if url.startswith("sqlite") \
        else {"engine_kwargs": {"pool_pre_ping": True}}
    try:
        with warnings.catch_warnings():   # heartbeats are "experimental" in Optuna 5
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, heartbeat_interval=max(1, int(heartbeat_s)),
                                              grace_period=max(3, int(3 * heartbeat_s)), **kw)
    except (sqlalchemy.exc.SQLAlchemyError, ValueError, ImportError, ModuleNotFoundError,
            optuna.exceptions.StorageInternalError) as exc:
        msg = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise SpecError("--storage", f"cannot open {url!r}: {msg}") from None


def open_study(spec: StudySpec, storage: str, *, create: bool = True,
               heartbeat_s: float = HEARTBEAT_S):
    """Create or load the spec's study on `storage`."""
    import optuna

    # Optuna's own warnings print tracebacks; failed trials are logged in one line below
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    stor = storage_of(storage, heartbeat_s)
    if create:
        study = optuna.create_study(study_name=spec.name, storage=stor,
                                    directions=spec.directions, sampler=make_sampler(spec),
                                    load_if_exists=True)
    else:
        study = optuna.load_study(study_name=spec.name, storage=stor,
                                  sampler=make_sampler(spec))
    if list(study.directions) != [
            optuna.study.StudyDirection.MAXIMIZE if d == "maximize"
            else optuna.study.StudyDirection.MINIMIZE for d in spec.directions]:
        from sedse.errors import SpecError

        raise SpecError(f"{spec.file}: objectives", f"the stored study {spec.name!r} has "
                        "other objectives; rename the study or use a new storage")
    return study


def _has_slot(study, trial, target: int) -> bool:
    """True when `trial` is among the first `target` live (running, waiting or complete)
    trials; False once `target` trials completed without it. Waits while earlier trials
    of other workers are still running, failing the stale ones (killed workers), so that
    exactly `target` trials complete however many workers share the study."""
    import optuna
    from optuna.trial import TrialState

    live = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    while True:
        trials = study.get_trials(deepcopy=False)
        ahead = sum(1 for t in trials if t.number < trial.number and t.state in live)
        if ahead < target:
            return True
        if sum(1 for t in trials if t.state == TrialState.COMPLETE) >= target:
            return False
        optuna.storages.fail_stale_trials(study)
        time.sleep(0.5)


def objective_fn(spec: StudySpec, evaluator: Evaluator, target: int | None = None):
    """The Optuna objective: claim a slot, suggest, evaluate, record attributes and
    constraints. A trial beyond `target` is pruned as surplus and stops the worker."""
    import optuna

    def objective(trial):
        if target is not None and not _has_slot(trial.study, trial, target):
            trial.set_user_attr("surplus", True)
            trial.study.stop()
            raise optuna.TrialPruned("surplus: the study already has its trials")
        params = {p.name: p.suggest(trial) for p in spec.params}
        try:
            res = evaluator.evaluate(params)
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:2000])
            log.warning("trial %d failed (recorded; the study goes on): %s: %s",
                        trial.number, type(exc).__name__, str(exc)[:300])
            raise
        for k, v in res.attrs.items():
            trial.set_user_attr(k, v)
        trial.set_user_attr("worker", WORKER_ID)
        trial.set_user_attr("feasible", res.feasible)
        if not res.feasible:
            trial.set_user_attr("infeasible_reason", res.reason[:2000])
        violation = 0.0 if res.feasible else 1.0
        trial.set_constraint("design_fits", violation)
        for key, limit in spec.constraints:
            v = res.values.get(key, math.inf)
            trial.set_constraint(key, (v - limit) / limit if res.feasible else 1.0)
        out = []
        for o in spec.objectives:
            unit = OBJECTIVE_UNITS[o]
            if res.feasible:
                out.append(res.values[unit])
            else:
                out.append(0.0 if o == "accuracy" else math.inf)
        return out

    return objective


class StopRequest:
    """A graceful stop: `request()` asks the running study to stop after its current
    trial (Optuna's `study.stop`); a second request raises KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.requested = False
        self.study = None

    def request(self) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.study is None:      # nothing running yet: stop right away
            raise KeyboardInterrupt
        try:
            self.study.stop()
        except RuntimeError:        # between optimize calls: the loop checks the flag
            pass


def _completed(study) -> int:
    import optuna

    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def run_study(spec: StudySpec, storage: str, *, n_trials: int | None = None,
              run_dir: str | Path | None = None, progress: bool = True,
              threads: int = 1, evaluator: Evaluator | None = None,
              heartbeat_s: float = HEARTBEAT_S, stopper: StopRequest | None = None):
    """Run trials until the study holds `n_trials` (default: the spec's) completed ones;
    returns the study. Safe to call from several processes on one storage: exactly
    `n_trials` complete (a worker's trial beyond the count is pruned as surplus).
    `stopper.request()` (e.g. from a Ctrl-C handler) ends the run after the current
    trial."""
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    target = n_trials if n_trials is not None else spec.n_trials
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / spec.name
    study = open_study(spec, storage, heartbeat_s=heartbeat_s)
    if stopper is not None:
        stopper.study = study
    evaluator = evaluator or Evaluator(spec, run_dir, threads=threads)
    # study attributes are written once, by the first process (a worker or a resume
    # never rewrites what the study was created with)
    attrs = study.user_attrs
    first = {"spec_file": spec.file, "objectives": list(spec.objectives),
             "run_dir": str(run_dir.resolve())}
    if spec.needs_accuracy:
        first["float_accuracy"] = evaluator.float_accuracy
    for k, v in first.items():
        if k not in attrs:
            study.set_user_attr(k, v)
    deadline = None if spec.timeout_s is None else time.monotonic() + spec.timeout_s
    while stopper is None or not stopper.requested:
        done = _completed(study)
        left = target - done
        if left <= 0:
            break
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            break
        study.optimize(objective_fn(spec, evaluator, target), n_trials=left, timeout=timeout,
                       catch=(Exception,), show_progress_bar=progress,
                       callbacks=[MaxTrialsCallback(target, states=(TrialState.COMPLETE,))])
        if _completed(study) >= target:
            break
        streak = 0   # trailing failed trials: many in a row mean a broken set-up
        for t in reversed(study.get_trials(deepcopy=False)):
            if t.state != TrialState.FAIL:
                break
            streak += 1
        if streak >= MAX_FAILED_IN_A_ROW:
            last = study.get_trials(deepcopy=False)[-1].user_attrs.get("error", "?")
            raise SedseError(f"study {spec.name}: {streak} trials in a row failed; last "
                             f"error: {last}")
    return study
