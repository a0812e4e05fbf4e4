"""One design point -> accuracy, energy, latency, area: the pure function a trial calls.

`Evaluator.evaluate(params)` depends only on the study spec and the parameter values,
so a trial, a rerun and an exported configuration give the same numbers. Expensive
parts are cached:

* the float baseline: trained once, on disk in the project cache (``runs/cache/float``,
  keyed by the data's content hash, every training setting and torch's thread count);
* compressed weights per compression-parameter hash: a `sedse compress`-format directory
  under ``<run>/cache/compressed/<hash>`` (written atomically: a temporary folder renamed
  into place, so concurrent workers never read a half-written one), holding the
  encodings, the accuracy and the activation statistics measured on the data;
* mapping-search results per (layer shape, accelerator, settings) and whole-network
  costs per (workload, accelerator) in memory.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sedse._yaml import Node
from sedse.errors import MappingError, SpecError
from sedse.study._spec import StudySpec

log = logging.getLogger(__name__)


@dataclass
class PointResult:
    """What one design point gives; `feasible` False carries `reason`."""

    values: dict[str, float]            # accuracy_frac, energy_uj, latency_ms, edp, area
    attrs: dict[str, Any]               # everything stored on the trial
    feasible: bool = True
    reason: str = ""
    accelerator_doc: dict = field(default_factory=dict, repr=False)
    compressed_dir: str | None = None


def apply_overrides(doc: dict, overrides: dict[str, Any], spec: StudySpec) -> dict:
    """Return a copy of the accelerator document with ``hardware.*`` values applied."""
    doc = copy.deepcopy(doc)
    for name, value in overrides.items():
        path = name.split(".")[1:]
        if path == ["dataflow"]:
            doc["dataflow"] = spec.dataflow(value)
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
            raise SpecError(spec.file, f"search_space.{name}: cannot set a list item")
        cur[path[-1]] = value
    if doc.get("bit_serial", {}).get("term_energy_pj", 0) is None:
        bits = max(doc.get("precision", {}).get("input_bits", 16),
                   doc.get("precision", {}).get("weight_bits", 16))
        mac = doc["mac"]["energy_pj_by_bits"][bits]
        doc["bit_serial"] = {"term_energy_pj": mac / bits}
    return doc


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def compressed_cache_dir(run_dir: Path, spec: StudySpec, cfg) -> Path:
    """The run's cache folder for the compressed model of `cfg` (a SmartExchangeConfig):
    ``<run_dir>/cache/compressed/<hash of everything that determines it>``."""
    from dataclasses import asdict

    key = _hash({"model": spec.model, "dataset": spec.dataset,
                 "float_epochs": spec.float_epochs, "config": asdict(cfg),
                 "fidelity": spec.fidelity, "steps": spec.finetune_steps})
    return Path(run_dir) / "cache" / "compressed" / key


class Evaluator:
    """Evaluates design points of one study; holds its caches."""

    def __init__(self, spec: StudySpec, run_dir: str | Path, *, threads: int = 1,
                 cache_dir: str | Path | None = None):
        from sedse._yaml import load_yaml
        from sedse.cost import SearchCache, SearchSettings
        from sedse.hardware import load_technology

        self.spec = spec
        self.run_dir = Path(run_dir)
        self.base_doc = load_yaml(spec.accelerator).value
        self.tech = load_technology(spec.technology)
        self.settings = SearchSettings(objective=spec.search_objective,
                                       budget=spec.search_budget)
        self.search_cache = SearchCache()
        self._network_memo: dict = {}
        self._stats_memo: dict = {}   # compressed entry -> (LayerStats, dir, layers.json)
        self._model = None
        self._data = None
        self._float_accuracy: float | None = None
        self._fixed_stats = None
        self.threads = threads
        # the project's cache (float baselines, decompositions): runs/cache by default
        self.cache_dir = Path(cache_dir) if cache_dir is not None else \
            self.run_dir.parent / "cache"
        self.float_key: str | None = None
        self.progress = None   # progress(line) for long work (the CLI passes a printer)
        self.device = spec.device
        import sedse_models

        self.workload = sedse_models.workload(spec.model, spec.batch)

    # ---- accuracy side -----------------------------------------------------------
    def check_data(self) -> None:
        """Load the study's data and check it against the model (SpecError naming the
        file): done before a study is created, so a bad data folder writes nothing."""
        if not self.spec.needs_accuracy or self._data is not None:
            return
        import torch

        import sedse_models
        from sedse.compress import load_dataset

        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        elif self.device == "cuda" and not torch.cuda.is_available():
            raise SpecError(f"{self.spec.file}: device", "cuda requested but torch sees "
                            "no GPU")
        entry = sedse_models.MODELS[self.spec.model]
        data = load_dataset(self.spec.dataset, self.spec.data_root,
                            image_size=entry.input_chw[2], channels=entry.input_chw[0])
        if tuple(entry.input_chw) != data.input_chw:
            raise SpecError(f"{self.spec.file}: model", f"{self.spec.model} expects "
                            f"{entry.input_chw} inputs but {self.spec.dataset} has "
                            f"{data.input_chw}")
        self._data = data

    def _load_model(self):
        if self._model is None:
            import torch

            import sedse_models
            from sedse.compress import TrainConfig, accuracy, train_float
            from sedse.compress._train import float_key

            self.check_data()
            torch.set_num_threads(self.threads)
            entry = sedse_models.MODELS[self.spec.model]
            cfg = TrainConfig(epochs=self.spec.float_epochs)
            self.float_key = float_key(self.spec.model, self._data, cfg)
            self._model = train_float(self.spec.model, entry.build, self._data, cfg,
                                      device=self.device, cache_dir=self.cache_dir,
                                      progress=self.progress)
            self._float_accuracy = accuracy(self._model, self._data, self.device)
        return self._model

    @property
    def data_fingerprint(self) -> str | None:
        """Content hash of the study's data (None for studies without data)."""
        if not self.spec.needs_accuracy:
            return None
        self._load_model()
        return self._data.fingerprint

    @property
    def float_accuracy(self) -> float | None:
        if self.spec.needs_accuracy:
            self._load_model()
        return self._float_accuracy

    def compression_config(self, params: dict[str, Any]):
        from sedse.compress import SmartExchangeConfig

        kw = self.spec.compression_fixed()
        kw.update({k.split(".", 1)[1]: v for k, v in params.items()
                   if k.startswith("compression.")})
        return SmartExchangeConfig(**kw)

    def compressed_dir(self, params: dict[str, Any]) -> Path:
        """The cached compressed-model directory of these compression parameters
        (created on first use)."""
        from dataclasses import asdict

        cfg = self.compression_config(params)
        out = compressed_cache_dir(self.run_dir, self.spec, cfg)
        if (out / "layers.json").is_file():
            self._check_entry(out)
            return out
        import torch

        from sedse.compress import (
            SmartExchange,
            accuracy,
            compress_model,
            project,
            train_decomposed,
        )
        from sedse.compress._activations import activation_stats
        from sedse.compress._io import save_compressed

        base = self._load_model()
        model = copy.deepcopy(base)
        if self.spec.fidelity == "finetune":
            compressed = train_decomposed(model, self._data, cfg, 1, device=self.device,
                                          max_steps=self.spec.finetune_steps)
        else:
            compressed = compress_model(model, SmartExchange(cfg))
            project(model, compressed)
        with torch.no_grad():
            acc = accuracy(model, self._data, self.device)
            test_acc = accuracy(model, self._data, self.device, split="test")
        acts = activation_stats(model, self._data, device=self.device)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".tmp-"))
        save_compressed(tmp, {"model": self.spec.model, "dataset": self.spec.dataset,
                              "data": self._provenance(),
                              "method": "smartexchange", "params": asdict(cfg),
                              "fidelity": self.spec.fidelity,
                              "float_accuracy": self._float_accuracy, "accuracy": acc,
                              "test_accuracy": test_acc, "activations": acts,
                              "activations_source": f"measured on {self.spec.dataset} "
                                                    "validation images, 8-bit"},
                        compressed, model)
        try:
            os.replace(tmp, out)
        except OSError:   # another worker won the race: theirs is identical
            shutil.rmtree(tmp, ignore_errors=True)
        return out

    def _provenance(self) -> dict:
        import torch

        return {"fingerprint": self._data.fingerprint, "float_key": self.float_key,
                "torch_threads": torch.get_num_threads(),
                "validation": "10% of the training files, seed 0"}

    def _check_entry(self, out: Path) -> None:
        """A cached compressed model computed from other data, another float model or
        another sedse format is refused in one line (never a silently different number)."""
        from sedse._yaml import load_json
        from sedse.compress._io import FORMAT

        f = out / "layers.json"
        root = load_json(f)
        fmt = root.get("format").value if root.has("format") else 1
        if fmt != FORMAT:
            raise SpecError(str(f), f"written by another sedse version (format {fmt}, this "
                            f"one writes {FORMAT}); delete {out.parent} to recompute")
        if not self.spec.needs_accuracy:
            return
        self._load_model()
        data = root.get("data").value if root.has("data") else {}
        for key, now in (("fingerprint", self._data.fingerprint),
                         ("float_key", self.float_key)):
            if not isinstance(data, dict) or data.get(key) != now:
                raise SpecError(f"{f}: data.{key}", "this cached entry was computed from "
                                "other data or another float model (the dataset or the "
                                f"training changed since); delete {out.parent} or use a "
                                "new study name")

    # ---- cost side ---------------------------------------------------------------
    def accelerator(self, params: dict[str, Any]):
        """(Accelerator, its YAML document) for these hardware parameters."""
        from sedse.hardware import accelerator_from_node

        hw = {k: v for k, v in params.items() if k.startswith("hardware.")}
        doc = apply_overrides(self.base_doc, hw, self.spec)
        return accelerator_from_node(Node(doc, f"{self.spec.file} (trial design)", "")), doc

    def _stats(self, params: dict[str, Any]):
        from sedse.compare import stats_by_decomposition, stats_from_compressed, stats_from_file

        if self.spec.method != "none":
            # one checked read per compressed entry and process (a repeated point reuses it)
            key = compressed_cache_dir(self.run_dir, self.spec, self.compression_config(params))
            if key not in self._stats_memo:
                d = self.compressed_dir(params)
                self._stats_memo[key] = (
                    stats_from_compressed(d, self.workload, self.spec.model), d,
                    json.loads((d / "layers.json").read_text()))
            return self._stats_memo[key]
        if self._fixed_stats is None:
            if self.spec.weights == "decompose":
                self._fixed_stats = stats_by_decomposition(
                    self.spec.model, self.workload, self.cache_dir)
            else:
                self._fixed_stats = stats_from_file(self.spec.weights, self.workload)
        return self._fixed_stats, None, {}

    def network_cost(self, workload, acc):
        from sedse.cost import evaluate_workload

        key = (workload, acc)
        if key not in self._network_memo:
            self._network_memo[key] = evaluate_workload(workload, acc, settings=self.settings,
                                                        cache=self.search_cache)
        return self._network_memo[key]

    def evaluate(self, params: dict[str, Any]) -> PointResult:
        """Evaluate one point; infeasible designs come back with feasible False."""
        from sedse.hardware import area_mm2

        try:
            acc, doc = self.accelerator(params)
        except SpecError as exc:
            return PointResult({}, {}, False, f"invalid design: {exc}")
        stats, cdir, doc_acc = self._stats(params)
        wl = stats.apply(self.workload).with_precision(acc.input_bits, acc.weight_bits,
                                                       acc.output_bits)
        try:
            rep = self.network_cost(wl, acc)
        except MappingError as exc:
            return PointResult({}, {"compressed_dir": str(cdir) if cdir else ""}, False,
                               f"does not fit: {exc}", doc, str(cdir) if cdir else None)
        area = area_mm2(acc, self.tech) if self.tech.mac_mm2_by_bits else math.nan
        values = {"energy_uj": rep.energy_pj / 1e6, "latency_ms": rep.latency_s * 1e3,
                  "edp_uj_ms": rep.energy_pj / 1e6 * rep.latency_s * 1e3, "area_mm2": area}
        if cdir:
            values["accuracy_frac"] = float(doc_acc["accuracy"])
        cats = rep.energy_by_category()
        layers = {}
        for lc in rep.layers:
            per = dict.fromkeys(cats, 0.0)
            for r in lc.rows:
                per[r["category"]] += r["energy_pj"] / 1e6
            layers[lc.layer.name] = per
        attrs = {**values,
                 "pj_per_mac": rep.energy_pj / rep.macs,
                 "energy_uj_by_category": {k: v / 1e6 for k, v in cats.items()},
                 "layer_energy_uj": layers,
                 "utilisation_frac": rep.utilisation,
                 "mapping_summary": [f"{lc.layer.name}: {lc.mapping_text}" for lc in rep.layers],
                 # the mappings themselves: an export replays them exactly
                 "mappings": {lc.layer.name: lc.mapping.to_doc(acc) for lc in rep.layers},
                 "weights_source": stats.weights_source}
        if cdir:
            attrs["compression_ratio_x"] = float(doc_acc["ratio_vs_8bit"])
            # held-out test accuracy: reported beside final points, never optimised
            if doc_acc.get("test_accuracy") is not None:
                attrs["test_accuracy_frac"] = float(doc_acc["test_accuracy"])
            attrs["compressed_dir"] = str(cdir)
        return PointResult(values, attrs, True, "", doc, str(cdir) if cdir else None)
