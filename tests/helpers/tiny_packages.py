"""Untrained, tiny model packages of the detector and the newspaper FCN, and small pages for them: enough
for commands that load a model, in milliseconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepwild.core.package import ModelPackage, save_model_package
from deepwild.models import build_model

FIXTURE_PAGE = Path(__file__).parents[1] / "fixtures" / "deepscores_v2_sample" / "lg-5230237-aug-emmentaler--page-2.png"


def tiny_detector_package(folder: Path) -> Path:
    """A DWD of widths (4, 8, 8, 8) with two energy groups and three classes."""
    torch.manual_seed(0)
    args = {"num_classes": 3, "energy_levels": 8, "widths": [4, 8, 8, 8], "groups": 2, "head_width": 8}
    model = build_model("dwd", **args)
    save_model_package(folder, ModelPackage(
        name="omr-tiny", task="omr", architecture="dwd", model_args=args,
        class_names=("noteheadBlackOnLine", "stem", "clefG"),
        input={"kind": "score-page", "staff_space": 10.0, "ink": "bright", "box_unit": 10.0,
               "class_groups": [0, 1, 0]}),
        model.state_dict())
    return folder


def tiny_news_package(folder: Path, size: int = 64, threshold: float = 0.478) -> Path:
    """A Meier FCN of width 2 at `size` × `size`, with the task's decoding settings but a threshold in the middle
    of the untrained network's border probabilities (0.47-0.52 on `newspaper_page`), so that pages give articles."""
    from deepwild.tasks.news.postprocess import MIN_AREA, SHRINK

    torch.manual_seed(0)
    args = {"in_channels": 2, "width": 2, "max_width": 8}
    model = build_model("meier_fcn", **args)
    save_model_package(folder, ModelPackage(
        name="news-tiny", task="news", architecture="meier_fcn", model_args=args, class_names=("article", "border"),
        input={"kind": "newspaper-page", "size": size, "layout": "image", "ink": "bright",
               "threshold": threshold, "min_area": MIN_AREA, "shrink": SHRINK}), model.state_dict())
    return folder


def uncalibrated_shipped_detector(folder: Path) -> Path:
    """The shipped detector's weights and decoding without its adversarial-input calibration (whose guided
    backpropagation needs PyTorch): what the ONNX runtime can run."""
    import shutil

    from deepwild.core.package import update_model_package
    from deepwild.tasks.omr.shipped import shipped_model

    shutil.copytree(shipped_model(), folder)
    update_model_package(folder, adversarial={})
    return folder


def music_pages(folder: Path, count: int = 3, height: int = 400) -> list[Path]:
    """Strips of a real DeepScoresV2 page (a few staves each, at the shipped detector's scale)."""
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(FIXTURE_PAGE) as page:
        width = page.size[0] // 3
        paths = []
        for index in range(count):
            top = 420 + index * 560
            path = folder / f"music{index}.png"
            page.crop((300, top, 300 + width, top + height)).convert("L").save(path)
            paths.append(path)
    return paths


def newspaper_page(path: Path, seed: int = 0, size: tuple[int, int] = (300, 420)) -> Path:
    """Text-like lines in three columns, a headline bar and a picture block: a page the layout step can read."""
    rng = np.random.default_rng(seed)
    width, height = size
    page = np.full((height, width), 255, np.uint8)
    page[20:40, 20:width - 20] = 0  # headline
    for column in range(3):
        x0 = 20 + column * (width - 40) // 3
        for y in range(60, height - 20, 9):
            page[y:y + 4, x0 + 4:x0 + (width - 40) // 3 - 8 - int(rng.integers(0, 30))] = 0
    page[80:160, 30:110] = 90  # a picture
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(page).save(path)
    return path
