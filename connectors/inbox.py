"""The delivery inbox: what senders push is stored verbatim and its processing enqueued once it is committed.

An acknowledged delivery is never lost: the Delivery row is the durable record of the work, the task queue only
its trigger (see connectors.tasks), and the worker (connectors.worker) processes the row.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors_site.common.db import insert_instance

from . import tally
from .choices import ConnectorAction, ConnectorStatus, DeliveryStatus, PayloadFormat
from .formats.mapped import example_body
from .formats.samples import EXAMPLE_FIELDS, csam_body, native_body, netbox_body, sample_record
from .formats.sync import SyncMark
from .models import Connector, ConnectorEvent, Delivery
from .syncs import open_part
from .tasks import enqueue

#: Request headers kept with a delivery (never credentials).
KEPT_HEADERS = ("content-type", "user-agent", "webhook-id", "webhook-timestamp", "idempotency-key", "x-request-id")


#: Longest idempotency key stored as sent; a longer one is stored as ``sha256:<hex>`` of the whole key.
MAX_STORED_KEY = 255


def stored_idempotency_key(key: str) -> str:
    """The form a key is stored and compared in: as sent up to 255 characters, else a SHA-256 of all of it.

    Every character counts: two long keys that differ anywhere are two deliveries, never a silent duplicate.
    """
    if len(key) <= MAX_STORED_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Received:
    """What storing a delivery did: the delivery, and whether it already existed (an idempotent repeat)."""

    delivery: Delivery
    created: bool


def store_delivery(
    connector: Connector,
    body: bytes,
    *,
    content_type: str = "application/json",
    payload_format: str | None = None,
    headers: dict[str, str] | None = None,
    idempotency_key: str = "",
    authenticated_by: str = "",
    rejected_reason: str = "",
    errors: list[dict] | None = None,
    is_test: bool = False,
    records_received: int = 0,
    reply_status: int | None = None,
    reply_ms: int | None = None,
    sync: SyncMark | None = None,
    sent_by=None,
) -> Received:
    """Store a delivery verbatim and enqueue it; a rejected one is stored for the admin but not processed.

    A repeated idempotency key returns the first delivery (``created`` False) and changes nothing, even when
    the repeats race each other: the unique constraint decides. A key over 255 characters is stored as its hash
    (:func:`stored_idempotency_key`), so the whole key counts. ``records_received`` is the count the reply
    states (a queued row shows it); ``reply_status`` and ``reply_ms`` what the sender got and how long it took.
    A part of a full ``sync`` joins it (unless rejected). ``sent_by``: the user whose gateway token pushed it.

    An accepted delivery outside a transaction, not part of a sync, is one INSERT on its own: its processing is
    enqueued after it commits (as ``transaction.on_commit`` always did), so nothing else needs to commit with it,
    and on SQLite the database's write lock is held only while that statement runs, not while Python builds it.

    Long because it names every column of the stored row in the one INSERT that stores it.
    """
    idempotency_key = stored_idempotency_key(idempotency_key)
    now = timezone.now()
    together = sync is not None or bool(rejected_reason) or transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic() if together else nullcontext():
            part_of = open_part(connector, sync, now=now) if sync is not None and not rejected_reason else None
            delivery = Delivery(
                connector=connector,
                idempotency_key=idempotency_key,
                body=body,
                size=len(body),
                content_type=content_type[:255],
                payload_format=(fmt := payload_format or connector.payload_format),
                mapping=connector.mapping if fmt == PayloadFormat.MAPPED else None,  # the mapping in force now
                headers={key: value[:500] for key, value in (headers or {}).items() if key in KEPT_HEADERS},
                authenticated_by=authenticated_by,
                sent_by=sent_by,
                status=DeliveryStatus.REJECTED if rejected_reason else DeliveryStatus.QUEUED,
                last_error=rejected_reason,
                errors=errors or [],
                records_errors=len(errors or []),
                records_received=max(records_received, len(errors or [])),
                reply_status=reply_status,
                reply_ms=reply_ms,
                finished_at=now if rejected_reason else None,
                enqueued_at=None if rejected_reason else now,
                is_test=is_test,
                sync=part_of,
                sync_final=part_of is not None and sync.final,
            )
            insert_instance(delivery)
            if not rejected_reason:
                enqueue(delivery, stamped=True)  # outside a transaction: at once, before anything else can fail
            _note_received(connector, delivery, now)
    except IntegrityError:
        # The idempotency key was seen before (perhaps by a concurrent request): the unique constraint decides,
        # so the common case costs no extra lookup.
        if found := idempotency_key and _first_with_key(connector, idempotency_key):
            return Received(found, created=False)
        raise
    return Received(delivery, created=True)


def _first_with_key(connector: Connector, idempotency_key: str) -> Delivery | None:
    return Delivery.objects.defer("body").filter(connector=connector, idempotency_key=idempotency_key).first()


def _note_received(connector: Connector, delivery: Delivery, now) -> None:
    """The connector's last delivery time (and, for a rejected one, its error status and the metrics totals: a
    delivery rejected at intake is finished at once)."""
    if delivery.status == DeliveryStatus.REJECTED:
        Connector.objects.filter(pk=connector.pk).update(last_delivery_at=now, last_result=ConnectorStatus.ERROR)
        counters = {"records_received": delivery.records_received, "records_errors": delivery.records_errors}
        tally.finished(DeliveryStatus.REJECTED, counters)
    # At most one write a second per connector: concurrent senders don't queue on its row lock.
    elif connector.last_delivery_at is None or connector.last_delivery_at < now - timedelta(seconds=1):
        Connector.objects.filter(pk=connector.pk).update(last_delivery_at=now)


def send_test_delivery(connector: Connector, *, actor=None) -> Delivery:
    """One sample asset through the real path: stored, queued and processed by the worker like any push."""
    now = timezone.now().isoformat()
    payload_format = None
    mapped = (
        example_body(connector.mapping, sample_record()) if connector.payload_format == PayloadFormat.MAPPED else None
    )
    if mapped is not None:
        body = mapped
    elif connector.payload_format == PayloadFormat.MAPPED:
        # The mapping is not set yet, or uses more than plain paths: the sample goes in the native format.
        body, payload_format = native_body(sample_record(), updated_at=now), PayloadFormat.NATIVE
    elif connector.payload_format == PayloadFormat.CSAM:
        meta = {"requestId": str(uuid.uuid4()), "connectorUuid": str(connector.uuid), "assetCount": 1}
        body = csam_body(sample_record(*EXAMPLE_FIELDS), meta, sourceLastUpdatedDate=now)
    elif connector.payload_format == PayloadFormat.NETBOX:
        body = netbox_body(sample_record(), when=now)
    else:
        body = native_body(sample_record(), updated_at=now)
    with transaction.atomic():
        received = store_delivery(
            connector,
            json.dumps(body, indent=2).encode(),
            headers={"user-agent": "connector hub test delivery"},
            authenticated_by="test",
            payload_format=payload_format,
            is_test=True,
            records_received=1,  # one sample asset
        )
        ConnectorEvent.record(connector, ConnectorAction.TEST_SENT, actor, delivery=str(received.delivery.uuid))
    return received.delivery


@transaction.atomic
def replay_delivery(delivery: Delivery, *, actor=None) -> Delivery:
    """Process a stored delivery again from its verbatim body (also for dead, failed and rejected ones)."""
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.QUEUED,
        attempts=0,
        next_attempt_at=None,
        lease_expires_at=None,
        finished_at=None,
        last_error="",
    )
    enqueue(delivery)
    ConnectorEvent.record(delivery.connector, ConnectorAction.REPLAYED, actor, delivery=str(delivery.uuid))
    delivery.refresh_from_db()
    return delivery


#: Most deliveries one "Replay selected" queues again (a page of the delivery log).
MAX_REPLAY_SELECTED = 100


def replay_deliveries(connector: Connector, delivery_uuids, *, actor=None) -> tuple[int, int]:
    """Replay the connector's deliveries among ``delivery_uuids`` (at most ``MAX_REPLAY_SELECTED``); those still
    queued or processing are left alone. Returns (replayed, left alone). Each replay is its own transaction and
    audit row, as with one Replay."""
    found = list(
        Delivery.objects.filter(connector=connector, uuid__in=list(delivery_uuids)[:MAX_REPLAY_SELECTED])
        .select_related("connector")
        .defer("body", "errors", "headers")
        .order_by("id")
    )
    replayed = 0
    for delivery in found:
        if not delivery.is_pending:
            replay_delivery(delivery, actor=actor)
            replayed += 1
    return replayed, len(found) - replayed
