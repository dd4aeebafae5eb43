"""ONNX export of every task's network (parity with PyTorch, metadata, the description beside it), the export
cache keyed by the weights, and `--runtime onnx` giving the detections and articles PyTorch gives."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from deepwild.core.errors import ConfigError, ModelPackageError
from deepwild.core.package import load_model_package
from deepwild.models.onnx_export import PARITY_TOLERANCE, export_package
from deepwild.models.onnx_runtime import cached_export, inference_network, load_onnx_network
from tests.helpers.cli import run_cli
from tests.helpers.tiny import tiny_digits_package
from tests.helpers.tiny_packages import (music_pages, newspaper_page, tiny_detector_package, tiny_news_package,
                                        uncalibrated_shipped_detector)

onnx = pytest.importorskip("onnx")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPWILD_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("make, architecture, shape", [
    (tiny_detector_package, "dwd", ("batch", 1, "height", "width")),
    (tiny_news_package, "meier_fcn", ("batch", 2, 64, 64)),
    (tiny_digits_package, "small_cnn", ("batch", 1, 16, 16)),
])
def test_each_network_exports_what_inference_calls_and_matches_pytorch(make, architecture, shape, tmp_path):
    package_dir = make(tmp_path / "model")
    result = export_package(package_dir, tmp_path / "net.onnx")
    assert result.architecture == architecture and result.input_shape == shape
    assert result.max_abs_diff < PARITY_TOLERANCE and {"random", "page-like"} <= set(result.parity)
    if architecture == "dwd":  # fully convolutional: checked at a second size, not the traced one
        assert any("×" in name for name in result.parity)
    graph = onnx.load(str(tmp_path / "net.onnx"))
    metadata = {p.key: p.value for p in graph.metadata_props}
    described = json.loads((tmp_path / "net.onnx.json").read_text())
    assert metadata["deepwild_package"] == described["package"] == result.package
    assert described["weights_sha256"] == metadata["deepwild_weights_sha256"] != ""
    assert described["parity"]["max_abs_diff"] == result.max_abs_diff


def test_the_onnx_network_answers_the_calls_of_the_torch_module(tmp_path):
    package_dir = tiny_detector_package(tmp_path / "omr")
    from deepwild.models.packaged import load_packaged_model

    package, model = load_packaged_model(package_dir, "omr", "")
    network = inference_network(package_dir, model, "onnx", package)
    tile = torch.rand(2, 1, 48, 80)  # a batch of two, a size the export never saw
    with torch.no_grad():
        expected = model.forward_maps(tile)
    found = network.forward_maps(tile)
    assert network.groups == 2 and set(found) == {"energy", "classes", "box"}
    for name in found:
        assert found[name].shape == expected[name].shape
        assert (found[name] - expected[name]).abs().max() < PARITY_TOLERANCE
    with pytest.raises(TypeError, match="forward_maps"):
        network(tile)
    with pytest.raises(ConfigError, match="torch, onnx"):
        inference_network(package_dir, model, "tensorrt", package)


def test_the_cache_exports_once_per_weights_and_refuses_an_export_of_other_weights(tmp_path):
    first = cached_export(tiny_detector_package(tmp_path / "omr"))
    stamp = first.stat().st_mtime_ns
    assert cached_export(tmp_path / "omr") == first and first.stat().st_mtime_ns == stamp  # reused
    other = cached_export(tiny_news_package(tmp_path / "news"))
    assert other != first and other.parent == first.parent
    with pytest.raises(ModelPackageError, match="other weights"):
        load_onnx_network(first, weights_sha256="0" * 64)
    (tmp_path / "cache" / "onnx" / "junk.onnx").write_bytes(b"not onnx")
    (tmp_path / "cache" / "onnx" / "junk.onnx.json").write_text(json.dumps(json.loads(
        first.with_name(first.name + ".json").read_text())))
    with pytest.raises(ModelPackageError, match="not a usable ONNX model"):
        load_onnx_network(tmp_path / "cache" / "onnx" / "junk.onnx")


def test_onnx_runtime_finds_the_symbols_pytorch_finds(tmp_path):
    from deepwild.tasks.omr.detect import Detector
    from deepwild.tasks.omr.shipped import shipped_model

    [page] = music_pages(tmp_path, count=1)
    model = uncalibrated_shipped_detector(tmp_path / "model")
    expected = Detector.load(model).detect_file(page)
    found = Detector.load(model, runtime="onnx").detect_file(page)
    assert len(expected.symbols) > 10 and len(found.symbols) == len(expected.symbols)
    for a, b in zip(expected.symbols, found.symbols):
        assert a.class_name == b.class_name and abs(a.score - b.score) < 1e-4
        assert np.abs(np.subtract(a.bbox, b.bbox)).max() < 1e-3
    if load_model_package(shipped_model())[0].adversarial:  # its flag keeps the torch network beside the export
        through_onnx = Detector.load(shipped_model(), runtime="onnx")
        assert isinstance(through_onnx.gradient_network, torch.nn.Module)
        assert not isinstance(through_onnx.model, torch.nn.Module)


def test_onnx_runtime_cuts_the_articles_pytorch_cuts(tmp_path):
    from deepwild.tasks.news.segment import Segmenter

    package_dir = tiny_news_package(tmp_path / "news")
    gray = np.asarray(Image.open(newspaper_page(tmp_path / "page.png")))
    expected, expected_mask = Segmenter.from_package(package_dir).segment(gray, "page.png")
    found, found_mask = Segmenter.from_package(package_dir, runtime="onnx").segment(gray, "page.png")
    assert len(expected.articles) > 1
    assert found.to_json() == expected.to_json() and np.array_equal(found_mask, expected_mask)


def test_onnx_runtime_gives_a_classifiers_probabilities(tmp_path):
    from deepwild.tasks.classification import load_classifier, predict_probabilities

    model_dir = tiny_digits_package(tmp_path / "digits")
    images = torch.rand(5, 1, 16, 16)
    _, by_torch = load_classifier(model_dir, "digits")
    _, by_onnx = load_classifier(model_dir, "digits", runtime="onnx")
    difference = predict_probabilities(by_onnx, images) - predict_probabilities(by_torch, images)
    assert difference.abs().max() < 1e-5


def test_export_command_prints_the_parity_and_refuses_bad_requests(tmp_path, monkeypatch, capsys):
    model = tiny_digits_package(tmp_path / "digits")
    code, out, _ = run_cli(monkeypatch, capsys, "export", str(model), "--onnx", str(tmp_path / "digits.onnx"))
    assert code == 0 and "max abs diff" in out and "parity on page-like" in out
    assert (tmp_path / "digits.onnx").is_file() and (tmp_path / "digits.onnx.json").is_file()
    for args, message in [(["export", str(model), "--onnx", str(tmp_path / "digits.bin")], "should end in .onnx"),
                          (["detect", str(tmp_path / "page.png"), "--runtime", "tvm"], "unknown runtime")]:
        code, out, err = run_cli(monkeypatch, capsys, *args)
        lines = [line for line in (out + err).splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and message in lines[0], out + err
