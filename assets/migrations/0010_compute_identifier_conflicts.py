"""Flag the existing assets whose live sources disagree on a strong identifier (new assets are flagged when they are
reconciled). Only assets with two or more live sources can disagree: their sources are read in asset order, a
batch at a time, and only the conflicting assets are written."""

from django.db import migrations
from django.db.models import Count

BATCH = 2000


def compute_conflicts(apps, schema_editor):
    # The engine is pure Python with no Django import: safe to use from a migration.
    from assets.engine.reconcile import SourceValues, strong_conflicts

    Asset = apps.get_model("assets", "Asset")
    SourceRecord = apps.get_model("assets", "SourceRecord")
    shared = (
        SourceRecord.objects.filter(deleted=False)
        .values("asset_id")
        .annotate(live=Count("id"))
        .filter(live__gt=1)
        .values("asset_id")
    )
    rows = (
        SourceRecord.objects.filter(deleted=False, asset_id__in=shared)
        .order_by("asset_id", "id")
        .values_list("asset_id", "id", "attributes")
        .iterator(chunk_size=BATCH)
    )
    flagged = []

    def check(asset_id, sources):
        conflicts = strong_conflicts(sources)
        if conflicts:
            asset = Asset(pk=asset_id, identifier_conflict=True)
            asset.identifier_conflicts = {
                kind: [{"value": value, "source": source_id} for value, source_id in pairs]
                for kind, pairs in conflicts.items()
            }
            flagged.append(asset)

    current, sources = None, []
    for asset_id, source_id, attributes in rows:
        if asset_id != current:
            if sources:
                check(current, sources)
            current, sources = asset_id, []
        sources.append(SourceValues(source_id, 0, None, attributes or {}))
    if sources:
        check(current, sources)
    Asset.objects.bulk_update(flagged, ["identifier_conflict", "identifier_conflicts"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("assets", "0009_asset_identifier_conflict")]

    operations = [migrations.RunPython(compute_conflicts, migrations.RunPython.noop, elidable=True)]
