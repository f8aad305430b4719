"""The migration that adds "reported at" dates the existing source records by their last delivery."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("assets", "0010_compute_identifier_conflicts"), ("connectors", "0008_index_connector_token_hash")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_records_are_reported_when_their_last_delivery_arrived_else_when_last_seen():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old = _migrate(BEFORE)
    connector = old.get_model("connectors", "Connector").objects.create(
        name="CMDB", token_hash="0" * 64, signing_secret="whsec_x"
    )
    delivery = old.get_model("connectors", "Delivery").objects.create(connector=connector, body=b"{}")
    received = datetime(2026, 10, 1, 12, tzinfo=UTC)
    old.get_model("connectors", "Delivery").objects.filter(pk=delivery.pk).update(received_at=received)
    asset = old.get_model("assets", "Asset").objects.create()
    seen = datetime(2026, 9, 1, tzinfo=UTC)
    sources = old.get_model("assets", "SourceRecord").objects
    sources.create(
        connector=connector, source_key="a", asset=asset, first_seen=seen, last_seen=seen, last_delivery=delivery
    )
    sources.create(connector=connector, source_key="b", asset=asset, first_seen=seen, last_seen=seen)

    new = _migrate(latest)

    reported = dict(new.get_model("assets", "SourceRecord").objects.values_list("source_key", "reported_at"))
    assert reported == {"a": received, "b": seen}
    assert not new.get_model("assets", "Asset").objects.get().stale
