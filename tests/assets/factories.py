"""Inventory rows built directly with the ORM, the way the identification service would have written them."""

from __future__ import annotations

from django.utils import timezone

from assets.choices import AssetKind, IdentifierKind
from assets.models import Asset, Identifier, SourceRecord
from assets.services import reconcile_assets

_IDENTIFYING = {
    "hostname": IdentifierKind.HOSTNAME,
    "fqdn": IdentifierKind.FQDN,
    "serial_number": IdentifierKind.SERIAL,
    "hardware_uuid": IdentifierKind.HARDWARE_UUID,
    "cloud_instance_id": IdentifierKind.CLOUD_INSTANCE,
}


def add_source(asset: Asset, connector, source_key: str, *, deleted=False, seen=None, **attributes) -> SourceRecord:
    """A source record of ``connector`` on ``asset`` reporting ``attributes`` (already normalized), with the
    identifiers the engine would have written for it, then the asset re-derived. ``deleted``: the source
    reported it, then deleted it (its identifiers are gone, the values it gave stay on a retired asset)."""
    seen = seen or timezone.now()
    extra = attributes.pop("extra", {})
    attributes = {key: list(value) if isinstance(value, tuple) else value for key, value in attributes.items()}
    source = SourceRecord.objects.create(
        connector=connector,
        source_key=source_key,
        asset=asset,
        attributes=attributes,
        extra=extra,
        source_updated_at=seen,
        first_seen=seen,
        last_seen=seen,
    )
    rows = [
        Identifier(kind=kind, value=attributes[name], asset=asset, source_record=source)
        for name, kind in _IDENTIFYING.items()
        if attributes.get(name)
    ]
    rows += [
        Identifier(kind=IdentifierKind.IP, value=ip, asset=asset, source_record=source)
        for ip in attributes.get("ip_addresses", [])
    ]
    rows += [
        Identifier(kind=IdentifierKind.MAC, value=mac, asset=asset, source_record=source)
        for mac in attributes.get("mac_addresses", [])
    ]
    Identifier.objects.bulk_create(rows)
    reconcile_assets([asset.pk])
    if deleted:
        Identifier.objects.filter(source_record=source).delete()
        SourceRecord.objects.filter(pk=source.pk).update(deleted=True, deleted_at=timezone.now())
        reconcile_assets([asset.pk])
        source.refresh_from_db()
    return source


def make_asset(connector, source_key: str = "", *, kind=AssetKind.UNMANAGED, deleted=False, **attributes) -> Asset:
    """A new asset with one source record (deleted -> the asset is retired)."""
    asset = Asset.objects.create(kind=kind)
    add_source(asset, connector, source_key or f"key-{asset.pk}", deleted=deleted, **attributes)
    asset.refresh_from_db()
    return asset
