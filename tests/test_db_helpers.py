"""The bulk SQL helpers of the identification hot path, on the database the suite runs against."""

import pytest

from assets.models import Identifier
from connectors_site.common.db import MAX_PARAMETERS, select_by_keys
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
