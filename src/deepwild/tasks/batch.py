"""Many pages through one task — the daily pile: worker processes, resume, failures kept apart, one summary.

A task describes its work as a `PageJob`: where a page's marker file goes, and `open()`, which loads the
model once and returns the function that processes one page (writes its outputs, returns one line).

Complete: a page is complete when its marker — the page's JSON (`<out>/<stem>.json`) — exists. Tasks
write every other output of a page first and the JSON last, each file atomically (temp file + rename),
so a JSON on disk means all of the page's outputs are there, and a page interrupted midway has none and
is done again. `redo` ignores the markers.

Workers: with `workers` > 1 the pages go to that many processes (spawned, so that nothing of the parent's
thread pools is inherited), each loading the model once and running torch (and onnxruntime) on one
thread: on a machine of N cores, N one-thread processes beat one N-thread process at page-sized inputs.
The parent opens the job once first, so that a bad model or option fails before any page, as one error.

A page that fails (corrupt, too big, not an image, not a page the task can read) fails alone, with its
reason; a worker process that dies (out of memory) breaks the pool, and every page not finished by then
fails with that reason (the next run does them). The summary counts pages done,
skipped and failed, lists the failures in page order, gives the throughput (pages processed per second
of wall time, model loading included), and is written to `<out>/summary.json` atomically (unless the run
was a single page that failed: that is an error for the caller to report, as a single-page command does).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from deepwild.core.errors import DeepwildError, InputError
from deepwild.core.io import atomic_write_json
from deepwild.models.onnx_runtime import check_runtime

SUMMARY_FILE = "summary.json"
DONE, SKIPPED, FAILED = "done", "skipped", "failed"


class PageJob(Protocol):
    """One task's work on pages; must pickle (it is sent to worker processes), so it holds paths and options."""

    out: Path

    def marker(self, page: Path) -> Path:
        """The file whose presence means the page is complete."""

    def open(self) -> Callable[[Path], str]:
        """Load the model; the returned function processes one page and says what it wrote, in one line."""

    def describe(self) -> dict[str, Any]:
        """What the summary records about the job (command, model, runtime)."""


@dataclass(frozen=True)
class ModelPageJob:
    """What the tasks' page jobs share: a model package, the output folder, the runtime that runs the network,
    and the page's JSON as its marker."""

    command: ClassVar[str] = ""
    model_dir: Path
    out: Path
    runtime: str = "torch"

    def __post_init__(self) -> None:
        check_runtime(self.runtime)  # before any page: also when every page is already complete

    def marker(self, page: Path) -> Path:
        return self.out / f"{page.stem}.json"

    def describe(self) -> dict[str, Any]:
        return {"command": self.command, "model": str(self.model_dir), "runtime": self.runtime}


@dataclass(frozen=True)
class PageResult:
    page: str
    status: str  # done, skipped or failed
    message: str  # what was written, or why the page failed


@dataclass(frozen=True)
class BatchSummary:
    job: dict[str, Any]
    workers: int
    total: int
    done: int
    skipped: int
    failed: int
    failures: tuple[tuple[str, str], ...]  # (page, reason) in page order
    seconds: float
    file: Path | None = field(default=None, compare=False)

    @property
    def pages_per_second(self) -> float:
        processed = self.done + self.failed
        return processed / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0: every page is complete; 1: some failed; 2: all failed."""
        if self.failed == 0:
            return 0
        return 2 if self.failed == self.total else 1

    def to_json(self) -> dict[str, Any]:
        return {**self.job, "workers": self.workers, "pages": self.total, "done": self.done, "skipped": self.skipped,
                "failed": self.failed, "failures": [{"page": page, "reason": reason} for page, reason in self.failures],
                "seconds": round(self.seconds, 3), "pages_per_second": round(self.pages_per_second, 3)}


def run_batch(job: PageJob, pages: Sequence[Path], workers: int = 1, redo: bool = False,
              on_page: Callable[[PageResult], None] | None = None) -> BatchSummary:
    """Process every page not yet complete; `on_page` hears of each page as it finishes (in any order)."""
    if workers < 1:
        raise InputError(f"--workers takes a positive number of processes, got {workers}")
    started = time.perf_counter()
    report = on_page or (lambda result: None)
    results: dict[int, PageResult] = {}
    todo: list[tuple[int, Path]] = []
    for index, (page, clash) in enumerate(zip(pages, _clashes(job, pages))):
        if clash is not None:
            results[index] = PageResult(str(page), FAILED, clash)
        elif not redo and job.marker(page).is_file():
            results[index] = PageResult(str(page), SKIPPED, f"complete: {job.marker(page)}")
        else:
            todo.append((index, page))
        if index in results:
            report(results[index])
    for index, result in _run(job, todo, workers):
        results[index] = result
        report(result)
    summary = summarise(job, workers, [results[i] for i in range(len(pages))], time.perf_counter() - started)
    if summary.total == 1 and summary.failed == 1:
        return summary  # one page that failed is an error to report, not a pile to summarise in a file
    target = job.out / SUMMARY_FILE
    atomic_write_json(target, summary.to_json())
    return dataclasses.replace(summary, file=target)


def summarise(job: PageJob, workers: int, results: list[PageResult], seconds: float) -> BatchSummary:
    count = {status: sum(r.status == status for r in results) for status in (DONE, SKIPPED, FAILED)}
    failures = tuple((r.page, r.message) for r in results if r.status == FAILED)
    return BatchSummary(job.describe(), workers, len(results), count[DONE], count[SKIPPED], count[FAILED], failures,
                        seconds)


def process_page(process: Callable[[Path], str], page: Path) -> PageResult:
    """One page, its failure caught and turned into a reason (a user's file must not stop the pile)."""
    try:
        return PageResult(str(page), DONE, process(page))
    except DeepwildError as error:
        return PageResult(str(page), FAILED, str(error))
    except MemoryError:
        return PageResult(str(page), FAILED, "out of memory: the page is too big for this machine")
    except Exception as error:  # noqa: BLE001 — an unreadable page may raise anything from a decoder
        return PageResult(str(page), FAILED, f"{type(error).__name__}: {error}")


def _run(job: PageJob, todo: list[tuple[int, Path]], workers: int) -> Iterator[tuple[int, PageResult]]:
    if not todo:
        return
    process = job.open()  # in the parent first: a bad model fails here, once, before any page
    if workers == 1 or len(todo) == 1:
        for index, page in todo:
            yield index, process_page(process, page)
        return
    del process  # each worker loads its own
    pool = ProcessPoolExecutor(min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(job,))
    try:
        futures = {pool.submit(_work, page): (index, page) for index, page in todo}
        for future in as_completed(futures):
            index, page = futures[future]
            try:
                yield index, future.result()
            except BrokenProcessPool:  # the pool is gone: every page not finished fails; the next run does them
                yield index, PageResult(str(page), FAILED, "a worker process died (out of memory?)")
    finally:  # on Ctrl-C too: pages not started are dropped, the ones in progress finish their files
        pool.shutdown(wait=True, cancel_futures=True)


_PROCESS: Callable[[Path], str] | None = None  # the page function of this worker process


def _start_worker(job: PageJob) -> None:
    global _PROCESS
    import torch

    torch.set_num_threads(1)
    _PROCESS = job.open()


def _work(page: Path) -> PageResult:
    assert _PROCESS is not None, "worker used before its initializer ran"
    return process_page(_PROCESS, page)


def _clashes(job: PageJob, pages: Sequence[Path]) -> list[str | None]:
    """Per page, why its outputs would overwrite another's (same file name in two folders, or the summary)."""
    owners: dict[Path, Path] = {job.out / SUMMARY_FILE: Path(SUMMARY_FILE)}
    clashes: list[str | None] = []
    for page in pages:
        marker = job.marker(page)
        if marker in owners:
            clashes.append(f"its outputs would overwrite those of {owners[marker]} ({marker.name}); rename one of them")
        else:
            owners[marker] = page
            clashes.append(None)
    return clashes
