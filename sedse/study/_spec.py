"""Study YAML -> frozen `StudySpec` (every error names the file and key, before any trial).

Format (paths relative to the study file)::

    name: quickstart
    model: lenet5                       # shipped model (`sedse models`)
    dataset: fashion-mnist              # fashion-mnist | digits | cifar10 | imagefolder
    data_root: null                     # folder for cifar10 / imagefolder
    accelerator: ../hw_configs/smartexchange.yaml
    technology: ../hw_configs/tech/65nm.yaml   # for area and matched baselines
    batch: 1
    float_epochs: 5                     # the float baseline (trained once, cached)
    compression:                        # fixed SmartExchangeConfig fields; or {method: none}
      theta: 0.02
    weights: decompose                  # only with method none: decompose | stats FILE
    fidelity: {kind: projection}        # projection | finetune (with steps: N)
    search_space:                       # name: {low, high[, log][, step]} or {choices: [...]}
      compression.theta: {low: 0.005, high: 0.06, log: true}
      hardware.pe_array.shape.slices: {choices: [2, 4, 8]}
      hardware.levels.GLB.partitions.W.capacity_bytes: {low: 4096, high: 65536, log: true}
      hardware.bit_serial: {choices: [false, true]}
      hardware.dataflow: {choices: [rs_os, os]}     # names under `dataflows:`
    dataflows: {rs_os: {...dataflow block...}, os: {...}}
    objectives: [accuracy, energy]      # accuracy (max); energy, latency, edp, area (min)
    constraints: {latency_ms: 50, area_mm2: 8}
    mapping_search: {objective: edp, budget: 5000}   # SearchSettings' objective, budget
    sampler: {name: nsga2, seed: 0, population_size: 10}   # nsga2 | tpe | random
    n_trials: 30
    timeout_s: null
    baselines: [eyeriss, diannao]       # overlaid on the Pareto figures
    device: cpu                         # cpu | cuda | auto (training and accuracy)

Parameters: ``compression.<SmartExchangeConfig field>`` and ``hardware.<path>`` where
the path walks the accelerator YAML (list items by their ``name``; partitions by their
operands joined with ``+``), plus ``hardware.bit_serial`` (adds bit-serial MACs whose
term costs MAC energy / bits) and ``hardware.dataflow`` (a named dataflow block).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from sedse._yaml import Node, load_yaml
from sedse.compress import TrainConfig
from sedse.cost import OBJECTIVES as SEARCH_OBJECTIVES
from sedse.cost import SearchSettings
from sedse.errors import SpecError

Direction = Literal["minimize", "maximize"]
OBJECTIVES: dict[str, Direction] = {"accuracy": "maximize", "energy": "minimize",
                                    "latency": "minimize", "edp": "minimize",
                                    "area": "minimize"}
OBJECTIVE_UNITS = {"accuracy": "accuracy_frac", "energy": "energy_uj", "latency": "latency_ms",
                   "edp": "edp_uj_ms", "area": "area_mm2"}
CONSTRAINTS = ("latency_ms", "energy_uj", "area_mm2", "edp_uj_ms")
SAMPLERS = ("nsga2", "tpe", "random")
FIDELITIES = ("projection", "finetune")


@dataclass(frozen=True)
class Param:
    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    integer: bool = False
    choices: tuple | None = None

    def extremes(self) -> list:
        """Every choice, or both ends of the range: the values checked at load."""
        if self.choices is not None:
            return list(self.choices)
        assert self.low is not None and self.high is not None   # a range has both ends
        return [int(self.low), int(self.high)] if self.integer else [self.low, self.high]

    def suggest(self, trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None and self.high is not None   # a range has both ends
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log,
                                     step=int(self.step or 1))
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)


@dataclass(frozen=True)
class Compression:
    """``compression:``: the method and the fixed `SmartExchangeConfig` fields (every key
    but ``method`` is one of its field names; searched fields come from
    ``search_space``). ``method: none`` costs fixed weights (``weights:``)."""

    method: str = "smartexchange"            # smartexchange | none
    fixed: tuple[tuple[str, Any], ...] = ()  # (SmartExchangeConfig field, value), sorted


@dataclass(frozen=True)
class Fidelity:
    """``fidelity:``: how a trial's accuracy is measured."""

    kind: str = "projection"    # projection | finetune
    steps: int = 0              # finetune: mini-batches of fine-tuning per trial


@dataclass(frozen=True)
class SamplerSettings:
    """``sampler:``: Optuna's sampler."""

    name: str = "nsga2"         # nsga2 | tpe | random
    seed: int = 0
    population_size: int = 10   # nsga2 only


@dataclass(frozen=True, kw_only=True)
class StudySpec:
    """A study as its YAML gives it: every field is the YAML key of the same name
    (nested blocks are their own dataclasses; ``compression:``'s keys other than
    ``method`` are `SmartExchangeConfig` fields, held in `Compression.fixed`), and every
    default is the field's own; `load_study` fills only what the file states. `file`
    (the study file) and `accelerator_doc` (the design as read, once) are not keys."""

    name: str
    file: str
    model: str
    accelerator: str                          # resolved path
    objectives: tuple[str, ...]
    search_space: tuple[Param, ...]
    n_trials: int
    description: str = ""
    dataset: str | None = None
    data_root: str | None = None              # resolved path
    technology: str = ""                      # resolved path (load_study: the shipped one)
    batch: int = 1
    float_epochs: int = TrainConfig.epochs    # the float baseline (trained once, cached)
    compression: Compression = Compression()
    weights: str = "decompose"                # method none: decompose | a stats file's path
    fidelity: Fidelity = Fidelity()
    dataflows: tuple[tuple[str, Any], ...] = ()
    constraints: tuple[tuple[str, float], ...] = ()
    mapping_search: SearchSettings = SearchSettings()
    sampler: SamplerSettings = SamplerSettings()
    timeout_s: float | None = None
    baselines: tuple[str, ...] = ()
    device: str = "cpu"                       # cpu | cuda | auto
    accelerator_doc: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def directions(self) -> list[Direction]:
        return [OBJECTIVES[o] for o in self.objectives]

    @property
    def needs_accuracy(self) -> bool:
        return self.compression.method != "none"

    def compression_fixed(self) -> dict:
        return dict(self.compression.fixed)



_KEYS = {"name", "model", "accelerator", "objectives", "search_space", "n_trials"}
_OPT = {"dataset", "data_root", "technology", "batch", "float_epochs", "compression", "weights",
        "fidelity", "dataflows", "constraints", "mapping_search", "sampler", "timeout_s",
        "baselines", "description", "device"}


def _check_compression_values(params: tuple[Param, ...], sp: Node, fixed: dict) -> None:
    """Every choice and both ends of every range of a searched compression field, with
    the fixed ones, make a valid `SmartExchangeConfig` (checked before the first trial;
    a bad value would otherwise fail trials one by one)."""
    from sedse.compress import SmartExchangeConfig

    for p in params:
        if not p.name.startswith("compression."):
            continue
        field_name = p.name.partition(".")[2]
        for v in p.extremes():
            try:
                SmartExchangeConfig(**{**fixed, field_name: v})
            except (SpecError, TypeError, ValueError) as exc:
                raise sp.get(p.name).error(f"value {v!r}: {exc}") from None


def _path(node: Node, base: Path) -> str:
    p = Path(node.as_str())
    p = p if p.is_absolute() else (base / p)
    if not p.exists():
        raise node.error(f"{p} does not exist")
    return str(p.resolve())


def _walk(doc: Any, parts: list[str]) -> bool:
    """True when `parts` names an existing value in the accelerator document."""
    cur = doc
    for part in parts:
        if isinstance(cur, dict):
            if part not in cur:
                return False
            cur = cur[part]
        elif isinstance(cur, list):
            cur = next((x for x in cur if isinstance(x, dict) and (
                x.get("name") == part or "+".join(x.get("operands", [])) == part)), None)
            if cur is None:
                return False
        else:
            return False
    return True


def _param(name: str, node: Node, accel_doc: dict, dataflows: dict) -> Param:
    from sedse.compress import SmartExchangeConfig

    space, _, rest = name.partition(".")
    if space == "compression":
        known = {f.name for f in fields(SmartExchangeConfig)}
        if rest not in known:
            raise node.error(f"unknown compression parameter {rest!r} (known: "
                             f"{', '.join(sorted(known))})")
    elif space == "hardware":
        if rest == "dataflow":
            pass
        elif rest != "bit_serial" and not _walk(accel_doc, rest.split(".")):
            raise node.error(f"no value at {rest!r} in the accelerator YAML (paths walk its "
                             "keys; list items by name, partitions by operands like W or I+O)")
    else:
        raise node.error(f"unknown parameter {name!r}: names start with compression. or "
                         "hardware.")
    if node.has("choices"):
        node.check_keys({"choices"})
        choices = node.get("choices").value
        if not isinstance(choices, list) or not choices:
            raise node.get("choices").error("expected a non-empty list")
        for i, c in enumerate(choices):
            if not (c is None or isinstance(c, (bool, int, float, str))):
                raise node.get("choices").child(i).error("choices must be numbers, strings, "
                                                         "booleans or null")
        if rest == "dataflow":
            for i, c in enumerate(choices):
                if c not in dataflows:
                    raise node.get("choices").child(i).error(
                        f"unknown dataflow {c!r} (the study's dataflows: "
                        f"{', '.join(dataflows) or 'none'})")
        if rest == "bit_serial" and not all(isinstance(c, bool) for c in choices):
            raise node.get("choices").error("hardware.bit_serial takes true/false")
        return Param(name, choices=tuple(choices))
    if rest in ("dataflow", "bit_serial"):
        raise node.error(f"{name} takes choices: [...]")
    node.check_keys({"low", "high"}, {"log", "step"})
    lo, hi = node.get("low").value, node.get("high").value
    for k in ("low", "high"):
        node.get(k).as_float()     # a finite number (not a string, a boolean, NaN or inf)
    if not lo < hi:
        raise node.error(f"empty range: low {lo} must be below high {hi}")
    log = node.get("log").as_bool() if node.has("log") else Param.log
    if log and lo <= 0:
        raise node.get("low").error("a log-scale range needs low > 0")
    step = node.get("step").as_float(positive=True) if node.has("step") else None
    integer = isinstance(lo, int) and isinstance(hi, int) and (step is None or step == int(step))
    if log and step is not None:
        raise node.get("step").error("give either log or step, not both")
    return Param(name, float(lo), float(hi), log, step, integer)


def apply_overrides(doc: dict, overrides: dict[str, Any], file: str,
                    dataflows: dict[str, Any] | None = None) -> dict:
    """Return a copy of the accelerator document with ``hardware.*`` values applied
    (`dataflows`: the study's named dataflow blocks, for ``hardware.dataflow``; errors
    name `file`)."""
    doc = copy.deepcopy(doc)
    for name, value in overrides.items():
        path = name.split(".")[1:]
        if path == ["dataflow"]:
            doc["dataflow"] = copy.deepcopy((dataflows or {})[value])
            continue
        if path == ["bit_serial"]:
            if value:
                doc["bit_serial"] = {"term_energy_pj": None}  # filled from the MAC below
            else:
                doc.pop("bit_serial", None)
            continue
        cur = doc
        for part in path[:-1]:
            if isinstance(cur, list):
                cur = next(x for x in cur if x.get("name") == part
                           or "+".join(x.get("operands", [])) == part)
            else:
                cur = cur[part]
        if isinstance(cur, list):
            raise SpecError(file, f"search_space.{name}: cannot set a list item")
        cur[path[-1]] = value
    if doc.get("bit_serial", {}).get("term_energy_pj", 0) is None:
        from sedse.hardware import Accelerator

        # the design's precision, or the spec's own defaults where it states none
        default = {f.name: f.default for f in fields(Accelerator)}
        bits = max(doc.get("precision", {}).get(k, default[k])
                   for k in ("input_bits", "weight_bits"))
        mac = doc["mac"]["energy_pj_by_bits"][bits]
        doc["bit_serial"] = {"term_energy_pj": mac / bits}
    return doc


def _check_hardware_values(params: tuple[Param, ...], sp: Node, accel_doc: dict,
                           accel: str) -> None:
    """Every choice (and both ends of every range) of a ``hardware.*`` parameter, applied
    alone to the base design, must give a valid accelerator: a value that never can is
    an error now, not a study of infeasible trials."""

    from sedse.hardware import accelerator_from_node

    for p in params:
        if not p.name.startswith("hardware.") or p.name in ("hardware.dataflow",
                                                            "hardware.bit_serial"):
            continue
        for v in p.extremes():
            try:
                doc = apply_overrides(accel_doc, {p.name: v}, accel)
                accelerator_from_node(Node(doc, accel, ""))
            except SpecError as exc:
                raise sp.get(p.name).error(f"the value {v!r} gives no valid design "
                                           f"({exc.message})") from None
            except (KeyError, TypeError, StopIteration, AttributeError, IndexError):
                raise sp.get(p.name).error(f"the value {v!r} cannot be set in the "
                                           "accelerator YAML") from None


def load_study(path: str | Path) -> StudySpec:
    """Return the study at `path` (SpecError naming file and key when anything is wrong).

    Only the keys the file gives are read; every other value is `StudySpec`'s (or its
    blocks') own default."""
    from sedse._shipped import default_technology, model_entry, study_path
    from sedse.compress import DATASETS, SmartExchangeConfig
    from sedse.hardware import accelerator_from_node, dataflow_from_node, load_technology

    path = study_path(path) or path     # a shipped study's name (quickstart)
    root = load_yaml(path)
    root.check_keys(_KEYS, _OPT)
    base = Path(path).resolve().parent
    kw: dict[str, Any] = {"name": root.get("name").as_name(), "file": str(Path(path).resolve())}
    if root.has("description") and root.get("description").value is not None:
        kw["description"] = str(root.get("description").value)   # free text, never checked
    model = kw["model"] = root.get("model").as_str()
    try:
        shipped = model_entry(model)
    except SpecError as exc:
        raise root.get("model").error(exc.message) from None
    accel = kw["accelerator"] = _path(root.get("accelerator"), base)
    accel_node = load_yaml(accel)               # the design, read once for the study
    acc0 = accelerator_from_node(accel_node)    # the base design itself must be valid
    kw["accelerator_doc"] = accel_doc = accel_node.value
    tech = kw["technology"] = _path(root.get("technology"), base) \
        if root.has("technology") else str(default_technology())
    tech_obj = load_technology(tech)     # checked now, before any study is created

    method, fixed = Compression().method, {}
    if root.has("compression"):
        comp = root.get("compression")
        known = {f.name for f in fields(SmartExchangeConfig)}
        comp.check_keys(set(), known | {"method"})
        for k, sub in comp.items():
            if k == "method":
                method = sub.as_str()
                if method not in ("smartexchange", "none"):
                    raise sub.error(f"expected smartexchange or none, found {method!r}")
            else:
                fixed[k] = sub.value
        try:
            SmartExchangeConfig(**fixed)
        except (SpecError, TypeError, ValueError) as exc:
            raise comp.error(str(exc)) from None
        kw["compression"] = Compression(method, tuple(sorted(fixed.items())))
    dataset = kw["dataset"] = root.get("dataset").as_str() if root.has("dataset") else None
    data_root = None
    if root.has("data_root") and root.get("data_root").value is not None:
        data_root = kw["data_root"] = _path(root.get("data_root"), base)
        if not Path(data_root).is_dir():
            raise root.get("data_root").error(f"{data_root} is a file, not the folder holding "
                                              "the dataset")
    if method != "none":
        if dataset is None:
            raise root.error("missing key 'dataset' (compression needs data for accuracy)")
        if dataset not in DATASETS:
            raise root.get("dataset").error(f"expected one of {', '.join(DATASETS)}, found "
                                            f"{dataset!r}")
        if dataset in ("cifar10", "imagefolder") and data_root is None:
            raise root.error(f"missing key 'data_root' ({dataset} is read from a local folder)")
    if root.has("weights"):
        wn = root.get("weights")
        if method != "none":
            raise wn.error("only studies with compression.method none take fixed weights")
        if isinstance(wn.value, dict):
            wn.check_keys({"stats"})
            kw["weights"] = _path(wn.get("stats"), base)
            from sedse.compress import stats_from_file

            stats_from_file(kw["weights"], shipped.workload(
                root.get("batch").as_int() if root.has("batch") else StudySpec.batch))
        elif wn.as_str() != "decompose":
            raise wn.error("expected decompose or {stats: FILE}")
    if root.has("fidelity"):
        fn = root.get("fidelity")
        fn.check_keys({"kind"}, {"steps"})
        fid = fn.get("kind").as_str()
        if fid not in FIDELITIES:
            raise fn.get("kind").error(f"expected one of {', '.join(FIDELITIES)}, found {fid!r}")
        fkw: dict[str, Any] = {"kind": fid}
        if fid == "finetune":
            if not fn.has("steps"):
                raise fn.error("missing key 'steps' (mini-batches of fine-tuning per trial)")
            fkw["steps"] = fn.get("steps").as_int(min_value=1)
        kw["fidelity"] = Fidelity(**fkw)
    dataflows = {}
    if root.has("dataflows"):
        axes = dict(acc0.array_shape)
        for dname, dn in root.get("dataflows").items():
            dataflow_from_node(dn, axes, list(acc0.levels))   # validate now
            dataflows[dname] = dn.value
        kw["dataflows"] = tuple(sorted(dataflows.items(), key=lambda kv: kv[0]))
    sp = root.get("search_space")
    params = kw["search_space"] = tuple(_param(k, v, accel_doc, dataflows)
                                        for k, v in sp.items())
    if not params:
        raise sp.error("expected at least one parameter")
    _check_hardware_values(params, sp, accel_doc, accel)
    _check_compression_values(params, sp, fixed)
    if method == "none" and any(p.name.startswith("compression.") for p in params):
        raise sp.error("compression parameters need compression.method smartexchange")
    objs = kw["objectives"] = tuple(root.get("objectives").as_str_list())
    for i, o in enumerate(objs):
        if o not in OBJECTIVES:
            raise root.get("objectives").child(i).error(
                f"unknown objective {o!r} (known: {', '.join(OBJECTIVES)})")
    if not 1 <= len(objs) <= 3 or len(set(objs)) != len(objs):
        raise root.get("objectives").error("expected one to three distinct objectives")
    if "accuracy" in objs and method == "none":
        raise root.get("objectives").error("accuracy needs compression (method none has no "
                                           "accuracy to measure)")
    cons = []
    if root.has("constraints"):
        for k, v in root.get("constraints").items():
            if k not in CONSTRAINTS:
                raise v.error(f"unknown constraint {k!r} (known: {', '.join(CONSTRAINTS)})")
            cons.append((k, v.as_float(positive=True)))
        kw["constraints"] = tuple(cons)
    if not tech_obj.mac_mm2_by_bits:
        where = root.get("objectives") if "area" in objs else \
            root.get("constraints") if any(k == "area_mm2" for k, _ in cons) else None
        if where is not None:
            raise where.error(f"area needs a technology with an area block; {tech} has none "
                              "(area.mac_mm2_by_bits, sram_mm2_per_kib, rebuild_engine_mm2)")
    if root.has("mapping_search"):
        mn = root.get("mapping_search")
        mn.check_keys(set(), {"objective", "budget"})
        mkw: dict[str, Any] = {}
        if mn.has("objective"):
            mkw["objective"] = mn.get("objective").as_str()
            if mkw["objective"] not in SEARCH_OBJECTIVES:
                raise mn.get("objective").error(
                    f"expected {', '.join(SEARCH_OBJECTIVES[:-1])} or {SEARCH_OBJECTIVES[-1]}, "
                    f"found {mkw['objective']!r}")
        if mn.has("budget"):
            mkw["budget"] = mn.get("budget").as_int(min_value=1)
        kw["mapping_search"] = SearchSettings(**mkw)
    if root.has("sampler"):
        sn = root.get("sampler")
        sn.check_keys({"name"}, {"seed", "population_size"})
        skw: dict[str, Any] = {"name": sn.get("name").as_str()}
        if skw["name"] not in SAMPLERS:
            raise sn.get("name").error(f"expected one of {', '.join(SAMPLERS)}, found "
                                       f"{skw['name']!r}")
        if sn.has("seed"):
            skw["seed"] = sn.get("seed").as_int(min_value=0)
        if sn.has("population_size"):
            skw["population_size"] = sn.get("population_size").as_int(min_value=2)
        kw["sampler"] = SamplerSettings(**skw)
    kw["n_trials"] = root.get("n_trials").as_int(min_value=1)
    if root.has("batch"):
        kw["batch"] = root.get("batch").as_int(min_value=1)
    if root.has("float_epochs"):
        kw["float_epochs"] = root.get("float_epochs").as_int(min_value=0)
    if root.has("timeout_s") and root.get("timeout_s").value is not None:
        kw["timeout_s"] = root.get("timeout_s").as_float(positive=True)
    if root.has("baselines"):
        from sedse.hardware import resolve_design

        baselines = kw["baselines"] = tuple(root.get("baselines").as_str_list())
        for i, b in enumerate(baselines):
            try:
                resolve_design(b)
            except SpecError:
                raise root.get("baselines").child(i).error(f"unknown design {b!r}") from None
    if root.has("device"):
        device = kw["device"] = root.get("device").as_str()
        if device not in ("cpu", "cuda", "auto"):
            raise root.get("device").error(f"expected cpu, cuda or auto, found {device!r}")
    return StudySpec(**kw)
