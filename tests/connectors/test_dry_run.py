"""``?dry_run=1`` on the intake paths: every check of a real push, identification, and nothing written."""

import json
import uuid

import pytest
from django.apps import apps

from assets.models import Asset, Decision
from connectors.choices import DeliveryStatus, PayloadFormat
from connectors.dry_run import MAX_DRY_RUN_ENTRIES
from connectors.formats import parse_csam, parse_mapped, parse_native, parse_netbox
from connectors.models import Delivery
from connectors.services import set_enabled, update_connector
from connectors.worker import process_delivery

from .helpers import asset, post_bearer, post_signed, signed_headers
from .test_gateway import gateway_auth, sender  # noqa: F401 - the fixture is used here too
from .test_intake import CSAM_BODY, CSAM_PATH, csam_body

pytestmark = pytest.mark.django_db

SHARED_MAC = "02:00:00:00:99:99"


def row_counts() -> dict[str, int]:
    """Rows in every table of every installed model (auto-created many-to-many tables included)."""
    return {model._meta.label: model._base_manager.count() for model in apps.get_models(include_auto_created=True)}


def assert_nothing_written(before: dict[str, int]) -> None:
    """Every table has the rows it had, but the rate-limit window: a dry run counts against the limit, so its
    first request in a window may add that window's row (older windows go when a new one starts)."""
    after = row_counts()
    window = "connectors.IntakeRateWindow"
    assert after.pop(window) <= before.pop(window) + 1
    assert after == before


def push_and_process(client, connector, body, **extra):
    response = post_bearer(client, connector, body, **extra)
    assert response.status_code == 202, response.content
    delivery = Delivery.objects.get(uuid=response.json()["delivery_id"])
    assert process_delivery(delivery.pk) in (DeliveryStatus.PROCESSED, DeliveryStatus.PARTIAL)
    return delivery


def dry_run(client, connector, body, *, path=None, query="?dry_run=1", **extra):
    path = (path or f"/webhooks/{connector.uuid}") + query
    return post_bearer(client, connector, body, path=path, **extra)


@pytest.fixture
def inventory(client, make_connector):
    """A CMDB that reported five assets (two share a MAC address) and an MDM that reported two of its own."""
    cmdb = make_connector("CMDB", trust_rank=80)
    push_and_process(
        client,
        cmdb,
        {
            "assets": [
                asset(1),
                asset(2, mac_addresses=[SHARED_MAC]),
                asset(3, mac_addresses=[SHARED_MAC]),
                asset(4),
                asset(5),
            ]
        },
    )
    mdm = make_connector("MDM", trust_rank=40)
    push_and_process(client, mdm, {"assets": [asset(10), asset(11)]})
    return cmdb, mdm


def mixed_body() -> dict:
    """One body that meets every outcome: an invalid record first (so indexes shift), an update by the native key,
    a merge by serial number, a merge among two candidates (shared MAC, the default rule decides), a new asset and
    a second record of the same new machine, and deletions of a known, an unknown and a just-written key."""
    return {
        "assets": [
            {"hostname": "no-key"},
            asset(10, os="Windows"),
            {"source_key": "mdm-1", "serial_number": "SER-000001", "hostname": "web-00001"},
            {"source_key": "mdm-mac", "mac_addresses": [SHARED_MAC]},
            asset(20),
            {"source_key": "mdm-20-twin", "serial_number": "SER-000020"},
            asset(30),
        ],
        "deleted": ["src-11", "never-seen", "src-30"],
    }


def test_a_dry_run_writes_nothing(client, inventory):
    _, mdm = inventory
    mdm.refresh_from_db()
    before, last_delivery = row_counts(), mdm.last_delivery_at
    response = dry_run(client, mdm, mixed_body(), HTTP_IDEMPOTENCY_KEY="key-1")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["dry_run"] is True and (data["records"], data["accepted"]) == (7, 6)
    assert {d["outcome"] for d in data["decisions"]} == {"updated", "merged", "created"}
    # Every table, the rate-limit window too: the pushes above already opened one, which the dry run only counts
    # in (or replaces with the next minute's, one row for one).
    assert row_counts() == before
    mdm.refresh_from_db()
    assert mdm.last_delivery_at == last_delivery
    assert not Delivery.objects.filter(idempotency_key="key-1").exists()


def real_decisions(delivery, records: int) -> tuple[dict, dict]:
    """The decision rows the worker recorded for a delivery, by source key: its records' (written first) and its
    deletions' (after them; a key can be in both)."""
    rows = list(Decision.objects.filter(delivery=delivery).select_related("asset").order_by("pk"))
    return {row.source_key: row for row in rows[:records]}, {row.source_key: row for row in rows[records:]}


@pytest.mark.parametrize("modules", [["csam"], []], ids=["csam-on", "csam-off"])
def test_dry_run_decisions_are_those_the_real_run_records(client, inventory, modules):
    cmdb, mdm = inventory
    if not modules:
        update_connector(mdm, modules=[])
    body = mixed_body()
    data = dry_run(client, mdm, body).json()
    delivery = push_and_process(client, mdm, body)
    records, deletions = real_decisions(delivery, len(data["decisions"]))

    assert [d["index"] for d in data["decisions"]] == [1, 2, 3, 4, 5, 6]
    assert data["errors"] == [
        {"index": 0, "field": "source_key", "message": data["errors"][0]["message"], "source_key": ""}
    ]
    assert {d["source_key"] for d in data["decisions"]} == set(records)
    new_assets: dict[int, int] = {}
    for decision in data["decisions"]:
        row = records[decision["source_key"]]
        assert decision["outcome"] == row.outcome
        assert decision["rule"] == (row.rule_name or None)
        assert decision["candidates"] == row.candidates
        assert decision["compared"] == row.compared
        assert decision["reasons"] == row.reasons
        if decision["asset"] is not None:
            assert decision["asset"] == str(row.asset.uuid) and decision["new_asset"] is None
        elif decision["new_asset"] is not None:
            # A would-be-created asset: the real run created one, the same for records sharing the number.
            assert row.asset is not None and row.asset.created_at >= delivery.received_at
            assert new_assets.setdefault(decision["new_asset"], row.asset_id) == row.asset_id
        else:
            assert row.asset is None

    by_key = {d["source_key"]: d for d in data["decisions"]}
    if modules:
        assert by_key["mdm-1"]["outcome"] == "merged" and by_key["mdm-1"]["rule"] == "Serial number"
        assert len(by_key["mdm-mac"]["candidates"]) == 2 and by_key["mdm-mac"]["possible_duplicate"]
        assert by_key["src-20"]["outcome"] == "created" and by_key["src-20"]["asset"] is None
        assert by_key["mdm-20-twin"]["new_asset"] == by_key["src-20"]["new_asset"] is not None
    else:
        assert all("CSAM module off" in d["reasons"][-1] for d in data["decisions"])
        assert all(d["new_asset"] is None for d in data["decisions"])
    assert by_key["src-10"]["outcome"] == "updated" and by_key["src-10"]["rule"] == "Source native key"

    assert [d["source_key"] for d in data["deleted"]] == ["src-11", "never-seen", "src-30"]
    for deletion in data["deleted"]:
        row = deletions[deletion["source_key"]]
        assert (deletion["outcome"], deletion["reasons"]) == (row.outcome, row.reasons)
        assert deletion["asset"] == (str(row.asset.uuid) if row.asset and deletion["new_asset"] is None else None)
    assert [d["outcome"] for d in data["deleted"]] == (
        ["deleted", "skipped", "deleted"] if modules else ["deleted", "skipped", "skipped"]
    )
    assert cmdb.pk  # the other connector's assets were the candidates


def test_a_thousand_entries_at_most(client, connector):
    entries = [asset(i) for i in range(MAX_DRY_RUN_ENTRIES)]
    response = dry_run(client, connector, {"assets": entries})
    assert response.status_code == 200 and len(response.json()["decisions"]) == MAX_DRY_RUN_ENTRIES
    response = dry_run(client, connector, {"assets": entries, "deleted": ["one-more"]})
    assert response.status_code == 400
    problem = response.json()
    assert problem["title"] == "Dry run too large"
    assert "at most 1000 entries" in problem["detail"] and "holds 1001" in problem["detail"]
    response = dry_run(client, connector, {"assets": [*entries, asset(5000)]})
    assert response.status_code == 400 and "holds 1001" in response.json()["detail"]
    assert not Delivery.objects.exists() and not Asset.objects.exists()


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True"])
def test_dry_run_values_that_mean_yes(client, connector, value):
    response = dry_run(client, connector, asset(1), query=f"?dry_run={value}")
    assert response.status_code == 200 and response.json()["dry_run"] is True
    assert not Delivery.objects.exists()


@pytest.mark.parametrize("value", ["0", "false"])
def test_dry_run_values_that_mean_no(client, connector, value):
    response = dry_run(client, connector, asset(1), query=f"?dry_run={value}")
    assert response.status_code == 202 and Delivery.objects.count() == 1


@pytest.mark.parametrize("query", ["?dry_run=yes", "?dry_run=2", "?dry_run=", "?dry_run=1&dry_run=0"])
def test_other_dry_run_values_are_a_400(client, connector, query):
    response = dry_run(client, connector, asset(1), query=query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert "dry_run parameter takes 1 or true" in response.json()["detail"]
    assert not Delivery.objects.exists()


def _refusals(client, connector, other):
    """Requests the real path refuses before anything is identified, as (name, send(query))."""
    body = json.dumps({"assets": [asset(1)]}).encode()
    url = f"/webhooks/{connector.uuid}"

    def tampered(query):
        headers = signed_headers(connector.credentials.signing_secret, body)
        return client.post(url + query, body.replace(b"web-", b"evil-"), content_type="application/json", **headers)

    return {
        "no credentials": lambda q: client.post(url + q, body, content_type="application/json"),
        "wrong token": lambda q: post_bearer(client, connector, body, token="chk_wrong", path=url + q),
        "other connector's token": lambda q: post_bearer(
            client, connector, body, token=other.credentials.token, path=url + q
        ),
        "unknown connector": lambda q: post_bearer(client, connector, body, path=f"/webhooks/{uuid.uuid4()}{q}"),
        "tampered signature": tampered,
        "wrong secret": lambda q: post_signed(
            client, connector, body, secret=other.credentials.signing_secret, path=url + q
        ),
        "csam wrong token": lambda q: post_bearer(
            client, connector, csam_body(connector), token="chk_wrong", path=CSAM_PATH + q
        ),
        "csam forged jwt": lambda q: post_bearer(
            client, connector, csam_body(connector), token="eyJhbGciOiJIUzI1NiJ9.e30.bad", path=CSAM_PATH + q
        ),
    }


def test_authentication_failures_are_those_of_the_real_path(client, connector, make_connector):
    other = make_connector("Other")
    for name, send in _refusals(client, connector, other).items():
        real, dry = send(""), send("?dry_run=1")
        assert real.status_code == 401, (name, real.status_code)
        assert (dry.status_code, dry.json()) == (real.status_code, real.json()), name
        assert dry.get("WWW-Authenticate") == real.get("WWW-Authenticate"), name
    assert not Delivery.objects.exists()


def test_refusals_after_authentication_are_those_of_the_real_path_without_a_stored_delivery(client, connector):
    cases = {
        "not JSON": (b"hostname=web-1", "text/plain"),
        "malformed JSON": (b'{"assets": [', "application/json"),
        "no valid record": (json.dumps({"assets": [{"hostname": "no-key"}]}).encode(), "application/json"),
        "nothing at all": (b'{"assets": []}', "application/json"),
    }
    for name, (body, content_type) in cases.items():
        stored = Delivery.objects.count()
        dry = dry_run(client, connector, body, content_type=content_type)
        assert Delivery.objects.count() == stored, name
        real = post_bearer(client, connector, body, content_type=content_type)
        assert Delivery.objects.count() == stored + 1, name  # the refused body is kept for the admin
        assert dry.status_code == real.status_code and dry.status_code in (400, 415), name
        real_problem = real.json()
        real_problem.pop("delivery_id", None)  # the real path keeps the refused body for the admin
        assert dry.json() == real_problem, name
    set_enabled(connector, False)
    real, dry = post_bearer(client, connector, asset(1)), dry_run(client, connector, asset(1))
    assert dry.status_code == real.status_code == 403 and dry.json() == real.json()


def test_dry_runs_count_against_the_rate_limit(client, connector, settings):
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 2
    first = dry_run(client, connector, asset(1))
    assert first.status_code == 200 and first["X-RateLimit-Remaining"] == "1"
    assert dry_run(client, connector, asset(1)).status_code == 200
    refused = dry_run(client, connector, asset(1))
    assert refused.status_code == 429 and refused["Retry-After"]
    assert post_bearer(client, connector, asset(1)).status_code == 429


def test_the_idempotency_key_is_not_used_up_and_a_used_one_is_reported(client, connector):
    dry = dry_run(client, connector, asset(1), HTTP_IDEMPOTENCY_KEY="push-7")
    assert dry.status_code == 200 and dry.json()["duplicate_of"] is None
    real = post_bearer(client, connector, asset(1), HTTP_IDEMPOTENCY_KEY="push-7")
    assert real.status_code == 202  # the key was still free
    again = dry_run(client, connector, asset(1), HTTP_IDEMPOTENCY_KEY="push-7")
    assert again.json()["duplicate_of"] == real.json()["delivery_id"]
    assert Delivery.objects.count() == 1


def test_csam_path_with_a_gateway_jwt(client, sender, make_connector):  # noqa: F811 - the fixture
    connector = make_connector("ServiceNow", payload_format=PayloadFormat.CSAM)
    token = gateway_auth(client, "sam", "pw-sam-12345").content.decode()
    body = json.loads(json.dumps(CSAM_BODY))
    body["assetData"].insert(0, {"identityAttributes": {"hostName": "no-key"}})
    before = row_counts()
    response = client.post(
        CSAM_PATH + "?dry_run=true",
        csam_body(connector, body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["dry_run"] is True and "responseCode" not in data
    [decision] = data["decisions"]
    assert (decision["index"], decision["source_key"], decision["outcome"]) == (1, "b4fd7c84", "created")
    assert [error["index"] for error in data["errors"]] == [0]
    assert data["duplicate_of"] is None
    assert_nothing_written(before)
    # The same body for real, through the worker: the decision the dry run announced.
    real = client.post(
        CSAM_PATH, csam_body(connector, body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    delivery = Delivery.objects.get(uuid=real.json()["delivery_id"])
    process_delivery(delivery.pk)
    row = Decision.objects.get(delivery=delivery)
    assert (row.outcome, row.reasons, row.compared) == ("created", decision["reasons"], decision["compared"])
    again = client.post(
        CSAM_PATH + "?dry_run=1",
        csam_body(connector, body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert again.json()["duplicate_of"] == str(delivery.uuid)
    assert again.json()["decisions"][0]["outcome"] == "updated"


def test_csam_path_refuses_a_bad_jwt_before_and_a_bad_body_without_storing(client, connector):
    bad = post_bearer(client, connector, b'{"assetData": 3}', path=CSAM_PATH + "?dry_run=1")
    assert bad.status_code == 401  # no connector named in the body: the credential cannot be checked against one
    body = json.dumps({"connectorMetaData": {"connectorUuid": str(connector.uuid)}, "assetData": 3}).encode()
    refused = post_bearer(client, connector, body, path=CSAM_PATH + "?dry_run=1")
    assert refused.status_code == 400 and not Delivery.objects.exists()


def test_query_count_does_not_grow_with_the_batch(client, inventory, django_assert_max_num_queries):
    _, mdm = inventory
    small = {"assets": [asset(i) for i in range(1, 6)], "deleted": ["src-11"]}
    large = {"assets": [asset(i) for i in range(1, 400)], "deleted": ["src-10", *(f"k{i}" for i in range(50))]}
    with django_assert_max_num_queries(12) as small_queries:
        response = dry_run(client, mdm, small, HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 200 and {d["outcome"] for d in response.json()["decisions"]} == {"merged"}
    with django_assert_max_num_queries(len(small_queries.captured_queries)):
        assert dry_run(client, mdm, large, HTTP_IDEMPOTENCY_KEY="k").status_code == 200


def test_record_indexes_follow_the_body_in_every_format():
    events = [
        {"event": "created", "object_type": "dcim.site", "data": {"id": 1}},
        {"event": "deleted", "object_type": "dcim.device", "data": {"id": 2}},
        {"event": "created", "object_type": "dcim.device", "data": {"id": 3, "name": "sw-3"}},
    ]
    batch = parse_netbox(events)
    assert [batch.record_index(i) for i in range(len(batch.records))] == [2]
    mapping = {"records": "items", "deleted": "gone", "fields": {"source_key": "id", "hostname": "name"}}
    batch = parse_mapped({"items": [{"name": "no id"}, {"id": "a"}, 5, {"id": "b"}], "gone": ["x", 7]}, mapping)
    assert [batch.record_index(i) for i in range(len(batch.records))] == [1, 3]
    batch = parse_native({"assets": [asset(1), {}, asset(2)], "deleted": [None, "k"]})
    assert [batch.record_index(i) for i in range(len(batch.records))] == [0, 2]
    batch = parse_csam({"assetData": [{}, {"identityAttributes": {"sourceNativeKey": "k", "hostName": "h"}}]})
    assert [batch.record_index(i) for i in range(len(batch.records))] == [1]


def test_openapi_documents_the_parameter_and_the_reply_on_both_paths():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    for path, method in [
        ("/webhooks/{connector_uuid}", "post"),
        ("/webhooks/{connector_uuid}", "put"),
        (CSAM_PATH, "post"),
    ]:
        operation = schema["paths"][path][method]
        [parameter] = [p for p in operation["parameters"] if p["name"] == "dry_run"]
        assert parameter["in"] == "query" and "nothing is written" in parameter["description"]
        reply = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert {"$ref": "#/components/schemas/DryRunReply"} in components[reply]["oneOf"]
    decision = components["DryRunDecision"]["properties"]
    assert {"index", "source_key", "outcome", "rule", "asset", "new_asset", "candidates", "reasons"} <= set(decision)
