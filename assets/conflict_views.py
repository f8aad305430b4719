"""CSAM conflicts: live assets whose sources disagree on a strong identifier (possible false merges), each with the
disagreeing values side by side and a Split per source.

Which assets conflict is decided when they are reconciled (``Asset.identifier_conflict``, indexed), so this
page reads a page of flagged assets and their live sources: a fixed number of queries whatever the inventory's
size. Splitting is :func:`assets.inventory.split_source` through :func:`assets.views.source_split`.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from connectors_site.common.htmx import HtmxHttpRequest, wants_partial
from connectors_site.common.pagination import CappedPaginator

from .conflicts import conflicting_asset
from .filtersets import AssetFilterSet
from .models import Asset, SourceRecord
from .views import LIST_FIELDS

CONFLICTS_PER_PAGE = 25


def _live_sources() -> Prefetch:
    """Each asset's live sources with what the page shows of them, most trusted first, in one query per page."""
    return Prefetch(
        "sources",
        queryset=SourceRecord.objects.filter(deleted=False)
        .select_related("connector")
        .only(
            "id", "asset_id", "source_key", "last_seen", "connector__name", "connector__uuid", "connector__trust_rank"
        )
        .order_by("-connector__trust_rank", "connector__name", "source_key"),
        to_attr="live_sources",
    )


@require_GET
@vary_on_headers("HX-Request")
def conflicts(request: HtmxHttpRequest) -> HttpResponse:
    """Live assets whose sources report different serial numbers, hardware UUIDs or cloud instance IDs, newest
    first, through the shared FilterSet (``conflict=true``, plus any other filter of the asset list)."""
    data = request.GET.copy()
    data["conflict"] = "true"
    queryset = Asset.objects.only(*LIST_FIELDS, "identifier_conflicts").prefetch_related(_live_sources())
    filterset = AssetFilterSet(data, queryset=queryset)
    results = filterset.qs if filterset.is_valid() else queryset.none()
    page = CappedPaginator(results, CONFLICTS_PER_PAGE, page_hint=request.GET.get("page")).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "conflicts": [conflicting_asset(asset, asset.live_sources) for asset in page.object_list],
        "filtered": any(request.GET.get(name) for name in ("q", "connector", "kind", "os", "not_seen_for", "stale")),
    }
    if wants_partial(request):
        return render(request, "assets/conflicts.html#results", context)
    return render(request, "assets/conflicts.html", context)
