"""The two contenders of "add depth to learn features automatically": hand-made features and an SVM,
against a small CNN that learns its features from the pixels.

- classical: HOG (Dalal & Triggs 2005: histograms of gradient orientations in 8×8-pixel cells, normalised
  over 2×2-cell blocks) and uniform LBP histograms (Ojala et al. 2002: the texture of each 8×8 cell),
  standardised, into an RBF-kernel SVM. Nothing is learnt below the SVM.
- deep: `models.small_cnn` trained from scratch with Adam for about `epochs` passes over its training set,
  but at least `min_steps` (the smallest sets are not simply under-trained) and at most `steps`.

Both take images (N, 1, S, S) in [0, 1] with bright ink and return the same `Score`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from deepwild.data.digits import shift_image
from deepwild.models.small_cnn import SmallCNN

HOG_CELL = 8  # pixels per cell side (32-px inputs: 4 × 4 cells)
HOG_ORIENTATIONS = 9
LBP_POINTS, LBP_RADIUS = 8, 1  # uniform patterns: LBP_POINTS + 2 codes
CLASSICAL, DEEP = "HOG+LBP → SVM", "small CNN"  # the methods' names in tables and plots


@dataclass(frozen=True)
class Score:
    method: str  # CLASSICAL or DEEP
    train_size: int
    accuracy: float  # on the test split
    train_seconds: float  # feature extraction included for the classical pipeline
    infer_ms: float  # per test image, features included


@dataclass(frozen=True)
class CNNSettings:
    steps: int = 600  # at most
    min_steps: int = 200
    epochs: float = 30.0
    batch_size: int = 64
    lr: float = 1e-2
    width: int = 16
    max_shift: int = 2  # augmentation: random translation in pixels, as the digits task does
    seed: int = 0

    def steps_for(self, train_size: int) -> int:
        return min(self.steps, max(self.min_steps, round(self.epochs * train_size / self.batch_size)))


def hog_features(images: np.ndarray) -> np.ndarray:
    """(N, S, S) → (N, D) HOG descriptors."""
    from skimage.feature import hog

    return np.stack([hog(image, orientations=HOG_ORIENTATIONS, pixels_per_cell=(HOG_CELL, HOG_CELL),
                         cells_per_block=(2, 2), feature_vector=True) for image in images]).astype(np.float32)


def hog_picture(image: np.ndarray) -> np.ndarray:
    """The HOG of one image drawn as oriented strokes per cell (S, S), for the lecture's figure."""
    from skimage.feature import hog

    _, picture = hog(image, orientations=HOG_ORIENTATIONS, pixels_per_cell=(HOG_CELL, HOG_CELL),
                     cells_per_block=(2, 2), visualize=True)
    return picture


def lbp_features(images: np.ndarray) -> np.ndarray:
    """(N, S, S) → (N, cells × codes): a normalised histogram of uniform LBP codes per HOG cell."""
    from skimage.feature import local_binary_pattern

    codes = LBP_POINTS + 2
    rows = []
    for image in images:
        # LBP compares grey levels; on 8-bit integers, as the method defines them (floats warn and jitter).
        pattern = local_binary_pattern((image * 255).astype(np.uint8), LBP_POINTS, LBP_RADIUS, method="uniform")
        side = image.shape[0] // HOG_CELL
        cells = pattern[:side * HOG_CELL, :side * HOG_CELL].reshape(side, HOG_CELL, side, HOG_CELL).swapaxes(1, 2)
        histograms = [np.bincount(cell.ravel().astype(np.int64), minlength=codes) for cell in cells.reshape(-1, HOG_CELL ** 2)]
        rows.append(np.concatenate(histograms) / HOG_CELL ** 2)
    return np.array(rows, np.float32)


def hand_made_features(images: torch.Tensor) -> np.ndarray:
    """(N, 1, S, S) → (N, D): HOG and LBP side by side."""
    plain = images[:, 0].numpy()
    return np.concatenate([hog_features(plain), lbp_features(plain)], axis=1)


def classical_pipeline(train_x: torch.Tensor, train_y: np.ndarray, test_x: torch.Tensor, test_y: np.ndarray,
                       seed: int = 0) -> Score:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    started = time.perf_counter()
    model = make_pipeline(StandardScaler(), SVC(C=10.0, gamma="scale", random_state=seed))
    model.fit(hand_made_features(train_x), train_y)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = model.predict(hand_made_features(test_x))
    infer_ms = 1000 * (time.perf_counter() - started) / max(len(test_y), 1)
    return Score(CLASSICAL, len(train_y), float((predicted == test_y).mean()), train_seconds, infer_ms)


def train_cnn(images: torch.Tensor, labels: np.ndarray, classes: int, settings: CNNSettings) -> SmallCNN:
    """The small CNN trained by Adam on seeded random batches for `settings.steps_for(len(labels))` steps.

    A plain loop rather than the engine's `Trainer`: ten short fits without checkpoints, hooks or run
    folders of their own, whose training time is what the lecture compares."""
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    model = SmallCNN(num_classes=classes, width=settings.width)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    # Cosine decay to zero: the weights settle in the last steps instead of following the last batches' noise.
    steps = settings.steps_for(len(labels))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)))
    targets = torch.from_numpy(labels)
    model.train()
    for _ in range(steps):
        batch = torch.randint(len(labels), (min(settings.batch_size, len(labels)),), generator=generator)
        x = images[batch]
        if settings.max_shift:
            shifts = torch.randint(-settings.max_shift, settings.max_shift + 1, (len(batch), 2), generator=generator)
            x = torch.stack([shift_image(image, int(dx), int(dy)) for image, (dx, dy) in zip(x, shifts)])
        loss = F.cross_entropy(model(x), targets[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return recalibrate_batch_norm(model, images[:2048])


@torch.no_grad()
def recalibrate_batch_norm(model: SmallCNN, images: torch.Tensor, batch_size: int = 256) -> SmallCNN:
    """Batch norm's test-time statistics measured anew with the final weights ("precise BN"): the running
    averages also remember the first steps' weights, which after a short training are far from the last."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the batches below
    model.train()
    for start in range(0, len(images), batch_size):
        model.forward_features(images[start:start + batch_size])
    for layer in layers:
        layer.momentum = 0.1
    return model.eval()


@torch.no_grad()
def cnn_predict(model: SmallCNN, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    model.eval()
    return torch.cat([model(images[i:i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)]).numpy()


def deep_pipeline(train_x: torch.Tensor, train_y: np.ndarray, test_x: torch.Tensor, test_y: np.ndarray,
                  classes: int, settings: CNNSettings) -> tuple[Score, SmallCNN]:
    started = time.perf_counter()
    model = train_cnn(train_x, train_y, classes, settings)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = cnn_predict(model, test_x)
    infer_ms = 1000 * (time.perf_counter() - started) / max(len(test_y), 1)
    return Score(DEEP, len(train_y), float((predicted == test_y).mean()), train_seconds, infer_ms), model


def balanced_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """Indices that take the classes in turns (each class shuffled), so that every prefix — every smaller
    training set of the learning curve — holds the classes as evenly as they allow."""
    rng = np.random.default_rng(seed)
    members = [rng.permutation(np.flatnonzero(labels == label)) for label in np.unique(labels)]
    rounds = [(position, rng.random(), index) for group in members for position, index in enumerate(group)]
    return np.array([index for _, _, index in sorted(rounds)], np.int64)
