"""A connector's Status, derived from its newest deliveries, and where it comes from.

The Status is the result of the newest *finished* delivery (by arrival; queued and processing ones have no result
yet): Processed → Success, Partial → Partial success, Failed / Rejected / Dead → Error. It is read from the
deliveries themselves whenever a page shows it (``with_latest_result``), so an older delivery that finishes after a
newer one was rejected cannot paint the connector green. ``explain`` says which deliveries it comes from
("last 3 deliveries rejected, newest 2 minutes ago") for the connector page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from assets.writes import CSAM_OFF_NOTE

from .choices import ConnectorStatus, DeliveryStatus
from .models import Connector, Delivery

#: How many of the newest deliveries ``explain`` reads.
WINDOW = 10

_FINISHED_WORDS = {
    DeliveryStatus.PROCESSED: "processed",
    DeliveryStatus.PARTIAL: "processed with record errors",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.REJECTED: "rejected",
    DeliveryStatus.DEAD: "failed for good",
}


def with_latest_result(connectors: QuerySet) -> QuerySet:
    """Annotate ``latest_delivery_status`` (the newest finished delivery's status, or None), which
    ``Connector.status`` prefers to the stored ``last_result``. One correlated subquery per list, served by
    ``delivery_connector_idx``."""
    newest = (
        Delivery.objects.filter(connector=OuterRef("pk"))
        .exclude(status__in=DeliveryStatus.pending())
        .order_by("-id")
        .values("status")[:1]
    )
    return connectors.annotate(latest_delivery_status=Subquery(newest))


@dataclass(frozen=True)
class StatusExplained:
    status: ConnectorStatus
    #: What the status rests on, e.g. "last 3 deliveries rejected"; empty when there is nothing to say.
    basis: str
    #: When the newest delivery it rests on arrived (None: no finished delivery).
    newest_at: datetime | None
    #: Deliveries newer than that one still waiting or being processed.
    pending: int
    #: The delivery status to filter the log by (the newest finished one's), or "".
    log_status: str
    #: How many of the newest finished deliveries share that status (within ``WINDOW``).
    run: int = 0


def explain(connector: Connector) -> StatusExplained:
    """The connector's status with the run of newest finished deliveries it rests on (one small query)."""
    recent = list(connector.deliveries.order_by("-id").values_list("status", "received_at")[:WINDOW])
    pending = 0
    for status, _ in recent:
        if status not in DeliveryStatus.pending():
            break
        pending += 1
    finished = recent[pending:]
    if not finished:
        if recent:
            basis = "no delivery has finished yet"
        elif connector.last_delivery_at:
            basis = "the result of the last delivery, which is no longer in the log"
        else:
            basis = "no delivery received yet"
        return StatusExplained(connector.status, basis, None, pending, "")
    newest_status, newest_at = finished[0]
    run = 1
    while run < len(finished) and finished[run][0] == newest_status:
        run += 1
    words = _FINISHED_WORDS.get(newest_status, newest_status)
    if run == 1:
        basis = f"the newest delivery was {words}"
    else:
        more = "+" if run == len(finished) == WINDOW else ""
        basis = f"the last {run}{more} deliveries were {words}"
    status = ConnectorStatus.for_delivery(newest_status) if connector.enabled else ConnectorStatus.DISABLED
    return StatusExplained(status, basis, newest_at, pending, newest_status, run)


def changed_inventory(delivery: Delivery) -> bool:
    """Whether processing ``delivery`` wrote to the inventory. Not when the connector's CSAM module was off at the
    time: its decisions then end with ``CSAM_OFF_NOTE`` and its counts are what *would* have happened. Before
    any decision exists, the connector's current modules say it."""
    reasons = delivery.decisions.order_by("pk").values_list("reasons", flat=True).first()
    if reasons is None:
        return delivery.connector.csam_enabled
    return CSAM_OFF_NOTE not in reasons
