"""Running the application on uvicorn, on a socket bound first so that a taken port is one clear error."""

from __future__ import annotations

import errno
import socket
from typing import Any

from deepwild.core.errors import DeepwildError
from deepwild.serve.limits import Limits

# Connections beyond the work gate's own bound: /health, /metrics and the page stay reachable while the
# queue is full, yet a flood of idle connections cannot hold more than this many uploads at once.
EXTRA_CONNECTIONS = 16


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); a taken port or unknown address is a DeepwildError."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except (socket.gaierror, OSError) as error:
        raise DeepwildError(f"cannot listen on {host}: {error}") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise DeepwildError(f"port {port} on {host} is already in use", hint="choose another with --port") from None
        raise DeepwildError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run_server(app: Any, limits: Limits, sock: socket.socket, log_level: str = "info") -> None:
    """Serve the application (`serve.app.create_app`) on `sock` until interrupted."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, timeout_keep_alive=5,
                            limit_concurrency=2 * (limits.workers + limits.queue) + EXTRA_CONNECTIONS)
    uvicorn.Server(config).run(sockets=[sock])
