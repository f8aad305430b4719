"""Migrations: those that move models between the apps keep the rows they hold; storage settings take effect."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_THE_MOVE = [("assets", "0007_index_tuning"), ("connectors", "0001_initial")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_a_rule_selection_made_in_the_connectors_app_is_still_there_in_the_assets_app():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old = _migrate(BEFORE_THE_MOVE)
    rule = old.get_model("assets", "IdentificationRule").objects.create(name="Serial", attributes=["serial_number"])
    connector = old.get_model("connectors", "Connector").objects.create(
        name="CMDB", token_hash="0" * 64, signing_secret="whsec_x"
    )
    old.get_model("connectors", "ConnectorRule").objects.create(
        connector=connector, rule=rule, position=3, enabled=False
    )

    new = _migrate(latest)

    selection = new.get_model("assets", "RuleSelection").objects.get()
    assert (selection.connector_id, selection.rule_id, selection.position, selection.enabled) == (
        connector.pk,
        rule.pk,
        3,
        False,
    )
    assert list(new.get_model("connectors", "Connector").objects.get().rule_selection.all()) == [selection]


@pytest.mark.django_db
def test_bodies_and_chunk_payloads_are_compressed_with_lz4_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL storage setting")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL server has no LZ4")
        cursor.execute(
            "SELECT attrelid::regclass::text, attname, attcompression FROM pg_attribute "
            "WHERE (attrelid = 'connectors_delivery'::regclass AND attname = 'body') "
            "OR (attrelid = 'connectors_deliverychunk'::regclass AND attname IN ('payload', 'rest'))"
        )
        found = {(table, column): method for table, column, method in cursor.fetchall()}
    assert found == {
        ("connectors_delivery", "body"): "l",
        ("connectors_deliverychunk", "payload"): "l",
        ("connectors_deliverychunk", "rest"): "l",
    }
