"""The Qualys gateway flow, as a CSAM loader script runs it: POST /auth (form), then the sync push with the JWT."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import jwt
import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from assets.models import Asset
from connectors.choices import DeliveryStatus
from connectors.gateway import issue_token
from connectors.models import Delivery
from connectors.worker import process_delivery
from connectors_site.common.roles import SENDERS

from .helpers import asset, post_bearer
from .test_intake import CSAM_BODY, CSAM_PATH, csam_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def sender(django_user_model, defaults):
    user = django_user_model.objects.create_user("sam", password="pw-sam-12345")
    user.groups.add(Group.objects.get_or_create(name=SENDERS)[0])
    return user


def gateway_auth(client, username, password, **extra):
    """What a Qualys script sends: requests.post(f"{gateway}/auth", data={...}, headers={Content-Type: form})."""
    form = {"username": username, "password": password, "token": "true", **extra}
    return client.post("/auth", urlencode(form), content_type="application/x-www-form-urlencoded")


def push_with_jwt(client, connector, token, body=None):
    return client.post(
        CSAM_PATH,
        body or csam_body(connector),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_auth_answers_201_with_the_jwt_as_plain_text(client, sender):
    response = gateway_auth(client, "sam", "pw-sam-12345", permissions="ignored")
    assert response.status_code == 201
    assert response["Content-Type"] == "text/plain"
    token = response.content.decode()
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == str(sender.pk) and claims["username"] == "sam"
    assert claims["exp"] - claims["iat"] == 4 * 3600


@pytest.mark.parametrize(("username", "password"), [("sam", "wrong"), ("nobody", "pw-sam-12345"), ("", "")])
def test_bad_credentials_are_one_and_the_same_401(client, sender, username, password):
    response = gateway_auth(client, username, password)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json() == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "Wrong user name or password, or this user may not push to connectors.",
    }


def test_users_who_may_not_push_get_no_token(client, viewer, django_user_model, connector_admin):
    assert gateway_auth(client, "victor", "pw-victor-123").status_code == 401  # a Viewer
    django_user_model.objects.create_user("nogroup", password="pw-nogroup-1")
    assert gateway_auth(client, "nogroup", "pw-nogroup-1").status_code == 401
    assert gateway_auth(client, "carol", "pw-carol-123").status_code == 201  # a Connector admin
    staff = django_user_model.objects.create_user("stan", password="pw-stan-1234", is_staff=True)
    assert staff and gateway_auth(client, "stan", "pw-stan-1234").status_code == 201


def test_token_must_be_asked_for(client, sender):
    response = client.post(
        "/auth",
        urlencode({"username": "sam", "password": "pw-sam-12345"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400 and "token=true" in response.json()["detail"]
    assert client.get("/auth").status_code == 405


def test_script_flow_auth_then_push_lands_the_assets(client, sender, connector):
    token = gateway_auth(client, "sam", "pw-sam-12345").content.decode()
    response = push_with_jwt(client, connector, token)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["responseCode"] == "SUCCESSFULLY_PUBLISHED" and data["assetsError"] == {}
    delivery = Delivery.objects.get(uuid=data["delivery_id"])
    assert delivery.authenticated_by == "gateway" and delivery.sent_by == sender
    assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    assert Asset.objects.get().hostname == "db-02"
    again = push_with_jwt(client, connector, token)
    assert again.status_code == 200 and again.json()["delivery_id"] == data["delivery_id"]


def test_jwt_stops_working_when_the_user_is_deactivated_or_loses_the_role(client, sender, connector):
    token = issue_token(sender)
    sender.is_active = False
    sender.save()
    assert push_with_jwt(client, connector, token).status_code == 401
    sender.is_active = True
    sender.save()
    assert push_with_jwt(client, connector, token).status_code == 200
    sender.groups.clear()
    body = json.loads(json.dumps(CSAM_BODY))
    body["connectorMetaData"] |= {"requestId": "req-2", "connectorUuid": str(connector.uuid)}
    response = push_with_jwt(client, connector, token, json.dumps(body).encode())
    assert response.status_code == 401 and "/auth" in response.json()["detail"]


def test_expired_forged_and_password_changed_tokens_are_refused(client, sender, connector):
    expired = issue_token(sender, now=datetime.now(UTC) - timedelta(hours=4, seconds=1))
    assert push_with_jwt(client, connector, expired).status_code == 401
    forged = jwt.encode(
        {"sub": str(sender.pk), "username": "sam", "iss": "connector-hub", "iat": 1, "exp": 9e9}, "k" * 32
    )
    assert push_with_jwt(client, connector, forged).status_code == 401
    token = issue_token(sender)
    sender.set_password("pw-sam-changed")
    sender.save()
    assert push_with_jwt(client, connector, token).status_code == 401


def test_jwt_is_not_a_credential_on_the_webhook_path(client, sender, connector):
    response = post_bearer(client, connector, asset(1), token=issue_token(sender))
    assert response.status_code == 401


def test_disabled_connector_is_still_403_with_a_jwt(client, sender, connector):
    connector.enabled = False
    connector.save()
    assert push_with_jwt(client, connector, issue_token(sender)).status_code == 403


# --- Senders see their own deliveries and nothing else -------------------------------------------------------


def test_sender_reads_only_its_own_deliveries_in_the_api(client, sender, connector):
    push_with_jwt(client, connector, issue_token(sender))
    post_bearer(client, connector, asset(1))  # pushed with the connector token: not the sender's
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=sender)[1]}")
    listed = api.get(reverse("connectors-api:delivery-list"))
    assert listed.status_code == 200
    own = Delivery.objects.get(sent_by=sender)
    assert [item["delivery_id"] for item in listed.json()["results"]] == [str(own.uuid)]
    assert api.get(reverse("connectors-api:delivery-detail", args=[own.uuid])).status_code == 200
    other = Delivery.objects.exclude(pk=own.pk).get()
    assert api.get(reverse("connectors-api:delivery-detail", args=[other.uuid])).status_code == 404
    assert api.post(reverse("connectors-api:delivery-replay", args=[own.uuid])).status_code == 403
    for url in (
        reverse("connectors-api:connector-list"),
        reverse("connectors-api:connector-detail", args=[connector.uuid]),
        "/api/v1/assets/",
        "/api/v1/identification-rules/",
    ):
        response = api.get(url)
        assert response.status_code == 403, url
        assert response.json()["title"] == "Forbidden"


def test_sender_sees_its_own_delivery_pages_and_no_other_page(client, sender, connector):
    push_with_jwt(client, connector, issue_token(sender))
    post_bearer(client, connector, asset(1))
    own = Delivery.objects.get(sent_by=sender)
    other = Delivery.objects.exclude(pk=own.pk).get()
    client.force_login(sender)
    assert client.get(reverse("connectors:delivery_detail", args=[own.uuid])).status_code == 200
    assert client.get(reverse("connectors:delivery_body", args=[own.uuid])).status_code == 200
    assert client.get(reverse("connectors:delivery_detail", args=[other.uuid])).status_code == 404
    for url in (
        reverse("connectors:integrations"),
        reverse("connectors:connector_list"),
        connector.get_absolute_url(),
        reverse("connectors:delivery_list", args=[connector.uuid]),
        reverse("assets:asset_list"),
    ):
        assert client.get(url).status_code == 403, url


def test_a_sender_who_is_also_a_viewer_still_views(client, sender, viewer):
    sender.groups.add(Group.objects.get(name="Viewers"))
    client.force_login(sender)
    assert client.get(reverse("connectors:connector_list")).status_code == 200
