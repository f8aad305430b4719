"""Intake against careless and hostile senders: long idempotency keys, oversized, compressed and chunked bodies,
and credentials checked before the body is parsed (test client; the real server is in test_hostile_senders)."""

import gzip
import io
import json
import time

import pytest

from connectors import intake
from connectors.choices import PayloadFormat
from connectors.gateway import issue_token
from connectors.inbox import stored_idempotency_key
from connectors.models import Delivery

from .helpers import asset, post_bearer, post_signed, signed_headers
from .test_gateway import sender  # noqa: F401 - fixture
from .test_intake import CSAM_PATH, csam_body, problem

pytestmark = pytest.mark.django_db

LONG = "k" * 255


# --- Idempotency: the whole key counts ---------------------------------------------------------------------------


def test_long_idempotency_keys_sharing_255_characters_are_two_deliveries(client, connector):
    first = post_bearer(client, connector, asset(1), HTTP_IDEMPOTENCY_KEY=LONG + "-batch-1")
    second = post_bearer(client, connector, asset(2), HTTP_IDEMPOTENCY_KEY=LONG + "-batch-2")
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["delivery_id"] != second.json()["delivery_id"]
    again = post_bearer(client, connector, asset(2), HTTP_IDEMPOTENCY_KEY=LONG + "-batch-2")
    assert again.status_code == 200 and again.json()["delivery_id"] == second.json()["delivery_id"]
    keys = set(Delivery.objects.values_list("idempotency_key", flat=True))
    assert keys == {stored_idempotency_key(LONG + "-batch-1"), stored_idempotency_key(LONG + "-batch-2")}
    assert all(key.startswith("sha256:") and len(key) == 71 for key in keys)


def test_keys_up_to_255_characters_are_stored_as_sent(client, connector):
    assert post_bearer(client, connector, asset(1), HTTP_IDEMPOTENCY_KEY=LONG).status_code == 202
    assert Delivery.objects.get().idempotency_key == LONG


def test_long_webhook_ids_sharing_255_characters_are_two_deliveries(client, connector):
    first = post_signed(client, connector, {"assets": [asset(1)]}, msg_id=LONG + "1")
    second = post_signed(client, connector, {"assets": [asset(2)]}, msg_id=LONG + "2")
    assert (first.status_code, second.status_code) == (202, 202)
    assert Delivery.objects.count() == 2


def test_long_csam_request_ids_sharing_255_characters_are_two_deliveries(client, make_connector):
    connector = make_connector("CSAM", payload_format=PayloadFormat.CSAM)

    def push(request_id):
        body = json.loads(csam_body(connector))
        body["connectorMetaData"]["requestId"] = request_id
        return post_bearer(client, connector, json.dumps(body).encode(), path=CSAM_PATH)

    first, second, again = push(LONG + "a"), push(LONG + "b"), push(LONG + "b")
    assert [r.json()["duplicate"] for r in (first, second, again)] == [False, False, True]
    assert again.json()["delivery_id"] == second.json()["delivery_id"]
    assert Delivery.objects.count() == 2


# --- Nothing to learn before authentication ----------------------------------------------------------------------


def test_oversized_body_gets_the_same_413_for_unknown_and_known_connectors(client, connector, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    body = {"assets": [asset(i) for i in range(50)]}
    known = post_bearer(client, connector, body, token="chk_wrong")
    unknown = post_bearer(
        client, connector, body, token="chk_wrong", path=f"/webhooks/{'0' * 8}-0000-4000-8000-{'0' * 12}"
    )
    assert (known.status_code, unknown.status_code) == (413, 413)
    assert problem(known) == problem(unknown)


@pytest.fixture
def no_parsing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the body was parsed before the credential was checked")

    monkeypatch.setattr(intake, "decode_json", refuse)


@pytest.mark.usefixtures("no_parsing")
def test_csam_wrong_bearer_token_is_401_before_parsing(client, connector):
    response = post_bearer(client, connector, b"{not json", path=CSAM_PATH, token="chk_" + "x" * 43)
    assert response.status_code == 401
    assert not Delivery.objects.exists()


@pytest.mark.usefixtures("no_parsing")
def test_csam_invalid_gateway_jwt_is_401_before_parsing(client, connector, sender):  # noqa: F811
    token = issue_token(sender)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = post_bearer(client, connector, b"{not json", path=CSAM_PATH, token=forged)
    assert response.status_code == 401


def test_csam_token_of_another_connector_is_401(client, make_connector):
    mine = make_connector("Mine", payload_format=PayloadFormat.CSAM)
    theirs = make_connector("Theirs", payload_format=PayloadFormat.CSAM)
    response = post_bearer(client, mine, csam_body(theirs), path=CSAM_PATH)
    assert response.status_code == 401
    assert post_bearer(client, mine, csam_body(mine), path=CSAM_PATH).status_code == 200


# --- Content-Encoding: gzip --------------------------------------------------------------------------------------


def test_gzip_body_is_accepted_and_stored_decompressed(client, connector):
    body = json.dumps({"assets": [asset(1)]}).encode()
    response = post_bearer(client, connector, gzip.compress(body), HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == 1
    assert bytes(Delivery.objects.get().body) == body


def test_standard_webhooks_signature_cannot_cover_a_gzip_body(client, connector):
    """Standard Webhooks signs the body as text (the reference library takes a string): gzip bytes are not UTF-8,
    so such a delivery is a clear 400, never verified over the decompressed body instead."""
    compressed = gzip.compress(json.dumps({"assets": [asset(1)]}).encode())
    headers = signed_headers(connector.credentials.signing_secret, b"{}")
    response = client.post(
        f"/webhooks/{connector.uuid}",
        compressed,
        content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
        **headers,
    )
    assert response.status_code == 400 and "UTF-8" in problem(response)["detail"]
    assert not Delivery.objects.exists()


def test_gzip_hmac_signature_covers_the_compressed_bytes(client, make_connector):
    from connectors.signatures import PRESETS

    connector = make_connector("GitHub style", signature_scheme="github")
    compressed = gzip.compress(json.dumps({"assets": [asset(1)]}).encode())
    signature = PRESETS["github"].sign(connector.credentials.signing_secret, compressed)
    response = client.post(
        f"/webhooks/{connector.uuid}",
        compressed,
        content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )
    assert response.status_code == 202, response.content
    wrong = PRESETS["github"].sign(connector.credentials.signing_secret, gzip.decompress(compressed))
    response = client.post(
        f"/webhooks/{connector.uuid}",
        compressed,
        content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
        HTTP_X_HUB_SIGNATURE_256=wrong,
    )
    assert response.status_code == 401


def test_gzip_bomb_is_413_and_costs_nothing(client, connector, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
    bomb = gzip.compress(b" " * (200 * 1024 * 1024), compresslevel=9)  # 200 MiB of spaces in ~200 KiB
    assert len(bomb) < settings.WEBHOOK_MAX_BODY_BYTES
    started = time.monotonic()
    response = post_bearer(client, connector, bomb, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert "decompressed" in problem(response)["detail"]
    assert time.monotonic() - started < 2
    assert not Delivery.objects.exists()


def test_gzip_is_not_decompressed_for_an_unauthenticated_sender(client, connector, monkeypatch):
    monkeypatch.setattr(intake, "decoded", lambda *a: pytest.fail("decompressed before authentication"))
    response = post_bearer(client, connector, gzip.compress(b"{}"), token="chk_wrong", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 401


def test_broken_gzip_is_400_and_other_encodings_415(client, connector):
    broken = gzip.compress(b'{"assets": []}')[:-6]
    response = post_bearer(client, connector, broken, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400 and "gzip" in problem(response)["detail"]
    response = post_bearer(client, connector, b"xx", HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 415 and "br" in problem(response)["detail"]


# --- Chunked bodies under a WSGI server --------------------------------------------------------------------------


def dechunked(body: bytes) -> dict:
    """The environ a de-chunking WSGI server (gunicorn's own workers) gives a chunked request: no length."""
    return {
        "CONTENT_LENGTH": "",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
    }


def test_chunked_body_from_a_dechunking_wsgi_server_is_read(client, connector):
    body = json.dumps({"assets": [asset(1)]}).encode()
    response = post_bearer(client, connector, body, **dechunked(body))
    assert response.status_code == 202, response.content
    assert bytes(Delivery.objects.get().body) == body


def test_chunked_body_over_the_limit_is_413(client, connector, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    body = json.dumps({"assets": [asset(i) for i in range(50)]}).encode()
    response = post_bearer(client, connector, body, **dechunked(body))
    assert response.status_code == 413
    assert not Delivery.objects.exists()


def test_chunked_body_a_server_cannot_delimit_is_411_not_an_empty_delivery(client, connector):
    body = json.dumps({"assets": [asset(1)]}).encode()
    response = post_bearer(client, connector, body, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411
    assert not Delivery.objects.exists()
