"""`/healthz` (also `?strict=1`), `manage.py healthcheck`, and `serve`'s first-start admin login."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import RequestFactory
from django.utils import timezone

from connectors.choices import DeliveryStatus
from connectors.inbox import store_delivery
from connectors.models import Delivery, WorkerHeartbeat
from connectors_site.management.commands import serve
from tests.conftest import database_url_for_subprocess

pytestmark = pytest.mark.django_db


def beat(seconds_ago: float, worker_id: str = "host:1:abc") -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"hostname": "host", "pid": 1, "started_at": now, "last_beat": now - timedelta(seconds=seconds_ago)},
    )


def secrets_of(connector, settings) -> list[str]:
    return [connector.credentials.token, connector.credentials.signing_secret, settings.SECRET_KEY]


# --- /healthz ----------------------------------------------------------------------------------------------------


def test_healthz_answers_200_while_the_database_does_even_without_workers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["workers"] == "none alive" and body["workers_alive"] == 0 and body["ok"] is False
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_strict_healthz_needs_a_live_worker(client, settings):
    settings.HEARTBEAT_STALE_SECONDS = 30
    assert client.get("/healthz?strict=1").status_code == 503
    beat(seconds_ago=31)  # a worker that stopped beating is not alive
    response = client.get("/healthz?strict=1")
    assert response.status_code == 503 and response.json()["status"] == "unhealthy"
    assert response.json()["last_worker_beat_seconds"] >= 31
    beat(seconds_ago=1, worker_id="host:2:def")
    response = client.get("/healthz?strict=1")
    assert response.status_code == 200
    assert response.json()["workers"] == "ok" and response.json()["workers_alive"] == 1


def test_strict_healthz_reports_a_backlog(client, connector):
    beat(seconds_ago=1)
    delivery = store_delivery(connector, b'{"assets": []}').delivery
    assert client.get("/healthz?strict=1").status_code == 200  # a fresh queued delivery is no backlog
    Delivery.objects.filter(pk=delivery.pk).update(received_at=timezone.now() - timedelta(minutes=11))
    response = client.get("/healthz?strict=1")
    assert response.status_code == 503
    assert response.json()["queue"] == "backlog" and response.json()["oldest_queued_delivery_seconds"] >= 660
    assert client.get("/healthz").status_code == 200  # load balancers keep sending traffic
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.DEAD)
    response = client.get("/healthz?strict=1")
    assert response.status_code == 200 and response.json()["dead_deliveries"] == 1


def test_healthz_needs_no_login_and_shows_no_secrets(client, connector, settings):
    beat(seconds_ago=1)
    store_delivery(connector, b'{"assets": []}')
    content = client.get("/healthz?strict=1").content.decode()
    assert all(secret not in content for secret in secrets_of(connector, settings))
    assert connector.name not in content and str(connector.uuid) not in content


# --- manage.py healthcheck -------------------------------------------------------------------------------------


def test_healthcheck_exits_0_when_healthy(connector, settings):
    beat(seconds_ago=1)
    out = io.StringIO()
    call_command("healthcheck", stdout=out)
    assert "workers" in out.getvalue() and "ok" in out.getvalue()
    out = io.StringIO()
    call_command("healthcheck", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["ok"] is True and report["workers_alive"] == 1
    assert all(secret not in out.getvalue() for secret in secrets_of(connector, settings))


def test_healthcheck_exits_1_without_a_live_worker(connector, settings):
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("healthcheck", stdout=out)
    assert failed.value.returncode == 1
    assert "none alive" in out.getvalue()
    assert all(secret not in out.getvalue() for secret in secrets_of(connector, settings))


@pytest.mark.django_db(transaction=True)
def test_healthcheck_exit_codes_from_the_shell(connector, settings):
    """The exit code a monitoring script or container health check sees; no secret in either stream."""
    root = Path(__file__).resolve().parent.parent
    env = {"DATABASE_URL": database_url_for_subprocess(), "PATH": "/usr/bin:/bin"}

    def run():
        return subprocess.run(
            [sys.executable, "manage.py", "healthcheck"], cwd=root, env=env, capture_output=True, text=True, timeout=60
        )

    unhealthy = run()
    assert unhealthy.returncode == 1, unhealthy.stderr
    beat(seconds_ago=1)
    healthy = run()
    assert healthy.returncode == 0, healthy.stderr
    output = unhealthy.stdout + unhealthy.stderr + healthy.stdout + healthy.stderr
    assert "postgres://" not in output and "sqlite://" not in output
    assert all(secret not in output for secret in secrets_of(connector, settings))


# --- serve: the admin login on first start ---------------------------------------------------------------------


class _Exited:
    """Stands in for gunicorn and the worker: already exited, so `serve` stops at once."""

    returncode = 0
    args = ["python", "-m", "stub", "stub"]

    def __init__(self, *args, **kwargs):
        pass

    def poll(self):
        return 0

    def wait(self, timeout=None):
        return 0


@pytest.fixture
def start_serve(monkeypatch, defaults):
    """Run `serve`'s start-up (migrations and static files skipped, processes stubbed); returns its output."""
    monkeypatch.setattr(serve, "call_command", lambda *args, **kwargs: None)
    monkeypatch.setattr(serve.subprocess, "Popen", _Exited)
    monkeypatch.setattr(serve.signal, "signal", lambda *args: None)

    def start() -> str:
        out = io.StringIO()
        with pytest.raises(CommandError):  # the stubbed processes "exited"
            call_command("serve", stdout=out, stderr=io.StringIO())
        return out.getvalue()

    return start


def _sign_in(username: str, password: str):
    """Django's own authentication, through every backend (the lockout backend wants the request)."""
    return authenticate(RequestFactory().post("/accounts/login/"), username=username, password=password)


def test_first_start_creates_admin_with_a_printed_password_and_the_second_does_not(start_serve, monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    first = start_serve()
    assert "Created the admin login" in first
    password = first.split("password: ", 1)[1].split()[0]
    assert len(password) >= 16
    admin = _sign_in("admin", password)
    assert admin is not None and admin.is_superuser
    assert admin.groups.filter(name="Connector admins").exists()
    second = start_serve()
    assert "Created" not in second and "password" not in second
    assert get_user_model().objects.filter(username="admin").count() == 1
    assert _sign_in("admin", password) is not None  # unchanged


def test_first_start_uses_admin_password_and_never_prints_it(start_serve, monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "Correct-Horse-Battery-9")
    first = start_serve()
    assert "Created the admin login with the password from ADMIN_PASSWORD" in first
    assert "Correct-Horse-Battery-9" not in first
    assert _sign_in("admin", "Correct-Horse-Battery-9") is not None
    second = start_serve()
    assert "Created" not in second and "Correct-Horse-Battery-9" not in second
    assert get_user_model().objects.filter(username="admin").count() == 1
