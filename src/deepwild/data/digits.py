"""scikit-learn's bundled handwritten digits (1,797 images, 8×8, 16 grey levels), as tensors.

The images are white ink on black, 0..16. We scale them to [0, 1] and upsample (bilinear) to the
model's input size. Images that users hand us go through the same path: grey, ink made bright,
cropped to the ink, padded to a square, reduced to 8×8 by area averaging, then upsampled.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

CLASS_NAMES = tuple(str(digit) for digit in range(10))
SOURCE_SIZE = 8


@lru_cache(maxsize=1)
def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 8, 8) float32 in [0, 1] and labels (N,) int64."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    return images, bunch.target.astype(np.int64)


def digits_dataset_id() -> str:
    images, labels = load_digits_arrays()
    return "sklearn-digits-" + hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()[:16]


def upsample(images: np.ndarray, size: int) -> torch.Tensor:
    """(N, 8, 8) → (N, 1, size, size), bilinear."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)
    if size == images.shape[-1]:
        return tensor
    return F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False)


class DigitsDataset(Dataset):
    """Upsampled digits with optional augmentation: a random shift of up to `max_shift` pixels."""

    def __init__(self, images: torch.Tensor, labels: np.ndarray, max_shift: int = 0) -> None:
        self.images = images
        self.labels = torch.from_numpy(labels)
        self.max_shift = max_shift

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        if self.max_shift:
            dx, dy = torch.randint(-self.max_shift, self.max_shift + 1, (2,)).tolist()
            image = shift_image(image, dx, dy)
        return image, self.labels[index]


def shift_image(image: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Translate a (C, H, W) image by whole pixels, filling with zeros (no wrap-around)."""
    _, height, width = image.shape
    padded = F.pad(image, (abs(dx), abs(dx), abs(dy), abs(dy)))
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[:, top:top + height, left:left + width]


def digit_from_grayscale(gray: np.ndarray, size: int) -> torch.Tensor:
    """A user's image (H, W) in [0, 1], any resolution, to the model input (1, size, size)."""
    ink = 1.0 - gray if gray.mean() > 0.5 else gray  # dark ink on light paper → bright ink
    ink = np.clip((ink - ink.min()) / max(float(ink.max() - ink.min()), 1e-6), 0.0, 1.0)
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.1), np.flatnonzero(ink.max(axis=0) > 0.1)
    if len(rows) and len(cols):
        ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    side = max(ink.shape)  # the dataset's digits fill the full height of their 8×8 box, centred
    square = np.zeros((side, side), dtype=np.float32)
    top, left = (side - ink.shape[0]) // 2, (side - ink.shape[1]) // 2
    square[top:top + ink.shape[0], left:left + ink.shape[1]] = ink
    small = Image.fromarray((square * 255).astype(np.uint8)).resize((SOURCE_SIZE, SOURCE_SIZE), Image.Resampling.BOX)
    quantised = np.round(np.asarray(small, dtype=np.float32) / 255.0 * 16.0) / 16.0  # the dataset's 16 levels
    return upsample(quantised[None], size)[0]
