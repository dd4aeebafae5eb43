"""What `detect` and `segment` share over a pile of pages: the batch options, the lines printed as pages
finish, and the summary at the end."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from deepwild.core.errors import DeepwildError

if TYPE_CHECKING:  # the batch library imports torch: not for `deepwild --help`
    from deepwild.tasks.batch import BatchSummary, PageResult

Workers = Annotated[int, typer.Option(help="Worker processes, each with the model loaded once and one torch thread "
                                           "(1: this process, torch's threads).")]
Redo = Annotated[bool, typer.Option("--redo", help="Process pages again whose outputs are complete (default: skip "
                                                   "them; a page is complete when its JSON exists, written last).")]
Runtime = Annotated[str, typer.Option(help="torch, or onnx: the network's ONNX export run by onnxruntime (exported "
                                           "on first use into $DEEPWILD_CACHE or ~/.cache/deepwild, keyed by the "
                                           "weights' checksum).")]


def page_printer(console: Console) -> Callable[[PageResult], None]:
    """Prints a line per page as it finishes; failures wait for the summary (one line each there)."""

    from deepwild.tasks.batch import DONE

    def on_page(result: PageResult) -> None:
        if result.status == DONE:
            console.print(f"{result.page}: {result.message}", highlight=False)

    return on_page


def finish(console: Console, summary: BatchSummary) -> None:
    """The summary, then the exit code: 0 all pages complete, 1 some failed, 2 all failed. A single page that
    failed is reported as the one-line error a single-page command gives."""
    if summary.total == 1 and summary.failed == 1:
        raise DeepwildError(summary.failures[0][1])
    for page, reason in summary.failures:
        console.print(f"[red]{page}: {reason}[/]", highlight=False)
    pages, workers = ("page" if summary.total == 1 else "pages"), ("worker" if summary.workers == 1 else "workers")
    console.print(f"{summary.done} done, {summary.skipped} skipped (complete), {summary.failed} failed of "
                  f"{summary.total} {pages} in {summary.seconds:.1f} s: {summary.pages_per_second:.2f} pages/s with "
                  f"{summary.workers} {workers}; summary {summary.file}", highlight=False)
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)
