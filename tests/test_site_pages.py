"""Site-wide pages and start-up: styled 404 and 500 pages, Django admin's branding, humane dates, and what
`serve` says about the database and where gunicorn's control socket goes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.template import Context, Template

from connectors_site.common.api import server_error
from connectors_site.serving import SOCKET_PATH_MAX, control_socket_args, gunicorn_command
from connectors_site.templatetags.humane import humane_when

ROOT = Path(__file__).resolve().parent.parent


# --- 404 and 500 --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_not_found_is_a_styled_page_with_the_way_back(admin_ui):
    response = admin_ui.get("/connectors/not-a-page/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in page and "/static/css/app.css" in page
    assert 'aria-label="Main"' in page  # the usual menu
    assert 'href="/connectors/"' in page and 'href="/csam/assets/"' in page


@pytest.mark.django_db
def test_not_found_signed_out_offers_sign_in(client):
    page = client.get("/no-such-page/").content.decode()
    assert "Page not found" in page and 'href="/accounts/login/"' in page


def test_server_error_page_needs_no_database_and_no_request_context(rf):
    # No django_db mark: touching the database here would fail the test. The 500 view renders without context.
    response = server_error(rf.get("/connectors/"))
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in page
    assert "/static/css/app.css" in page and 'name="viewport"' in page


# --- Django admin -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_carries_the_product_name(client, django_user_model):
    staff = django_user_model.objects.create_user("sam", password="pw", is_staff=True, is_superuser=True)
    client.force_login(staff)
    page = client.get("/admin/").content.decode()
    assert "<title>Support tools | Connector hub admin</title>" in page
    assert "Connector hub administration" in page
    assert 'href="/integrations/"' in page  # "View site" leads back to the product


# --- dates --------------------------------------------------------------------------------------------------------

NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago", "text"),
    [
        (timedelta(seconds=5), "just now"),
        (timedelta(seconds=-20), "just now"),  # a clock a little ahead
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(minutes=59, seconds=59), "59 minutes ago"),
        (timedelta(hours=3, minutes=50), "3 hours ago"),
        (timedelta(days=1, hours=5), "yesterday"),
        (timedelta(days=6, hours=23), "6 days ago"),
        (timedelta(days=7), "on 13 Oct 2026 12:00"),
        (timedelta(days=59), "on 22 Aug 2026 12:00"),  # never "1 month, 4 weeks ago"
        (timedelta(days=400), "on 15 Sep 2025 12:00"),
        (timedelta(hours=-2), "on 20 Oct 2026 14:00"),  # the future is a date
    ],
)
def test_humane_when_uses_one_unit_then_a_date(ago, text):
    assert humane_when(NOW - ago, now=NOW) == text


def test_when_tag_gives_a_time_element_with_the_full_timestamp():
    moment = datetime(2026, 10, 12, 14, 2, 5, tzinfo=UTC)
    html = Template("{% load humane %}{% when moment %}|{% when nothing %}|{% when nothing 'not yet' %}").render(
        Context({"moment": moment, "nothing": None})
    )
    stamp, never, not_yet = html.split("|")
    assert stamp.startswith('<time class="when" datetime="2026-10-12T14:02:05+00:00" title="2026-10-12 14:02:05 UTC">')
    assert stamp.endswith("on 12 Oct 2026 14:02</time>")
    assert never == '<span class="muted">never</span>' and not_yet == '<span class="muted">not yet</span>'


# --- serve --------------------------------------------------------------------------------------------------------


def test_serve_says_whether_it_created_the_database(tmp_path):
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    script = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'connectors_site.settings'); "
        "django.setup(); from connectors_site.management.commands.serve import prepare_database; "
        "print(prepare_database())"
    )

    def run() -> str:
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    first, second = run(), run()
    assert first.startswith("Created the database (SQLite: ") and "fresh.sqlite3" in first
    assert "up to date" not in first
    assert second.startswith("Database is up to date (SQLite: ")


def test_gunicorn_control_socket_lives_in_the_data_directory_one_per_address(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    first, other = control_socket_args("127.0.0.1:8000"), control_socket_args("0.0.0.0:8080")
    assert first[0] == "--control-socket" and Path(first[1]).parent == tmp_path
    assert first[1] != other[1]
    command = gunicorn_command("127.0.0.1:8000", workers=1)
    assert command[command.index("--control-socket") + 1] == first[1]


def test_no_control_socket_where_the_path_would_not_fit(settings, tmp_path):
    settings.DATA_DIR = tmp_path / ("d" * SOCKET_PATH_MAX)
    assert control_socket_args("127.0.0.1:8000") == ["--no-control-socket"]
