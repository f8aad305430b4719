"""Running totals behind the ``/metrics`` counters, kept in the database (:class:`connectors.models.MetricTally`).

Why the database: a delivery is finished by whichever worker process on whichever host claimed it, and any web
process may answer the scrape. A total added to in the transaction that finishes the delivery is the same for
every scrape, survives restarts, and never goes down: pruning old deliveries or deleting a connector removes
rows, not totals. A replayed delivery that finishes again is counted again (its records were processed again).

Each finish adds to its totals with one statement (``INSERT … ON CONFLICT … DO UPDATE SET value = value +
excluded.value``, on SQLite ≥ 3.24 and PostgreSQL).
"""

from __future__ import annotations

from django.db import connection

from .choices import DeliveryStatus
from .models import MetricTally

DELIVERIES = "deliveries_finished"
RECORDS = "records"
#: Processing time of finished deliveries: one row per bucket (not cumulative; the collector adds them up) and
#: the sum in milliseconds.
DURATION_BUCKET, DURATION_SUM_MS = "processing_bucket", "processing_sum_ms"
#: Upper bounds of the processing-time buckets, in seconds.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
FINAL_STATUSES = (
    DeliveryStatus.PROCESSED,
    DeliveryStatus.PARTIAL,
    DeliveryStatus.FAILED,
    DeliveryStatus.REJECTED,
    DeliveryStatus.DEAD,
)
RECORD_OUTCOMES = ("received", "created", "updated", "merged", "skipped", "deleted", "errors")


def bucket_label(seconds: float) -> str:
    """The label of the smallest bucket that holds ``seconds`` ("+Inf" above the largest)."""
    for bound in DURATION_BUCKETS:
        if seconds <= bound:
            return format(bound, "g")
    return "+Inf"


def add(increments: dict[tuple[str, str], int]) -> None:
    """Add to several totals in one statement (zero increments are left out)."""
    rows = [(name, label, value) for (name, label), value in increments.items() if value]
    if not rows:
        return
    # Only quoted identifiers are formatted into the statement; the values are parameters.
    table = connection.ops.quote_name(MetricTally._meta.db_table)
    placeholders = ", ".join(["(%s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, label, value) VALUES {placeholders} "
            f"ON CONFLICT (name, label) DO UPDATE SET value = {table}.value + excluded.value",
            [value for row in rows for value in row],
        )


def finished(status: str, counters: dict[str, int], seconds: float | None = None) -> None:
    """Count a delivery that reached a final status, its records by outcome and (when processed by a worker)
    how long the attempt took. ``counters`` holds ``records_<outcome>`` values, as the Delivery row does."""
    increments = {(DELIVERIES, status): 1}
    for outcome in RECORD_OUTCOMES:
        increments[(RECORDS, outcome)] = counters.get(f"records_{outcome}", 0)
    if seconds is not None:
        seconds = max(seconds, 0.0)
        increments[(DURATION_BUCKET, bucket_label(seconds))] = 1
        increments[(DURATION_SUM_MS, "")] = round(seconds * 1000)
    add(increments)


def totals() -> dict[tuple[str, str], int]:
    """Every total, by (name, label)."""
    return {(name, label): value for name, label, value in MetricTally.objects.values_list("name", "label", "value")}
