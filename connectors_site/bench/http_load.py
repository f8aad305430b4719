"""The intake latency part: a real gunicorn on a free local port, and a threaded HTTP client.

The server runs the product's ASGI application with :mod:`connectors_site.bench.settings` (the product's
settings plus ``/bench-trivial/``, a minimal Django view: the latency baseline on the same server, through the
same middleware). Each client thread keeps its own ``http.client.HTTPConnection`` (kept alive between requests, as
the server allows; after an error the client reconnects, as a real sender would). Only the request itself
is timed; building and signing the body happen before the clock starts.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from connectors_site.serving import gunicorn_command

#: method, path, status, request time in microseconds (what :meth:`GunicornServer.server_times` reads).
ACCESS_LOG_FORMAT = "%(m)s %(U)s %(s)s %(D)s"
#: (method, path, body, headers) for the n-th request of a sender.
RequestFactory = Callable[[int, int], tuple[str, str, bytes, dict[str, str]]]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GunicornServer:
    """The product's gunicorn command (:func:`connectors_site.serving.gunicorn_command`) with the benchmark
    settings, until the context exits."""

    def __init__(self, *, root: Path, env: dict[str, str], workers: int = 2, log_path: Path):
        self.root = root
        self.env = env
        self.workers = workers
        self.log_path = log_path
        self.access_log_path = log_path.with_name(log_path.stem + "-access.log")
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> GunicornServer:
        self._log = open(self.log_path, "wb")  # closed in __exit__
        self.process = subprocess.Popen(
            gunicorn_command(
                f"127.0.0.1:{self.port}",
                workers=self.workers,
                extra=[
                    "--graceful-timeout",
                    "5",
                    "--access-logfile",
                    str(self.access_log_path),
                    "--access-logformat",
                    ACCESS_LOG_FORMAT,
                ],
            ),
            cwd=self.root,
            env={**os.environ, **self.env, "DJANGO_SETTINGS_MODULE": "connectors_site.bench.settings"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    return
                connection.close()
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s:\n{self.log_tail()}")

    def access_log_offset(self) -> int:
        try:
            return self.access_log_path.stat().st_size
        except OSError:
            return 0

    def server_times(self, path: str, since: int) -> dict:
        """Server-side time (gunicorn's request time, without queueing in the listen backlog) of the requests to
        ``path`` logged after byte ``since`` of the access log."""
        time.sleep(0.2)  # the last replies' log lines
        with open(self.access_log_path, "rb") as log:
            log.seek(since)
            lines = log.read().decode(errors="replace").splitlines()
        values = sorted(
            int(parts[3]) / 1000
            for parts in (line.split() for line in lines)
            if len(parts) == 4 and parts[1] == path and parts[3].isdigit()
        )
        return {
            "server_requests": len(values),
            "server_p50_ms": round(percentile(values, 0.50), 2),
            "server_p99_ms": round(percentile(values, 0.99), 2),
        }

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (``fraction`` in 0..1) of an already sorted list."""
    if not sorted_values:
        return 0.0
    position = (len(sorted_values) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def run_load(port: int, make_request: RequestFactory, *, senders: int, total: int, expect: int) -> dict:
    """``total`` requests spread over ``senders`` threads started together; latency in ms, throughput in req/s."""
    per_sender = [total // senders + (1 if n < total % senders else 0) for n in range(senders)]
    latencies: list[list[float]] = [[] for _ in range(senders)]
    statuses: list[Counter] = [Counter() for _ in range(senders)]
    failures: list[list[str]] = [[] for _ in range(senders)]
    barrier = threading.Barrier(senders + 1)

    def sender(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        barrier.wait()
        for n in range(per_sender[index]):
            method, path, body, headers = make_request(index, n)
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                elapsed = time.perf_counter() - started
                statuses[index][response.status] += 1
            except (OSError, http.client.HTTPException) as exc:
                elapsed = time.perf_counter() - started
                statuses[index]["error"] += 1
                failures[index].append(f"{type(exc).__name__}: {exc}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            latencies[index].append(elapsed)
        connection.close()

    threads = [threading.Thread(target=sender, args=(n,), daemon=True) for n in range(senders)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    values = sorted(value * 1000 for chunk in latencies for value in chunk)
    status_counts: Counter = Counter()
    for counter in statuses:
        status_counts.update(counter)
    unexpected = sum(count for status, count in status_counts.items() if status != expect)
    return {
        "senders": senders,
        "requests": len(values),
        "p50_ms": round(percentile(values, 0.50), 2),
        "p90_ms": round(percentile(values, 0.90), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
        "max_ms": round(values[-1], 2) if values else 0.0,
        "mean_ms": round(sum(values) / len(values), 2) if values else 0.0,
        "requests_per_second": round(len(values) / wall, 1) if wall else 0.0,
        "wall_seconds": round(wall, 3),
        "statuses": {str(status): count for status, count in sorted(status_counts.items(), key=str)},
        "unexpected": unexpected,
        "failures": [message for chunk in failures for message in chunk][:5],
    }
