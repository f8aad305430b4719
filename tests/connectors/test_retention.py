"""Retention: old finished deliveries go, with their decisions; what still needs a person stays."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from assets.models import Asset, Decision, SourceRecord
from connectors.choices import DeliveryStatus
from connectors.inbox import store_delivery
from connectors.models import Delivery
from connectors.worker import process_delivery, prune_deliveries

from .helpers import asset

pytestmark = pytest.mark.django_db


def delivered(connector, *records, days_ago: float, status=None) -> Delivery:
    delivery = store_delivery(connector, json.dumps({"assets": list(records)}).encode()).delivery
    process_delivery(delivery.pk)
    changes = {"received_at": timezone.now() - timedelta(days=days_ago)}
    if status:
        changes["status"] = status
    Delivery.objects.filter(pk=delivery.pk).update(**changes)
    return delivery


def test_old_finished_deliveries_are_deleted_with_their_decisions_and_the_inventory_stays(connector, settings):
    settings.DELIVERY_RETENTION_DAYS = 30
    old = delivered(connector, asset(1), asset(2), days_ago=40)
    dead = delivered(connector, asset(3), days_ago=40, status=DeliveryStatus.DEAD)
    recent = delivered(connector, asset(4), days_ago=5)
    assert prune_deliveries() == 1
    assert set(Delivery.objects.values_list("pk", flat=True)) == {dead.pk, recent.pk}
    assert not Decision.objects.filter(delivery_id=old.pk).exists()
    assert Decision.objects.filter(delivery=recent).count() == 1
    # The assets and source records stay; only their link to the deleted delivery goes.
    assert Asset.objects.count() == 4
    assert SourceRecord.objects.filter(source_key__in=["src-1", "src-2"], last_delivery__isnull=True).count() == 2
    assert prune_deliveries() == 0


def test_retention_zero_keeps_everything(connector, settings):
    settings.DELIVERY_RETENTION_DAYS = 0
    delivered(connector, asset(1), days_ago=4000)
    assert prune_deliveries() == 0 and Delivery.objects.count() == 1


def test_pending_deliveries_are_never_pruned(connector):
    delivery = store_delivery(connector, json.dumps({"assets": [asset(1)]}).encode()).delivery
    Delivery.objects.filter(pk=delivery.pk).update(received_at=timezone.now() - timedelta(days=400))
    assert prune_deliveries(days=1) == 0
    assert Delivery.objects.get().status == DeliveryStatus.QUEUED


def test_a_backlog_is_pruned_in_small_transactions(connector):
    for index in range(5):
        delivered(connector, asset(index), days_ago=100)
    assert prune_deliveries(days=30, batch=2) == 5
    assert not Delivery.objects.exists() and not Decision.objects.exists()


def test_the_worker_prunes_finished_task_rows_older_than_a_day(connector, settings):
    from django_tasks_db.models import DBTaskResult

    from connectors.management.commands.run_worker import _prune_task_results
    from connectors.tasks import process_delivery_task

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    old, recent = process_delivery_task.enqueue(1), process_delivery_task.enqueue(2)
    DBTaskResult.objects.update(status="SUCCESSFUL", finished_at=timezone.now())
    DBTaskResult.objects.filter(id=old.id).update(finished_at=timezone.now() - timedelta(days=2))
    _prune_task_results()
    assert [str(pk) for pk in DBTaskResult.objects.values_list("id", flat=True)] == [str(recent.id)]
