"""Crops of score pages with their DWD targets, for training and validation.

The windows of an epoch come from `RareClassCropSampler` (rare classes oversampled) or uniformly;
each crop is degraded like a scan (`scan_degradation`) with a generator seeded by (seed, epoch,
index), so a resumed run sees exactly the crops an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from deepwild.core.images import load_grayscale
from deepwild.data.augment import Sample, scan_degradation
from deepwild.data.imbalance import CropSamplerConfig, CropWindow, RareClassCropSampler
from deepwild.data.symbols import SymbolDataset
from deepwild.tasks.omr.targets import TargetConfig, make_targets


@dataclass(frozen=True)
class CropConfig:
    crop_size: int = 192
    crops_per_epoch: int = 2000
    oversample_rare: bool = True  # False: uniform crops
    rare_power: float = 0.5  # symbols drawn ∝ count(class) ** -power
    augment: bool = True


class PageCache:
    """Page images as uint8 arrays, loaded on first use (each DataLoader worker has its own)."""

    def __init__(self, dataset: SymbolDataset) -> None:
        self.dataset, self.images = dataset, {}

    def get(self, index: int) -> np.ndarray:
        if index not in self.images:
            gray = load_grayscale(self.dataset.image_path(self.dataset.pages[index]))
            self.images[index] = np.round(gray * 255).astype(np.uint8)
        return self.images[index]


def page_window(page: np.ndarray, x0: int, y0: int, size: int) -> np.ndarray:
    """The (size, size) window of a uint8 page whose top-left corner is (x0, y0); what lies outside the page is paper."""
    window = np.full((size, size), 255, np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    part = page[sy0:y0 + size, sx0:x0 + size]
    window[sy0 - y0:sy0 - y0 + part.shape[0], sx0 - x0:sx0 - x0 + part.shape[1]] = part
    return window


class CropDataset(Dataset):
    """`crops_per_epoch` crops; item i of epoch e is the same crop in every run with the same seed."""

    def __init__(self, dataset: SymbolDataset, class_index: dict[str, int], class_groups: np.ndarray, crop: CropConfig,
                 targets: TargetConfig, seed: int, train: bool) -> None:
        self.dataset, self.class_index, self.crop, self.targets = dataset, class_index, crop, targets
        self.class_groups = class_groups
        self.seed, self.train = seed, train
        self.pages = PageCache(dataset)
        power = crop.rare_power if crop.oversample_rare and train else 0.0
        uniform = 0.1 if power > 0 else 1.0
        self.sampler = RareClassCropSampler(dataset, crop.crop_size, CropSamplerConfig(
            power=power, uniform_fraction=uniform, samples_per_epoch=crop.crops_per_epoch, seed=seed))
        self.degrade = scan_degradation() if crop.augment and train else None
        self.epoch = -1
        self.windows: list[CropWindow] = []
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        # Validation crops are the same every epoch, so that validation curves compare like with like.
        epoch = epoch if self.train else 0
        if epoch != self.epoch:
            self.epoch, self.windows = epoch, self.sampler.windows(self.crop.crops_per_epoch, epoch)

    def __len__(self) -> int:
        return self.crop.crops_per_epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        """image (1, S, S); per energy group: energy (G, S, S), classes (G, S, S), box (G, 2, S, S), size weight (G, S, S)."""
        window = self.windows[index]
        page = self.dataset.pages[window.page_index]
        size = self.crop.crop_size
        image = page_window(self.pages.get(window.page_index), window.x0, window.y0, size)
        boxes, labels = [], []
        for symbol in page.symbols:
            if symbol.class_name not in self.class_index:
                continue
            x0, y0, x1, y1 = symbol.bbox
            cx, cy = (x0 + x1) / 2 - window.x0, (y0 + y1) / 2 - window.y0
            if 0 <= cx < size and 0 <= cy < size:  # a symbol belongs to the crop that holds its centre
                boxes.append((x0 - window.x0, y0 - window.y0, x1 - window.x0, y1 - window.y0))
                labels.append(self.class_index[symbol.class_name])
        boxes_array = np.array(boxes, np.float32).reshape(-1, 4)
        labels_array = np.array(labels, np.int64)
        pixels = image.astype(np.float32) / 255.0
        if self.degrade is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            sample = self.degrade(Sample(pixels, boxes_array, labels_array), rng)
            pixels, boxes_array, labels_array = sample.image, sample.boxes, sample.labels.astype(np.int64)
        targets = make_targets(size, size, boxes_array, labels_array, self.targets, self.class_groups)
        # Ink bright on dark: zero is paper, so padding and the network's zero-padding agree.
        return (torch.from_numpy(1.0 - pixels)[None], torch.from_numpy(targets.energy),
                torch.from_numpy(targets.classes), torch.from_numpy(targets.box), torch.from_numpy(targets.size_weight))


def symbol_crops(dataset: SymbolDataset, class_index: dict[str, int], size: int, count: int,
                 max_pages: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` crops (count, 1, size, size), ink bright, each centred on one symbol, and the symbols' classes.

    Classes take turns (the most common first: noteheads, stems, beams), so a few crops already show
    many kinds of symbol; the choice is deterministic, so interpretability pictures of different epochs
    show the same inputs.
    """
    pages = PageCache(dataset)
    by_class: dict[int, list[tuple[int, float, float]]] = {}
    for page_index, page in enumerate(dataset.pages[:max_pages]):
        for symbol in page.symbols:
            if symbol.class_name in class_index:
                x0, y0, x1, y1 = symbol.bbox
                by_class.setdefault(class_index[symbol.class_name], []).append((page_index, (x0 + x1) / 2, (y0 + y1) / 2))
    order = sorted(by_class, key=lambda label: (-len(by_class[label]), label))
    chosen: list[tuple[int, int, float, float]] = []
    turn = 0
    while len(chosen) < count and any(turn < len(by_class[label]) for label in order):
        chosen += [(label, *by_class[label][turn]) for label in order if turn < len(by_class[label])]
        turn += 1
    chosen = chosen[:count]
    images = np.zeros((len(chosen), 1, size, size), np.float32)
    for row, (_, page_index, cx, cy) in enumerate(chosen):
        window = page_window(pages.get(page_index), int(round(cx)) - size // 2, int(round(cy)) - size // 2, size)
        images[row, 0] = 1.0 - window.astype(np.float32) / 255.0
    labels = torch.tensor([label for label, *_ in chosen], dtype=torch.int64)
    return torch.from_numpy(images), labels
