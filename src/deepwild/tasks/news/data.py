"""A newspaper page as Meier et al.'s network takes it: two channels at `size` × `size` (256), the page
and its layout channel, the page's aspect kept (letterboxed: the page fills the height or the width, the
rest is paper), ink bright (1 − grey) so that paper, padding and the convolutions' zero padding agree.
The target and the article-id mask travel through the same letterbox (nearest neighbour).

The layout channel comes from the image itself by default (`tasks.news.layout`), the same way as for a
page a user hands in, so that training sees what segmentation will see; `layout="truth"` takes the
generator's drawn layout instead (what a perfect OCR engine would give).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepwild.tasks.news.layout import layout_from_image
from deepwild.tasks.news.postprocess import border_target

INPUT_SIZE = 256


@dataclass(frozen=True)
class Letterbox:
    """Where a page of (width, height) lands in a size × size square: scaled by `scale`, at (left, top)."""

    width: int
    height: int
    size: int

    @property
    def scale(self) -> float:
        return self.size / max(self.width, self.height)

    @property
    def inner(self) -> tuple[int, int]:
        """(width, height) of the page inside the square, at least 1 px each."""
        return max(1, round(self.width * self.scale)), max(1, round(self.height * self.scale))

    @property
    def origin(self) -> tuple[int, int]:
        inner_width, inner_height = self.inner
        return (self.size - inner_width) // 2, (self.size - inner_height) // 2

    def place(self, picture: np.ndarray, fill: float, nearest: bool = False) -> np.ndarray:
        """The picture (any size: it is the page's) resized into the square and padded with `fill`."""
        resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BOX
        inner_width, inner_height = self.inner
        if picture.dtype == np.float32 or picture.dtype == np.float64:
            image = Image.fromarray(picture.astype(np.float32), mode="F")
        else:
            image = Image.fromarray(picture)
        small = np.asarray(image.resize((inner_width, inner_height), resample))
        square = np.full((self.size, self.size), fill, dtype=small.dtype)
        left, top = self.origin
        square[top:top + inner_height, left:left + inner_width] = small
        return square

    def crop(self, square: np.ndarray) -> np.ndarray:
        """The page's part of a size × size map (undoes the padding)."""
        left, top = self.origin
        inner_width, inner_height = self.inner
        return square[top:top + inner_height, left:left + inner_width]


def network_input(gray: np.ndarray, layout: np.ndarray | None = None, size: int = INPUT_SIZE) -> tuple[torch.Tensor, Letterbox]:
    """(2, size, size) float32: ink of the page, ink of its layout channel (from the image when not given;
    either at any resolution, the layout's values in [0, 1] with paper 1)."""
    gray = np.asarray(gray, np.uint8)
    box = Letterbox(gray.shape[1], gray.shape[0], size)
    if layout is None:
        layout = layout_from_image(gray)
    page = 1.0 - box.place(gray.astype(np.float32) / 255.0, fill=1.0)
    drawn = 1.0 - box.place(np.asarray(layout, np.float32), fill=1.0)
    return torch.from_numpy(np.stack([page, drawn]).astype(np.float32)), box


def read_gray(path: str | Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


def read_mask(path: str | Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image).astype(np.int32)


@dataclass(frozen=True)
class PreparedPage:
    inputs: torch.Tensor  # (2, size, size)
    target: torch.Tensor  # (1, size, size): 1 border/background, 0 article (articles shrunk apart)
    mask: np.ndarray  # (size, size) article ids in the letterbox, 0 = none (padding included)
    box: Letterbox


def prepare_page(image: Path, mask: Path, layout: Path | None = None, size: int = INPUT_SIZE,
                 shrink: int = 3) -> PreparedPage:
    """A generated page ready for training or scoring: `layout` None computes it from the image."""
    gray = read_gray(image)
    drawn = read_gray(layout).astype(np.float32) / 255.0 if layout is not None else None
    inputs, box = network_input(gray, drawn, size)
    ids = box.place(read_mask(mask), fill=0, nearest=True)
    target = border_target(ids, shrink)
    return PreparedPage(inputs, torch.from_numpy(target)[None], ids, box)
