"""Load and abuse test of `deepwild serve`, from this process against a server started as a second process
on loopback (the shipped models, or --models).

    .venv/bin/python benchmarks/serve.py [--clients 4] [--duration 60] [--pages 4] [--workers 1] [--threads 1]

(1) Load: N clients POST generated score pages to /v1/omr/detect, each as fast as answers come, for D
    seconds: throughput, p50/p95/p99 latency, answers by status (5xx must be 0), the server's resident
    memory at start and end.
(2) Abuse: a 1 GB body with its Content-Length, a 1 GB chunked body (both streamed from a generator, never
    held by the client), a PNG header claiming 50,000 × 50,000 px, 100 truncated pages and non-image bytes.
    Bar: each answered 4xx within 1 s, and /health answers 200 after.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ANSWER_BAR_S = 1.0
GIGABYTE = 1024 ** 3
CHUNK = 1024 * 1024
BOUNDARY = "deepwildbenchmark"


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[str], int]:
    command = [sys.executable, "-m", "deepwild", "serve", "--port", "0", "--workers", str(args.workers),
               "--threads", str(args.threads), *sum((["--models", m] for m in args.models), [])]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in server.stdout:  # type: ignore[union-attr]
        print(f"  server: {line.rstrip()}", flush=True)
        found = re.search(r"serving\s+http://[^:]+:(\d+)/", line)
        if found:
            threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()  # keep the pipe drained
            return server, int(found.group(1))
    raise SystemExit(f"the server did not start (exit code {server.wait()})")


def resident_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kib / 1024


def multipart(data: bytes, name: str) -> tuple[bytes, str]:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode(), f"multipart/form-data; boundary={BOUNDARY}"


def post(port: int, path: str, data: bytes, name: str, timeout: float = 300) -> tuple[int, float]:
    """(status, seconds) of one upload."""
    body, content_type = multipart(data, name)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.perf_counter()
    try:
        connection.request("POST", path, body, {"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - start
    finally:
        connection.close()


def load_test(port: int, pages: list[bytes], clients: int, duration: float) -> None:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def client(index: int) -> None:
        turn = index
        while time.monotonic() < deadline:
            try:
                status, seconds = post(port, "/v1/omr/detect", pages[turn % len(pages)], f"page{turn % len(pages)}.png")
            except OSError:
                status, seconds = 0, 0.0  # no answer at all
            with lock:
                statuses[status] += 1
                if status == 200:
                    latencies.append(seconds)
            turn += clients

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    done = sum(statuses.values())
    print(f"load: {clients} clients for {duration:g} s (last answers waited for: {wall:.1f} s in all): {done} requests, "
          f"{len(latencies) / wall:.2f} pages/s answered 200; statuses {dict(sorted(statuses.items()))}; "
          f"5xx {sum(c for s, c in statuses.items() if s >= 500)}, no answer {statuses.get(0, 0)}")
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        print(f"latency of 200 answers: p50 {cuts[49]:.2f} s, p95 {cuts[94]:.2f} s, p99 {cuts[98]:.2f} s, "
              f"max {max(latencies):.2f} s")


def stream_request(port: int, head: bytes, chunks: Iterator[bytes], limit_s: float = 30.0) -> tuple[int | None, float, int]:
    """Send `head` then `chunks` without holding them, reading the answer as soon as it comes:
    (status or None, seconds until the status line, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    start, sent, answer = time.perf_counter(), 0, b""
    pending: bytes | None = head
    try:
        while b"\r\n" not in answer and time.perf_counter() - start < limit_s:
            readable, writable, _ = select.select([sock], [sock] if pending is not None else [], [], 0.5)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                answer += data
            elif writable and pending is not None:
                try:
                    count = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    pending = None
                    continue
                sent += count
                pending = pending[count:] or next(chunks, None)
    finally:
        sock.close()
    found = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return (int(found.group(1)) if found else None), time.perf_counter() - start, sent


def gigabyte_body(chunked: bool) -> tuple[bytes, Iterator[bytes]]:
    prefix, content_type = multipart(b"", "huge.png")
    prefix = prefix[:prefix.index(b"\r\n--" + BOUNDARY.encode() + b"--")]
    zeros = bytes(CHUNK)
    length = len(prefix) + GIGABYTE
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}"
    head = (f"POST /v1/omr/detect HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n"
            ).encode()

    def pieces() -> Iterator[bytes]:
        for piece in [prefix, *(zeros for _ in range(GIGABYTE // CHUNK))]:
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
        if chunked:
            yield b"0\r\n\r\n"

    return head, pieces()


def png_header_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))


def abuse_test(port: int, page: bytes) -> bool:
    rng = random.Random(0)
    results: list[tuple[str, int | None, float]] = []
    for chunked in (False, True):
        head, chunks = gigabyte_body(chunked)
        status, seconds, sent = stream_request(port, head, chunks)
        label = f"1 GB body, {'chunked' if chunked else 'Content-Length'} ({sent / 2 ** 20:.0f} MiB sent before the answer)"
        results.append((label, status, seconds))
    bomb = post(port, "/v1/omr/detect", png_header_claiming(50_000, 50_000), "bomb.png", timeout=10)
    results.append(("PNG header claiming 50,000 × 50,000 px", *bomb))
    truncated = [post(port, "/v1/omr/detect", page[:rng.randrange(8, len(page) - 1)], f"cut{i}.png", timeout=10)
                 for i in range(100)]
    worst = max(truncated, key=lambda answer: (answer[0] // 100 != 4, answer[1]))
    results.append(("100 truncated pages (the slowest)", *worst))
    results.append(("non-image bytes", *post(port, "/v1/omr/detect", rng.randbytes(100_000), "noise.png", timeout=10)))
    ok = True
    for label, status, seconds in results:
        passed = status is not None and 400 <= status < 500 and seconds <= ANSWER_BAR_S
        ok &= passed
        print(f"  {label}: {status} in {seconds:.3f} s ({'ok' if passed else 'NOT ok'})")
    print(f"truncated pages: statuses {dict(Counter(s for s, _ in truncated))}, median {statistics.median(t for _, t in truncated):.3f} s")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/health")
    health = connection.getresponse()
    print(f"/health after the abuse: {health.status} {health.read().decode()}")
    return ok and health.status == 200


def generated_pages(count: int) -> list[bytes]:
    from deepwild.core.config import config_from_dict
    from deepwild.datagen.scores.generate import ScoreDataConfig, generate_scores

    with tempfile.TemporaryDirectory() as folder:
        generate_scores(config_from_dict(ScoreDataConfig, {"pages": count, "seed": 11}), Path(folder), workers=1)
        return [path.read_bytes() for path in sorted((Path(folder) / "images").glob("*.png"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--pages", type=int, default=4, help="generated score pages the clients take turns with")
    parser.add_argument("--workers", type=int, default=1, help="the server's --workers")
    parser.add_argument("--threads", type=int, default=1, help="the server's torch threads")
    parser.add_argument("--models", action="append", default=[], help="the server's --models (default: shipped)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    pages = generated_pages(args.pages)
    print(f"{len(pages)} generated pages, {statistics.mean(len(p) for p in pages) / 1024:.0f} KiB each on average")
    server, port = start_server(args)
    try:
        print(f"server resident memory at start {resident_mib(server.pid):.0f} MiB", flush=True)
        load_test(port, pages, args.clients, args.duration)
        print(f"server resident memory after the load {resident_mib(server.pid):.0f} MiB", flush=True)
        ok = abuse_test(port, pages[0])
        print(f"server resident memory at the end {resident_mib(server.pid):.0f} MiB")
        print(f"abuse bar (each answered 4xx within {ANSWER_BAR_S:g} s, /health fine after): {'met' if ok else 'NOT met'}")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
