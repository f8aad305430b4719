"""The SQL helpers of the hot paths (identification, intake), on the database the suite runs against."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assets.models import Asset, Identifier, SourceRecord
from connectors.models import Connector, Delivery
from connectors_site.common.db import (
    MAX_PARAMETERS,
    get_unique,
    indexed_fields,
    insert_instance,
    select_by_keys,
    update_rows,
    update_rows_sparing_indexes,
)
from tests.assets.factories import make_asset

pytestmark = pytest.mark.django_db


def test_select_by_keys_returns_exactly_the_rows_whose_keys_match(make_connector):
    connector = make_connector("CMDB")
    web = make_asset(connector, "web", hostname="web-01", serial_number="SN-1")
    db = make_asset(connector, "db", hostname="db-01", serial_number="SN-2")
    keys = [("web-01", "hostname"), ("SN-2", "serial_number"), ("SN-2", "hostname"), ("nothing", "hostname")]
    rows = select_by_keys(Identifier, ("value", "kind"), keys, ("value", "kind", "asset_id"))
    assert sorted(rows) == [("SN-2", "serial_number", db.pk), ("web-01", "hostname", web.pk)]
    assert select_by_keys(Identifier, ("value", "kind"), [], ("asset_id",)) == []


def test_select_by_keys_takes_more_keys_than_one_statement_may_bind(make_connector):
    connector = make_connector("CMDB")
    asset = make_asset(connector, "web", hostname="web-01")
    keys = [(f"host-{index}", "hostname") for index in range(MAX_PARAMETERS)] + [("web-01", "hostname")]
    assert select_by_keys(Identifier, ("value", "kind"), keys, ("asset_id",)) == [(asset.pk,)]


def test_get_unique_reads_the_row_as_the_orm_does(make_connector):
    connector = make_connector("CMDB")
    Connector.objects.filter(pk=connector.pk).update(
        mapping={"hostname": "name", "tags": ["a"]},
        last_delivery_at=timezone.now(),
        previous_signing_secret="whsec_previous",
        previous_secret_expires_at=timezone.now() + timedelta(hours=1),
    )
    expected = Connector.objects.get(uuid=connector.uuid)
    found = get_unique(Connector, "uuid", connector.uuid)
    for field in Connector._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
        assert type(getattr(found, field.attname)) is type(getattr(expected, field.attname)), field.name
    assert found.previous_signing_secret == "whsec_previous"  # decrypted, like every encrypted column
    assert not found._state.adding
    assert get_unique(Connector, "uuid", uuid.uuid4()) is None


def test_insert_instance_stores_what_save_would(make_connector):
    connector = make_connector("CMDB")
    delivery = Delivery(connector=connector, body=b'{"assets": []}', headers={"webhook-id": "msg_1"}, errors=[{"a": 1}])
    insert_instance(delivery)
    assert delivery.pk is not None and not delivery._state.adding
    stored = Delivery.objects.get(pk=delivery.pk)
    assert (stored.uuid, stored.connector_id, bytes(stored.body)) == (delivery.uuid, connector.pk, b'{"assets": []}')
    assert (stored.headers, stored.errors, stored.status) == ({"webhook-id": "msg_1"}, [{"a": 1}], "queued")
    assert stored.received_at == delivery.received_at is not None  # auto_now_add, set as save() sets it


def test_insert_instance_saves_a_model_with_receivers_so_they_run(make_connector):
    connector = make_connector("CMDB")
    seen = []

    def note(sender, instance, created, **kwargs):
        seen.append((instance.pk, created))

    post_save.connect(note, sender=Delivery)
    try:
        delivery = Delivery(connector=connector, body=b"{}", headers={}, errors=[])
        insert_instance(delivery)
    finally:
        post_save.disconnect(note, sender=Delivery)
    assert seen == [(delivery.pk, True)] and Delivery.objects.filter(pk=delivery.pk).exists()


def test_indexed_fields_names_every_column_an_index_covers():
    assert {"id", "uuid", "hostname", "serial_number", "os", "retired", "merged_into", "stale"} <= indexed_fields(Asset)
    assert {"fqdn", "provenance", "last_seen"}.isdisjoint(indexed_fields(Asset))
    assert {"connector", "source_key", "asset", "deleted", "reported_at"} <= indexed_fields(SourceRecord)


def test_update_rows_writes_every_kind_of_value_exactly(make_connector):
    connector = make_connector("CMDB")
    first, second = make_asset(connector, "a", hostname="a"), make_asset(connector, "b", hostname="b")
    moment = datetime(2026, 12, 1, 10, 30, 15, 123456, tzinfo=UTC)
    rows = [
        (first.pk, "hôte-ünï", ["10.0.0.1", "fe80::1"], {"hostname": 7, "nested": {"a": [1, None]}}, moment, True),
        (second.pk, "", [], {}, None, False),
    ]
    update_rows(Asset, ("hostname", "ip_addresses", "provenance", "last_seen", "retired"), rows)
    stored = {
        row[0]: row[1:]
        for row in Asset.objects.values_list("pk", "hostname", "ip_addresses", "provenance", "last_seen", "retired")
    }
    assert stored == {first.pk: rows[0][1:], second.pk: rows[1][1:]}


def test_update_rows_sparing_indexes_writes_indexed_columns_only_where_they_change(make_connector):
    connector = make_connector("CMDB")
    kept = make_asset(connector, "kept", hostname="web-01", fqdn="web-01.old")
    moved = make_asset(connector, "moved", hostname="db-01", fqdn="db-01.old")
    stored = {kept.pk: ("web-01",), moved.pk: ("db-01",)}
    rows = [(kept.pk, "web-01", "web-01.new"), (moved.pk, "db-02", "db-02.new")]
    with CaptureQueriesContext(connection) as queries:
        update_rows_sparing_indexes(Asset, ("hostname", "fqdn"), rows, stored)
    assert dict(Asset.objects.values_list("pk", "fqdn")) == {kept.pk: "web-01.new", moved.pk: "db-02.new"}
    assert dict(Asset.objects.values_list("pk", "hostname")) == {kept.pk: "web-01", moved.pk: "db-02"}
    hostname = connection.ops.quote_name("hostname")
    assert [f"{hostname} = " in query["sql"] for query in queries.captured_queries] == [True, False]
