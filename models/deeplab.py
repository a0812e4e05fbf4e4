"""DeepLabV3+ (Chen et al. 2018) with a ResNet-50 backbone at output stride 16: dilated
layer4, ASPP with rates 6/12/18, decoder fusing the stride-4 features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .resnet import resnet50


def _cbr(c_in: int, c_out: int, k: int, dilation: int = 1) -> nn.Sequential:
    pad = 0 if k == 1 else dilation
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


class ASPP(nn.Module):
    def __init__(self, c_in: int, c: int = 256, rates: tuple[int, ...] = (6, 12, 18)) -> None:
        super().__init__()
        self.branches = nn.ModuleList([_cbr(c_in, c, 1)] + [_cbr(c_in, c, 3, r) for r in rates])
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), _cbr(c_in, c, 1))
        self.project = _cbr(c * (len(rates) + 2), c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.interpolate(self.image_pool(x), size=x.shape[-2:], mode="bilinear",
                               align_corners=False)
        return self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))


class DeepLabV3Plus(nn.Module):
    def __init__(self, num_classes: int = 21) -> None:
        super().__init__()
        self.backbone = resnet50(dilate_last=True)
        del self.backbone.fc
        self.aspp = ASPP(2048)
        self.low_level = _cbr(256, 48, 1)
        self.decoder = nn.Sequential(_cbr(256 + 48, 256, 3), _cbr(256, 256, 3))
        self.classifier = nn.Conv2d(256, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.backbone
        low = b.layer1(b.stem(x))
        high = self.aspp(b.layer4(b.layer3(b.layer2(low))))
        high = F.interpolate(high, size=low.shape[-2:], mode="bilinear", align_corners=False)
        y = self.classifier(self.decoder(torch.cat([high, self.low_level(low)], dim=1)))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
