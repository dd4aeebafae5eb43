"""Score data: labels that match the ink, splits without leakage, determinism, resume, bad input."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from deepwild.core.errors import ConfigError, InputError
from deepwild.core.io import read_json
from deepwild.data.dataset_folder import load_symbol_dataset
from deepwild.data.deepscores_classes import CLASS_ID
from deepwild.datagen.scores.corpus import Piece
from deepwild.datagen.scores.generate import (PageSlot, ScoreDataConfig, generate_scores, plan_pages, render_slot)
from deepwild.datagen.scores.render import Layout, PageRenderer

CHORALE = Piece("bach/bwv66.6.mxl", "bach")  # four staves, A major: three sharps per key signature


@pytest.fixture(scope="module")
def chorale():
    return PageRenderer().render(CHORALE, Layout(), 0.0)


def test_every_symbol_box_encloses_its_ink(chorale):
    for symbol in chorale.symbols:
        rows, cols = np.nonzero(chorale.instances == symbol.instance)
        assert len(rows) == symbol.area > 0, symbol
        x0, y0, x1, y1 = symbol.bbox  # every ink pixel's centre lies in the box, give or take 1 px of anti-aliasing
        assert cols.min() + 0.5 >= x0 - 1 and cols.max() + 0.5 <= x1 + 1, symbol
        assert rows.min() + 0.5 >= y0 - 1 and rows.max() + 0.5 <= y1 + 1, symbol
        assert chorale.classes[rows[0], cols[0]] == CLASS_ID[symbol.class_name]


def test_ink_is_covered_and_classes_are_deepscores(chorale):
    assert chorale.ink_coverage >= 0.97
    names = {s.class_name for s in chorale.symbols}
    assert names <= set(CLASS_ID)
    assert {"staff", "clefG", "clefF", "keySharp", "stem", "timeSigCommon", "fermataAbove"} <= names
    counts = [s.class_name for s in chorale.symbols]
    assert counts.count("keySharp") % 3 == 0 and counts.count("keySharp") >= 12  # 3 sharps × 4 staves per system
    assert "accidentalSharp" in names  # the same glyph outside a key signature is an accidental


def test_noteheads_on_lines_and_in_spaces_agree_with_the_staff_geometry(chorale):
    staves = [s for s in chorale.symbols if s.class_name == "staff"]
    checked = 0
    for head in (s for s in chorale.symbols if s.class_name.startswith("noteheadBlack")):
        cx, cy = head.center
        staff = min(staves, key=lambda s: abs((s.bbox[1] + s.bbox[3]) / 2 - cy) + (0 if s.bbox[0] <= cx <= s.bbox[2] else 1e6))
        space = (staff.height) / 4  # five lines, four spaces (box edges lie half a line width out)
        steps = (cy - staff.bbox[1]) / (space / 2)
        expected = "OnLine" if round(steps) % 2 == 0 else "InSpace"
        assert head.class_name.endswith(expected), (head, steps)
        checked += 1
    assert checked > 100


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("scores")
    config = ScoreDataConfig(pages=3, seed=5, composers=("bach", "mozart", "joplin"))
    result = generate_scores(config, out, workers=1)
    return out, config, result


def test_dataset_folder_layout_and_reader_round_trip(small_dataset):
    out, config, result = small_dataset
    assert result.pages == 3
    manifest = read_json(out / "manifest.json")
    assert manifest["seed"] == 5 and manifest["versions"]["verovio"] != "missing"
    assert sum(v["pages"] for v in manifest["splits"].values()) == 3
    dataset = load_symbol_dataset(out)
    assert len(dataset.pages) == 3
    for page in dataset.pages:
        image = np.asarray(Image.open(out / page.image))
        instances = np.asarray(Image.open(out / page.instance_mask))
        assert image.shape == instances.shape == (page.height, page.width)
        assert {s.instance for s in page.symbols} <= set(np.unique(instances).tolist())  # every symbol has pixels
        assert page.staff_space > 5
        record = read_json(out / "pages" / (page.image.split("/")[1].replace(".png", ".json")))
        assert len(record["page"]["symbols"]) == len(page.symbols)
    for name, digest in manifest["files"].items():
        assert (out / name).is_file()
    assert manifest["class_counts"]["train"] or manifest["class_counts"]["test"] or manifest["class_counts"]["val"]


def test_same_seed_gives_identical_files_and_rerun_resumes(small_dataset, tmp_path):
    out, config, _ = small_dataset
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "pages" / "page00001.json").unlink()  # as if killed while page 1 was being written
    (copy / "images" / "page00001.png").unlink()
    result = generate_scores(config, copy, workers=1)
    assert result.reused == 2 and result.pages == 3
    assert read_json(copy / "manifest.json")["files"] == read_json(out / "manifest.json")["files"]
    fresh = generate_scores(replace(config, seed=6), tmp_path / "other", workers=1)
    assert read_json(tmp_path / "other" / "manifest.json")["files"] != read_json(out / "manifest.json")["files"]
    assert fresh.pages == 3


def test_splits_are_by_piece_and_unseen_font_is_kept_apart():
    config = ScoreDataConfig(pages=300, seed=0)
    slots = plan_pages(config)
    split_of_piece: dict[str, str] = {}
    for slot in slots:
        for piece, split in slot.candidates:
            assert split_of_piece.setdefault(piece.path.split("#")[0], split) == split
        if slot.unseen_font:
            assert slot.layout.font == "Petaluma" and all(split == "test" for _, split in slot.candidates)
        else:
            assert slot.layout.font != "Petaluma"
    assert 10 <= sum(s.unseen_font for s in slots) <= 55
    composers = {slot.candidates[0][0].composer for slot in slots}
    assert len(composers) >= 20  # sampled per composer, not per file (Palestrina would dominate)
    assert plan_pages(config) == slots


def test_a_score_that_fails_is_skipped_with_its_reason(tmp_path):
    slot = PageSlot("page00000", ((Piece("bach/no-such-file.mxl", "bach"), "train"), (CHORALE, "train")), 0.0,
                    Layout(), False)
    record = render_slot(slot, tmp_path)
    assert not record.get("failed") and record["page"]["piece"] == CHORALE.path
    [skipped] = record["skipped"]
    assert skipped["piece"] == "bach/no-such-file.mxl" and "FileNotFoundError" in skipped["reason"]


def test_bad_settings_are_refused_before_anything_is_written(tmp_path, small_dataset):
    from deepwild.core.config import config_from_dict

    with pytest.raises(ConfigError, match="at least 1"):
        config_from_dict(ScoreDataConfig, {"pages": 0})
    with pytest.raises(ConfigError, match="unknown font"):
        config_from_dict(ScoreDataConfig, {"fonts": ["Comic"]})
    with pytest.raises(ConfigError, match="unknown composer"):
        plan_pages(ScoreDataConfig(composers=("nobody",)))
    out, config, _ = small_dataset
    with pytest.raises(ConfigError, match="other settings"):
        generate_scores(replace(config, seed=99), out)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot write"):
        generate_scores(config, blocker / "sub")


def test_a_crashing_or_hanging_engraver_is_contained():
    import os
    import time

    from deepwild.datagen.scores.generate import run_isolated

    assert run_isolated(lambda a, b: a + b, (2, 3), 30) == (True, 5)
    ok, why = run_isolated(os.abort, (), 30)  # what a C++ exception in verovio does to a process
    assert not ok and "crashed" in why
    ok, why = run_isolated(time.sleep, (30,), 0.5)
    assert not ok and "timed out" in why
