"""Feature visualisation in a run: the grid picture, its report section, and the training hook.

The picture has one row per layer, early to late, then the class logits: for each chosen channel the
optimised input (large) and the pool inputs that excite it most (small, below). Drawn with Pillow,
not matplotlib: a few milliseconds, which matters for a hook that must cost next to nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from deepwild.core.io import atomic_path
from deepwild.engine.hooks import HookBase
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.featvis import LOGITS, ChannelPicture, FeatureVisConfig, FeatureVisResult, visualise_features
from deepwild.interpret.probe import Probe
from deepwild.interpret.schedule import BudgetShare, CostBudget
from deepwild.interpret.sections import Figure, Section, section_dir, write_section

if TYPE_CHECKING:
    from deepwild.engine.loop import Trainer

SECTION_KEY = "features"
# Of the shared budget, for mid-training pictures (only with features_every > 0): without a share of its own
# this hook, which runs before attribution and the information plane, would take every turn from them.
BUDGET_FRACTION = 1 / 3
CELL = 72  # px of one optimised picture in the grid (96 for inputs that large: no detail lost)
GAP = 6
LABEL_WIDTH = 92
CAPTION = 14

SECTION_TEXT = (
    "Feature visualisation (Olah, Mordvintsev & Schubert, Distill 2017). One row per layer, early to late, then "
    "the class logits. Large: an input optimised to excite one channel ({objective}), in a 1/f Fourier "
    "parameterisation with random shifts, scaling and rotation so that only robust patterns survive. Small, "
    "below: the validation inputs that excite the channel most (for maps, the crop of the unit's effective "
    "receptive field, at least a quarter of the input, around its strongest position). Bright = high input "
    "value, as the network sees it. What to look for: a hierarchy — early layers respond to edges and stroke "
    "pieces, later ones to parts and whole shapes; class pictures should look like their class, and each "
    "class picture is classified as its class (see the table). Limits: the optimised pictures show what "
    "excites a unit under these priors, not everything it responds to (a channel may respond to several "
    "unrelated patterns; the optimiser finds one); activations far above any real input's mean the picture "
    "is an extreme, not a typical, stimulus; the channels shown are the ones real inputs excite most.")


def to_pixels(image: np.ndarray, value_range: tuple[float, float], size: int) -> Image.Image:
    """(C, h, w) in value_range → a size × size grayscale picture (3 channels: their luminance; the grid
    is grayscale). Enlarged by nearest neighbour (pixels stay visible), reduced by box averaging (no aliasing)."""
    low, high = value_range
    scaled = np.clip((image - low) / max(high - low, 1e-8), 0.0, 1.0)
    array = (scaled * 255).round().astype(np.uint8)
    picture = Image.fromarray(array[0]) if array.shape[0] == 1 else Image.fromarray(array[:3].transpose(1, 2, 0))
    method = Image.Resampling.NEAREST if max(picture.size) <= size else Image.Resampling.BOX
    return picture.convert("L").resize((size, size), method)


def draw_feature_grid(result: FeatureVisResult, target: Path, title: str = "") -> Path:
    """The grid PNG: rows = layers early → late (then logits), columns = channels."""
    font = ImageFont.load_default(size=11)
    cell = 96 if max(p.image.shape[-1] for p in result.pictures) >= 96 else CELL
    columns = max(len(result.row(layer)) for layer in result.layers)
    k = max(len(p.top_inputs) for p in result.pictures)
    per_row = math.ceil(math.sqrt(k))  # top inputs as a small square block under each picture
    small = (cell - (per_row - 1) * 2) // per_row
    block = math.ceil(k / per_row) * (small + 2)
    row_height = CAPTION + cell + 4 + block + CAPTION + GAP
    width = LABEL_WIDTH + columns * (cell + GAP) + GAP
    top = 22 if title else 4
    canvas = Image.new("L", (width, top + len(result.layers) * row_height), 255)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((GAP, 4), title, fill=0, font=font)
    for row, layer in enumerate(result.layers):
        y = top + row * row_height
        field = result.receptive_fields.get(layer)
        draw.text((GAP, y + CAPTION + cell // 2 - 12), layer, fill=0, font=font)
        draw.text((GAP, y + CAPTION + cell // 2 + 2), f"field {field} px" if field else "class score", fill=90,
                  font=font)
        for column, picture in enumerate(result.row(layer)):
            x = LABEL_WIDTH + column * (cell + GAP)
            draw.text((x, y), _fit(draw, picture.target.name, cell + GAP - 2, font), fill=0, font=font)
            canvas.paste(to_pixels(picture.image, result.value_range, cell), (x, y + CAPTION))
            for index, crop in enumerate(picture.top_inputs):
                cx = x + (index % per_row) * (small + 2)
                cy = y + CAPTION + cell + 4 + (index // per_row) * (small + 2)
                canvas.paste(to_pixels(crop, result.value_range, small), (cx, cy))
            draw.text((x, y + CAPTION + cell + 4 + block), _fit(draw, _note(picture), cell + GAP - 2, font), fill=90,
                      font=font)
    with atomic_path(target) as temp:
        canvas.save(temp, format="PNG")
    return target


def _note(picture: ChannelPicture) -> str:
    """Under each picture (the default font is ASCII-safe only): what the model calls a class picture, or
    how far the optimised input drives the channel beyond the best validation input."""
    if picture.predicted is not None:
        return f"is {picture.predicted}"
    if picture.best_pool_activation <= 0:
        return f"{picture.activation:.1f} (val <= 0)"
    return f"{picture.activation / picture.best_pool_activation:.1f}x best val"


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, font: ImageFont.FreeTypeFont) -> str:
    """text, cut with '..' to fit width pixels (class names can be long: noteheadBlackInSpaceSmall)."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "..", font=font) > width:
        text = text[:-1]
    return text + ".."


def picture_table(result: FeatureVisResult) -> list[dict[str, object]]:
    """One row per picture: how far the optimised input drives its target, beside the best real input."""
    return [{"layer": p.target.layer, "channel": p.target.name, "optimised": round(p.activation, 3),
             "best validation input": round(p.best_pool_activation, 3),
             **({"classified as": p.predicted} if p.target.layer == LOGITS else {})} for p in result.pictures]


def write_feature_section(run_path: Path, result: FeatureVisResult, figures: Sequence[Figure]) -> Path:
    objective = "its mean activation" if result.objective == "mean" else "its centre unit"
    correct, total = result.classes_recognised
    return write_section(run_path, Section(
        key=SECTION_KEY, title="Feature visualisation", order=20, text=SECTION_TEXT.format(objective=objective),
        figures=tuple(figures), tables=(picture_table(result),),
        extra={"seconds": round(result.seconds, 2), "receptive_fields": result.receptive_fields,
               "class pictures classified as their class": f"{correct}/{total}"}))


class FeatureVisualisationHook(HookBase):
    """Feature pictures every `features_every` epochs (0: only at the end), within the shared cost budget.

    Mid-training pictures take half the optimisation steps (they show the trend); the final one, drawn
    after the last epoch whatever the budget says, takes all of them."""

    def __init__(self, config: InterpretConfig, probe: Probe, budget: CostBudget) -> None:
        self.config, self.probe, self.budget = config, probe, BudgetShare(budget, BUDGET_FRACTION)

    def before_train(self, trainer: Trainer) -> None:
        self.budget.restart()

    def after_epoch(self, trainer: Trainer) -> None:
        every, epoch = self.config.features_every, trainer.state.epoch
        if trainer.run is None or not every or epoch % every or epoch >= trainer.config.epochs:
            return
        if self.budget.allows():
            with self.budget.spend():
                self.draw(trainer, f"features-epoch{epoch:03d}.png", f"after epoch {epoch}",
                          max(self.config.features_steps // 2, 1))

    def after_train(self, trainer: Trainer) -> None:
        if trainer.run is not None:
            with self.budget.spend():
                self.draw(trainer, "features.png", f"after training (epoch {trainer.state.epoch})",
                          self.config.features_steps)

    def draw(self, trainer: Trainer, file_name: str, when: str, steps: int) -> None:
        folder = section_dir(trainer.run.path, SECTION_KEY)
        # 64 pool inputs: enough to find strongly activating inputs per channel, at a quarter of the default cost.
        config = replace(FeatureVisConfig(), steps=steps, pool_size=64, seed=trainer.config.seed)
        result = visualise_features(trainer.model, self.probe, channels=self.config.features_channels, config=config)
        draw_feature_grid(result, folder / file_name, f"{trainer.run.name}: feature visualisation {when}")
        # The final picture first, then the epochs in order: the report shows them in this order.
        drawn = sorted(folder.glob("features-epoch*.png"))
        final = [folder / "features.png"] if (folder / "features.png").is_file() else []
        figures = [Figure(str(path.relative_to(trainer.run.path)), _figure_caption(path)) for path in final + drawn]
        write_feature_section(trainer.run.path, result, figures)


def _figure_caption(path: Path) -> str:
    if path.name == "features.png":
        return "after training"
    return f"after epoch {int(path.stem.removeprefix('features-epoch'))}"

