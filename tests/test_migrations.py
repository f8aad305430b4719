"""Migrations that move models between the apps keep the rows they hold."""

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
