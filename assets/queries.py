"""Inventory figures shown on other apps' pages, as annotations: a list runs the same number of queries at any size."""

from __future__ import annotations

from django.db import models
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from .models import Asset, SourceRecord


def with_asset_count(connectors: QuerySet) -> QuerySet:
    """Annotate each connector with ``asset_count``: distinct live assets (not retired, not merged away) that its
    live source records point to. A correlated subquery, one per list whatever its length."""
    per_connector = (
        SourceRecord.objects.filter(
            connector=OuterRef("pk"), deleted=False, asset__retired=False, asset__merged_into__isnull=True
        )
        .order_by()
        .values("connector")
        .annotate(count=Count("asset", distinct=True))
        .values("count")
    )
    return connectors.annotate(asset_count=Coalesce(Subquery(per_connector, output_field=models.IntegerField()), 0))


def stale_asset_count(connector) -> int:
    """Live stale assets this connector reports (what the asset list shows with its connector and the Stale
    filter): a range of ``source_lifecycle_idx`` (its stale live records) joined to the stale assets."""
    return (
        SourceRecord.objects.filter(
            connector=connector,
            deleted=False,
            stale=True,
            asset__stale=True,
            asset__retired=False,
            asset__merged_into__isnull=True,
        )
        .values("asset_id")
        .distinct()
        .count()
    )


def conflict_count() -> int:
    """Live assets whose sources disagree on a strong identifier: one COUNT over a range of the flag's index."""
    return Asset.objects.live().filter(identifier_conflict=True).count()
