"""Training with torch: float baselines (cached), projection and the paper's retraining.

* `train_float`: SGD (momentum 0.9, weight decay 5e-4, batch 128; REFERENCE 1.3) with a
  fixed seed; the trained state is cached on disk under a hash of everything that
  determines it, so studies never retrain a baseline.
* `compress_model`: run a compressor over every Conv2d / Linear weight and return the
  per-layer results (`CompressedModel`); `project` loads the reconstructed weights.
* `retrain`: the paper's recipe, alternating one epoch of SGD with one projection of
  all layers (un-regularised fine-tuning would destroy the structure).

Runs on the CPU by default (`device="cuda"` where available). Seeds are explicit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sedse._progress import task
from sedse.compress._compressors import CompressedLayer, Compressor
from sedse.compress._data import Dataset
from sedse.errors import SpecError

log = logging.getLogger(__name__)
DEFAULT_CACHE = Path("runs") / "cache"   # per project (relative to the working folder)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 5
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        for name, ok in (("epochs", self.epochs >= 0), ("lr", self.lr > 0),
                         ("batch_size", self.batch_size >= 1)):
            if not ok:
                raise SpecError(f"train.{name}", f"invalid value {getattr(self, name)!r}")


@dataclass(frozen=True)
class CompressedModel:
    layers: tuple[CompressedLayer, ...]

    @property
    def total_bits(self) -> int:
        return sum(c.encoding.total_bits for c in self.layers)

    @property
    def weights(self) -> int:
        return sum(c.encoding.dense_weights for c in self.layers)

    def compression_ratio(self, dense_bits: int = 8) -> float:
        return self.weights * dense_bits / self.total_bits

    def notes(self) -> list[str]:
        return [f"{c.name}: {c.note}" for c in self.layers if c.note]


def _batches(n: int, batch: int, rng: np.random.Generator | None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for s in range(0, n, batch):
        yield order[s:s + batch]


def accuracy(model, data: Dataset, device: str = "cpu", batch: int = 1000,
             split: str = "val") -> float:
    """Top-1 accuracy as a fraction, on the validation split by default (what studies
    and `sedse compress` tune and report on) or on ``split="test"``."""
    import torch

    xs, ys = data.split(split)
    model.eval()
    correct = 0
    with torch.no_grad():
        for idx in _batches(len(xs), batch, None):
            x = torch.from_numpy(xs[idx]).to(device)
            correct += int((model(x).argmax(1).cpu().numpy() == ys[idx]).sum())
    return correct / len(xs)


def train_epochs(model, data: Dataset, cfg: TrainConfig, epochs: int, device: str = "cpu",
                 after_epoch: Callable | None = None, seed_offset: int = 0,
                 max_steps: int | None = None,
                 progress: Callable[[str], None] | None = None,
                 step_hooks: tuple[Callable, Callable] | None = None) -> None:
    """SGD for `epochs` epochs (or `max_steps` mini-batches, whichever ends first);
    `after_epoch(model)` runs after each epoch (e.g. projection); `progress(line)` gets
    one line per epoch (mean training loss); `step_hooks` = (before, update): `before(model)`
    runs before each forward pass, `update(model)` after the backward pass and before
    the optimiser's step (a straight-through estimator swaps weights there)."""
    import torch

    torch.manual_seed(cfg.seed + seed_offset)
    rng = np.random.default_rng(cfg.seed + seed_offset)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1))
    loss_fn = torch.nn.CrossEntropyLoss()
    with task(f"training {type(model).__name__}", total=epochs, unit="epochs") as bar:
        steps = 0
        for epoch in range(epochs):
            model.train()
            total, seen = 0.0, 0
            for idx in _batches(len(data.train_x), cfg.batch_size, rng):
                if max_steps is not None and steps >= max_steps:
                    return
                steps += 1
                x = torch.from_numpy(data.train_x[idx]).to(device)
                y = torch.from_numpy(data.train_y[idx]).to(device)
                opt.zero_grad()
                if step_hooks is not None:
                    step_hooks[0](model)
                loss = loss_fn(model(x), y)
                loss.backward()
                if step_hooks is not None:
                    step_hooks[1](model)
                opt.step()
                total += loss.item() * len(idx)
                seen += len(idx)
            sched.step()
            bar.advance(note=f"training loss {total / max(seen, 1):.4f}")
            if progress is not None:
                progress(f"epoch {epoch + 1}/{epochs}: training loss {total / max(seen, 1):.4f}")
            if after_epoch is not None:
                after_epoch(model)


CACHE_VERSION = 2   # bump when what a cached entry means changes: old entries are never read


def float_key(model_name: str, data: Dataset, cfg: TrainConfig) -> str:
    """Hash of everything that determines a trained float model: the model, the data's
    content (`Dataset.fingerprint`) and input shape, every training setting, torch's
    thread count (training is not bit-reproducible across thread counts) and version."""
    import torch

    blob = json.dumps({"version": CACHE_VERSION, "model": model_name, "data": data.name,
                       "fingerprint": data.fingerprint, "n": len(data.train_x),
                       "shape": list(data.input_chw), "cfg": asdict(cfg),
                       "threads": torch.get_num_threads(), "torch": torch.__version__},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def publish(tmp: Path, path: Path) -> bool:
    """Move the finished file `tmp` to `path` unless an entry is already there (first
    writer wins, atomically: readers never see a torn file and an existing entry is
    never replaced). Returns True when `tmp` became the entry."""
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def train_float(model_name: str, build: Callable, data: Dataset, cfg: TrainConfig = TrainConfig(),
                *, cache_dir: Path | None = DEFAULT_CACHE, device: str = "cpu",
                progress: Callable[[str], None] | None = None):
    """Return the trained float model, from the on-disk cache when present (keyed by
    `float_key`; ``<cache_dir>/float/<model>-<key>.pt``, a torch state_dict read with
    ``weights_only=True``)."""
    import torch

    torch.manual_seed(cfg.seed)
    model = build().to(device)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "float" / f"{model_name}-{float_key(model_name, data, cfg)}.pt"
        if path.is_file():
            try:
                model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
                log.info("loaded cached baseline %s", path)
                return model
            except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
                raise SpecError(str(path), f"corrupted checkpoint ({str(exc)[:80]}); delete "
                                "it to retrain") from None
    train_epochs(model, data, cfg, cfg.epochs, device, progress=progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        torch.save(model.state_dict(), tmp)
        if not publish(tmp, path):   # another process trained it first: use theirs
            model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    return model


def _weight_modules(model):
    import torch

    for name, mod in model.named_modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            yield name, mod


def compress_weights(weights: list[tuple[str, np.ndarray]], compressor: Compressor,
                     threads: int = 1, advance: Callable[[str], None] | None = None
                     ) -> CompressedModel:
    """Compress (name, weight) pairs in order, each with the compressor
    `compressor.plan` gives it (from all the weights at once)."""
    plan = compressor.plan(dict(weights))
    if threads <= 1:
        out = []
        for name, w in weights:
            out.append(plan[name].compress(name, w))
            if advance is not None:
                advance(name)
        return CompressedModel(tuple(out))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        # largest layers first, so no thread is left with a big one at the end
        futures: list = [None] * len(weights)
        for i in sorted(range(len(weights)), key=lambda i: -weights[i][1].size):
            futures[i] = pool.submit(plan[weights[i][0]].compress, *weights[i])
        done = []
        for (name, _), f in zip(weights, futures, strict=True):
            done.append(f.result())
            if advance is not None:
                advance(name)
    return CompressedModel(tuple(done))


def compress_model(model, compressor: Compressor, threads: int = 1) -> CompressedModel:
    """Compress every Conv2d / Linear weight (biases stay dense and are not counted).

    `threads` > 1 compresses that many layers at once in threads (numpy's array work
    releases the GIL; each layer's result is independent of the others, so the outcome
    is the same as one thread's)."""
    mods = list(_weight_modules(model))
    weights = [(name, mod.weight.detach().cpu().numpy()) for name, mod in mods]
    with task(f"compressing with {type(compressor).__name__}", total=len(mods),
              unit="layers") as bar:
        return compress_weights(weights, compressor, threads,
                                lambda name: bar.advance(note=name))


def project(model, compressed: CompressedModel) -> None:
    """Load the compressed (reconstructed) weights into the model in place."""
    import torch

    by_name = {c.name: c for c in compressed.layers}
    with torch.no_grad():
        for name, mod in _weight_modules(model):
            mod.weight.copy_(torch.from_numpy(np.asarray(by_name[name].weight,
                                                         dtype=np.float32)))


def _conv_bn_pairs(model):
    """(conv, bn) pairs where a BatchNorm2d directly follows a Conv2d of matching width
    in registration order (the layout of every shipped CNN)."""
    import torch

    pairs, prev = [], None
    for _, mod in model.named_modules():
        if isinstance(mod, torch.nn.Conv2d):
            prev = mod
        elif isinstance(mod, torch.nn.BatchNorm2d) and prev is not None \
                and prev.out_channels == mod.num_features:
            pairs.append((prev, mod))
            prev = None
    return pairs


def slim(model, fraction: float) -> dict:
    """Network slimming (Liu et al., ICCV 2017; REFERENCE 1.3): the `fraction` of all
    BN-followed conv channels with the smallest |BN scale| (one global threshold) are
    pruned: their filters, scales and shifts are set to zero. Returns the channel masks
    (re-apply them with `apply_channel_masks` after further training)."""
    import torch

    if not 0.0 <= fraction < 1.0:
        raise SpecError("slim_frac", f"expected a fraction in [0, 1), found {fraction!r}")
    pairs = _conv_bn_pairs(model)
    if not pairs or fraction == 0:
        return {}
    scales = torch.cat([bn.weight.detach().abs().flatten() for _, bn in pairs])
    k = int(fraction * len(scales))
    if k == 0:
        return {}
    threshold = torch.kthvalue(scales, k).values
    masks = {id(bn): (bn.weight.detach().abs() > threshold) for _, bn in pairs}
    apply_channel_masks(model, masks)
    return masks


def apply_channel_masks(model, masks: dict) -> None:
    import torch

    with torch.no_grad():
        for conv, bn in _conv_bn_pairs(model):
            keep = masks.get(id(bn))
            if keep is None:
                continue
            conv.weight[~keep] = 0.0
            bn.weight[~keep] = 0.0
            bn.bias[~keep] = 0.0


RETRAIN_MODES = ("alternate", "ste")


def retrain(model, data: Dataset, compressor: Compressor, epochs: int,
            cfg: TrainConfig = TrainConfig(lr=0.01), device: str = "cpu",
            slim_frac: float = 0.0, mode: str = "alternate",
            max_steps: int | None = None) -> CompressedModel:
    """Retrain the compressed model; returns the final compression (loaded in `model`).

    mode "alternate" (the paper's retraining): one epoch of SGD, then project all
    layers; repeat. With `slim_frac`, channels are pruned by BN scale after the first
    epoch (the paper prunes channels in the first retraining epoch) and kept pruned.

    mode "ste" (quantisation- / sparsity-aware training with a straight-through
    estimator, as BinaryConnect and QAT do it): the float weights are kept as latent
    weights; every step computes with their projection P(W) (the compressor itself,
    re-planned across layers each step: masks and scales follow the weights, as in
    dynamic pruning with feedback), and the gradient at P(W) updates W. The final
    weights are P(W) of the last latent weights, exactly what is counted. Each step
    runs the compressor once over the model (cheap for quantisers, pruning and SVD;
    SmartExchange trains in its decomposed form instead, `train_decomposed`).

    `max_steps` bounds the mini-batches (the same budget for every method)."""
    import torch

    if mode not in RETRAIN_MODES:
        raise SpecError("retrain_mode", f"expected one of {', '.join(RETRAIN_MODES)}, "
                        f"found {mode!r}")
    if slim_frac > 0 and epochs < 1:
        raise SpecError("slim_frac", "channel pruning needs at least one retraining epoch")
    if mode == "ste":
        if slim_frac > 0:
            raise SpecError("slim_frac", "channel pruning is part of the alternating "
                            "retraining (retrain_mode alternate)")
        if getattr(compressor, "method", "") == "smartexchange":
            raise SpecError("retrain_mode", "SmartExchange trains in the decomposed form "
                            "(decomposed_epochs), not by straight-through projection")
        mods = list(_weight_modules(model))
        latent: dict[str, torch.Tensor] = {}

        def to_projection(m) -> None:
            weights = [(name, mod.weight.detach().cpu().numpy()) for name, mod in mods]
            comp = compress_weights(weights, compressor)
            with torch.no_grad():
                for (name, mod), c in zip(mods, comp.layers, strict=True):
                    latent[name] = mod.weight.detach().clone()
                    mod.weight.copy_(torch.from_numpy(np.asarray(c.weight, np.float32)))
            state["c"] = comp

        def to_latent(m) -> None:
            with torch.no_grad():
                for name, mod in mods:
                    mod.weight.copy_(latent[name])

        state: dict = {}
        train_epochs(model, data, cfg, epochs, device, seed_offset=1, max_steps=max_steps,
                     step_hooks=(to_projection, to_latent))
        to_projection(model)       # P(W) of the final latent weights, loaded
        return state["c"]

    state = {"epoch": 0, "masks": {}}

    def after(m):
        if state["epoch"] == 1 and slim_frac > 0:
            state["masks"] = slim(m, slim_frac)
        apply_channel_masks(m, state["masks"])
        state["c"] = compress_model(m, compressor)
        project(m, state["c"])
        state["epoch"] += 1

    after(model)
    train_epochs(model, data, cfg, epochs, device, after_epoch=after, seed_offset=1,
                 max_steps=max_steps)
    if max_steps is not None and state["epoch"] <= epochs:
        after(model)    # stopped inside an epoch: project what was trained
    return state["c"]


__all__ = ["CompressedModel", "TrainConfig", "accuracy", "apply_channel_masks",
           "compress_model", "compress_weights", "project", "retrain", "slim", "train_epochs",
           "train_float"]

