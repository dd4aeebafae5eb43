"""Batch runs of `detect` and `segment`: complete pages skipped, deleted outputs redone, failures kept apart
with their reasons, the summary (printed and summary.json), and worker processes giving the same outputs."""

from __future__ import annotations

import json
import os

import pytest
import torch

from deepwild.core.errors import InputError
from deepwild.tasks.batch import run_batch
from tests.helpers.batch_jobs import UpperCaseJob
from tests.helpers.cli import run_cli
from tests.helpers.tiny_packages import music_pages, newspaper_page, tiny_news_package, uncalibrated_shipped_detector

torch.set_num_threads(1)


def pages_of(folder, texts: dict[str, str]):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in texts.items():
        (folder / f"{name}.txt").write_text(text)
        paths.append(folder / f"{name}.txt")
    return paths


def test_a_second_run_skips_complete_pages_and_a_deleted_output_is_redone(tmp_path):
    pages = pages_of(tmp_path / "in", {"a": "alpha", "b": "beta", "c": "gamma"})
    job = UpperCaseJob(tmp_path / "out")
    first = run_batch(job, pages)
    assert (first.done, first.skipped, first.failed, first.exit_code) == (3, 0, 0, 0)
    assert (tmp_path / "out" / "b.txt").read_text() == "BETA"
    second = run_batch(job, pages)
    assert (second.done, second.skipped) == (0, 3)
    (tmp_path / "out" / "b.json").unlink()  # b is no longer complete (an interrupted page has no JSON)
    (tmp_path / "out" / "b.txt").write_text("stale")
    heard = []
    third = run_batch(job, pages, on_page=heard.append)
    assert (third.done, third.skipped) == (1, 2) and (tmp_path / "out" / "b.txt").read_text() == "BETA"
    assert [(r.page, r.status) for r in heard if r.status == "done"] == [(str(pages[1]), "done")]
    assert run_batch(job, pages, redo=True).done == 3


def test_failures_stay_apart_with_their_reasons_and_set_the_exit_code(tmp_path):
    pages = pages_of(tmp_path / "in", {"a": "alpha", "bad": "bad scan", "crash": "crash", "d": "delta"})
    summary = run_batch(UpperCaseJob(tmp_path / "out"), pages)
    assert (summary.done, summary.failed, summary.exit_code) == (2, 2, 1)
    assert summary.failures == ((str(pages[1]), f"{pages[1]} is a bad page (scan it again)"),
                                (str(pages[2]), "ZeroDivisionError: division by zero"))
    assert (tmp_path / "out" / "d.json").is_file() and not (tmp_path / "out" / "bad.json").exists()
    only_bad = run_batch(UpperCaseJob(tmp_path / "out2"), pages[1:3])
    assert only_bad.exit_code == 2 and (tmp_path / "out2" / "summary.json").is_file()
    one_bad = run_batch(UpperCaseJob(tmp_path / "out3"), pages[1:2])  # one page: an error, no summary file
    assert one_bad.exit_code == 2 and one_bad.file is None and not (tmp_path / "out3").exists()
    resumed = run_batch(UpperCaseJob(tmp_path / "out"), pages)  # failed pages are tried again, done ones not
    assert (resumed.skipped, resumed.failed) == (2, 2)
    with pytest.raises(InputError, match="positive"):
        run_batch(UpperCaseJob(tmp_path / "out"), pages, workers=0)


def test_the_summary_is_written_as_json_and_clashing_names_fail_alone(tmp_path):
    pages = pages_of(tmp_path / "one", {"x": "first", "summary": "would overwrite the summary"})
    pages += pages_of(tmp_path / "two", {"x": "same name, other folder"})
    summary = run_batch(UpperCaseJob(tmp_path / "out"), pages)
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written == summary.to_json() and summary.file == tmp_path / "out" / "summary.json"
    assert {k: written[k] for k in ("command", "workers", "pages", "done", "skipped", "failed")} == {
        "command": "upper", "workers": 1, "pages": 3, "done": 1, "skipped": 0, "failed": 2}
    reasons = {f["page"]: f["reason"] for f in written["failures"]}
    assert "summary.json" in reasons[str(pages[1])] and str(pages[0]) in reasons[str(pages[2])]
    assert (tmp_path / "out" / "x.txt").read_text() == "FIRST"
    assert written["pages_per_second"] > 0


def test_two_worker_processes_write_what_one_process_writes(tmp_path):
    pages = pages_of(tmp_path / "in", {f"p{i}": f"page {i}" * (i + 1) for i in range(6)} | {"bad": "bad"})
    one = run_batch(UpperCaseJob(tmp_path / "one"), pages)
    two = run_batch(UpperCaseJob(tmp_path / "two"), pages, workers=2)
    assert (two.done, two.failed, two.failures) == (one.done, one.failed, one.failures)
    for name in (f"p{i}" for i in range(6)):
        for suffix in (".txt", ".json"):
            assert (tmp_path / "one" / (name + suffix)).read_text() == (tmp_path / "two" / (name + suffix)).read_text()
    pids = {(tmp_path / "two" / f"p{i}.pid").read_text() for i in range(6)}
    assert str(os.getpid()) not in pids  # the pages went to worker processes


@pytest.mark.slow
def test_a_worker_that_dies_fails_the_unfinished_pages_and_the_next_run_does_them(tmp_path):
    pages = pages_of(tmp_path / "in", {"die": "die"} | {f"p{i}": f"page {i}" for i in range(4)})
    summary = run_batch(UpperCaseJob(tmp_path / "out"), pages, workers=2)
    assert summary.done + summary.failed == 5 and summary.exit_code in (1, 2)
    assert (str(pages[0]), "a worker process died (out of memory?)") in summary.failures
    again = run_batch(UpperCaseJob(tmp_path / "out"), pages)
    assert again.done + again.skipped == 4 and again.failures == ((str(pages[0]), f"{pages[0]} would kill its worker"),)


@pytest.mark.slow
def test_detect_over_a_folder_in_two_workers_matches_one_and_resumes(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "pile"
    music_pages(folder, count=2)
    (folder / "broken.png").write_bytes((folder / "music0.png").read_bytes()[:400])
    (folder / "notes.png").write_text("not an image")
    model = str(uncalibrated_shipped_detector(tmp_path / "model"))  # no adversarial flags: half the time a page
    code, out, _ = run_cli(monkeypatch, capsys, "detect", model, str(folder), "--out", str(tmp_path / "one"))
    assert code == 1 and "2 done, 0 skipped (complete), 2 failed of 4 pages" in out
    assert "broken.png: image" in out and "truncated" in out and "notes.png" in out and "not an image" in out
    code, out, _ = run_cli(monkeypatch, capsys, "detect", model, str(folder), "--out", str(tmp_path / "two"),
                           "--workers", "2")
    assert code == 1 and "with 2 workers" in out
    for index in range(2):
        for name in (f"music{index}.json", f"music{index}_overlay.png"):
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    (tmp_path / "one" / "music1.json").unlink()
    code, out, _ = run_cli(monkeypatch, capsys, "detect", model, str(folder / "music*.png"), "--out",
                           str(tmp_path / "one"))
    assert code == 0 and "1 done, 1 skipped (complete), 0 failed of 2 pages" in out
    summary = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert (summary["command"], summary["runtime"], summary["done"], summary["skipped"]) == ("detect", "torch", 1, 1)


def test_segment_runs_a_pile_skips_what_is_complete_and_reports_bad_pages(tmp_path, monkeypatch, capsys):
    model = tiny_news_package(tmp_path / "model")
    pages = [newspaper_page(tmp_path / "pile" / f"page{i}.png", seed=i) for i in range(2)]
    small = tmp_path / "pile" / "small.png"
    from PIL import Image

    Image.new("L", (40, 300), 255).save(small)
    out = tmp_path / "articles"
    code, text, _ = run_cli(monkeypatch, capsys, "segment", str(model), str(tmp_path / "pile"), "--out", str(out))
    assert code == 1 and "2 done, 0 skipped (complete), 1 failed of 3 pages" in text and "too small" in text
    for page in pages:
        written = json.loads((out / f"{page.stem}.json").read_text())
        assert written["model"] == "news-tiny" and (out / f"{page.stem}.xml").is_file()
        assert (out / f"{page.stem}_overlay.png").is_file()
    code, text, _ = run_cli(monkeypatch, capsys, "segment", str(model), *map(str, pages), "--out", str(out))
    assert code == 0 and "0 done, 2 skipped (complete)" in text
    monkeypatch.setenv("DEEPWILD_CACHE", str(tmp_path / "cache"))
    code, text, _ = run_cli(monkeypatch, capsys, "segment", str(model), *map(str, pages),
                            "--out", str(tmp_path / "onnx"), "--runtime", "onnx")
    assert code == 0 and json.loads((tmp_path / "onnx" / "summary.json").read_text())["runtime"] == "onnx"
    for page in pages:  # the same articles from the ONNX export
        assert (tmp_path / "onnx" / f"{page.stem}.json").read_text() == (out / f"{page.stem}.json").read_text()
    code, text, errors = run_cli(monkeypatch, capsys, "segment", str(model), str(small), "--out", str(out))
    lines = [line for line in (text + errors).splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "too small" in lines[0]  # one page: the one-line error
