"""CSAM pages: the asset list and its CSV export, the asset page, duplicates with merge, and rule definitions.

Views stay thin: reading is done here with a fixed number of queries per page, every write is a function of
:mod:`assets.inventory` (which owns its transaction and audit row).
"""

from __future__ import annotations

import csv
import functools
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from connectors.models import Connector
from connectors_site.pagination import CappedPaginator
from connectors_site.roles import admin_required

from . import inventory
from .choices import AssetAction, AssetKind, IdentifierKind
from .engine.records import REPORTED_ATTRIBUTES
from .filtersets import AssetFilterSet
from .forms import MergeForm, RuleForm
from .models import Asset, AssetEvent, Decision, IdentificationRule, Identifier, RuleEvent, SourceRecord

PER_PAGE_CHOICES = (10, 25, 50, 100)
DEFAULT_PER_PAGE = 50
DUPLICATE_GROUPS_PER_PAGE = 20
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
#: The columns of the list that sort, in display order: (ordering name, header).
SORTABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("hostname", "Name"),
    ("kind", "Kind"),
    ("os", "OS"),
    ("first_seen", "First seen"),
    ("last_seen", "Last seen"),
)
#: Identifier kinds that make two live assets look like one machine, strongest first.
DUPLICATE_KINDS: tuple[str, ...] = (
    IdentifierKind.SERIAL,
    IdentifierKind.HARDWARE_UUID,
    IdentifierKind.MAC,
    IdentifierKind.HOSTNAME,
)
LIST_FIELDS = (
    "uuid",
    "kind",
    "hostname",
    "fqdn",
    "serial_number",
    "os",
    "os_version",
    "ip_addresses",
    "mac_addresses",
    "first_seen",
    "last_seen",
    "retired",
    "possible_duplicate",
    "merged_into",
    "created_at",
)


def _live_sources() -> Prefetch:
    """The live sources of each asset with their connector's name, in one query for a whole page."""
    return Prefetch(
        "sources",
        queryset=SourceRecord.objects.filter(deleted=False)
        .select_related("connector")
        .only("id", "asset_id", "source_key", "connector__name", "connector__uuid")
        .order_by("connector__name", "source_key"),
        to_attr="live_sources",
    )


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


# --------------------------------------------------------------------------------------------------------------
# Asset list and export
# --------------------------------------------------------------------------------------------------------------


@dataclass
class SortColumn:
    key: str
    label: str
    direction: str  # "ascending", "descending" or "none" (aria-sort)
    next_ordering: str


def _sort_columns(current: str) -> dict[str, SortColumn]:
    """Header state for each sortable column: a click sorts by it, a second click reverses."""
    columns = {}
    for key, label in SORTABLE_COLUMNS:
        direction = "none"
        if current == key:
            direction = "ascending"
        elif current == f"-{key}":
            direction = "descending"
        columns[key] = SortColumn(key, label, direction, f"-{key}" if direction == "ascending" else key)
    return columns


def _per_page(request: HttpRequest) -> int:
    try:
        value = int(request.GET.get("per_page", DEFAULT_PER_PAGE))
    except ValueError:
        return DEFAULT_PER_PAGE
    return value if value in PER_PAGE_CHOICES else DEFAULT_PER_PAGE


FILTER_PARAMS = ("q", "connector", "kind", "os", "include_retired", "stale", "possible_duplicate")


@require_GET
@vary_on_headers("HX-Request")
def asset_list(request: HttpRequest) -> HttpResponse:
    """The inventory, filtered and sorted by :class:`AssetFilterSet`; an HTMX request gets only the results."""
    queryset = Asset.objects.only(*LIST_FIELDS).prefetch_related(_live_sources())
    filterset = AssetFilterSet(request.GET, queryset=queryset)
    valid = filterset.is_valid()
    cleaned = filterset.form.cleaned_data
    per_page = _per_page(request)
    # Invalid filters (an unknown connector, a stale of "soon") list nothing rather than everything.
    results = filterset.qs if valid else queryset.none()
    page = CappedPaginator(results, per_page, page_hint=request.GET.get("page")).get_page(request.GET.get("page"))
    filtered = any(request.GET.get(name) for name in FILTER_PARAMS)
    # Only an empty result needs to know whether the inventory itself is empty (one cheap EXISTS, not a COUNT).
    inventory_empty = page.paginator.count == 0 and not Asset.objects.exists()
    context = {
        "filterset": filterset,
        "filters_valid": valid,
        "page": page,
        "assets": list(page.object_list),
        "connector": cleaned.get("connector"),
        "connectors": Connector.objects.only("uuid", "name").order_by("name"),
        "columns": _sort_columns(request.GET.get("ordering", "")),
        "per_page": per_page,
        "per_page_choices": PER_PAGE_CHOICES,
        "filtered": filtered,
        "inventory_empty": inventory_empty,
        "values": {name: request.GET.get(name, "") for name in FILTER_PARAMS},
    }
    if request.htmx and not request.htmx.history_restore_request:
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
    filterset = AssetFilterSet(request.GET, queryset=Asset.objects.prefetch_related(_live_sources()))
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


@dataclass
class Shown:
    """One attribute as the asset page shows it: plain text, or several values (IPs, MACs, tags)."""

    name: str
    label: str
    text: str = ""
    items: list[str] = field(default_factory=list)
    source: SourceRecord | None = None


def _shown(name: str, label: str, value: object, source: SourceRecord | None = None) -> Shown:
    if isinstance(value, list | tuple):
        return Shown(name, label, items=[str(item) for item in value], source=source)
    if isinstance(value, dict):
        return Shown(name, label, items=[f"{key}: {item}" for key, item in value.items()], source=source)
    if isinstance(value, bool):
        return Shown(name, label, text="yes" if value else "no", source=source)
    return Shown(name, label, text=str(value), source=source)


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
        [_shown(str(key), str(key), value) for key, value in (source.extra or {}).items() if not _is_empty(value)],
    )


def _heavy_delivery_fields(prefix: str) -> list[str]:
    return [f"{prefix}__{name}" for name in ("body", "headers", "errors", "last_error")]


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
    by_id = {source.pk: source for source in sources}
    shown, missing = [], []
    for name in REPORTED_ATTRIBUTES:
        value = getattr(asset, name)
        if _is_empty(value):
            missing.append(ATTRIBUTE_LABELS[name])
        else:
            shown.append(_shown(name, ATTRIBUTE_LABELS[name], value, by_id.get(asset.provenance.get(name))))

    # Decisions about this asset's records, including those made before a merge or split moved them here: one
    # term per connector (not per source) keeps the query small whatever the number of sources.
    keys_by_connector: dict[int, list[str]] = {}
    for source in sources:
        keys_by_connector.setdefault(source.connector_id, []).append(source.source_key)
    source_keys = functools.reduce(
        operator.or_,
        (Q(connector_id=connector_id, source_key__in=keys) for connector_id, keys in keys_by_connector.items()),
        Q(asset=asset),
    )
    decisions = list(
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
            "created_at",
            "asset_id",
            "connector__name",
            "connector__uuid",
            "delivery__uuid",
            "delivery__is_test",
        )
        .order_by("-id")[: DECISIONS_SHOWN + 1]
    )
    events = list(
        AssetEvent.objects.filter(Q(asset=asset) | Q(details__new_asset_id=asset.pk))
        .select_related("actor", "asset")
        .only("id", "action", "details", "undone", "created_at", "actor__username", "asset__uuid")[:EVENTS_SHOWN]
    )
    can_split = sum(not source.deleted for source in sources) > 1
    context = {
        "asset": asset,
        "attributes": shown,
        "missing": missing,
        "sources": [_source_view(source) for source in sources],
        "can_split": can_split,
        "decisions": decisions[:DECISIONS_SHOWN],
        "more_decisions": len(decisions) > DECISIONS_SHOWN,
        "events": events,
    }
    return render(request, "assets/asset_detail.html", context)


@require_POST
@admin_required
def source_split(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(SourceRecord.objects.select_related("connector", "asset"), pk=pk)
    fallback = source.asset.get_absolute_url()
    try:
        event = inventory.split_source(source, actor=request.user)
    except inventory.InventoryError as error:
        messages.error(request, str(error))
        return redirect(_safe_next(request, fallback))
    new_url = reverse("assets:asset_detail", args=[event.details["new_asset_uuid"]])
    messages.success(
        request,
        format_html(
            '{}: {} is now <a href="{}">an asset of its own</a>. Undo it from the events below if this was a mistake.',
            source.connector.name,
            source.source_key,
            new_url,
        ),
    )
    return redirect(_safe_next(request, fallback))


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
        what = "Merge" if event.action == AssetAction.MERGED else "Split"
        messages.success(request, f"{what} undone.")
    return redirect(_safe_next(request, fallback))


# --------------------------------------------------------------------------------------------------------------
# Duplicates and merge
# --------------------------------------------------------------------------------------------------------------


@dataclass
class DuplicateGroup:
    """Assets that share one or more values: ``shared`` lists (attribute label, value) pairs."""

    shared: list[tuple[str, str]]
    assets: list[Asset]
    default_survivor: Asset | None = None


def _live_identifiers(kind: str) -> QuerySet:
    kinds = [kind] if kind in DUPLICATE_KINDS else list(DUPLICATE_KINDS)
    return Identifier.objects.filter(kind__in=kinds, asset__merged_into__isnull=True, asset__retired=False)


def _keep_first(asset: Asset) -> tuple:
    """The asset a merge keeps by default: a managed one, then the one with most sources, then the oldest."""
    return (asset.kind != AssetKind.MANAGED, -len(asset.live_sources), asset.pk)


def _duplicate_groups(page: Page, kind: str) -> list[DuplicateGroup]:
    pairs = [(row["kind"], row["value"]) for row in page.object_list]
    if not pairs:
        return []
    members = (
        _live_identifiers(kind)
        .filter(functools.reduce(operator.or_, (Q(kind=k, value=v) for k, v in pairs)))
        .values_list("kind", "value", "asset_id")
        .distinct()
    )
    by_pair: dict[tuple[str, str], set[int]] = {}
    for k, v, asset_id in members:
        by_pair.setdefault((k, v), set()).add(asset_id)
    asset_ids = set().union(*by_pair.values()) if by_pair else set()
    assets = Asset.objects.only(*LIST_FIELDS, "manufacturer", "model").prefetch_related(_live_sources())
    assets = {asset.pk: asset for asset in assets.filter(pk__in=asset_ids)}
    labels = dict(IdentifierKind.choices)
    # The same assets often share several values (serial and hostname): one group, listing every shared value.
    groups: dict[frozenset[int], DuplicateGroup] = {}
    for k, v in pairs:
        ids = frozenset(pk for pk in by_pair.get((k, v), ()) if pk in assets)
        if len(ids) < 2:
            continue
        if ids in groups:
            groups[ids].shared.append((labels.get(k, k), v))
        else:
            members_of = sorted((assets[pk] for pk in ids), key=_keep_first)
            groups[ids] = DuplicateGroup([(labels.get(k, k), v)], members_of, members_of[0])
    return list(groups.values())


def _recent_events() -> list[AssetEvent]:
    return list(
        AssetEvent.objects.filter(
            action__in=[AssetAction.MERGED, AssetAction.UNMERGED, AssetAction.SPLIT, AssetAction.UNSPLIT]
        )
        .select_related("actor", "asset")
        .only(
            "id",
            "action",
            "details",
            "undone",
            "created_at",
            "actor__username",
            "asset__uuid",
            "asset__hostname",
            "asset__fqdn",
            "asset__serial_number",
        )[:EVENTS_SHOWN]
    )


@require_GET
@vary_on_headers("HX-Request")
def duplicates(request: HttpRequest) -> HttpResponse:
    """Groups of live assets sharing a serial, hardware UUID, MAC or hostname, a page of groups at a time."""
    kind = request.GET.get("kind", "")
    kind_rank = Case(
        *(When(kind=value, then=Value(rank)) for rank, value in enumerate(DUPLICATE_KINDS)),
        output_field=IntegerField(),
    )
    groups = (
        _live_identifiers(kind)
        .values("kind", "value")
        .annotate(assets=Count("asset", distinct=True), rank=kind_rank)
        .filter(assets__gt=1)
        .order_by("rank", "value")
    )
    page = Paginator(groups, DUPLICATE_GROUPS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "groups": _duplicate_groups(page, kind),
        "kind": kind if kind in DUPLICATE_KINDS else "",
        "kinds": [(value, dict(IdentifierKind.choices)[value]) for value in DUPLICATE_KINDS],
        "flagged": Asset.objects.live().filter(possible_duplicate=True).exists(),
        "events": _recent_events(),
    }
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "assets/duplicates.html#results", context)
    return render(request, "assets/duplicates.html", context)


@require_POST
@admin_required
def merge(request: HttpRequest) -> HttpResponse:
    back = _safe_next(request, reverse("assets:duplicates"))
    form = MergeForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    survivor = form.cleaned_data["survivor_asset"]
    try:
        inventory.merge_assets(survivor, form.cleaned_data["other_assets"], actor=request.user)
    except inventory.InventoryError as error:
        messages.error(request, str(error))
        return redirect(back)
    count = len(form.cleaned_data["other_assets"])
    messages.success(
        request,
        format_html(
            'Merged {} asset{} into <a href="{}">{}</a>. Undo it from the recent changes below if this was a mistake.',
            count,
            "" if count == 1 else "s",
            survivor.get_absolute_url(),
            survivor.display_name,
        ),
    )
    return redirect(back)


# --------------------------------------------------------------------------------------------------------------
# Identification rule definitions
# --------------------------------------------------------------------------------------------------------------


RULE_EVENTS_SHOWN = 10


@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    rules = IdentificationRule.objects.annotate(
        used_by=Count("selections", filter=Q(selections__enabled=True))
    ).order_by("-is_system", "position", "id")
    return render(
        request,
        "assets/rule_list.html",
        {
            "rules": list(rules),
            "connector_count": Connector.objects.count(),
            "events": list(RuleEvent.objects.select_related("actor")[:RULE_EVENTS_SHOWN]),
        },
    )


@require_http_methods(["GET", "POST"])
@admin_required
def rule_create(request: HttpRequest) -> HttpResponse:
    form = RuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        rule = inventory.create_identification_rule(
            name=data["name"], attributes=data["attributes"], description=data["description"], actor=request.user
        )
        messages.success(
            request,
            f"Rule {rule.name} created. It is off for every connector: turn it on from a connector's "
            "Asset Identification Rules page.",
        )
        return redirect("assets:rule_list")
    return render(request, "assets/rule_form.html", {"form": form, "rule": None})


@require_http_methods(["GET", "POST"])
@admin_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(IdentificationRule, pk=pk)
    if rule.is_system:
        if request.method == "POST":
            raise PermissionDenied(f"{rule.name} is a system rule and is read only.")
        return render(request, "assets/rule_form.html", {"rule": rule, "read_only": True})
    form = RuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            inventory.update_identification_rule(
                rule,
                name=data["name"],
                attributes=data["attributes"],
                description=data["description"],
                actor=request.user,
            )
        except inventory.InventoryError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Rule {rule.name} saved.")
            return redirect("assets:rule_list")
    return render(request, "assets/rule_form.html", {"form": form, "rule": rule})


@require_http_methods(["GET", "POST"])
@admin_required
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(IdentificationRule, pk=pk)
    context = {
        "rule": rule,
        "using": list(
            Connector.objects.filter(rule_selection__rule=rule, rule_selection__enabled=True)
            .order_by("name")
            .only("uuid", "name")
        ),
        "stranded": inventory.connectors_left_without_rules(rule),
    }
    if rule.is_system:
        if request.method == "POST":
            raise PermissionDenied(f"{rule.name} is a system rule and cannot be deleted.")
        return render(request, "assets/rule_delete.html", context, status=403)
    if request.method == "POST":
        try:
            inventory.delete_identification_rule(rule, actor=request.user)
        except inventory.InventoryError as error:
            context["error"] = str(error)
            return render(request, "assets/rule_delete.html", context, status=409)
        messages.success(request, f"Rule {rule.name} deleted.")
        return HttpResponseRedirect(reverse("assets:rule_list"))
    return render(request, "assets/rule_delete.html", context)
