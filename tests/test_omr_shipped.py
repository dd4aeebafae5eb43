"""The detector that ships in the package works right after install, on a real DeepScoresV2 page."""

from __future__ import annotations

from pathlib import Path

import torch

from deepwild.core.package import load_model_package
from deepwild.data.dataset_folder import load_symbol_dataset
from deepwild.tasks.omr.detect import Detector
from deepwild.tasks.omr.evaluate import run_evaluation
from deepwild.tasks.omr.shipped import shipped_model

torch.set_num_threads(1)
FIXTURE = Path(__file__).parent / "fixtures" / "deepscores_v2_sample"


def test_shipped_package_is_small_and_documents_itself():
    folder = shipped_model()
    size = sum(f.stat().st_size for f in folder.iterdir())
    assert size < 20 * 2**20
    package, _ = load_model_package(folder)
    assert package.task == "omr" and package.provenance["command"].startswith("deepwild train omr")
    assert len(package.input["class_groups"]) == len(package.class_names)
    card = (folder / "MODEL_CARD.md").read_text()
    assert "test core mAP@0.5" in card and package.provenance["command"] in card


def test_shipped_detector_finds_the_symbols_of_a_real_deepscores_page():
    detector = Detector.load(shipped_model())
    result = run_evaluation(detector, load_symbol_dataset(FIXTURE))
    # The model card's figure for this page is higher; this floor catches a broken model or decoding.
    assert result.evaluation.core_map50 > 0.6
    classes = {symbol.class_name for symbol in result.pages[0].symbols}
    assert {"noteheadBlackOnLine", "noteheadBlackInSpace", "stem", "clefG"} <= classes
