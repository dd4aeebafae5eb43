"""`deepwild explain`: maps and a JSON for one input; every bad input is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepwild.core.errors import InputError
from deepwild.core.io import read_json
from deepwild.core.results import Symbol
from deepwild.tasks.explain import _choose_symbol, _crop, explain
from tests.helpers.cli import run_cli
from tests.helpers.tiny import tiny_digits_package

FIXTURES = Path(__file__).parent / "fixtures" / "deepscores_v2_sample"


@pytest.fixture
def digits_model(tmp_path) -> Path:
    return tiny_digits_package(tmp_path / "digits-model")


@pytest.fixture
def digit_image(tmp_path) -> Path:
    page = np.full((60, 40), 255, np.uint8)
    page[10:50, 17:23] = 0  # a dark "1" on white paper
    page[10:16, 12:23] = 0
    Image.fromarray(page).save(tmp_path / "one.png")
    return tmp_path / "one.png"




def test_a_digit_is_explained_with_maps_and_a_json(digits_model, digit_image, tmp_path, monkeypatch, capsys):
    out = tmp_path / "explained"
    code, stdout, err = run_cli(monkeypatch, capsys, "explain", str(digits_model), str(digit_image), "--out", str(out))
    assert code == 0, err
    record = read_json(out / "one-explain.json")
    assert record["target"] == record["predicted"]  # without --target: the predicted class
    assert record["gradcam_layer"] == "conv3" and record["methods"] == ["gradcam", "guided", "ig"]
    ig = record["integrated_gradients"]
    assert abs(ig["sum"] - ig["score_gap"]) <= 0.05 * abs(ig["score_gap"]) + 1e-3  # completeness
    for key in ("figure", "gradcam", "guided", "ig"):
        assert Path(record["files"][key]).is_file()
    assert "completeness gap" in stdout


def test_another_class_and_fewer_methods_can_be_asked_for(digits_model, digit_image, tmp_path):
    result = explain(str(digits_model), digit_image, tmp_path, target="7", methods=("gradcam", "ig"))
    assert result.target == "7" and result.methods == ("gradcam", "ig")
    assert not (tmp_path / "one-guided.png").exists()


@pytest.mark.parametrize("args, words", [
    (("{model}", "missing.png"), "does not exist"),
    (("{model}", "{corrupt}"), "corrupt or truncated"),
    (("{model}", "{image}", "--target", "11"), "unknown class '11'; valid: 0, 1"),
    (("{model}", "{image}", "--symbol", "2"), "apply to detector models only"),
    (("{model}", "{image}", "--methods", "gradcam,lime"), "unknown attribution method(s) lime"),
    (("{model}", "{image}", "--layer", "conv9"), "its feature maps: conv1, conv2, conv3"),
    (("shipped", "{image}", "--at", "12"), "--at takes a page position X,Y"),
    (("no-such-run", "{image}"), "neither a model package nor a run"),
])
def test_bad_input_is_one_line_and_exit_2(args, words, digits_model, digit_image, tmp_path, monkeypatch, capsys):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(digit_image.read_bytes()[:60])
    values = {"model": str(digits_model), "image": str(digit_image), "corrupt": str(corrupt)}
    code, _, err = run_cli(monkeypatch, capsys, "explain", *(a.format(**values) for a in args), "--out", str(tmp_path))
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and words in err, err


SYMBOLS = (Symbol("noteheadBlackOnLine", (100, 100, 110, 108), 0.9), Symbol("stem", (108, 60, 110, 104), 0.8),
           Symbol("clefG", (10, 10, 40, 90), 0.7))


def test_a_symbol_is_chosen_by_index_by_position_or_by_score():
    assert _choose_symbol(SYMBOLS, None, None) == 0
    assert _choose_symbol(SYMBOLS, 2, None) == 2
    assert _choose_symbol(SYMBOLS, None, (109, 70)) == 1
    assert _choose_symbol(SYMBOLS, None, (109, 103)) == 0  # in two boxes: the nearer centre (the notehead)
    with pytest.raises(InputError, match=r"index 3 is out of range: the page has 3 detected symbols \(0..2"):
        _choose_symbol(SYMBOLS, 3, None)
    with pytest.raises(InputError, match="no detected symbol contains the point 300,300; the nearest is #0"):
        _choose_symbol(SYMBOLS, None, (300, 300))


def test_the_crop_is_centred_on_the_symbol_at_the_models_scale():
    page = np.ones((200, 300), np.float32)
    page[100:108, 100:110] = 0.0  # the notehead, centre (105, 104)
    crop, centre = _crop(page, 1.0, SYMBOLS[0].bbox, 32)
    assert centre == (105, 104) and crop.shape == (1, 1, 32, 32)
    assert crop[0, 0, 16, 16] == 1.0 and crop[0, 0, 16 - 5, 16 - 5] == 0.0  # ink bright at the centre pixel
    small, centre = _crop(page, 0.5, SYMBOLS[0].bbox, 32)
    assert centre == (52, 52) and small[0, 0, 16, 16] > 0.5
    corner, _ = _crop(page, 1.0, (0, 0, 4, 4), 32)  # beyond the page: paper, no ink
    assert corner[0, 0, :10, :10].max() == 0.0


@pytest.mark.slow
def test_the_shipped_detector_explains_a_symbol_of_the_real_page(tmp_path):
    page = FIXTURES / "lg-5230237-aug-emmentaler--page-2.png"
    result = explain("shipped", page, tmp_path, symbol=0, methods=("gradcam", "ig"))
    assert result.task == "omr" and result.symbol["index"] == 0 and result.target == result.symbol["class"]
    x0, y0, x1, y1 = result.symbol["crop_in_page"]
    bx0, by0, bx1, by1 = result.symbol["bbox"]
    assert x0 < (bx0 + bx1) / 2 < x1 and y0 < (by0 + by1) / 2 < y1
    assert result.predicted == result.target  # the crop's centre pixel agrees with the page's detection
    assert read_json(result.files["json"])["symbol"]["of"] > 100
