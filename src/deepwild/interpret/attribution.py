"""Attribution: which input pixels a class score depends on, by three methods (captum).

- **Grad-CAM** (Selvaraju et al. 2017): a conv layer's maps weighted by their spatially averaged
  gradients, ReLU'd, upsampled to the input. Coarse (the layer's resolution) but class-specific.
- **Guided backpropagation** (Springenberg et al. 2015): the input gradient with every ReLU passing
  back only positive gradients where its input was positive. Sharp, edge-like, weakly class-specific.
  captum overrides `nn.ReLU` modules only, which is why our models use ReLU modules, never `F.relu`.
- **Integrated gradients** (Sundararajan et al. 2017): the gradient averaged along the straight path
  from a baseline (here: no ink, all zeros) to the input, times (input − baseline). Complete: the
  attributions sum to score(input) − score(baseline), up to the path integral's discretisation
  (`ig_delta`).

Everything goes through a `Probe`: a classifier is explained by its logits, the detector by its class
logits at the centre pixel of a symbol-centred crop. The maps are computed for a batch of inputs at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deepwild.core.errors import ConfigError
from deepwild.core.io import atomic_path
from deepwild.interpret.probe import Probe

METHODS = ("gradcam", "guided", "ig")
TITLES = {"gradcam": "Grad-CAM", "guided": "guided backprop", "ig": "integrated gradients"}
ROBUST_PERCENTILE = 99.0  # guided backprop and IG maps are scaled by this percentile of |map|: a few extreme pixels
# would otherwise turn the rest black


@dataclass(frozen=True)
class AttributionConfig:
    methods: tuple[str, ...] = METHODS
    layer: str | None = None  # Grad-CAM layer: a `forward_features` name; None = the probe's last layer
    ig_steps: int = 32  # points on the integration path (Gauss-Legendre); training hooks use fewer
    batch_size: int = 64  # at most this many images per forward pass (IG multiplies inputs by ig_steps)

    def validate(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ConfigError(f"unknown attribution method(s) {', '.join(unknown) or '(none given)'}; "
                              f"valid: {', '.join(METHODS)}")
        if self.ig_steps < 2 or self.batch_size < 1:
            raise ConfigError("ig_steps must be at least 2 and batch_size at least 1")


@dataclass(frozen=True)
class Attributions:
    inputs: np.ndarray  # (N, H, W) the inputs' first channel, as the network sees them
    targets: np.ndarray  # (N,) the class explained for each input
    predicted: np.ndarray  # (N,) the class with the highest score (detector: within the target's energy group)
    probabilities: np.ndarray  # (N,) softmax probability of the predicted class (over the same classes)
    class_names: tuple[str, ...]
    layer: str  # the Grad-CAM layer
    raw: dict[str, np.ndarray]  # method → (N, H, W) as computed (channels summed)
    maps: dict[str, np.ndarray] = field(default_factory=dict)  # method → (N, H, W) for display: Grad-CAM
    # and guided backprop in [0, 1], IG signed in [−1, 1]
    ig_delta: np.ndarray | None = None  # (N,) Σ IG − (score(x) − score(baseline)): the completeness gap
    score_gap: np.ndarray | None = None  # (N,) score(x) − score(baseline), to judge ig_delta against


class _Scores(nn.Module):
    """The probe's scores as a module: captum's guided backprop hooks the ReLU modules below it."""

    def __init__(self, model: nn.Module, probe: Probe) -> None:
        super().__init__()
        self.model, self.probe = model, probe

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.probe.scores(self.model, x)  # (B, classes)


def feature_module(model: nn.Module, name: str, sample: torch.Tensor) -> nn.Module:
    """The module whose output is `forward_features(x)[name]`: by name, else by watching one forward pass."""
    try:
        return model.get_submodule(name)
    except AttributeError:
        pass
    producers: dict[int, nn.Module] = {}
    # The outermost module that returns the tensor registers last (hooks of children fire first).
    handles = [module.register_forward_hook(lambda module, _, output: producers.__setitem__(id(output), module))
               for module_name, module in model.named_modules() if module_name]
    try:
        with torch.no_grad():
            maps = model.forward_features(sample)  # type: ignore[operator]
    finally:
        for handle in handles:
            handle.remove()
    if name not in maps or id(maps[name]) not in producers:
        raise ConfigError(f"layer {name!r} is not a module output of {type(model).__name__}; "
                          f"its feature maps: {', '.join(maps)}")
    return producers[id(maps[name])]


def attribute(model: nn.Module, probe: Probe, config: AttributionConfig = AttributionConfig(),
              inputs: torch.Tensor | None = None, targets: torch.Tensor | None = None) -> Attributions:
    """Attribution maps of `targets` (default: the probe's labels) for `inputs` (default: the probe's inputs).

    The model is put in eval mode for the computation (batch norm uses its running statistics) and
    returned to its mode afterwards; parameter gradients are left untouched.
    """
    from captum.attr import GuidedBackprop, IntegratedGradients, LayerAttribution, LayerGradCam

    config.validate()
    device = next(model.parameters()).device
    x = (probe.inputs if inputs is None else inputs).to(device).float()  # (N, C, H, W)
    target = (probe.labels if targets is None else targets).to(device).long()  # (N,)
    layer = config.layer or probe.layers[-1]
    scores = _Scores(model, probe)
    was_training = model.training
    model.eval()
    raw: dict[str, torch.Tensor] = {}
    delta = gap = None
    try:
        with torch.no_grad():
            logits = _batched(lambda chunk, _: scores(chunk), x, target, config.batch_size).float()  # (N, classes)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(backward hooks|require gradients|requires_grad).*")
            if "gradcam" in config.methods:
                module = feature_module(model, layer, x[:1])
                grad_cam = LayerGradCam(scores, module)
                try:
                    cam = _batched(lambda chunk, wanted: grad_cam.attribute(chunk, target=wanted, relu_attributions=True),
                                   x, target, config.batch_size)  # (N, 1, h, w)
                except RuntimeError as error:
                    if "not have been used in the graph" not in str(error):
                        raise
                    raise ConfigError(f"layer {layer!r} does not feed the scores being explained; "
                                      f"choose one of the layers before them") from None
                raw["gradcam"] = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), "bilinear")[:, 0]
            if "guided" in config.methods:
                if not any(isinstance(m, nn.ReLU) for m in model.modules()):
                    raise ConfigError(f"guided backpropagation needs nn.ReLU modules; {type(model).__name__} has none")
                guided = GuidedBackprop(scores)
                raw["guided"] = _batched(lambda chunk, wanted: guided.attribute(chunk, target=wanted),
                                         x, target, config.batch_size).sum(dim=1)
            if "ig" in config.methods:
                baseline = torch.zeros_like(x)  # no ink: inputs are ink-bright, paper 0
                integrated = IntegratedGradients(scores)
                per_chunk = max(1, config.batch_size // config.ig_steps)  # each input is ig_steps path points
                parts = [integrated.attribute(x[i:i + per_chunk], baselines=baseline[i:i + per_chunk],
                                              target=target[i:i + per_chunk], n_steps=config.ig_steps,
                                              internal_batch_size=max(config.batch_size, per_chunk),
                                              return_convergence_delta=True) for i in range(0, len(x), per_chunk)]
                raw["ig"] = torch.cat([ig for ig, _ in parts]).sum(dim=1)
                delta = torch.cat([d for _, d in parts])
                with torch.no_grad():
                    rows = torch.arange(len(x), device=device)
                    at_baseline = _batched(lambda chunk, _: scores(chunk), baseline, target, config.batch_size).float()
                    gap = logits[rows, target] - at_baseline[rows, target]
    finally:
        model.train(was_training)
    if probe.class_groups is not None:  # the detector decides a marker's class within its energy group
        groups = probe.class_groups.to(device)
        logits = logits.masked_fill(groups[None, :] != groups[target][:, None], float("-inf"))
    probabilities = torch.softmax(logits, dim=1)
    raw_np = {method: value.detach().float().cpu().numpy() for method, value in raw.items()}
    return Attributions(
        inputs=x[:, 0].cpu().numpy(), targets=target.cpu().numpy(), predicted=logits.argmax(dim=1).cpu().numpy(),
        probabilities=probabilities.max(dim=1).values.cpu().numpy(), class_names=probe.class_names, layer=layer,
        raw=raw_np, maps={method: normalise(method, value) for method, value in raw_np.items()},
        ig_delta=delta.detach().cpu().numpy() if delta is not None else None,
        score_gap=gap.cpu().numpy() if gap is not None else None)


def _batched(function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor, target: torch.Tensor,
             batch_size: int) -> torch.Tensor:
    """function(inputs, targets) over chunks of at most batch_size inputs, concatenated."""
    return torch.cat([function(x[start:start + batch_size], target[start:start + batch_size])
                      for start in range(0, len(x), batch_size)])


def normalise(method: str, maps: np.ndarray) -> np.ndarray:
    """Per input: Grad-CAM / its maximum; guided backprop |g| / a high percentile, clipped to [0, 1];
    IG / a high percentile of |IG|, clipped to [−1, 1] (the sign says for or against the class)."""
    maps = np.asarray(maps, np.float32)
    flat = maps.reshape(len(maps), -1)
    if method == "gradcam":
        scale = flat.max(axis=1)
        values = maps
    else:
        values = np.abs(maps) if method == "guided" else maps
        scale = np.percentile(np.abs(flat), ROBUST_PERCENTILE, axis=1)
    scale = np.where(scale > 1e-12, scale, 1.0)[:, None, None]
    return np.clip(values / scale, -1.0 if method == "ig" else 0.0, 1.0).astype(np.float32)


def colour(method: str, image: np.ndarray, value: np.ndarray) -> np.ndarray:
    """An (H, W, 3) picture of one normalised map: Grad-CAM over the input, guided backprop in `magma`,
    IG in a diverging map (red for the class, blue against it, white = 0)."""
    from matplotlib import colormaps  # (no pyplot: colour maps only)

    if method == "gradcam":
        picture = 0.4 * input_picture(image) + 0.6 * colormaps["jet"](value)[..., :3]
    elif method == "guided":
        picture = colormaps["magma"](value)[..., :3]
    else:
        picture = colormaps["bwr"]((value + 1.0) / 2.0)[..., :3]
    return np.clip(picture, 0.0, 1.0)


def input_picture(image: np.ndarray) -> np.ndarray:
    """The input as the network sees it (ink bright), shown as dark ink on white paper."""
    grey = 1.0 - np.clip(image, 0.0, 1.0)
    return np.repeat(grey[..., None], 3, axis=2)


def row_label(result: Attributions, index: int) -> str:
    names = result.class_names
    target, predicted = int(result.targets[index]), int(result.predicted[index])
    return f"explained {names[target]}\npredicted {names[predicted]} ({result.probabilities[index]:.2f})"


def plot_attributions(result: Attributions, target: Path, title: str = "", labels: list[str] | None = None,
                      box: tuple[float, float, float, float] | None = None, tile_size: int = 128) -> Path:
    """Rows = inputs; columns = input | Grad-CAM | guided backprop | IG (those computed). `labels` replaces
    the row labels (default: explained and predicted class); `box` (x0, y0, x1, y1 in input pixels) is
    outlined on every picture (the explained symbol)."""
    methods = [m for m in METHODS if m in result.maps]
    tiles = [[input_picture(result.inputs[row]),
              *(colour(method, result.inputs[row], result.maps[method][row]) for method in methods)]
             for row in range(len(result.inputs))]
    columns = ["input", *(TITLES[m] + (f" ({result.layer})" if m == "gradcam" else "") for m in methods)]
    picture = grid_picture(tiles, [labels[r] if labels else row_label(result, r) for r in range(len(tiles))],
                           columns, title, tile_size=tile_size, box=box)
    return save_picture(picture, target)


def grid_picture(tiles: list[list[np.ndarray]], row_labels: list[str], column_labels: list[str], title: str = "",
                 tile_size: int = 128, box: tuple[float, float, float, float] | None = None,
                 notes: dict[tuple[int, int], str] | None = None, group_rows: int = 0) -> Any:
    """A labelled grid of (H, W, 3) pictures, drawn with Pillow: a tenth of what a matplotlib figure of as many
    axes costs, which matters to hooks that draw during training. Tiles are enlarged (nearest) to about
    `tile_size` pixels; `notes` writes a word into the corner of tile (row, column); `group_rows` leaves a
    wider gap after every that many rows."""
    from PIL import Image, ImageDraw, ImageFont

    font, small = ImageFont.load_default(size=12), ImageFont.load_default(size=10)
    height, width = tiles[0][0].shape[:2]
    zoom = max(1, round(tile_size / max(height, width)))
    tile_h, tile_w, gap = height * zoom, width * zoom, 4
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = 8 + max((measure.multiline_textbbox((0, 0), text, font=font)[2] for text in row_labels), default=0)
    top = (22 if title else 4) + 18
    row_tops = [top + r * (tile_h + gap) + (r // group_rows if group_rows else 0) * 2 * gap for r in range(len(tiles))]
    size = (left + len(column_labels) * (tile_w + gap), row_tops[-1] + tile_h + gap)
    canvas = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((left, 4), title, fill="black", font=font)
    for column, text in enumerate(column_labels):
        draw.text((left + column * (tile_w + gap), top - 16), text, fill="black", font=small)
    for row, (row_tiles, label) in enumerate(zip(tiles, row_labels)):
        y = row_tops[row]
        draw.multiline_text((4, y + tile_h // 2), label, fill="black", font=font, anchor="lm")
        for column, tile in enumerate(row_tiles):
            if tile is None:
                continue
            x = left + column * (tile_w + gap)
            pixels = np.round(np.clip(tile, 0.0, 1.0) * 255).astype(np.uint8)
            canvas.paste(Image.fromarray(pixels).resize((tile_w, tile_h), Image.Resampling.NEAREST), (x, y))
            if box is not None:
                draw.rectangle([x + box[0] * zoom, y + box[1] * zoom, x + box[2] * zoom - 1, y + box[3] * zoom - 1],
                               outline=(0, 220, 0))
            if notes and (row, column) in notes:
                draw.text((x + 2, y + 1), notes[(row, column)], fill="white", font=small, stroke_width=2,
                          stroke_fill="black")
    return canvas


def save_picture(picture: Any, target: Path) -> Path:
    with atomic_path(target) as temp:
        picture.save(temp, format="PNG")
    return target
