"""The run report: one self-contained HTML file built from the run directory alone."""

from __future__ import annotations

import base64
import re

from deepwild.report.html import build_report
from deepwild.tasks import digits
from tests.helpers.tiny import tiny_config


def test_report_inlines_plots_and_shows_metrics(tmp_path):
    outcome = digits.train(tiny_config(epochs=2), root=tmp_path, name="reported")
    digits.evaluate(outcome.run.path)
    page = build_report(outcome.run.path).read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2  # the confusion matrix and the learning curves
    assert all(base64.b64decode(data).startswith(b"\x89PNG") for data in images)
    assert "src=\"http" not in page and "<script" not in page  # opens offline, from the file system
    assert f"{outcome.package.metrics['test_accuracy']:.4f}" in page
    assert "Epochs" in page and "&quot;task&quot;: &quot;digits&quot;" in page
