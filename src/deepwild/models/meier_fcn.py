"""The newspaper article segmentation network of Meier, Stadelmann, Stampfli, Arnold & Cieliebak
(ICDAR 2017), sized for CPUs.

Input: two channels at 256 × 256 — the grayscale page and the "OCR-preprocessed" layout image (text
blocks and pictures as filled boxes, rules kept). An encoder of conv / batch norm / ReLU stages, each
halving the resolution, goes down to 4 × 4 (six stages from 256), where two convolutions let every unit
see every cell, so the whole page: whether a gutter separates two articles or two columns of one is a
question about the page, not about the pixels near it. Transposed convolutions bring the maps back up,
each stage joined by the encoder's map of its resolution (skip connections), to a coarse per-pixel
logit; a small refinement net at full resolution, which sees that logit next to the two input channels,
sharpens the borders.

One output per pixel: the logit of "border or background" (1) against "article" (0), as in the paper;
dropout on the input and at the bottleneck, as the paper used dropout (0.3–0.5, the input included).
The paper's layer table, built literally, has 2.74 M parameters and takes 0.25–0.34 s per page forward
and ~14 s per training step of 16 pages on these CPUs. The default here (width 16 at full resolution,
doubling to 128: 2.1 M parameters, ~0.14 s per page) is sized so that the shipped model trains on two
CPU cores in about an hour; `width`/`max_width` widen it and `deep=True` doubles each stage's
convolutions (the "wider / deeper" variant).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deepwild.models.registry import MODELS


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    # ReLU modules (not F.relu) so that guided backpropagation and activation hooks see every unit.
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


def up_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


class MeierFCN(nn.Module):
    def __init__(self, in_channels: int = 2, width: int = 16, max_width: int = 128, stages: int = 6,
                 refine_width: int = 16, deep: bool = False, input_dropout: float = 0.1, dropout: float = 0.3) -> None:
        super().__init__()
        self.stages = stages
        widths = [min(width * 2 ** i, max_width) for i in range(stages + 1)]  # full resolution … 1/2^stages
        self.input_dropout = nn.Dropout2d(input_dropout)
        self.stem = conv_bn_relu(in_channels, widths[0])
        self.down = nn.ModuleList(
            nn.Sequential(conv_bn_relu(widths[i], widths[i + 1], stride=2),
                          *([conv_bn_relu(widths[i + 1], widths[i + 1])] if deep else []))
            for i in range(stages))
        self.bottleneck_dropout = nn.Dropout2d(dropout)
        # Two 3×3 convolutions on the 4×4 map: every unit sees every cell, so the whole page. Strided
        # stages alone reach 129 px of a 256-px page.
        self.context = nn.Sequential(conv_bn_relu(widths[-1], widths[-1]), conv_bn_relu(widths[-1], widths[-1]))
        self.up = nn.ModuleList(up_bn_relu(widths[i + 1], widths[i]) for i in reversed(range(stages)))
        # After each upsampling the skip map of that resolution is concatenated and merged.
        self.merge = nn.ModuleList(
            nn.Sequential(conv_bn_relu(2 * widths[i], widths[i]),
                          *([conv_bn_relu(widths[i], widths[i])] if deep else []))
            for i in reversed(range(stages)))
        self.coarse = nn.Conv2d(widths[0], 1, 1)
        self.refine = nn.Sequential(conv_bn_relu(1 + in_channels, refine_width),
                                    conv_bn_relu(refine_width, refine_width), nn.Conv2d(refine_width, 1, 1))

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The named maps, early to late: stem, down1 … downN, context (sees the whole page), upN … up1,
        the coarse logit and the refinement's hidden map."""
        height, width = x.shape[-2:]
        multiple = 2 ** self.stages
        pad_y, pad_x = -height % multiple, -width % multiple
        if pad_y or pad_x:  # any size works: pad with paper (0) on all sides, crop full-resolution maps back
            x = F.pad(x, (pad_x // 2, pad_x - pad_x // 2, pad_y // 2, pad_y - pad_y // 2))
        maps: dict[str, torch.Tensor] = {}
        skips = [self.stem(self.input_dropout(x))]
        maps["stem"] = skips[0]
        for index, stage in enumerate(self.down, start=1):
            skips.append(stage(skips[-1]))
            maps[f"down{index}"] = skips[-1]
        y = self.context(self.bottleneck_dropout(skips.pop()))
        maps["context"] = y
        for index, (up, merge) in enumerate(zip(self.up, self.merge)):
            y = merge(torch.cat([up(y), skips.pop()], dim=1))
            maps[f"up{self.stages - index}"] = y
        coarse = self.coarse(y)
        maps["coarse"] = coarse
        maps["refine"] = self.refine[:2](torch.cat([coarse, x], dim=1))
        if pad_y or pad_x:
            top, left = pad_y // 2, pad_x // 2
            for name in ("stem", "up1", "coarse", "refine"):
                maps[name] = maps[name][..., top:top + height, left:left + width]
        return maps

    def forward_head(self, maps: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """{"classes": (B, 2, H, W)}: logits of article and border from the named maps, as the
        interpretability probes read a dense predictor (one pixel explained at a time)."""
        logit = self.refine[2](maps["refine"])
        return {"classes": torch.cat([-logit, logit], dim=1)}

    def forward_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_head(self.forward_features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) logits of border/background (inputs of any size; multiples of 2^stages need no padding)."""
        return self.refine[2](self.forward_features(x)["refine"])


@MODELS.register("meier_fcn")
def meier_fcn(**kwargs: object) -> MeierFCN:
    return MeierFCN(**kwargs)  # type: ignore[arg-type]
