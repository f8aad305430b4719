"""Sign-in lockout (django-axes) for the UI and Django admin, and throttling of wrong API tokens."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from axes.utils import reset
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
API = "/api/v1/connectors/"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.API_TOKEN_FAILURE_LIMIT = 10


def sign_in(client, username, password, url=LOGIN, ip="203.0.113.7"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_wrong_passwords_lock_the_user_out_and_the_right_one_no_longer_works(client, connector_admin):
    for _ in range(4):
        response = sign_in(client, "carol", "wrong")
        assert response.status_code == 200  # the form again, with its error
    locked = sign_in(client, "carol", "wrong")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed sign-ins (5)" in page
    assert "Try again in 15 minutes" in page

    right = sign_in(client, "carol", "pw-carol-123")
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_user_from_any_address(client, connector_admin):
    for index in range(5):
        sign_in(client, "carol", "wrong", ip=f"198.51.100.{index}")
    assert sign_in(client, "carol", "pw-carol-123", ip="192.0.2.1").status_code == 429


def test_lockout_is_per_address_whatever_the_user(client, connector_admin, viewer):
    for index in range(5):
        sign_in(client, f"nobody{index}", "wrong")
    response = sign_in(client, "victor", "pw-victor-123")
    assert response.status_code == 429
    # Another address signs in as usual.
    assert sign_in(client, "victor", "pw-victor-123", ip="192.0.2.99").status_code == 302


def test_django_admin_login_is_locked_too(client, django_user_model):
    django_user_model.objects.create_superuser("root", password="pw-root-123")
    for _ in range(5):
        sign_in(client, "root", "wrong", url=ADMIN_LOGIN)
    response = sign_in(client, "root", "pw-root-123", url=ADMIN_LOGIN)
    assert response.status_code == 429
    assert "Sign-in locked" in response.content.decode()


def test_a_success_before_the_limit_resets_the_count(client, connector_admin):
    for _ in range(4):
        sign_in(client, "carol", "wrong")
    assert sign_in(client, "carol", "pw-carol-123").status_code == 302
    client.logout()
    for _ in range(4):
        sign_in(client, "carol", "wrong")
    assert sign_in(client, "carol", "pw-carol-123").status_code == 302


def test_an_admin_unlocks_in_django_admin(client, connector_admin, django_user_model):
    for _ in range(5):
        sign_in(client, "carol", "wrong")
    assert sign_in(client, "carol", "pw-carol-123").status_code == 429

    staff = APIClient()  # any client; Django admin is plain Django
    root = django_user_model.objects.create_superuser("root", password="pw-root-123")
    staff.force_login(root)
    changelist = staff.get(reverse("admin:axes_accessattempt_changelist"))
    assert changelist.status_code == 200
    assert "carol" in changelist.content.decode()
    attempt = AccessAttempt.objects.get(username="carol")
    staff.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})
    assert not AccessAttempt.objects.exists()

    assert sign_in(client, "carol", "pw-carol-123").status_code == 302


def test_the_cool_off_ends_the_lockout(client, connector_admin, settings):
    for _ in range(5):
        sign_in(client, "carol", "wrong")
    AccessAttempt.objects.update(attempt_time="2000-01-01T00:00:00Z")
    assert sign_in(client, "carol", "pw-carol-123").status_code == 302


def test_axes_reset_command_unlocks(client, connector_admin):
    for _ in range(5):
        sign_in(client, "carol", "wrong")
    reset(username="carol")
    reset(ip="203.0.113.7")
    assert sign_in(client, "carol", "pw-carol-123").status_code == 302


# --- API tokens -------------------------------------------------------------------------------------------------


def api_client(token: str, ip: str = "203.0.113.7") -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_wrong_tokens_are_throttled_and_then_even_the_right_one_waits(connector_admin):
    _, good = AuthToken.objects.create(user=connector_admin, expiry=None)
    for index in range(10):
        response = api_client(f"{index:064x}").get(API)
        assert response.status_code == 401
    throttled = api_client("f" * 64).get(API)
    assert throttled.status_code == 429
    assert throttled["Content-Type"] == "application/problem+json"
    assert int(throttled["Retry-After"]) > 0
    assert "Too many invalid API tokens" in throttled.json()["detail"]
    assert api_client(good).get(API).status_code == 429
    # Another address is not affected.
    assert api_client(good, ip="192.0.2.50").get(API).status_code == 200


def test_the_token_throttle_window_ends(connector_admin, settings, monkeypatch):
    import time

    _, good = AuthToken.objects.create(user=connector_admin, expiry=None)
    for _ in range(10):
        api_client("0" * 64).get(API)
    assert api_client(good).get(API).status_code == 429
    later = time.time() + settings.API_TOKEN_FAILURE_WINDOW_SECONDS + 1
    monkeypatch.setattr("connectors_site.common.auth_throttle.time.time", lambda: later)
    assert api_client(good).get(API).status_code == 200


def test_behind_the_proxy_the_proxys_address_counts_not_the_clients_claim(connector_admin, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    for index in range(10):
        client = api_client("0" * 64, ip="10.0.0.2")
        client.get(API, HTTP_X_FORWARDED_FOR=f"1.2.3.{index}, 203.0.113.9")
    blocked = api_client("0" * 64, ip="10.0.0.2").get(API, HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.9")
    assert blocked.status_code == 429
    other = api_client("0" * 64, ip="10.0.0.2").get(API, HTTP_X_FORWARDED_FOR="203.0.113.10")
    assert other.status_code == 401


def test_a_token_that_is_not_utf8_is_a_401_not_a_500():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token caf\xe9")
    response = client.get(API)
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."
