"""mini-XCEPTION (Arriaga et al. 2017, arXiv 1710.07557) and a small registry of variants.

Layout of the original: two 3x3 conv stem layers (8 channels), four residual modules of
depthwise-separable convolutions (16/32/64/128 channels, each halving the resolution), a final
3x3 conv to the class count, global average pooling. The network returns logits; softmax is
applied by the loss in training and inside the exported ONNX graph for inference.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ARCHITECTURES  # name -> constructor keyword arguments; the model card records both


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 then pointwise 1x1 (Keras ``SeparableConv2D``, no bias), then BatchNorm."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(
            nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )


class ResidualModule(nn.Module):
    """sepconv-BN-ReLU, sepconv-BN, 3x3/2 max-pool; plus a strided 1x1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=2, bias=False), nn.BatchNorm2d(c_out))
        self.body = nn.Sequential(
            SeparableConv(c_in, c_out), nn.ReLU(inplace=True),
            SeparableConv(c_out, c_out),
            nn.MaxPool2d(3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class MiniXception(nn.Module):
    def __init__(self, num_classes: int = 7, stem: int = 8, widths=(16, 32, 64, 128),
                 in_channels: int = 1, dropout: float = 0.0):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem, 3, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True),
            nn.Conv2d(stem, stem, 3, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True),
        )
        mods, c = [], stem
        for w in widths:
            mods.append(ResidualModule(c, w))
            c = w
        self.modules_ = nn.Sequential(*mods)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = nn.Conv2d(c, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.modules_(self.stem(x))
        return self.head(self.dropout(x)).mean(dim=(2, 3))


def build_model(arch: str, num_classes: int) -> MiniXception:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
    return MiniXception(num_classes=num_classes, **ARCHITECTURES[arch])


class WithSoftmax(nn.Module):
    """Wraps a logits network so the exported graph outputs probabilities."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)
