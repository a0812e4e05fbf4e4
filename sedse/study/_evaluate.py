"""One design point -> accuracy, energy, latency, area: the pure function a trial calls.

`Evaluator.evaluate(params)` depends only on the study spec and the parameter values,
so a trial, a rerun and an exported configuration give the same numbers. Expensive
parts are cached:

* the float baseline: trained once, on disk in the project cache (``runs/cache/float``,
  keyed by the data's content hash, every training setting and torch's thread count);
* compressed weights per compression-parameter hash (`compress_and_measure`): a
  `sedse compress`-format directory under ``<run>/cache/compressed/<hash>`` (written
  atomically: a temporary folder renamed into place, so concurrent workers never read a
  half-written one), holding the encodings, the accuracy and the activation statistics
  measured on the data. A point computed now is costed from the encodings in memory;
  the directory is read back only when it was there already (another process, an
  earlier run) or another worker wrote it first;
* mapping-search results per (layer shape, accelerator, settings) and whole-network
  costs per (workload, accelerator) in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sedse._yaml import Node
from sedse.errors import MappingError, SpecError
from sedse.study._spec import Compression, StudySpec, apply_overrides

if TYPE_CHECKING:   # sedse.compress is imported where it is used (it pulls in torch)
    from sedse.compress import Dataset, LayerStats

log = logging.getLogger(__name__)
COMPRESSION_METHOD = Compression().method   # what a study compresses with (layers.json)


@dataclass(frozen=True)
class CompressedNumbers:
    """What a trial reports of its compressed model (beside its `LayerStats`)."""

    accuracy: float
    ratio_vs_8bit: float
    test_accuracy: float | None


@dataclass
class PointResult:
    """What one design point gives; `feasible` False carries `reason`."""

    values: dict[str, float]            # accuracy_frac, energy_uj, latency_ms, edp, area
    attrs: dict[str, Any]               # everything stored on the trial
    feasible: bool = True
    reason: str = ""
    accelerator_doc: dict = field(default_factory=dict, repr=False)
    compressed_dir: str | None = None


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def compressed_cache_dir(run_dir: Path, spec: StudySpec, cfg) -> Path:
    """The run's cache folder for the compressed model of `cfg` (a SmartExchangeConfig):
    ``<run_dir>/cache/compressed/<hash of everything that determines it>``."""
    from dataclasses import asdict

    from sedse.compress import DECOMPOSITION_VERSION

    key = _hash({"model": spec.model, "dataset": spec.dataset,
                 "decomposition": DECOMPOSITION_VERSION,
                 "float_epochs": spec.float_epochs, "config": asdict(cfg),
                 "fidelity": spec.fidelity.kind, "steps": spec.fidelity.steps})
    return Path(run_dir) / "cache" / "compressed" / key


class Evaluator:
    """Evaluates design points of one study; holds its caches."""

    def __init__(self, spec: StudySpec, run_dir: str | Path, *, threads: int = 1,
                 cache_dir: str | Path | None = None):
        from sedse._yaml import load_yaml
        from sedse.cost import SearchCache
        from sedse.hardware import load_technology

        self.spec = spec
        self.run_dir = Path(run_dir)
        # the design as `load_study` read it (read here only for a spec built by hand)
        self.base_doc = spec.accelerator_doc or load_yaml(spec.accelerator).value
        self.tech = load_technology(spec.technology)
        self.settings = spec.mapping_search
        self.search_cache = SearchCache()
        self._network_memo: dict = {}
        # compressed entry -> (LayerStats, dir, CompressedNumbers)
        self._stats_memo: dict = {}
        self._model = None
        self._data: Dataset | None = None
        self._float_accuracy: float | None = None
        self._fixed_stats: LayerStats | None = None
        self.threads = threads
        # the project's cache (float baselines, decompositions): runs/cache by default
        self.cache_dir = Path(cache_dir) if cache_dir is not None else \
            self.run_dir.parent / "cache"
        self.float_key: str | None = None
        self.progress = None   # progress(line) for long work (the CLI passes a printer)
        self.device = spec.device
        from sedse._shipped import model_entry

        self.workload = model_entry(spec.model).workload(spec.batch)

    # ---- accuracy side -----------------------------------------------------------
    def check_data(self) -> None:
        """Load the study's data and check it against the model (SpecError naming the
        file): done before a study is created, so a bad data folder writes nothing."""
        if not self.spec.needs_accuracy or self._data is not None:
            return
        import torch

        from sedse._shipped import model_entry
        from sedse.compress import load_dataset

        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        elif self.device == "cuda" and not torch.cuda.is_available():
            raise SpecError(f"{self.spec.file}: device", "cuda requested but torch sees "
                            "no GPU")
        entry = model_entry(self.spec.model)
        if self.spec.dataset is None:   # load_study requires one (a spec built by hand)
            raise SpecError(f"{self.spec.file}: dataset", "missing (a study that measures "
                            "accuracy needs data)")
        data = load_dataset(self.spec.dataset, self.spec.data_root,
                            image_size=entry.input_chw[2], channels=entry.input_chw[0])
        if tuple(entry.input_chw) != data.input_chw:
            raise SpecError(f"{self.spec.file}: model", f"{self.spec.model} expects "
                            f"{entry.input_chw} inputs but {self.spec.dataset} has "
                            f"{data.input_chw}")
        self._data = data

    def _loaded_data(self) -> Dataset:
        """The data `check_data` loaded (every study that measures accuracy has it)."""
        assert self._data is not None
        return self._data

    def _load_model(self):
        if self._model is None:
            import torch

            from sedse._shipped import model_entry
            from sedse.compress import TrainConfig, accuracy, float_key, train_float

            self.check_data()
            data = self._loaded_data()
            torch.set_num_threads(self.threads)
            entry = model_entry(self.spec.model)
            cfg = TrainConfig(epochs=self.spec.float_epochs)
            self.float_key = float_key(self.spec.model, data, cfg)
            self._model = train_float(self.spec.model, entry.build, data, cfg,
                                      device=self.device, cache_dir=self.cache_dir,
                                      progress=self.progress)
            self._float_accuracy = accuracy(self._model, data, self.device)
        return self._model

    @property
    def data_fingerprint(self) -> str | None:
        """Content hash of the study's data (None for studies without data)."""
        if not self.spec.needs_accuracy:
            return None
        self._load_model()
        return self._loaded_data().fingerprint

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
        return self._compressed(params)[0]

    @property
    def _activations_source(self) -> str:
        return f"measured on {self.spec.dataset} validation images, 8-bit"

    def _compressed(self, params: dict[str, Any]):
        """(the cached directory of these compression parameters, the
        `CompressionOutcome` when it was computed now and is the directory's content,
        else None: the directory is to be read)."""
        from dataclasses import asdict

        cfg = self.compression_config(params)
        out = compressed_cache_dir(self.run_dir, self.spec, cfg)
        if (out / "layers.json").is_file():
            self._check_entry(out)
            return out, None
        from sedse.compress import SmartExchange, compress_and_measure, save_compressed

        base = self._load_model()
        finetune = self.spec.fidelity.kind == "finetune"
        m = compress_and_measure(base, SmartExchange(cfg), self._loaded_data(),
                                 device=self.device,
                                 decomposed_epochs=1 if finetune else 0, from_float=finetune,
                                 max_steps=self.spec.fidelity.steps if finetune else None,
                                 float_accuracy=self._float_accuracy)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".tmp-"))
        save_compressed(tmp, {"model": self.spec.model, "dataset": self.spec.dataset,
                              "data": self._provenance(),
                              "method": COMPRESSION_METHOD, "params": asdict(cfg),
                              "fidelity": self.spec.fidelity.kind,
                              "float_accuracy": m.float_accuracy, "accuracy": m.accuracy,
                              "test_accuracy": m.test_accuracy, "activations": m.activations,
                              "activations_source": self._activations_source},
                        m.compressed, m.model)
        try:
            os.replace(tmp, out)
        except OSError:   # another worker won the race: read theirs, as every worker does
            shutil.rmtree(tmp, ignore_errors=True)
            return out, None
        return out, m

    def _provenance(self) -> dict:
        import torch

        return {"fingerprint": self._loaded_data().fingerprint, "float_key": self.float_key,
                "torch_threads": torch.get_num_threads(),
                "validation": "10% of the training files, seed 0"}

    def _check_entry(self, out: Path) -> None:
        """A cached compressed model computed from other data, another float model or
        another sedse format is refused in one line (never a silently different number)."""
        from sedse._yaml import load_json
        from sedse.compress import FORMAT

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
        for key, now in (("fingerprint", self._loaded_data().fingerprint),
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
        doc = apply_overrides(self.base_doc, hw, self.spec.file, dict(self.spec.dataflows))
        return accelerator_from_node(Node(doc, f"{self.spec.file} (trial design)", "")), doc

    def _stats(self, params: dict[str, Any]):
        """(LayerStats, the compressed directory or None, its CompressedNumbers or None)
        of a design point's compression parameters."""
        from sedse.compress import stats_by_decomposition, stats_from_compressed, stats_from_file

        if self.spec.needs_accuracy:
            # one checked read (or one computation) per compressed entry and process: a
            # repeated point reuses it
            key = compressed_cache_dir(self.run_dir, self.spec, self.compression_config(params))
            if key not in self._stats_memo:
                d, m = self._compressed(params)
                if m is not None:   # computed now: its encodings, from memory
                    stats = m.layer_stats(self.workload, source=d, method=COMPRESSION_METHOD,
                                          activations_source=self._activations_source)
                    numbers = CompressedNumbers(m.accuracy, m.compressed.compression_ratio(8),
                                                m.test_accuracy)
                else:
                    stats = stats_from_compressed(d, self.workload, self.spec.model)
                    doc = json.loads((d / "layers.json").read_text())
                    numbers = CompressedNumbers(doc["accuracy"], doc["ratio_vs_8bit"],
                                                doc.get("test_accuracy"))
                self._stats_memo[key] = (stats, d, numbers)
            return self._stats_memo[key]
        if self._fixed_stats is None:
            if self.spec.weights == "decompose":
                self._fixed_stats = stats_by_decomposition(
                    self.spec.model, self.workload, self.cache_dir)
            else:
                self._fixed_stats = stats_from_file(self.spec.weights, self.workload)
        return self._fixed_stats, None, None

    def network_cost(self, workload, acc):
        from sedse.cost import evaluate_workload

        key = (workload, acc)
        if key not in self._network_memo:
            self._network_memo[key] = evaluate_workload(workload, acc, settings=self.settings,
                                                        cache=self.search_cache)
        return self._network_memo[key]

    def evaluate(self, params: dict[str, Any]) -> PointResult:
        """Evaluate one point; infeasible designs come back with feasible False."""
        from sedse.cost import basis_misfit
        from sedse.hardware import area_mm2

        try:
            acc, doc = self.accelerator(params)
        except SpecError as exc:
            return PointResult({}, {}, False, f"invalid design: {exc}")
        if self.spec.compression.method == "smartexchange":
            # every layer gets an S x S basis: one the engines cannot hold fails every
            # layer in the cost model, so say so before compressing (or training) anything
            cfg = self.compression_config(params)
            why = basis_misfit(acc, cfg.basis_size, cfg.basis_bits)
            if why:
                return PointResult({}, {}, False, f"does not fit: {acc.source or acc.name}: "
                                   f"rebuild.basis_rf_bytes: {why}", doc)
        stats, cdir, numbers = self._stats(params)
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
            values["accuracy_frac"] = float(numbers.accuracy)
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
            attrs["compression_ratio_x"] = float(numbers.ratio_vs_8bit)
            # held-out test accuracy: reported beside final points, never optimised
            if numbers.test_accuracy is not None:
                attrs["test_accuracy_frac"] = float(numbers.test_accuracy)
            attrs["compressed_dir"] = str(cdir)
        return PointResult(values, attrs, True, "", doc, str(cdir) if cdir else None)
