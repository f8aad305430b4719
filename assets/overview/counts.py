"""Inventory counts for the Overview: live, unmanaged, retired, possible duplicates, in all and by connector.

Each count is one ``CountDefinition`` in ``COUNTS``; adding a count (stale assets, say) is one more entry: its
condition on the asset, whether it counts live or retired assets, and the asset list parameters that list the
same assets (every number links to its list, and the list must show that many).

Counting by connector joins every source record to its asset, about a second per million assets: too slow for
every view. The counts are stored in ``InventoryCounts`` with a *change marker* (``MARKERS``: the newest decision,
the newest inventory event, the newest asset, the connectors), which a page view reads in one cheap query. Every
write to the inventory leaves a trace there: the worker writes a decision for every record it processes
(deletions too), merges, splits, joins and their undos write an ``AssetEvent``, a deleted connector changes the
connector count. While the marker holds, the stored counts are exact. When it moved, a small inventory (up to
``OVERVIEW_INLINE_ASSETS``) is recounted within the request; a large one is recounted by the worker
(``assets.overview.tasks``) while the page shows the previous counts with their time and refreshes itself. A
change no marker sees (an edit in Django admin) shows after ``OVERVIEW_COUNTS_MAX_AGE`` seconds at most.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from connectors.models import Connector

from ..choices import AssetKind
from ..models import Asset, AssetEvent, Decision, InventoryCounts, SourceRecord

LIVE = "live"
RETIRED = "retired"
SNAPSHOT_PK = 1


@dataclass(frozen=True)
class CountDefinition:
    """One inventory count. ``scope``: LIVE counts assets neither retired nor merged that a live source reports;
    RETIRED counts retired assets (a connector's: those it reported before deleting them). ``condition`` is on
    the asset; ``params`` are the asset list's query parameters that list the same assets."""

    key: str
    label: str
    scope: str = LIVE
    condition: Q = field(default_factory=Q)
    params: tuple[tuple[str, str], ...] = ()
    help: str = ""
    #: The column header, with soft hyphens where a narrow screen may break it.
    header: str = ""

    @property
    def column_header(self) -> str:
        return self.header or self.label


COUNTS: tuple[CountDefinition, ...] = (
    CountDefinition("live", "Live", help="Assets at least one source still reports."),
    CountDefinition(
        "unmanaged",
        "Unmanaged",
        condition=Q(kind=AssetKind.UNMANAGED),
        params=(("kind", AssetKind.UNMANAGED),),
        header="Un\u00admanaged",
        help="Live assets created by identification that nobody has taken under management.",
    ),
    CountDefinition(
        "stale",
        "Stale",
        condition=Q(stale=True),
        params=(("stale", "true"),),
        help="Live assets no source has reported within its connector's stale period.",
    ),
    CountDefinition(
        "retired",
        "Retired",
        scope=RETIRED,
        params=(("include_retired", "true"), ("retired", "true")),
        help="Assets no source reports any more (kept, not erased).",
    ),
    CountDefinition(
        "possible_duplicate",
        "Possible duplicates",
        condition=Q(possible_duplicate=True),
        params=(("possible_duplicate", "true"),),
        header="Possible dupli\u00adcates",
        help="Live assets created when a rule matched several assets.",
    ),
)

#: The change marker: (name, model, SQL aggregate of its primary key). Adding a writer that changes counts
#: without leaving a decision or an event means adding its trace here. The lifecycle pass marking records stale
#: leaves none (time, not a write, makes a record stale): the stale count follows within OVERVIEW_COUNTS_MAX_AGE.
MARKERS: tuple[tuple[str, type, str], ...] = (
    ("decision", Decision, "MAX"),
    ("event", AssetEvent, "MAX"),
    ("asset", Asset, "MAX"),
    ("connector", Connector, "MAX"),
    ("connectors", Connector, "COUNT"),
)


def change_marker() -> dict[str, int]:
    """The marker in one query: each part is the maximum (or count) of a primary key, an index lookup."""
    quote = connection.ops.quote_name
    parts = [
        f"(SELECT {function}({quote(model._meta.pk.column)}) FROM {quote(model._meta.db_table)})"
        for _, model, function in MARKERS
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts))
        row = cursor.fetchone()
    return {name: value or 0 for (name, _, _), value in zip(MARKERS, row, strict=True)}


def _asset_prefixed(condition: Q) -> Q:
    """``condition`` on an asset, rewritten for a query on its source records (``kind`` -> ``asset__kind``)."""
    prefixed = Q(_connector=condition.connector, _negated=condition.negated)
    for child in condition.children:
        if isinstance(child, Q):
            prefixed.children.append(_asset_prefixed(child))
        else:
            prefixed.children.append((f"asset__{child[0]}", child[1]))
    return prefixed


def _scope(definition: CountDefinition) -> Q:
    return Q(retired=definition.scope == RETIRED) & definition.condition


def _source_scope(definition: CountDefinition) -> Q:
    # A retired asset has no live source: the connector's deleted records are what tie it to the connector.
    base = Q(asset__retired=True) if definition.scope == RETIRED else Q(deleted=False, asset__retired=False)
    return base & _asset_prefixed(definition.condition)


def compute_counts() -> dict:
    """Every count in all and by connector, in two queries (the by-connector one reads every source record)."""
    # Aliased ``count_<key>``: an alias may not be the name of a field (``retired``).
    totals = Asset.objects.filter(merged_into__isnull=True).aggregate(
        **{f"count_{d.key}": Count("pk", filter=_scope(d)) for d in COUNTS}
    )
    by_connector = (
        SourceRecord.objects.filter(asset__merged_into__isnull=True)
        .order_by()
        .values("connector")
        .annotate(**{f"count_{d.key}": Count("asset", distinct=True, filter=_source_scope(d)) for d in COUNTS})
    )
    return {
        "total": {d.key: totals[f"count_{d.key}"] for d in COUNTS},
        "connectors": {str(row["connector"]): {d.key: row[f"count_{d.key}"] for d in COUNTS} for row in by_connector},
    }


def refresh_counts(marker: dict | None = None) -> InventoryCounts:
    """Recount and store the counts under ``marker`` (read first: a change made while counting moves the
    marker again, so the next view recounts)."""
    marker = change_marker() if marker is None else marker
    begun = time.perf_counter()
    counts = compute_counts()
    duration_ms = round((time.perf_counter() - begun) * 1000)
    snapshot, _ = InventoryCounts.objects.update_or_create(
        pk=SNAPSHOT_PK,
        defaults={
            "counts": counts,
            "marker": marker,
            "computed_at": timezone.now(),
            "refresh_requested_at": None,
            "duration_ms": duration_ms,
        },
    )
    return snapshot


@dataclass(frozen=True)
class CurrentCounts:
    """The counts the page shows: ``fresh`` when they match the inventory now, else the last ones (or none yet)
    with a recount under way."""

    counts: dict
    computed_at: object
    fresh: bool
    duration_ms: int

    def total(self) -> dict:
        return self.counts.get("total", {})

    def for_connector(self, connector_id: int) -> dict:
        return self.counts.get("connectors", {}).get(str(connector_id), {})


def current_counts() -> CurrentCounts:
    """The stored counts if nothing changed since; else recounted now (small inventory), or the last ones, not
    fresh: the caller then asks for a background recount (``tasks.request_refresh``)."""
    now = timezone.now()
    marker = change_marker()
    snapshot = InventoryCounts.objects.filter(pk=SNAPSHOT_PK).first()
    max_age = timedelta(seconds=settings.OVERVIEW_COUNTS_MAX_AGE)
    stored = snapshot is not None and snapshot.computed_at is not None
    if stored and snapshot.marker == marker and snapshot.computed_at > now - max_age:
        return CurrentCounts(snapshot.counts, snapshot.computed_at, True, snapshot.duration_ms)
    if marker["asset"] <= settings.OVERVIEW_INLINE_ASSETS:
        snapshot = refresh_counts(marker)
        return CurrentCounts(snapshot.counts, snapshot.computed_at, True, snapshot.duration_ms)
    if not stored:
        return CurrentCounts({}, None, False, 0)
    return CurrentCounts(snapshot.counts, snapshot.computed_at, False, snapshot.duration_ms)


def asset_list_url(definition: CountDefinition, connector: Connector | None = None) -> str:
    """The asset list showing the assets ``definition`` counts (of ``connector``, or all)."""
    params = ([("connector", str(connector.uuid))] if connector else []) + list(definition.params)
    url = reverse("assets:asset_list")
    return f"{url}?{urlencode(params)}" if params else url
