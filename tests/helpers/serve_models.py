"""Models for service tests: fakes that answer at once or block until released, a tiny digits classifier
with a calibrated adversarial-input detector, and the odd inputs that abuse a service."""

from __future__ import annotations

import io
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from deepwild.core.package import ModelPackage, update_model_package
from deepwild.core.results import PageDetections, Symbol
from deepwild.serve.models import ServedModel, served

WAIT_S = 60  # a blocked fake never waits longer than this, whatever a test does


def fake_detector(name: str = "omr-fake", blocked: threading.Event | None = None,
                  started: threading.Event | None = None, error: Exception | None = None,
                  calls: list[str] | None = None, suspicious: bool | None = None) -> ServedModel:
    """A detector that finds one notehead in every page; with `blocked` it waits for that event first
    (setting `started` when it begins), with `error` it raises that instead; `calls` collects the images
    it was asked about; `suspicious` is its adversarial flag (score 0.9), None = no detector."""

    def predict(gray: np.ndarray, image: str, classes=None, min_score=None, staff_space=None) -> PageDetections:
        if calls is not None:
            calls.append(image)
        if started is not None:
            started.set()
        if blocked is not None:
            blocked.wait(WAIT_S)
        if error is not None:
            raise error
        height, width = gray.shape
        return PageDetections(image, width, height, name, (Symbol("noteheadBlackOnLine", (1.0, 2.0, 5.0, 6.0), 0.9),),
                              suspicious=suspicious, adversarial_score=None if suspicious is None else 0.9)

    package = ModelPackage(name=name, task="omr", architecture="fake", model_args={},
                           class_names=("noteheadBlackOnLine", "clefG"), input={}, metrics={"test mAP@0.5": 0.5},
                           weights_sha256="0123456789abcdef" * 4)
    return served(package, predict)


def png_bytes(width: int = 64, height: int = 48, mode: str = "L", fmt: str = "PNG") -> bytes:
    picture = np.full((height, width), 255, np.uint8)
    picture[10:20, 10:30] = 0
    buffer = io.BytesIO()
    Image.fromarray(picture).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature and header for a width × height grey image, with one tiny data chunk:
    what a decompression bomb shows before it is decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1024))


def calibrated_digits_package(folder: Path) -> Path:
    """The tiny digits package, named digits-calibrated, with an entropy detector whose threshold flags every input (score > -1)."""
    from tests.helpers.tiny import tiny_digits_package

    tiny_digits_package(folder)
    update_model_package(folder, name="digits-calibrated", adversarial={
        "detector": "entropy", "threshold": -1.0, "settings": {}, "false_positive_rate": 0.05})
    return folder


def fake_segmenter(name: str = "news-fake") -> ServedModel:
    """A segmenter that cuts every page into a left and a right half, the right one L-shaped."""
    from deepwild.core.results import Article, PageSegmentation

    def predict(gray: np.ndarray, image: str) -> PageSegmentation:
        height, width = gray.shape
        half = width / 2
        left = Article("a1", "article", ((0, 0), (half, 0), (half, height), (0, height)), (0, 0, half, height), 0.9, 1)
        right = Article("a2", "article", ((half, 0), (width, 0), (width, height), (half + 20, height), (half + 20, 40),
                                          (half, 40)), (half, 0, width, height), 0.8, 2)
        return PageSegmentation(image, width, height, name, (left, right))

    package = ModelPackage(name=name, task="news", architecture="fake", model_args={}, class_names=("article", "border"),
                           input={}, weights_sha256="fedcba9876543210" * 4)
    return served(package, predict)
