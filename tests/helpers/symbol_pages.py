"""A small synthetic score page (200 × 300) with an instance mask, and the box checks that every
augmentation test makes."""

from __future__ import annotations

import numpy as np

from deepwild.data.augment_base import Sample

HEIGHT, WIDTH = 200, 300


def synthetic_page(with_mask: bool = True) -> Sample:
    """Nine symbols of different shapes (filled, hollow, thin, diagonal, touching) on white paper,
    all inside x 40..260, y 30..170, so the margins are empty."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    shapes = [
        ("noteheadBlackOnLine", (rows >= 60) & (rows < 68) & (cols >= 40) & (cols < 52)),
        ("noteheadBlackInSpace", ((cols - 120) / 7.0) ** 2 + ((rows - 80) / 5.0) ** 2 <= 1.0),
        ("stem", (cols >= 150) & (cols < 152) & (rows >= 40) & (rows < 100)),
        ("beam", (rows >= 130) & (rows < 133) & (cols >= 60) & (cols < 200)),
        ("slur", (np.abs((rows - 40) * 40 - (cols - 200) * 50) <= 2.0 * 64) & (cols >= 200) & (cols <= 240)),
        ("noteheadHalfInSpace", np.abs(np.hypot((cols - 90) / 8.0, (rows - 150) / 6.0) - 1.0) <= 0.25),
        ("augmentationDot", (rows >= 149) & (rows < 152) & (cols >= 170) & (cols < 173)),
        ("staff", (rows == 110) & (cols >= 40) & (cols < 260)),  # one pixel thin: thinning erases it
        ("accidentalSharp", (rows >= 60) & (rows < 72) & (cols >= 52) & (cols < 58)),  # touches the first notehead
    ]
    image = np.ones((HEIGHT, WIDTH), np.float32)
    mask = np.zeros((HEIGHT, WIDTH), np.int32)
    boxes, labels = [], []
    for instance, (label, pixels) in enumerate(shapes, start=1):
        image[pixels] = 0.0
        mask[pixels & (mask == 0)] = instance
        ys, xs = np.nonzero(pixels)
        boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
        labels.append(label)
    instances = np.arange(1, len(shapes) + 1)
    return Sample(image, np.array(boxes, np.float32), np.array(labels, dtype=object), instances,
                  mask if with_mask else None)


def without_mask(sample: Sample) -> Sample:
    return Sample(sample.image, sample.boxes, sample.labels, sample.instances, None)


def ink_box(mask: np.ndarray, instance: int) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(mask == instance)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def iou(a, b) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def assert_boxes_enclose_ink(sample: Sample, mask: np.ndarray | None = None, tolerance: float = 1.0,
                             min_iou: float | None = None) -> None:
    """Every symbol's instance pixels (of `mask`, default the sample's own) lie inside its box,
    within `tolerance` pixels; with `min_iou`, the box is also not much larger than the ink. And a
    symbol is kept exactly when its instance still has pixels."""
    mask = sample.mask if mask is None else mask
    assert mask is not None and mask.shape == sample.image.shape
    for box, instance, label in zip(sample.boxes, sample.instances, sample.labels):
        ink = ink_box(mask, int(instance))
        assert ink is not None, f"{label} (instance {instance}) kept although its ink vanished"
        assert (box[0] <= ink[0] + tolerance and box[1] <= ink[1] + tolerance
                and box[2] >= ink[2] - tolerance and box[3] >= ink[3] - tolerance), \
            f"{label}: box {box.tolist()} does not enclose its ink {ink}"
        if min_iou is not None:
            assert iou(box, ink) >= min_iou, f"{label}: box {box.tolist()} far larger than its ink {ink}"
    kept = set(sample.instances.tolist())
    with_ink = set(np.unique(mask).tolist()) - {0}
    assert with_ink <= kept, f"instances {sorted(with_ink - kept)} still have ink but lost their box"


def same_sample(a: Sample, b: Sample) -> bool:
    masks_equal = (a.mask is None and b.mask is None) or (
        a.mask is not None and b.mask is not None and np.array_equal(a.mask, b.mask))
    return (np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
            and a.labels.tolist() == b.labels.tolist() and np.array_equal(a.instances, b.instances) and masks_equal)


# -- a score dataset folder of isolated shapes, for the symbol classifier -----------------------------

# class → (width, height, kind): each class a shape of its own size, so a crop shows which class it holds.
SHAPES = {"noteheadBlackOnLine": (12, 10, "ellipse"), "stem": (2, 34, "bar"), "beam": (40, 5, "bar"),
          "clefG": (16, 44, "frame")}
CELL = 80  # symbols sit in 80 px cells (± 6 px): no window of one reaches another's ink


def draw_shape(image: np.ndarray, kind: str, x0: int, y0: int, width: int, height: int) -> None:
    """Black ink (0) on `image` in the box x0..x0+width, y0..y0+height (exclusive)."""
    rows, cols = np.mgrid[y0:y0 + height, x0:x0 + width]
    if kind == "ellipse":
        inside = ((cols + 0.5 - x0 - width / 2) / (width / 2)) ** 2 + ((rows + 0.5 - y0 - height / 2) / (height / 2)) ** 2 <= 1
    elif kind == "frame":
        inside = (rows < y0 + 2) | (rows >= y0 + height - 2) | (cols < x0 + 2) | (cols >= x0 + width - 2)
    else:
        inside = np.ones_like(rows, bool)
    image[rows[inside], cols[inside]] = 0.0


def shape_page(rng: np.random.Generator, columns: int = 4, rows: int = 5) -> tuple[np.ndarray, list]:
    """A white page (rows·80 × columns·80) with one random shape per cell; its image and annotations."""
    from deepwild.data.symbols import SymbolAnnotation

    image = np.ones((rows * CELL, columns * CELL), np.float32)
    symbols = []
    names = sorted(SHAPES)
    for row in range(rows):
        for column in range(columns):
            name = names[int(rng.integers(len(names)))]
            width, height, kind = SHAPES[name]
            x0 = column * CELL + CELL // 2 - width // 2 + int(rng.integers(-6, 7))
            y0 = row * CELL + CELL // 2 - height // 2 + int(rng.integers(-6, 7))
            draw_shape(image, kind, x0, y0, width, height)
            symbols.append(SymbolAnnotation(name, (float(x0), float(y0), float(x0 + width), float(y0 + height))))
    return image, symbols


def write_shape_dataset(folder, pages: dict[str, int] | None = None, seed: int = 0, staff_space: float | None = 10.0):
    """A score dataset folder as `deepwild data scores` writes it (images/, deepscores_<split>.json,
    manifest.json), of shape pages: 4 train pages, 1 each of val, test and test-unseen-font by default."""
    from pathlib import Path

    from PIL import Image

    from deepwild.data.deepscores import write_deepscores_json
    from deepwild.data.symbols import ScorePage

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    number = 0
    for split, count in (pages or {"train": 4, "val": 1, "test": 1, "test-unseen-font": 1}).items():
        split_pages = []
        for _ in range(count):
            image, symbols = shape_page(rng)
            name = f"images/page{number:05d}.png"
            Image.fromarray((image * 255).astype(np.uint8)).save(folder / name)
            split_pages.append(ScorePage(image=name, width=image.shape[1], height=image.shape[0],
                                         symbols=tuple(symbols), split=split, staff_space=staff_space))
            number += 1
        write_deepscores_json(split_pages, folder / f"deepscores_{split}.json")
    (folder / "manifest.json").write_text('{"generator": "tests.helpers.symbol_pages", "seed": %d}' % seed)
    return folder
