"""Prometheus metrics in the text exposition format, kept in plain Python: requests by route, method and
status, a latency histogram per route, errors, and gauges read when scraped (queue depth, work in progress,
resident memory)."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection

from deepwild.serve.limits import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
OTHER_ROUTE = "other"  # unknown paths share one label, so that scanning for URLs cannot grow the metrics


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.buckets: defaultdict[str, list[int]] = defaultdict(lambda: [0] * len(LATENCY_BUCKETS))
        self.latency_sum: Counter[str] = Counter()
        self.latency_count: Counter[str] = Counter()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        with self.lock:
            self.requests[(route, method, status)] += 1
            counts = self.buckets[route]
            for index, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[index] += 1
            self.latency_sum[route] += seconds
            self.latency_count[route] += 1

    def render(self, gauges: dict[str, tuple[str, float]]) -> str:
        """The exposition text; `gauges`: name → (help, value)."""
        lines = ["# HELP deepwild_requests_total HTTP requests answered, by route, method and status.",
                 "# TYPE deepwild_requests_total counter"]
        with self.lock:
            for (route, method, status), count in sorted(self.requests.items()):
                lines.append(f'deepwild_requests_total{{route="{route}",method="{method}",status="{status}"}} {count}')
            lines += ["# HELP deepwild_request_errors_total Requests answered with an error status, by route and class.",
                      "# TYPE deepwild_request_errors_total counter"]
            errors: Counter[tuple[str, str]] = Counter()
            for (route, _, status), count in self.requests.items():
                if status >= 400:
                    errors[(route, f"{status // 100}xx")] += count
            for (route, kind), count in sorted(errors.items()):
                lines.append(f'deepwild_request_errors_total{{route="{route}",class="{kind}"}} {count}')
            lines += ["# HELP deepwild_request_seconds Time from request to the end of its answer.",
                      "# TYPE deepwild_request_seconds histogram"]
            for route in sorted(self.buckets):
                for bound, count in zip(LATENCY_BUCKETS, self.buckets[route]):
                    lines.append(f'deepwild_request_seconds_bucket{{route="{route}",le="{bound}"}} {count}')
                total = self.latency_count[route]
                lines += [f'deepwild_request_seconds_bucket{{route="{route}",le="+Inf"}} {total}',
                          f'deepwild_request_seconds_sum{{route="{route}"}} {self.latency_sum[route]:.6f}',
                          f'deepwild_request_seconds_count{{route="{route}"}} {total}']
        for name, (help_text, value) in gauges.items():
            shown = int(value) if float(value).is_integer() else value  # bytes in full, not 6.5e+08
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {shown}"]
        return "\n".join(lines) + "\n"


def resident_memory_bytes() -> int | None:
    """This process's resident memory (Linux /proc), or None where it cannot be read."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class MetricsMiddleware:
    """ASGI middleware: every HTTP request's route, status and latency into `metrics` (an exception that
    escapes counts as 500, the answer the server error handler gives)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, known_paths: Callable[[], Collection[str]]) -> None:
        self.app, self.metrics, self.known_paths = app, metrics, known_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def noted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noted)
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route is None:  # answered before routing (a limit) or no route matched
                route = scope["path"] if scope["path"] in self.known_paths() else OTHER_ROUTE
            self.metrics.observe(route, scope["method"], status, time.perf_counter() - start)
