"""Running a study on an Optuna storage: create or resume, sample, evaluate, record.

* Storage: a SQLite file ``runs/<study>/study.db`` by default, or any Optuna database
  URL (PostgreSQL for many workers). The study is created or loaded by name, so
  rerunning the same command resumes it, and any number of workers can share it.
* Objectives follow the spec's directions and are named on the study (Optuna's metric
  names, which optuna-dashboard shows). A design that is invalid or does not fit is
  recorded through Optuna's constraint mechanism (the sampler's ``constraints_func``
  stores the trial's ``constraints`` list: ``design_fits`` first, then the spec's
  constraints, names in the study attribute ``constraint_names``) with the reason in the
  ``infeasible_reason`` user attribute, and gets the worst values (0 accuracy, infinite
  costs), so samplers rank it last. Constraints from the spec (latency, area ...) are
  constraint values too (value - limit > 0 means violated).
* Every trial samples from its own seed, a hash of the study seed and the trial number
  (stored as ``sampler_seed``): resumes and extra workers never replay another
  process's sequence, and a fresh storage with the same seed reproduces the study. A
  sampled design equal to a completed (or an earlier running) trial's is not evaluated
  again: the trial is pruned with ``duplicate_of`` set and does not count towards
  ``n_trials`` (50 duplicates in a row stop the run: the space is exhausted).
* A trial that raises anything else is recorded as failed with its message (user
  attribute ``error``) and the study goes on; `n_trials` counts completed trials (ten
  failures in a row stop the run with the last error).
* The study records the spec file, float accuracy and objectives as study attributes,
  which `sedse pareto` and `sedse export` read back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from sedse._progress import task
from sedse.errors import SedseError, SpecError
from sedse.study._evaluate import Evaluator
from sedse.study._spec import OBJECTIVE_UNITS, StudySpec

log = logging.getLogger(__name__)
MAX_FAILED_IN_A_ROW = 10
MAX_DUPLICATES_IN_A_ROW = 50
HEARTBEAT_S = 10.0
def worker_id() -> str:
    """This process as the worker that ran a trial: host:pid (at the time of asking, so
    a forked worker names itself)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def default_storage(spec: StudySpec, runs_dir: str | Path = "runs") -> str:
    d = Path(runs_dir) / spec.name
    d.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(d / 'study.db').resolve()}"


def spec_fingerprint(spec: StudySpec) -> dict[str, str]:
    """Per spec section, a hash of what decides a trial's numbers (the accelerator and
    technology by content): a resumed study must match the one it was created with."""
    from dataclasses import asdict

    def h(obj) -> str:
        return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()) \
            .hexdigest()[:12]

    def content(path: str) -> str:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]

    from sedse.compress import DECOMPOSITION_VERSION

    decomposes = spec.compression.method == "smartexchange" or spec.weights == "decompose"
    out = {"model": h([spec.model, spec.batch]), "dataset": h([spec.dataset]),
            "accelerator": content(spec.accelerator), "technology": content(spec.technology),
            "float_epochs": h(spec.float_epochs),
            "compression": h([spec.compression.method, spec.compression.fixed, spec.weights]),
            "fidelity": h([spec.fidelity.kind, spec.fidelity.steps]),
            "search_space": h([asdict(p) for p in spec.search_space]),
            "dataflows": h(spec.dataflows), "objectives": h(spec.objectives),
            "constraints": h(spec.constraints),
            "mapping_search": h([spec.mapping_search.objective, spec.mapping_search.budget]),
            "sampler": h([spec.sampler.name, spec.sampler.seed, spec.sampler.population_size])}
    if decomposes:   # absent (as in studies created before it) for the others
        out["decomposition"] = str(DECOMPOSITION_VERSION)
    return out


def check_same_spec(study, spec: StudySpec, record: bool = True,
                    ignore: tuple[str, ...] = ()) -> None:
    """Record the spec's fingerprint on a new study (`record`); on a resume or an export,
    refuse (one line, before any trial) a spec that changed a section that decides trial
    numbers, or a study made by an older decomposition. Sections in `ignore` (the
    sampler, for an export: it decides which points are drawn, not their numbers) are
    not compared."""
    now = {k: v for k, v in spec_fingerprint(spec).items() if k not in ignore}
    stored = study.user_attrs.get("spec_fingerprint")
    if stored is None:
        if not record:
            return
        study.set_user_attr("spec_fingerprint", now)
        return
    changed = [k for k in now if stored.get(k) != now[k]]
    if changed:
        hint = ""
        if "decomposition" in changed:
            hint = (" (the SmartExchange decomposition changed since the study was created: "
                    "5x5 and 7x7 kernels, kept dense before, are decomposed now)")
        elif "mapping_search" in changed and spec.mapping_search.budget != 2000:
            # studies created before the one search default (SearchSettings: 5000)
            hint = (" (until the search's default became SearchSettings' 5000, a study "
                    "without a mapping_search budget searched 2000: state mapping_search: "
                    "{budget: 2000} to resume such a study)")
        raise SpecError(f"{spec.file}: {changed[0]}", f"differs from the spec study "
                        f"{spec.name!r} was created with (changed: {', '.join(changed)}); "
                        "its trials would not be comparable: restore it or use a new study "
                        f"name{hint}")


def trial_seed(study_seed: int, trial_number: int) -> int:
    """The sampler seed of one trial: a hash of the study seed and the trial number, so
    every trial (in any process, after any resume) draws from its own stream and the
    whole study replays from its storage (the seed is also stored on the trial)."""
    h = hashlib.sha256(f"sedse-sampler:{study_seed}:{trial_number}".encode()).digest()
    return int.from_bytes(h[:4], "little")


def _base_sampler(spec: StudySpec, seed: int):
    import optuna

    if spec.sampler.name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed,
                                             population_size=spec.sampler.population_size)
    if spec.sampler.name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    return optuna.samplers.RandomSampler(seed=seed)


def store_constraints(trial, values: list[float]) -> None:
    """Store the trial's constraint values as the ``constraints`` system attribute (a
    list): the form optuna-dashboard shows and Optuna 5's constrained samplers read
    (`FrozenTrial.constraints`, keys "0", "1", ...). Names: the study attribute
    ``constraint_names``."""
    trial.storage.set_trial_system_attr(trial._trial_id, "constraints", list(values))


def make_sampler(spec: StudySpec):
    """The study's sampler (NSGA-II, TPE or random), re-seeded per trial (`trial_seed`)."""
    import optuna

    class PerTrialSeedSampler(optuna.samplers.BaseSampler):
        def __init__(self) -> None:
            self._number = -1
            self._inner = _base_sampler(spec, trial_seed(spec.sampler.seed, 0))

        def _for(self, trial):
            if trial.number != self._number:
                self._number = trial.number
                self._inner = _base_sampler(spec, trial_seed(spec.sampler.seed, trial.number))
            return self._inner

        def before_trial(self, study, trial):
            self._for(trial).before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self._for(trial).infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._for(trial).sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._for(trial).sample_independent(study, trial, param_name,
                                                       param_distribution)

        def after_trial(self, study, trial, state, values):
            self._for(trial).after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:   # seeds come from trial numbers, not the process
            pass

    return PerTrialSeedSampler()


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

    stor = storage_of(storage, heartbeat_s)
    if create:
        study = optuna.create_study(study_name=spec.name, storage=stor,
                                    directions=spec.directions, sampler=make_sampler(spec),
                                    load_if_exists=True)
        if study.metric_names is None:   # names optuna-dashboard shows for the objectives
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(list(spec.objectives))
        if "constraint_names" not in study.user_attrs:
            study.set_user_attr("constraint_names",
                                ["design_fits", *(k for k, _ in spec.constraints)])
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


def fail_dead_trials(study, trials, touched: set[int]) -> None:
    """Optuna's stale-trial check, plus the dead trials it cannot see. Optuna records a
    trial's first heartbeat only after `study.ask()` returns, and `ask` creates the RUNNING
    trial before it samples (NSGA-II reads the whole population there): a worker killed in
    that window leaves a RUNNING trial with no heartbeat, which Optuna never fails, and
    which would hold a slot of the study for ever. A RUNNING trial started longer ago than
    the grace period gets one heartbeat recorded on its behalf (`touched` keeps it to
    once): harmless if its worker is alive (that worker keeps recording its own), and if
    the worker is dead that heartbeat goes stale and a later check fails the trial."""
    import datetime

    import optuna
    from optuna.trial import TrialState

    with warnings.catch_warnings():     # "experimental" in Optuna 5: not the user's concern
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    storage = study._storage
    interval = storage.get_heartbeat_interval() if hasattr(storage, "get_heartbeat_interval") \
        else None
    if interval is None:
        return
    grace = getattr(storage, "grace_period", None) or 2 * interval
    now = datetime.datetime.now()
    for t in trials:
        if t.state != TrialState.RUNNING or t.number in touched or t.datetime_start is None:
            continue
        if (now - t.datetime_start).total_seconds() > grace:
            storage.record_heartbeat(t._trial_id)
            touched.add(t.number)


def _has_slot(study, trial, target: int, touched: set[int]) -> bool:
    """True when `trial` is among the first `target` live (running, waiting or complete)
    trials; False once `target` trials completed without it. Waits while earlier trials
    of other workers are still running, failing the dead ones (killed workers), so that
    exactly `target` trials complete however many workers share the study."""
    from optuna.trial import TrialState

    live = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    while True:
        trials = study.get_trials(deepcopy=False)
        fail_dead_trials(study, trials, touched)
        ahead = sum(1 for t in trials if t.number < trial.number and t.state in live)
        if ahead < target:
            return True
        if sum(1 for t in trials if t.state == TrialState.COMPLETE) >= target:
            return False
        time.sleep(0.5)


def design_key(params: dict) -> str:
    """A short digest naming a design (its parameters), recorded on a trial before the
    duplicate check so that workers see each other's design as one value, not as
    parameters written one by one."""
    text = json.dumps(sorted((k, repr(v)) for k, v in params.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _duplicate_of(study, trial, params: dict, poll_s: float = 0.1,
                  touched: set[int] | None = None) -> int | None:
    """The number of a trial that evaluates (or evaluated) exactly these parameters, or
    None: such a design is not evaluated twice, even by two workers at once.

    Every trial records its design key before looking (`design`), then records its
    decision (`evaluating`, or `duplicate_of`). A trial yields to a completed one, to
    an earlier running one that has not itself yielded, and to a later one that decided
    to evaluate. A later trial never waits for an earlier one: it always sees the
    earlier key when the earlier one could miss its own, so it yields. The earlier one
    waits for the later one's decision (a single read away), which cannot deadlock, and
    stops waiting if that trial dies: while waiting it fails dead trials itself
    (`fail_dead_trials`), so a worker killed between the two writes cannot hold it."""
    from optuna.trial import TrialState

    key = design_key(params)
    trial.set_user_attr("design", key)
    states = (TrialState.COMPLETE, TrialState.RUNNING)
    touched = set() if touched is None else touched
    while True:
        pending = False
        trials = study.get_trials(deepcopy=False, states=states)
        for t in trials:
            ua = t.user_attrs
            if t.number == trial.number or ua.get("duplicate_of") is not None:
                continue
            if t.state == TrialState.COMPLETE:
                if t.params == params:
                    return t.number
                continue
            if ua.get("design") != key:
                continue
            if t.number < trial.number or ua.get("evaluating"):
                return t.number
            pending = True          # a later trial with this design that has not decided
        if not pending:
            trial.set_user_attr("evaluating", True)
            return None
        time.sleep(poll_s)
        fail_dead_trials(study, trials, touched)


def objective_fn(spec: StudySpec, evaluator: Evaluator, target: int | None = None,
                 state: dict | None = None):
    """The Optuna objective: claim a slot, suggest, evaluate, record attributes and
    constraints. A trial beyond `target` is pruned as surplus and stops the worker."""
    import optuna

    state = state if state is not None else {}
    state.setdefault("duplicates_in_a_row", 0)
    state.setdefault("exhausted", False)
    state.setdefault("touched", set())

    def objective(trial):
        if target is not None and not _has_slot(trial.study, trial, target, state["touched"]):
            trial.set_user_attr("surplus", True)
            trial.study.stop()
            raise optuna.TrialPruned("surplus: the study already has its trials")
        trial.set_user_attr("sampler_seed", trial_seed(spec.sampler.seed, trial.number))
        params = {p.name: p.suggest(trial) for p in spec.search_space}
        dup = _duplicate_of(trial.study, trial, params, touched=state["touched"])
        if dup is not None:
            trial.set_user_attr("duplicate_of", dup)
            state["duplicates_in_a_row"] += 1
            if state["duplicates_in_a_row"] >= MAX_DUPLICATES_IN_A_ROW:
                log.warning("%d sampled designs in a row were already evaluated: the search "
                            "space looks exhausted; stopping", MAX_DUPLICATES_IN_A_ROW)
                state["exhausted"] = True
                trial.study.stop()
            raise optuna.TrialPruned(f"duplicate of trial {dup} (not evaluated again)")
        state["duplicates_in_a_row"] = 0
        try:
            res = evaluator.evaluate(params)
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:2000])
            log.warning("trial %d failed (recorded; the study goes on): %s: %s",
                        trial.number, type(exc).__name__, str(exc)[:300])
            raise
        for k, v in res.attrs.items():
            trial.set_user_attr(k, v)
        trial.set_user_attr("worker", worker_id())
        trial.set_user_attr("feasible", res.feasible)
        if not res.feasible:
            trial.set_user_attr("infeasible_reason", res.reason[:2000])
        cons = [0.0 if res.feasible else 1.0]
        for key, limit in spec.constraints:
            v = res.values.get(key, math.inf)
            cons.append((v - limit) / limit if res.feasible else 1.0)
        trial.set_user_attr("constraint_values", cons)
        store_constraints(trial, cons)
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


def completed_trials(study) -> int:
    import optuna

    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def run_study(spec: StudySpec, storage: str, *, n_trials: int | None = None,
              run_dir: str | Path | None = None, progress: bool = True,
              threads: int = 1, evaluator: Evaluator | None = None,
              heartbeat_s: float = HEARTBEAT_S, stopper: StopRequest | None = None,
              say=None, cache_dir: str | Path | None = None):
    """Run trials until the study holds `n_trials` (default: the spec's) completed ones;
    returns the study. Safe to call from several processes on one storage: exactly
    `n_trials` complete (a worker's trial beyond the count is pruned as surplus).
    `stopper.request()` (e.g. from a Ctrl-C handler) ends the run after the current
    trial."""
    from optuna.trial import TrialState

    target = n_trials if n_trials is not None else spec.n_trials
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / spec.name
    evaluator = evaluator or Evaluator(spec, run_dir, threads=threads, cache_dir=cache_dir)
    evaluator.check_data()     # a bad data folder: one line, before the study exists
    study = open_study(spec, storage, heartbeat_s=heartbeat_s)
    check_same_spec(study, spec)
    if stopper is not None:
        stopper.study = study
    # every process of a study computes with the thread count it was created with:
    # torch training is not bit-reproducible across thread counts, so a trial's accuracy
    # must not depend on which worker ran it
    study_threads = study.user_attrs.get("torch_threads")
    if study_threads is None:
        study.set_user_attr("torch_threads", threads)
        study_threads = threads
    elif study_threads != threads and spec.needs_accuracy:
        log.warning("study %s computes with %d torch threads (set when it was created), not "
                    "%d, so that every trial is comparable", spec.name, study_threads, threads)
    evaluator.threads = int(study_threads)
    evaluator.progress = evaluator.progress or say
    if spec.needs_accuracy:
        fp = study.user_attrs.get("data_fingerprint")
        if fp is not None and fp != evaluator.data_fingerprint:
            raise SpecError(f"{spec.file}: dataset", f"the data read now (content hash "
                            f"{evaluator.data_fingerprint}) differs from the data study "
                            f"{spec.name!r} was created with ({fp}); restore it or use a new "
                            "study name")
    # study attributes are written once, by the first process (a worker or a resume
    # never rewrites what the study was created with)
    attrs = study.user_attrs
    first: dict[str, Any] = {"spec_file": spec.file, "objectives": list(spec.objectives),
                             "run_dir": str(run_dir.resolve())}
    if spec.needs_accuracy:
        first["float_accuracy"] = evaluator.float_accuracy
        first["data_fingerprint"] = evaluator.data_fingerprint
    for k, v in first.items():
        if k not in attrs:
            study.set_user_attr(k, v)
    deadline = None if spec.timeout_s is None else time.monotonic() + spec.timeout_s
    state: dict = {}
    with task(f"study {spec.name}", total=target, unit="completed trials",
              quiet=not progress) as bar:
        bar.resume(completed_trials(study))    # a resumed study starts where it was

        def report(study_, trial) -> None:
            if trial.state == TrialState.COMPLETE:
                vals = ", ".join(f"{o} {v:.4g}" for o, v in
                                 zip(spec.objectives, trial.values or (), strict=False))
                bar.advance(note=f"trial #{trial.number}: {vals}")

        _optimize_loop(spec, study, evaluator, target, state, deadline, stopper, report)
    return study


def _optimize_loop(spec, study, evaluator, target, state, deadline, stopper,
                   report) -> None:
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    while stopper is None or not stopper.requested:
        done = completed_trials(study)
        left = target - done
        if left <= 0:
            break
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            break
        study.optimize(objective_fn(spec, evaluator, target, state), n_trials=left,
                       timeout=timeout, catch=(Exception,), show_progress_bar=False,
                       callbacks=[MaxTrialsCallback(target, states=(TrialState.COMPLETE,)),
                                  report])
        if completed_trials(study) >= target or state["exhausted"]:
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
