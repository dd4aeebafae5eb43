"""Networks prepared for inference only: batch normalisation folded into the convolution before it.

In eval mode a BatchNorm is a fixed per-channel affine map, so it can be merged into the preceding
convolution's weights and bias: the same function, one pass over the feature map less per layer
(a tenth of a fully convolutional network's CPU time on a page). Training keeps the unfolded network.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of `model` in eval mode in which every Conv2d directly followed by a BatchNorm2d inside an
    `nn.Sequential` carries the normalisation itself (the BatchNorm becomes an Identity)."""
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for i in range(len(module) - 1):
            conv, norm = module[i], module[i + 1]
            if not (isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats):
                continue
            scale = (norm.weight if norm.affine else torch.ones_like(norm.running_var)) / torch.sqrt(norm.running_var + norm.eps)
            shift = (norm.bias if norm.affine else torch.zeros_like(norm.running_mean)) - norm.running_mean * scale
            bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
            conv.weight.copy_(conv.weight * scale[:, None, None, None])
            conv.bias = nn.Parameter(bias * scale + shift)
            module[i + 1] = nn.Identity()
    return folded
