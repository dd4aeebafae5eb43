"""`deepwild serve`'s API: answers' shapes with model and version, every route's real model path on tiny or
cropped inputs, and the limits that hold under abuse (bombs, truncated and non-image files, over-size
bodies, a full queue, a request over its time), all deterministic: blocked fakes, no timing asserts."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
import xml.etree.ElementTree as ET

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from deepwild.core.errors import DeepwildError, InputError
from deepwild.serve.app import create_app
from deepwild.serve.limits import Limits
from deepwild.serve.models import ASSETS, load_model, load_models
from tests.helpers.serve_models import calibrated_digits_package, fake_detector, png_bytes, png_header_claiming
from tests.helpers.tiny_packages import newspaper_page, tiny_news_package

torch.set_num_threads(1)
DETECT, SEGMENT, CLASSIFY = "/v1/omr/detect", "/v1/news/segment", "/v1/classify"
EXAMPLES = ASSETS.parent / "serve" / "static" / "examples"


def client_for(*models, **limits) -> TestClient:
    return TestClient(create_app(list(models), Limits(**limits)), raise_server_exceptions=False)


def upload(data: bytes, name: str = "page.png") -> dict:
    return {"image": (name, data, "image/png")}


def test_models_list_names_task_route_classes_metrics_and_version():
    unscored = dataclasses.replace(fake_detector("omr-b"), metrics={"test mAP@0.5": float("nan")})
    with client_for(fake_detector("omr-a"), unscored) as client:
        models = client.get("/v1/models").json()["models"]
        health = client.get("/health").json()
    assert [m["name"] for m in models] == ["omr-a", "omr-b"]
    first = models[0]
    assert first["task"] == "omr" and first["route"] == DETECT and first["version"] == "0123456789ab"
    assert first["classes"] == ["noteheadBlackOnLine", "clefG"] and first["metrics"] == {"test mAP@0.5": 0.5}
    assert first["adversarial_detector"] is None
    assert models[1]["metrics"] == {"test mAP@0.5": None}  # NaN in a model card is null in strict JSON
    assert health["status"] == "ok" and health["models"] == 2


def test_model_query_picks_among_the_models_of_a_task_and_an_unknown_name_lists_them():
    with client_for(fake_detector("omr-a"), fake_detector("omr-b")) as client:
        default = client.post(DETECT, files=upload(png_bytes()))
        chosen = client.post(f"{DETECT}?model=omr-b", files=upload(png_bytes()))
        unknown = client.post(f"{DETECT}?model=omr-c", files=upload(png_bytes()))
        no_route = client.post(SEGMENT, files=upload(png_bytes()))
    assert default.json()["model"] == "omr-a" and chosen.json()["model"] == "omr-b"
    assert chosen.headers["x-deepwild-model"] == "omr-b" and chosen.headers["x-deepwild-model-version"] == "0123456789ab"
    assert unknown.status_code == 400 and "omr-a, omr-b" in unknown.json()["hint"]
    assert no_route.status_code == 404 and "/v1/models" in no_route.json()["error"]


def test_the_shipped_detector_answers_a_score_crop_with_the_detections_json():
    page = Image.open(EXAMPLES / "score-page.png")
    crop = io.BytesIO()
    page.crop((0, 0, 640, 400)).save(crop, format="PNG")  # two systems: quick on one thread
    model = load_model(ASSETS / "omr-dwd")
    with client_for(model) as client:
        response = client.post(f"{DETECT}?min_score=0.5", files=upload(crop.getvalue(), "crop.png"))
        unknown_class = client.post(f"{DETECT}?classes=clefG,clefZ", files=upload(crop.getvalue(), "crop.png"))
    body = response.json()
    assert unknown_class.status_code == 400 and unknown_class.json()["error"] == "the model does not detect clefZ"
    assert response.status_code == 200, body
    assert body["image"] == "crop.png" and (body["width"], body["height"]) == (640, 400)
    assert body["model"] == "omr-dwd-shipped" and body["model_version"] == model.version and len(model.version) == 12
    assert len(body["symbols"]) > 10 and all(s["score"] >= 0.5 for s in body["symbols"])
    assert {s["class"] for s in body["symbols"]} <= set(model.classes)
    assert {"noteheadBlackInSpace", "noteheadBlackOnLine"} & {s["class"] for s in body["symbols"]}
    if model.adversarial:  # the detector's page flag passes through
        assert isinstance(body["suspicious"], bool) and isinstance(body["adversarial_score"], float)


def test_segment_answers_articles_json_and_page_xml(tmp_path):
    model = load_model(tiny_news_package(tmp_path / "news"))
    page = newspaper_page(tmp_path / "page.png", size=(300, 420)).read_bytes()
    with client_for(model) as client:
        as_json = client.post(SEGMENT, files=upload(page))
        as_xml = client.post(f"{SEGMENT}?format=pagexml", files=upload(page))
        wrong = client.post(f"{SEGMENT}?format=alto", files=upload(page))
    body = as_json.json()
    assert as_json.status_code == 200, body
    assert (body["width"], body["height"], body["model"], body["model_version"]) == (300, 420, "news-tiny", model.version)
    assert len(body["articles"]) >= 1
    for article in body["articles"]:
        assert {"id", "polygon", "bbox", "score", "reading_order"} <= set(article)
    assert as_xml.headers["content-type"].startswith("application/xml")
    assert as_xml.headers["x-deepwild-model"] == "news-tiny"
    root = ET.fromstring(as_xml.content)
    assert root.tag.endswith("PcGts") and len(root.findall(".//{*}TextRegion")) == len(body["articles"])
    assert wrong.status_code == 422 and "format" in wrong.json()["error"]


def test_the_onnx_runtime_serves_the_same_articles(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPWILD_CACHE", str(tmp_path / "cache"))
    package = tiny_news_package(tmp_path / "news")
    page = newspaper_page(tmp_path / "page.png", size=(300, 420)).read_bytes()
    answers = []
    for runtime in ("torch", "onnx"):
        with client_for(load_model(package, runtime)) as client:
            answers.append(client.post(SEGMENT, files=upload(page)).json())
    assert answers[0]["articles"] and answers[0]["articles"] == answers[1]["articles"]
    assert list((tmp_path / "cache" / "onnx").glob("*.onnx"))  # the export really ran


def test_classify_answers_with_the_adversarial_flag_only_where_the_package_has_a_detector(tmp_path):
    from tests.helpers.tiny import tiny_digits_package

    plain = load_model(tiny_digits_package(tmp_path / "plain"))
    calibrated = load_model(calibrated_digits_package(tmp_path / "calibrated"))
    with client_for(plain, calibrated) as client:
        unflagged = client.post(f"{CLASSIFY}?top_k=2", files=upload(png_bytes(), "seven.png")).json()
        flagged = client.post(f"{CLASSIFY}?model={calibrated.name}", files=upload(png_bytes())).json()
        described = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert unflagged["label"] in [str(d) for d in range(10)] and len(unflagged["top"]) == 2
    assert unflagged["image"] == "seven.png" and unflagged["model_version"] == plain.version
    assert "suspicious" not in unflagged and "adversarial_score" not in unflagged
    assert flagged["suspicious"] is True and isinstance(flagged["adversarial_score"], float)  # threshold -1 flags all
    assert described[calibrated.name]["adversarial_detector"]["detector"] == "entropy"


@pytest.mark.parametrize("data, name, message", [
    (png_header_claiming(50_000, 50_000), "bomb.png", "2,500,000,000 pixels"),
    (png_bytes(300, 200)[:150], "cut.png", "truncated"),
    (b"%PDF-1.4 not an image at all", "page.pdf", "not an image"),
    (png_bytes(mode="LAB", fmt="TIFF"), "lab.tif", "unsupported image"),
    (b"", "empty.png", "empty"),
])
def test_bad_images_are_400_with_a_message_and_never_reach_the_model(data, name, message):
    calls: list[str] = []
    with client_for(fake_detector(calls=calls)) as client:
        response = client.post(DETECT, files=upload(data, name))
        health = client.get("/health")
    assert response.status_code == 400 and message in response.json()["error"]
    assert calls == [] and health.status_code == 200


def test_a_missing_file_field_or_a_bad_option_is_a_clear_422():
    with client_for(fake_detector()) as client:
        missing = client.post(DETECT, files={"file": ("page.png", png_bytes(), "image/png")})
        no_body = client.post(DETECT)
        bad_score = client.post(f"{DETECT}?min_score=2", files=upload(png_bytes()))
    assert missing.status_code == 422 and missing.json()["error"] == "the field `image` is missing"
    assert "curl -F image=@" in missing.json()["hint"] and no_body.status_code == 422
    assert bad_score.status_code == 422 and "min_score" in bad_score.json()["error"]


def test_an_over_size_body_is_413_by_its_length_and_while_streaming():
    calls: list[str] = []
    big = b"\0" * 5000
    with client_for(fake_detector(calls=calls), max_body_bytes=4096) as client:
        declared = client.post(DETECT, files=upload(big))
        part = b'--x\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n\r\n'
        streamed = client.post(DETECT, content=iter([part, big[:3000], big[3000:]]),  # chunked: no Content-Length
                               headers={"content-type": "multipart/form-data; boundary=x"})
        small = client.post(DETECT, files=upload(png_bytes()))
    for response in (declared, streamed):
        assert response.status_code == 413 and "4,096 bytes" in response.json()["error"]
    assert "content-length" not in streamed.request.headers
    assert small.status_code == 200 and calls == ["page.png"]


def test_a_model_error_is_400_and_a_bug_is_500_without_a_traceback():
    with client_for(fake_detector("user", error=InputError("no staff lines found"))) as client:
        user = client.post(DETECT, files=upload(png_bytes()))
    with client_for(fake_detector("bug", error=ZeroDivisionError("secret internals"))) as client:
        bug = client.post(DETECT, files=upload(png_bytes()))
    assert user.status_code == 400 and user.json()["error"] == "no staff lines found"
    assert bug.status_code == 500 and bug.json()["error"].startswith("internal error")
    assert "Traceback" not in bug.text and "secret" not in bug.text and "ZeroDivision" not in bug.text


def _in_background(client: TestClient, path: str) -> tuple[threading.Thread, list]:
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(client.post(path, files=upload(png_bytes()))))
    thread.start()
    return thread, answers


def test_a_full_queue_is_503_with_retry_after_and_the_held_request_still_completes():
    blocked, started = threading.Event(), threading.Event()
    with client_for(fake_detector(blocked=blocked, started=started), workers=1, queue=0) as client:
        thread, answers = _in_background(client, DETECT)
        try:
            assert started.wait(30)  # the only worker is now busy with the first request
            refused = client.post(DETECT, files=upload(png_bytes()))
            health = client.get("/health").json()
            metrics = client.get("/metrics").text
        finally:
            blocked.set()
            thread.join(30)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert "busy" in refused.json()["error"]
    assert health["in_progress"] == 1 and "deepwild_inference_in_progress 1" in metrics
    assert answers[0].status_code == 200


def test_a_request_over_its_time_is_504_and_its_worker_slot_frees_when_the_work_ends():
    blocked, started = threading.Event(), threading.Event()
    with client_for(fake_detector(blocked=blocked, started=started), workers=1, queue=1, timeout_s=0.2) as client:
        late = client.post(DETECT, files=upload(png_bytes()))  # the fake blocks far beyond 0.2 s
        busy = client.get("/health").json()
        blocked.set()
        deadline = time.monotonic() + 30
        while client.get("/health").json()["in_progress"] and time.monotonic() < deadline:
            time.sleep(0.01)
        again = client.post(DETECT, files=upload(png_bytes()))
    assert late.status_code == 504 and "0.2 s" in late.json()["error"]
    assert busy["in_progress"] == 1  # the thread finishes its page; the slot is not handed out twice
    assert again.status_code == 200


def test_a_queued_request_waits_for_the_worker_and_is_counted_as_queue_depth():
    blocked, started = threading.Event(), threading.Event()
    with client_for(fake_detector(blocked=blocked, started=started), workers=1, queue=1) as client:
        first, first_answer = _in_background(client, DETECT)
        assert started.wait(30)
        second, second_answer = _in_background(client, DETECT)
        deadline = time.monotonic() + 30
        while client.get("/health").json()["queue_depth"] != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        metrics = client.get("/metrics").text
        third = client.post(DETECT, files=upload(png_bytes()))
        blocked.set()
        first.join(30)
        second.join(30)
    assert "deepwild_queue_depth 1" in metrics and third.status_code == 503
    assert first_answer[0].status_code == 200 and second_answer[0].status_code == 200


def test_metrics_count_requests_by_route_and_status_with_a_latency_histogram():
    with client_for(fake_detector()) as client:
        client.post(DETECT, files=upload(png_bytes()))
        client.post(DETECT, files=upload(b"junk"))
        client.get("/no/such/page")
        text = client.get("/metrics").text
    assert 'deepwild_requests_total{route="/v1/omr/detect",method="POST",status="200"} 1' in text
    assert 'deepwild_requests_total{route="/v1/omr/detect",method="POST",status="400"} 1' in text
    assert 'deepwild_requests_total{route="other",method="GET",status="404"} 1' in text
    assert 'deepwild_request_errors_total{route="/v1/omr/detect",class="4xx"} 1' in text
    assert 'deepwild_request_seconds_count{route="/v1/omr/detect"} 2' in text
    assert 'deepwild_request_seconds_bucket{route="/v1/omr/detect",le="+Inf"} 2' in text
    assert "deepwild_queue_depth 0" in text and "# TYPE deepwild_request_seconds histogram" in text


def test_the_page_its_script_and_small_examples_are_served():
    with client_for(fake_detector()) as client:
        page = client.get("/")
        script = client.get("/static/app.js")
        examples = [client.get(f"/static/examples/{name}") for name in ("score-page.png", "newspaper-page.png")]
        docs = client.get("/openapi.json").json()
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert script.status_code == 200 and "drawOverlay" in script.text
    for example in examples:
        assert example.status_code == 200 and example.content.startswith(b"\x89PNG")
        assert len(example.content) < 400 * 1024
    assert {DETECT, SEGMENT, CLASSIFY, "/v1/models", "/health", "/metrics"} <= set(docs["paths"])


def test_the_shipped_packages_are_found_by_default_and_bad_folders_refused(tmp_path):
    assert "omr-dwd-shipped" in [m.name for m in load_models()]
    with pytest.raises(InputError, match="no such folder"):
        load_models([tmp_path / "missing"])
    with pytest.raises(InputError, match="holds no model packages"):
        load_models([tmp_path])


def test_the_package_data_ships_the_page():
    import tomllib

    pyproject = tomllib.loads((ASSETS.parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["deepwild"]
    assert "serve/static/*" in patterns and "serve/static/examples/*" in patterns


def test_two_models_of_one_name_are_refused():
    with pytest.raises(DeepwildError, match="two model packages are named omr-a"):
        create_app([fake_detector("omr-a"), fake_detector("omr-a")])


def test_a_real_server_answers_413_while_a_chunked_upload_still_streams_in():
    import socket

    from tests.helpers.live_server import live_server

    calls: list[str] = []
    with live_server(create_app([fake_detector(calls=calls)], Limits(max_body_bytes=64 * 1024))) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"POST /v1/omr/detect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
            part = (b'--b\r\nContent-Disposition: form-data; name="image"; filename="huge.png"\r\n'
                    b"Content-Type: image/png\r\n\r\n")  # a well-formed upload whose file never ends
            for chunk in [part, *[b"\0" * 16384] * 4]:  # past the limit with the last chunk, not before
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            answer = b""
            while b"\r\n\r\n" not in answer and (piece := sock.recv(4096)):
                answer += piece
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    assert b"connection: close" in answer.lower() and calls == []


def test_the_command_refuses_a_bad_models_folder_in_one_line_before_it_listens(monkeypatch, capsys, tmp_path):
    from deepwild.serve import run
    from tests.helpers.cli import run_cli

    monkeypatch.setattr(run, "bind", lambda *a: pytest.fail("bound a port despite the bad --models"))
    code, out, err = run_cli(monkeypatch, capsys, "serve", "--models", str(tmp_path / "nope"))
    assert code == 2 and err.strip().splitlines() == [f"deepwild: error: --models {tmp_path / 'nope'}: no such folder "
                                                      f"— give a model package or a folder of them"]


def test_a_taken_port_is_one_clear_error():
    from deepwild.serve.run import bind

    first = bind("127.0.0.1", 0)
    try:
        with pytest.raises(DeepwildError, match="already in use"):
            bind("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()


def test_a_request_whose_time_runs_out_in_the_queue_is_504_and_leaves_the_queue():
    blocked, started = threading.Event(), threading.Event()
    with client_for(fake_detector(blocked=blocked, started=started), workers=1, queue=1, timeout_s=0.3) as client:
        first, first_answer = _in_background(client, DETECT)
        assert started.wait(30)
        queued = client.post(DETECT, files=upload(png_bytes()))  # waits for the worker the fake holds
        after = client.get("/health").json()
        blocked.set()
        first.join(30)
    assert queued.status_code == 504 and after["queue_depth"] == 0
    assert first_answer[0].status_code == 504  # the held request ran out of time too


@pytest.mark.parametrize("field, value", [("workers", 0), ("queue", -1), ("timeout_s", 0.0), ("max_body_bytes", 0)])
def test_limits_that_cannot_work_are_refused(field, value):
    from deepwild.core.errors import ConfigError

    with pytest.raises(ConfigError, match=field):
        create_app([fake_detector()], Limits(**{field: value}))


@pytest.mark.slow  # a second Python process that imports torch: ~4 s
def test_the_command_serves_on_a_free_port_until_stopped(tmp_path):
    import json
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    from tests.helpers.tiny import tiny_digits_package

    package = tiny_digits_package(tmp_path / "digits")
    server = subprocess.Popen([sys.executable, "-m", "deepwild", "serve", "--models", str(package), "--port", "0",
                               "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = [server.stdout.readline(), server.stdout.readline()]
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", lines[1]).group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=30) as response:
            models = json.load(response)["models"]
    finally:
        server.send_signal(signal.SIGINT)
        code = server.wait(30)
    assert lines[0].startswith("model    digits-tiny (digits, version ") and lines[0].rstrip().endswith("/v1/classify")
    assert [m["name"] for m in models] == ["digits-tiny"] and code == 0
