"""Writes to the inventory. The identification engine decides; these functions apply its decisions in bulk."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .models import Asset, SourceRecord


@transaction.atomic
def retire_assets_without_live_sources(asset_ids: Iterable[int]) -> int:
    """Retire (never erase) the given assets that no live source reports any more. Returns how many."""
    live_source = SourceRecord.objects.filter(asset=OuterRef("pk"), deleted=False)
    return (
        Asset.objects.filter(pk__in=list(asset_ids), retired=False)
        .exclude(Exists(live_source))
        .update(retired=True, retired_at=timezone.now())
    )
