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


@data_app.command("newspapers")
def newspapers(
    out: Annotated[Path, typer.Option(help="Dataset folder to write (or to complete, if interrupted).")],
    pages: Annotated[int, typer.Option(help="Pages to generate.")] = 100,
    seed: Annotated[int, typer.Option(help="Same seed → identical files.")] = 0,
    languages: Annotated[str, typer.Option(help="Comma-separated page languages: de, fr, it, en.")] = "de,fr,it,en",
    workers: Annotated[int, typer.Option(help="Processes rendering pages in parallel.")] = 1,
    unseen_columns: Annotated[str, typer.Option(help="Column counts kept for the test-unseen-layout split only.")] = "3",
    degradation: Annotated[float, typer.Option(help="Strength of the scan effects (0 = clean pages, 1 = default).")] = 1.0,
) -> None:
    """Set synthetic newspaper pages (4–6 columns, L-shaped articles, photos, ads, rules or bare gutters) and
    scan them: page images, layout channel, article-id masks, articles JSON, PAGE XML and a manifest."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from deepwild.core.config import config_from_dict
    from deepwild.core.errors import ConfigError
    from deepwild.datagen.newspapers.generate import NewspaperDataConfig, check_output_folder, generate_newspapers

    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    try:
        unseen = [int(v) for v in _split_list(unseen_columns) or ()]
    except ValueError:
        raise ConfigError(f"--unseen-columns must be comma-separated integers, got {unseen_columns!r}") from None
    config = config_from_dict(NewspaperDataConfig, {"pages": pages, "seed": seed, "degradation": degradation,
                                                    "languages": list(_split_list(languages) or ()),
                                                    "unseen_columns": unseen})
    check_output_folder(out, config)  # before the progress bar: a bad folder is one clean line
    with Progress(TextColumn("[bold]pages"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=False) as bar:
        task = bar.add_task("pages", total=config.pages)
        result = generate_newspapers(config, out, workers=workers,
                                     progress=lambda done, total: bar.update(task, completed=done))
    from deepwild.core.io import read_json

    manifest = read_json(out / "manifest.json")
    made = max(result.pages - result.reused, 0)
    console.print(f"{result.pages} pages in {out} ({result.reused} already there); "
                  + ", ".join(f"{k} {v['pages']}" for k, v in manifest["splits"].items()), highlight=False)
    shapes = manifest["layout"]["article_shapes"]
    console.print(f"{sum(shapes.values())} articles ({', '.join(f'{v} {k}' for k, v in shapes.items())}); languages "
                  + ", ".join(f"{k} {v}" for k, v in manifest["languages"].items()), highlight=False)
    if made:
        console.print(f"{made / max(sum(result.seconds.values()), 1e-9):.2f} pages/s per worker "
                      f"(render {result.seconds.get('render', 0) / made:.2f} s, degrade "
                      f"{result.seconds.get('degrade', 0) / made:.2f} s, write {result.seconds.get('write', 0) / made:.2f} s a page)",
                      highlight=False)
    if manifest["fonts"]["missing_packages"]:
        console.print(f"fonts missing: {', '.join(manifest['fonts']['missing_packages'])} "
                      "(`make install` or `python -m deepwild.datagen.newspapers.fonts --install` adds them)", highlight=False)
    if result.skipped:
        console.print(f"{len(result.skipped)} page renderings failed (reasons in manifest.json)", highlight=False)


@data_app.command("show")
def show(
    folder: Annotated[Path, typer.Argument(help="A dataset folder.")],
    page: Annotated[int, typer.Option(help="Page index (0 = first page of the dataset).")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Overlay PNG to write (default: DIR/overlays/<page>.png).")] = None,
) -> None:
    """Write an overlay PNG of a page: symbol boxes and class names, or a newspaper page's articles tinted."""
    import numpy as np

    from deepwild.data.newspapers import is_newspaper_dataset

    if is_newspaper_dataset(folder):
        _show_newspaper(folder, page, out)
        return

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


def _show_newspaper(folder: Path, page: int, out: Path | None) -> None:
    import numpy as np
    from PIL import Image

    from deepwild.core.errors import InputError
    from deepwild.core.images import open_image
    from deepwild.core.io import atomic_path
    from deepwild.data.newspapers import article_overlay, load_newspaper_dataset

    dataset = load_newspaper_dataset(folder)
    if not 0 <= page < len(dataset.pages):
        raise InputError(f"--page {page} is out of range: the dataset has pages 0 to {len(dataset.pages) - 1}")
    chosen = dataset.pages[page]
    gray = np.asarray(open_image(chosen.image).convert("L"))
    mask = np.asarray(Image.open(chosen.mask))
    segmentation = chosen.segmentation()
    target = out or folder / "overlays" / f"{chosen.name}_overlay.png"
    with atomic_path(target) as temp:
        article_overlay(gray, mask, segmentation).save(temp, format="PNG")
    shapes = [a["shape"] for a in chosen.record.get("articles", [])]
    console.print(f"{chosen.name}: {len(segmentation.articles)} articles ({shapes.count('L')} L-shaped, "
                  f"{shapes.count('stepped')} stepped), split {chosen.split}, {chosen.language}, {chosen.columns} columns, "
                  f"fonts {', '.join(f'{k} {v}' for k, v in chosen.record.get('fonts', {}).items())}\n"
                  f"overlay  {target}", highlight=False)


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
