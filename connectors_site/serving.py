"""How the product is served: gunicorn's asyncio (ASGI) workers read requests, Django runs in a thread pool.

Each connection costs a coroutine while its request arrives, not a process or a thread, so senders that trickle
or stall their bodies cannot starve the others. :class:`BodyDeadline` reads the whole body on the event loop
first: it must arrive within ``BODY_READ_TIMEOUT_SECONDS`` (else ``408`` problem+json, connection closed) and
may not exceed ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (else ``413``), whether it comes with a ``Content-Length`` or
chunked. Only then does a thread of the pool (:func:`threaded`, ``WEB_THREADS`` per process) run the ordinary
synchronous Django application on the complete request: a thread is never held by a slow sender.
:func:`gunicorn_command` is the one command line ``serve``, the benchmark and the tests
start, so what is measured is what runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

from a2wsgi import WSGIMiddleware
from django.conf import settings

PROBLEM_CONTENT_TYPE = b"application/problem+json"
#: Threads per web process that run Django on complete requests (each keeps its own database connection).
WEB_THREADS = int(os.environ.get("WEB_THREADS", "4"))


def threaded(wsgi_application, threads: int = WEB_THREADS):
    """The (synchronous) Django application as an ASGI one, run by a pool of ``threads`` threads."""
    return WSGIMiddleware(wsgi_application, workers=threads)


#: Longest path a Unix socket address holds (``sun_path`` is 108 bytes on Linux, 104 on macOS, with its NUL).
SOCKET_PATH_MAX = 103


def control_socket_args(bind: str) -> list[str]:
    """gunicorn's control socket (for ``gunicornc``) inside this installation's data directory, one per address.

    gunicorn's default is one shared path per user (``$XDG_RUNTIME_DIR`` or ``~/.gunicorn``), so two servers (two
    installations, a test run next to ``serve``) would take each other's socket. Where the data directory's path
    is too long for a socket address, there is no control socket.
    """
    data_dir = getattr(settings, "DATA_DIR", None)
    if data_dir is None:
        return ["--no-control-socket"]
    path = os.path.join(data_dir, f"gunicorn-{hashlib.sha256(bind.encode()).hexdigest()[:10]}.ctl")
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        return ["--no-control-socket"]
    return ["--control-socket", path]


def gunicorn_command(bind: str, *, workers: int, extra: list[str] | None = None) -> list[str]:
    """``python -m gunicorn`` serving the ASGI application with asyncio workers on ``bind``."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "connectors_site.asgi",
        "--worker-class",
        "asgi",
        "--asgi-lifespan",
        "off",
        "--bind",
        bind,
        "--workers",
        str(workers),
        *control_socket_args(bind),
        *(extra or []),
    ]


def prepare_metrics_dir() -> tuple[str, bool]:
    """The directory prometheus_client's multiprocess mode shares between the web processes: the one
    ``PROMETHEUS_MULTIPROC_DIR`` names, emptied of the previous run's files, or a new temporary one. Returns the
    path and whether it was created here (and should be removed at exit)."""
    if named := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        path = Path(named)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return str(path), False
    return tempfile.mkdtemp(prefix="hub-metrics-"), True


class _BodyTooLarge(Exception):
    pass


class BodyDeadline:
    """ASGI middleware: read the whole request body first, within a deadline and under a size cap.

    The application is called only once the body is complete, with the body in one message and, whether it came
    with a ``Content-Length`` or chunked, a ``content-length`` header that states its real size (a WSGI
    application reads exactly that many bytes). After the body, ``receive`` is passed through untouched (an
    application may listen on it for a disconnect).
    """

    def __init__(self, app, *, timeout: float | None = None, max_bytes: int | None = None, on_refused=None) -> None:
        self.app = app
        self.timeout = timeout
        self.max_bytes = max_bytes
        #: ``async (scope, status, detail)``, awaited after a 408 or 413 went out (the application never saw it).
        self.on_refused = on_refused

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        timeout = self.timeout if self.timeout is not None else settings.BODY_READ_TIMEOUT_SECONDS
        max_bytes = self.max_bytes if self.max_bytes is not None else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            body = await asyncio.wait_for(_read_body(receive, max_bytes), timeout)
        except TimeoutError:
            detail = f"The request body did not arrive whole within {timeout:g} seconds."
            return await self._refuse(scope, send, 408, "Request timeout", detail)
        except _BodyTooLarge:
            detail = (
                f"The body is over {max_bytes} bytes, the most this server reads. "
                "Split the batch into several deliveries."
            )
            return await self._refuse(scope, send, 413, "Payload too large", detail)
        if body is None:  # the client went away
            return None
        headers = [
            (name, value) for name, value in scope["headers"] if name not in (b"content-length", b"transfer-encoding")
        ]
        if body or any(name == b"content-length" for name, _ in scope["headers"]):
            headers.append((b"content-length", str(len(body)).encode()))
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app({**scope, "headers": headers}, replay, send)

    async def _refuse(self, scope, send, status: int, title: str, detail: str) -> None:
        await _problem(send, status, title, detail)
        if self.on_refused is not None:
            await self.on_refused(scope, status, detail)


async def _read_body(receive, max_bytes: int) -> bytes | None:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise _BodyTooLarge
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def _problem(send, status: int, title: str, detail: str) -> None:
    """A problem+json reply that closes the connection (the rest of the body is never read)."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_CONTENT_TYPE),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
