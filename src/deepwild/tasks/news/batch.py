"""`deepwild segment` over a pile of pages: the segmenter as a `tasks.batch.PageJob`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deepwild.core.errors import InputError
from deepwild.core.images import DEFAULT_MAX_PIXELS
from deepwild.tasks.batch import BatchSummary, ModelPageJob, PageResult, run_batch
from deepwild.tasks.news.segment import Segmenter, segment_page


@dataclass(frozen=True)
class SegmentJob(ModelPageJob):
    """Segmentation settings for every page; the marker is the page's articles JSON (written last)."""

    command = "segment"
    ocr: Path | None = None  # the layout of the (single) page from its OCR file
    max_pixels: int = DEFAULT_MAX_PIXELS

    def open(self) -> Callable[[Path], str]:
        segmenter = Segmenter.from_package(self.model_dir, self.runtime)

        def segment(page: Path) -> str:
            done = segment_page(segmenter, page, self.out, self.ocr, self.max_pixels)
            return f"{done.articles} articles → {done.files[0]}"

        return segment


def segment_pile(job: SegmentJob, pages: list[Path], workers: int = 1, redo: bool = False,
                 on_page: Callable[[PageResult], None] | None = None) -> BatchSummary:
    """`run_batch` for segmentation: an OCR file describes one page, so it comes with exactly one."""
    if job.ocr is not None and len(pages) != 1:
        raise InputError("--ocr describes one page: give exactly one page with it")
    return run_batch(job, pages, workers, redo, on_page)
