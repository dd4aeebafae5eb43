"""A real uvicorn server on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

START_TIMEOUT_S = 30


@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 at a port the system picks; yields the base URL; stops the server after."""
    import uvicorn

    from deepwild.serve.run import bind

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=START_TIMEOUT_S) as response:
            assert response.status == 200
        yield url
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)
        sock.close()
