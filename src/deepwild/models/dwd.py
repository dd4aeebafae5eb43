"""The Deep Watershed Detector's network (Tuggener et al., ISMIR 2018), sized for CPUs.

A small fully convolutional encoder–decoder: a full-resolution stem, three stride-2 stages down to
1/8 with a dilated context block there (large symbols such as clefs and beams need a wide view),
a decoder back to 1/2 with skip connections, and one full-resolution refinement layer so that
tiny symbols (dots, thin stems) keep pixel accuracy. Three per-pixel heads:

- energy (full resolution, from the refinement layer): per energy group, logits over
  `energy_levels + 1` quantised distances to the nearest symbol centre (0 = none);
- classes (half resolution, from the decoder through a hidden layer of `head_width`): logits over
  the symbol classes, read on marker pixels. Which symbol a marker belongs to needs context (is the
  notehead on a line? hollow?), not pixel accuracy, and 79 classes need more than a thin
  full-resolution layer can carry;
- box (half resolution, same hidden layer): per energy group (log height, log width) of the symbol,
  relative to `box_unit` pixels, read on marker pixels.

`forward_maps` gives the maps at their own resolution (detection samples the half-resolution ones
only where symbols are); `forward` brings them all to the input's size (for training losses).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deepwild.models.registry import MODELS


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    # ReLU modules (not F.relu) so that guided backpropagation and activation hooks see every unit.
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class DWDNet(nn.Module):
    def __init__(self, num_classes: int, energy_levels: int = 8, widths: tuple[int, ...] = (12, 24, 48, 96),
                 in_channels: int = 1, groups: int = 1, head_width: int = 48) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.num_classes, self.energy_levels, self.groups = num_classes, energy_levels, groups
        self.stem = conv_bn_relu(in_channels, w0)  # (B, w0, H, W)
        self.down1 = nn.Sequential(conv_bn_relu(w0, w1, stride=2), conv_bn_relu(w1, w1))  # 1/2
        self.down2 = nn.Sequential(conv_bn_relu(w1, w2, stride=2), conv_bn_relu(w2, w2))  # 1/4
        self.down3 = nn.Sequential(conv_bn_relu(w2, w3, stride=2), conv_bn_relu(w3, w3))  # 1/8
        self.context = nn.Sequential(conv_bn_relu(w3, w3, dilation=2), conv_bn_relu(w3, w3, dilation=4))
        self.up2 = nn.Sequential(conv_bn_relu(w3 + w2, w2), conv_bn_relu(w2, w2))  # 1/4
        self.up1 = nn.Sequential(conv_bn_relu(w2 + w1, w1), conv_bn_relu(w1, w1))  # 1/2
        self.refine = conv_bn_relu(w1 + w0, w0)  # full resolution
        self.energy_head = nn.Conv2d(w0, groups * (energy_levels + 1), 1)
        self.head = conv_bn_relu(w1, head_width)  # 1/2
        self.class_head = nn.Conv2d(head_width, num_classes, 1)
        self.box_head = nn.Conv2d(head_width, 2 * groups, 1)

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        stem = self.stem(x)
        down1 = self.down1(stem)
        down2 = self.down2(down1)
        context = self.context(self.down3(down2))
        up2 = self.up2(torch.cat([_resize(context, down2), down2], dim=1))
        up1 = self.up1(torch.cat([_resize(up2, down1), down1], dim=1))
        refined = self.refine(torch.cat([_resize(up1, stem), stem], dim=1))
        return {"stem": stem, "down1": down1, "down2": down2, "context": context, "up2": up2, "up1": up1,
                "refined": refined, "head": self.head(up1)}

    def forward_head(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """energy (B, G·(K+1), H, W); classes (B, C, H/2, W/2); box (B, 2G, H/2, W/2)."""
        head = features["head"]
        return {"energy": self.energy_head(features["refined"]), "classes": self.class_head(head),
                "box": self.box_head(head)}

    def forward_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_head(self.forward_features(x))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = self.forward_maps(x)
        return {"energy": maps["energy"], "classes": _resize(maps["classes"], x), "box": _resize(maps["box"], x)}


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


@MODELS.register("dwd")
def dwd(**kwargs: object) -> DWDNet:
    if "widths" in kwargs:
        kwargs["widths"] = tuple(kwargs["widths"])  # type: ignore[arg-type]
    return DWDNet(**kwargs)  # type: ignore[arg-type]
