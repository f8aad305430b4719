"""/api/schema/ and /api/docs/ need a login (session or API token), like everything else, unless API_DOCS_PUBLIC."""

from __future__ import annotations

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

SCHEMA, DOCS = "/api/schema/", "/api/docs/"


def test_anonymous_callers_get_no_schema_and_are_sent_to_sign_in_for_the_docs(client):
    schema = client.get(SCHEMA)
    assert schema.status_code == 401
    assert schema["Content-Type"] == "application/problem+json"
    docs = client.get(DOCS)
    assert docs.status_code == 302
    assert docs["Location"] == "/accounts/login/?next=/api/docs/"


def test_a_signed_in_user_reads_both(viewer_ui):
    assert viewer_ui.get(SCHEMA).status_code == 200
    docs = viewer_ui.get(DOCS)
    assert docs.status_code == 200 and "swagger" in docs.content.decode().lower()


def test_an_api_token_reads_the_schema(viewer):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=viewer)[1]}")
    response = client.get(SCHEMA)
    assert response.status_code == 200
    assert b"openapi" in response.content


def test_a_wrong_token_is_refused(viewer):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 64)
    assert client.get(SCHEMA).status_code == 401


def test_api_docs_public_opens_both(client, settings):
    settings.API_DOCS_PUBLIC = True
    assert client.get(SCHEMA).status_code == 200
    assert client.get(DOCS).status_code == 200
