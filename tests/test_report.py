"""The run report (one self-contained HTML file, rebuilt while training) and the comparison of runs."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
import torch

from deepwild.cli import main as cli
from deepwild.core.errors import DeepwildError
from deepwild.engine.hooks import HookBase
from deepwild.engine.run import RunDir
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.sections import Figure, Section, write_section
from deepwild.core.charts import Rule, Series, heatmap, line_chart, nice_ticks, trajectory_chart
from deepwild.report.compare import build_comparison, flatten
from deepwild.report.hook import ReportHook
from deepwild.report.html import build_report
from deepwild.tasks import digits
from tests.helpers.tiny import tiny_config

PROCESS_ONLY = InterpretConfig(process=True, features=False, attribution=False, infoplane=False)


class ReadReportAfterEpoch(HookBase):
    """Placed after ReportHook: what the report said right after each epoch."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def after_epoch(self, trainer) -> None:
        page = (trainer.run.path / "report" / "index.html").read_text()
        self.seen.append(re.search(r"epoch \d+ of \d+", page).group(0))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two tiny digits runs that differ in their learning rate only; the first evaluated."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    config = dataclasses.replace(tiny_config(epochs=2), interpret=PROCESS_ONLY)
    reader = ReadReportAfterEpoch()
    first = digits.train(config, root=root, name="first", extra_hooks=(ReportHook(), reader))
    digits.evaluate(first.run.path)
    faster = dataclasses.replace(config, train=dataclasses.replace(config.train, lr=1e-2))
    second = digits.train(faster, root=root, name="second")
    return first, second, reader


def inlined_images(page: str) -> list[tuple[str, bytes]]:
    sources = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert all(s.startswith("data:image/") for s in sources), "every picture is inlined"
    return [(s.split(";")[0][len("data:"):], base64.b64decode(s.split(",", 1)[1])) for s in sources]


def test_report_inlines_every_picture_and_shows_the_whole_run(two_runs):
    first, _, _ = two_runs
    page = build_report(first.run.path).read_text()
    images = inlined_images(page)
    svgs = [data for mime, data in images if mime == "image/svg+xml"]
    pngs = [data for mime, data in images if mime == "image/png"]
    assert len(svgs) == 5  # learning curves (loss, accuracy), 3 process figures
    assert all(ElementTree.fromstring(svg).tag.endswith("svg") for svg in svgs)
    assert len(pngs) == 1 and pngs[0].startswith(b"\x89PNG")  # the confusion matrix
    assert "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page)  # opens offline
    assert f"{first.package.metrics['test_accuracy']:.4f}" in page  # model metrics
    assert "<h3>Per class</h3>" in page and "<th>precision</th>" in page  # per-class evaluation
    assert "Training process" in page and "dead share, epoch 0" in page  # the process section and its tables
    assert "sklearn-digits" in page and re.search(r"train: \d+, val: \d+, test: \d+", page)  # data summary
    assert "&quot;task&quot;: &quot;digits&quot;" in page and "epoch 2 of 2" in page


def test_report_is_rebuilt_after_every_epoch(two_runs):
    _, _, reader = two_runs
    assert reader.seen == ["epoch 1 of 2", "epoch 2 of 2"]


def test_report_renders_any_section_in_order_and_only_files_of_the_run(tmp_path):
    from PIL import Image

    run = RunDir.create("digits", tmp_path, "sections")
    run.write_config({"task": "digits"})
    Image.new("RGB", (4, 3), "red").save(tmp_path / "outside.png")
    picture = run.path / "interpret" / "late" / "picture.png"
    picture.parent.mkdir(parents=True)
    Image.new("RGB", (5, 2), "blue").save(picture)
    write_section(run.path, Section(key="late", title="Late section", order=50, text="first\n\nsecond",
                                    figures=(Figure("interpret/late/picture.png", "a blue picture"),
                                             Figure("../outside.png"), Figure("interpret/late/missing.png")),
                                    tables=([{"layer": "conv1", "score": 0.5}, {"layer": "conv2", "extra": 2}],)))
    write_section(run.path, Section(key="early", title="Early section", order=5))
    broken = run.path / "interpret" / "broken" / "section.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"key": "broken", "title": "x", "order": 1, "unknown": 1}')
    page = build_report(run.path).read_text()
    assert page.index("Early section") < page.index("Late section") < page.index("unreadable section")
    assert "<p>first</p><p>second</p>" in page and "a blue picture" in page
    assert len(inlined_images(page)) == 1  # the picture outside the run is not read
    assert "picture outside the run left out: ../outside.png" in page and "missing.png is missing" in page
    assert "<th>layer</th><th>score</th><th>extra</th>" in page and "<td>0.5000</td>" in page


def test_line_chart_breaks_lines_at_missing_values_and_drops_non_positive_on_a_log_axis():
    chart = line_chart("loss", [Series("a", (1, 2, 3, 4), (1.0, float("nan"), 0.5, 0.25)),
                                Series("b", (1, 2), (0.0, 2.0), dashed=True)], log_y=True)
    root = ElementTree.fromstring(chart)
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert [len(line.get("points").split()) for line in lines] == [1, 2, 1]  # a: 1 | 3, 4; b: only 2.0
    assert "stroke-dasharray" in lines[2].attrib
    assert "no data yet" in line_chart("empty", [Series("a", (), ())])
    assert nice_ticks(0.28, 0.57) == [0.3, 0.4, 0.5] and nice_ticks(1, 2, 6, integer=True) == [1, 2]


def test_trajectory_chart_colours_points_dark_to_light_and_draws_its_reference_lines():
    layers = [Series("conv1", (1.0, 2.0, 3.0), (0.5, 1.0, 1.5)), Series("conv2", (4.0, 5.0, 6.0), (2.0, 2.5, 3.0))]
    root = ElementTree.fromstring(trajectory_chart("plane", layers, (0.0, 0.5, 1.0), "I(X;T)", "I(T;Y)", (0.0, 8.0),
                                                   (0.0, 4.0), [Rule("x", 7.0), Rule("y", 3.3, dashed=False)], "saturated"))
    svg = "{http://www.w3.org/2000/svg}"
    circles, squares = root.findall(f"{svg}circle"), root.findall(f"{svg}rect")[2:]  # background, frame, markers
    assert len(circles) == 3 and len(squares) == 3  # one marker shape per layer, one marker per point

    def brightness(element):
        return sum(int(element.get("fill")[i:i + 2], 16) for i in (1, 3, 5))

    assert brightness(circles[0]) < brightness(circles[1]) < brightness(circles[2])  # epoch: dark → light
    assert [float(c.get("cx")) for c in circles] == sorted(float(c.get("cx")) for c in circles)
    texts = [t.text for t in root.iter(f"{svg}text")]
    assert {"conv1", "conv2", "saturated", "I(T;Y)"} <= set(texts)
    red = [line for line in root.findall(f"{svg}line") if line.get("stroke") == "#d62728"]
    assert len(red) == 2 and red[0].get("x1") == red[0].get("x2") and red[1].get("y1") == red[1].get("y2")


def test_heatmap_places_unevenly_spaced_columns_at_their_x():
    values = np.array([[0.0, 0.5, 1.0], [1.0, 0.5, 0.0]])  # (rows, columns)
    even = ElementTree.fromstring(heatmap("w", values, [0, 1, 2], (-1.0, 1.0)))
    uneven = ElementTree.fromstring(heatmap("w", values, [0, 1, 4], (-1.0, 1.0)))
    svg = "{http://www.w3.org/2000/svg}"
    assert len(even.findall(f"{svg}image")) == 1  # one picture of 2 × 3 cells
    images = uneven.findall(f"{svg}image")
    widths = [float(image.get("width")) for image in images]
    assert len(images) == 3 and widths[2] > widths[0]  # the last column reaches halfway back to epoch 1
    assert float(images[1].get("x")) < float(images[2].get("x"))


def test_comparison_overlays_curves_and_shows_metrics_and_config_differences(two_runs):
    first, second, _ = two_runs
    target = build_comparison([first.run.path, second.run.path])
    assert target == first.run.path.parent / "compare" / "first--second.html"
    page = target.read_text()
    charts = [ElementTree.fromstring(data) for mime, data in inlined_images(page)]
    assert len(charts) == 2 and all(len(c.findall("{http://www.w3.org/2000/svg}polyline")) == 4 for c in charts)
    assert "1 of" in page and "<td>train.lr</td><td>0.0030</td><td>0.0100</td>" in page
    accuracy = [f"{run.package.metrics['test_accuracy']:.4f}" for run in (first, second)]
    assert re.search(rf"<td>model: test_accuracy</td><td>{accuracy[0]}</td><td>{accuracy[1]}</td>", page)
    assert '<a href="../first/report/index.html">report</a>' in page


def test_comparison_refuses_one_run_a_run_twice_and_a_page_that_is_not_html(two_runs, tmp_path):
    first, second, _ = two_runs
    with pytest.raises(DeepwildError, match="at least two"):
        build_comparison([first.run.path])
    with pytest.raises(DeepwildError, match="given twice"):
        build_comparison([first.run.path, first.run.path / "." ])
    with pytest.raises(DeepwildError, match="must name an .html file"):
        build_comparison([first.run.path, second.run.path], out=tmp_path / "page.png")
    assert flatten({"train": {"lr": 0.1, "opt": {"m": 1}}, "a": {}}) == {"train.lr": 0.1, "train.opt.m": 1, "a": {}}


def run_cli(monkeypatch, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "argv", ["deepwild", *args])
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    try:
        cli.main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def test_report_command_compares_runs_and_fails_in_one_line_on_bad_input(two_runs, tmp_path, monkeypatch):
    first, second, _ = two_runs
    monkeypatch.delenv("DEEPWILD_DEBUG", raising=False)
    page = tmp_path / "both.html"
    code, out, _ = run_cli(monkeypatch, "report", str(first.run.path), str(second.run.path), "--out", str(page))
    assert code == 0 and page.is_file() and "comparison" in out
    (tmp_path / "not-a-run").mkdir()
    for args in ([str(tmp_path / "missing")], [str(first.run.path), str(tmp_path / "not-a-run")],
                 [str(first.run.path), "--out", str(page)]):
        code, _, err = run_cli(monkeypatch, "report", *args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("deepwild: error: "), err
        assert "Traceback" not in err


def test_train_command_keeps_the_report_current_and_no_report_turns_it_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quick = ["--epochs", "1", "--threads", "1", "--progress", "off", "--runs-dir", str(tmp_path), "--set", "image_size=16",
             "--set", "width=8", *[f"--set=interpret.{hook}=false" for hook in ("process", "features", "attribution",
                                                                               "infoplane")]]
    code, out, err = run_cli(monkeypatch, "train", "digits", *quick, "--name", "with-report")
    report = tmp_path / "with-report" / "report" / "index.html"
    assert code == 0, err
    assert f"report   {report}" in out and "<h2 id=model>Model</h2>" in report.read_text()  # built after the export
    code, out, err = run_cli(monkeypatch, "eval", "with-report", "--runs-dir", str(tmp_path))
    assert code == 0, err
    assert "Evaluation: test" in report.read_text()  # eval updates a run's report
    code, out, err = run_cli(monkeypatch, "train", "digits", *quick, "--name", "without", "--no-report")
    assert code == 0, err
    assert not (tmp_path / "without" / "report").exists() and "report " not in out
