"""The paper's network (section 2.4): ResNet-50 on 1 x 112 x 112 inputs with its own head.

Stem 7x7/2 conv (64) + BN + ReLU + 3x3/2 max pool; bottleneck stages [3, 4, 6, 3] from
torchvision (projection block first in stages 2-4); then, instead of global average pooling,
a 3x3/2 max pool (padding 1): 4x4x2048 -> 2x2x2048 -> flatten 8192 -> FC hidden -> ReLU ->
dropout 0.25 -> 6 logits (softmax lives in the loss).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from lightning_fer.classes import CLASSES

HIDDEN_SIZE = 512  # FC hidden layer width when a config does not set model.hidden_size (the paper gives none)


class PaperResNet50(nn.Module):
    """ResNet-50 trunk (torchvision blocks) + the paper's pooling/flatten/FC head."""

    def __init__(self, num_classes: int = len(CLASSES), hidden_size: int = HIDDEN_SIZE, dropout: float = 0.25,
                 in_channels: int = 1, input_size: int = 112) -> None:
        super().__init__()
        trunk = ResNet(Bottleneck, [3, 4, 6, 3])
        trunk.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(trunk.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.stem = nn.Sequential(trunk.conv1, trunk.bn1, trunk.relu, trunk.maxpool)
        self.stages = nn.ModuleList([trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4])
        self.head_pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        side = _head_side(input_size)
        self.flatten_size = 2048 * side * side  # 8192 at 112 x 112
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.flatten_size, hidden_size),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, num_classes),
        )
        self.in_channels, self.input_size = in_channels, input_size

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps after the stem and after each stage (for shape tests and inspection)."""
        maps = [self.stem(x)]
        for stage in self.stages:
            maps.append(stage(maps[-1]))
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"Batch ndim should be 4 (N x C x H x W). Got {x.ndim}: shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels or x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            raise ValueError(f"expected N x {self.in_channels} x {self.input_size} x {self.input_size} input, "
                             f"got {tuple(x.shape)}")
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.head(self.head_pool(x))


def _head_side(input_size: int) -> int:
    """Spatial side after stem (/4), stages 2-4 (/8) and the head pool (/2, ceil): 112 -> 4 -> 2."""
    side = input_size
    for _ in range(5):  # conv1, maxpool, layer2, layer3, layer4 each halve (ceil with padding)
        side = (side + 1) // 2
    return (side + 1) // 2
