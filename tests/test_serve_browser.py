"""The service's web page in a real browser: headless Debian chromium, driven over the DevTools protocol,
opens the page from a real uvicorn server, runs the bundled score example and an uploaded newspaper page,
and must draw the overlay (boxes, polygons) and fill the table, with no console error. Screenshots go
to the test's tmp folder. Fake models keep it quick: the page, not the networks, is under test here."""

from __future__ import annotations

import time

import pytest

from deepwild.serve.app import create_app
from deepwild.serve.models import ASSETS
from tests.helpers.browser import PAGE_TIMEOUT_S, HeadlessChromium, ensure_chromium
from tests.helpers.live_server import live_server
from tests.helpers.serve_models import fake_detector, fake_segmenter

NEWSPAPER = ASSETS.parent / "serve" / "static" / "examples" / "newspaper-page.png"
OVERLAY = """({rects: document.querySelectorAll('#overlay rect').length,
             polygons: document.querySelectorAll('#overlay polygon').length,
             rows: document.querySelectorAll('#table tbody tr').length,
             summary: document.getElementById('summary').textContent,
             json: document.getElementById('download-json') !== null,
             xml: document.getElementById('download-xml') !== null,
             visible: !document.getElementById('result').hidden,
             imageWidth: document.getElementById('page').naturalWidth})"""


@pytest.fixture(scope="module")
def chromium() -> str:
    return ensure_chromium()


def wait_for_state(browser: HeadlessChromium, *states: str) -> str:
    deadline = time.monotonic() + PAGE_TIMEOUT_S
    while time.monotonic() < deadline:
        state = browser.evaluate("document.body.dataset.state || ''")
        if state in states:
            return state
        time.sleep(0.05)
    status = browser.evaluate("document.getElementById('status').textContent")
    raise AssertionError(f"the page never reached {states}; its status: {status}")


def upload_file(browser: HeadlessChromium, selector: str, path: str) -> None:
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
    browser.call("DOM.setFileInputFiles", nodeId=node, files=[path])


@pytest.mark.slow
def test_the_page_draws_boxes_and_polygons_with_tables_and_downloads(chromium, tmp_path):
    app = create_app([fake_detector("omr-fake", suspicious=True), fake_segmenter("news-fake")])
    with live_server(app) as url, HeadlessChromium(chromium) as browser:
        browser.open(f"{url}/")
        assert wait_for_state(browser, "ready", "error") == "ready"
        tasks = browser.evaluate("Array.from(document.querySelectorAll('#task option')).map(o => o.value)")
        browser.evaluate("document.getElementById('example').click()")  # the bundled score page
        assert wait_for_state(browser, "done", "error") == "done"
        detected = browser.evaluate(OVERLAY)
        browser.screenshot(tmp_path / "serve_detect.png")

        browser.evaluate("""(() => { const task = document.getElementById('task');
                                     task.value = '/v1/news/segment'; task.dispatchEvent(new Event('change')); })()""")
        upload_file(browser, "#file", str(NEWSPAPER))
        browser.evaluate("document.getElementById('run').click()")
        assert wait_for_state(browser, "working", "done", "error") in ("working", "done")
        assert wait_for_state(browser, "done", "error") == "done"
        segmented = browser.evaluate(OVERLAY)
        shot = browser.screenshot(tmp_path / "serve_segment.png")
        errors = browser.console_errors()
    assert tasks == ["/v1/omr/detect", "/v1/news/segment"]
    assert detected["visible"] and detected["rects"] == 1 and detected["rows"] == 1 and detected["json"]
    assert detected["imageWidth"] == 1240 and not detected["xml"]
    assert detected["summary"] == ("score-page.png: 1 symbol, SUSPICIOUS input (adversarial score 0.9) by omr-fake "
                                   "(version 0123456789ab)")
    assert segmented["polygons"] == 2 and segmented["rects"] == 0 and segmented["rows"] == 2
    assert "newspaper-page.png: 2 articles by news-fake" in segmented["summary"] and segmented["xml"]
    assert errors == []
    assert shot.read_bytes().startswith(b"\x89PNG") and (tmp_path / "serve_detect.png").is_file()


@pytest.mark.slow
def test_the_page_shows_the_services_error_message(chromium, tmp_path):
    app = create_app([fake_detector("omr-fake")])
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_bytes(b"these are not pixels")
    with live_server(app) as url, HeadlessChromium(chromium) as browser:
        browser.open(f"{url}/")
        wait_for_state(browser, "ready")
        upload_file(browser, "#file", str(not_an_image))
        browser.evaluate("document.getElementById('run').click()")
        assert wait_for_state(browser, "done", "error") == "error"
        status = browser.evaluate("document.getElementById('status').textContent")
    assert status.startswith("400: notes.png is not an image")


@pytest.mark.slow
def test_the_api_docs_render_without_the_internet(chromium):
    with live_server(create_app([fake_detector("omr-fake")])) as url, HeadlessChromium(chromium) as browser:
        browser.open(f"{url}/docs")
        deadline = time.monotonic() + PAGE_TIMEOUT_S
        paths: list[str] = []
        while not paths and time.monotonic() < deadline:
            paths = browser.evaluate("Array.from(document.querySelectorAll('.opblock-summary-path'))"
                                     ".map(e => e.textContent)")
            time.sleep(0.05)
        errors = browser.console_errors()
    assert {"/v1/omr/detect", "/v1/news/segment", "/v1/classify", "/v1/models", "/health", "/metrics"} <= set(paths)
    assert errors == []
