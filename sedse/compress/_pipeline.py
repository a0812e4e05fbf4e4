"""Compress a trained float model and measure it: the one pipeline `sedse compress`,
studies and benchmarks run (`compress_and_measure`).

From a trained float model, a `Compressor` and a `Dataset`: compress every Conv2d /
Linear weight and project the reconstructed weights into (a copy of) the model, then
optionally retrain (the paper's alternating SGD and projection, with channel slimming)
or train the decomposed form (Ce and B, straight-through estimator), and measure the
validation accuracy before and after, the test accuracy and the activation statistics.
The result is a frozen `CompressionOutcome`: the cost model reads its encodings straight
from memory (`CompressionOutcome.layer_stats`); writing the directory
(`save_compressed(out, meta, outcome.compressed, outcome.model)`) is a separate call,
a cache or an export, that gives the same statistics back (`stats_from_compressed`).

Torch is imported only when the pipeline runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sedse.compress._compressors import Compressor, SmartExchange
from sedse.compress._data import Dataset
from sedse.compress._stats import LayerStats, compressed_stats
from sedse.compress._train import RETRAIN_MODES, CompressedModel
from sedse.errors import SpecError
from sedse.workload import WeightEncoding, Workload


def plain_encoding(enc: WeightEncoding) -> WeightEncoding:
    """`enc` with plain Python numbers (a numpy float becomes a float of the same
    value): the encoding exactly as a compressed directory's layers.json gives it back."""
    kw: dict[str, Any] = {}
    for f in fields(enc):
        v = getattr(enc, f.name)
        kw[f.name] = float(v) if isinstance(v, float) else v
    return WeightEncoding(**kw)


@dataclass(frozen=True)
class CompressionOutcome:
    """A compressed and measured model (`compress_and_measure`).

    compressed: the final per-layer compression (after any training);
    model: the torch module computing with the compressed weights (not compared);
    float_accuracy: the float model's validation accuracy;
    projected_accuracy: after projection, before any training (None when the decomposed
        form was trained from the float weights, with no projection step);
    accuracy: the final validation accuracy (after projection, or after training);
    test_accuracy: the final test accuracy (None when not measured);
    activations: {layer: {ACTIVATION_FIELDS: value}} measured on the validation images
        (None when not measured);
    projection: the compression the projection step loaded (None without one; the same
        as `compressed` when nothing was trained after it).
    """

    compressed: CompressedModel
    model: Any = field(compare=False, repr=False)
    float_accuracy: float
    projected_accuracy: float | None
    accuracy: float
    test_accuracy: float | None
    activations: Mapping[str, Mapping[str, float]] | None
    projection: CompressedModel | None = None

    @property
    def encodings(self) -> dict[str, WeightEncoding]:
        """{layer name: WeightEncoding} in layer order (plain numbers, as on disk)."""
        return {c.name: plain_encoding(c.encoding) for c in self.compressed.layers}

    @property
    def rel_errors(self) -> dict[str, float]:
        """{layer name: ||W - W'|| / ||W||} in layer order."""
        return {c.name: float(c.rel_error) for c in self.compressed.layers}

    def layer_stats(self, workload: Workload, *, source: str | Path, method: str,
                    activations_source: str) -> LayerStats:
        """The statistics the cost model reads, from memory: the same value
        `stats_from_compressed` gives for the directory `save_compressed` writes of this
        outcome at `source` (with `method` and `activations_source` as its layers.json
        records them). SpecError when `workload` is not this model's."""
        by_name = {layer.name: layer for layer in workload.layers}
        enc = self.encodings
        for name, e in enc.items():
            if name not in by_name:
                raise SpecError(str(source), f"{workload.name} has no layer {name!r}")
            want = by_name[name].operand_elements("W")
            if e.dense_weights != want:
                raise SpecError(str(source), f"layer {name}: {e.dense_weights:,} weights, but "
                                f"{workload.name}'s has {want:,}")
        acts = None if self.activations is None else \
            {k: dict(v) for k, v in self.activations.items()}
        return compressed_stats(workload, source, method, self.accuracy, enc, acts,
                                activations_source, self.rel_errors)


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise SpecError(key, message)


def compress_and_measure(model, compressor: Compressor, data: Dataset, *,
                         retrain_epochs: int = 0, slim_frac: float = 0.0,
                         retrain_mode: str = "alternate", train_cfg=None,
                         decomposed_epochs: int = 0, from_float: bool = False,
                         max_steps: int | None = None, device: str = "cpu",
                         float_accuracy: float | None = None, measure_test: bool = True,
                         measure_activations: bool = True) -> CompressionOutcome:
    """Compress a copy of the trained float `model` with `compressor` and measure it on
    `data` (the float model itself is left as it is).

    By default: compress, project and measure. Then, at most one of:

    * `retrain_epochs`: the paper's retraining (one SGD epoch, then a projection of all
      layers; repeated), `slim_frac` of the BN-followed channels pruned after the first;
      or, with `retrain_mode="ste"`, straight-through training of the latent weights
      from the float weights, every step computing with their projection (`retrain`);
    * `decomposed_epochs`: train Ce and B in the decomposed form (SmartExchange only),
      from the projected weights, or with `from_float` from the float weights with no
      projection step (a study's ``finetune`` fidelity).

    `max_steps` bounds the mini-batches of either training (one budget for every method);
    `train_cfg` (a `TrainConfig`) sets its SGD (learning rate, batch, seed; default each
    training's own: lr 0.01, seed 0).

    `float_accuracy`: the float model's validation accuracy when already known (else
    measured). `measure_test` / `measure_activations`: whether to measure the test
    accuracy and the activation statistics (8-bit, validation images)."""
    import copy

    from sedse.compress._activations import activation_stats
    from sedse.compress._decomposed import train_decomposed
    from sedse.compress._train import accuracy, compress_model, project, retrain

    _check(retrain_epochs >= 0 and decomposed_epochs >= 0, "epochs",
           "retrain_epochs and decomposed_epochs must be >= 0")
    _check(not (retrain_epochs and decomposed_epochs), "decomposed_epochs",
           "give either retrain_epochs or decomposed_epochs")
    _check(not decomposed_epochs or isinstance(compressor, SmartExchange),
           "decomposed_epochs", "decomposed-form training is for SmartExchange")
    _check(retrain_mode in RETRAIN_MODES, "retrain_mode",
           f"expected one of {', '.join(RETRAIN_MODES)}, found {retrain_mode!r}")
    _check(retrain_mode != "ste" or not isinstance(compressor, SmartExchange), "retrain_mode",
           "SmartExchange trains in the decomposed form (decomposed_epochs), not by "
           "straight-through projection")
    _check(not slim_frac or retrain_epochs >= 1, "slim_frac",
           "channel pruning needs retrain_epochs >= 1")
    _check(not from_float or decomposed_epochs >= 1, "from_float",
           "training from the float weights is decomposed-form training "
           "(decomposed_epochs >= 1)")
    _check(max_steps is None or decomposed_epochs >= 1 or retrain_epochs >= 1, "max_steps",
           "max_steps bounds training (retrain_epochs or decomposed_epochs >= 1)")

    net = copy.deepcopy(model)
    float_acc = accuracy(net, data, device) if float_accuracy is None else float_accuracy
    projection = proj_acc = None
    if not from_float:
        projection = compress_model(net, compressor)
        project(net, projection)
        proj_acc = accuracy(net, data, device)
    compressed, acc = projection, proj_acc
    if retrain_epochs:
        if retrain_mode == "ste":     # from the float weights, as quantisation-aware
            net = copy.deepcopy(model)    # training starts (the projection is measured)
        compressed = retrain(net, data, compressor, retrain_epochs, device=device,
                             slim_frac=slim_frac, mode=retrain_mode, max_steps=max_steps,
                             **({} if train_cfg is None else {"cfg": train_cfg}))
        acc = accuracy(net, data, device)
    elif decomposed_epochs:
        assert isinstance(compressor, SmartExchange)   # checked above
        compressed = train_decomposed(net, data, compressor.config, decomposed_epochs,
                                      device=device, index=compressor.index,
                                      max_steps=max_steps,
                                      **({} if train_cfg is None else {"train_cfg": train_cfg}))
        acc = accuracy(net, data, device)
    test_acc = accuracy(net, data, device, split="test") if measure_test else None
    acts = activation_stats(net, data, device=device) if measure_activations else None
    # set by the projection or, with from_float (decomposed_epochs >= 1), the training
    assert compressed is not None and acc is not None
    return CompressionOutcome(compressed, net, float_acc, proj_acc, acc, test_acc, acts,
                              projection)
