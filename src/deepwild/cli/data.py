"""`deepwild data ...`: make, look at and summarise datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

data_app = typer.Typer(help="Make, inspect and summarise datasets.", no_args_is_help=True)
console = Console(soft_wrap=True)


def _split_list(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


@data_app.command("scores")
def scores(
    out: Annotated[Path, typer.Option(help="Dataset folder to write (or to complete, if interrupted).")],
    pages: Annotated[int, typer.Option(help="Pages to generate.")] = 200,
    fonts: Annotated[Optional[str], typer.Option(help="Comma-separated SMuFL fonts (Leipzig,Bravura,Gootville,Leland,Petaluma).")] = None,
    unseen_font: Annotated[str, typer.Option(help="Font kept for the test-unseen-font split only.")] = "Petaluma",
    width: Annotated[Optional[int], typer.Option(help="Page width in pixels (default 1240, A4 at 150 dpi).")] = None,
    dpi: Annotated[Optional[float], typer.Option(help="Page resolution; sets the width of an A4 page.")] = None,
    seed: Annotated[int, typer.Option(help="Same seed → identical files.")] = 0,
    workers: Annotated[int, typer.Option(help="Processes rendering pages in parallel.")] = 1,
    composers: Annotated[Optional[str], typer.Option(help="Comma-separated corpus composers (default: all).")] = None,
) -> None:
    """Engrave DeepScores-style pages from the music21 corpus with verovio: images, DeepScoresV2 JSON,
    class/instance masks and a manifest."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from deepwild.core.config import config_from_dict
    from deepwild.core.errors import ConfigError
    from deepwild.datagen.scores.generate import ScoreDataConfig, check_output_folder, generate_scores

    if width is not None and dpi is not None:
        raise ConfigError("give --width or --dpi, not both")
    values: dict = {"pages": pages, "seed": seed, "unseen_font": unseen_font}
    if fonts:
        values["fonts"] = list(_split_list(fonts) or ())
    if composers:
        values["composers"] = list(_split_list(composers) or ())
    if width is not None or dpi is not None:
        values["width_px"] = int(width if width is not None else round(8.27 * dpi))  # A4 is 8.27 in wide
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    config = config_from_dict(ScoreDataConfig, values)
    check_output_folder(out, config)  # before the progress bar: a bad folder is one clean line
    with Progress(TextColumn("[bold]pages"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=False) as bar:
        task = bar.add_task("pages", total=config.pages)
        result = generate_scores(config, out, workers=workers, progress=lambda done, total: bar.update(task, completed=done))
    from deepwild.core.io import read_json

    manifest = read_json(out / "manifest.json")
    coverage = manifest["ink_coverage"]
    console.print(f"{result.pages} pages in {out} ({result.reused} already there); "
                  + ", ".join(f"{k} {v['pages']}" for k, v in manifest["splits"].items()), highlight=False)
    console.print(f"ink covered by boxes: mean {coverage['mean']:.4f}, min {coverage['min']:.4f}; "
                  f"{len(coverage['pages_below'])} pages below {coverage['threshold']}", highlight=False)
    if result.skipped:
        console.print(f"{len(result.skipped)} scores skipped (reasons in manifest.json)", highlight=False)


@data_app.command("show")
def show(
    folder: Annotated[Path, typer.Argument(help="A dataset folder.")],
    page: Annotated[int, typer.Option(help="Page index (0 = first page of the dataset).")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Overlay PNG to write (default: DIR/overlays/<page>.png).")] = None,
) -> None:
    """Write an overlay PNG of a page with its symbol boxes and class names."""
    import numpy as np

    from deepwild.core.errors import InputError
    from deepwild.core.images import load_grayscale
    from deepwild.core.io import atomic_path
    from deepwild.data.dataset_folder import load_symbol_dataset
    from deepwild.data.overlay import draw_boxes

    dataset = load_symbol_dataset(folder)
    pages = sorted(dataset.pages, key=lambda p: p.image)
    if not 0 <= page < len(pages):
        raise InputError(f"--page {page} is out of range: the dataset has pages 0 to {len(pages) - 1}")
    chosen = pages[page]
    gray = load_grayscale(dataset.image_path(chosen))
    overlay = draw_boxes((gray * 255).astype(np.uint8), [(s.class_name, s.bbox) for s in chosen.symbols])
    target = out or folder / "overlays" / (Path(chosen.image).stem + "_overlay.png")
    with atomic_path(target) as temp:
        overlay.save(temp, format="PNG")
    console.print(f"{chosen.image}: {len(chosen.symbols)} symbols, split {chosen.split}, font {chosen.font}, "
                  f"piece {chosen.piece}\noverlay  {target}", highlight=False)


@data_app.command("stats")
def stats(
    folder: Annotated[Path, typer.Argument(help="A dataset folder.")],
    out: Annotated[Optional[Path], typer.Option(help="Bar chart PNG (default: DIR/class_counts.png).")] = None,
) -> None:
    """Per-class symbol counts per split, and a bar chart: class imbalance made visible."""
    from rich.table import Table

    from deepwild.data.dataset_folder import load_symbol_dataset
    from deepwild.data.imbalance import class_count_table, plot_class_counts

    dataset = load_symbol_dataset(folder)
    rows = class_count_table(dataset)
    table = Table(title=f"symbols per class in {folder}")
    records = [row.to_json() for row in rows]
    columns = list(records[0]) if records else []
    for column in columns:
        table.add_column(column, justify="left" if column == "class" else "right")
    for record in records:
        table.add_row(*(str(record[c]) for c in columns))
    console.print(table)
    target = plot_class_counts(rows, out or folder / "class_counts.png")
    console.print(f"chart    {target}", highlight=False)
