"""Refused intake attempts: noted (never a body), sampled under a flood, pruned, and shown per connector."""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from connectors import refused
from connectors.choices import DeliveryStatus, RefusalReason
from connectors.metrics import INTAKE_REQUESTS
from connectors.models import Delivery, RefusedAttempt
from connectors.refused import Sampler, prune_refused_attempts, record_before_django
from connectors.services import set_enabled
from connectors_site.serving import BodyDeadline

from .helpers import asset, post_bearer, post_signed

pytestmark = pytest.mark.django_db

CSAM_PATH = "/rest/2.0/am/connector/asset/data/sync"


@pytest.fixture(autouse=True)
def fresh_sampler(monkeypatch):
    """Each test starts with a whole allowance (connector ids may repeat between tests)."""
    monkeypatch.setattr(refused, "sampler", Sampler())


def only_attempt() -> RefusedAttempt:
    (attempt,) = RefusedAttempt.objects.all()
    return attempt


def test_a_wrong_token_is_noted_against_the_connector(client, connector):
    response = post_bearer(client, connector, {"assets": [asset(1)]}, token="cht_wrong", REMOTE_ADDR="198.51.100.4")
    assert response.status_code == 401
    attempt = only_attempt()
    assert (attempt.connector, attempt.reason, attempt.status_code) == (connector, RefusalReason.UNAUTHORIZED, 401)
    assert (attempt.address, attempt.endpoint, attempt.count) == ("198.51.100.4", "webhook", 1)
    assert attempt.detail == response.json()["detail"]
    assert not Delivery.objects.exists()


def test_a_bad_signature_is_noted(client, connector):
    response = post_signed(client, connector, {"assets": [asset(1)]}, secret="whsec_" + "A" * 32)
    assert response.status_code == 401
    attempt = only_attempt()
    assert attempt.reason == RefusalReason.UNAUTHORIZED and "Signature rejected" in attempt.detail


def test_an_unknown_connector_keeps_only_the_address_and_the_reason(client, connector):
    response = client.post(
        "/webhooks/00000000-0000-4000-8000-000000000000",
        json.dumps({"assets": [asset(1)]}),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer cht_guess",
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 401
    attempt = only_attempt()
    assert (attempt.connector, attempt.reason, attempt.address, attempt.detail) == (
        None,
        RefusalReason.UNAUTHORIZED,
        "203.0.113.9",
        "",
    )


def test_disabled_too_large_and_rate_limited_are_noted(client, connector, settings):
    set_enabled(connector, False)
    assert post_bearer(client, connector, {"assets": [asset(1)]}).status_code == 403
    set_enabled(connector, True)
    settings.WEBHOOK_MAX_BODY_BYTES = 200
    assert post_bearer(client, connector, {"assets": [asset(i) for i in range(5)]}).status_code == 413
    settings.WEBHOOK_MAX_BODY_BYTES = 10_000
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 3  # the refused 403 counted as one
    statuses = [post_bearer(client, connector, {"assets": [asset(i)]}).status_code for i in range(3)]
    assert statuses == [202, 202, 429]
    reasons = list(RefusedAttempt.objects.order_by("id").values_list("connector", "reason", "status_code"))
    assert reasons == [
        (connector.pk, RefusalReason.DISABLED, 403),
        (connector.pk, RefusalReason.TOO_LARGE, 413),  # refused before the lookup, noted against the URL's connector
        (connector.pk, RefusalReason.RATE_LIMITED, 429),
    ]


def test_malformed_requests_that_store_nothing_are_noted(client, connector):
    response = post_bearer(client, connector, b"not gzip", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    response = client.post(CSAM_PATH, b"{", content_type="application/json", REMOTE_ADDR="192.0.2.1")
    assert response.status_code == 400
    rows = list(RefusedAttempt.objects.order_by("id").values_list("connector", "reason", "endpoint"))
    assert rows == [(connector.pk, RefusalReason.MALFORMED, "webhook"), (None, RefusalReason.MALFORMED, "csam")]


def test_a_body_stored_as_rejected_is_in_the_log_not_in_refused_attempts(client, connector):
    assert post_bearer(client, connector, b"{broken").status_code == 400
    assert post_bearer(client, connector, b"<xml/>", content_type="application/xml").status_code == 415
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.REJECTED}
    assert not RefusedAttempt.objects.exists()


def test_accepted_deliveries_are_not_refused_attempts(client, connector):
    assert post_bearer(client, connector, {"assets": [asset(1)]}).status_code == 202
    assert not RefusedAttempt.objects.exists()


# --- a flood stays cheap ------------------------------------------------------------------------------------------


def test_the_sampler_writes_a_few_rows_a_minute_and_folds_the_rest_into_the_next():
    sampler = Sampler(per_minute=2)
    key = (1, RefusalReason.UNAUTHORIZED)
    assert [sampler.take(key, now=60.0 + i) for i in range(5)] == [1, 1, 0, 0, 0]
    assert sampler.take((2, RefusalReason.UNAUTHORIZED), now=61.0) == 1  # each key has its own allowance
    assert sampler.take(key, now=120.0) == 4  # the next minute's first row carries the 3 left unwritten
    assert sampler.take(key, now=121.0) == 1
    sampler.give_back(key, 4)  # a row that could not be written
    assert sampler.take(key, now=180.0) == 5


def test_a_flood_of_bad_requests_writes_a_bounded_number_of_rows(client, connector, monkeypatch):
    monkeypatch.setattr(refused, "sampler", Sampler(per_minute=3))
    for _ in range(12):
        assert post_bearer(client, connector, {"assets": [asset(1)]}, token="cht_wrong").status_code == 401
    assert RefusedAttempt.objects.count() == 3
    # Attempts on unknown URLs share one allowance, however many ids are tried.
    for i in range(6):
        client.post(f"/webhooks/00000000-0000-4000-8000-{i:012d}", b"{}", content_type="application/json")
    assert RefusedAttempt.objects.filter(connector=None).count() == 3


# --- pruning ------------------------------------------------------------------------------------------------------


def noted(connector, *, days_ago: float = 0, n: int = 1) -> None:
    at = timezone.now() - timedelta(days=days_ago)
    RefusedAttempt.objects.bulk_create(
        RefusedAttempt(connector=connector, at=at, reason=RefusalReason.UNAUTHORIZED, status_code=401) for _ in range(n)
    )


def test_pruning_goes_by_age_and_keeps_the_newest_rows_per_connector(connector, make_connector, settings):
    other = make_connector("MDM")
    settings.DELIVERY_RETENTION_DAYS = 7
    noted(connector, days_ago=8, n=2)
    noted(connector, n=5)
    noted(other, n=2)
    noted(None, n=4)
    newest = list(RefusedAttempt.objects.filter(connector=connector).order_by("-id").values_list("id", flat=True))
    assert prune_refused_attempts(keep=3) == 2 + 2 + 1
    assert (
        list(RefusedAttempt.objects.filter(connector=connector).order_by("-id").values_list("id", flat=True))
        == (newest[:3])
    )
    assert RefusedAttempt.objects.filter(connector=other).count() == 2
    assert RefusedAttempt.objects.filter(connector=None).count() == 3


def test_refused_attempts_are_never_kept_longer_than_a_month(connector, settings):
    settings.DELIVERY_RETENTION_DAYS = 0  # deliveries kept for ever; refused attempts still go
    noted(connector, days_ago=31)
    noted(connector, days_ago=29)
    assert prune_refused_attempts() == 1


# --- the pages ----------------------------------------------------------------------------------------------------


def test_the_list_shows_the_connectors_attempts_newest_first(viewer_ui, connector, make_connector, client):
    other = make_connector("MDM")
    post_bearer(client, connector, {"assets": [asset(1)]}, token="cht_wrong", REMOTE_ADDR="198.51.100.4")
    set_enabled(connector, False)
    post_bearer(client, connector, {"assets": [asset(1)]})
    post_bearer(client, other, {"assets": [asset(1)]}, token="cht_other", REMOTE_ADDR="198.51.100.77")
    response = viewer_ui.get(reverse("connectors:refused_list", args=[connector.uuid]))
    page = response.content.decode()
    assert response.status_code == 200
    rows = re.findall(r"<tr>\s*<td class=\"nowrap\">.*?</tr>", page, re.DOTALL)
    assert len(rows) == 2
    assert "Connector disabled" in rows[0] and "Bad or missing credentials" in rows[1]
    assert "198.51.100.4" in rows[1] and "198.51.100.77" not in page
    assert "Last 24 hours:" in page
    filtered = viewer_ui.get(reverse("connectors:refused_list", args=[connector.uuid]), {"reason": "disabled"})
    assert len(re.findall(r"<tr>\s*<td class=\"nowrap\">", filtered.content.decode())) == 1


def test_the_list_has_an_empty_state_and_ignores_a_bad_filter(viewer_ui, connector):
    page = viewer_ui.get(reverse("connectors:refused_list", args=[connector.uuid]), {"reason": "bogus"})
    assert page.status_code == 200 and "No refused attempt" in page.content.decode()


def test_the_connector_page_and_the_delivery_log_count_the_last_day(viewer_ui, connector, client):
    for _ in range(2):
        post_bearer(client, connector, {"assets": [asset(1)]}, token="cht_wrong")
    RefusedAttempt.objects.create(
        connector=connector, at=timezone.now() - timedelta(days=2), reason="disabled", status_code=403, count=9
    )
    RefusedAttempt.objects.filter(connector=connector, reason="unauthorized").update(count=3)
    detail = viewer_ui.get(connector.get_absolute_url()).content.decode()
    assert "6 in the last 24 hours" in detail
    log = viewer_ui.get(reverse("connectors:delivery_list", args=[connector.uuid])).content.decode()
    assert "Refused attempts in the last 24 hours" in log and "Bad or missing credentials: 6" in log
    assert "Connector disabled" not in log


def test_the_list_costs_a_constant_number_of_queries(viewer_ui, connector, django_assert_max_num_queries):
    noted(connector, n=30)
    with django_assert_max_num_queries(9):
        assert viewer_ui.get(reverse("connectors:refused_list", args=[connector.uuid])).status_code == 200


# --- refused by the server before Django (serve) ------------------------------------------------------------------


def run_asgi(app, path: str, messages: list, client=("192.0.2.50", 5555)) -> list:
    sent = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [], "client": client}
    # A loop of its own in a thread of its own: the browser tests leave one running in this thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    return sent


def intake_counts() -> dict[tuple[str, str], float]:
    (family,) = INTAKE_REQUESTS.collect()
    return {
        (sample.labels["endpoint"], sample.labels["code"]): sample.value
        for sample in family.samples
        if sample.name.endswith("_total")
    }


async def never_called(scope, receive, send):
    raise AssertionError("the application must not run")


@pytest.mark.django_db(transaction=True)
def test_bodies_the_server_refuses_before_django_are_noted(connector):
    before = intake_counts()
    app = BodyDeadline(never_called, timeout=0.2, max_bytes=1000, on_refused=record_before_django)
    too_large = [{"type": "http.request", "body": b"x" * 600, "more_body": True} for _ in range(2)]
    assert run_asgi(app, f"/webhooks/{connector.uuid}", too_large)[0]["status"] == 413
    stalled = [{"type": "http.request", "body": b"{", "more_body": True}]
    assert run_asgi(app, CSAM_PATH, stalled, client=("198.51.100.3", 1))[0]["status"] == 408
    assert run_asgi(app, "/csam/assets/", [])[0]["status"] == 408  # not an intake URL: not noted
    rows = list(RefusedAttempt.objects.order_by("id").values_list("connector", "reason", "address", "endpoint"))
    assert rows == [
        (connector.pk, RefusalReason.TOO_LARGE, "192.0.2.50", "webhook"),
        (None, RefusalReason.TIMEOUT, "198.51.100.3", "csam"),
    ]
    after = intake_counts()  # counted in hub_intake_requests_total too, like any intake reply
    assert {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)} == {
        ("webhook", "413"): 1,
        ("csam", "408"): 1,
    }
