"""Delivery and identification activity for the Overview: deliveries by status and records by identification
outcome, per hour over the last 24 hours and per day over the last 30, and each connector's deliveries per day.

Two aggregate queries whatever the number of connectors or buckets (``received_at`` is indexed): one grouped by
hour and status, one by connector, day and status. Buckets are hours and days of the current time zone; a bucket
nothing arrived in is a zero, filled in here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from django.db.models import Count, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from connectors.choices import DeliveryStatus
from connectors.models import Delivery

HOURS = 24
DAYS = 30
SPARKLINE_DAYS = 14
#: Record outcomes as the delivery counters keep them (``records_<key>``), in stacking order.
RECORD_OUTCOMES: tuple[tuple[str, str], ...] = (
    ("created", "Created"),
    ("updated", "Updated"),
    ("merged", "Merged"),
    ("deleted", "Deleted"),
    ("skipped", "Skipped"),
    ("errors", "Errors"),
)
#: Delivery statuses in stacking order: the good ones at the bottom.
DELIVERY_STATUSES: tuple[tuple[str, str], ...] = tuple(
    (status.value, status.label)
    for status in (
        DeliveryStatus.PROCESSED,
        DeliveryStatus.PARTIAL,
        DeliveryStatus.QUEUED,
        DeliveryStatus.PROCESSING,
        DeliveryStatus.FAILED,
        DeliveryStatus.REJECTED,
        DeliveryStatus.DEAD,
    )
)
#: Statuses a sparkline marks as failures.
FAILED_STATUSES = frozenset({DeliveryStatus.FAILED, DeliveryStatus.REJECTED, DeliveryStatus.DEAD})


@dataclass
class Bucket:
    """One hour or day: its start and end (UTC), deliveries by status and records by outcome."""

    start: datetime
    end: datetime
    deliveries: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)

    @property
    def delivery_total(self) -> int:
        return sum(self.deliveries.values())

    @property
    def record_total(self) -> int:
        return sum(self.records.values())

    def add(self, status: str, row: dict) -> None:
        self.deliveries[status] = self.deliveries.get(status, 0) + row["deliveries"]
        for key, _ in RECORD_OUTCOMES:
            self.records[key] = self.records.get(key, 0) + (row[key] or 0)


@dataclass
class Activity:
    hours: list[Bucket]
    days: list[Bucket]
    #: connector id -> its last SPARKLINE_DAYS day buckets.
    per_connector: dict[int, list[Bucket]]


def _hour_starts(now: datetime) -> list[datetime]:
    """The starts of the last HOURS hours of the current time zone, the current hour last, then the start of the
    next hour (the last one's end), in UTC."""
    local = timezone.localtime(now)
    top = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return [top - timedelta(hours=back) for back in range(HOURS - 1, -2, -1)]


def _day_starts(now: datetime, days: int) -> list[datetime]:
    """The starts of the last ``days`` days of the current time zone (midnights, DST-aware), today last, then
    tomorrow's (today's end), in UTC."""
    zone = timezone.get_current_timezone()
    today = timezone.localdate(now)
    return [
        datetime.combine(today - timedelta(days=back), datetime.min.time(), tzinfo=zone).astimezone(UTC)
        for back in range(days - 1, -2, -1)
    ]


def _buckets(bounds: list[datetime]) -> dict[datetime, Bucket]:
    """Buckets between consecutive ``bounds``, keyed by their start."""
    return {start: Bucket(start, end) for start, end in pairwise(bounds)}


def _sums() -> dict:
    return {"deliveries": Count("pk")} | {key: Sum(f"records_{key}") for key, _ in RECORD_OUTCOMES}


def delivery_activity(now: datetime | None = None) -> Activity:
    """Deliveries and records over the last 24 hours (hourly) and 30 days (daily), and per connector per day."""
    now = now or timezone.now()
    hour_starts, day_starts = _hour_starts(now), _day_starts(now, DAYS)
    hours, days = _buckets(hour_starts), _buckets(day_starts)
    hourly = (
        Delivery.objects.filter(received_at__gte=hour_starts[0])
        .annotate(bucket=TruncHour("received_at"))
        .order_by()
        .values("bucket", "status")
        .annotate(**_sums())
    )
    for row in hourly:
        bucket = hours.get(row["bucket"].astimezone(UTC))
        if bucket is not None:
            bucket.add(row["status"], row)
    spark_bounds = day_starts[-SPARKLINE_DAYS - 1 :]
    per_connector: dict[int, dict[datetime, Bucket]] = defaultdict(lambda: _buckets(spark_bounds))
    daily = (
        Delivery.objects.filter(received_at__gte=day_starts[0])
        .annotate(bucket=TruncDay("received_at"))
        .order_by()
        .values("connector", "bucket", "status")
        .annotate(**_sums())
    )
    for row in daily:
        start = row["bucket"].astimezone(UTC)
        if (bucket := days.get(start)) is not None:
            bucket.add(row["status"], row)
        if (spark := per_connector[row["connector"]].get(start)) is not None:
            spark.add(row["status"], row)
    return Activity(
        hours=list(hours.values()),
        days=list(days.values()),
        per_connector={connector: list(buckets.values()) for connector, buckets in per_connector.items()},
    )


def empty_sparkline(now: datetime | None = None) -> list[Bucket]:
    """A connector's sparkline buckets when it received nothing in the last SPARKLINE_DAYS days."""
    return list(_buckets(_day_starts(now or timezone.now(), SPARKLINE_DAYS)).values())
