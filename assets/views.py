"""CSAM inventory pages: the asset list and its CSV export, the asset page, split and undo.

Views stay thin: reading is done here with a fixed number of queries per page, every write is a function of
:mod:`assets.inventory` (which owns its transaction and audit row). Duplicates with merge are in
:mod:`assets.duplicate_views`, rule definitions in :mod:`assets.rule_views`.
"""

from __future__ import annotations

import csv
import functools
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.contrib import messages
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from connectors.models import Connector
from connectors_site.common.htmx import HtmxHttpRequest, wants_partial
from connectors_site.common.navigation import next_url
from connectors_site.common.pagination import CappedPaginator
from connectors_site.common.roles import admin_required
from connectors_site.common.sorting import Sorting

from . import inventory
from .choices import AssetAction
from .conflicts import conflicting_asset
from .decision_display import present
from .engine.reconcile import value_junk
from .engine.records import REPORTED_ATTRIBUTES
from .filtersets import ORDERING_FIELDS, AssetFilterSet
from .models import Asset, AssetEvent, Decision, SourceRecord
from .provenance import group_by_source
from .search_matches import attach_matches

PER_PAGE_CHOICES = (10, 25, 50, 100)
DEFAULT_PER_PAGE = 50
#: Rows fetched per query by the CSV export (and per prefetch of their sources).
EXPORT_CHUNK_SIZE = 2000
DECISIONS_SHOWN = 50
EVENTS_SHOWN = 10

ATTRIBUTE_LABELS: dict[str, str] = {
    "hostname": "Hostname",
    "fqdn": "FQDN",
    "netbios_name": "NetBIOS name",
    "ip_addresses": "IP addresses",
    "mac_addresses": "MAC addresses",
    "serial_number": "Serial number",
    "hardware_uuid": "Hardware UUID",
    "cloud_provider": "Cloud provider",
    "cloud_instance_id": "Cloud instance ID",
    "os": "OS",
    "os_version": "OS version",
    "manufacturer": "Manufacturer",
    "model": "Model",
    "asset_type": "Asset type",
    "tags": "Tags",
}
LIST_FIELDS = (
    "uuid",
    "kind",
    "hostname",
    "fqdn",
    "netbios_name",
    "serial_number",
    "os",
    "os_version",
    "ip_addresses",
    "mac_addresses",
    "first_seen",
    "last_seen",
    "retired",
    "possible_duplicate",
    "identifier_conflict",
    "stale",
    "merged_into",
    "created_at",
)


def live_sources() -> Prefetch:
    """The live sources of each asset with their connector's name, in one query for a whole page."""
    return Prefetch(
        "sources",
        queryset=SourceRecord.objects.filter(deleted=False)
        .select_related("connector")
        .only("id", "asset_id", "source_key", "connector__name", "connector__uuid")
        .order_by("connector__name", "source_key"),
        to_attr="live_sources",
    )


# --------------------------------------------------------------------------------------------------------------
# Asset list and export
# --------------------------------------------------------------------------------------------------------------


def _per_page(request: HttpRequest) -> int:
    try:
        value = int(request.GET.get("per_page", DEFAULT_PER_PAGE))
    except ValueError:
        return DEFAULT_PER_PAGE
    return value if value in PER_PAGE_CHOICES else DEFAULT_PER_PAGE


#: The query parameters that filter the list: the FilterSet's, shared by the UI and the API.
FILTER_PARAMS = AssetFilterSet.Meta.fields


@require_GET
@vary_on_headers("HX-Request")
def asset_list(request: HtmxHttpRequest) -> HttpResponse:
    """The inventory, filtered and sorted by :class:`AssetFilterSet`; an HTMX request gets only the results."""
    queryset = Asset.objects.only(*LIST_FIELDS).prefetch_related(live_sources())
    filterset = AssetFilterSet(request.GET, queryset=queryset)
    valid = filterset.is_valid()
    cleaned = filterset.form.cleaned_data
    per_page = _per_page(request)
    # Invalid filters (an unknown connector, a not_seen_for of "soon") list nothing rather than everything.
    results = filterset.qs if valid else queryset.none()
    page = CappedPaginator(results, per_page, page_hint=request.GET.get("page")).get_page(request.GET.get("page"))
    filtered = any(request.GET.get(name) for name in FILTER_PARAMS)
    # Only an empty result needs to know whether the inventory itself is empty (one cheap EXISTS, not a COUNT).
    inventory_empty = page.paginator.count == 0 and not Asset.objects.exists()
    assets = list(page.object_list)
    attach_matches(assets, cleaned.get("q", "") if valid else "")
    context = {
        "filterset": filterset,
        "filters_valid": valid,
        "page": page,
        "assets": assets,
        "connector": cleaned.get("connector"),
        "connectors": Connector.objects.only("uuid", "name").order_by("name"),
        "sorting": Sorting.from_request(request, ORDERING_FIELDS),
        "per_page": per_page,
        "per_page_choices": PER_PAGE_CHOICES,
        "filtered": filtered,
        "inventory_empty": inventory_empty,
        "values": {name: request.GET.get(name, "") for name in FILTER_PARAMS},
    }
    if wants_partial(request):
        return render(request, "assets/asset_list.html#results", context)
    return render(request, "assets/asset_list.html", context)


EXPORT_COLUMNS = (
    "uuid",
    "name",
    "kind",
    *REPORTED_ATTRIBUTES,
    "sources",
    "first_seen",
    "last_seen",
    "retired",
    "possible_duplicate",
    "stale",
    "url",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = " ".join(str(item) for item in value)
    elif isinstance(value, bool):
        value = "yes" if value else "no"
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    value = str(value)
    # A spreadsheet would run a cell that starts like a formula; sources are not trusted to send none.
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_lines(assets: Iterable[Asset], base_url: str) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for asset in assets:
        row = []
        for column in EXPORT_COLUMNS:
            if column == "name":
                value = asset.display_name
            elif column == "sources":
                value = "; ".join(f"{s.connector.name}:{s.source_key}" for s in asset.live_sources)
            elif column == "url":
                value = f"{base_url}{asset.uuid}/"
            else:
                value = getattr(asset, column)
            row.append(_cell(value))
        yield writer.writerow(row)


@require_GET
def asset_export(request: HttpRequest) -> HttpResponse:
    """The filtered list as CSV, streamed: rows are read in chunks, so memory stays flat for any inventory."""
    filterset = AssetFilterSet(request.GET, queryset=Asset.objects.prefetch_related(live_sources()))
    if not filterset.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items())
        return HttpResponse(f"Invalid filters: {problems}\n", status=400, content_type="text/plain")
    base_url = request.build_absolute_uri(reverse("assets:asset_list"))
    rows = filterset.qs.iterator(chunk_size=EXPORT_CHUNK_SIZE)
    response = StreamingHttpResponse(_csv_lines(rows, base_url), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="assets-{stamp}.csv"'
    return response


# --------------------------------------------------------------------------------------------------------------
# Asset page
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """One value of a list attribute; ``note`` says why it is junk ("loopback address"), "" for a real value."""

    text: str
    note: str = ""


@dataclass
class Shown:
    """One attribute as the asset page shows it: plain text, or several values (IPs, MACs, tags). Junk values
    (placeholders, loopback...) carry a ``note`` and come after the real ones; the page de-emphasises them."""

    name: str
    label: str
    text: str = ""
    items: list[Value] = field(default_factory=list)
    source: SourceRecord | None = None
    note: str = ""


def _shown(name: str, label: str, value: object, source: SourceRecord | None = None) -> Shown:
    if isinstance(value, list | tuple):
        items = [Value(str(item), value_junk(name, item) or "") for item in value]
        return Shown(name, label, items=sorted(items, key=lambda item: bool(item.note)), source=source)
    if isinstance(value, dict):
        return Shown(name, label, items=[Value(f"{key}: {item}") for key, item in value.items()], source=source)
    if isinstance(value, bool):
        return Shown(name, label, text="yes" if value else "no", source=source)
    return Shown(name, label, text=str(value), source=source, note=value_junk(name, value) or "")


def _is_empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {} or value == ()


@dataclass
class SourceView:
    record: SourceRecord
    attributes: list[Shown]
    extra: list[Shown]


def _source_view(source: SourceRecord) -> SourceView:
    reported = source.attributes or {}
    return SourceView(
        source,
        [
            _shown(name, ATTRIBUTE_LABELS.get(name, name), reported.get(name))
            for name in REPORTED_ATTRIBUTES
            if not _is_empty(reported.get(name))
        ],
        [
            _shown(f"extra.{key}", str(key), value)  # free keys are never junk-tested, whatever their name
            for key, value in (source.extra or {}).items()
            if not _is_empty(value)
        ],
    )


def _heavy_delivery_fields(prefix: str) -> list[str]:
    return [f"{prefix}__{name}" for name in ("body", "headers", "errors", "last_error")]


def _attribute_rows(asset: Asset, sources: list[SourceRecord]) -> tuple[list[Shown], list[str]]:
    """The reconciled attributes with the source each value came from, and the labels of those nobody reports."""
    by_id = {source.pk: source for source in sources}
    shown, missing = [], []
    for name in REPORTED_ATTRIBUTES:
        value = getattr(asset, name)
        if _is_empty(value):
            missing.append(ATTRIBUTE_LABELS[name])
        else:
            shown.append(_shown(name, ATTRIBUTE_LABELS[name], value, by_id.get(asset.provenance.get(name))))
    return shown, missing


def _decisions_about(asset: Asset, sources: list[SourceRecord]) -> list[Decision]:
    """The newest decisions about this asset's records (one more than shown, to tell whether there are more).

    Includes those made before a merge or split moved a record here: one term per connector (not per source)
    keeps the query small whatever the number of sources.
    """
    keys_by_connector: dict[int, list[str]] = {}
    for source in sources:
        keys_by_connector.setdefault(source.connector_id, []).append(source.source_key)
    source_keys = functools.reduce(
        operator.or_,
        (Q(connector_id=connector_id, source_key__in=keys) for connector_id, keys in keys_by_connector.items()),
        Q(asset=asset),
    )
    return list(
        Decision.objects.filter(source_keys)
        .select_related("connector", "delivery")
        .only(
            "id",
            "source_key",
            "outcome",
            "rule_name",
            "compared",
            "candidates",
            "reasons",
            "warnings",
            "created_at",
            "asset_id",
            "connector__name",
            "connector__uuid",
            "delivery__uuid",
            "delivery__is_test",
        )
        .order_by("-id")[: DECISIONS_SHOWN + 1]
    )


def _asset_events(asset: Asset) -> list[AssetEvent]:
    """Merges and splits that touched this asset, including a split that created it."""
    return list(
        AssetEvent.objects.filter(Q(asset=asset) | Q(details__new_asset_id=asset.pk))
        .select_related("actor", "asset")
        .only("id", "action", "details", "undone", "created_at", "actor__username", "asset__uuid")[:EVENTS_SHOWN]
    )


@require_GET
def asset_detail(request: HttpRequest, uuid) -> HttpResponse:
    asset = get_object_or_404(Asset, uuid=uuid)
    if asset.merged_into_id:
        return redirect(inventory.resolve_survivor(asset))
    sources = list(
        asset.sources.select_related("connector", "last_delivery")
        .defer(*_heavy_delivery_fields("last_delivery"))
        .order_by("deleted", "-connector__trust_rank", "connector__name", "source_key")
    )
    shown, missing = _attribute_rows(asset, sources)
    attribute_groups, disagreements = group_by_source(asset, shown, sources)
    decisions = _decisions_about(asset, sources)
    context = {
        "asset": asset,
        "attributes": shown,
        "attribute_groups": attribute_groups,
        "disagreements": disagreements,
        "missing": missing,
        "sources": [_source_view(source) for source in sources],
        "can_split": sum(not source.deleted for source in sources) > 1,
        "decisions": present(decisions[:DECISIONS_SHOWN]),
        "more_decisions": len(decisions) > DECISIONS_SHOWN,
        "events": _asset_events(asset),
        "conflict": conflicting_asset(asset, [s for s in sources if not s.deleted])
        if asset.identifier_conflict
        else None,
    }
    return render(request, "assets/asset_detail.html", context)


@require_http_methods(["GET", "POST"])
@admin_required
def source_split(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Split a source out of its asset. GET asks for confirmation (the Split links work without JavaScript);
    POST splits. An HTMX POST answers 204 and tells the page the inventory changed (``assets-changed``), so the
    list that asked refreshes itself and shows the message."""
    source = get_object_or_404(SourceRecord.objects.select_related("connector", "asset"), pk=pk)
    fallback = source.asset.get_absolute_url()
    if request.method == "GET":
        context = {"source": source, "asset": source.asset, "next": next_url(request, fallback)}
        return render(request, "assets/source_split.html", context)
    try:
        event = inventory.split_source(source, actor=request.user)
    except inventory.InventoryError as error:
        messages.error(request, str(error))
    else:
        new_url = reverse("assets:asset_detail", args=[event.details["new_asset_uuid"]])
        messages.success(
            request,
            format_html(
                '{}: {} is now <a href="{}">an asset of its own</a>. If this was a mistake, undo it from the manual '
                "changes on either asset's page.",
                source.connector.name,
                source.source_key,
                new_url,
            ),
        )
    if request.htmx:
        return trigger_client_event(HttpResponse(status=204), "assets-changed")
    return redirect(next_url(request, fallback))


@require_POST
@admin_required
def event_undo(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(AssetEvent.objects.select_related("asset"), pk=pk)
    fallback = event.asset.get_absolute_url()
    try:
        inventory.undo_event(event, actor=request.user)
    except inventory.InventoryError as error:
        messages.error(request, str(error))
    else:
        what = {AssetAction.MERGED: "Merge", AssetAction.DISTINCT: "Not a duplicate"}.get(event.action, "Split")
        messages.success(request, f"{what} undone.")
    return redirect(next_url(request, fallback))
