"""The sample that augmentations transform, and what they all share: boxes refitted from the
instance mask, cropping, and `compose`.

A transform is any callable `(Sample, numpy.random.Generator) -> Sample`; the concrete ones are
frozen dataclasses whose fields are their strengths (`augment_geometric`, `augment_photometric`,
`augment_margin`), so a pipeline is a config that can be saved with a run. Transforms never modify
their input and draw every random number from the generator they are given: the same seed gives
the same output.

Boxes follow `symbols.py`: (x0, y0, x1, y1) pixels, x1/y1 exclusive. When a sample has an instance
mask, the mask is the truth: after a geometric change every box with an instance id is recomputed
from the pixels of its instance (exact), and a symbol whose pixels all disappeared is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from deepwild.data.symbols import ScorePage, SymbolAnnotation

Transform = Callable[["Sample", np.random.Generator], "Sample"]


@dataclass(frozen=True, eq=False)  # eq=False: numpy arrays have no single truth value
class Sample:
    """One page or crop with its symbols. Construction normalises dtypes and checks shapes."""

    image: np.ndarray  # (H, W) float32 in [0, 1], 1 = white paper, 0 = black ink
    boxes: np.ndarray  # (N, 4) float32 x0, y0, x1, y1 (exclusive), pixels
    labels: np.ndarray  # (N,) class names (str) or class ids (int)
    instances: np.ndarray | None = None  # (N,) int32 id of each symbol in `mask`; 0 = not in the mask
    mask: np.ndarray | None = None  # (H, W) int32 instance ids, 0 = background

    def __post_init__(self) -> None:
        image = np.asarray(self.image, dtype=np.float32)
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        labels = np.asarray(self.labels)
        count = len(boxes)
        instances = (np.zeros(count, np.int32) if self.instances is None
                     else np.asarray(self.instances, dtype=np.int32).reshape(-1))
        if image.ndim != 2:
            raise ValueError(f"Sample.image must be (H, W) grayscale, got shape {image.shape}")
        if len(labels) != count or len(instances) != count:
            raise ValueError(f"Sample has {count} boxes, {len(labels)} labels and {len(instances)} instance ids")
        mask = None
        if self.mask is not None:
            # int32, not uint16: pasted symbols add ids, and signed arithmetic never wraps silently.
            mask = np.asarray(self.mask).astype(np.int32, copy=False)
            if mask.shape != image.shape:
                raise ValueError(f"Sample.mask shape {mask.shape} differs from the image's {image.shape}")
        for name, value in (("image", image), ("boxes", boxes), ("labels", labels),
                            ("instances", instances), ("mask", mask)):
            object.__setattr__(self, name, value)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    def select(self, keep: np.ndarray) -> Sample:
        """The same image with only the symbols where `keep` (bool (N,) or indices) is true."""
        return replace(self, boxes=self.boxes[keep], labels=self.labels[keep], instances=self.instances[keep])

    @classmethod
    def from_page(cls, page: ScorePage, image: np.ndarray, mask: np.ndarray | None = None) -> Sample:
        """A page of a `SymbolDataset` with its loaded image (H, W) and, if any, instance mask (H, W)."""
        boxes = np.array([symbol.bbox for symbol in page.symbols], np.float32).reshape(-1, 4)
        labels = np.array([symbol.class_name for symbol in page.symbols], dtype=object)
        instances = np.array([symbol.instance for symbol in page.symbols], np.int32)
        return cls(image, boxes, labels, instances, mask)

    def symbols(self) -> tuple[SymbolAnnotation, ...]:
        """The symbols as annotations (oriented boxes are not kept through augmentation)."""
        areas = (np.bincount(self.mask.ravel(), minlength=int(self.instances.max(initial=0)) + 1)
                 if self.mask is not None else None)
        return tuple(
            SymbolAnnotation(class_name=str(label), bbox=tuple(float(v) for v in box),
                             area=int(areas[instance]) if areas is not None and instance > 0 else 0,
                             instance=int(instance))
            for box, label, instance in zip(self.boxes, self.labels, self.instances))


def boxes_from_mask(mask: np.ndarray, instances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tight boxes (N, 4) float32 of the given instance ids in `mask` (H, W), and whether each id
    still has any pixel (N,) bool. Rows of absent ids (and of id 0) are zeros."""
    instances = np.asarray(instances, dtype=np.int64)
    boxes = np.zeros((len(instances), 4), np.float32)
    present = np.zeros(len(instances), bool)
    largest = int(instances.max(initial=0))
    if largest == 0:
        return boxes, present
    # find_objects gives one bounding slice per label value 1..largest (None where absent).
    slices = ndimage.find_objects(mask, max_label=largest)
    for row, instance in enumerate(instances):
        found = slices[instance - 1] if instance > 0 else None
        if found is not None:
            rows, cols = found
            boxes[row] = (cols.start, rows.start, cols.stop, rows.stop)
            present[row] = True
    return boxes, present


def refit_boxes(sample: Sample, image: np.ndarray, mask: np.ndarray | None, fallback_boxes: np.ndarray) -> Sample:
    """A new sample with `image` and `mask`, and boxes taken from `mask` for symbols with an
    instance id; other symbols take `fallback_boxes` (N, 4) (the old boxes mapped by the same
    transform; NaN where a symbol left the image). Symbols that vanished are dropped."""
    boxes = np.asarray(fallback_boxes, np.float32).copy()
    # NaN compares false, so a symbol that left the image fails this test too.
    fallback_ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    keep = fallback_ok
    if mask is not None:
        from_mask = sample.instances > 0
        mask_boxes, present = boxes_from_mask(mask, sample.instances)
        boxes[from_mask] = mask_boxes[from_mask]
        keep = np.where(from_mask, present, fallback_ok)
    return Sample(image, boxes[keep], sample.labels[keep], sample.instances[keep], mask)


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes (N, 4) clipped to the image; a box wholly outside becomes empty (x1 <= x0 or y1 <= y0)."""
    clipped = boxes.copy()
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0, width)
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0, height)
    return clipped


def crop_sample(sample: Sample, x0: int, y0: int, width: int, height: int) -> Sample:
    """The window [x0, x0 + width) × [y0, y0 + height); parts outside the page are white paper.
    Symbols cut by the window keep their visible part; symbols outside it are dropped."""
    image = np.ones((height, width), np.float32)
    mask = None if sample.mask is None else np.zeros((height, width), np.int32)
    # The overlap of window and page, in page and in window coordinates.
    page_x0, page_y0 = max(x0, 0), max(y0, 0)
    page_x1, page_y1 = min(x0 + width, sample.width), min(y0 + height, sample.height)
    if page_x1 > page_x0 and page_y1 > page_y0:
        window = (slice(page_y0 - y0, page_y1 - y0), slice(page_x0 - x0, page_x1 - x0))
        image[window] = sample.image[page_y0:page_y1, page_x0:page_x1]
        if mask is not None:
            mask[window] = sample.mask[page_y0:page_y1, page_x0:page_x1]
    shifted = sample.boxes - np.array([x0, y0, x0, y0], np.float32)
    return refit_boxes(sample, image, mask, clip_boxes(shifted, width, height))


@dataclass(frozen=True, eq=False)
class Compose:
    """Apply each transform with its probability, in order."""

    steps: tuple[tuple[Transform, float], ...]

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for transform, probability in self.steps:
            # One draw per step whether or not it fires, so a step's randomness never shifts
            # with the outcome of an earlier coin.
            if rng.random() < probability:
                sample = transform(sample, rng)
        return sample


def compose(transforms: Sequence[Transform], probabilities: Sequence[float] | None = None) -> Compose:
    """A pipeline; `probabilities` (one per transform, default all 1) say how often each step runs."""
    probabilities = [1.0] * len(transforms) if probabilities is None else list(probabilities)
    if len(probabilities) != len(transforms):
        raise ValueError(f"compose got {len(transforms)} transforms but {len(probabilities)} probabilities")
    if any(not 0.0 <= p <= 1.0 for p in probabilities):
        raise ValueError(f"probabilities must lie in [0, 1], got {probabilities}")
    return Compose(tuple(zip(transforms, probabilities)))
