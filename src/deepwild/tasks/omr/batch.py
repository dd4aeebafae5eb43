"""`deepwild detect` over a pile of pages: the detector as a `tasks.batch.PageJob`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deepwild.core.errors import DeepwildError
from deepwild.core.images import DEFAULT_MAX_PIXELS, load_grayscale
from deepwild.tasks.batch import ModelPageJob
from deepwild.tasks.omr.detect import Detector, save_detections


@dataclass(frozen=True)
class DetectJob(ModelPageJob):
    """Detection settings for every page; the marker is the page's detections JSON (written last)."""

    command = "detect"
    classes: frozenset[str] | None = None
    min_score: float | None = None
    staff_space: float | None = None
    overlay: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS

    def open(self) -> Callable[[Path], str]:
        detector = Detector.load(self.model_dir, self.min_score, self.runtime)
        unknown = sorted((self.classes or set()) - set(detector.package.class_names))
        if unknown:
            raise DeepwildError(f"the model does not detect {', '.join(unknown)}; it knows: "
                                f"{', '.join(detector.package.class_names)}")

        def detect_page(page: Path) -> str:
            gray = load_grayscale(page, self.max_pixels)  # read once: for detection and for the overlay
            result = detector.detect_gray(gray, str(page), set(self.classes) if self.classes else None,
                                          self.staff_space)
            target = save_detections(result, gray, self.out, self.overlay)
            flag = "" if result.suspicious is None else (
                f"; {'SUSPICIOUS' if result.suspicious else 'ok'} (adversarial score {result.adversarial_score:.3f})")
            return f"{len(result.symbols)} symbols → {target}{flag}"

        return detect_page
