"""Export = replay: `export_point` writes one trial's accelerator YAML, mappings,
compression config (and compressed weights), which `sedse eval` / `sedse compare` read
back to the same numbers. Tables and figures of a study are in `sedse.report`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sedse.errors import SpecError
from sedse.study._spec import StudySpec

MAPPINGS_FILE = "mappings.yaml"
REPLAYED_FILES = ("accelerator.yaml", MAPPINGS_FILE, "stats.yaml", "compressed/layers.json",
                  "compressed/weights.npz", "compressed/model.pt")


def file_sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
def export_point(study, spec: StudySpec, trial_number: int, out: Path, *,
                 run_dir: Path) -> dict:
    """Write the trial's accelerator YAML, compression config and compressed weights to
    `out`; return the trial's stored values. SpecError if the trial cannot be exported.
    The compressed weights are copied only from the run's own cache (`run_dir`, the
    folder `sedse run` used), at the entry of the trial's compression parameters: no
    path stored in the study is followed."""
    from optuna.trial import TrialState

    from sedse._yaml import dump_yaml, load_yaml
    from sedse.study._run import check_same_spec
    from sedse.study._spec import apply_overrides

    # a trial replays only under the spec sections that decided its numbers
    check_same_spec(study, spec, record=False, ignore=("sampler",))
    numbers = [t.number for t in study.get_trials(deepcopy=False)]
    if trial_number not in numbers:
        raise SpecError("--trial", f"study {spec.name!r} has no trial {trial_number} "
                        f"(trials 0..{max(numbers) if numbers else -1})")
    t = study.trials[numbers.index(trial_number)]
    if t.state != TrialState.COMPLETE or not t.user_attrs.get("feasible"):
        why = t.user_attrs.get("infeasible_reason") or t.user_attrs.get("error") or t.state.name
        raise SpecError("--trial", f"trial {trial_number} is not a feasible completed trial "
                        f"({why})")
    hw = {k: v for k, v in t.params.items() if k.startswith("hardware.")}
    doc = apply_overrides(spec.accelerator_doc or load_yaml(spec.accelerator).value, hw,
                          spec.file, dict(spec.dataflows))
    header = (f"# exported from study {spec.name} ({spec.file}), trial {trial_number}\n"
              f"# parameters: {json.dumps(t.params)}\n")
    comp = {k.split(".", 1)[1]: v for k, v in t.params.items() if k.startswith("compression.")}
    stored = {k: t.user_attrs.get(k) for k in ("accuracy_frac", "energy_uj", "latency_ms",
                                               "edp_uj_ms", "area_mm2", "compression_ratio_x")
              if k in t.user_attrs}
    mappings = t.user_attrs.get("mappings")
    if not isinstance(mappings, dict) or not mappings:
        raise SpecError("--trial", f"trial {trial_number} stores no mappings (evaluated by an "
                        "older sedse); run the study again to export it")
    info = {"study": spec.name, "trial": trial_number, "model": spec.model,
            "batch": spec.batch, "params": t.params, "values": stored,
            "mapping_search": {"objective": spec.mapping_search.objective,
                               "budget": spec.mapping_search.budget},
            "files": {"accelerator": "accelerator.yaml", "mappings": MAPPINGS_FILE,
                      "compressed": "compressed" if spec.needs_accuracy else None}}
    src = None
    if spec.needs_accuracy:
        from sedse.compress import SmartExchangeConfig
        from sedse.study._evaluate import compressed_cache_dir

        fixed = spec.compression_fixed()
        fixed.update(comp)
        try:
            cfg = SmartExchangeConfig(**fixed)
        except (TypeError, ValueError) as exc:
            raise SpecError("--trial", f"trial {trial_number}'s compression parameters are "
                            f"invalid ({exc})") from None
        src = compressed_cache_dir(Path(run_dir), spec, cfg)
        if not (src / "layers.json").is_file():
            raise SpecError(str(src), "the trial's compressed weights are gone (was the run "
                            "folder's cache deleted?)")
    stats_doc = None
    if not spec.needs_accuracy:   # the fixed weight statistics every trial was costed with
        from sedse.study._evaluate import Evaluator

        stats_doc = Evaluator(spec, run_dir)._stats({})[0].to_doc()
        info["files"]["stats"] = "stats.yaml"
    # every input checked: now write
    out.mkdir(parents=True, exist_ok=True)
    if stats_doc is not None:
        (out / "stats.yaml").write_text(dump_yaml(stats_doc, sort_keys=False))
    (out / "accelerator.yaml").write_text(header + dump_yaml(doc, sort_keys=False))
    (out / MAPPINGS_FILE).write_text(
        f"# the mappings trial {trial_number} was evaluated with (sedse eval reuses them)\n"
        + dump_yaml(mappings, sort_keys=False))
    if src is not None:
        (out / "compression.yaml").write_text(dump_yaml(
            {"method": spec.compression.method, **fixed, "fidelity": spec.fidelity.kind},
            sort_keys=False))
        if (out / "compressed").exists():
            shutil.rmtree(out / "compressed")
        shutil.copytree(src, out / "compressed", symlinks=False)
    # content hashes: an edited file is refused on replay (never a silently other number)
    info["sha256"] = {f: file_sha256(out / f) for f in REPLAYED_FILES if (out / f).is_file()}
    (out / "trial.json").write_text(json.dumps(info, indent=1))
    return info
