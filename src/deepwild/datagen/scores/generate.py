"""`deepwild data scores`: a DeepScores-style dataset folder from the music21 corpus.

    DIR/manifest.json                     generator, versions, seed, config, splits, counts, hashes, skips
    DIR/deepscores_<split>.json           annotations in the DeepScoresV2 layout, one file per split
    DIR/images/pageNNNNN.png              the page (grey, 8 bit)
    DIR/segmentation/pageNNNNN_cls.png    per-pixel DeepScoresV2 class id (8 bit)
    DIR/segmentation/pageNNNNN_inst.png   per-pixel instance id (16 bit), matching each annotation's `instance`
    DIR/pages/pageNNNNN.json              the page's record; a rerun skips pages that have one

Pages are planned from the seed alone (piece, page, font, layout), so the same seed gives the same
files, and an interrupted run completes without redoing finished pages. Splits are by piece, never by
page; one font is kept out of train/val/test and used only for the `test-unseen-font` split.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from deepwild import __version__
from deepwild.core.errors import ConfigError, InputError
from deepwild.core.io import atomic_path, atomic_write_json, read_json, sha256_file
from deepwild.data.symbols import SPLITS, ScorePage, SymbolAnnotation, SymbolDataset
from deepwild.datagen.scores.corpus import Piece, corpus_pieces
from deepwild.datagen.scores.glyphs import FONTS
from deepwild.datagen.scores.render import Layout, PageRenderer

GENERATOR = "deepwild.datagen.scores"
MAX_TRIES = 6  # pieces tried for one page before it is given up


@dataclass(frozen=True)
class ScoreDataConfig:
    pages: int = 200
    seed: int = 0
    fonts: tuple[str, ...] = FONTS
    unseen_font: str = "Petaluma"  # only in the test-unseen-font split
    unseen_font_fraction: float = 0.1
    val_fraction: float = 0.1  # of pieces
    test_fraction: float = 0.1
    width_px: int = 1240
    min_coverage: float = 0.95  # pages whose ink is less covered by boxes are listed in the manifest
    composers: tuple[str, ...] = ()  # empty = all composers of the corpus

    def validate(self) -> None:
        if self.pages < 1:
            raise ConfigError(f"--pages must be at least 1, got {self.pages}")
        for font in (*self.fonts, self.unseen_font):
            if font not in FONTS:
                raise ConfigError(f"unknown font {font!r}; valid: {', '.join(FONTS)}")
        if not [f for f in self.fonts if f != self.unseen_font]:
            raise ConfigError(f"no font left for train/val/test once {self.unseen_font} is kept for unseen-font tests")
        if not 200 <= self.width_px <= 8000:
            raise ConfigError(f"--width must lie between 200 and 8000 pixels, got {self.width_px}")


@dataclass(frozen=True)
class PageSlot:
    name: str
    candidates: tuple[tuple[Piece, str], ...]  # (piece, its split), tried in order until one renders
    page_fraction: float
    layout: Layout
    unseen_font: bool  # a test-unseen-font page: its pieces are test pieces

    def split_of(self, piece_split: str) -> str:
        return "test-unseen-font" if self.unseen_font else piece_split


@dataclass
class GenerationResult:
    root: Path
    pages: int
    skipped: list[dict[str, str]] = field(default_factory=list)
    reused: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # summed over the pages rendered now, per stage


def piece_split(piece: Piece, config: ScoreDataConfig) -> str:
    """train/val/test of a piece from a hash of its path and the seed: stable, and never split across pages."""
    digest = hashlib.sha256(f"{config.seed}:{piece.path.split('#')[0]}".encode()).digest()
    value = int.from_bytes(digest[:8], "big") / 2**64
    return "test" if value < config.test_fraction else "val" if value < config.test_fraction + config.val_fraction else "train"


def plan_pages(config: ScoreDataConfig) -> list[PageSlot]:
    """Every page's piece candidates, page, font and layout, drawn from the seed alone."""
    pieces = corpus_pieces()
    composers = list(config.composers) or list(pieces)
    unknown = [c for c in composers if c not in pieces]
    if unknown:
        raise ConfigError(f"unknown composer(s) {', '.join(unknown)}; valid: {', '.join(pieces)}")
    seen_fonts = [f for f in config.fonts if f != config.unseen_font]
    slots = []
    for index in range(config.pages):
        rng = np.random.default_rng([config.seed, index])
        unseen = rng.random() < config.unseen_font_fraction
        candidates: list[tuple[Piece, str]] = []
        for _ in range(200):  # unseen-font pages draw until they have test pieces
            composer = composers[rng.integers(len(composers))]  # per composer, not per file
            piece = pieces[composer][rng.integers(len(pieces[composer]))]
            split = piece_split(piece, config)
            if not unseen or split == "test":
                candidates.append((piece, split))
            if len(candidates) == MAX_TRIES:
                break
        width = int(rng.integers(1800, 2401))
        layout = Layout(font=config.unseen_font if unseen else seen_fonts[rng.integers(len(seen_fonts))],
                        page_width=width, page_height=int(width * 1.4142), spacing_staff=int(rng.integers(8, 16)),
                        spacing_system=int(rng.integers(8, 16)), width_px=config.width_px)
        slots.append(PageSlot(f"page{index:05d}", tuple(candidates), float(rng.random()), layout, unseen))
    return slots


_RENDERER: PageRenderer | None = None


def render_slot(slot: PageSlot, root: Path) -> dict[str, Any]:
    """Render one planned page into `root` and return its record. Each try runs in a forked child, so
    that a score which crashes the engraver (it happens, in C++) costs one candidate, not the batch."""
    global _RENDERER
    if _RENDERER is None:
        _RENDERER = PageRenderer()  # made before forking: every child inherits it ready
    failures = []
    for piece, split in slot.candidates:
        ok, outcome = run_isolated(_render_and_write, (slot, piece, slot.split_of(split), root), RENDER_TIMEOUT_S)
        if ok:
            outcome["skipped"] = failures
            return outcome
        failures.append({"piece": piece.path, "reason": outcome[:300]})
    return {"name": slot.name, "failed": True, "skipped": failures}


RENDER_TIMEOUT_S = 120.0


def _render_and_write(slot: PageSlot, piece: Piece, split: str, root: Path) -> dict[str, Any]:
    assert _RENDERER is not None
    rendered = _RENDERER.render(piece, slot.layout, slot.page_fraction)
    if not rendered.symbols:
        raise ValueError("the page has no symbols")
    return _write_page(slot, piece, split, rendered, root, [])


def run_isolated(function: Callable[..., Any], args: tuple[Any, ...], timeout_s: float) -> tuple[bool, Any]:
    """function(*args) in a forked child: (True, its result), or (False, why there is none: an
    exception, a crash with its exit code, or a timeout)."""
    import multiprocessing
    import traceback

    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def child() -> None:
        import faulthandler

        faulthandler.disable()  # a crash is reported by its exit code, not by a dump into the parent's log
        quiet = os.open(os.devnull, os.O_WRONLY)  # the engraver prints warnings from C++, past its log switch
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        try:
            sender.send(("ok", function(*args)))
        except BaseException as error:  # everything goes back to the parent as a reason
            sender.send(("error", f"{type(error).__name__}: {error}" if str(error) else traceback.format_exc(limit=1)))

    process = context.Process(target=child, daemon=True)
    process.start()
    sender.close()
    received: tuple[str, Any] | None = None
    if receiver.poll(timeout_s):
        try:
            received = receiver.recv()
        except EOFError:  # the child died without answering
            pass
    process.join(timeout=5 if received is not None else 0.1)
    if process.is_alive():
        process.kill()
        process.join()
    if received is None:
        return False, (f"timed out after {timeout_s:.0f} s" if process.exitcode in (None, -9)
                       else f"the engraver crashed (exit code {process.exitcode})")
    return received[0] == "ok", received[1]


def _write_page(slot: PageSlot, piece: Piece, split: str, rendered: Any, root: Path,
                failures: list[dict[str, str]]) -> dict[str, Any]:
    write_start = time.perf_counter()
    image, cls, inst = f"images/{slot.name}.png", f"segmentation/{slot.name}_cls.png", f"segmentation/{slot.name}_inst.png"
    for relative, array in ((image, rendered.gray), (cls, rendered.classes), (inst, rendered.instances)):
        with atomic_path(root / relative) as temp:
            Image.fromarray(array).save(temp, format="PNG")
    height, width = rendered.gray.shape
    page = ScorePage(image=image, width=width, height=height, symbols=tuple(rendered.symbols), piece=piece.path,
                     font=slot.layout.font, split=split, class_mask=cls, instance_mask=inst,
                     staff_space=round(rendered.staff_space, 3))
    record = {"name": slot.name, "page": page_to_json(page), "ink_coverage": round(rendered.ink_coverage, 5),
              "unmapped": rendered.unmapped, "page_count": rendered.page_count, "skipped": failures,
              "layout": asdict(slot.layout), "page_fraction": slot.page_fraction}

    atomic_write_json(root / "pages" / f"{slot.name}.json", record)  # last: marks the page as done
    # Timings vary from run to run: returned to the caller, never written, so files stay identical.
    return {**record, "seconds": {**rendered.seconds, "write": time.perf_counter() - write_start}}


def page_to_json(page: ScorePage) -> dict[str, Any]:
    data = asdict(page)
    data["symbols"] = [asdict(s) for s in page.symbols]
    return data


def page_from_json(data: dict[str, Any]) -> ScorePage:
    symbols = tuple(SymbolAnnotation(s["class_name"], tuple(s["bbox"]), tuple(s["o_bbox"]) if s["o_bbox"] else None,
                                     s["area"], s["instance"]) for s in data["symbols"])
    return ScorePage(**{**data, "symbols": symbols})


def generate_scores(config: ScoreDataConfig, out: Path, workers: int = 1,
                    progress: Callable[[int, int], None] | None = None) -> GenerationResult:
    """Generate (or complete) the dataset in `out`; returns what was made and what was skipped."""
    out = Path(out)
    check_output_folder(out, config)
    slots = plan_pages(config)
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for slot in slots:
        done = out / "pages" / f"{slot.name}.json"
        if done.is_file() and (out / "images" / f"{slot.name}.png").is_file():
            records[slot.name] = read_json(done)
        else:
            todo.append(slot)
    reused = len(records)
    if progress:
        progress(len(records), len(slots))
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for record in pool.map(render_slot, todo, [out] * len(todo), chunksize=1):
                records[record["name"]] = record
                if progress:
                    progress(len(records), len(slots))
    else:
        for slot in todo:
            record = render_slot(slot, out)
            records[record["name"]] = record
            if progress:
                progress(len(records), len(slots))
    result = GenerationResult(root=out, pages=0, reused=reused)
    pages = []
    for slot in slots:
        record = records[slot.name]
        result.skipped += [{**s, "page": slot.name} for s in record.get("skipped", [])]
        for stage, value in record.get("seconds", {}).items():
            result.seconds[stage] = result.seconds.get(stage, 0.0) + value
        if not record.get("failed"):
            pages.append(page_from_json(record["page"]))
    result.pages = len(pages)
    write_dataset_files(out, config, pages, [records[s.name] for s in slots], result.skipped)
    return result


def check_output_folder(out: Path, config: ScoreDataConfig) -> None:
    """Refuse an unwritable folder, or one holding a dataset made with another config."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise InputError(f"cannot write to {out}: {error.strerror or error}") from None
    manifest = out / "manifest.json"
    if manifest.is_file():
        try:
            previous = read_json(manifest).get("config", {})
        except (json.JSONDecodeError, OSError):
            previous = {}
        current = json.loads(json.dumps(asdict(config)))
        different = {k for k in current if k != "pages" and previous.get(k) != current[k]}
        if different:
            raise ConfigError(f"{out} holds a dataset made with other settings ({', '.join(sorted(different))})",
                              hint="use a new --out folder, or the same settings to complete or extend it")


def write_dataset_files(out: Path, config: ScoreDataConfig, pages: list[ScorePage], records: list[dict[str, Any]],
                        skipped: list[dict[str, str]]) -> None:
    from deepwild.data.deepscores import write_deepscores_json

    dataset = SymbolDataset(pages=tuple(pages), root=out)
    for split in SPLITS:
        write_deepscores_json(dataset.split(split), out / f"deepscores_{split}.json",
                              info={"description": f"deepwild score data, split {split}", "version": __version__})
    coverage = {r["name"]: r["ink_coverage"] for r in records if not r.get("failed")}
    unmapped: Counter[str] = Counter()
    for record in records:
        unmapped.update(record.get("unmapped", {}))
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "manifest.json" and not p.name.startswith("."))
    manifest = {
        "generator": GENERATOR, "versions": package_versions(), "seed": config.seed,
        "config": json.loads(json.dumps(asdict(config))),
        "fonts": {"train_val_test": [f for f in config.fonts if f != config.unseen_font], "unseen": config.unseen_font},
        "splits": {split: {"pages": sum(p.split == split for p in pages),
                           "pieces": len({p.piece for p in pages if p.split == split})} for split in SPLITS},
        "class_counts": {split: dict(sorted(dataset.class_counts(split).items())) for split in SPLITS},
        "ink_coverage": {"mean": float(np.mean(list(coverage.values()))) if coverage else 0.0,
                         "min": float(min(coverage.values())) if coverage else 0.0,
                         "threshold": config.min_coverage,
                         "pages_below": sorted(n for n, c in coverage.items() if c < config.min_coverage)},
        "unmapped_glyphs": dict(unmapped.most_common()),
        "skipped": skipped,
        "files": {p.relative_to(out).as_posix(): sha256_file(p) for p in files},
    }
    atomic_write_json(out / "manifest.json", manifest)


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"deepwild": __version__}
    for package in ("verovio", "music21", "resvg-py", "numpy", "pillow"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "missing"
    return versions
