"""Signature schemes sent exactly as the real senders send them: GitHub, NetBox, Svix, and a custom HMAC header."""

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from standardwebhooks.webhooks import Webhook

from connectors.choices import SignatureScheme
from connectors.models import Connector, Delivery
from connectors.services import rotate_secret, update_connector

from .helpers import asset, post_bearer

pytestmark = pytest.mark.django_db


def github_signature(secret: str, body: bytes) -> str:
    """As GitHub's "Validating webhook deliveries" computes it."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), msg=body, digestmod=hashlib.sha256).hexdigest()


def netbox_generate_signature(request_body: bytes, secret: str) -> str:
    """The same code as NetBox's extras/webhooks.py generate_signature."""
    hmac_prep = hmac.new(key=secret.encode("utf8"), msg=request_body, digestmod=hashlib.sha512)
    return hmac_prep.hexdigest()


def native_body(*indexes: int) -> bytes:
    return json.dumps({"assets": [asset(i) for i in indexes or (1,)]}).encode()


def test_github_style_signature_verifies(client, make_connector):
    connector = make_connector("GitHub-style", signature_scheme=SignatureScheme.GITHUB)
    body = native_body(1)
    response = client.post(
        f"/webhooks/{connector.uuid}",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=github_signature(connector.credentials.signing_secret, body),
        HTTP_X_GITHUB_DELIVERY=str(uuid.uuid4()),
    )
    assert response.status_code == 202, response.content
    assert Delivery.objects.get().authenticated_by == "signature"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda sig: sig.replace("sha256=", ""),  # no prefix
        lambda sig: sig[:-2] + ("00" if not sig.endswith("00") else "11"),  # one byte off
        lambda sig: "sha256=not-hex",
        lambda sig: "",
    ],
)
def test_github_style_bad_signatures_are_401(client, make_connector, mangle):
    connector = make_connector("GitHub-style", signature_scheme=SignatureScheme.GITHUB)
    body = native_body(1)
    signature = mangle(github_signature(connector.credentials.signing_secret, body))
    response = client.post(
        f"/webhooks/{connector.uuid}", body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature
    )
    assert response.status_code == 401
    assert "X-Hub-Signature-256" in response.json()["detail"]
    assert not Delivery.objects.exists()


def test_github_style_signature_of_another_body_is_401(client, make_connector):
    connector = make_connector("GitHub-style", signature_scheme=SignatureScheme.GITHUB)
    signature = github_signature(connector.credentials.signing_secret, native_body(1))
    response = client.post(
        f"/webhooks/{connector.uuid}",
        native_body(2),
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )
    assert response.status_code == 401
    assert "does not match" in response.json()["detail"]


def test_netbox_style_signature_verifies_with_the_whole_whsec_string(client, make_connector):
    connector = make_connector("NetBox", signature_scheme=SignatureScheme.NETBOX)
    secret = connector.credentials.signing_secret
    assert secret.startswith("whsec_")
    body = native_body(1)
    signature = netbox_generate_signature(body, secret)
    assert re.fullmatch(r"[0-9a-f]{128}", signature)
    response = client.post(
        f"/webhooks/{connector.uuid}", body, content_type="application/json", HTTP_X_HOOK_SIGNATURE=signature
    )
    assert response.status_code == 202, response.content
    # Keyed with the secret's base64 payload instead (as Standard Webhooks does) it does not verify.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    wrong = hmac.new(key, body, hashlib.sha512).hexdigest()
    response = client.post(
        f"/webhooks/{connector.uuid}", body, content_type="application/json", HTTP_X_HOOK_SIGNATURE=wrong
    )
    assert response.status_code == 401


def test_svix_headers_verify_and_svix_id_is_the_idempotency_key(client, connector):
    body = native_body(1)
    msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    signature = Webhook(connector.credentials.signing_secret).sign(msg_id, now, body.decode())
    headers = {
        "HTTP_SVIX_ID": msg_id,
        "HTTP_SVIX_TIMESTAMP": str(int(now.timestamp())),
        "HTTP_SVIX_SIGNATURE": signature,
    }
    first = client.post(f"/webhooks/{connector.uuid}", body, content_type="application/json", **headers)
    again = client.post(f"/webhooks/{connector.uuid}", body, content_type="application/json", **headers)
    assert (first.status_code, again.status_code) == (202, 200)
    delivery = Delivery.objects.get()
    assert delivery.authenticated_by == "signature" and delivery.idempotency_key == msg_id


def test_svix_signature_with_the_wrong_secret_is_401(client, connector, make_connector):
    other = make_connector("Other")
    body = native_body(1)
    now = datetime.now(UTC)
    response = client.post(
        f"/webhooks/{connector.uuid}",
        body,
        content_type="application/json",
        HTTP_SVIX_ID="msg_1",
        HTTP_SVIX_TIMESTAMP=str(int(now.timestamp())),
        HTTP_SVIX_SIGNATURE=Webhook(other.credentials.signing_secret).sign("msg_1", now, body.decode()),
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("algorithm", "encoding", "prefix"),
    [("sha1", "base64", ""), ("sha512", "base64", "v1="), ("sha256", "hex", ""), ("sha1", "hex", "sha1=")],
)
def test_custom_hmac_header(client, make_connector, algorithm, encoding, prefix):
    connector = make_connector(
        "Custom",
        signature_scheme=SignatureScheme.HMAC,
        hmac_header="X-Signature",
        hmac_algorithm=algorithm,
        hmac_encoding=encoding,
        hmac_prefix=prefix,
    )
    body = native_body(1)
    digest = hmac.new(connector.credentials.signing_secret.encode(), body, getattr(hashlib, algorithm)).digest()
    value = prefix + (digest.hex() if encoding == "hex" else base64.b64encode(digest).decode())
    response = client.post(f"/webhooks/{connector.uuid}", body, content_type="application/json", HTTP_X_SIGNATURE=value)
    assert response.status_code == 202, response.content


def test_previous_secret_verifies_during_the_rotation_overlap(client, make_connector):
    connector = make_connector("GitHub-style", signature_scheme=SignatureScheme.GITHUB)
    old = connector.credentials.signing_secret
    new = rotate_secret(connector).signing_secret
    for i, secret in enumerate((old, new)):
        body = native_body(i)
        response = client.post(
            f"/webhooks/{connector.uuid}",
            body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=github_signature(secret, body),
        )
        assert response.status_code == 202
    Connector.objects.filter(pk=connector.pk).update(previous_secret_expires_at=datetime(2000, 1, 1, tzinfo=UTC))
    body = native_body(5)
    response = client.post(
        f"/webhooks/{connector.uuid}",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=github_signature(old, body),
    )
    assert response.status_code == 401


def test_require_signature_accepts_the_configured_scheme_and_refuses_bearer(client, make_connector):
    connector = make_connector("NetBox", signature_scheme=SignatureScheme.NETBOX, require_signature=True)
    refused = post_bearer(client, connector, asset(1))
    assert refused.status_code == 401 and "X-Hook-Signature" in refused.json()["detail"]
    body = native_body(1)
    signature = netbox_generate_signature(body, connector.credentials.signing_secret)
    accepted = client.post(
        f"/webhooks/{connector.uuid}", body, content_type="application/json", HTTP_X_HOOK_SIGNATURE=signature
    )
    assert accepted.status_code == 202


def test_connector_page_says_which_scheme_is_in_force(admin_ui, make_connector):
    connector = make_connector("GitHub-style", signature_scheme=SignatureScheme.GITHUB)
    page = admin_ui.get(connector.get_absolute_url()).content.decode()
    assert "GitHub-style (X-Hub-Signature-256, sha256=, hex)" in page
    assert "X-Hub-Signature-256: HMAC-SHA-256, prefix sha256=, hex of the raw body" in page
    update_connector(connector, signature_scheme=SignatureScheme.STANDARD_WEBHOOKS)
    page = admin_ui.get(connector.get_absolute_url()).content.decode()
    assert "svix-signature" in page


def test_edit_form_sets_the_scheme_and_shows_errors_next_to_the_field(admin_ui, connector):
    url = reverse("connectors:connector_edit", args=[connector.uuid])
    payload = {"name": "CMDB", "modules": ["csam"], "payload_format": "native", "trust_rank": "50"}
    page = admin_ui.get(url).content.decode()
    assert "NetBox (X-Hook-Signature, SHA-512, hex)" in page
    response = admin_ui.post(url, payload | {"signature_scheme": "hmac", "hmac_header": "X Sig"})
    assert response.status_code == 200
    field = re.search(r'<div class="field has-error">.*?</div>', response.content.decode(), re.DOTALL).group(0)
    assert 'name="hmac_header"' in field and "no spaces or colon" in field
    response = admin_ui.post(url, payload | {"signature_scheme": "netbox"})
    assert response.status_code == 302
    connector.refresh_from_db()
    assert connector.signature_scheme == "netbox"


def test_api_sets_and_validates_the_scheme(connector_admin, connector):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(connector_admin)
    url = reverse("connectors-api:connector-detail", args=[connector.uuid])
    response = api.patch(url, {"signature_scheme": "hmac"}, format="json")
    assert response.status_code == 400
    assert "hmac_header" in response.json()["errors"]
    response = api.patch(
        url,
        {"signature_scheme": "hmac", "hmac_header": "X-Signature", "hmac_algorithm": "sha1", "hmac_encoding": "base64"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["signature"].startswith("HMAC header X-Signature: HMAC-SHA-1")
    response = api.patch(url, {"hmac_algorithm": "md5"}, format="json")
    assert response.status_code == 400
    created = api.post(
        reverse("connectors-api:connector-list"),
        {"name": "NetBox", "modules": ["csam"], "signature_scheme": "netbox"},
        format="json",
    )
    assert created.status_code == 201 and created.json()["signature_scheme"] == "netbox"
