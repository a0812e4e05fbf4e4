"""Torch definitions of the networks sedse ships (no pretrained weights).

`MODELS` maps a name to its entry (constructor, default input shape (C, H, W),
description); `build(name)` returns the module and `workload(name)` its sedse workload.

Importing this package does not import torch: the constructors are imported when a
model is built, and `workload` reads the model's layer list traced once into
``workloads/<name>.yaml`` (at batch 1, 16 bits; `tests/test_models.py` traces every
model again and checks the files, and ``python -m sedse_models`` rewrites them). So
`sedse eval --model resnet18` and `sedse models` start without torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

WORKLOADS = Path(__file__).resolve().parent / "workloads"


@dataclass(frozen=True)
class ModelEntry:
    module: str                 # the submodule holding the constructor
    factory: str                # its name there
    input_chw: tuple[int, int, int]
    description: str
    kwargs: tuple[tuple[str, object], ...] = field(default=())

    def build(self):
        """A freshly built module (this imports torch)."""
        fn = getattr(importlib.import_module(f"{__name__}.{self.module}"), self.factory)
        return fn(**dict(self.kwargs))


MODELS: dict[str, ModelEntry] = {
    "lenet5": ModelEntry("classic", "LeNet5", (1, 28, 28),
                         "LeNet-5, 28x28 grey (Fashion-MNIST)"),
    "lenet5_digits": ModelEntry("classic", "LeNet5Digits", (1, 8, 8),
                                "LeNet-5 layout for 8x8 grey digits (scikit-learn's digits)"),
    "alexnet": ModelEntry("classic", "AlexNet", (3, 227, 227),
                          "AlexNet, original grouped form, ImageNet"),
    "vgg16": ModelEntry("classic", "VGG", (3, 224, 224), "VGG-16, ImageNet",
                        (("depth", 16),)),
    "vgg19": ModelEntry("classic", "VGG", (3, 224, 224), "VGG-19, ImageNet",
                        (("depth", 19),)),
    "vgg19_cifar": ModelEntry("classic", "VGG", (3, 32, 32),
                              "VGG-19 with BN and a CIFAR-10 head",
                              (("depth", 19), ("num_classes", 10), ("cifar", True))),
    "resnet18": ModelEntry("resnet", "resnet18", (3, 224, 224), "ResNet-18, ImageNet"),
    "resnet50": ModelEntry("resnet", "resnet50", (3, 224, 224), "ResNet-50, ImageNet"),
    "resnet20": ModelEntry("resnet", "CifarResNet", (3, 32, 32), "ResNet-20, CIFAR-10",
                           (("depth", 20),)),
    "resnet56": ModelEntry("resnet", "CifarResNet", (3, 32, 32), "ResNet-56, CIFAR-10",
                           (("depth", 56),)),
    "resnet8_gray": ModelEntry("resnet", "CifarResNet", (1, 28, 28),
                               "CIFAR-style ResNet-8, 28x28 grey (Fashion-MNIST)",
                               (("depth", 8), ("in_channels", 1))),
    "mobilenetv2": ModelEntry("mobile", "MobileNetV2", (3, 224, 224),
                              "MobileNetV2 1.0, ImageNet"),
    # CIFAR-style nets of the paper's three families, slim enough to train on a CPU,
    # for 32 x 32 grey inputs (Fashion-MNIST zero-padded to 32 x 32)
    "vgg11_gray32": ModelEntry("classic", "VGG", (1, 32, 32),
                               "VGG-11 (BN, CIFAR head) at 1/4 width, 32x32 grey",
                               (("depth", 11), ("num_classes", 10), ("cifar", True),
                                ("in_channels", 1), ("width_div", 4))),
    "resnet20_gray32": ModelEntry("resnet", "CifarResNet", (1, 32, 32),
                                  "CIFAR ResNet-20, 32x32 grey",
                                  (("depth", 20), ("in_channels", 1))),
    "mobilenetv2_gray32": ModelEntry("mobile", "MobileNetV2", (1, 32, 32),
                                     "MobileNetV2 (CIFAR layout) at 0.5 width, 32x32 grey",
                                     (("num_classes", 10), ("cifar", True), ("width", 0.5),
                                      ("in_channels", 1))),
    "efficientnet_b0": ModelEntry("mobile", "EfficientNetB0", (3, 224, 224),
                                  "EfficientNet-B0, ImageNet"),
    "deeplabv3plus": ModelEntry("deeplab", "DeepLabV3Plus", (3, 512, 512),
                                "DeepLabV3+ (ResNet-50, OS 16), Pascal VOC 21 classes"),
}


def build(name: str, *, meta: bool = False):
    """Return a freshly initialised model; on the meta device (no memory) if `meta`."""
    import torch

    if name not in MODELS:
        raise KeyError(name)
    if meta:
        with torch.device("meta"):
            return MODELS[name].build()
    torch.manual_seed(0)
    return MODELS[name].build()


def trace(name: str, batch: int = 1, *, input_bits: int = 16, weight_bits: int = 16,
          output_bits: int = 16):
    """The workload traced from the torch module now (imports torch)."""
    from sedse.workload import from_torch

    entry = MODELS[name]
    return from_torch(build(name, meta=True), (batch, *entry.input_chw), name=name,
                      input_bits=input_bits, weight_bits=weight_bits, output_bits=output_bits)


def workload(name: str, batch: int = 1, *, input_bits: int = 16, weight_bits: int = 16,
             output_bits: int = 16):
    """Return the sedse `Workload` of a shipped model at its default input size (from
    its traced layer list; the same as `trace`, which a test checks)."""
    from sedse.workload import load_workload

    if name not in MODELS:
        raise KeyError(name)
    wl = load_workload(WORKLOADS / f"{name}.yaml")
    if batch != 1:
        wl = wl.with_batch(batch)
    if (input_bits, weight_bits, output_bits) != (16, 16, 16):
        wl = wl.with_precision(input_bits, weight_bits, output_bits)
    return wl


def write_workloads() -> list[Path]:
    """Trace every model and write its layer list (what `workload` reads)."""
    from sedse.workload import dump_workload

    WORKLOADS.mkdir(exist_ok=True)
    out = []
    for name in MODELS:
        f = WORKLOADS / f"{name}.yaml"
        dump_workload(trace(name), f)
        out.append(f)
    return out


__all__ = ["MODELS", "ModelEntry", "build", "trace", "workload", "write_workloads"]
