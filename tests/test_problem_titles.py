"""problem+json titles are short phrases, details the formatted message: on the intake and the management API."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def problem(response) -> dict:
    assert response["Content-Type"].startswith("application/problem+json")
    return response.json()


def test_method_not_allowed_on_the_intake(client, connector):
    for path in (f"/webhooks/{connector.uuid}", "/rest/2.0/am/connector/asset/data/sync"):
        body = problem(client.get(path))
        assert body == {
            "type": "about:blank",
            "title": "Method not allowed",
            "status": 405,
            "detail": 'Method "GET" not allowed.',
        }


def test_method_not_allowed_and_unsupported_media_type_on_the_management_api(connector_admin, connector):
    api = APIClient()
    api.force_authenticate(connector_admin)
    not_allowed = problem(api.delete(reverse("connectors-api:connector-list")))
    assert (not_allowed["title"], not_allowed["detail"]) == ("Method not allowed", 'Method "DELETE" not allowed.')
    unsupported = api.post(reverse("connectors-api:connector-list"), b"name=x", content_type="text/csv")
    assert unsupported.status_code == 415
    body = problem(unsupported)
    assert body["title"] == "Unsupported media type"
    assert body["detail"] == 'Unsupported media type "text/csv" in request.'


def test_other_errors_have_status_phrases_as_titles(client, connector_admin):
    assert problem(client.get("/api/v1/connectors/"))["title"] in ("Unauthorized", "Forbidden")
    api = APIClient()
    api.force_authenticate(connector_admin)
    body = problem(api.post(reverse("connectors-api:connector-list"), {}, format="json"))
    assert body["title"] == "Bad request" and "errors" in body
    assert problem(api.get("/api/v1/connectors/00000000-0000-4000-8000-000000000000/"))["title"] == "Not found"
