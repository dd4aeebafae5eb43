"""The report in a real browser: headless Debian chromium opens a trained run's report from file://,
every picture must load and the console must stay free of errors. The screenshot is kept in
tests/artifacts/ (not in git) for a person to look at."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from deepwild.report.hook import ReportHook
from deepwild.report.html import build_report
from deepwild.tasks import digits
from tests.helpers.browser import HeadlessChromium, ensure_chromium
from tests.helpers.tiny import tiny_config

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

IMAGES = """Array.from(document.images).map(img => ({alt: img.alt, complete: img.complete,
                                                width: img.naturalWidth, height: img.naturalHeight}))"""


@pytest.fixture(scope="module")
def chromium() -> str:
    return ensure_chromium()


@pytest.mark.slow
def test_report_opens_in_chromium_with_every_picture_and_no_console_error(chromium, tmp_path):
    torch.set_num_threads(1)
    outcome = digits.train(tiny_config(epochs=2), root=tmp_path, name="browser", extra_hooks=(ReportHook(),))
    digits.evaluate(outcome.run.path)
    report = build_report(outcome.run.path)  # the default interpretability hooks all on
    with HeadlessChromium(chromium) as browser:
        browser.open(report.resolve().as_uri())
        images = browser.evaluate(IMAGES)
        title = browser.evaluate("document.title")
        headings = browser.evaluate("Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
        shot = browser.screenshot(ARTIFACTS / "report_chromium.png")
        errors = browser.console_errors()
    assert title == "browser"
    assert len(images) >= 7, images  # 2 learning curves, the confusion matrix, 3 process figures, more sections
    broken = [image["alt"] for image in images if not (image["complete"] and image["width"] > 0 and image["height"] > 0)]
    assert broken == []
    assert errors == []
    assert {"Learning curves", "Training process", "Data", "Config"} <= set(headings)
    assert shot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_the_browser_check_sees_a_broken_picture_and_a_console_error(chromium, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!doctype html><html><head><title>t</title></head><body>'
                    '<img alt="good" src="data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmci'
                    'IHdpZHRoPSI0IiBoZWlnaHQ9IjQiLz4=">'
                    '<img alt="broken" src="data:image/png;base64,AAAA">'
                    '<script>console.error("something broke")</script></body></html>')
    with HeadlessChromium(chromium) as browser:
        browser.open(page.as_uri())
        images = {image["alt"]: image for image in browser.evaluate(IMAGES)}
        errors = browser.console_errors()
    assert images["good"]["width"] == 4 and images["broken"]["width"] == 0
    assert any("something broke" in error for error in errors)
