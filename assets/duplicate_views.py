"""CSAM duplicates: groups of live assets that share a strong value, and the merge an admin confirms.

Reading is done here with a fixed number of queries per page of groups; the merge is
:func:`assets.inventory.merge_assets` (which owns its transaction and audit row).
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from connectors_site.common.htmx import HtmxHttpRequest, wants_partial
from connectors_site.common.navigation import next_url
from connectors_site.common.roles import admin_required

from . import inventory
from .choices import AssetAction, AssetKind, IdentifierKind
from .forms import MergeForm
from .models import Asset, AssetEvent, Identifier
from .views import EVENTS_SHOWN, LIST_FIELDS, live_sources

DUPLICATE_GROUPS_PER_PAGE = 20
#: Identifier kinds that make two live assets look like one machine, strongest first.
DUPLICATE_KINDS: tuple[str, ...] = (
    IdentifierKind.SERIAL,
    IdentifierKind.HARDWARE_UUID,
    IdentifierKind.MAC,
    IdentifierKind.HOSTNAME,
)


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
    assets = Asset.objects.only(*LIST_FIELDS, "manufacturer", "model").prefetch_related(live_sources())
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
            "asset__netbios_name",
            "asset__serial_number",
        )[:EVENTS_SHOWN]
    )


@require_GET
@vary_on_headers("HX-Request")
def duplicates(request: HtmxHttpRequest) -> HttpResponse:
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
    if wants_partial(request):
        return render(request, "assets/duplicates.html#results", context)
    return render(request, "assets/duplicates.html", context)


@require_POST
@admin_required
def merge(request: HtmxHttpRequest) -> HttpResponse:
    back = next_url(request, reverse("assets:duplicates"))
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
