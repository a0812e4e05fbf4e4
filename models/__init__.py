"""Torch definitions of the networks sedse ships (no pretrained weights).

`MODELS` maps a name to its constructor and default input shape (C, H, W);
`build(name)` returns the module and `workload(name)` its sedse workload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .classic import VGG, AlexNet, LeNet5
from .deeplab import DeepLabV3Plus
from .mobile import EfficientNetB0, MobileNetV2
from .resnet import CifarResNet, resnet18, resnet50


@dataclass(frozen=True)
class ModelEntry:
    build: Callable
    input_chw: tuple[int, int, int]
    description: str


MODELS: dict[str, ModelEntry] = {
    "lenet5": ModelEntry(LeNet5, (1, 28, 28), "LeNet-5, 28x28 grey (Fashion-MNIST)"),
    "alexnet": ModelEntry(AlexNet, (3, 227, 227), "AlexNet, original grouped form, ImageNet"),
    "vgg16": ModelEntry(lambda: VGG(16), (3, 224, 224), "VGG-16, ImageNet"),
    "vgg19": ModelEntry(lambda: VGG(19), (3, 224, 224), "VGG-19, ImageNet"),
    "vgg19_cifar": ModelEntry(lambda: VGG(19, 10, cifar=True), (3, 32, 32),
                              "VGG-19 with BN and a CIFAR-10 head"),
    "resnet18": ModelEntry(resnet18, (3, 224, 224), "ResNet-18, ImageNet"),
    "resnet50": ModelEntry(resnet50, (3, 224, 224), "ResNet-50, ImageNet"),
    "resnet20": ModelEntry(lambda: CifarResNet(20), (3, 32, 32), "ResNet-20, CIFAR-10"),
    "resnet56": ModelEntry(lambda: CifarResNet(56), (3, 32, 32), "ResNet-56, CIFAR-10"),
    "resnet8_gray": ModelEntry(lambda: CifarResNet(8, in_channels=1), (1, 28, 28),
                               "CIFAR-style ResNet-8, 28x28 grey (Fashion-MNIST)"),
    "mobilenetv2": ModelEntry(MobileNetV2, (3, 224, 224), "MobileNetV2 1.0, ImageNet"),
    "efficientnet_b0": ModelEntry(EfficientNetB0, (3, 224, 224), "EfficientNet-B0, ImageNet"),
    "deeplabv3plus": ModelEntry(DeepLabV3Plus, (3, 512, 512),
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


def workload(name: str, batch: int = 1, *, input_bits: int = 16, weight_bits: int = 16,
             output_bits: int = 16):
    """Return the sedse `Workload` of a shipped model at its default input size."""
    from sedse.workload import from_torch

    entry = MODELS[name]
    return from_torch(build(name, meta=True), (batch, *entry.input_chw), name=name,
                      input_bits=input_bits, weight_bits=weight_bits, output_bits=output_bits)


__all__ = ["MODELS", "ModelEntry", "build", "workload"]
