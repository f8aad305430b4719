"""The real server (`serve`'s gunicorn command) against slow, stalled and chunked senders.

Before: two connections announcing a body and trickling it one byte at a time stalled gunicorn's sync workers
until they were killed; `/healthz` took 32 s and the senders got HTML 500s.
"""

import asyncio
import contextlib
import http.client
import json
import os
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from connectors.models import Delivery
from connectors_site.serving import BodyDeadline, gunicorn_command
from tests.conftest import database_url_for_subprocess, wait_for

from .helpers import asset

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BODY_TIMEOUT = 3  # seconds the server gives a body here
LIMIT = 64 * 1024  # WEBHOOK_MAX_BODY_BYTES here


@pytest.fixture
def server(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        gunicorn_command(f"127.0.0.1:{port}", workers=1, extra=["--graceful-timeout", "2"]),
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url_for_subprocess(),
            "BODY_READ_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
            "WEBHOOK_MAX_BODY_BYTES": str(LIMIT),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def ready():
        assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
        try:
            return get(port, "/healthz")[0] == 200
        except OSError:
            return False

    try:
        wait_for(ready, timeout=60, interval=0.2, message="the server to answer /healthz")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def get(port, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def post(port, path, body, headers):
    """POST ``body`` (bytes, or an iterable of chunks: sent chunked, without Content-Length)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        chunked = not isinstance(body, bytes)
        connection.request("POST", path, body=body, headers=headers, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def bearer(connector):
    return {"Authorization": f"Bearer {connector.credentials.token}", "Content-Type": "application/json"}


def test_trickling_senders_starve_nobody_and_are_cut_off_with_408(server, connector):
    stalled = []
    for _ in range(30):
        sock = socket.create_connection(("127.0.0.1", server), timeout=10)
        sock.sendall(
            f"POST /webhooks/{connector.uuid} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {connector.credentials.token}\r\nContent-Length: 1000\r\n\r\n{{".encode()
        )
        stalled.append(sock)
    stop = threading.Event()

    def trickle():
        while not stop.wait(0.5):
            for sock in stalled:
                with contextlib.suppress(OSError):
                    sock.sendall(b" ")

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        started = time.monotonic()
        assert get(server, "/healthz")[0] == 200
        status, _, _ = post(server, f"/webhooks/{connector.uuid}", json.dumps(asset(1)).encode(), bearer(connector))
        assert status == 202
        assert time.monotonic() - started < 5  # the stall made this 30 s and more
        replies = []
        for sock in stalled:
            sock.settimeout(BODY_TIMEOUT + 10)
            replies.append(sock.recv(4096))
    finally:
        stop.set()
        trickler.join(timeout=5)
        for sock in stalled:
            sock.close()
    assert all(reply.startswith(b"HTTP/1.1 408") for reply in replies), {reply[:40] for reply in replies}
    assert all(b"application/problem+json" in reply for reply in replies)
    assert Delivery.objects.count() == 1  # only the complete delivery


def test_chunked_body_is_read_whole(server, connector):
    body = json.dumps({"assets": [asset(i) for i in range(20)]}).encode()
    chunks = (body[i : i + 100] for i in range(0, len(body), 100))
    status, _, reply = post(server, f"/webhooks/{connector.uuid}", chunks, bearer(connector))
    assert status == 202, reply
    assert json.loads(reply)["accepted"] == 20
    assert bytes(Delivery.objects.get().body) == body


def test_chunked_body_over_the_limit_is_413_for_known_and_unknown_connectors(server, connector):
    def chunks():
        for _ in range(LIMIT // 8192 + 1):
            yield b" " * 8192

    known = post(server, f"/webhooks/{connector.uuid}", chunks(), bearer(connector))
    unknown = post(server, f"/webhooks/{uuid.uuid4()}", chunks(), bearer(connector))
    assert known[:2] == unknown[:2] == (413, "application/problem+json")
    assert not Delivery.objects.exists()


def run_asgi(app, messages):
    """Call an ASGI app with these request messages (then nothing more arrives); returns what it sent."""
    sent = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"transfer-encoding", b"chunked")]}
    asyncio.run(app(scope, receive, send))
    return sent


@pytest.mark.django_db(transaction=False)
def test_body_deadline_stops_reading_past_its_cap_and_gives_complete_bodies_their_length():
    seen = {}

    async def app(scope, receive, send):
        seen["headers"] = dict(scope["headers"])
        seen["body"] = (await receive())["body"]
        await send({"type": "http.response.start", "status": 204, "headers": []})

    parts = [{"type": "http.request", "body": b"x" * 600, "more_body": True} for _ in range(4)]
    sent = run_asgi(BodyDeadline(app, timeout=5, max_bytes=1000), parts)
    assert sent[0]["status"] == 413 and (b"content-type", b"application/problem+json") in sent[0]["headers"]
    assert "body" not in seen  # the application never ran
    parts = [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.request", "body": b"c"}]
    sent = run_asgi(BodyDeadline(app, timeout=5, max_bytes=1000), parts)
    assert sent[0]["status"] == 204
    assert seen == {"headers": {b"content-length": b"3"}, "body": b"abc"}


@pytest.mark.django_db(transaction=False)
def test_body_deadline_answers_408_to_a_stalled_body():
    async def app(scope, receive, send):
        await receive()
        raise AssertionError("the application must not run")

    started = time.monotonic()
    sent = run_asgi(BodyDeadline(app, timeout=0.3, max_bytes=1000), [{"type": "http.request", "more_body": True}])
    assert sent[0]["status"] == 408 and time.monotonic() - started < 3
    assert json.loads(sent[1]["body"])["status"] == 408
