"""Feature visualisation (Olah, Mordvintsev & Schubert, "Feature Visualization", Distill 2017).

What does a channel of a layer respond to? Two answers, side by side:

- An input optimised to excite it: gradient ascent on the channel's mean activation (classifiers) or
  on its centre unit (fully convolutional detectors), or on a class logit. Plain pixel ascent finds
  high-frequency patterns that excite the unit without looking like anything; two of the paper's
  priors make the pictures readable:
    * a decorrelated parameterisation: the image is the inverse FFT of a learned spectrum scaled by
      1/frequency, so that all frequencies learn at the same rate (in pixel space the gradient starves
      the low ones), then a fixed colour decorrelation (trivial for grayscale) and a sigmoid into the
      data's value range;
    * transformation robustness: every step the image is padded with background, then randomly shifted,
      scaled and rotated before the network sees it, so that patterns which only work at one exact
      pixel alignment do not survive.
- The validation inputs that excite it most; for a map, the crop of the unit's receptive field
  around its strongest position. Real data, so no prior can invent what is shown; often the more
  telling of the two.

Everything random comes from one generator seeded by `FeatureVisConfig.seed` (same seed, same
pictures on the same device), never from the global RNG, so a training run that draws pictures
mid-way consumes random numbers exactly as one that does not.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from deepwild.core.errors import ConfigError
from deepwild.interpret.probe import Probe

LOGITS = "logits"  # the pseudo-layer of class scores (a classifier's logits, a detector's centre-pixel class logits)
Objective = Literal["mean", "centre"]


@dataclass(frozen=True)
class FeatureVisConfig:
    steps: int = 48  # optimisation steps per picture
    lr: float = 0.15  # Adam on the spectrum: the paper takes 0.05 and ten times the steps
    decay_power: float = 1.0  # spectrum scaled by 1 / frequency ** decay_power
    pad: float = 0.125  # background padded around the image before the transforms, as a share of its side
    jitter: float = 0.06  # largest random shift, as a share of the side
    scale: float = 0.1  # random scale drawn from [1 - scale, 1 + scale]
    rotate_degrees: float = 8.0  # random rotation drawn from ±rotate_degrees
    redirect_share: float = 0.25  # share of the steps (the first) with redirected ReLU gradients, see below
    top_k: int = 4  # top-activating pool inputs shown per channel
    pool_size: int = 256  # pool inputs searched for them
    min_crop: float = 0.25  # their crops span at least this share of the input (a 3-px field shows nothing)
    seed: int = 0

    def validate(self) -> None:
        if self.steps < 1 or self.top_k < 1 or self.pool_size < 1:
            raise ConfigError("steps, top_k and pool_size must each be at least 1")
        if self.lr <= 0 or self.decay_power < 0:
            raise ConfigError("lr must be positive and decay_power not negative")
        for name in ("pad", "jitter", "scale", "min_crop", "redirect_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must lie between 0 and 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Target:
    layer: str  # a map of `model.forward_features`, or LOGITS
    channel: int  # the map's channel, or the class index
    name: str = ""  # shown with the picture: "#12", a class name


@dataclass(frozen=True)
class ChannelPicture:
    target: Target
    image: np.ndarray  # (C, h, w) the optimised input; for a centre unit cut to its receptive field
    activation: float  # the target's value for the optimised input, untransformed
    best_pool_activation: float  # the largest value any pool input reaches
    top_inputs: np.ndarray  # (k, C, s, s) the pool inputs (or receptive-field crops) that excite it most
    top_activations: tuple[float, ...]  # their spatial-maximum activations (logits: their scores)
    top_indices: tuple[int, ...]  # their places in the probe's pool
    predicted: str | None = None  # logit targets: the class the model gives the optimised input


@dataclass(frozen=True)
class FeatureVisResult:
    pictures: tuple[ChannelPicture, ...]
    layers: tuple[str, ...]  # picture rows, early to late, LOGITS last when present
    receptive_fields: dict[str, int]  # effective receptive field per layer (px, side of a square)
    value_range: tuple[float, float]  # the input range pictures are drawn in
    objective: Objective
    seconds: float

    def row(self, layer: str) -> list[ChannelPicture]:
        return [p for p in self.pictures if p.target.layer == layer]

    @property
    def classes_recognised(self) -> tuple[int, int]:
        """(class pictures the model classifies as their class, class pictures)."""
        logits = self.row(LOGITS)
        return sum(p.predicted == p.target.name for p in logits), len(logits)


# -- the image: a 1/f-scaled spectrum, decorrelated, squashed into the value range --------------------


def fourier_scale(height: int, width: int, decay_power: float = 1.0) -> torch.Tensor:
    """(height, width // 2 + 1) factors that give every frequency of `rfft2` the same learning rate."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    frequency = torch.sqrt(fx ** 2 + fy ** 2).clamp_min(1.0 / max(height, width))  # no infinite DC gain
    return frequency ** -decay_power * math.sqrt(height * width)


def fourier_image(spectrum: torch.Tensor, scale: torch.Tensor, size: tuple[int, int],
                  value_range: tuple[float, float], colour_basis: torch.Tensor | None = None) -> torch.Tensor:
    """(B, C, H, W) images in value_range from spectra (B, C, H, W // 2 + 1, 2) (real, imaginary).

    colour_basis (C, C) maps decorrelated channels to the input's (for RGB the square root of the
    colour covariance); None keeps them, which is exact for one channel."""
    raw = torch.fft.irfft2(torch.view_as_complex(spectrum) * scale, s=size) / 4.0  # /4: starts near mid-range
    if colour_basis is not None:
        raw = torch.einsum("cd,bdhw->bchw", colour_basis.to(raw), raw)
    low, high = value_range
    return low + (high - low) * torch.sigmoid(raw)


def random_transform(images: torch.Tensor, config: FeatureVisConfig, generator: torch.Generator,
                     background: float) -> torch.Tensor:
    """Pad with background, then shift, scale and rotate each image at random; same size out."""
    batch, _, height, width = images.shape
    pad = round(config.pad * max(height, width))
    padded = F.pad(images, (pad, pad, pad, pad), value=background)
    angle = (torch.rand(batch, generator=generator) * 2 - 1) * math.radians(config.rotate_degrees)
    zoom = 1 + (torch.rand(batch, generator=generator) * 2 - 1) * config.scale
    shift = (torch.rand(batch, 2, generator=generator) * 2 - 1) * config.jitter
    aspect = (height + 2 * pad) / (width + 2 * pad)  # rotate in pixels, not in normalised coordinates
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin * aspect, shift[:, 0] * 2 * width / (width + 2 * pad)], 1),
                         torch.stack([sin / aspect, cos, shift[:, 1] * 2 * height / (height + 2 * pad)], 1)], 1)
    grid = F.affine_grid(theta.to(images), list(padded.shape), align_corners=False)
    moved = F.grid_sample(padded, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return moved[:, :, pad:pad + height, pad:pad + width]


# -- what is maximised -------------------------------------------------------------------------------


def scores_from_maps(model: torch.nn.Module, maps: dict[str, torch.Tensor], kind: str) -> torch.Tensor:
    """(B, classes) as `Probe.scores`, from feature maps already computed (one forward pass, not two)."""
    head = model.forward_head(maps)  # type: ignore[operator]
    if kind == "classifier":
        return head
    classes = head["classes"]  # (B, C, h, w): the detector is explained at the centre pixel
    return classes[:, :, classes.shape[2] // 2, classes.shape[3] // 2]


def target_values(model: torch.nn.Module, x: torch.Tensor, targets: Sequence[Target], objective: Objective,
                  kind: str) -> torch.Tensor:
    """(B,) the value of targets[b] for input x[b]: channel mean or centre unit, or class score."""
    return values_from_maps(model, model.forward_features(x), targets, objective, kind)  # type: ignore[operator]


def values_from_maps(model: torch.nn.Module, maps: dict[str, torch.Tensor], targets: Sequence[Target],
                     objective: Objective, kind: str) -> torch.Tensor:
    """`target_values` from feature maps already computed."""
    some_map = next(iter(maps.values()))  # its device and dtype are the input's
    values = some_map.new_zeros(len(targets))
    # One gather per layer, not one per target: each indexing op's backward fills a map-sized zero
    # tensor, which for a few dozen targets cost more than the network itself.
    for layer in dict.fromkeys(t.layer for t in targets):
        rows = torch.tensor([i for i, t in enumerate(targets) if t.layer == layer], device=some_map.device)
        channels = torch.tensor([t.channel for t in targets if t.layer == layer], device=some_map.device)
        if layer == LOGITS:
            chosen = scores_from_maps(model, maps, kind)[rows, channels]
        else:
            units = maps[layer][rows, channels]  # (n, h, w)
            centre = units[:, units.shape[1] // 2, units.shape[2] // 2]
            chosen = units.mean(dim=(1, 2)) if objective == "mean" else centre
        values = values.index_add(0, rows, chosen)
    return values


def optimise_inputs(model: torch.nn.Module, targets: Sequence[Target], shape: tuple[int, int, int],
                    value_range: tuple[float, float], background: float, objective: Objective, kind: str,
                    config: FeatureVisConfig) -> torch.Tensor:
    """(B, C, H, W) one optimised input per target, all optimised together in one batch."""
    channels, height, width = shape
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(config.seed)
    scale = fourier_scale(height, width, config.decay_power).to(device)
    spectrum = (0.01 * torch.randn(len(targets), channels, height, width // 2 + 1, 2, generator=generator))
    spectrum = spectrum.to(device).requires_grad_(True)
    optimiser = torch.optim.Adam([spectrum], lr=config.lr)
    redirected = round(config.redirect_share * config.steps)
    with evaluation_mode(model), torch.enable_grad():
        for step in range(config.steps):
            image = fourier_image(spectrum, scale, (height, width), value_range)
            seen = random_transform(image, config, generator, background)
            with _redirected_relus(model, step < redirected):
                loss = -target_values(model, seen, targets, objective, kind).sum()
                # The gradient of the spectrum only: the parameters' .grad (the trainer's) stays untouched.
                spectrum.grad = torch.autograd.grad(loss, spectrum)[0]
            optimiser.step()
        return fourier_image(spectrum.detach(), scale, (height, width), value_range)


class _RedirectedReLU(torch.autograd.Function):
    """ReLU forward; backward lets the gradient through switched-off units where it would switch them on,
    for the batch elements whose gradient the plain ReLU stops entirely.

    A unit that is off for the grey starting image gets no gradient through a plain ReLU and stays off for
    good: a blank picture. Olah et al. redirect the gradient for the first steps only, and only where
    nothing else flows, so live targets keep their exact gradient and every final image is optimised for
    the true network."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp_min(0.0)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors  # type: ignore[attr-defined]
        on = x > 0
        plain = grad * on
        stopped = ~plain.flatten(1).any(dim=1)  # (B,) elements whose gradient the plain ReLU cuts off entirely
        if not stopped.any():
            return plain
        # Descent moves x by -grad: where a unit is off, pass only the gradient that pushes it up.
        redirected = grad * (on | (grad < 0))
        return torch.where(stopped.view(-1, *([1] * (grad.dim() - 1))), redirected, plain)


@contextlib.contextmanager
def _redirected_relus(model: torch.nn.Module, active: bool) -> Iterator[None]:
    """Every nn.ReLU module of the model computes `_RedirectedReLU` while active (forward hooks, removed after)."""
    if not active:
        yield
        return
    handles = [module.register_forward_hook(lambda _module, inputs, _output: _RedirectedReLU.apply(inputs[0]))
               for module in model.modules() if isinstance(module, torch.nn.ReLU)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def evaluation_mode(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode (BatchNorm's running statistics, no dropout) for a while; a training run's mode comes back."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


# -- what the data says: receptive fields and top-activating inputs ----------------------------------


def receptive_fields(model: torch.nn.Module, layers: Sequence[str], inputs: torch.Tensor,
                     mass: float = 0.9) -> dict[str, int]:
    """Per layer, the side (px, odd) of the square around a centre unit that holds `mass` of its input
    gradient: the effective field on real inputs, smaller than the theoretical one, whose rim hardly counts.
    One forward pass for all layers."""
    height, width = inputs.shape[-2:]
    fields = {}
    with evaluation_mode(model), torch.enable_grad():
        x = inputs.detach().clone().requires_grad_(True)
        maps = model.forward_features(x)  # type: ignore[operator]
        for index, layer in enumerate(layers):
            h, w = maps[layer].shape[-2:]
            centre = maps[layer][:, :, h // 2, w // 2].sum()
            (gradient,) = torch.autograd.grad(centre, x, retain_graph=index < len(layers) - 1)
            fields[layer] = _square_holding(gradient.abs().sum(dim=(0, 1)).cpu(),  # (H, W)
                                            _input_position(h // 2, h, height), _input_position(w // 2, w, width), mass)
    return fields


def receptive_field(model: torch.nn.Module, layer: str, inputs: torch.Tensor, mass: float = 0.9) -> int:
    return receptive_fields(model, (layer,), inputs, mass)[layer]


def _square_holding(weight: torch.Tensor, cy: float, cx: float, mass: float) -> int:
    """Side of the smallest square around (cy, cx) that holds `mass` of weight (H, W)."""
    height, width = weight.shape
    total = float(weight.sum())
    if total == 0.0:
        return int(max(height, width))  # a dead centre unit: say "everything" rather than guess
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    distance = torch.maximum((ys - cy).abs(), (xs - cx).abs()).flatten()  # square rings around the unit
    order = distance.argsort()
    reached = weight.flatten()[order].cumsum(0) >= mass * total
    radius = float(distance[order][int(reached.nonzero()[0])])
    return int(min(2 * math.ceil(radius) + 1, max(height, width)))


def _input_position(index: int, map_size: int, input_size: int) -> float:
    """Input pixel (float) under the centre of map cell `index` (map cells tile the input)."""
    return (index + 0.5) * input_size / map_size - 0.5


@dataclass(frozen=True)
class PoolResponses:
    peak: dict[str, torch.Tensor]  # layer → (N, C) each input's strongest activation per channel
    peak_at: dict[str, torch.Tensor]  # layer → (N, C) where (flat index into the map)
    objective: dict[str, torch.Tensor]  # layer → (N, C) the optimised objective (mean or centre unit)
    map_shapes: dict[str, tuple[int, int]]
    scores: torch.Tensor  # (N, classes)

    def best(self, target: Target) -> float:
        """The largest value of the optimised objective that any pool input reaches."""
        if target.layer == LOGITS:
            return float(self.scores[:, target.channel].max())
        return float(self.objective[target.layer][:, target.channel].max())


def pool_responses(model: torch.nn.Module, pool: torch.Tensor, layers: Sequence[str], objective: Objective,
                   kind: str, batch_size: int = 64) -> PoolResponses:
    """Per-channel summaries of the pool's activations (the maps themselves would not fit for big pools)."""
    device = next(model.parameters()).device
    peak: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    peak_at: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    value: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    shapes: dict[str, tuple[int, int]] = {}
    scores = []
    with evaluation_mode(model), torch.no_grad():
        for start in range(0, len(pool), batch_size):
            maps = model.forward_features(pool[start:start + batch_size].to(device))  # type: ignore[operator]
            scores.append(scores_from_maps(model, maps, kind).cpu())
            for layer in layers:
                m = maps[layer]  # (B, C, h, w)
                shapes[layer] = (m.shape[2], m.shape[3])
                best, where = m.flatten(2).max(dim=2)
                peak[layer].append(best.cpu())
                peak_at[layer].append(where.cpu())
                centre = m[:, :, m.shape[2] // 2, m.shape[3] // 2]
                value[layer].append((m.mean(dim=(2, 3)) if objective == "mean" else centre).cpu())
    return PoolResponses({k: torch.cat(v) for k, v in peak.items()}, {k: torch.cat(v) for k, v in peak_at.items()},
                         {k: torch.cat(v) for k, v in value.items()}, shapes, torch.cat(scores))


def crop_around(image: torch.Tensor, cy: float, cx: float, side: int, background: float) -> torch.Tensor:
    """(C, side, side) window of image (C, H, W) centred on (cy, cx), background outside."""
    half = side // 2
    padded = F.pad(image, (side, side, side, side), value=background)
    y0, x0 = int(round(cy)) - half + side, int(round(cx)) - half + side
    return padded[:, y0:y0 + side, x0:x0 + side]


def top_inputs(pool: torch.Tensor, responses: PoolResponses, target: Target, k: int, crop_side: int,
               background: float) -> tuple[torch.Tensor, tuple[float, ...], tuple[int, ...]]:
    """The k pool inputs that excite target most: (k, C, s, s) receptive-field crops (whole inputs for
    logits), their activations and their pool indices."""
    if target.layer == LOGITS:
        values, indices = responses.scores[:, target.channel].topk(min(k, len(pool)))
        return pool[indices], tuple(values.tolist()), tuple(indices.tolist())
    values, indices = responses.peak[target.layer][:, target.channel].topk(min(k, len(pool)))
    h, w = responses.map_shapes[target.layer]
    height, width = pool.shape[-2:]
    crops = []
    for index in indices.tolist():
        flat = int(responses.peak_at[target.layer][index, target.channel])
        cy, cx = _input_position(flat // w, h, height), _input_position(flat % w, w, width)
        crops.append(crop_around(pool[index], cy, cx, crop_side, background))
    return torch.stack(crops), tuple(values.tolist()), tuple(indices.tolist())


def strongest_channels(responses: PoolResponses, layer: str, count: int) -> list[int]:
    """The channels that respond most to real data (mean over the pool of each input's peak): dead or
    barely used channels make blank pictures, so they are not the ones to look at first."""
    strength = responses.peak[layer].mean(dim=0)
    return sorted(strength.topk(min(count, len(strength))).indices.tolist())


# -- all together ------------------------------------------------------------------------------------


def visualise_features(model: torch.nn.Module, probe: Probe, layers: Sequence[str] | None = None, channels: int = 6,
                       classes: Sequence[int] | None = None, config: FeatureVisConfig = FeatureVisConfig()
                       ) -> FeatureVisResult:
    """Optimised inputs and top-activating pool inputs for `channels` channels of each layer (the probe's
    layers by default) and for class logits (`classes`; default: all if at most 16, else the pool's most
    common ones, up to `channels`)."""
    config.validate()
    started = time.perf_counter()
    layers = tuple(layers if layers is not None else probe.layers)
    objective: Objective = "mean" if probe.kind == "classifier" else "centre"
    pool = probe.pool[:config.pool_size].detach().float().cpu()  # batches go to the model's device as needed
    value_range = (float(pool.min()), float(pool.max()))
    background = float(pool.median())  # paper (or the digits' dark ground): what padding should look like
    device = next(model.parameters()).device
    responses = pool_responses(model, pool, layers, objective, probe.kind)
    fields = receptive_fields(model, layers, pool[:16].to(device)) if layers else {}
    targets = [Target(layer, c, f"#{c}") for layer in layers for c in strongest_channels(responses, layer, channels)]
    targets += [Target(LOGITS, c, probe.class_names[c]) for c in _chosen_classes(probe, classes, channels)]
    channels_in, height, width = pool.shape[1:]
    windows = [optimisation_window(target, objective, fields, height, width) for target in targets]
    pictures: dict[int, ChannelPicture] = {}
    for window in sorted(set(windows)):  # one batch per window size, all targets of a size together
        group = [i for i, w in enumerate(windows) if w == window]
        chosen = [targets[i] for i in group]
        images = optimise_inputs(model, chosen, (channels_in, *window), value_range, background, objective,
                                 probe.kind, config).cpu()
        with evaluation_mode(model), torch.no_grad():
            maps = model.forward_features(images.to(device))  # type: ignore[operator]
            reached = values_from_maps(model, maps, chosen, objective, probe.kind).cpu()
            scores = scores_from_maps(model, maps, probe.kind).cpu()
        predicted = _predicted_classes(scores, chosen, probe.class_groups)
        for row, (index, target) in enumerate(zip(group, chosen)):
            is_logit, image = target.layer == LOGITS, images[row]
            if objective == "centre" and not is_logit:  # only the centre unit's receptive field was optimised
                image = _cut_to_field(image, responses.map_shapes[target.layer], (height, width), fields[target.layer],
                                      value_range[0])
            # Crops with odd sides, centred on the unit; at least min_crop of the input, so there is context.
            side = height if is_logit else min(height, max(fields[target.layer], round(config.min_crop * height)) | 1)
            crops, top_values, top_indices = top_inputs(pool, responses, target, config.top_k, side, background)
            pictures[index] = ChannelPicture(
                target=target, image=image.numpy(), activation=float(reached[row]),
                best_pool_activation=responses.best(target), top_inputs=crops.numpy(), top_activations=top_values,
                top_indices=top_indices, predicted=probe.class_names[int(predicted[row])] if is_logit else None)
    rows = (*layers, LOGITS) if any(t.layer == LOGITS for t in targets) else layers
    return FeatureVisResult(pictures=tuple(pictures[i] for i in range(len(targets))), layers=rows,
                            receptive_fields=fields, value_range=value_range, objective=objective,
                            seconds=time.perf_counter() - started)


def _cut_to_field(image: torch.Tensor, map_shape: tuple[int, int], input_shape: tuple[int, int], field: int,
                  background: float) -> torch.Tensor:
    """The receptive field (at least 9 px, for some context) of the centre unit an image (C, h, w) was optimised for."""
    window = image.shape[-2:]
    # The map of a window is as much smaller than the window as the probe's map is than the probe's input.
    h, w = (round(window[i] * map_shape[i] / input_shape[i]) for i in (0, 1))
    return crop_around(image, _input_position(h // 2, h, window[0]), _input_position(w // 2, w, window[1]),
                       max(field, 9), background)


def optimisation_window(target: Target, objective: Objective, fields: dict[str, int], height: int,
                        width: int) -> tuple[int, int]:
    """The input size a target is optimised at. A centre unit sees only its receptive field, so a window a
    little larger (a multiple of 16, so that every stride divides it) gives the same picture for far less
    work than the whole input: a detector's early layers see a few pixels of a 96-px crop."""
    if objective == "mean" or target.layer == LOGITS:
        return height, width
    side = 16 * math.ceil(1.5 * fields[target.layer] / 16)
    return min(height, side), min(width, side)


def _predicted_classes(scores: torch.Tensor, targets: Sequence[Target], class_groups: torch.Tensor | None
                       ) -> torch.Tensor:
    """(B,) the class the model gives each input; a detector decides a marker's class within the target
    class's energy group (the other groups' logits are not trained there)."""
    if class_groups is None:
        return scores.argmax(dim=1)
    groups = class_groups.cpu()
    own = torch.tensor([int(groups[t.channel]) if t.layer == LOGITS else -1 for t in targets])
    masked = scores.masked_fill((groups[None, :] != own[:, None]) & (own[:, None] >= 0), float("-inf"))
    return masked.argmax(dim=1)


def _chosen_classes(probe: Probe, classes: Sequence[int] | None, count: int) -> list[int]:
    if classes is not None:
        return list(classes)
    if len(probe.class_names) <= 16:
        return list(range(len(probe.class_names)))
    # The pool's classes in order of first appearance: probes list the most common classes first.
    return list(dict.fromkeys(probe.pool_labels.tolist()))[:count]
