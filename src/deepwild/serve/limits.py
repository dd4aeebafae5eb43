"""Limits that hold under abuse: body size, pixels, time, concurrency and queue.

How the work of one request is bounded:

- its body: at most `max_body_bytes`, refused by Content-Length before a byte is read and, for chunked
  or lying uploads, while it streams in (`BodyLimit`), so a 1 GB upload costs one chunk beyond the limit;
- its pixels: at most `max_pixels`, read from the image header before any pixel is decoded
  (`core.images`), so a decompression bomb costs nothing, and the model's work on a page grows with its
  pixels, so it is bounded too;
- its time: the answer comes within `timeout_s` (504 after it). Python cannot stop a thread, so a
  timed-out page is finished by its worker, whose slot stays taken until then: the pixel bound caps that
  work, and new requests meanwhile queue or get 503 instead of starting more threads;
- its wait: at most `workers` inputs are processed at once and at most `queue` wait for a worker; one
  more is answered 503 with Retry-After at once, before its body is read (`QueueGuard`).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from deepwild.core.errors import ConfigError

T = TypeVar("T")
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 60_000_000  # a 600 dpi A4 scan is ~35 Mpx
    timeout_s: float = 60.0
    workers: int = 1
    queue: int = 8
    retry_after_s: int = 5

    def validate(self) -> None:
        for name in ("max_body_bytes", "max_pixels", "workers", "retry_after_s"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.queue < 0:
            raise ConfigError(f"queue must be 0 or more, got {self.queue}")
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout_s must be positive, got {self.timeout_s}")


class Busy(Exception):
    """Every worker is busy and the queue is full."""


class TimedOut(Exception):
    """The request's time limit passed while it waited or while its input was processed."""


class WorkGate:
    """Runs blocking work in `workers` threads with at most `queue` requests waiting for one; all methods are
    called on the event loop's thread. A slot is freed when its thread finishes, not when its request gives up."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.executor = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="deepwild-serve")
        self.running = 0  # threads at work, including those whose request timed out
        self.waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return sum(not w.done() for w in self.waiters)

    @property
    def full(self) -> bool:
        return self.running + self.queued >= self.limits.workers + self.limits.queue

    async def run(self, work: Callable[[], T]) -> T:
        if self.full:
            raise Busy()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.timeout_s
        await self._acquire(self.limits.timeout_s)
        future = loop.run_in_executor(self.executor, work)
        future.add_done_callback(lambda _: self._release())
        try:
            # shield: a timeout ends the wait, not the future, so its callback still frees the slot.
            return await asyncio.wait_for(asyncio.shield(future), max(deadline - loop.time(), 0.0))
        except TimeoutError:
            raise TimedOut() from None

    async def _acquire(self, timeout: float) -> None:
        if self.running < self.limits.workers and not self.queued:
            self.running += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except (TimeoutError, asyncio.CancelledError) as error:
            if waiter.done():  # a slot was handed over just as the wait ended: pass it on
                self._release()
            else:
                waiter.cancel()
            raise TimedOut() if isinstance(error, TimeoutError) else error from None
        finally:
            if waiter in self.waiters:
                self.waiters.remove(waiter)

    def _release(self) -> None:
        # The slot goes straight to the longest waiter (running stays the same), or is given back.
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.running -= 1

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


async def send_json(send: Send, status: int, body: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()) -> None:
    """A whole JSON answer from plain ASGI code (before the application has seen the request)."""
    data = json.dumps(body, separators=(",", ":")).encode()  # as compact as the application's answers
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
           *((k.encode(), v.encode()) for k, v in headers)]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is answered 413 (and the connection closed), by its
    Content-Length before anything is read, or as soon as the bytes streamed in pass the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(send)
        received, over, started = 0, False, False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                over = True
                raise BodyTooLarge()
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:  # the application's own answer to the cut-off body is replaced by the 413 below
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await send_json(send, 413, {"error": f"the request body is larger than the limit of {self.max_bytes:,} bytes",
                                    "status": 413}, (("connection", "close"),))


class QueueGuard:
    """ASGI middleware: a request for a model while the gate is full gets 503 with Retry-After at once,
    before its body is uploaded and held."""

    def __init__(self, app: ASGIApp, gate: WorkGate, paths: Collection[str]) -> None:
        self.app, self.gate, self.paths = app, gate, frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths and self.gate.full:
            return await send_json(send, 503, busy_body(), busy_headers(self.gate.limits))
        await self.app(scope, receive, send)


def busy_body() -> dict[str, Any]:
    return {"error": "the service is busy: every worker is at work and the queue is full; try again shortly",
            "status": 503}


def busy_headers(limits: Limits) -> tuple[tuple[str, str], ...]:
    return (("retry-after", str(limits.retry_after_s)),)
