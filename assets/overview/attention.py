"""The Overview's "needs attention" list: one function per kind of problem, each one query, in ``SOURCES``.

A new kind of problem is one more function returning ``Attention`` rows, added to ``SOURCES``. Rows link to
the list that shows the problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db.models import Count
from django.urls import reverse

from connectors.choices import ConnectorStatus, DeliveryStatus, SyncStatus
from connectors.models import Connector, Delivery, Sync

from ..queries import conflict_count

BAD, WARN = "bad", "warn"


@dataclass(frozen=True)
class Attention:
    level: str
    #: The number the row is about (None: the row is about one thing, a connector).
    count: int | None
    text: str
    href: str
    action: str


def _delivery_log(connector: Connector, status: str) -> str:
    url = reverse("connectors:delivery_list", args=[connector.uuid])
    return f"{url}?{urlencode({'status': status})}"


def dead_deliveries(connectors: dict[int, Connector]) -> Iterable[Attention]:
    """Deliveries that failed every attempt: nothing more happens to them until someone replays them."""
    dead = (
        Delivery.objects.filter(status=DeliveryStatus.DEAD).order_by().values("connector").annotate(count=Count("pk"))
    )
    for row in dead:
        connector = connectors.get(row["connector"])
        if connector is not None:
            count = row["count"]
            yield Attention(
                BAD,
                count,
                f"dead deliver{'y' if count == 1 else 'ies'} to {connector.name}",
                _delivery_log(connector, DeliveryStatus.DEAD),
                "Replay once the cause is fixed",
            )


def failing_connectors(connectors: dict[int, Connector]) -> Iterable[Attention]:
    """Enabled connectors whose last finished delivery failed or only partly succeeded (no query of its own)."""
    for connector in connectors.values():
        if connector.status == ConnectorStatus.ERROR:
            yield Attention(
                BAD, None, f"{connector.name}: its last delivery failed",
                _delivery_log(connector, DeliveryStatus.FAILED), "See the failed deliveries",
            )  # fmt: skip
        elif connector.status == ConnectorStatus.PARTIAL:
            yield Attention(
                WARN, None, f"{connector.name}: its last delivery had records in error",
                _delivery_log(connector, DeliveryStatus.PARTIAL), "See the partial deliveries",
            )  # fmt: skip


def identifier_conflicts(connectors: dict[int, Connector]) -> Iterable[Attention]:
    """Assets whose sources disagree on a strong identifier: possible false merges."""
    count = conflict_count()
    if count:
        yield Attention(
            WARN,
            count,
            f"asset{'' if count == 1 else 's'} whose sources disagree on a serial number, hardware UUID or cloud "
            "instance ID",
            reverse("assets:conflicts"),
            "Review the conflicts",
        )


def held_syncs(connectors: dict[int, Connector]) -> Iterable[Attention]:
    """Full syncs whose deletions wait for an admin's confirmation (over the connector's deletion limit)."""
    held = Sync.objects.filter(status=SyncStatus.HELD).order_by().values("connector").annotate(count=Count("pk"))
    for row in held:
        connector = connectors.get(row["connector"])
        if connector is not None:
            count = row["count"]
            yield Attention(
                WARN,
                count,
                f"full sync{'' if count == 1 else 's'} of {connector.name} held: confirm or discard the deletions",
                reverse("connectors:connector_detail", args=[connector.uuid]),
                "Review the held sync",
            )


#: Each takes the connectors by id and yields rows.
SOURCES: tuple[Callable[[dict[int, Connector]], Iterable[Attention]], ...] = (
    dead_deliveries,
    failing_connectors,
    held_syncs,
    identifier_conflicts,
)


def needs_attention(connectors: dict[int, Connector]) -> list[Attention]:
    """Every row of every source, the serious ones first."""
    rows = [row for source in SOURCES for row in source(connectors)]
    return sorted(rows, key=lambda row: row.level != BAD)
