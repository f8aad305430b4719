"""The rules page's identification preview against a real database: it decides like a delivery and writes nothing."""

from datetime import UTC, datetime

import pytest

from assets.engine.records import AssetRecord
from assets.models import Asset, Decision, SourceRecord
from assets.services import process_records
from connectors.preview import preview_identification

pytestmark = pytest.mark.django_db


def machine(i: int) -> AssetRecord:
    return AssetRecord(
        source_key=f"k-{i}",
        hostname=f"host-{i}",
        serial_number=f"SN{i:06d}",
        mac_addresses=(f"00:11:22:00:00:{i % 256:02x}",),
        ip_addresses=(f"10.0.0.{i % 256}",),
        os="Linux",
        updated_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


def test_preview_writes_nothing(connector):
    process_records(connector, [machine(1)])
    before = (Asset.objects.count(), Decision.objects.count(), SourceRecord.objects.count())
    preview = preview_identification(connector, {"source_key": "new", "serial_number": "SN000001"})
    assert preview["outcome"] == "merged" and preview["rule"] == "Serial number"
    assert preview["candidates"][0]["name"] == "host-1"
    assert (Asset.objects.count(), Decision.objects.count(), SourceRecord.objects.count()) == before
    assert preview_identification(connector, {"hostname": "x"})["errors"]
