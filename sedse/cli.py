"""Command line: the only place that parses argv, configures logging or exits."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

from sedse.errors import SedseError, SpecError

log = logging.getLogger("sedse")
MAX_BATCH = 2**24



def _usable_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return n


#: processes searching mappings by default: the CPUs this process may use, at most 8
DEFAULT_JOBS = max(1, min(8, _usable_cpus()))

class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"sedse: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


def _int(lo: int, hi: int):
    """An argparse type: an integer in [lo, hi] (checked when the command line is read)."""
    def parse(text: str) -> int:
        try:
            v = int(text, 0) if text.strip().lower().startswith(("0x", "0b", "0o")) \
                else int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, found {text[:40]!r}") \
                from None
        if not lo <= v <= hi:
            from sedse._yaml import short_number

            raise argparse.ArgumentTypeError(f"expected an integer in [{lo}, {hi}], found "
                                             f"{v if abs(v) < 10**15 else short_number(v)}")
        return v
    return parse


def _float(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False):
    """An argparse type: a finite number in the interval (open ends as flagged)."""
    def parse(text: str) -> float:
        import math

        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, found {text[:40]!r}") \
                from None
        ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and \
            (v < hi if hi_open else v <= hi)
        if not ok:
            interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
            raise argparse.ArgumentTypeError(f"expected a finite number in {interval}, "
                                             f"found {text[:40]}")
        return v
    return parse


def _pseudo_fs(path: Path) -> bool:
    """True inside /proc, /sys or /dev: root passes every permission check there, but
    nothing can be written (checked without writing anything)."""
    try:
        parts = path.resolve().parts
    except OSError:
        return False
    return len(parts) > 1 and parts[1] in ("proc", "sys", "dev")


def _writable_file(flag: str, path: str | None) -> None:
    """SpecError naming `flag` unless `path` can be written (checked before any work)."""
    if path is None:
        return
    p = Path(path)
    if not str(path).strip():
        raise SpecError(flag, "expected a file name, found an empty string")
    if p.is_dir():
        raise SpecError(flag, f"{path} is a directory; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise SpecError(flag, f"cannot write {path}: the folder {parent} does not exist")
    import os

    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise SpecError(flag, f"cannot write {path}: permission denied")
    if _pseudo_fs(parent):
        raise SpecError(flag, f"cannot write {path}: {parent} is a kernel file system")


def _writable_dir(flag: str, path: Path) -> None:
    """SpecError naming `flag` unless `path` is (or can be made) a writable folder."""
    import os

    if path.exists() and not path.is_dir():
        raise SpecError(flag, f"{path} exists and is not a folder")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise SpecError(flag, f"cannot write into {path}: {probe} is not a writable folder")
    if _pseudo_fs(probe):
        raise SpecError(flag, f"cannot write into {path}: {probe} is a kernel file system")


def _load_workload(model: str, batch: int | None):
    """A shipped model at `batch` (default 1), or a workload YAML whose layers keep
    their own N unless `batch` is given."""
    from sedse.workload import from_onnx, load_workload

    if model.endswith((".yaml", ".yml", ".onnx")) or Path(model).is_file():
        if model.endswith(".onnx") and batch is not None:
            raise SpecError("--batch", "an ONNX model's shapes are fixed when it is "
                            "exported (batch and sequence folded into its layers): export "
                            "it at the batch you want")
        wl = from_onnx(model) if model.endswith(".onnx") else load_workload(model)
        if batch is None:
            return wl
        try:
            return wl.with_batch(batch)
        except SpecError as exc:
            raise SpecError("--batch", f"{batch}: {exc}") from None
    batch = 1 if batch is None else batch
    from sedse._shipped import is_model, model_entry, model_names

    if not is_model(model):
        names = ", ".join(model_names())
        raise SpecError("--model", f"unknown model {model!r} (shipped: {names}; or give a "
                        "workload YAML or an ONNX file)")
    try:
        return model_entry(model).workload(batch)
    except SpecError as exc:
        raise SpecError("--batch", f"{batch}: {exc}") from None


def _fmt_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join(h.rjust(w) if i else h.ljust(w)
                     for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    out = [line, "-" * len(line)]
    for r in rows:
        out.append("  ".join(c.rjust(w) if i else c.ljust(w)
                             for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    return "\n".join(out)


def _print_report(rep, acc, show_mapping: bool) -> None:
    print(f"\n== {rep.workload} on {acc.name} ({acc.num_pes} PEs, {acc.clock_mhz:g} MHz, "
          f"{acc.onchip_bytes / 1024:.1f} KiB on chip) ==")
    header = ["layer", "kind", "MACs", "energy_uJ", "pJ/MAC", "cycles", "latency_ms", "util_%"]
    rows = []
    for lc in rep.layers:
        rows.append([lc.layer.name, lc.layer.kind, f"{lc.layer.macs:,}",
                     f"{lc.energy_pj / 1e6:.2f}", f"{lc.energy_pj / lc.layer.macs:.2f}",
                     f"{lc.cycles:,.0f}", f"{lc.cycles / acc.clock_mhz / 1e3:.3f}",
                     f"{100 * lc.utilisation:.1f}"])
    rows.append(["TOTAL", "", f"{rep.macs:,}", f"{rep.energy_pj / 1e6:.2f}",
                 f"{rep.energy_pj / rep.macs:.2f}", f"{rep.cycles:,.0f}",
                 f"{rep.latency_s * 1e3:.3f}", f"{100 * rep.utilisation:.1f}"])
    print(_fmt_table(header, rows))
    by_level = rep.to_dict()["totals"]["energy_pj_by_level"]
    names = {lvl.name for lvl in acc.levels}
    by_memory: dict[str, float] = {}   # a memory's tile boundaries together
    for k, v in by_level.items():
        m = acc.levels[acc.memory_head(acc.level_index(k))].name if k in names else k
        by_memory[m] = by_memory.get(m, 0.0) + v
    parts = ", ".join(f"{k} {100 * v / rep.energy_pj:.1f}%" for k, v in by_memory.items())
    print(f"energy by level: {parts}")
    if show_mapping:
        print("mappings (temporal factors outer->inner per level, spatial per array axis):")
        for lc in rep.layers:
            print(f"  {lc.layer.name}: {lc.mapping_text}  [{lc.active_pes} active PEs; "
                  f"{lc.passes:,} passes; latency bound: {lc.binding}; {lc.mapping_source}]")


def _mapping_file(path: str | Path, wl, acc) -> dict:
    """{layer name: Mapping} from a mapping YAML, each checked against its layer."""
    from sedse._yaml import load_yaml
    from sedse.cost import checked_mapping

    root = load_yaml(path)
    by_name = {layer.name: layer for layer in wl.layers}
    out = {}
    for name, node in root.items():
        if name not in by_name:
            raise node.error(f"no layer named {name!r} in {wl.name} "
                             f"(layers: {', '.join(list(by_name)[:6])}, ...)")
        out[name] = checked_mapping(node, by_name[name], acc)
    return out


def _exported_point(hw_file: Path):
    """The `sedse export` folder `hw_file` lies in ({trial.json fields}, folder), or None
    when the accelerator file is not an export's."""
    from sedse._yaml import load_json

    folder = hw_file.parent
    if hw_file.name != "accelerator.yaml" or not (folder / "trial.json").is_file():
        return None
    from sedse.study import file_sha256

    info = load_json(folder / "trial.json")
    info.check_keys({"study", "trial", "model", "batch", "params", "values", "mapping_search",
                     "files", "sha256"})
    if not (folder / "mappings.yaml").is_file():
        raise SpecError(str(folder / "mappings.yaml"), "not found: this export folder has "
                        "lost its mappings (export the trial again, or give --research)")
    sums = info.get("sha256") if info.has("sha256") else None
    for name, node in (sums.items() if sums is not None else []):
        f = folder / name
        if f.is_file() and node.as_str() != file_sha256(f):
            raise SpecError(str(f), "edited since the export (its content hash differs from "
                            "trial.json's): it would not replay the stored numbers; export "
                            "the trial again, or give --research to evaluate the edited "
                            "files with searched mappings")
    return info, folder


def cmd_eval(args: argparse.Namespace) -> int:
    from sedse.compress import stats_from_compressed, stats_from_file
    from sedse.cost import SearchSettings, evaluate_workload
    from sedse.hardware import load_accelerator, resolve_design

    _writable_file("--json", args.json)
    _writable_file("--csv", args.csv)
    if args.compressed and args.stats:
        raise SpecError("--stats", "give either --compressed or --stats, not both")
    if args.mapping and args.research:
        raise SpecError("--research", "give either --mapping or --research")
    files = [resolve_design(hw) for hw in args.hw]
    accs = [load_accelerator(f) for f in files]   # every input checked before any work
    wl = _load_workload(args.model, args.batch)
    # exported points (checked, files hashed) once per accelerator file
    points = [None if args.research or args.mapping else _exported_point(Path(f))
              for f in files]
    compressed, stats_file = args.compressed, args.stats
    if not (compressed or stats_file):
        # an exported point replays with its own weight statistics too
        for point in points:
            if point is not None:
                folder = point[1]
                if (folder / "compressed" / "layers.json").is_file():
                    compressed = str(folder / "compressed")
                elif (folder / "stats.yaml").is_file():
                    stats_file = str(folder / "stats.yaml")
                print(f"weights: {compressed or stats_file} (the export's; give --compressed "
                      "or --stats for others)")
                break
    stats = None
    if compressed:
        stats = stats_from_compressed(compressed, wl, args.model)
    elif stats_file:
        stats = stats_from_file(stats_file, wl)
    if stats is not None:
        print(f"weights: {stats.weights_source}; activations: {stats.activations_source}")
        wl = stats.apply(wl)
    settings = SearchSettings(objective=args.objective, budget=args.budget)
    plans = []
    for acc, point in zip(accs, points, strict=True):
        w = wl.with_precision(acc.input_bits, acc.weight_bits, acc.output_bits)
        mappings, source = {}, "user mapping"
        if args.mapping:
            mappings, source = _mapping_file(args.mapping, w, acc), str(args.mapping)
        elif point is not None:
            info, folder = point
            for key, given in (("model", args.model), ("batch", args.batch or 1)):
                if info.get(key).value != given:
                    raise SpecError(f"--{key}", f"{folder} was exported for {key} "
                                    f"{info.get(key).value!r}, not {given!r} (give that, or "
                                    "--research to search mappings for this one)")
            mappings = _mapping_file(folder / "mappings.yaml", w, acc)
            source = f"exported with {folder}"
            print(f"mappings: {folder / 'mappings.yaml'} (the exported trial's; --research "
                  "searches again)")
        plans.append((acc, w, mappings, source))
    reports = []
    for acc, w, mappings, source in plans:
        rep = evaluate_workload(w, acc, mappings, mapping_source=source, settings=settings,
                                workers=args.jobs)
        _print_report(rep, acc, args.show_mapping)
        reports.append(rep)
    if stats is not None and stats.accuracy_frac is not None:
        print(f"accuracy (as reported by the compressed directory): {stats.accuracy_frac!r}")
    if args.json:
        doc: dict[str, Any] = {"reports": [r.to_dict() for r in reports]}
        if stats is not None and stats.accuracy_frac is not None:
            doc["accuracy_frac"] = stats.accuracy_frac
        Path(args.json).write_text(json.dumps(doc, indent=1))
        print(f"\nwrote {args.json}")
    if args.csv:
        import pandas as pd  # only here: `sedse eval` starts without it

        frames = [pd.DataFrame(r.rows()).assign(accelerator=r.accelerator, workload=r.workload)
                  for r in reports]
        pd.concat(frames).to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


COMPARE_COLUMNS = ["design", "energy_uj", "latency_ms", "edp_uj_ms", "pj_per_mac",
                   "dram_uj", "global_buffer_uj", "noc_uj", "register_file_uj", "mac_uj",
                   "rebuild_uj", "index_uj", "energy_vs_ref_x", "latency_vs_ref_x"]


def cmd_compare(args: argparse.Namespace) -> int:
    from sedse.compare import compare
    from sedse.compress import stats_by_decomposition, stats_from_compressed, stats_from_file
    from sedse.cost import SearchSettings
    from sedse.hardware import (
        default_technology_file,
        load_designs,
        load_technology,
        resolve_design,
    )
    from sedse.report import (
        breakdown_info,
        comparison_layers_md,
        layer_lines_info,
        plot_breakdown,
        plot_layers,
        to_markdown,
    )

    if args.compressed and args.stats:
        raise SpecError("--stats", "give either --compressed or --stats, not both")
    if args.dense and (args.compressed or args.stats):
        raise SpecError("--dense", "--dense means no weight statistics: give it without "
                        "--compressed or --stats")
    names = [n.strip() for h in args.hw for n in h.split(",") if n.strip()]
    if not names:
        raise SpecError("--hw", f"no design named in {' '.join(args.hw)!r} (e.g. --hw "
                        "smartexchange,eyeriss)")
    designs = load_designs(names)
    wl = _load_workload(args.model, args.batch)
    if args.out is None:
        from sedse._yaml import name_problem

        problem = name_problem(wl.name)
        if problem:
            raise SpecError("--out", f"the workload's name {problem}; give --out")
    out = Path(args.out or Path("runs") / "compare" / wl.name)
    _writable_dir("--out", out)
    args.tech = args.tech or str(default_technology_file())
    tech = load_technology(args.tech) if not args.native else None
    if args.compressed:
        stats = stats_from_compressed(args.compressed, wl, args.model)
    elif args.stats:
        stats = stats_from_file(args.stats, wl)
    elif args.dense:
        stats = None
    else:
        from sedse._shipped import is_model

        if not is_model(args.model):
            raise SpecError("--model", "a workload YAML has no weights to decompose: give "
                            "--stats FILE or --dense")
        print(f"decomposing {args.model}'s weights as they are (cached after the first "
              "run) ...", flush=True)
        stats = stats_by_decomposition(args.model, wl, args.cache_dir)

    reference = args.reference or designs[0].name
    pinned = {}
    for i, n in enumerate(names):
        point = _exported_point(Path(resolve_design(n)))
        if point is None:
            continue
        if not args.native:
            print(f"note: {n} is an exported point; --matched rescales it to the reference's "
                  "budget, so its numbers differ from the study's (--native replays it)")
            continue
        w = (stats.apply(wl) if stats is not None else wl).with_precision(
            designs[i].input_bits, designs[i].weight_bits, designs[i].output_bits)
        pinned[i] = _mapping_file(point[1] / "mappings.yaml", w, designs[i])
    cmp = compare(wl, designs, reference=reference, matched=not args.native, tech=tech,
                  stats=stats, settings=SearchSettings(objective=args.objective,
                                                       budget=args.budget), mappings=pinned,
                  workers=args.jobs)
    table = cmp.table()
    batch = args.batch or wl.layers[0].N
    print(f"\n== {wl.name} (batch {batch}, {table.macs.iloc[0]:,} MACs): "
          f"{'matched' if cmp.matched else 'native'} designs ==")
    if cmp.budget is not None:
        b = cmp.budget
        print(f"budget (from {reference}): {b.macs} MACs, {b.onchip_bytes:,} B on chip, "
              f"{b.clock_mhz:g} MHz, {b.bits}-bit; technology {Path(args.tech).name}")
    print(f"weights: {cmp.weights_source}\nactivations: {cmp.activations_source}")
    show = table[COMPARE_COLUMNS].copy()
    print(_fmt_table(list(show.columns), [[str(v) if isinstance(v, str) else f"{v:.4g}"
                                           for v in row] for row in show.itertuples(index=False)]))
    for line in cmp.collapse_lines():
        print(line)
    _say_replaced(out, ["compare.csv", "compare.md", "layers.csv", "breakdown.png",
                        "per_layer.png"])
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "compare.csv", index=False)
    shares = cmp.shares()
    cmp.layers().merge(shares[["design", "layer", "energy_share_frac", "collapsed"]],
                       on=["design", "layer"]).to_csv(out / "layers.csv", index=False)
    (out / "compare.md").write_text(
        f"{wl.name}, batch {batch}; weights: {cmp.weights_source}; activations: "
        f"{cmp.activations_source}\n\n" + to_markdown(show) + "\n\n"
        + comparison_layers_md(cmp) + "\n")
    plot_breakdown(breakdown_info(cmp), out / "breakdown.png")
    plot_layers(layer_lines_info(cmp), out / "per_layer.png")
    print(f"wrote {out}/compare.csv, compare.md, layers.csv, breakdown.png, per_layer.png")
    return 0


def _say_replaced(folder: Path, names: list[str]) -> None:
    """Say which of the files about to be written already exist (never silently)."""
    old = [n for n in names if (folder / n).exists()]
    if old:
        print(f"note: replacing {', '.join(old)} in {folder} (from an earlier run)")


def _run_folder(run: str):
    """RUN (a folder made by `sedse run`, a study YAML or a shipped study's name) ->
    (spec, storage URL, folder)."""
    from sedse._shipped import study_path
    from sedse._yaml import load_json
    from sedse.study import load_study

    p = study_path(run) or Path(run)
    if p.is_file():
        spec = load_study(p)
        folder = Path("runs") / spec.name
    else:
        meta = p / "study.json"
        if not meta.is_file():
            raise SpecError(str(p), "not a run folder (no study.json; give the folder "
                            "`sedse run` wrote, e.g. runs/quickstart, or the study YAML)")
        info = load_json(meta)
        info.check_keys({"spec_file", "storage"})
        spec = load_study(info.get("spec_file").as_str())
        folder = p
    info_file = folder / "study.json"
    if info_file.is_file():
        info = load_json(info_file)
        info.check_keys({"spec_file", "storage"})
        storage = info.get("storage").as_str()
    else:
        storage = f"sqlite:///{(folder / 'study.db').resolve()}"
    return spec, storage, folder
@contextlib.contextmanager
def _graceful_sigint(stopper):
    """First Ctrl-C: finish the current trial and stop (said on stderr); second: now."""
    def handler(_signum, _frame):
        if not stopper.requested:
            print("\nsedse: stopping after the current trial (Ctrl-C again to stop now)",
                  file=sys.stderr, flush=True)
        stopper.request()

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _run_interruptible(spec, storage: str, folder: Path, args: argparse.Namespace, again: str):
    """`run_study` under a graceful Ctrl-C; None (after saying how to resume) when it
    was interrupted."""
    from sedse.study import StopRequest, run_study

    stopper = StopRequest()
    try:
        with _graceful_sigint(stopper):
            study = run_study(spec, storage, n_trials=args.n_trials, run_dir=folder,
                              progress=not args.no_progress, threads=args.threads,
                              heartbeat_s=args.heartbeat_s, stopper=stopper,
                              say=None,   # epochs report through sedse._progress
                              cache_dir=args.cache_dir,
                              evaluator=getattr(args, "evaluator", None))
    except KeyboardInterrupt:
        stopper.requested = True
    if stopper.requested:
        print(f"sedse: interrupted; completed trials are kept in {storage}. {again} to "
              "resume.", file=sys.stderr)
        return None
    return study


def cmd_run(args: argparse.Namespace) -> int:
    from sedse.report import results_table
    from sedse.study import load_study, storage_of

    spec = load_study(args.study)          # every input of the study checked here
    folder = Path(args.runs_dir) / spec.name
    _writable_dir("--runs-dir", folder)
    if args.storage:
        storage_of(args.storage, args.heartbeat_s)   # a bad URL: one line, nothing written
    done = _already_done(spec, args, folder)
    if done is not None:     # nothing to run: no data, model or float baseline loaded
        study, storage = done
        df = results_table(study, list(spec.objectives))
        print(f"study {spec.name}: already holds {int((df.state == 'COMPLETE').sum())} "
              f"completed trials ({int(df.feasible.sum())} feasible, "
              f"{int(df.is_pareto.sum())} on the Pareto front): nothing to run "
              "(--n-trials N continues it)")
        if args.pareto:
            return _pareto(spec, study, folder)
        print(f"next: sedse pareto {folder}")
        return 0
    from sedse.study import Evaluator

    evaluator = Evaluator(spec, folder, threads=args.threads, cache_dir=args.cache_dir)
    evaluator.check_data()   # the data folder too, before anything is written
    args.evaluator = evaluator
    folder.mkdir(parents=True, exist_ok=True)
    storage = args.storage or f"sqlite:///{(folder / 'study.db').resolve()}"
    storage_of(storage, args.heartbeat_s)
    (folder / "study.json").write_text(json.dumps({"spec_file": spec.file,
                                                   "storage": storage}, indent=1))
    print(f"study {spec.name}: {len(spec.search_space)} parameters, objectives "
          f"{', '.join(spec.objectives)}, storage {storage}", flush=True)
    study = _run_interruptible(spec, storage, folder, args, "Run the same command again")
    if study is None:
        return 130
    df = results_table(study, list(spec.objectives))
    done = df[df.state == "COMPLETE"]
    print(f"{len(done)} completed trials ({int(df.feasible.sum())} feasible, "
          f"{int((df.state == 'FAIL').sum())} failed), {int(df.is_pareto.sum())} on the "
          f"Pareto front")
    if args.pareto:
        return _pareto(spec, study, folder)
    print(f"next: sedse pareto {folder}")
    return 0


def _already_done(spec, args: argparse.Namespace, folder: Path):
    """(study, storage URL) when the run's study exists with the same spec and already
    holds the completed trials asked for; else None (then the run proceeds as usual)."""
    import optuna

    from sedse.study import check_same_spec, completed_trials, storage_of

    storage = args.storage or f"sqlite:///{(folder / 'study.db').resolve()}"
    if not args.storage and not (folder / "study.db").is_file():
        return None
    stor = storage_of(storage, args.heartbeat_s)       # opened once
    if spec.name not in optuna.study.get_all_study_names(stor):
        return None
    study = optuna.load_study(study_name=spec.name, storage=stor)
    check_same_spec(study, spec)
    target = args.n_trials if args.n_trials is not None else spec.n_trials
    if completed_trials(study) < target or study.user_attrs.get("spec_file") is None:
        return None
    return study, storage


def cmd_worker(args: argparse.Namespace) -> int:
    """Run trials of an existing study (created by `sedse run` on the same storage)."""
    import optuna

    from sedse.report import results_table
    from sedse.study import load_study, storage_of

    if args.storage.startswith("sqlite:///"):     # opening would create an empty file
        db = Path(args.storage.removeprefix("sqlite:///"))
        if not db.is_file():
            raise SpecError("--storage", f"no SQLite database at {db} (create the study "
                            "with `sedse run STUDY.yaml --storage URL` first)")
    stor = storage_of(args.storage, args.heartbeat_s)
    names = optuna.study.get_all_study_names(stor)
    if args.study not in names:
        raise SpecError("--study", f"no study {args.study!r} in {args.storage} (studies: "
                        f"{', '.join(names) or 'none'}; create it with `sedse run STUDY.yaml "
                        "--storage URL`)")
    attrs = optuna.load_study(study_name=args.study, storage=stor).user_attrs
    spec_file = args.spec or attrs.get("spec_file")
    if not spec_file or not Path(spec_file).is_file():
        raise SpecError("--spec", f"the study's YAML {spec_file!r} is not on this machine; "
                        "give its path with --spec")
    spec = load_study(spec_file)
    if spec.name != args.study:
        raise SpecError("--spec", f"{spec_file} defines study {spec.name!r}, not "
                        f"{args.study!r}")
    folder = Path(args.runs_dir) / spec.name
    study = _run_interruptible(spec, args.storage, folder, args, "Start the worker again")
    if study is None:
        return 130
    df = results_table(study, list(spec.objectives))
    print(f"worker done: the study has {int((df.state == 'COMPLETE').sum())} completed trials")
    return 0


def _pareto(spec, study, folder: Path) -> int:
    """results.csv, the baselines and the figures of a study, and its front printed;
    when nothing the figures come from changed since they were written (`_figures_key`)
    they are not recomputed."""
    from sedse.report import results_table

    objectives = list(spec.objectives)
    df = results_table(study, objectives)
    if df.empty:
        raise SpecError(str(folder), "the study has no trials yet")
    key = _figures_key(spec, study)
    stamp = folder / "figures.json"
    written = _figures_up_to_date(stamp, key, folder)
    if written is not None:
        base = _read_csv(folder / "baselines.csv")
        print(f"figures up to date: the study has not changed since {stamp} was written "
              "(nothing recomputed)")
    else:
        written, base = _write_figures(spec, study, folder, df, objectives)
        stamp.write_text(json.dumps({"key": key, "written": [w.name for w in written]},
                                    indent=1))
    front = df[df.is_pareto].sort_values([OBJECTIVE_COL[objectives[0]], "trial"])
    _print_front(df, front, base, objectives)
    print("wrote " + ", ".join(str(w) for w in written))
    return 0


def _read_csv(path: Path):
    import pandas as pd

    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


def _figures_key(spec, study) -> str:
    """Everything the results, baselines and figures come from: every trial's state,
    values, attributes and parameters, the study, accelerator and technology files, and
    sedse's own source (a cost model change redraws them)."""
    import hashlib

    from sedse.study import file_sha256

    h = hashlib.sha256()
    for t in study.get_trials(deepcopy=False):
        h.update(repr((t.number, t.state.name, t.values, sorted(t.params.items()),
                       sorted((k, repr(v)) for k, v in t.user_attrs.items()))).encode())
    h.update(repr(sorted((k, repr(v)) for k, v in study.user_attrs.items())).encode())
    from sedse.hardware import resolve_design

    files = [spec.file, spec.accelerator, spec.technology,
             *(resolve_design(b) for b in spec.baselines)]
    for f in files:
        h.update(file_sha256(Path(f)).encode())
    h.update(_source_hash().encode())
    return h.hexdigest()


def _source_hash() -> str:
    """sedse's and sedse_models' code and data files (the models' traced workloads)."""
    import hashlib

    import sedse_models

    h = hashlib.sha256()
    for pkg in (Path(__file__).resolve().parent, Path(sedse_models.__file__).resolve().parent):
        for f in sorted([*pkg.rglob("*.py"), *pkg.rglob("*.yaml")]):
            h.update(f.relative_to(pkg).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _figures_up_to_date(stamp: Path, key: str, folder: Path) -> list[Path] | None:
    """The files an earlier `pareto` wrote from the same inputs (None: redraw)."""
    from sedse._yaml import load_json

    if not stamp.is_file():
        return None
    try:
        doc = load_json(stamp).value
    except SedseError:
        return None
    if not isinstance(doc, dict) or doc.get("key") != key:
        return None
    files = [folder / str(n) for n in doc.get("written", [])]
    return files if files and all(f.is_file() for f in files) else None


def _write_figures(spec, study, folder: Path, df, objectives: list[str]):
    from sedse.report import (
        baseline_points,
        importance_info,
        importances,
        layer_breakdown_info,
        pareto_info,
        plot_importances,
        plot_layer_breakdown,
        plot_pareto,
    )

    _say_replaced(folder, ["results.csv", "baselines.csv", "pareto.png",
                           "pareto_layers.png", "importances.csv", "importances.png"])
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / "results.csv", index=False)
    base = baseline_points(spec, study.user_attrs.get("float_accuracy"))
    if len(base):
        base.to_csv(folder / "baselines.csv", index=False)
    written = [folder / "results.csv"] + ([folder / "baselines.csv"] if len(base) else [])
    if len(objectives) >= 2:
        written.append(plot_pareto(pareto_info(df, base, objectives,
                                               f"{spec.name} ({spec.model})"),
                                   folder / "pareto.png"))
    front = df[df.is_pareto].sort_values([OBJECTIVE_COL[objectives[0]], "trial"])
    if len(front):
        written.append(plot_layer_breakdown(
            layer_breakdown_info(study, list(front.trial.astype(int)), spec.name),
            folder / "pareto_layers.png"))
    imp = importances(study, objectives)
    if len(imp):
        imp.to_csv(folder / "importances.csv", index=False)
        info = importance_info(imp, imp.attrs.get("n_trials", 0),
                               f"{spec.name}: parameter importances (fANOVA)")
        if info.warning:
            print(f"note: importances: {info.warning}")
        written += [folder / "importances.csv",
                    plot_importances(info, folder / "importances.png")]
    return written, base


def _print_front(df, front, base, objectives: list[str]) -> None:
    cols = ["trial", *[OBJECTIVE_COL[o] for o in objectives]]
    extra = [c for c in ("test_accuracy_frac", "compression_ratio_x", "latency_ms", "area_mm2")
             if c not in cols and df[c].notna().any()]
    n_done = int((df.state == "COMPLETE").sum())
    repeats = int(df.reason.str.startswith("duplicate").sum()) if "reason" in df else 0
    plural = "s" if repeats != 1 else ""
    print(f"Pareto front ({len(front)} of {n_done} completed trials"
          + (f"; {repeats} repeated design{plural} not evaluated again" if repeats else "")
          + "):")
    if len(front):
        show = front[cols + extra]
        print(_fmt_table(list(show.columns), [[f"{v:.4g}" if isinstance(v, float) else str(v)
                                               for v in r] for r in show.itertuples(index=False)]))
    if len(base):
        base = base.dropna(axis=1, how="all")
        print("baselines (dense weights, matched to the study accelerator):")
        print(_fmt_table(list(base.columns), [[f"{v:.4g}" if isinstance(v, float) else str(v)
                                               for v in r] for r in base.itertuples(index=False)]))


OBJECTIVE_COL = {"accuracy": "accuracy_frac", "energy": "energy_uj", "latency": "latency_ms",
                 "edp": "edp_uj_ms", "area": "area_mm2"}


def cmd_pareto(args: argparse.Namespace) -> int:
    from sedse.study import open_study

    spec, storage, folder = _run_folder(args.run)
    if args.storage:
        storage = args.storage
    study = open_study(spec, storage, create=False) if _study_exists(spec, storage) else None
    if study is None:
        raise SpecError(str(args.run), f"no study {spec.name!r} in {storage} (run "
                        "`sedse run` first)")
    out = Path(args.out) if args.out else folder
    _writable_dir("--out", out)
    return _pareto(spec, study, out)


def _study_exists(spec, storage: str) -> bool:
    import optuna

    from sedse.study import storage_of

    return spec.name in optuna.study.get_all_study_names(storage_of(storage))


def cmd_export(args: argparse.Namespace) -> int:
    from sedse.study import export_point, open_study

    spec, storage, folder = _run_folder(args.run)
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SpecError("--out", f"{out} exists and is not an empty folder (an export never "
                        "overwrites: give a new folder)")
    _writable_dir("--out", out)
    if args.storage:
        storage = args.storage
    if not _study_exists(spec, storage):
        raise SpecError(str(args.run), f"no study {spec.name!r} in {storage}")
    study = open_study(spec, storage, create=False)
    info = export_point(study, spec, args.trial, out, run_dir=folder)
    print(f"exported trial {args.trial} of {spec.name} to {args.out}: accelerator.yaml, "
          "mappings.yaml" + (", compression.yaml, compressed/" if spec.compression.method != "none"
                             else ", stats.yaml") + ", trial.json")
    print("stored values: " + ", ".join(f"{k} {v:.6g}" for k, v in info["values"].items()))
    print("replay (the same numbers): " + replay_command(args.out, spec))
    return 0


def replay_command(out: str | Path, spec) -> str:
    """The `sedse eval` command that re-evaluates an exported point exactly."""
    out = Path(out)
    weights = f"--compressed {out / 'compressed'}" if spec.compression.method != "none" else \
        f"--stats {out / 'stats.yaml'}"
    return (f"sedse eval --model {spec.model} --hw {out / 'accelerator.yaml'} {weights} "
            f"--batch {spec.batch}")


_METHODS = ("smartexchange", "prune", "vector-prune", "lowrank", "pow2", "uniform")


def _compressor(args: argparse.Namespace):
    from sedse.compress import (
        LowRank,
        MagnitudePrune,
        Pow2Quant,
        SmartExchange,
        SmartExchangeConfig,
        UniformQuant,
    )

    if args.method == "smartexchange":
        cfg = SmartExchangeConfig(
            basis_size=args.basis_size, block_rows=args.block_rows, theta=args.theta,
            row_theta=None if args.row_theta <= 0 else args.row_theta, ce_bits=args.ce_bits,
            max_magnitude=args.max_magnitude, basis_bits=args.basis_bits,
            max_iter=args.max_iter)
        return SmartExchange(cfg, index=args.index)
    quant = {"scale": args.quant_scale, "per_channel": args.per_channel}
    if args.method in ("prune", "vector-prune"):
        return MagnitudePrune(args.sparsity, "vector" if args.method == "vector-prune"
                              else "element", bits=args.bits, allocation=args.allocation,
                              **quant)
    if args.method == "lowrank":
        return LowRank(args.rank, bits=args.bits, energy=args.energy)
    if args.method == "pow2":
        return Pow2Quant(args.bits, **quant)
    return UniformQuant(args.bits, **quant)


def cmd_compress(args: argparse.Namespace) -> int:
    import torch

    from sedse._shipped import model_entry
    from sedse.compress import (
        TrainConfig,
        compress_and_measure,
        load_dataset,
        save_compressed,
        train_float,
    )

    entry = model_entry(args.model, "--model")
    if args.decomposed_epochs and args.method != "smartexchange":
        raise SpecError("--decomposed-epochs", "decomposed-form training is for "
                        "--method smartexchange")
    if args.decomposed_epochs and args.retrain_epochs:
        raise SpecError("--decomposed-epochs", "give either --retrain-epochs or "
                        "--decomposed-epochs")
    if args.slim_frac and not args.retrain_epochs:
        raise SpecError("--slim-frac", "channel pruning needs --retrain-epochs >= 1")
    if args.retrain_mode == "ste" and args.method == "smartexchange":
        raise SpecError("--retrain-mode", "smartexchange trains in the decomposed form "
                        "(--decomposed-epochs), not by straight-through projection")
    if args.retrain_mode == "ste" and args.slim_frac:
        raise SpecError("--slim-frac", "channel pruning is part of --retrain-mode alternate")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SpecError("--out", f"{out} exists and is not an empty folder (give a new one)")
    _writable_dir("--out", out)
    comp = _compressor(args)
    data = load_dataset(args.dataset, args.data_root, image_size=entry.input_chw[2],
                        channels=entry.input_chw[0])
    if tuple(entry.input_chw) != data.input_chw:
        raise SpecError("--model", f"{args.model} expects {entry.input_chw} inputs but "
                        f"{args.dataset} has {data.input_chw}")
    torch.set_num_threads(args.threads)
    say = None if args.quiet else _say
    if say:
        say(f"float baseline {args.model} on {args.dataset} ({args.epochs} epochs, cached "
            f"under {args.cache_dir}) ...")
    model = train_float(args.model, entry.build, data, TrainConfig(epochs=args.epochs),
                        cache_dir=Path(args.cache_dir))
    if say:
        say(f"compressing {sum(1 for _ in model.modules())} modules with {args.method} ...")
    m = compress_and_measure(model, comp, data, retrain_epochs=args.retrain_epochs,
                             slim_frac=args.slim_frac, decomposed_epochs=args.decomposed_epochs,
                             retrain_mode=args.retrain_mode)
    compressed = m.compressed
    float_acc, proj_acc, acc, test_acc = m.float_accuracy, m.projected_accuracy, m.accuracy, \
        m.test_accuracy
    params = {k: v for k, v in vars(args).items() if k not in ("func", "debug", "out")}
    save_compressed(out, {"model": args.model, "dataset": args.dataset,
                          "data": {"fingerprint": data.fingerprint,
                                   "validation": "10% of the training files, seed 0"},
                          "method": args.method, "params": params,
                          "float_accuracy": float_acc, "projected_accuracy": proj_acc,
                          "accuracy": acc, "test_accuracy": test_acc,
                          "activations": m.activations,
                          "activations_source": f"measured on {args.dataset} validation "
                                                "images, 8-bit"}, compressed, m.model)
    header = ["layer", "method", "weights", "ratio_vs_8bit", "rel_error", "zero_rows_%", "note"]
    rows = [[c.name, c.method, f"{c.encoding.dense_weights:,}",
             f"{c.encoding.compression_ratio(8):.2f}", f"{c.rel_error:.3f}",
             f"{100 * c.encoding.zero_row_frac:.1f}", c.note] for c in compressed.layers]
    print(_fmt_table(header, rows))
    for c in compressed.layers:
        why = c.encoding.collapse_reason(c.rel_error)
        if why:
            print(f"warning: layer {c.name}: the compression collapsed ({why}): its "
                  "weights are nearly all zero; accuracy and energy with this layer say "
                  "little about the method (lower theta, or keep the layer dense)")
    print(f"total: {compressed.weights:,} weights in {compressed.total_bits:,} bits = "
          f"{compressed.compression_ratio(8):.2f}x vs 8-bit, "
          f"{compressed.compression_ratio(32):.2f}x vs 32-bit")
    mode = " (straight-through)" if args.retrain_mode == "ste" else ""
    trained = (f", after {args.retrain_epochs} retraining epochs{mode} {acc:.4f}"
               if args.retrain_epochs else
               f", after {args.decomposed_epochs} epochs of decomposed-form training "
               f"{acc:.4f}" if args.decomposed_epochs else "")
    print(f"validation accuracy: float {float_acc:.4f}, after projection {proj_acc:.4f}"
          f"{trained}; test accuracy {test_acc:.4f}")
    print(f"wrote {out / 'layers.json'}, {out / 'weights.npz'} and {out / 'model.pt'}")
    return 0


def _say(line: str) -> None:
    """Progress of long work, one line on stderr (stdout keeps the results)."""
    print(f"sedse: {line}", file=sys.stderr, flush=True)


CACHE_ENTRIES = ("float/*.pt", "stats/*.json", "float/.tmp-*", "stats/*.tmp")


def cmd_cache(args: argparse.Namespace) -> int:
    """Show or clear the project cache (float baselines, decompositions). Only sedse's
    own entries are listed or removed; nothing else in the folder is touched."""
    root = Path(args.cache_dir)
    if root.exists() and not root.is_dir():
        raise SpecError("--cache-dir", f"{root} is not a folder")
    entries = sorted({p for pat in CACHE_ENTRIES for p in root.glob(pat) if p.is_file()}) \
        if root.is_dir() else []
    total = sum(p.stat().st_size for p in entries)
    if args.action == "info":
        print(f"cache {root}: {len(entries)} entries, {total / 2**20:.1f} MiB")
        for p in entries:
            print(f"  {p.relative_to(root)}  {p.stat().st_size / 2**20:.2f} MiB")
        print("(each study's compressed models live in its run folder, runs/<study>/cache/, "
              "and are kept: exports copy from there)")
        return 0
    for p in entries:
        p.unlink()
    for sub in ("float", "stats"):
        d = root / sub
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    print(f"removed {len(entries)} entries ({total / 2**20:.1f} MiB) from {root}")
    return 0


def cmd_models(_args: argparse.Namespace) -> int:
    from sedse._shipped import model_entry, model_names

    for name in model_names():
        m = model_entry(name)
        print(f"{name:16s} {'x'.join(map(str, m.input_chw)):12s} {m.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from sedse.compress import DEFAULT_CACHE, SmartExchangeConfig, TrainConfig
    from sedse.cost import OBJECTIVES, SearchSettings
    from sedse.study import HEARTBEAT_S

    # every default below is its dataclass's (or module's), defined once there
    search, decomposition, training = SearchSettings(), SmartExchangeConfig(), TrainConfig()
    DEFAULT_CACHE_DIR = DEFAULT_CACHE  # noqa: N806 (the project cache folder)
    p = _Parser(prog="sedse", description="SmartExchange-style "
                                "algorithm-hardware co-design: analytical energy/latency model")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.add_argument("--quiet", action="store_true", dest="quiet_all",
                   help="no progress output (on stderr: a redrawn line on a terminal, "
                        "otherwise a line every 10 s of long work)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    e = sub.add_parser("eval", help="energy and latency of a model on accelerators")
    e.add_argument("--model", required=True,
                   help="shipped model name (see `sedse models`), a workload YAML or an "
                        "ONNX file (.onnx)")
    e.add_argument("--hw", required=True, action="append",
                   help="accelerator YAML or shipped design name (repeat for several)")
    e.add_argument("--mapping", help="mapping YAML for some or all layers (others: searched)")
    e.add_argument("--compressed", help="a `sedse compress` (or `sedse export`) directory: "
                   "its weight encodings and activation statistics")
    e.add_argument("--stats", help="per-layer statistics YAML (weight_encoding, activations)")
    e.add_argument("--research", action="store_true", help="an exported point (--hw "
                   "EXPORT/accelerator.yaml) replays its stored mappings by default; this "
                   "searches mappings again")
    e.add_argument("--objective", choices=list(OBJECTIVES), default=search.objective,
                   help=f"what the mapping search minimises per layer (default "
                        f"{search.objective})")
    e.add_argument("--budget", type=_int(1, 10**7), default=search.budget,
                   help=f"mappings sampled per layer when the space is larger "
                        f"(default {search.budget})")
    e.add_argument("--jobs", type=_int(1, 256), default=DEFAULT_JOBS,
                   help="processes searching the distinct layer shapes (default: the "
                        f"CPUs, at most 8: {DEFAULT_JOBS} here; results are the same)")
    e.add_argument("--batch", type=_int(1, MAX_BATCH), default=None,
                   help="batch size N (default: 1 for shipped models; a workload YAML "
                        "keeps its layers' N unless given)")
    e.add_argument("--json", help="write totals, per-layer and per-level results as JSON")
    e.add_argument("--csv", help="write the long-form action rows as CSV")
    e.add_argument("--show-mapping", action="store_true", help="print each layer's mapping")
    e.set_defaults(func=cmd_eval)
    c = sub.add_parser("compress", help="compress a trained model and measure its accuracy")
    c.add_argument("--model", required=True, help="shipped model name")
    c.add_argument("--dataset", required=True,
                   help="fashion-mnist, digits, idx (any MNIST-style IDX folder), cifar10 "
                        "or imagefolder")
    c.add_argument("--data-root", help="folder of the dataset (idx, cifar10, imagefolder, "
                   "or a non-default Fashion-MNIST location)")
    c.add_argument("--method", choices=_METHODS, default="smartexchange")
    c.add_argument("--theta", type=_float(0, 1e3), default=decomposition.theta)
    c.add_argument("--row-theta", type=_float(-1e3, 1e3), default=decomposition.row_theta,
                   help="<= 0 turns it off")
    c.add_argument("--basis-size", type=_int(2, 64), default=decomposition.basis_size)
    c.add_argument("--block-rows", type=_int(1, 2**20), default=decomposition.block_rows)
    c.add_argument("--ce-bits", type=_int(2, 16), default=decomposition.ce_bits)
    c.add_argument("--basis-bits", type=_int(2, 32), default=decomposition.basis_bits)
    c.add_argument("--max-magnitude", type=_float(0, 2**30, lo_open=True),
                   default=decomposition.max_magnitude)
    c.add_argument("--max-iter", type=_int(1, 10**4), default=decomposition.max_iter)
    c.add_argument("--index", choices=["direct", "csr", "rle"], default="direct")
    c.add_argument("--sparsity", type=_float(0, 1, hi_open=True), default=0.8,
                   help="prune methods")
    c.add_argument("--allocation", choices=["uniform", "global", "lamp"], default="uniform",
                   help="prune methods: one --sparsity for every layer, or the model's "
                        "--sparsity spread by one global magnitude threshold or LAMP scores")
    c.add_argument("--rank", type=_int(1, 2**16), default=8, help="lowrank")
    c.add_argument("--energy", type=_float(0, 1, lo_open=True), default=None,
                   help="lowrank: per-layer rank keeping this fraction of the squared "
                        "singular values (instead of --rank)")
    c.add_argument("--bits", type=_int(1, 32), default=8,
                   help="prune/lowrank/pow2/uniform bits")
    c.add_argument("--quant-scale", choices=["max", "mse"], default="max",
                   help="prune/pow2/uniform: quantiser scale from the largest magnitude or "
                        "the least squared error")
    c.add_argument("--per-channel", action="store_true",
                   help="prune/pow2/uniform: one 32-bit scale per filter (counted)")
    c.add_argument("--epochs", type=_int(0, 10**4), default=training.epochs,
                   help="float baseline epochs (cached)")
    c.add_argument("--retrain-epochs", type=_int(0, 10**4), default=0,
                   help="alternate SGD epochs with projections (the paper's retraining)")
    c.add_argument("--retrain-mode", choices=["alternate", "ste"], default="alternate",
                   help="ste: every step computes with the projection of latent float "
                        "weights (straight-through; quantisation/sparsity-aware training, "
                        "from the float weights; not for smartexchange)")
    c.add_argument("--decomposed-epochs", type=_int(0, 10**4), default=0,
                   help="train Ce and B directly (straight-through estimator, frozen "
                        "mask) instead of alternating retraining")
    c.add_argument("--slim-frac", type=_float(0, 1, hi_open=True), default=0.0,
                   help="prune this fraction of conv channels by BN scale in the first "
                        "retraining epoch (network slimming)")
    c.add_argument("--threads", type=_int(1, 256), default=2)
    c.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR),
                   help=f"where trained float baselines are cached (default {DEFAULT_CACHE_DIR}"
                        ", per project)")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    c.add_argument("--out", required=True, help="output directory")
    c.set_defaults(func=cmd_compress)
    k = sub.add_parser("compare", help="one model on several designs: energy, latency, "
                       "breakdown and ratios vs a reference")
    k.add_argument("--model", required=True, help="shipped model name or workload YAML")
    k.add_argument("--hw", required=True, action="append",
                   help="comma-separated design names (hw_configs/NAME.yaml) or YAML paths; "
                        "the first is the reference unless --reference")
    k.add_argument("--reference", help="design the ratios are taken against")
    k.add_argument("--compressed", help="a `sedse compress` output directory (real Ce and "
                   "measured activation statistics)")
    k.add_argument("--stats", help="per-layer statistics YAML (weight_encoding, activations)")
    k.add_argument("--dense", action="store_true",
                   help="no weight compression at all (dense weights everywhere)")
    k.add_argument("--native", action="store_true",
                   help="compare the designs as configured (default: --matched, every "
                        "design rescaled to the reference's MACs, SRAM, clock, precision "
                        "and one technology)")
    k.add_argument("--matched", dest="native", action="store_false",
                   help="the default (see --native)")
    k.add_argument("--tech", default=None, help="technology YAML for --matched "
                   "(default hw_configs/tech/65nm.yaml)")
    k.add_argument("--batch", type=_int(1, MAX_BATCH), default=None,
                   help="batch size N (default: 1, or a workload YAML's own N)")
    k.add_argument("--objective", choices=list(OBJECTIVES), default=search.objective)
    k.add_argument("--budget", type=_int(1, 10**7), default=search.budget)
    k.add_argument("--jobs", type=_int(1, 256), default=DEFAULT_JOBS,
                   help=f"processes searching layer shapes (default {DEFAULT_JOBS})")
    k.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR),
                   help=f"where decompositions are cached (default {DEFAULT_CACHE_DIR})")
    k.add_argument("--out", help="output folder (default runs/compare/<model>)")
    k.set_defaults(func=cmd_compare)
    r = sub.add_parser("run", help="run (or resume) a co-design study with Optuna")
    r.add_argument("study", help="study YAML (see studies/)")
    r.add_argument("--storage", help="Optuna storage URL (default sqlite in runs/<study>/)")
    r.add_argument("--n-trials", type=_int(1, 10**6), help="completed trials to reach "
                   "(default: the "
                   "study's n_trials)")
    r.add_argument("--runs-dir", default="runs", help="where run folders go (default runs)")
    r.add_argument("--threads", type=_int(1, 256), default=2,
                   help="torch threads (default 2)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--cache-dir", help="project cache of float baselines (default "
                    "RUNS_DIR/cache)")
    r.add_argument("--pareto", action="store_true", help="also write the results and "
                   "figures (as `sedse pareto`) at the end")
    r.add_argument("--heartbeat-s", type=_float(1, 3600), default=HEARTBEAT_S,
                   help="trial heartbeat: a "
                   "trial silent for 3 heartbeats (a killed worker) is marked failed")
    r.set_defaults(func=cmd_run)
    w = sub.add_parser("worker", help="run trials of an existing study (any number of "
                       "workers on any machines share one storage)")
    w.add_argument("--storage", required=True, help="Optuna storage URL, e.g. "
                   "postgresql+psycopg2://user:pass@host/db")
    w.add_argument("--study", required=True, help="study name")
    w.add_argument("--n-trials", type=_int(1, 10**6),
                   help="completed trials the study should reach "
                   "(default: the study's n_trials)")
    w.add_argument("--spec", help="the study YAML on this machine (default: the path "
                   "stored by `sedse run`)")
    w.add_argument("--runs-dir", default="runs")
    w.add_argument("--threads", type=_int(1, 256), default=1,
                   help="torch threads (default 1)")
    w.add_argument("--no-progress", action="store_true")
    w.add_argument("--cache-dir", help="project cache of float baselines (default "
                    "RUNS_DIR/cache)")
    w.add_argument("--heartbeat-s", type=_float(1, 3600), default=HEARTBEAT_S)
    w.set_defaults(func=cmd_worker)
    pa = sub.add_parser("pareto", help="results table, Pareto figures, importances of a run")
    pa.add_argument("run", help="run folder (runs/<study>) or the study YAML")
    pa.add_argument("--storage", help="Optuna storage URL (default: the run's)")
    pa.add_argument("--out", help="output folder (default: the run folder)")
    pa.set_defaults(func=cmd_pareto)
    ex = sub.add_parser("export", help="write one trial's accelerator and compression")
    ex.add_argument("run", help="run folder (runs/<study>) or the study YAML")
    ex.add_argument("--trial", type=_int(0, 10**9), required=True)
    ex.add_argument("--out", required=True)
    ex.add_argument("--storage", help="Optuna storage URL (default: the run's)")
    ex.set_defaults(func=cmd_export)
    ca = sub.add_parser("cache", help="show or clear the project cache (trained float "
                        "baselines, decompositions)")
    ca.add_argument("action", choices=["info", "clear"])
    ca.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR),
                    help=f"the cache folder (default {DEFAULT_CACHE_DIR})")
    ca.set_defaults(func=cmd_cache)
    m = sub.add_parser("models", help="list the shipped models")
    m.set_defaults(func=cmd_models)
    return p


def main(argv: list[str] | None = None) -> int:
    from sedse._progress import configure

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    configure(not (args.quiet_all or getattr(args, "quiet", False)
                   or getattr(args, "no_progress", False)))
    restore = _configure_process(args)
    try:
        return _dispatch(args)
    finally:
        configure(False)    # main() may run again in this process (tests)
        restore()


#: commands that open Optuna studies, and those that search mappings
_OPTUNA_COMMANDS = ("run", "worker", "pareto", "export")
_SEARCH_COMMANDS = ("eval", "compare", "run", "worker", "pareto", "export")


def _configure_process(args: argparse.Namespace):
    """The process-wide switches, set here and nowhere in the library: Optuna's log
    level (its warnings print tracebacks; sedse logs failed trials in one line) and the
    allocator's top pad for the vectorised search (`sedse.cost.keep_heap_pages`; kept
    for the process's life). Returns what puts Optuna's level back (`main` may run
    again in one process)."""
    restore = lambda: None  # noqa: E731
    if args.command in _OPTUNA_COMMANDS:
        import optuna

        before = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.ERROR)

        def restore() -> None:
            optuna.logging.set_verbosity(before)
    if args.command in _SEARCH_COMMANDS:
        from sedse.cost import keep_heap_pages

        keep_heap_pages()
    return restore


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return args.func(args)
    except SedseError as exc:
        if args.debug:
            raise
        print(f"sedse: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:   # an output path the checks could not foresee (/proc, ...)
        if args.debug:
            raise
        where = exc.filename if exc.filename is not None else ""
        print(f"sedse: error: {where}: cannot write or read ({exc.strerror or exc})",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sedse: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
