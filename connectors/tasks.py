"""Background tasks. The task queue only triggers work: the Delivery row is the durable record of it."""

from django.tasks import task


@task()
def process_delivery_task(delivery_id: int) -> str:
    from .deliveries import process_delivery

    return process_delivery(delivery_id)


@task()
def reconcile_connector_assets_task(connector_id: int) -> int:
    """Re-derive every asset a connector reports (after its trust rank changed). Returns how many."""
    from assets.models import SourceRecord
    from assets.services import reconcile_assets

    asset_ids = list(
        SourceRecord.objects.filter(connector_id=connector_id, deleted=False)
        .values_list("asset_id", flat=True)
        .distinct()
    )
    for start in range(0, len(asset_ids), 1000):
        reconcile_assets(asset_ids[start : start + 1000])
    return len(asset_ids)
