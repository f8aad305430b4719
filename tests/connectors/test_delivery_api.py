"""`/api/v1/deliveries/`: the status URL of every 202, read with a connector's bearer token (its own deliveries
only), a session or an API token."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from connectors.inbox import store_delivery

from .helpers import asset, post_bearer

pytestmark = pytest.mark.django_db

LIST_URL = reverse("connectors-api:delivery-list")


def detail_url(delivery) -> str:
    return reverse("connectors-api:delivery-detail", args=[delivery.uuid])


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def two(make_connector):
    """Two connectors with a stored delivery each."""
    cmdb, mdm = make_connector("CMDB"), make_connector("MDM")
    cmdb.delivery = store_delivery(cmdb, b'{"assets": [{"source_key": "a", "hostname": "web-1"}]}').delivery
    mdm.delivery = store_delivery(mdm, b'{"assets": [{"source_key": "b", "hostname": "web-2"}]}').delivery
    return cmdb, mdm


def test_the_status_url_of_a_202_is_readable_with_the_connectors_token(client, connector):
    reply = post_bearer(client, connector, {"assets": [asset(1)]})
    assert reply.status_code == 202
    status_url = urlsplit(reply.json()["status_url"]).path
    response = bearer(connector.credentials.token).get(status_url)
    assert response.status_code == 200
    body = response.json()
    assert body["delivery_id"] == reply.json()["delivery_id"]
    # Queued, with the record count the reply stated and the reply itself.
    assert body["status"] == "queued" and body["counts"]["received"] == reply.json()["records"] == 1
    assert body["reply_status"] == 202 and body["reply_ms"] >= 0
    assert "body" not in body


def test_a_connector_token_reads_its_own_delivery(two):
    cmdb, _ = two
    response = bearer(cmdb.credentials.token).get(detail_url(cmdb.delivery))
    assert response.status_code == 200
    assert response.json()["delivery_id"] == str(cmdb.delivery.uuid)


def test_a_connector_token_on_another_connectors_delivery_is_404_like_an_unknown_one(two):
    cmdb, mdm = two
    response = bearer(cmdb.credentials.token).get(detail_url(mdm.delivery))
    unknown = bearer(cmdb.credentials.token).get(LIST_URL + "00000000-0000-4000-8000-000000000000/")
    assert unknown.status_code == 404
    assert response.status_code == 404
    assert response.json() == unknown.json()
    assert "MDM" not in response.content.decode() and str(mdm.delivery.uuid) not in response.content.decode()


def test_a_connector_token_never_reads_another_connectors_delivery(two):
    """Whatever the status code, nothing of the other connector's delivery comes back."""
    cmdb, mdm = two
    for token in (cmdb.credentials.token, "chk_not-a-real-token"):
        response = bearer(token).get(detail_url(mdm.delivery))
        assert response.status_code in (403, 404)
        assert response["Content-Type"] == "application/problem+json"
        assert "MDM" not in response.content.decode() and "web-2" not in response.content.decode()


def test_a_connector_token_cannot_list_deliveries(two):
    cmdb, _ = two
    response = bearer(cmdb.credentials.token).get(LIST_URL)
    assert response.status_code in (401, 403)
    assert "results" not in response.json()


def test_a_session_lists_and_reads_every_delivery(viewer_ui, two):
    cmdb, mdm = two
    listing = viewer_ui.get(LIST_URL)
    assert listing.status_code == 200
    ids = {item["delivery_id"] for item in listing.json()["results"]}
    assert ids == {str(cmdb.delivery.uuid), str(mdm.delivery.uuid)}
    detail = viewer_ui.get(detail_url(mdm.delivery))
    assert detail.status_code == 200
    assert detail.json()["delivery_id"] == str(mdm.delivery.uuid) and "errors" in detail.json()


def test_an_api_token_lists_filters_and_reads(viewer, two):
    cmdb, mdm = two
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=viewer)[1]}")
    listing = client.get(LIST_URL, {"connector": str(cmdb.uuid)})
    assert listing.status_code == 200
    assert [item["delivery_id"] for item in listing.json()["results"]] == [str(cmdb.delivery.uuid)]
    assert client.get(detail_url(mdm.delivery)).status_code == 200


def test_a_viewer_cannot_replay(viewer_ui, two):
    cmdb, _ = two
    assert viewer_ui.post(detail_url(cmdb.delivery) + "replay/").status_code == 403


def test_anonymous_callers_get_the_same_answer_for_known_and_unknown_deliveries(client, two):
    cmdb, _ = two
    known = client.get(detail_url(cmdb.delivery))
    unknown = client.get(LIST_URL + "00000000-0000-4000-8000-000000000000/")
    assert known.status_code == unknown.status_code and known.status_code in (401, 403)
    assert known.json() == unknown.json()
    assert client.get(LIST_URL).status_code in (401, 403)
