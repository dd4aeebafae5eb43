"""The digits task: data, splits, input preprocessing, eval and predict end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from deepwild.core.errors import InputError, ModelPackageError
from deepwild.data.digits import digit_from_grayscale, load_digits_arrays, shift_image, upsample
from deepwild.data.splits import stratified_split
from deepwild.tasks import digits
from tests.helpers.tiny import tiny_config


def test_split_is_stratified_disjoint_and_reproducible():
    _, labels = load_digits_arrays()
    split = stratified_split(labels, 0.15, 0.15, seed=3)
    parts = [set(split.train), set(split.val), set(split.test)]
    assert sum(map(len, parts)) == len(labels) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    for part in (split.val, split.test):
        counts = np.bincount(labels[list(part)], minlength=10)
        assert counts.min() >= 25  # every class keeps about 15 % of its ~180 images
    assert stratified_split(labels, 0.15, 0.15, seed=3) == split
    assert stratified_split(labels, 0.15, 0.15, seed=4) != split


def test_shift_moves_pixels_without_wrapping():
    image = torch.zeros(1, 5, 5)
    image[0, 0, 4] = 1.0
    moved = shift_image(image, dx=-2, dy=1)
    assert moved[0, 1, 2] == 1.0 and moved.sum() == 1.0
    assert shift_image(image, dx=1, dy=0).sum() == 0.0  # shifted out, not wrapped around


def render_like_a_user(image8: np.ndarray, scale: int = 12) -> np.ndarray:
    """A dataset digit as a user might hand it over: large, dark ink on white paper, with margins."""
    big = np.kron(image8, np.ones((scale, scale)))
    page = np.zeros((big.shape[0] + 40, big.shape[1] + 60))
    page[20:20 + big.shape[0], 35:35 + big.shape[1]] = big
    return 1.0 - page


def test_user_images_are_brought_to_the_datasets_look():
    images, _ = load_digits_arrays()
    agreements = []
    for index in range(0, 200, 10):
        expected = upsample(images[index:index + 1], 32)[0, 0].numpy()
        got = digit_from_grayscale(render_like_a_user(images[index]), 32)[0].numpy()
        agreements.append(np.corrcoef(expected.ravel(), got.ravel())[0, 1])
    assert np.median(agreements) > 0.99


def test_train_eval_predict_end_to_end(tmp_path):
    outcome = digits.train(tiny_config(epochs=3), root=tmp_path, name="e2e")
    package = outcome.package
    assert package.task == "digits" and package.class_names == tuple("0123456789")
    assert package.provenance["seed"] == 0 and "test_accuracy" in package.metrics

    result = digits.evaluate("e2e", "test", root=tmp_path)
    assert result.metrics["samples"] == len(json.loads((outcome.run.path / "data.json").read_text())["split"]["test"])
    assert result.metrics["accuracy"] == pytest.approx(package.metrics["test_accuracy"])
    assert sum(row["support"] for row in result.per_class.values()) == result.metrics["samples"]
    for name in ("metrics.json", "per_class.csv", "confusion.csv", "confusion.png"):
        assert (outcome.run.eval_dir / "test" / name).is_file()

    images, labels = load_digits_arrays()
    paths = []
    for index in range(5):
        path = tmp_path / f"digit{index}.png"
        Image.fromarray((render_like_a_user(images[index]) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    predictions = digits.predict(outcome.run.path, paths, top_k=3)
    assert [p.image for p in predictions] == [str(p) for p in paths]
    for prediction in predictions:
        assert prediction.label in package.class_names and 0.0 <= prediction.probability <= 1.0
        assert len(prediction.top) == 3 and prediction.top[0].probability >= prediction.top[1].probability
        assert prediction.model == package.name


def test_predict_refuses_bad_images_and_wrong_models(tmp_path):
    outcome = digits.train(tiny_config(epochs=1), root=tmp_path, name="bad")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(InputError, match="corrupt.png"):
        digits.predict(outcome.run.path, [corrupt])
    meta = json.loads((outcome.run.model_dir / "model.json").read_text())
    meta["task"] = "omr"
    (outcome.run.model_dir / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelPackageError, match="not a 'digits' classifier"):
        digits.predict(outcome.run.path, [corrupt])
