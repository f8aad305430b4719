"""Qualys-style rate-limit headers on every intake reply, counted in the database (shared by every process)."""

import json

import pytest
from django.contrib.auth.models import Group

from connectors import ratelimit
from connectors.gateway import issue_token
from connectors.models import IntakeRateWindow
from connectors.services import set_enabled
from connectors_site.common.roles import SENDERS

from .helpers import asset, post_bearer, post_signed
from .test_intake import CSAM_PATH, csam_body

pytestmark = pytest.mark.django_db

HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Window-Sec", "X-RateLimit-Remaining", "X-RateLimit-ToWait-Sec")


def rate_headers(response) -> dict[str, str]:
    return {name: response[name] for name in HEADERS if name in response}


@pytest.fixture
def limit(settings):
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 3
    return 3


def test_accepted_deliveries_count_down(client, connector, limit):
    replies = [post_bearer(client, connector, asset(i)) for i in range(3)]
    assert [r.status_code for r in replies] == [202, 202, 202]
    assert [r["X-RateLimit-Remaining"] for r in replies] == ["2", "1", "0"]
    assert all(r["X-RateLimit-Limit"] == "3" and r["X-RateLimit-Window-Sec"] == "60" for r in replies)
    assert [r["X-RateLimit-ToWait-Sec"] for r in replies[:2]] == ["0", "0"]
    assert 1 <= int(replies[2]["X-RateLimit-ToWait-Sec"]) <= 60
    refused = post_bearer(client, connector, asset(9))
    assert refused.status_code == 429
    assert refused["Content-Type"].startswith("application/problem+json")
    assert refused["Retry-After"] == refused["X-RateLimit-ToWait-Sec"]
    assert refused["X-RateLimit-Remaining"] == "0"


def test_the_count_lives_in_one_database_row_per_connector_and_window(connector, make_connector, limit):
    other = make_connector("Other")
    states = [ratelimit.hit(connector.pk) for _ in range(2)] + [ratelimit.hit(other.pk)]
    assert [s.used for s in states] == [1, 2, 1]
    assert sorted(IntakeRateWindow.objects.values_list("count", flat=True)) == [1, 2]


def test_a_new_window_prunes_the_old_ones(connector, limit, monkeypatch):
    ratelimit.hit(connector.pk)
    IntakeRateWindow.objects.update(window_start=1)
    IntakeRateWindow.objects.create(connector=connector, window_start=2, count=7)
    state = ratelimit.hit(connector.pk)
    assert state.used == 1
    assert IntakeRateWindow.objects.count() == 1


def test_error_replies_carry_the_headers_too(client, connector, limit):
    malformed = post_bearer(client, connector, b'{"assets": [}')
    assert malformed.status_code == 400 and rate_headers(malformed)["X-RateLimit-Remaining"] == "2"
    unsupported = post_bearer(client, connector, b"a=b", content_type="application/x-www-form-urlencoded")
    assert unsupported.status_code == 415 and unsupported["X-RateLimit-Remaining"] == "1"
    not_allowed = client.get(f"/webhooks/{connector.uuid}")
    assert not_allowed.status_code == 405 and set(rate_headers(not_allowed)) == set(HEADERS)
    set_enabled(connector, False)
    forbidden = post_bearer(client, connector, asset(1))
    assert forbidden.status_code == 403 and forbidden["X-RateLimit-Remaining"] == "0"


def test_unauthenticated_callers_learn_nothing(client, connector, limit):
    for i in range(3):
        post_bearer(client, connector, asset(i))  # the connector is at its limit now
    unknown = post_bearer(client, connector, asset(1), path="/webhooks/00000000-0000-4000-8000-000000000000")
    wrong = post_bearer(client, connector, asset(1), token="chk_wrong")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    nominal = {"X-RateLimit-Limit": "3", "X-RateLimit-Window-Sec": "60", "X-RateLimit-Remaining": "3"}
    assert {k: v for k, v in rate_headers(unknown).items() if k != "X-RateLimit-ToWait-Sec"} == nominal
    assert rate_headers(unknown) == rate_headers(wrong)
    assert IntakeRateWindow.objects.get().count == 3  # refused callers were not counted


def test_the_csam_path_counts_and_answers_the_same_way(client, connector, limit, django_user_model, defaults):
    sender = django_user_model.objects.create_user("sam", password="pw-sam-12345")
    sender.groups.add(Group.objects.get_or_create(name=SENDERS)[0])
    replies = []
    for i in range(4):
        body = json.loads(csam_body(connector))
        body["connectorMetaData"]["requestId"] = f"r-{i}"
        token = issue_token(sender) if i % 2 else connector.credentials.token
        replies.append(
            client.post(
                CSAM_PATH, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
            )
        )
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert [r["X-RateLimit-Remaining"] for r in replies] == ["2", "1", "0", "0"]
    assert "Retry-After" in replies[3]
    malformed = client.post(CSAM_PATH, b"{nope", content_type="application/json")
    assert malformed.status_code == 400 and malformed["X-RateLimit-Remaining"] == "3"


def test_no_headers_when_the_limit_is_off(client, connector, settings):
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 0
    response = post_signed(client, connector, asset(1))
    assert response.status_code == 202 and rate_headers(response) == {}
    assert not IntakeRateWindow.objects.exists()
