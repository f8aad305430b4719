"""Delivery and identification activity for the Overview: deliveries by status and records by identification
outcome, per hour over the last 24 hours and per day over the last 30, and each connector's deliveries per day.

A fixed number of aggregate queries whatever the number of connectors or buckets, each one range of an index that
holds every column they read (``delivery_activity_idx``: the table's rows carry the bodies); the days before the
last two are kept between views while nothing changed them (``settled_marker``). Buckets are hours and days of the
current time zone; a bucket nothing arrived in is a zero, filled in here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain, pairwise

from django.core.cache import cache
from django.db import connection
from django.db.models import Case, Count, IntegerField, Sum, Value, When
from django.utils import timezone

from connectors.choices import DeliveryStatus
from connectors.models import ConnectorEvent, Delivery

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


def _bucket_index(bounds: list[datetime]) -> Case:
    """Which of the buckets between ``bounds`` a delivery falls in, worked out by the database: comparisons with
    the bounds, no function call per row (SQLite runs Django's ``TruncDay`` in Python for each row)."""
    return Case(
        *(When(received_at__lt=bound, then=Value(index)) for index, bound in enumerate(bounds[1:])),
        default=Value(len(bounds) - 1),
        output_field=IntegerField(),
    )


def _rows(bounds: list[datetime], *by: str):
    """Deliveries between the first and last bound, grouped by bucket (and ``by``) and status, with sums."""
    return (
        Delivery.objects.filter(received_at__gte=bounds[0], received_at__lt=bounds[-1])
        .annotate(bucket=_bucket_index(bounds))
        .order_by()
        .values(*by, "bucket", "status")
        .annotate(**_sums())
    )


#: Days before this many last ones are "settled": their figures are kept (see ``_settled_rows``).
LIVE_DAYS = 2
SETTLED_CACHE_KEY = "overview:settled-days:"


def settled_marker(settled_before: datetime) -> tuple:
    """What would change the figures of the deliveries received before ``settled_before``, in one query: a
    replay or a deleted connector (both write a connector audit row), the retention sweep (the oldest delivery
    goes), or a delivery of those days still queued or processing (it finishes later). Anything else that
    changes an old delivery's status or counters must leave one of these traces."""
    quote = connection.ops.quote_name
    events, deliveries = quote(ConnectorEvent._meta.db_table), quote(Delivery._meta.db_table)
    pending = ", ".join(["%s"] * len(DeliveryStatus.pending()))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(id) FROM {events}), (SELECT MIN(id) FROM {deliveries}), "
            f"(SELECT COUNT(*) FROM {deliveries} WHERE status IN ({pending}) AND received_at < %s)",
            [*DeliveryStatus.pending(), settled_before],
        )
        return tuple(cursor.fetchone())


def _settled_rows(day_bounds: list[datetime]) -> list[dict]:
    """The rows of the settled days (all but the last LIVE_DAYS), from the cache while their marker holds.

    Most of a month of deliveries is old and finished: grouping it again on every view is most of the page's
    time on SQLite (a sort of every delivery of the month). A process keeps them under the marker; the cache
    is an optimisation only, the marker is what keeps the figures exact."""
    settled = day_bounds[: DAYS - LIVE_DAYS + 1]
    key = SETTLED_CACHE_KEY + "|".join(str(value) for value in (settled[0].timestamp(), *settled_marker(settled[-1])))
    rows = cache.get(key)
    if rows is None:
        rows = list(_rows(settled, "connector"))
        cache.set(key, rows, timeout=24 * 3600)
    return rows


def delivery_activity(now: datetime | None = None) -> Activity:
    """Deliveries and records over the last 24 hours (hourly) and 30 days (daily), and per connector per day.

    Three queries: by hour and status over 24 hours; by connector, day and status over the last LIVE_DAYS days;
    and the same for the days before, unless kept (``_settled_rows``). The days add up to the 30-day chart and,
    the last 14, to the sparklines. All read only ``delivery_activity_idx``.
    """
    now = now or timezone.now()
    hour_bounds, day_bounds = _hour_starts(now), _day_starts(now, DAYS)
    hours, days = list(_buckets(hour_bounds).values()), list(_buckets(day_bounds).values())
    for row in _rows(hour_bounds):
        hours[row["bucket"]].add(row["status"], row)
    spark_bounds = day_bounds[-SPARKLINE_DAYS - 1 :]
    first_spark_day, first_live_day = DAYS - SPARKLINE_DAYS, DAYS - LIVE_DAYS
    per_connector: dict[int, list[Bucket]] = defaultdict(lambda: list(_buckets(spark_bounds).values()))
    live = (
        {**row, "bucket": row["bucket"] + first_live_day} for row in _rows(day_bounds[first_live_day:], "connector")
    )
    for row in chain(_settled_rows(day_bounds), live):
        days[row["bucket"]].add(row["status"], row)
        if row["bucket"] >= first_spark_day:
            per_connector[row["connector"]][row["bucket"] - first_spark_day].add(row["status"], row)
    return Activity(hours=hours, days=days, per_connector=dict(per_connector))


def empty_sparkline(now: datetime | None = None) -> list[Bucket]:
    """A connector's sparkline buckets when it received nothing in the last SPARKLINE_DAYS days."""
    return list(_buckets(_day_starts(now or timezone.now(), SPARKLINE_DAYS)).values())
