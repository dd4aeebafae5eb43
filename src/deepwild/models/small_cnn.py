"""A small CNN for small images (digits, symbol crops): three conv stages, global pooling, a linear head."""

from __future__ import annotations

import torch
from torch import nn

from deepwild.models.registry import MODELS


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    # ReLU as a module (not F.relu): guided backpropagation overrides nn.ReLU modules.
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class SmallCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32, dropout: float = 0.1) -> None:
        super().__init__()
        self.conv1 = conv_block(in_channels, width)
        self.conv2 = conv_block(width, 2 * width)
        self.conv3 = conv_block(2 * width, 4 * width)
        self.pool = nn.MaxPool2d(2)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(4 * width, num_classes)

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        conv1 = self.conv1(x)  # (B, w, H, W)
        conv2 = self.conv2(self.pool(conv1))  # (B, 2w, H/2, W/2)
        conv3 = self.conv3(self.pool(conv2))  # (B, 4w, H/4, W/4)
        return {"conv1": conv1, "conv2": conv2, "conv3": conv3}

    def forward_head(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        pooled = features["conv3"].mean(dim=(2, 3))  # (B, 4w)
        return self.classifier(self.dropout(pooled))  # (B, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@MODELS.register("small_cnn")
def small_cnn(**kwargs: object) -> SmallCNN:
    return SmallCNN(**kwargs)  # type: ignore[arg-type]
