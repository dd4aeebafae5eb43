"""`deepwild data newspapers`: a folder of synthetic newspaper pages for article segmentation.

The folder's files are listed in `deepwild.data.newspapers`. Every page is planned from the seed
alone (split, language, column count, its own seed), so the same seed gives the same files, on any
number of workers, and an interrupted run completes without redoing finished pages: a page is done
when its record in pages/ exists (written last). A page whose rendering raises is retried with the
next of its seeds; one that fails every time is skipped and named in the manifest, and the batch
goes on. The `test-unseen-layout` split uses column counts that no train/val/test page has.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from deepwild import __version__
from deepwild.core.errors import ConfigError, InputError
from deepwild.core.io import atomic_path, atomic_write_json, read_json, sha256_file
from deepwild.core.results import Article, PageSegmentation
from deepwild.data.newspapers import GENERATOR, NEWSPAPER_SPLITS
from deepwild.data.pagexml import PageRegion, PageXml, write_page_xml
from deepwild.datagen.newspapers.degrade import degrade_page, draw_degradation, transform_points
from deepwild.datagen.newspapers.fonts import available_by_role, missing_packages
from deepwild.datagen.newspapers.geometry import bounds
from deepwild.datagen.newspapers.render import RenderedPage, render_page
from deepwild.datagen.newspapers.text import LOCALES, language_code
from deepwild.datagen.scores.generate import GenerationResult  # both generators give the same account of a batch

TRIES = 3  # seeds tried for one page before it is given up
SPLIT_BLOCK = 20  # pages per block of dealt splits
GROUND_TRUTH = "ground-truth"


@dataclass(frozen=True)
class NewspaperDataConfig:
    pages: int = 100
    seed: int = 0
    languages: tuple[str, ...] = ("de", "fr", "it", "en")
    columns: tuple[int, ...] = (4, 5, 6)  # train/val/test grids
    unseen_columns: tuple[int, ...] = (3,)  # only in test-unseen-layout: a grid no training page has
    unseen_layout_fraction: float = 0.1
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    width_px: int = 1240  # 1:√2 like A3/A4 and the Berliner/tabloid pages the paper's scans are close to
    height_px: int = 1754
    degradation: float = 1.0  # strength of the scan effects; 0 = clean pages

    def validate(self) -> None:
        """The first broken rule, as one ConfigError."""
        unknown = [name for name in self.languages if language_code(name) is None]
        fractions = (self.unseen_layout_fraction, self.val_fraction, self.test_fraction)
        grids = (("columns", self.columns), ("unseen_columns", self.unseen_columns))
        bad_grid = next(((name, list(c)) for name, c in grids if not c or any(not 2 <= n <= 8 for n in c)), None)
        rules = [
            (self.pages < 1, f"--pages must be at least 1, got {self.pages}"),
            (bool(unknown) or not self.languages,
             f"unknown language {', '.join(map(repr, unknown)) or '(none given)'}; valid: {', '.join(LOCALES)}"),
            (bad_grid is not None, f"{bad_grid and bad_grid[0]} must be column counts between 2 and 8, got "
                                   f"{bad_grid and bad_grid[1]}"),
            (bool(set(self.columns) & set(self.unseen_columns)),
             f"unseen_columns {list(self.unseen_columns)} must not repeat the training grids {list(self.columns)}: "
             "the unseen-layout split would not be unseen"),
            (not (600 <= self.width_px <= 4000 and 800 <= self.height_px <= 6000),
             f"page size {self.width_px} × {self.height_px} px is outside 600–4000 × 800–6000"),
            (any(not 0 <= f <= 1 for f in fractions) or sum(round(f * SPLIT_BLOCK) for f in fractions) > SPLIT_BLOCK,
             f"split fractions must lie in [0, 1] and sum to at most 1, got {list(fractions)}"),
            (not 0 <= self.degradation <= 2, f"degradation strength must lie in [0, 2], got {self.degradation}"),
        ]
        for broken, message in rules:
            if broken:
                raise ConfigError(message)


@dataclass(frozen=True)
class PageSlot:
    """One planned page: everything about it that the split design fixes, and the seeds for the rest."""

    name: str
    split: str
    language: str
    columns: int
    seeds: tuple[int, ...]  # tried in order until one renders


def plan_pages(config: NewspaperDataConfig) -> list[PageSlot]:
    """Every page's split, language, grid and seeds, from the seed and the page's index alone."""
    config.validate()
    languages = [language_code(name) or name for name in config.languages]
    slots = []
    for index in range(config.pages):
        split = split_of(index, config)
        grids = config.unseen_columns if split == "test-unseen-layout" else config.columns
        rng = np.random.default_rng([config.seed, index])
        slots.append(PageSlot(f"page{index:05d}", split, languages[int(rng.integers(len(languages)))],
                              int(grids[int(rng.integers(len(grids)))]),
                              tuple(int(s) for s in rng.integers(0, 2**62, TRIES))))
    return slots


def split_of(index: int, config: NewspaperDataConfig) -> str:
    """Splits are dealt in blocks of SPLIT_BLOCK pages, shuffled per block: the fractions hold exactly in
    every block (no val-less small dataset), and extending a dataset never moves a page to another split."""
    counts = {split: round(fraction * SPLIT_BLOCK) for split, fraction in (
        ("test-unseen-layout", config.unseen_layout_fraction), ("val", config.val_fraction),
        ("test", config.test_fraction))}
    labels = [split for split, count in counts.items() for _ in range(count)]
    labels += ["train"] * (SPLIT_BLOCK - len(labels))
    order = np.random.default_rng([config.seed, index // SPLIT_BLOCK, 1]).permutation(SPLIT_BLOCK)
    return labels[int(order[index % SPLIT_BLOCK])]


def render_slot(slot: PageSlot, config: NewspaperDataConfig, root: Path) -> dict[str, Any]:
    """Render, degrade and write one page; on an exception try the slot's next seed."""
    failures = []
    for seed in slot.seeds:
        try:
            return write_page(slot, seed, config, root) | {"skipped": failures}
        except Exception as error:  # any failure of one page is reported, never fatal to the batch
            failures.append({"seed": str(seed), "reason": f"{type(error).__name__}: {error}"[:300]})
    return {"name": slot.name, "failed": True, "skipped": failures}


def write_page(slot: PageSlot, seed: int, config: NewspaperDataConfig, root: Path) -> dict[str, Any]:
    start = time.perf_counter()
    rendered = render_page(seed, slot.language, slot.columns, config.width_px, config.height_px)
    rng = np.random.default_rng([seed, 1])
    degradation = draw_degradation(rng, config.degradation)
    mask = rendered.mask.astype(np.uint8) if rendered.mask.max() <= 255 else rendered.mask
    gray, (layout, mask), matrix = degrade_page(rendered.gray, [(rendered.layout, 255), (mask, 0)], degradation, rng)
    degraded = time.perf_counter()
    files = {"image": f"images/{slot.name}.png", "layout": f"layout/{slot.name}.png", "mask": f"masks/{slot.name}.png",
             "articles": f"articles/{slot.name}.json", "page_xml": f"pagexml/{slot.name}.xml"}
    for key, array in (("image", gray), ("layout", layout), ("mask", mask)):
        with atomic_path(root / files[key]) as temp:
            Image.fromarray(array).save(temp, format="PNG", compress_level=3)
    width, height = config.width_px, config.height_px
    segmentation = ground_truth_articles(rendered, matrix, files["image"], width, height)
    atomic_write_json(root / files["articles"], segmentation.to_json())
    write_page_xml(ground_truth_page_xml(rendered, matrix, files["image"], width, height, str(rendered.info["date"])),
                   root / files["page_xml"])
    record = {"name": slot.name, "split": slot.split, "language": slot.language, "locale": LOCALES[slot.language],
              "columns": slot.columns, "seed": seed, **rendered.info, "fonts": rendered.fonts,
              "degradation": degradation.to_json(),
              "articles": [{"id": f"a{a.number}", "shape": a.shape, "columns": list(a.columns), "style": a.style,
                            "boxed": a.boxed, "photo": a.photo, "jump": a.jump} for a in rendered.articles],
              "regions": dict(sorted(Counter(r.role for r in rendered.regions).items())), "files": files}
    atomic_write_json(root / "pages" / f"{slot.name}.json", record)  # last: marks the page as done
    # Timings vary from run to run: returned to the caller, never written, so files stay identical.
    return {**record, "seconds": {**rendered.seconds, "degrade": degraded - start - sum(rendered.seconds.values()),
                                  "write": time.perf_counter() - degraded}}


def ground_truth_articles(rendered: RenderedPage, matrix: np.ndarray, image: str, width: int,
                          height: int) -> PageSegmentation:
    articles = []
    for shape in rendered.articles:
        polygon = tuple(_inside(p, width, height) for p in transform_points(shape.outline, matrix))
        articles.append(Article(f"a{shape.number}", "article", polygon, bounds(polygon), 1.0, shape.number))
    return PageSegmentation(image, width, height, GROUND_TRUTH, tuple(articles))


def ground_truth_page_xml(rendered: RenderedPage, matrix: np.ndarray, image: str, width: int, height: int,
                          date: str) -> PageXml:
    regions = tuple(PageRegion(r.id, r.kind, tuple(transform_points(r.polygon, matrix)), r.type,
                               f"a{r.article}" if r.article else None, "article" if r.article else None)
                    for r in rendered.regions)
    order = tuple(r.id for r in sorted((r for r in rendered.regions if r.article), key=lambda r: r.article))
    return PageXml(image, width, height, regions, order, creator=f"{GENERATOR} {__version__}",
                   created=f"{date}T00:00:00")


def _inside(point: tuple[float, float], width: int, height: int) -> tuple[float, float]:
    return min(max(point[0], 0.0), float(width)), min(max(point[1], 0.0), float(height))


def generate_newspapers(config: NewspaperDataConfig, out: Path, workers: int = 1,
                        progress: Callable[[int, int], None] | None = None) -> GenerationResult:
    """Generate (or complete) the dataset in `out`."""
    out = Path(out)
    check_output_folder(out, config)
    slots = plan_pages(config)
    if not (out / "generation.json").is_file():
        atomic_write_json(out / "generation.json", {"generator": GENERATOR, "version": __version__,
                                                    "config": json.loads(json.dumps(asdict(config)))})
    records = {slot.name: finished_record(out, slot.name) for slot in slots}
    todo = [slot for slot in slots if records[slot.name] is None]
    result = GenerationResult(root=out, pages=0, reused=len(slots) - len(todo))
    if progress:
        progress(result.reused, len(slots))
    for made, record in enumerate(_render_all(todo, config, out, workers), start=result.reused + 1):
        records[record["name"]] = record
        if progress:
            progress(made, len(slots))
    finished = []
    for slot in slots:
        record = records[slot.name] or {}
        result.skipped += [{**failure, "page": slot.name} for failure in record.get("skipped", [])]
        for stage, value in record.get("seconds", {}).items():
            result.seconds[stage] = result.seconds.get(stage, 0.0) + value
        if not record.get("failed"):
            finished.append(record)
    result.pages = len(finished)
    write_manifest(out, config, finished, result.skipped)
    return result


def finished_record(out: Path, name: str) -> dict[str, Any] | None:
    """A page's record when the page is complete (its record is written last), else None."""
    record = out / "pages" / f"{name}.json"
    return read_json(record) if record.is_file() and (out / "images" / f"{name}.png").is_file() else None


def _render_all(todo: list[PageSlot], config: NewspaperDataConfig, out: Path, workers: int) -> Iterator[dict[str, Any]]:
    """Records of the pages made now, in plan order, by one process or a pool of `workers`."""
    render = partial(render_slot, config=config, root=out)
    if workers == 1 or len(todo) < 2:
        yield from map(render, todo)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(render, todo, chunksize=1)


def check_output_folder(out: Path, config: NewspaperDataConfig) -> None:
    """Refuse an unwritable folder, a non-empty one that holds no newspaper dataset, or one made with
    other settings (only --pages may change: to extend a dataset)."""
    config.validate()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise InputError(f"cannot write to {out}: {error.strerror or error}") from None
    marker = out / "generation.json"
    if not marker.is_file():
        if any(out.iterdir()):
            raise InputError(f"{out} is not empty and holds no newspaper dataset to resume",
                             hint="choose an empty or new --out folder")
        return
    try:
        previous = read_json(marker)
    except (ValueError, OSError):
        raise InputError(f"{marker} is unreadable; cannot tell how this folder was made") from None
    if previous.get("generator") != GENERATOR:
        raise InputError(f"{out} holds data of another generator ({previous.get('generator')})")
    current = json.loads(json.dumps(asdict(config)))
    different = sorted(k for k in current if k != "pages" and previous.get("config", {}).get(k) != current[k])
    if different:
        raise ConfigError(f"{out} holds a newspaper dataset made with other settings ({', '.join(different)})",
                          hint="use a new --out folder, or the same settings to complete or extend it")


def write_manifest(out: Path, config: NewspaperDataConfig, records: list[dict[str, Any]],
                   skipped: list[dict[str, str]]) -> None:
    used: dict[str, Counter[str]] = {}
    for record in records:
        for role, name in record["fonts"].items():
            used.setdefault(role, Counter())[name] += 1
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "manifest.json" and not p.name.startswith("."))
    manifest = {
        "generator": GENERATOR, "versions": package_versions(), "seed": config.seed,
        "config": json.loads(json.dumps(asdict(config))),
        "languages": dict(sorted(Counter(r["language"] for r in records).items())),
        "fonts": {"available": available_by_role(), "missing_packages": missing_packages(),
                  "used": {role: dict(counts.most_common()) for role, counts in sorted(used.items())}},
        "layout": {"columns": list(config.columns), "unseen_columns": list(config.unseen_columns),
                   "article_shapes": dict(sorted(Counter(a["shape"] for r in records for a in r["articles"]).items()))},
        "splits": {split: {"pages": sum(r["split"] == split for r in records),
                           "articles": sum(len(r["articles"]) for r in records if r["split"] == split),
                           "columns": sorted({r["columns"] for r in records if r["split"] == split})}
                   for split in NEWSPAPER_SPLITS},
        "pages": {r["name"]: {"split": r["split"], "language": r["language"], "columns": r["columns"],
                              "template": r["template"], "articles": len(r["articles"])} for r in records},
        "skipped": skipped,
        "files": {p.relative_to(out).as_posix(): sha256_file(p) for p in files},
    }
    atomic_write_json(out / "manifest.json", manifest)


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "missing"

    return {"deepwild": __version__} | {package: installed(package) for package in ("faker", "pillow", "numpy")}
