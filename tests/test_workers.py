"""Many workers on one study (PostgreSQL and SQLite), kill -9 and Ctrl-C resume.

The PostgreSQL tests need a server: `.ci/run` starts one from Debian's packages
(`.ci/postgres.sh`) and exports SEDSE_TEST_POSTGRES_URL; elsewhere they skip unless
SEDSE_REQUIRE_POSTGRES=1. Workers are real `sedse` processes with one thread each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from sedse.report import results_table
from sedse.study import load_study, open_study

from .conftest import HW

PG_URL = os.environ.get("SEDSE_TEST_POSTGRES_URL")
pg = pytest.mark.skipif(PG_URL is None and os.environ.get("SEDSE_REQUIRE_POSTGRES") != "1",
                        reason="no PostgreSQL server (set SEDSE_TEST_POSTGRES_URL)")

# hardware-only, fixed statistics from LeNet-5's decomposition: no training, ~0.2 s/trial
STUDY = """
name: {name}
model: lenet5
accelerator: {hw}/smartexchange.yaml
technology: {hw}/tech/65nm.yaml
compression: {{method: none}}
weights: decompose
search_space:
  hardware.pe_array.shape.slices: {{choices: [2, 4, 8]}}
  hardware.pe_array.shape.lines: {{choices: [3, 6, 12]}}
  hardware.pe_array.shape.macs: {{choices: [7, 14]}}
  hardware.levels.GLB.partitions.W.capacity_bytes: {{low: 2048, high: 65536, log: true}}
objectives: [energy, latency]
mapping_search: {{budget: 300}}
sampler: {{name: {sampler}, seed: 1, population_size: 4}}
n_trials: 6
"""


def _spec(tmp_path, sampler="random"):
    name = f"w{uuid.uuid4().hex[:10]}"
    f = tmp_path / f"{name}.yaml"
    f.write_text(STUDY.format(name=name, hw=HW, sampler=sampler))
    return load_study(f)


def _sedse(*args, **kw) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "sedse", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _load(spec, url):
    return optuna.load_study(study_name=spec.name, storage=url)


def _sqlite(tmp_path):
    return f"sqlite:///{tmp_path / 'study.db'}"


def _front(values: np.ndarray) -> set[int]:
    """Indices of non-dominated rows (all objectives minimised), by brute force."""
    out = set()
    for i, v in enumerate(values):
        if not any(np.all(w <= v) and np.any(w < v) for w in values):
            out.add(i)
    return out


def _assert_distinct(study):
    """Every completed trial is a new design, sampled from its own recorded seed."""
    done = study.get_trials(states=(TrialState.COMPLETE,))
    designs = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(designs)) == len(designs), "a design was evaluated twice"
    seeds = [t.user_attrs["sampler_seed"] for t in done]
    assert len(set(seeds)) == len(seeds)


def _run_workers(spec, url, tmp_path, n_workers: int, n_trials: int):
    open_study(spec, url)   # created once, as `sedse run` would
    procs = [_sedse("worker", "--storage", url, "--study", spec.name, "--n-trials",
                    str(n_trials), "--spec", spec.file, "--no-progress", "--runs-dir",
                    str(tmp_path / "runs"), cwd=tmp_path) for _ in range(n_workers)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    study = _load(spec, url)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == n_trials                                  # exactly the count
    assert len({t.number for t in study.trials}) == len(study.trials)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    surplus = [t for t in pruned if t.user_attrs.get("surplus")]
    assert all(t.user_attrs.get("surplus") or t.user_attrs.get("duplicate_of") is not None
               for t in pruned) and len(surplus) <= n_workers
    _assert_distinct(study)
    workers = {t.user_attrs["worker"] for t in done}
    # the Pareto front `sedse pareto` reports equals the one recomputed from all trials
    df = results_table(study, ["energy", "latency"])
    ok = df[df.feasible].reset_index(drop=True)
    front = _front(ok[["energy_uj", "latency_ms"]].to_numpy())
    assert set(ok.index[ok.is_pareto]) == front
    return study, workers


@pg
def test_three_workers_on_postgresql(tmp_path):
    spec = _spec(tmp_path)
    _study, workers = _run_workers(spec, PG_URL, tmp_path, 3, 12)
    assert len(workers) >= 2      # the work really was shared


def test_two_workers_on_sqlite(tmp_path):
    spec = _spec(tmp_path)
    _study, workers = _run_workers(spec, _sqlite(tmp_path), tmp_path, 2, 6)
    assert len(workers) >= 1


def _kill_mid_trial_and_resume(spec, url, tmp_path, n_trials=6):
    args = ["run", spec.file, "--storage", url, "--n-trials", str(n_trials), "--no-progress",
            "--heartbeat-s", "1", "--runs-dir", str(tmp_path / "runs")]
    victim, before = None, None
    # a trial takes about 0.2 s: one seen RUNNING may finish before the signal lands, so
    # the victim is whichever trial the database still shows RUNNING after the kill (if
    # none, the kill fell between trials: run again and retry)
    for _attempt in range(5):
        p = _sedse(*args, cwd=tmp_path)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and p.poll() is None:
            try:
                trials = _load(spec, url).get_trials()
            except KeyError:          # not created yet
                time.sleep(0.05)
                continue
            complete = [t for t in trials if t.state == TrialState.COMPLETE]
            # inside the objective (its first attribute is set), so its heartbeat thread
            # runs: a kill inside `ask`, before any heartbeat, is the next test's case
            running = [t for t in trials if t.state == TrialState.RUNNING
                       and "sampler_seed" in t.user_attrs]
            if len(complete) >= 2 and running:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
                break
            time.sleep(0.02)
        trials = _load(spec, url).get_trials()
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if p.returncode == -signal.SIGKILL and running:
            victim = running[0].number
            before = {t.number: (t.values, t.params, t.user_attrs) for t in trials
                      if t.state == TrialState.COMPLETE}
            break
        assert p.returncode in (0, -signal.SIGKILL), p.communicate()[1][-2000:]
    assert victim is not None, "no kill landed mid-trial in 5 attempts"
    study = _load(spec, url)
    # completed work survived the kill; the victim is still RUNNING until a heartbeat check
    assert {t.number for t in study.get_trials(states=(TrialState.COMPLETE,))} >= set(before)
    p2 = _sedse(*args, cwd=tmp_path)
    _out, err = p2.communicate(timeout=600)
    assert p2.returncode == 0, err[-2000:]
    study = _load(spec, url)
    trials = {t.number: t for t in study.trials}
    assert trials[victim].state == TrialState.FAIL                # marked failed on resume
    for n, (values, params, attrs) in before.items():             # kept with attributes
        assert trials[n].state == TrialState.COMPLETE
        assert (trials[n].values, trials[n].params, trials[n].user_attrs) == \
            (values, params, attrs)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == n_trials
    _assert_distinct(study)


def test_kill_9_mid_trial_then_resume_sqlite(tmp_path):
    _kill_mid_trial_and_resume(_spec(tmp_path), _sqlite(tmp_path), tmp_path)


@pg
def test_kill_9_mid_trial_then_resume_postgresql(tmp_path):
    _kill_mid_trial_and_resume(_spec(tmp_path), PG_URL, tmp_path)


def _orphan_without_heartbeat_then_resume(spec, url, tmp_path):
    """A worker killed inside `study.ask()` (after Optuna created the RUNNING trial, before
    its first heartbeat: NSGA-II samples in between) left a trial Optuna's stale check
    never fails. A resume that needs its slot fails it within two grace periods (3 s each
    here) instead of waiting for ever (CI hung 600 s on this with PostgreSQL)."""
    args = ["run", spec.file, "--storage", url, "--no-progress", "--heartbeat-s", "1",
            "--runs-dir", str(tmp_path / "runs")]
    p = _sedse(*args, "--n-trials", "1", cwd=tmp_path)
    assert p.communicate(timeout=300) and p.returncode == 0
    study = open_study(spec, url, heartbeat_s=1)
    orphan = study.ask()            # RUNNING, no heartbeat, no process behind it
    assert study.get_trials(states=(TrialState.RUNNING,))[0].number == orphan.number
    t0 = time.monotonic()
    p = _sedse(*args, "--n-trials", "2", cwd=tmp_path)
    _out, err = p.communicate(timeout=120)     # before the fix: waited for ever
    assert p.returncode == 0, err[-2000:]
    assert time.monotonic() - t0 < 60
    trials = {t.number: t for t in _load(spec, url).trials}
    assert trials[orphan.number].state == TrialState.FAIL
    assert sum(t.state == TrialState.COMPLETE for t in trials.values()) == 2
    assert not [t for t in trials.values() if t.state == TrialState.RUNNING]


def test_a_trial_killed_before_its_first_heartbeat_is_failed_sqlite(tmp_path):
    _orphan_without_heartbeat_then_resume(_spec(tmp_path), _sqlite(tmp_path), tmp_path)


@pg
def test_a_trial_killed_before_its_first_heartbeat_is_failed_postgresql(tmp_path):
    _orphan_without_heartbeat_then_resume(_spec(tmp_path), PG_URL, tmp_path)


def test_ctrl_c_ends_cleanly_with_a_resume_hint(tmp_path):
    spec = _spec(tmp_path)
    url = _sqlite(tmp_path)
    p = _sedse("run", spec.file, "--storage", url, "--n-trials", "50", "--no-progress",
               "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if len(_load(spec, url).get_trials(states=(TrialState.COMPLETE,))) >= 1:
                break
        except KeyError:
            pass
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _out, err = p.communicate(timeout=120)
    assert p.returncode == 130
    assert "stopping after the current trial" in err
    assert "interrupted; completed trials are kept in" in err and "resume" in err
    assert "Traceback" not in err
    study = _load(spec, url)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) >= 1
    # the trial running at Ctrl-C finished: nothing failed, nothing left running
    assert not study.get_trials(states=(TrialState.FAIL, TrialState.RUNNING))


def _compress_same_entry(args):
    spec_file, run_dir, cache_dir = args
    from sedse.study import Evaluator, load_study

    spec = load_study(spec_file)
    ev = Evaluator(spec, run_dir, threads=1, cache_dir=cache_dir)
    d = ev.compressed_dir({"compression.theta": 0.02, "compression.ce_bits": 4})
    return str(d), (d / "layers.json").read_text()


def test_two_workers_writing_the_same_cache_entry(tmp_path, float_cache):
    """Two processes compress the same point at once: both get a complete, identical
    directory (temporary folder + atomic rename), and no temporary folder is left."""
    import multiprocessing as mp

    from .test_study import STUDY as ACC_STUDY
    from .test_study import needs_fmnist

    if needs_fmnist.args[0]:
        pytest.skip(needs_fmnist.kwargs["reason"])
    f = tmp_path / "tiny.yaml"
    f.write_text(ACC_STUDY)
    run = tmp_path / "run"
    with mp.get_context("spawn").Pool(2) as pool:
        (d1, j1), (d2, j2) = pool.map(_compress_same_entry,
                                      [(str(f), str(run), str(float_cache))] * 2)
    assert d1 == d2 and j1 == j2
    leftovers = [p.name for p in (run / "cache" / "compressed").iterdir()
                 if p.name.startswith(".tmp")]
    assert leftovers == []


def _kill_then_workers(spec, url, tmp_path, n_trials=40, n_workers=3):
    """A study killed with kill -9 mid-trial, resumed twice by `sedse run` and grown to
    `n_trials` by extra workers: N completed trials are N distinct designs (each
    process used to replay the study seed's sequence)."""
    _kill_mid_trial_and_resume(spec, url, tmp_path, n_trials=6)
    p = _sedse("run", spec.file, "--storage", url, "--n-trials", "10", "--no-progress",
               "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)      # a second resume
    _out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-2000:]
    study, _workers = _run_workers(spec, url, tmp_path, n_workers, n_trials)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == n_trials
    _assert_distinct(study)


def test_40_trials_3_workers_and_a_kill_are_distinct_designs_sqlite(tmp_path):
    _kill_then_workers(_spec(tmp_path, "nsga2"), _sqlite(tmp_path), tmp_path)


@pg
def test_40_trials_3_workers_and_a_kill_are_distinct_designs_postgresql(tmp_path):
    _kill_then_workers(_spec(tmp_path, "nsga2"), PG_URL, tmp_path)


def test_a_resampled_design_is_not_evaluated_twice(tmp_path):
    """A space of 3 designs: the sampler proposes repeats, which are pruned with
    `duplicate_of` (not evaluated, not counted); asking for more designs than exist
    stops with a warning instead of looping."""
    from sedse.study import run_study

    text = STUDY.format(name="dups", hw=HW, sampler="random").replace(
        "  hardware.pe_array.shape.lines: {choices: [3, 6, 12]}\n", "").replace(
        "  hardware.pe_array.shape.macs: {choices: [7, 14]}\n", "").replace(
        "  hardware.levels.GLB.partitions.W.capacity_bytes: {low: 2048, high: 65536, "
        "log: true}\n", "")
    f = tmp_path / "dups.yaml"
    f.write_text(text)
    spec = load_study(f)
    assert [p.name for p in spec.search_space] == ["hardware.pe_array.shape.slices"]
    url = _sqlite(tmp_path)
    study = run_study(spec, url, n_trials=3, run_dir=tmp_path / "run", progress=False)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 3
    _assert_distinct(study)
    study = run_study(spec, url, n_trials=5, run_dir=tmp_path / "run", progress=False)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3     # exhausted
    dups = [t for t in study.trials if t.user_attrs.get("duplicate_of") is not None]
    assert dups and all(t.state == TrialState.PRUNED for t in dups)
    first = {tuple(t.params.items()): t.number for t in done}
    assert all(first[tuple(t.params.items())] == t.user_attrs["duplicate_of"] for t in dups)


def test_two_workers_sampling_one_design_at_once_evaluate_it_once(tmp_path):
    """The duplicate check of two running trials with one design, in every order: each
    records its design key before looking, so whichever order the reads and writes take,
    exactly one of the two evaluates (the interleaving that let NSGA-II's 3 workers
    evaluate a design twice: the later trial checked before the earlier had written)."""
    import threading

    from sedse.study._run import _duplicate_of, design_key

    study = optuna.create_study(storage=_sqlite(tmp_path), study_name="race")
    params = {"x": 2}

    def two(x=2):
        study.enqueue_trial({"x": x})
        study.enqueue_trial({"x": x})
        a, b = study.ask(), study.ask()
        for t in (a, b):
            assert t.suggest_categorical("x", [1, 2, 3]) == x
        return a, b

    a, b = two()                      # later one checks first: it evaluates
    assert _duplicate_of(study, b, params) is None
    assert _duplicate_of(study, a, params) == b.number
    a.set_user_attr("duplicate_of", b.number)
    study.tell(a, state=TrialState.PRUNED)
    study.tell(b, [1.0])
    c, d = two()                      # a completed design is not evaluated again
    assert _duplicate_of(study, c, params) == b.number
    c.set_user_attr("duplicate_of", b.number)
    assert _duplicate_of(study, d, params) == b.number
    for t in (c, d):
        study.tell(t, state=TrialState.PRUNED)
    e, f = two(3)
    new = {"x": 3}
    f.set_user_attr("design", design_key(new))
    out = []                          # f has written its key but not decided: e waits
    th = threading.Thread(target=lambda: out.append(_duplicate_of(study, e, new, 0.02)))
    th.start()
    time.sleep(0.3)
    assert th.is_alive() and not out
    f.set_user_attr("duplicate_of", e.number)      # f yields: e evaluates
    th.join(5)
    assert out == [None]
    assert _duplicate_of(study, f, new) == e.number   # and f, checking, yields to e
    g, h = two(1)                     # h dies after writing its key: g stops waiting
    h.set_user_attr("design", design_key({"x": 1}))
    out.clear()
    th = threading.Thread(target=lambda: out.append(_duplicate_of(study, g, {"x": 1}, 0.02)))
    th.start()
    time.sleep(0.3)
    assert th.is_alive() and not out
    study.tell(h, state=TrialState.FAIL)
    th.join(5)
    assert out == [None]
