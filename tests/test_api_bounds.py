"""Numbers from the query string and the path are bounded: an absurd one is a 400 (or a 404 for a path id) in
problem+json, never a 500 from a database overflow; a page holds at most 500 results; the delivery status URL
answers the same 404 for another connector's delivery as for none at all."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from connectors.models import Delivery
from connectors_site.common.pagination import MAX_OFFSET, MAX_PAGE_SIZE

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
HUGE = "99999999999999999999999"
LISTS = ("/api/v1/connectors/", "/api/v1/deliveries/", "/api/v1/assets/", "/api/v1/identification-rules/")


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank"
    return body


@pytest.fixture
def api(connector_admin):
    client = APIClient()
    client.force_authenticate(connector_admin)
    return client


@pytest.fixture
def viewer_api(viewer):
    client = APIClient()
    client.force_authenticate(viewer)
    return client


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "0"),
        ("limit", "-1"),
        ("limit", str(MAX_PAGE_SIZE + 1)),
        ("limit", "100000"),
        ("limit", HUGE),
        ("limit", "1e3"),
        ("limit", "ten"),
        ("limit", ""),
        ("offset", "-1"),
        ("offset", str(MAX_OFFSET + 1)),
        ("offset", HUGE),
        ("offset", " 5"),
    ],
)
def test_absurd_pagination_is_a_bad_request(viewer_api, defaults, path, name, value):
    body = problem(viewer_api.get(path, {name: value}), 400)
    assert body["title"] == "Bad request" and name in body["errors"]


@pytest.mark.parametrize("path", LISTS)
def test_the_bounds_themselves_are_served(viewer_api, defaults, path):
    response = viewer_api.get(path, {"limit": MAX_PAGE_SIZE, "offset": MAX_OFFSET})
    assert response.status_code == 200 and response.json()["results"] == []
    assert viewer_api.get(path, {"limit": 1, "offset": 0}).status_code == 200


def test_the_schema_documents_the_maximum_page_size(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/assets/"]["get"]["parameters"]}
    assert parameters["limit"]["schema"]["maximum"] == MAX_PAGE_SIZE and parameters["limit"]["schema"]["minimum"] == 1
    assert parameters["offset"]["schema"]["maximum"] == MAX_OFFSET
    assert "400" in schema["paths"]["/api/v1/assets/"]["get"]["responses"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/assets/", {"not_seen_for": "0"}),
        ("/api/v1/assets/", {"not_seen_for": "36501"}),
        ("/api/v1/assets/", {"not_seen_for": HUGE}),
        ("/api/v1/assets/", {"not_seen_for": "1e400"}),
        ("/api/v1/assets/", {"not_seen_for": "NaN"}),
        ("/api/v1/assets/", {"not_seen_for": "-Infinity"}),
        ("/api/v1/assets/", {"stale": "maybe"}),
        ("/api/v1/assets/", {"connector": "not-a-uuid"}),
        ("/api/v1/assets/", {"include_retired": "null"}),
        ("/api/v1/assets/", {"kind": ""}),
        ("/api/v1/deliveries/", {"received_after": "9999-12-31T23:59:59-14:00"}),
        ("/api/v1/deliveries/", {"received_before": "0001-01-01T00:00:00+14:00"}),
        ("/api/v1/deliveries/", {"received_after": "99999-01-01T00:00:00Z"}),
        ("/api/v1/deliveries/", {"received_after": HUGE}),
        ("/api/v1/deliveries/", {"received_before": ""}),
        ("/api/v1/deliveries/", {"connector": HUGE}),
        ("/api/v1/deliveries/", {"status": "nope"}),
        ("/api/v1/connectors/", {"enabled": "null"}),
        ("/api/v1/connectors/", {"payload_format": "AAA"}),
    ],
)
def test_malformed_or_out_of_range_filters_are_bad_requests(viewer_api, defaults, path, params):
    body = problem(viewer_api.get(path, params), 400)
    assert set(params) <= set(body["errors"])


def test_filters_in_range_still_filter(viewer_api, connector):
    assert viewer_api.get("/api/v1/assets/", {"not_seen_for": "36500"}).status_code == 200
    # A well-formed uuid of no connector is a filter that matches nothing, not an error.
    unknown = viewer_api.get("/api/v1/assets/", {"connector": "00000000-0000-4000-8000-000000000000"})
    assert unknown.status_code == 200 and unknown.json()["results"] == []
    dated = viewer_api.get("/api/v1/deliveries/", {"received_after": "2000-01-01T00:00:00Z"})
    assert dated.status_code == 200
    # ISO 8601 allows offsets up to ±23:59; PostgreSQL takes ±15:59 at most: the filter compares in UTC.
    far_offset = viewer_api.get("/api/v1/deliveries/", {"received_before": "0127-08-16T14:31:30.400601-20:18"})
    assert far_offset.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/identification-rules/{HUGE}/",
        "/api/v1/identification-rules/-1/",
        "/api/v1/identification-rules/null,null/",
        f"/api/v1/assets/{HUGE}/",
        "/api/v1/connectors/null/",
        f"/api/v1/connectors/{HUGE}/rules/",
        "/api/v1/deliveries/0/",
        f"/api/v1/deliveries/{HUGE}/",
        "/api/v1/nothing-here/",
        "/webhooks/not-a-uuid",
    ],
)
def test_malformed_path_ids_are_problem_json_404s(api, path):
    body = problem(api.get(path), 404)
    assert body["title"] == "Not found"


def test_server_errors_under_the_api_are_problem_json(rf):
    from connectors_site.common.api import server_error

    response = server_error(rf.get("/api/v1/assets/"))
    assert response.status_code == 500 and response["Content-Type"] == PROBLEM
    assert response.content == b'{"type": "about:blank", "title": "Internal server error", "status": 500}'
    assert server_error(rf.get("/connectors/"))["Content-Type"].startswith("text/html")


def test_pages_outside_the_api_keep_the_html_404(admin_ui):
    response = admin_ui.get("/connectors/not-a-uuid/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "body",
    [
        {"trust_rank": int(HUGE)},
        {"trust_rank": 0},
        {"trust_rank": 101},
        {"trust_rank": "50"},
        {"trust_rank": 50.5},
        {"require_signature": "yes"},
        {"hmac_prefix": 0},
        {"name": "A\x00B"},
    ],
)
def test_numbers_and_types_in_bodies_are_checked(api, connector, body):
    response = api.patch(f"/api/v1/connectors/{connector.uuid}/", body, format="json")
    assert set(body) <= set(problem(response, 400)["errors"])


@pytest.mark.parametrize("rule_id", [int(HUGE), 0, -1, "8"])
def test_rule_ids_in_bodies_are_checked(api, connector, rule_id):
    response = api.patch(
        f"/api/v1/connectors/{connector.uuid}/rules/", {"rules": [{"id": rule_id, "required": True}]}, format="json"
    )
    assert "rules" in problem(response, 400)["errors"]


@pytest.mark.parametrize(
    "path",
    [
        "/csam/assets/",
        "/connectors/",
        "/csam/duplicates/",
    ],
)
@pytest.mark.parametrize("page", [HUGE, "-1", "1e400", "NaN", "x"])
def test_ui_page_numbers_never_fail(admin_ui, connector, path, page):
    """The UI clamps: a page past the end shows the last page, a page that is no number the first."""
    assert admin_ui.get(path, {"page": page}).status_code == 200


def test_ui_deliveries_page_number_never_fails(admin_ui, connector):
    Delivery.objects.create(connector=connector, body=b"{}")
    for page in (HUGE, "1e400", "-1"):
        response = admin_ui.get(f"/connectors/{connector.uuid}/deliveries/", {"page": page})
        assert response.status_code == 200


@pytest.mark.parametrize("days", [HUGE, "1e400", "NaN", "0"])
def test_ui_asset_filters_never_fail(admin_ui, connector, days):
    assert admin_ui.get("/csam/assets/", {"not_seen_for": days}).status_code == 200


# --- The delivery status URL: no existence oracle -----------------------------------------------------------------


@pytest.fixture
def two_connectors(make_connector):
    own = make_connector("Own")
    other = make_connector("Other")
    return own, other, Delivery.objects.create(connector=own, body=b"{}"), Delivery.objects.create(connector=other)


def bearer(connector) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {connector.credentials.token}")
    return client


def test_a_connector_token_reads_its_own_delivery(two_connectors):
    own, _, delivery, _ = two_connectors
    response = bearer(own).get(f"/api/v1/deliveries/{delivery.uuid}/")
    assert response.status_code == 200 and response.json()["delivery_id"] == str(delivery.uuid)


def test_another_connectors_delivery_looks_like_no_delivery(two_connectors):
    own, _, _, theirs = two_connectors
    refused = bearer(own).get(f"/api/v1/deliveries/{theirs.uuid}/")
    missing = bearer(own).get("/api/v1/deliveries/00000000-0000-4000-8000-000000000000/")
    assert problem(refused, 404) == problem(missing, 404)
    assert refused.headers.get("WWW-Authenticate") == missing.headers.get("WWW-Authenticate")


def test_a_connector_token_cannot_list_or_replay(two_connectors):
    own, _, delivery, _ = two_connectors
    assert bearer(own).get("/api/v1/deliveries/").status_code in (401, 403)
    assert bearer(own).post(f"/api/v1/deliveries/{delivery.uuid}/replay/").status_code in (401, 403)


def test_no_credentials_learn_nothing_either(client, two_connectors):
    _, _, delivery, _ = two_connectors
    known = client.get(f"/api/v1/deliveries/{delivery.uuid}/")
    unknown = client.get("/api/v1/deliveries/00000000-0000-4000-8000-000000000000/")
    assert known.status_code == unknown.status_code in (401, 403)
    assert known.json() == unknown.json()
